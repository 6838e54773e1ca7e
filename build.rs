//! Build metadata: the git commit this binary was built from, for `--version`,
//! the start log line and `gateway_build_info`.
//!
//! Order: `MSSANTE_BUILD_COMMIT` in the environment (a build from a source archive
//! can pass it), else `git rev-parse` when building inside a git checkout, else
//! `unknown`. Never fails the build.

use std::path::PathBuf;
use std::process::Command;

fn git(args: &[&str]) -> Option<String> {
    let out = Command::new("git").args(args).output().ok()?;
    if !out.status.success() {
        return None;
    }
    let s = String::from_utf8(out.stdout).ok()?.trim().to_owned();
    (!s.is_empty()).then_some(s)
}

fn main() {
    println!("cargo:rerun-if-env-changed=MSSANTE_BUILD_COMMIT");
    println!("cargo:rerun-if-changed=build.rs");
    let from_env = std::env::var("MSSANTE_BUILD_COMMIT")
        .ok()
        .filter(|s| !s.trim().is_empty());
    let commit = from_env
        .clone()
        .or_else(|| git(&["rev-parse", "--short=12", "HEAD"]))
        .unwrap_or_else(|| "unknown".to_owned());
    if from_env.is_none() {
        // Rebuild when HEAD moves: HEAD itself (branch switch) and the branch's ref.
        if let Some(dir) = git(&["rev-parse", "--git-dir"]) {
            let head = PathBuf::from(dir).join("HEAD");
            if head.exists() {
                println!("cargo:rerun-if-changed={}", head.display());
            }
        }
        if let (Some(common), Some(head_ref)) = (
            git(&["rev-parse", "--git-common-dir"]),
            git(&["symbolic-ref", "-q", "HEAD"]),
        ) {
            let path = PathBuf::from(&common).join(&head_ref);
            if path.exists() {
                println!("cargo:rerun-if-changed={}", path.display());
            }
            // A packed ref (after `git gc`) lives here instead. Only existing files:
            // cargo reruns the script every build for a missing one.
            let packed = PathBuf::from(common).join("packed-refs");
            if packed.exists() {
                println!("cargo:rerun-if-changed={}", packed.display());
            }
        }
    }
    println!("cargo:rustc-env=MSSANTE_BUILD_COMMIT={commit}");
}
