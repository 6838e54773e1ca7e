//! M8 end to end with a real Postfix: a private Postfix instance (config, queue and
//! data directories in a tempdir, loopback only) asks the real binary's `mta-policy`
//! subcommand at RCPT TO; an outside recipient gets a 5xx, a trust-space one is relayed
//! to a small SMTP sink written here.
//!
//! Needs root (Postfix's master runs as root) and the Debian package `postfix`. It
//! fails, never skips, when either is missing.

mod common;
#[path = "policy_gateway/mod.rs"]
mod gateway;

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn wait_port(port: u16, what: &str, log: &dyn Fn() -> String) {
    let start = Instant::now();
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "{what} not listening on {port}\n{}",
            log()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// One delivered message: envelope recipients and data.
#[derive(Debug, Clone)]
struct Delivered {
    rcpts: Vec<String>,
    data: String,
}

/// A minimal SMTP server accepting everything (the "internet" behind the relayhost).
fn start_sink(listener: TcpListener, store: Arc<Mutex<Vec<Delivered>>>) {
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(conn) = conn else { continue };
            let store = store.clone();
            std::thread::spawn(move || {
                let _ = sink_session(conn, &store);
            });
        }
    });
}

fn sink_session(conn: TcpStream, store: &Mutex<Vec<Delivered>>) -> std::io::Result<()> {
    conn.set_read_timeout(Some(Duration::from_secs(30)))?;
    let mut w = conn.try_clone()?;
    let mut r = BufReader::new(conn);
    w.write_all(b"220 sink ESMTP\r\n")?;
    let mut rcpts = Vec::new();
    let mut line = String::new();
    loop {
        line.clear();
        if r.read_line(&mut line)? == 0 {
            return Ok(());
        }
        let cmd = line.trim_end().to_ascii_uppercase();
        if cmd.starts_with("EHLO") || cmd.starts_with("HELO") {
            w.write_all(b"250 sink\r\n")?;
        } else if cmd.starts_with("MAIL FROM") {
            rcpts.clear();
            w.write_all(b"250 ok\r\n")?;
        } else if cmd.starts_with("RCPT TO:") {
            let addr = line.trim_end()[8..]
                .trim()
                .trim_matches(['<', '>'])
                .to_string();
            rcpts.push(addr);
            w.write_all(b"250 ok\r\n")?;
        } else if cmd == "DATA" {
            w.write_all(b"354 go\r\n")?;
            let mut data = String::new();
            loop {
                line.clear();
                r.read_line(&mut line)?;
                if line == ".\r\n" || line == ".\n" || line.is_empty() {
                    break;
                }
                data.push_str(&line);
            }
            store.lock().unwrap().push(Delivered {
                rcpts: std::mem::take(&mut rcpts),
                data,
            });
            w.write_all(b"250 queued\r\n")?;
        } else if cmd == "QUIT" {
            w.write_all(b"221 bye\r\n")?;
            return Ok(());
        } else {
            w.write_all(b"250 ok\r\n")?;
        }
    }
}

/// Stops Postfix and the policy service whatever happens.
struct Guard {
    config_dir: PathBuf,
    policy: Option<Child>,
    started: bool,
}

