//! `check-config [--quiet] FILE`: the pre-flight `serve` runs at start, on its own.
//! Prints the effective configuration (secrets redacted) and the warnings, or every
//! problem at once, each naming its key. `--quiet` (the systemd `ExecStartPre`)
//! prints nothing when all is well and only the problems otherwise.

use crate::config::preflight;
use std::path::Path;
use std::process::ExitCode;

pub async fn run(path: &Path, quiet: bool) -> ExitCode {
    let outcome = preflight::check_file(path, std::env::vars().collect()).await;
    if outcome.has_errors() {
        eprintln!("{}: configuration refused:", path.display());
        for p in &outcome.problems {
            eprintln!("  - {p}");
        }
        return ExitCode::FAILURE;
    }
    for w in outcome.warnings() {
        eprintln!("{}: {w}", path.display());
    }
    if !quiet {
        if let Some(config) = &outcome.config {
            println!("# {}: configuration OK (secrets redacted)", path.display());
            print!("{}", config.to_redacted_toml());
        }
    }
    ExitCode::SUCCESS
}
