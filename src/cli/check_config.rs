//! `check-config FILE`: print the effective configuration (secrets redacted) or
//! the errors, each naming its key.

use crate::config::Config;
use std::path::Path;
use std::process::ExitCode;

pub fn run(path: &Path) -> ExitCode {
    match Config::load(path) {
        Ok(config) => {
            println!("# {}: configuration OK (secrets redacted)", path.display());
            print!("{}", config.to_redacted_toml());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("{}: configuration refused:", path.display());
            for line in &e.0 {
                eprintln!("  - {line}");
            }
            ExitCode::FAILURE
        }
    }
}
