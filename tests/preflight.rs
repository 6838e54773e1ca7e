//! The pre-flight (`check-config`, and `serve` before it starts): every start check at
//! once, each problem naming its key; `--quiet` for systemd's `ExecStartPre`; the same
//! refusals from `serve`. The real binary on temporary configurations.

mod common;

use common::*;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, SystemTime};

/// The test gateway's configuration (every file it names exists) with `extra` over it.
fn config_file(dir: &Path, extra: &str) -> PathBuf {
    let p = dir.join("gateway.toml");
    std::fs::write(&p, gateway_config_in("http://127.0.0.1:1", extra, dir)).unwrap();
    p
}

fn run(args: &[&str], env: &[(&str, &str)]) -> (Option<i32>, String, String) {
    let mut cmd = Command::new(BIN);
    for (k, _) in std::env::vars() {
        if k.starts_with("GATEWAY_") || k == "CREDENTIALS_DIRECTORY" {
            cmd.env_remove(k);
        }
    }
    cmd.envs(env.iter().copied());
    let out: Output = cmd.args(args).output().expect("run binary");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn check(path: &Path, extra_args: &[&str]) -> (Option<i32>, String, String) {
    let mut args = vec!["check-config"];
    args.extend_from_slice(extra_args);
    args.push(path.to_str().unwrap());
    run(&args, &[])
}

/// A certificate (SAN `localhost`) and its key, valid from `not_before` to `not_after`.
fn cert_pem(not_before: SystemTime, not_after: SystemTime) -> (String, String) {
    let mut params = rcgen::CertificateParams::new(vec!["localhost".to_string()]).unwrap();
    params.not_before = not_before.into();
    params.not_after = not_after.into();
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = params.self_signed(&key).unwrap();
    (cert.pem(), key.serialize_pem())
}

const DAY: Duration = Duration::from_secs(86_400);

fn valid_cert() -> (String, String) {
    let now = SystemTime::now();
    cert_pem(now - DAY, now + 365 * DAY)
}

fn write(dir: &Path, name: &str, content: impl AsRef<[u8]>) -> String {
    let p = dir.join(name);
    std::fs::write(&p, content).unwrap();
    p.display().to_string()
}

#[test]
fn a_complete_configuration_passes_and_quiet_prints_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let p = config_file(dir.path(), "");
    let (code, out, err) = check(&p, &[]);
    assert_eq!(code, Some(0), "{out}{err}");
    assert!(out.contains("configuration OK"), "{out}");
    let (code, out, err) = check(&p, &["--quiet"]);
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(
        (out.as_str(), err.as_str()),
        ("", ""),
        "quiet must be quiet"
    );
}

