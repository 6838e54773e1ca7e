//! Shared helpers for integration tests: start the real binary (sandbox store,
//! gateway) on ephemeral ports, wait until it is ready, kill it on drop.
//!
//! Ports: every process listens on 127.0.0.1:0 and prints the address it got
//! (`sandbox listening on http://…`, `gateway listening on …`), so tests never
//! race for fixed ports.
#![allow(dead_code)]

pub mod postgres;
pub mod smtp;
pub mod webdriver;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

pub const BIN: &str = env!("CARGO_BIN_EXE_mssante-gateway");

/// The synthetic trust space every test gateway loads (the demo's list).
pub const TEST_WHITELIST: &str =
    concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/demo/whitelist.xml");

/// The sample annuaire every test gateway serves unless a test sets `[directory]`.
pub const TEST_ANNUAIRE: &str =
    concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/annuaire/sample.ldif");

/// Installs the ring provider (reqwest with `rustls-no-provider` needs it).
pub fn install_crypto() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// A reqwest client that follows no redirects.
pub fn client() -> reqwest::Client {
    install_crypto();
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(60))
        .build()
        .expect("client")
}

/// A child process killed (and reaped) on drop; its stderr goes to a file.
pub struct ChildProcess {
    pub child: Child,
    pub stderr_path: PathBuf,
    _dir: tempfile::TempDir,
}

impl ChildProcess {
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Resident memory in KiB (Linux `/proc/<pid>/status` VmRSS).
    pub fn rss_kb(&self) -> u64 {
        let status =
            std::fs::read_to_string(format!("/proc/{}/status", self.pid())).unwrap_or_default();
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or(0)
    }

    /// What the process wrote to stderr so far (logs).
    pub fn stderr(&self) -> String {
        std::fs::read_to_string(&self.stderr_path).unwrap_or_default()
    }
}

impl Drop for ChildProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Spawns the binary and waits for stdout lines starting with each of `wanted`;
/// returns the process and the rest of each line.
pub fn spawn_and_wait(
    args: &[&str],
    env: &[(&str, &str)],
    wanted: &[&str],
) -> (ChildProcess, Vec<String>) {
    let dir = tempfile::tempdir().expect("tempdir");
    let stderr_path = dir.path().join("stderr.log");
    let stderr = std::fs::File::create(&stderr_path).expect("stderr file");
    let mut cmd = Command::new(BIN);
    cmd.args(args).stdout(Stdio::piped()).stderr(stderr);
    // The child's temporary files (the demo's state directory) go where the test cleans
    // up: the child is killed without a chance to remove them itself.
    cmd.env("TMPDIR", dir.path());
    for (k, _) in std::env::vars() {
        if k.starts_with("GATEWAY_") {
            cmd.env_remove(k);
        }
    }
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().expect("spawn binary");
    let stdout = child.stdout.take().expect("stdout");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        // Keep draining so the child never blocks on a full pipe.
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let mut proc = ChildProcess {
        child,
        stderr_path,
        _dir: dir,
    };
    let mut found = vec![None; wanted.len()];
    let deadline = Instant::now() + Duration::from_secs(20);
    while found.iter().any(Option::is_none) {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(line) => {
                for (i, w) in wanted.iter().enumerate() {
                    if let Some(rest) = line.strip_prefix(w) {
                        found[i] = Some(rest.trim().to_owned());
                    }
                }
            }
            Err(_) => {
                let _ = proc.child.kill();
                panic!(
                    "{args:?} did not print {wanted:?}; stderr:\n{}",
                    proc.stderr()
                );
            }
        }
    }
    (proc, found.into_iter().map(Option::unwrap).collect())
}

/// A running sandbox store.
pub struct SandboxProcess {
    pub proc: ChildProcess,
    pub addr: SocketAddr,
}

impl SandboxProcess {
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Total requests the store received (`/sandbox/stats`).
    pub async fn received(&self) -> u64 {
        let v: serde_json::Value = client()
            .get(self.url("/sandbox/stats"))
            .send()
            .await
            .expect("stats")
            .json()
            .await
            .expect("stats json");
        v["total"].as_u64().expect("total")
    }
}

/// Starts `mssante-gateway sandbox` with its default data.
pub fn start_sandbox() -> SandboxProcess {
    start_sandbox_with(&[])
}

