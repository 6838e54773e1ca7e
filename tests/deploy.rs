//! The deployment kit works as written: the example configuration passes the
//! pre-flight with the systemd unit's files, unit and configuration agree, the
//! nginx example passes `nginx -t` (Debian 12's nginx), the alert rules pass
//! `promtool`, the dashboard and rules name series the gateway exports. And what an
//! on-call engineer reads: the start line, flat audit events, the metrics of the
//! gateway and of the MTA policy service, HSTS, `--version`, mail through a relay
//! with a private CA, `users set-contact` refusing an unknown account.
//! (`systemd-analyze verify` of the units runs in scripts/test.)

mod common;

use common::smtp::SmtpSink;
use common::*;
use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn read(rel: &str) -> String {
    std::fs::read_to_string(repo().join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

/// Fails (never skips) when a program the test needs is missing.
fn require(program: &str, package: &str) -> PathBuf {
    for dir in ["/usr/sbin", "/usr/bin", "/sbin", "/bin"] {
        let p = Path::new(dir).join(program);
        if p.exists() {
            return p;
        }
    }
    panic!(
        "{program} is required: install the Debian package `{package}` (apt-get install {package})"
    );
}

/// A private CA and a certificate it signed for `names`, all PEM.
struct Pki {
    ca: String,
    cert: String,
    key: String,
}

fn pki(names: &[&str]) -> Pki {
    use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair};
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "Test private CA");
    let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().unwrap()).unwrap();
    let key = KeyPair::generate().unwrap();
    let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
    let cert = CertificateParams::new(names)
        .unwrap()
        .signed_by(&key, &*ca)
        .unwrap();
    Pki {
        ca: ca.pem(),
        cert: cert.pem(),
        key: key.serialize_pem(),
    }
}

fn write(path: &Path, content: impl AsRef<[u8]>) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, content).unwrap();
}