impl Drop for Guard {
    fn drop(&mut self) {
        if self.started {
            let _ = Command::new("postfix")
                .arg("-c")
                .arg(&self.config_dir)
                .arg("stop")
                .output();
        }
        if let Some(mut c) = self.policy.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn whitelist(domains: &[&str]) -> String {
    let mut s = String::from(
        r#"<ListeBlancheMSSante xmlns="https://listeblanche.mssante.fr/schema"><ListeDomaines>"#,
    );
    for d in domains {
        s.push_str(&format!("<Domaine><Nom>{d}</Nom></Domaine>"));
    }
    s + "</ListeDomaines></ListeBlancheMSSante>"
}

fn main_cf(dir: &Path, smtpd: u16, sink: u16, policy: u16) -> String {
    let d = dir.display();
    format!(
        "compatibility_level = 3.6
queue_directory = {d}/queue
data_directory = {d}/data
maillog_file = {d}/maillog
maillog_file_prefixes = {d}
myhostname = gateway-test.localdomain
mydomain = localdomain
myorigin = $myhostname
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mydestination =
local_recipient_maps =
relay_domains =
relayhost = [127.0.0.1]:{sink}
mynetworks = 127.0.0.0/8
smtp_dns_support_level = disabled
smtp_host_lookup = native
smtp_tls_security_level = none
smtpd_tls_security_level = none
alias_maps =
alias_database =
biff = no
smtpd_relay_restrictions = permit_mynetworks, reject
smtpd_recipient_restrictions = check_policy_service inet:127.0.0.1:{policy}, permit_mynetworks, reject
smtpd_policy_service_timeout = 20s
default_destination_concurrency_limit = 2
queue_run_delay = 5s
minimal_backoff_time = 5s
"
    ) + &format!("# smtpd port {smtpd} is in master.cf\n")
}

fn master_cf(smtpd: u16) -> String {
    format!(
        "127.0.0.1:{smtpd} inet n - n - - smtpd
pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
tlsmgr    unix  -       -       n       1000?   1       tlsmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
smtp      unix  -       -       n       -       -       smtp
relay     unix  -       -       n       -       -       smtp
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
"
    )
}

/// Reads one (possibly multi-line) SMTP reply.
fn reply(r: &mut BufReader<TcpStream>) -> String {
    let mut all = String::new();
    loop {
        let mut l = String::new();
        r.read_line(&mut l).unwrap();
        all.push_str(&l);
        if l.len() < 4 || l.as_bytes()[3] != b'-' {
            return all;
        }
    }
}

fn cmd(w: &mut TcpStream, r: &mut BufReader<TcpStream>, line: &str) -> String {
    w.write_all(format!("{line}\r\n").as_bytes()).unwrap();
    reply(r)
}

#[test]
fn postfix_refuses_outside_recipients_at_rcpt_and_relays_trusted_ones() {
    let postfix = Command::new("postfix")
        .arg("-c")
        .arg("/nonexistent")
        .arg("status")
        .output();
    assert!(
        postfix.is_ok(),
        "`postfix` not found: install the Debian package `postfix`"
    );
    // Postfix's master must start as root.
    let uid = std::fs::read_to_string("/proc/self/status")
        .unwrap()
        .lines()
        .find(|l| l.starts_with("Uid:"))
        .and_then(|l| l.split_whitespace().nth(1).map(str::to_string))
        .unwrap();
    assert_eq!(
        uid, "0",
        "this test starts a private Postfix and must run as root"
    );

    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().to_path_buf();
    // Postfix daemons run as `postfix` and must traverse the tempdir.
    Command::new("chmod").arg("755").arg(&dir).status().unwrap();
    std::fs::create_dir_all(dir.join("data")).unwrap();
    std::fs::create_dir_all(dir.join("queue")).unwrap();
    Command::new("chown")
        .arg("postfix")
        .arg(dir.join("data"))
        .status()
        .unwrap();
    let (smtpd, policy, sink_port) = (free_port(), free_port(), free_port());

    let delivered = Arc::new(Mutex::new(Vec::new()));
    start_sink(
        TcpListener::bind(("127.0.0.1", sink_port)).unwrap(),
        delivered.clone(),
    );

    std::fs::write(
        dir.join("liste.xml"),
        whitelist(&["medecin.mssante.fr", "patient.mssante.fr"]),
    )
    .unwrap();
    std::fs::write(
        dir.join("gateway.toml"),
        format!(
            "[policy]\nwhitelist_source = \"{}\"\nwhitelist_min_domains = 1\n",
            dir.join("liste.xml").display()
        ),
    )
    .unwrap();
    let policy_log = dir.join("policy.log");
    let child = Command::new(env!("CARGO_BIN_EXE_mssante-gateway"))
        .arg("mta-policy")
        .arg("--listen")
        .arg(format!("127.0.0.1:{policy}"))
        .arg("--config")
        .arg(dir.join("gateway.toml"))
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&policy_log).unwrap())
        .spawn()
        .unwrap();
    let mut guard = Guard {
        config_dir: dir.clone(),
        policy: Some(child),
        started: false,
    };
    let plog = policy_log.clone();
    wait_port(policy, "mta-policy", &|| {
        std::fs::read_to_string(&plog).unwrap_or_default()
    });

    std::fs::write(dir.join("main.cf"), main_cf(&dir, smtpd, sink_port, policy)).unwrap();
    std::fs::write(dir.join("master.cf"), master_cf(smtpd)).unwrap();
    let maillog = dir.join("maillog");
    let log = || std::fs::read_to_string(&maillog).unwrap_or_default();
    let out = Command::new("postfix")
        .arg("-c")
        .arg(&dir)
        .arg("start")
        .output()
        .unwrap();
    guard.started = true;
    assert!(
        out.status.success(),
        "postfix start failed: {}{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
        log()
    );
    wait_port(smtpd, "postfix smtpd", &log);

    let conn = TcpStream::connect(("127.0.0.1", smtpd)).unwrap();
    conn.set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let mut w = conn.try_clone().unwrap();
    let mut r = BufReader::new(conn);
    assert!(reply(&mut r).starts_with("220"), "{}", log());
    assert!(cmd(&mut w, &mut r, "EHLO client.localdomain").starts_with("250"));
    assert!(cmd(&mut w, &mut r, "MAIL FROM:<jean.dupont@medecin.mssante.fr>").starts_with("250"));
    let refused = cmd(&mut w, &mut r, "RCPT TO:<x@gmail.com>");
    assert!(
        refused.starts_with('5'),
        "outside recipient not refused: {refused}\n{}",
        log()
    );
    assert!(refused.contains("espace de confiance"), "{refused}");
    let refused = cmd(&mut w, &mut r, "RCPT TO:<1234@patient.mssante.fr>");
    assert!(
        refused.starts_with('5'),
        "bad patient address not refused: {refused}"
    );
    let ok = cmd(&mut w, &mut r, "RCPT TO:<confrere@medecin.mssante.fr>");
    assert!(
        ok.starts_with("250"),
        "trusted recipient refused: {ok}\n{}",
        log()
    );
    assert!(cmd(&mut w, &mut r, "DATA").starts_with("354"));
    let sent = cmd(&mut w, &mut r, "From: jean.dupont@medecin.mssante.fr\r\nTo: confrere@medecin.mssante.fr\r\nSubject: test M8\r\n\r\nbonjour\r\n.");
    assert!(sent.starts_with("250"), "{sent}");
    let _ = cmd(&mut w, &mut r, "QUIT");

    let start = Instant::now();
    loop {
        let got = delivered.lock().unwrap().clone();
        if let Some(m) = got.first() {
            assert_eq!(m.rcpts, ["confrere@medecin.mssante.fr"], "{got:?}");
            assert!(m.data.contains("Subject: test M8"));
            assert_eq!(got.len(), 1, "{got:?}");
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "nothing relayed to the sink\n{}",
            log()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    drop(guard);
}