/// Starts the sandbox with extra arguments (e.g. `["--data", path]`).
pub fn start_sandbox_with(extra: &[&str]) -> SandboxProcess {
    let mut args = vec!["sandbox", "--listen", "127.0.0.1:0"];
    args.extend_from_slice(extra);
    let (proc, found) = spawn_and_wait(&args, &[], &["sandbox listening on http://"]);
    SandboxProcess {
        proc,
        addr: found[0].parse().expect("sandbox addr"),
    }
}

/// A running gateway.
pub struct GatewayProcess {
    pub proc: ChildProcess,
    pub addr: SocketAddr,
    pub metrics_addr: SocketAddr,
    pub config_path: PathBuf,
    _dir: tempfile::TempDir,
}

impl GatewayProcess {
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub fn metrics_url(&self, path: &str) -> String {
        format!("http://{}{path}", self.metrics_addr)
    }
}

/// The config used by [`start_gateway`]: ephemeral ports, `upstream`, and
/// `extra` merged over it (tables merge key by key, so `extra` may set e.g.
/// `[upstream] response_timeout_secs = 1` or whole new sections).
pub fn gateway_config(upstream_url: &str, extra: &str) -> String {
    gateway_config_in(upstream_url, extra, &std::env::temp_dir())
}

/// [`gateway_config`] with the gateway's private files (data key, SQLite state,
/// admin credentials for password resets) written under `dir`.
pub fn gateway_config_in(upstream_url: &str, extra: &str, dir: &std::path::Path) -> String {
    let key = dir.join("data.key");
    if !key.exists() {
        let bytes: Vec<u8> = (0..32).map(|_| rand::random::<u8>()).collect();
        std::fs::write(&key, hex::encode(bytes)).expect("write data key");
    }
    let admin = dir.join("admin.credentials");
    std::fs::write(&admin, format!("{SANDBOX_ADMIN}:{SANDBOX_ADMIN_PASSWORD}")).expect("admin");
    let state = dir.join("state.sqlite3");
    let mut base: toml::Table = toml::from_str(&format!(
        "[server]\nlisten = \"127.0.0.1:0\"\n\
         [upstream]\nurl = \"{upstream_url}\"\nadmin_url = \"{upstream_url}\"\n\
         [metrics]\nlisten = \"127.0.0.1:0\"\n\
         [policy]\nwhitelist_source = \"{TEST_WHITELIST}\"\nwhitelist_min_domains = 10\n\
         mssante_domains = [\"esantepdl.mssante.fr\", \"chu-exemple.mssante.fr\"]\n\
         local_domains = [\"esantepdl.mssante.fr\", \"chu-exemple.mssante.fr\"]\n\
         [directory]\nbackend = \"ldif\"\nldif_file = \"{TEST_ANNUAIRE}\"\n\
         [auth.session]\ninsecure_loopback_demo = true\n\
         [auth.regulation]\nfailure_min_delay_ms = 50\n\
         [auth.store]\ndata_key_file = \"{}\"\nsqlite_path = \"{}\"\n\
         [auth.reset]\nadmin_credentials_file = \"{}\"\n",
        key.display(),
        state.display(),
        admin.display()
    ))
    .expect("base config");
    let over: toml::Table = toml::from_str(extra).expect("extra config is TOML");
    merge(&mut base, over);
    toml::to_string(&base).expect("config")
}

fn merge(base: &mut toml::Table, over: toml::Table) {
    for (k, v) in over {
        match (base.get_mut(&k), v) {
            (Some(toml::Value::Table(b)), toml::Value::Table(o)) => merge(b, o),
            (_, v) => {
                base.insert(k, v);
            }
        }
    }
}

/// Starts `mssante-gateway serve` in front of `upstream_url`.
pub fn start_gateway(upstream_url: &str, extra: &str) -> GatewayProcess {
    start_gateway_env(upstream_url, extra, &[])
}

/// Like [`start_gateway`], with `GATEWAY_*` variables.
pub fn start_gateway_env(upstream_url: &str, extra: &str, env: &[(&str, &str)]) -> GatewayProcess {
    let dir = tempfile::tempdir().expect("tempdir");
    let config_path = dir.path().join("gateway.toml");
    std::fs::write(
        &config_path,
        gateway_config_in(upstream_url, extra, dir.path()),
    )
    .expect("write config");
    let cfg = config_path.to_str().expect("utf-8 path");
    let (proc, found) = spawn_and_wait(
        &["serve", "--config", cfg],
        env,
        &["gateway listening on ", "metrics listening on "],
    );
    GatewayProcess {
        proc,
        addr: found[0].parse().expect("gateway addr"),
        metrics_addr: found[1].parse().expect("metrics addr"),
        config_path,
        _dir: dir,
    }
}