async fn scrape(url: &str) -> String {
    install_crypto();
    client()
        .get(url)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

// ---------------------------------------------------------------- the kit as written

/// `LoadCredential=` names, active and commented out.
fn credentials(unit: &str) -> (BTreeSet<String>, BTreeSet<String>) {
    let (mut active, mut commented) = (BTreeSet::new(), BTreeSet::new());
    for line in unit.lines() {
        let (set, rest) = match line.strip_prefix('#') {
            Some(r) => (&mut commented, r),
            None => (&mut active, line),
        };
        if let Some(spec) = rest.strip_prefix("LoadCredential=") {
            let (name, source) = spec.split_once(':').expect("name:source");
            assert_eq!(
                source,
                format!("/etc/mssante-gateway/secrets/{name}"),
                "credential {name} comes from the secrets directory under its own name"
            );
            set.insert(name.to_string());
        }
    }
    (active, commented)
}

#[test]
fn example_config_and_units_agree() {
    let unit = read("deploy/systemd/mssante-gateway.service");
    let config = read("deploy/gateway.toml");
    let (active, commented) = credentials(&unit);
    let mut used = BTreeSet::new();
    for line in config.lines() {
        let Some(i) = line.find("${CREDENTIALS_DIRECTORY}/") else {
            continue;
        };
        let name: String = line[i + 25..].chars().take_while(|c| *c != '"').collect();
        if line.trim_start().starts_with('#') {
            assert!(
                active.contains(&name) || commented.contains(&name),
                "{name} has no LoadCredential= line"
            );
        } else {
            assert!(active.contains(&name), "{name} is used but not loaded");
            used.insert(name);
        }
    }
    assert_eq!(
        used, active,
        "every loaded credential is used by the example"
    );
    let conf = "/etc/mssante-gateway/gateway.toml";
    for (key, must) in [
        ("ExecStartPre=", "check-config --quiet"),
        ("ExecStart=", "serve --config"),
        ("ExecReload=", "-HUP $MAINPID"),
        ("StateDirectory=", "mssante-gateway"),
        ("ConfigurationDirectory=", "mssante-gateway"),
        ("DynamicUser=", "yes"),
    ] {
        let line = unit
            .lines()
            .find(|l| l.starts_with(key))
            .unwrap_or_else(|| panic!("no {key}"));
        assert!(line.contains(must), "{line}");
        if key.starts_with("ExecStart") {
            assert!(line.contains(conf), "{line}");
        }
    }
    // State in the StateDirectory, other files under the ConfigurationDirectory.
    let is_path_key = |l: &str| {
        let key = l.split('=').next().unwrap_or("").trim();
        key.ends_with("_file") || key.ends_with("_path") || key == "whitelist_source"
    };
    for line in config
        .lines()
        .filter(|l| !l.trim_start().starts_with('#') && is_path_key(l))
    {
        for path in line.split('"').filter(|s| s.starts_with('/')) {
            assert!(
                path.starts_with("/var/lib/mssante-gateway/")
                    || path.starts_with("/etc/mssante-gateway/"),
                "{path} is outside the unit's directories"
            );
        }
    }
    assert!(config.contains("sqlite_path = \"/var/lib/mssante-gateway/"));
    // The policy service needs no user created by hand, and has its own metrics.
    let policy = read("deploy/postfix/mssante-gateway-mta-policy.service");
    assert!(policy.contains("DynamicUser=yes") && policy.contains("StateDirectory="));
    assert!(!policy.lines().any(|l| l.starts_with("User=")), "{policy}");
    assert!(policy.contains("--metrics-listen 127.0.0.1:"), "{policy}");
}

/// The example configuration, with the unit's files in place (a temporary root),
/// passes the whole pre-flight without a word.
#[test]
fn example_config_passes_the_preflight_with_the_units_files() {
    let root = tempfile::tempdir().unwrap();
    let etc = root.path().join("etc");
    let var = root.path().join("var");
    let text = read("deploy/gateway.toml")
        .replace("/etc/mssante-gateway", etc.to_str().unwrap())
        .replace("/var/lib/mssante-gateway", var.to_str().unwrap());
    let p = pki(&["messagerie.esante-exemple.fr"]);
    write(&etc.join("tls/fullchain.pem"), &p.cert);
    write(&etc.join("tls/internal-ca.pem"), &p.ca);
    let secrets = etc.join("secrets");
    write(&secrets.join("tls.key"), &p.key);
    write(&secrets.join("data.key"), format!("{}\n", "5a".repeat(32)));
    write(&secrets.join("ldap-bind.password"), "bind-secret\n");
    write(
        &secrets.join("zimbra-admin.credentials"),
        "admin@esantepdl.mssante.fr:secret\n",
    );
    write(
        &var.join("listeblanchemssante.xml"),
        std::fs::read(TEST_WHITELIST).unwrap(),
    );
    let config = etc.join("gateway.toml");
    write(&config, text);
    let out = Command::new(BIN)
        .args(["check-config", "--quiet", config.to_str().unwrap()])
        .env("CREDENTIALS_DIRECTORY", &secrets)
        // The synthetic test list is small; the ANS list has thousands of domains.
        .env("GATEWAY_POLICY__WHITELIST_MIN_DOMAINS", "10")
        .output()
        .unwrap();
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert_eq!(out.status.code(), Some(0), "{stdout}{stderr}");
    assert_eq!((stdout.as_ref(), stderr.as_ref()), ("", ""));
}

/// Every « README section » a deployment file points to exists.
#[test]
fn deployment_files_point_to_readme_sections_that_exist() {
    let readme = read("README.md");
    let headings: Vec<&str> = readme.lines().filter(|l| l.starts_with('#')).collect();
    for file in [
        "deploy/postfix/main.cf.snippet",
        "deploy/postfix/mssante-gateway-mta-policy.service",
        "deploy/systemd/mssante-gateway.service",
    ] {
        let text = read(file);
        let mut found = 0;
        for part in text.split('«').skip(1) {
            let title = part.split('»').next().unwrap().trim();
            assert!(
                headings.iter().any(|h| h.contains(title)),
                "{file} points to README section « {title} », which does not exist"
            );
            found += 1;
        }
        assert!(found > 0, "{file} names no README section");
    }
}

#[test]
fn nginx_example_passes_nginx_t() {
    let nginx = require("nginx", "nginx-light");
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let p = pki(&["messagerie.example.fr"]);
    write(&d.join("fullchain.pem"), format!("{}{}", p.cert, p.ca));
    write(&d.join("privkey.pem"), &p.key);
    let site =
        read("deploy/nginx/mssante-gateway.conf").replace("/etc/nginx/tls", d.to_str().unwrap());
    write(&d.join("site.conf"), site);
    write(
        &d.join("nginx.conf"),
        format!(
            "pid {0}/nginx.pid;\nerror_log stderr;\nevents {{}}\nhttp {{\n\
             client_body_temp_path {0}/body;\nproxy_temp_path {0}/proxy;\n\
             access_log off;\ninclude {0}/site.conf;\n}}\n",
            d.display()
        ),
    );
    let out = Command::new(nginx)
        .args(["-t", "-e", "stderr", "-p"])
        .arg(d)
        .arg("-c")
        .arg(d.join("nginx.conf"))
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "nginx -t:\n{err}");
    assert!(err.contains("test is successful"), "{err}");
    assert!(!err.contains("[warn]"), "nginx -t warned:\n{err}");
}

