//! The README's configuration reference is the binary's own `config-reference`
//! output: this test fails when they drift (regenerate with
//! `scripts/update-readme-config`).

use std::process::Command;

#[test]
fn readme_configuration_reference_matches_the_binary() {
    let out = Command::new(env!("CARGO_BIN_EXE_mssante-gateway"))
        .arg("config-reference")
        .output()
        .expect("run config-reference");
    assert!(out.status.success(), "config-reference failed");
    let reference = String::from_utf8(out.stdout).expect("utf-8");
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md"))
        .expect("read README.md");
    let begin = "<!-- config-reference:begin -->\n```toml\n";
    let end = "```\n<!-- config-reference:end -->";
    let start = readme
        .find(begin)
        .expect("README has the config-reference markers")
        + begin.len();
    let stop = readme[start..].find(end).expect("end marker") + start;
    assert_eq!(
        &readme[start..stop],
        reference,
        "README configuration reference is stale: run scripts/update-readme-config"
    );
}