/// One run names every problem `serve` would meet, whichever stage finds it (parsing,
/// cross-key rules, files, the whitelist, the annuaire, the stores).
#[test]
fn every_problem_is_reported_in_one_run_and_serve_refuses_the_same() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (cert_a, _) = valid_cert();
    let (_, key_b) = valid_cert();
    let cert = write(d, "cert.pem", &cert_a);
    let other_key = write(d, "other-key.pem", &key_b);
    // A DER file where a PEM bundle is expected: an empty trust store otherwise.
    let der_ca = write(
        d,
        "ca.der",
        [0x30, 0x82, 0x01, 0x0a, 0x02, 0x82, 0x01, 0x01],
    );
    let key_as_ca = write(d, "key-as-ca.pem", &key_b);
    let whitelist = std::fs::read_to_string(TEST_WHITELIST).unwrap();
    let truncated = write(d, "truncated.xml", &whitelist[..whitelist.len() * 2 / 3]);
    let bad_key = write(d, "bad.key", "not hex at all");
    let extra = format!(
        "[server]\nlisen = 1\n\
         [server.tls]\ncert_path = {cert:?}\nkey_path = {other_key:?}\n\
         [upstream]\nca_file = {der_ca:?}\nconnect_timeout_secs = \"soon\"\n\
         [policy]\nwhitelist_source = {truncated:?}\n\
         [directory]\nbackend = \"ldap\"\nurl = \"ldapss://annuaire.example.fr:636\"\n\
         [auth.reset]\nadmin_credentials_file = {:?}\n\
         [auth.store]\nsqlite_path = {:?}\ndata_key_file = {bad_key:?}\n\
         [auth.mail]\nca_file = {key_as_ca:?}\n",
        d.join("absent.credentials"),
        d.join("no-such-dir/state.sqlite3"),
    );
    let p = config_file(d, &extra);
    let (code, out, err) = check(&p, &[]);
    assert_eq!(code, Some(1), "{out}{err}");
    let expected = [
        ("server.lisen", "unknown key"),
        ("upstream.connect_timeout_secs", "invalid type"),
        ("server.tls.key_path", "does not match"),
        ("upstream.ca_file", "no PEM certificate"),
        ("auth.mail.ca_file", "no PEM certificate"),
        ("policy.whitelist_source", "tronquée"),
        ("directory.url", "ldap or ldaps"),
        ("auth.reset.admin_credentials_file", "cannot read"),
        ("auth.store.sqlite_path", "does not exist"),
        ("auth.store.data_key_file", ""),
    ];
    for (key, what) in expected {
        let line = err
            .lines()
            .find(|l| l.contains(&format!("- {key}: ")))
            .unwrap_or_else(|| panic!("{key} not reported:\n{err}"));
        assert!(line.contains(what), "{key}: {line}");
    }
    // `serve` runs the same pre-flight: same list, nothing started.
    let (code, out, serve_err) = run(&["serve", "--config", p.to_str().unwrap()], &[]);
    assert_eq!(code, Some(1), "{out}{serve_err}");
    assert!(!out.contains("gateway listening"), "{out}");
    for (key, _) in expected {
        assert!(
            serve_err.contains(&format!("- {key}: ")),
            "serve: {key}\n{serve_err}"
        );
    }
}

#[test]
fn serve_refuses_a_ca_file_that_is_not_pem() {
    let dir = tempfile::tempdir().unwrap();
    let empty = write(dir.path(), "empty-ca.pem", "");
    let p = config_file(dir.path(), &format!("[upstream]\nca_file = {empty:?}\n"));
    let (code, out, err) = run(&["serve", "--config", p.to_str().unwrap()], &[]);
    assert_eq!(code, Some(1), "{out}{err}");
    assert!(
        err.contains("upstream.ca_file") && err.contains("no PEM certificate"),
        "{err}"
    );
}

#[test]
fn a_whitelist_with_the_wrong_checksum_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let sum = write(
        dir.path(),
        "checksum",
        format!("{}  liste.xml\n", "0".repeat(64)),
    );
    let p = config_file(
        dir.path(),
        &format!("[policy]\nwhitelist_checksum = {sum:?}\n"),
    );
    let (code, _, err) = check(&p, &["--quiet"]);
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("policy.whitelist_checksum"), "{err}");
    let digest = ring::digest::digest(
        &ring::digest::SHA256,
        &std::fs::read(TEST_WHITELIST).unwrap(),
    );
    write(dir.path(), "checksum", hex::encode(digest.as_ref()));
    let (code, _, err) = check(&p, &["--quiet"]);
    assert_eq!(code, Some(0), "{err}");
}

/// A configuration without `[directory]` does not silently serve the demo annuaire.
#[test]
fn no_directory_section_is_an_error_not_the_demo_annuaire() {
    let dir = tempfile::tempdir().unwrap();
    let text = gateway_config_in("http://127.0.0.1:1", "", dir.path());
    let mut table: toml::Table = toml::from_str(&text).unwrap();
    table.remove("directory");
    let p = write(dir.path(), "g.toml", toml::to_string(&table).unwrap());
    let (code, _, err) = check(Path::new(&p), &[]);
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("directory.url: required"), "{err}");
    // `ldif` needs its file named.
    table.insert(
        "directory".into(),
        toml::Value::Table(toml::from_str("backend = \"ldif\"").unwrap()),
    );
    std::fs::write(&p, toml::to_string(&table).unwrap()).unwrap();
    let (code, _, err) = check(Path::new(&p), &[]);
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("directory.ldif_file: required"), "{err}");
}