/// Runs the binary to completion.
pub fn run_binary(args: &[&str]) -> Output {
    let mut cmd = Command::new(BIN);
    for (k, _) in std::env::vars() {
        if k.starts_with("GATEWAY_") {
            cmd.env_remove(k);
        }
    }
    cmd.args(args).output().expect("run binary")
}

/// Sends raw bytes and returns everything read until the peer closes (or 10 s).
pub fn raw_http(addr: SocketAddr, request: &[u8]) -> String {
    let mut s = TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(request).expect("write");
    let mut out = Vec::new();
    let mut buf = [0u8; 8192];
    loop {
        match s.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => out.extend_from_slice(&buf[..n]),
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Status code of a raw HTTP/1.1 response ("HTTP/1.1 400 …" -> 400).
pub fn raw_status(response: &str) -> u16 {
    response
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

/// A one-shot fake upstream that records the raw request head it receives and
/// answers `response`. Returns its address and a receiver for the head.
pub fn capture_upstream(response: &'static str) -> (SocketAddr, mpsc::Receiver<String>) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut s) = stream else { continue };
            let mut head = Vec::new();
            let mut byte = [0u8; 1];
            while !head.ends_with(b"\r\n\r\n") {
                match s.read(&mut byte) {
                    Ok(1) => head.push(byte[0]),
                    _ => break,
                }
            }
            let _ = s.write_all(response.as_bytes());
            let _ = tx.send(String::from_utf8_lossy(&head).into_owned());
        }
    });
    (addr, rx)
}

/// Sandbox fixture credentials (fixtures/sandbox/accounts.toml).
pub const SANDBOX_PASSWORD: &str = "Sandbox-2026!";
pub const SANDBOX_ADMIN: &str = "admin@esantepdl.mssante.fr";
pub const SANDBOX_ADMIN_PASSWORD: &str = "Admin-Sandbox-2026!";

/// The TOTP code of `secret_base32` at `unix_secs` (SHA1, 6 digits, 30 s).
pub fn totp_at(secret_base32: &str, unix_secs: u64) -> String {
    let secret = totp_rs::Secret::try_from_base32(secret_base32).expect("base32 secret");
    totp_rs::Builder::new()
        .with_algorithm(totp_rs::Algorithm::SHA1)
        .with_digits(6)
        .with_step_duration(30)
        .with_secret(secret)
        .with_account_name("test".to_string())
        .build()
        .expect("totp")
        .generate(unix_secs)
        .to_string()
}

pub fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// One JSON SOAP call; returns the HTTP status and the parsed answer.
pub async fn soap_json(url: &str, body: &str) -> (u16, serde_json::Value) {
    let r = client()
        .post(url)
        .header("Content-Type", "application/json")
        .body(body.to_string())
        .send()
        .await
        .expect("SOAP call");
    let status = r.status().as_u16();
    let text = r.text().await.unwrap_or_default();
    (
        status,
        serde_json::from_str(&text).unwrap_or(serde_json::Value::Null),
    )
}

/// The text of a Zimbra JSON value (`"x"`, `{"_content": "x"}` or a one-element array).
pub fn json_text(v: &serde_json::Value) -> Option<String> {
    match v {
        serde_json::Value::String(s) => Some(s.clone()),
        serde_json::Value::Array(a) => a.first().and_then(json_text),
        serde_json::Value::Object(o) => o.get("_content").and_then(json_text),
        _ => None,
    }
}

/// A SOAP client's first login through the gateway, the Zimbra way: enrol the
/// application second factor with `EnableTwoFactorAuthRequest` (password, then the
/// TOTP code), which answers the gateway's token. Returns (token, TOTP secret).
pub async fn soap_enrol(gw: &GatewayProcess, user: &str) -> (String, String) {
    let url = gw.url("/service/soap");
    let step1 = format!(
        r#"{{"Body":{{"EnableTwoFactorAuthRequest":{{"_jsns":"urn:zimbraAccount","name":{{"_content":"{user}"}},"password":{{"_content":"{SANDBOX_PASSWORD}"}},"method":{{"_content":"app"}}}}}}}}"#
    );
    let (status, v) = soap_json(&url, &step1).await;
    assert_eq!(status, 200, "enable step 1 for {user}: {v}");
    let r = &v["Body"]["EnableTwoFactorAuthResponse"];
    let secret = json_text(&r["secret"]).expect("secret");
    let stage = json_text(&r["authToken"]).expect("stage token");
    let code = totp_at(&secret, unix_now());
    let step2 = format!(
        r#"{{"Body":{{"EnableTwoFactorAuthRequest":{{"_jsns":"urn:zimbraAccount","name":{{"_content":"{user}"}},"authToken":{{"_content":"{stage}"}},"twoFactorCode":{{"_content":"{code}"}}}}}}}}"#
    );
    let (status, v) = soap_json(&url, &step2).await;
    assert_eq!(status, 200, "enable step 2 for {user}: {v}");
    let token = json_text(&v["Body"]["EnableTwoFactorAuthResponse"]["authToken"]).expect("token");
    (token, secret)
}

