//! `check-config FILE`: print the effective configuration (secrets redacted) or
//! the errors, each naming its key.

use crate::config::Config;
use std::path::Path;
use std::process::ExitCode;

pub fn run(path: &Path) -> ExitCode {
    // Beyond the file itself: state backends that would let two instances disagree on
    // who has a second factor are refused here as by `serve`.
    let checked = Config::load(path).map_err(|e| e.0).and_then(|c| {
        crate::store::check_backends_agree(&c.auth.store)
            .map(|()| c)
            .map_err(|e| vec![e])
    });
    match checked {
        Ok(config) => {
            println!("# {}: configuration OK (secrets redacted)", path.display());
            print!("{}", config.to_redacted_toml());
            ExitCode::SUCCESS
        }
        Err(lines) => {
            eprintln!("{}: configuration refused:", path.display());
            for line in &lines {
                eprintln!("  - {line}");
            }
            ExitCode::FAILURE
        }
    }
}