#[test]
fn certificate_validity_dates() {
    let dir = tempfile::tempdir().unwrap();
    let now = SystemTime::now();
    let tls = |name: &str, (cert, key): (String, String)| {
        let c = write(dir.path(), &format!("{name}.crt"), cert);
        let k = write(dir.path(), &format!("{name}.key"), key);
        config_file(
            dir.path(),
            &format!("[server.tls]\ncert_path = {c:?}\nkey_path = {k:?}\n"),
        )
    };
    let p = tls("expired", cert_pem(now - 30 * DAY, now - DAY));
    let (code, _, err) = check(&p, &[]);
    assert_eq!(code, Some(1), "{err}");
    assert!(
        err.contains("server.tls.cert_path: the certificate expired on"),
        "{err}"
    );
    let p = tls("soon", cert_pem(now - 30 * DAY, now + 5 * DAY));
    let (code, _, err) = check(&p, &["--quiet"]);
    assert_eq!(code, Some(0), "{err}");
    assert!(
        err.contains("warning: server.tls.cert_path: the certificate expires on"),
        "{err}"
    );
    let p = tls("good", valid_cert());
    let (code, out, err) = check(&p, &["--quiet"]);
    assert_eq!((code, out.as_str(), err.as_str()), (Some(0), "", ""));
}

/// Behind a balancer with no trusted proxy, every client shares the balancer's address:
/// a warning from `check-config` and in `serve`'s start log (the gateway still starts).
#[test]
fn behind_a_proxy_without_trusted_proxies_warns() {
    let dir = tempfile::tempdir().unwrap();
    let extra = "[server]\nbehind_tls_proxy = true\n[log]\nformat = \"json\"\n";
    let p = config_file(dir.path(), extra);
    let (code, _, err) = check(&p, &["--quiet"]);
    assert_eq!(code, Some(0), "{err}");
    assert!(
        err.contains("warning: trusted_proxies.cidrs: empty"),
        "{err}"
    );
    let gw = start_gateway("http://127.0.0.1:1", extra);
    let log = gw.proc.stderr();
    let line = log
        .lines()
        .find(|l| l.contains("trusted_proxies.cidrs"))
        .unwrap_or_else(|| panic!("no start warning:\n{log}"));
    let v: serde_json::Value = serde_json::from_str(line).unwrap();
    assert_eq!(v["level"], "WARN", "{line}");
    assert_eq!(v["key"], "trusted_proxies.cidrs", "{line}");
    // With the balancer listed, no warning.
    let p = config_file(
        dir.path(),
        "[server]\nbehind_tls_proxy = true\n[trusted_proxies]\ncidrs = [\"10.0.0.5\"]\n",
    );
    let (code, out, err) = check(&p, &["--quiet"]);
    assert_eq!((code, out.as_str(), err.as_str()), (Some(0), "", ""));
}

/// systemd's `LoadCredential=`: secrets named `${CREDENTIALS_DIRECTORY}/<name>`.
#[test]
fn secrets_from_the_credentials_directory() {
    let dir = tempfile::tempdir().unwrap();
    let creds = dir.path().join("credentials");
    std::fs::create_dir(&creds).unwrap();
    std::fs::write(creds.join("data.key"), "cd".repeat(32)).unwrap();
    let p = config_file(
        dir.path(),
        "[auth.store]\ndata_key_file = \"${CREDENTIALS_DIRECTORY}/data.key\"\n",
    );
    let path = p.to_str().unwrap();
    let (code, _, err) = run(
        &["check-config", "--quiet", path],
        &[("CREDENTIALS_DIRECTORY", creds.to_str().unwrap())],
    );
    assert_eq!(code, Some(0), "{err}");
    let (code, _, err) = run(&["check-config", "--quiet", path], &[]);
    assert_eq!(code, Some(1), "{err}");
    assert!(
        err.contains("auth.store.data_key_file: uses ${CREDENTIALS_DIRECTORY}"),
        "{err}"
    );
}