#[test]
fn alert_rules_pass_promtool() {
    let promtool = require("promtool", "prometheus");
    let dir = repo().join("deploy/monitoring");
    for args in [
        &["check", "rules", "alerts.yml"][..],
        &["test", "rules", "alerts.test.yml"][..],
    ] {
        let out = Command::new(&promtool)
            .args(args)
            .current_dir(&dir)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "promtool {args:?}:\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// Metric names in a PromQL text (`gateway_…`, `process_…`), histogram suffixes removed.
fn series_in(text: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for prefix in ["gateway_", "process_"] {
        for (i, _) in text.match_indices(prefix) {
            if i > 0 && text.as_bytes()[i - 1].is_ascii_alphanumeric() {
                continue;
            }
            let name: String = text[i..]
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            let base = ["_bucket", "_sum", "_count"]
                .iter()
                .find_map(|s| name.strip_suffix(s))
                .unwrap_or(&name);
            out.insert(base.to_string());
        }
    }
    out
}

/// The dashboard is Grafana JSON whose every query, and every alert rule, uses a series
/// the code defines (a renamed series breaks this test, not the on-call's night).
#[test]
fn dashboard_and_rules_use_series_the_gateway_exports() {
    let dashboard: serde_json::Value =
        serde_json::from_str(&read("deploy/monitoring/grafana-dashboard.json")).unwrap();
    let panels = dashboard["panels"].as_array().expect("panels");
    assert!(panels.len() >= 10);
    let mut used = BTreeSet::new();
    for p in panels {
        for t in p["targets"].as_array().expect("targets") {
            used.extend(series_in(t["expr"].as_str().expect("expr")));
        }
    }
    used.extend(series_in(&read("deploy/monitoring/alerts.yml")));
    // What the code defines: names in the sources, and the process collector's.
    let mut defined = BTreeSet::new();
    let mut stack = vec![repo().join("src")];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "rs") {
                defined.extend(series_in(&std::fs::read_to_string(p).unwrap()));
            }
        }
    }
    for p in [
        "process_cpu_seconds_total",
        "process_open_fds",
        "process_max_fds",
        "process_resident_memory_bytes",
        "process_virtual_memory_bytes",
        "process_start_time_seconds",
        "process_threads",
    ] {
        defined.insert(p.to_string());
    }
    let unknown: Vec<&String> = used.difference(&defined).collect();
    assert!(unknown.is_empty(), "series not exported: {unknown:?}");
    for must in [
        "gateway_ldap_operation_seconds",
        "gateway_store_errors_total",
        "gateway_mail_failures_total",
        "gateway_sessions_active",
        "gateway_regulation_bans_total",
        "gateway_tls_certificate_not_after_seconds",
        "gateway_build_info",
        "process_resident_memory_bytes",
        "process_open_fds",
    ] {
        assert!(used.contains(must), "{must} is on no panel or rule");
    }
}

#[test]
fn version_names_the_commit() {
    let out = Command::new(BIN).arg("--version").output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.starts_with("mssante-gateway "), "{text}");
    let commit = text
        .split("(commit ")
        .nth(1)
        .and_then(|r| r.split(')').next())
        .unwrap_or_else(|| panic!("no commit in {text}"));
    // Built from a git checkout (the test command's case): the real commit.
    if let Ok(head) = Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .current_dir(repo())
        .output()
    {
        if head.status.success() {
            assert_eq!(commit, String::from_utf8_lossy(&head.stdout).trim());
            return;
        }
    }
    assert_eq!(commit, "unknown");
}

// ---------------------------------------------------------------- logs and metrics