/// A gateway token for `user` (enrolled on the way): what tests use where a
/// client would have logged in through the gateway.
pub async fn gateway_token(gw: &GatewayProcess, user: &str) -> String {
    soap_enrol(gw, user).await.0
}

/// [`soap_enrol`] with any client, SOAP URL and password (a TLS listener, the demo's
/// own password). Returns (gateway token, TOTP secret).
pub async fn soap_enrol_at(
    http: &reqwest::Client,
    url: &str,
    user: &str,
    password: &str,
) -> (String, String) {
    let call = |body: String| async move {
        let r = http
            .post(url)
            .header("Content-Type", "application/json")
            .body(body)
            .send()
            .await
            .expect("SOAP call");
        let status = r.status().as_u16();
        let text = r.text().await.unwrap_or_default();
        let v: serde_json::Value = serde_json::from_str(&text).unwrap_or(serde_json::Value::Null);
        (status, v)
    };
    let step1 = format!(
        r#"{{"Body":{{"EnableTwoFactorAuthRequest":{{"_jsns":"urn:zimbraAccount","name":{{"_content":"{user}"}},"password":{{"_content":"{password}"}},"method":{{"_content":"app"}}}}}}}}"#
    );
    let (status, v) = call(step1).await;
    assert_eq!(status, 200, "enable step 1 for {user}: {v}");
    let r = &v["Body"]["EnableTwoFactorAuthResponse"];
    let secret = json_text(&r["secret"]).expect("secret");
    let stage = json_text(&r["authToken"]).expect("stage token");
    let code = totp_at(&secret, unix_now());
    let step2 = format!(
        r#"{{"Body":{{"EnableTwoFactorAuthRequest":{{"_jsns":"urn:zimbraAccount","name":{{"_content":"{user}"}},"authToken":{{"_content":"{stage}"}},"twoFactorCode":{{"_content":"{code}"}}}}}}}}"#
    );
    let (status, v) = call(step2).await;
    assert_eq!(status, 200, "enable step 2 for {user}: {v}");
    let token = json_text(&v["Body"]["EnableTwoFactorAuthResponse"]["authToken"]).expect("token");
    (token, secret)
}

/// A token straight from the store (a direct `AuthRequest` at `store_url`, never through
/// the gateway): what a "direct" request in a pass-through comparison uses.
pub async fn store_token(store_url: &str, user: &str, password: &str) -> String {
    let body = format!(
        r#"{{"Body":{{"AuthRequest":{{"_jsns":"urn:zimbraAccount","account":{{"by":"name","_content":"{user}"}},"password":{{"_content":"{password}"}}}}}}}}"#
    );
    let (status, v) = soap_json(&format!("{store_url}/service/soap"), &body).await;
    assert_eq!(status, 200, "direct AuthRequest for {user}: {v}");
    json_text(&v["Body"]["AuthResponse"]["authToken"]).expect("store token")
}

/// Uses the session once and waits until the store stops receiving requests: the
/// gateway's background work at a first session ("Échanges Patients" set-up, M5)
/// is then over, so tests can count the store's requests from here.
pub async fn settle_first_session(gw: &GatewayProcess, sb: &SandboxProcess, token: &str) {
    let body = format!(
        r#"{{"Header":{{"context":{{"_jsns":"urn:zimbra","authToken":{{"_content":"{token}"}}}}}},"Body":{{"NoOpRequest":{{"_jsns":"urn:zimbraMail"}}}}}}"#
    );
    let (status, v) = soap_json(&gw.url("/service/soap"), &body).await;
    assert_eq!(status, 200, "{v}");
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut last = sb.received().await;
    let mut stable = 0;
    while stable < 3 {
        assert!(
            Instant::now() < deadline,
            "the store kept receiving requests"
        );
        tokio::time::sleep(Duration::from_millis(150)).await;
        let now = sb.received().await;
        // `received` counts the stats call itself: one more per poll is quiet.
        if now <= last + 1 {
            stable += 1;
        } else {
            stable = 0;
        }
        last = now;
    }
}