/// The JSON log lines of a process's stderr.
fn json_lines(log: &str) -> Vec<serde_json::Value> {
    log.lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

/// HTTPS answers carry HSTS; the start line prints values (not `Some(…)`); the metrics
/// listener shows the certificate's end, the build and the process.
#[tokio::test]
async fn https_gateway_sends_hsts_and_reports_its_certificate() {
    install_crypto();
    let dir = tempfile::tempdir().unwrap();
    let p = pki(&["localhost"]);
    let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    write(&cert, &p.cert);
    write(&key, &p.key);
    let gw = start_gateway(
        "http://127.0.0.1:1",
        &format!(
            "[server.tls]\ncert_path = {cert:?}\nkey_path = {key:?}\n[log]\nformat = \"json\"\n"
        ),
    );
    let https = reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(p.ca.as_bytes()).unwrap())
        .resolve("localhost", gw.addr)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let r = https
        .get(format!("https://localhost:{}/connexion", gw.addr.port()))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.headers()
            .get("strict-transport-security")
            .map(|v| v.to_str().unwrap()),
        Some("max-age=31536000")
    );
    let metrics = scrape(&gw.metrics_url("/metrics")).await;
    let not_after = metrics
        .lines()
        .find(|l| l.starts_with("gateway_tls_certificate_not_after_seconds "))
        .unwrap_or_else(|| panic!("no certificate gauge:\n{metrics}"));
    let secs: f64 = not_after.split(' ').nth(1).unwrap().parse().unwrap();
    assert!(secs > unix_now() as f64, "{not_after}");
    for series in [
        "gateway_build_info{version=\"",
        "process_resident_memory_bytes ",
        "process_open_fds ",
        "process_max_fds ",
    ] {
        assert!(metrics.contains(series), "{series} missing:\n{metrics}");
    }
    assert!(metrics.contains(&format!(
        "commit=\"{}\"",
        mssante_gateway::telemetry::COMMIT
    )));
    let log = gw.proc.stderr();
    let ready = json_lines(&log)
        .into_iter()
        .find(|v| v["message"] == "gateway ready")
        .unwrap_or_else(|| panic!("no start line:\n{log}"));
    assert_eq!(ready["metrics"], gw.metrics_addr.to_string(), "{ready}");
    assert_eq!(ready["listen"], gw.addr.to_string(), "{ready}");
    assert!(ready["commit"].is_string() && ready["version"].is_string());
    assert!(!log.contains("Some("), "{log}");

    // Plain HTTP (loopback demo, or behind a balancer that sets it): no HSTS.
    let plain = start_gateway("http://127.0.0.1:1", "");
    let r = client().get(plain.url("/connexion")).send().await.unwrap();
    assert!(r.headers().get("strict-transport-security").is_none());
}

/// Audit events are flat JSON lines; logins, bans and sessions show in the metrics.
#[tokio::test]
async fn audit_events_are_flat_json_and_logins_show_in_the_metrics() {
    let sb = start_sandbox();
    let gw = start_gateway(
        &sb.url(""),
        "[log]\nformat = \"json\"\n[auth.regulation]\nmax_retries = 2\n",
    );
    // A login first: the failures below ban this client's address too.
    gateway_token(&gw, "antoine.lefevre@esantepdl.mssante.fr").await;
    let url = gw.url("/service/soap");
    let bad = r#"{"Body":{"AuthRequest":{"_jsns":"urn:zimbraAccount","account":{"by":"name","_content":"adrien.malosse27@esantepdl.mssante.fr"},"password":{"_content":"mauvais"}}}}"#;
    for _ in 0..2 {
        soap_json(&url, bad).await;
    }
    let log = gw.proc.stderr();
    let lines = json_lines(&log);
    let banned = lines
        .iter()
        .find(|v| v["kind"] == "login.banned")
        .unwrap_or_else(|| panic!("no ban event:\n{log}"));
    assert_eq!(banned["target"], "audit", "{banned}");
    assert!(
        banned["detail"].is_object(),
        "detail is JSON, not text: {banned}"
    );
    assert!(banned["detail"]["scope"].is_string(), "{banned}");
    assert!(
        banned.get("event").is_none(),
        "no JSON packed in a string: {banned}"
    );
    assert!(banned["timestamp"].is_string() && banned["level"] == "INFO");
    let failure = lines
        .iter()
        .find(|v| v["kind"] == "login.failure")
        .expect("failure event");
    assert_eq!(
        failure["user"], "adrien.malosse27@esantepdl.mssante.fr",
        "{failure}"
    );
    let metrics = scrape(&gw.metrics_url("/metrics")).await;
    for series in [
        "gateway_regulation_bans_total{scope=\"user\"}",
        "gateway_sessions_created_total{stage=",
        "gateway_sessions_active ",
        "gateway_audit_events_total{kind=\"login.banned\"}",
        "gateway_store_operation_seconds_count{store=\"durable\",backend=\"sqlite\"}",
    ] {
        assert!(metrics.contains(series), "{series} missing:\n{metrics}");
    }
}

/// `mta-policy` logs its start, its refusals as audit events and whitelist reloads,
/// and serves its own metrics.
#[tokio::test]
async fn mta_policy_logs_and_serves_metrics() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("gateway.toml");
    write(
        &config,
        format!(
            "[policy]\nwhitelist_source = {TEST_WHITELIST:?}\nwhitelist_min_domains = 10\n\
             [log]\nformat = \"json\"\n"
        ),
    );
    let (proc, found) = spawn_and_wait(
        &[
            "mta-policy",
            "--listen",
            "127.0.0.1:0",
            "--metrics-listen",
            "127.0.0.1:0",
            "--config",
            config.to_str().unwrap(),
        ],
        &[],
        &["mta-policy listening on ", "metrics listening on "],
    );
    let mut s = std::net::TcpStream::connect(found[0].as_str()).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(
        b"request=smtpd_access_policy\nprotocol_state=RCPT\nclient_address=192.0.2.7\n\
          sender=jean.dupont@esantepdl.mssante.fr\nrecipient=quelquun@gmail.com\n\n",
    )
    .unwrap();
    let mut answer = String::new();
    BufReader::new(&s).read_line(&mut answer).unwrap();
    assert!(answer.starts_with("action=REJECT 5.7.1"), "{answer}");
    drop(s);
    // SIGHUP: the whitelist is reloaded, and says so.
    Command::new("kill")
        .args(["-HUP", &proc.pid().to_string()])
        .status()
        .unwrap();
    let metrics = scrape(&format!("http://{}/metrics", found[1])).await;
    for series in [
        "gateway_mta_policy_requests_total{action=\"reject\"} 1",
        "gateway_build_info{",
        "gateway_whitelist_domains ",
        "process_resident_memory_bytes ",
    ] {
        assert!(metrics.contains(series), "{series} missing:\n{metrics}");
    }
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let log = loop {
        let log = proc.stderr();
        if log.contains("rechargée") || std::time::Instant::now() > deadline {
            break log;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let lines = json_lines(&log);
    assert!(
        lines
            .iter()
            .any(|v| v["message"] == "MTA policy service starting"),
        "{log}"
    );
    let refused = lines
        .iter()
        .find(|v| v["kind"] == "mta.rejected")
        .unwrap_or_else(|| panic!("no audit event:\n{log}"));
    assert_eq!(
        refused["detail"]["recipient"], "quelquun@gmail.com",
        "{refused}"
    );
    assert_eq!(refused["client_ip"], "192.0.2.7", "{refused}");
    assert!(log.contains("rechargée"), "no reload line:\n{log}");
}

// ---------------------------------------------------------------- mail, users

/// `auth.mail.ca_file`: codes and links through a relay whose certificate a private CA
/// signed (aiosmtpd with required STARTTLS). Without the CA the relay is refused.
#[tokio::test]
async fn mail_through_a_relay_with_a_private_ca() {
    use mssante_gateway::mail::{messages, MailConfig, Mailer, SmtpSecurity};
    install_crypto();
    let dir = tempfile::tempdir().unwrap();
    let p = pki(&["localhost"]);
    let (cert, key, ca) = (
        dir.path().join("relay.crt"),
        dir.path().join("relay.key"),
        dir.path().join("ca.pem"),
    );
    write(&cert, &p.cert);
    write(&key, &p.key);
    write(&ca, &p.ca);
    let sink = SmtpSink::start_starttls(&cert, &key);
    let cfg = MailConfig {
        host: "localhost".into(),
        port: sink.port(),
        security: SmtpSecurity::Starttls,
        ca_file: Some(ca.clone()),
        from: "Messagerie <ne-pas-repondre@esantepdl.mssante.fr>".into(),
        ..MailConfig::default()
    };
    let mailer = Mailer::new(&cfg).unwrap();
    mailer.probe().await.unwrap();
    mailer
        .send(
            "jean@perso.example",
            &messages::otp_code("Opérateur", "424242", 600),
        )
        .await
        .unwrap();
    let mail = sink
        .wait_for_mail("jean@perso.example", |_| true, Duration::from_secs(10))
        .await;
    assert!(mail.body.contains("424242"), "{mail:?}");

    // The system roots do not know the private CA.
    let no_ca = Mailer::new(&MailConfig {
        ca_file: None,
        ..cfg.clone()
    })
    .unwrap();
    let err = no_ca.probe().await.unwrap_err().to_string();
    assert!(
        err.contains("UnknownIssuer") || err.contains("certificate"),
        "{err}"
    );
    // A CA file that is not PEM is refused when the mailer is built.
    let der = dir.path().join("ca.der");
    write(&der, [0x30u8, 0x82, 0x01]);
    let err = Mailer::new(&MailConfig {
        ca_file: Some(der),
        ..cfg
    })
    .unwrap_err()
    .to_string();
    assert!(err.contains("no PEM certificate"), "{err}");
}

/// While the relay probe fails, the reset page tells every visitor alike that nothing
/// was sent (never « a link was sent »), and the metrics say the relay is down.
#[tokio::test]
async fn reset_page_says_when_the_relay_is_down() {
    install_crypto();
    let dead_port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let sb = start_sandbox();
    let gw = start_gateway(
        &sb.url(""),
        &format!(
            "[auth.mail]\nhost = \"127.0.0.1\"\nport = {dead_port}\nsecurity = \"none\"\n\
             from = \"Messagerie <ne-pas-repondre@esantepdl.mssante.fr>\"\n"
        ),
    );
    let metrics_url = gw.metrics_url("/metrics");
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    while !scrape(&metrics_url)
        .await
        .contains("gateway_mail_relay_up 0")
    {
        assert!(
            std::time::Instant::now() < deadline,
            "relay probe never reported"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    for user in [
        "antoine.lefevre@esantepdl.mssante.fr",
        "personne@esantepdl.mssante.fr",
    ] {
        let page = client()
            .get(gw.url("/mot-de-passe-oublie"))
            .send()
            .await
            .unwrap();
        let cookie = page
            .headers()
            .get_all("set-cookie")
            .iter()
            .map(|v| v.to_str().unwrap().split(';').next().unwrap().to_string())
            .collect::<Vec<_>>()
            .join("; ");
        let body = page.text().await.unwrap();
        let marker = "name=\"csrf\" value=\"";
        let i = body.find(marker).expect("csrf field") + marker.len();
        let csrf = body[i..].split('"').next().unwrap();
        let r = client()
            .post(gw.url("/mot-de-passe-oublie"))
            .header("cookie", cookie)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(format!(
                "csrf={csrf}&username={}&email=contact%40perso.example",
                user.replace('@', "%40")
            ))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 503, "{user}");
        let text = r.text().await.unwrap();
        assert!(text.contains("momentanément indisponible"), "{text}");
        assert!(!text.contains("vient d'être envoyé"), "{text}");
    }
}

#[test]
fn set_contact_refuses_an_account_the_store_does_not_know() {
    let sb = start_sandbox();
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("gateway.toml");
    write(&config, gateway_config_in(&sb.url(""), "", dir.path()));
    let cfg = config.to_str().unwrap();
    let set = |user: &str| {
        let out = run_binary(&[
            "users",
            "set-contact",
            "--config",
            cfg,
            user,
            "jd@perso.example",
        ]);
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned()
                + &String::from_utf8_lossy(&out.stderr),
        )
    };
    let (code, text) = set("personne.inconnue@esantepdl.mssante.fr");
    assert_eq!(code, Some(1), "{text}");
    assert!(text.contains("compte inconnu de la messagerie"), "{text}");
    let (code, text) = set("antoine.lefevre@esantepdl.mssante.fr");
    assert_eq!(code, Some(0), "{text}");
    assert!(text.contains("(nouveau)"), "{text}");
}
