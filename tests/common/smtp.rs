//! Real SMTP server for tests (Debian `python3-aiosmtpd`): every message it
//! receives is decoded by Python's `email` package (transfer encodings, RFC 2047
//! headers) and written as one JSON file per message, which the tests read.
//!
//! The server binds 127.0.0.1:0 itself and prints its port, so tests never race
//! for ports; it exits when killed on drop or when its stdin closes (test process gone).

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The Python interpreter with aiosmtpd (the pyenv `python3` on PATH may lack it).
pub const PYTHON: &str = "/usr/bin/python3";

const HANDLER: &str = r#"
import asyncio, email, email.policy, json, os, socket, ssl, sys, threading
from aiosmtpd.smtp import SMTP

OUT = sys.argv[1]
# Optional certificate and key: STARTTLS offered and required before MAIL.
TLS = None
if len(sys.argv) > 3:
    TLS = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    TLS.load_cert_chain(sys.argv[2], sys.argv[3])

class Sink:
    def __init__(self):
        self.n = 0

    async def handle_DATA(self, server, session, envelope):
        raw = envelope.original_content or envelope.content
        if isinstance(raw, str):
            raw = raw.encode("utf-8", "surrogateescape")
        msg = email.message_from_bytes(raw, policy=email.policy.default)
        part = msg.get_body(preferencelist=("plain", "html"))
        try:
            body = part.get_content() if part is not None else ""
        except Exception as e:  # keep the raw text rather than lose the message
            body = raw.decode("utf-8", "replace")
        body = body.replace("\r\n", "\n")
        self.n += 1
        rec = {
            "mail_from": envelope.mail_from,
            "rcpt_tos": envelope.rcpt_tos,
            "from": str(msg.get("from", "")),
            "to": str(msg.get("to", "")),
            "subject": str(msg.get("subject", "")),
            "content_type": msg.get_content_type(),
            "body": body,
        }
        name = os.path.join(OUT, "%05d.json" % self.n)
        with open(name + ".tmp", "w", encoding="utf-8") as f:
            json.dump(rec, f, ensure_ascii=False)
        os.rename(name + ".tmp", name)
        return "250 Message accepted for delivery"

def watch_stdin():
    # The test process holds our stdin: when it goes away, so do we.
    sys.stdin.read()
    os._exit(0)

async def main():
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    handler = Sink()
    loop = asyncio.get_running_loop()
    srv = await loop.create_server(
        lambda: SMTP(handler, hostname="smtp-sink.test", data_size_limit=10 * 1024 * 1024,
                     tls_context=TLS, require_starttls=TLS is not None),
        sock=sock,
    )
    print("smtp listening on %d" % sock.getsockname()[1], flush=True)
    await srv.serve_forever()

threading.Thread(target=watch_stdin, daemon=True).start()
asyncio.run(main())
"#;

/// One received message, decoded.
#[derive(Debug, Clone)]
pub struct Mail {
    /// Envelope recipients (`RCPT TO`).
    pub rcpt_tos: Vec<String>,
    pub mail_from: String,
    pub from: String,
    pub to: String,
    /// Decoded subject (RFC 2047 words decoded).
    pub subject: String,
    /// Decoded text body (quoted-printable / base64 undone, charset applied).
    pub body: String,
}

impl Mail {
    fn is_to(&self, addr: &str) -> bool {
        let a = addr.to_ascii_lowercase();
        self.rcpt_tos.iter().any(|r| r.to_ascii_lowercase() == a)
            || self.to.to_ascii_lowercase().contains(&a)
    }
}

/// A running aiosmtpd server writing each message to a file; killed on drop.
pub struct SmtpSink {
    child: Child,
    port: u16,
    maildir: PathBuf,
    _dir: tempfile::TempDir,
}

/// Fails (never skips) when the real SMTP server is not installed.
pub fn require_aiosmtpd() {
    let ok = Command::new(PYTHON)
        .args(["-c", "import aiosmtpd"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    assert!(
        ok,
        "{PYTHON} with the aiosmtpd module is required (Debian package `python3-aiosmtpd`: \
         apt-get install python3-aiosmtpd)"
    );
}

impl SmtpSink {
    /// Starts the server and waits until it accepts connections.
    pub fn start() -> SmtpSink {
        Self::start_with(&[])
    }

    /// A server that requires STARTTLS with this certificate chain and key (PEM files).
    pub fn start_starttls(cert: &Path, key: &Path) -> SmtpSink {
        Self::start_with(&[cert, key])
    }

    fn start_with(tls_files: &[&Path]) -> SmtpSink {
        require_aiosmtpd();
        let dir = tempfile::tempdir().expect("tempdir");
        let maildir = dir.path().join("maildir");
        std::fs::create_dir_all(&maildir).expect("maildir");
        let script = dir.path().join("smtp_sink.py");
        std::fs::write(&script, HANDLER).expect("write handler");
        let stderr = std::fs::File::create(dir.path().join("stderr.log")).expect("stderr");
        let mut child = Command::new(PYTHON)
            .arg(&script)
            .arg(&maildir)
            .args(tls_files)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .expect("spawn /usr/bin/python3 (aiosmtpd)");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        let port = loop {
            match rx.recv_timeout(Duration::from_secs(20)) {
                Ok(line) => {
                    if let Some(p) = line.strip_prefix("smtp listening on ") {
                        break p.trim().parse::<u16>().expect("port");
                    }
                }
                Err(_) => {
                    let _ = child.kill();
                    let _ = child.wait();
                    panic!(
                        "aiosmtpd sink did not start; stderr:\n{}",
                        std::fs::read_to_string(dir.path().join("stderr.log")).unwrap_or_default()
                    );
                }
            }
        };
        // Ready means the banner comes back.
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Ok(s) = std::net::TcpStream::connect(("127.0.0.1", port)) {
                s.set_read_timeout(Some(Duration::from_secs(5))).ok();
                let mut line = String::new();
                if BufReader::new(&s).read_line(&mut line).is_ok() && line.starts_with("220") {
                    let _ = std::io::Write::write_all(&mut &s, b"QUIT\r\n");
                    break;
                }
            }
            assert!(Instant::now() < deadline, "aiosmtpd sink not answering");
            std::thread::sleep(Duration::from_millis(50));
        }
        SmtpSink {
            child,
            port,
            maildir,
            _dir: dir,
        }
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn maildir(&self) -> &Path {
        &self.maildir
    }

    /// The `[auth.mail]` section pointing a gateway at this server.
    pub fn gateway_config(&self) -> String {
        format!(
            "[auth.mail]\nhost = \"127.0.0.1\"\nport = {}\nsecurity = \"none\"\n\
             from = \"Messagerie MSSanté <ne-pas-repondre@esantepdl.mssante.fr>\"\n",
            self.port
        )
    }

    /// Every message received so far, in arrival order.
    pub fn mails(&self) -> Vec<Mail> {
        let mut names: Vec<PathBuf> = std::fs::read_dir(&self.maildir)
            .map(|rd| {
                rd.filter_map(Result::ok)
                    .map(|e| e.path())
                    .filter(|p| p.extension().is_some_and(|e| e == "json"))
                    .collect()
            })
            .unwrap_or_default();
        names.sort();
        names
            .iter()
            .filter_map(|p| std::fs::read_to_string(p).ok())
            .filter_map(|s| serde_json::from_str::<serde_json::Value>(&s).ok())
            .map(|v| {
                let s = |k: &str| v[k].as_str().unwrap_or_default().to_string();
                Mail {
                    rcpt_tos: v["rcpt_tos"]
                        .as_array()
                        .map(|a| {
                            a.iter()
                                .filter_map(|x| x.as_str().map(str::to_string))
                                .collect()
                        })
                        .unwrap_or_default(),
                    mail_from: s("mail_from"),
                    from: s("from"),
                    to: s("to"),
                    subject: s("subject"),
                    body: s("body"),
                }
            })
            .collect()
    }

    /// Messages addressed to `addr` (envelope or `To:`), in arrival order.
    pub fn mails_to(&self, addr: &str) -> Vec<Mail> {
        self.mails().into_iter().filter(|m| m.is_to(addr)).collect()
    }

    /// Decoded bodies of the messages addressed to `addr`, in arrival order.
    pub fn messages_to(&self, addr: &str) -> Vec<String> {
        self.mails_to(addr).into_iter().map(|m| m.body).collect()
    }

    /// Polls until a message to `addr` satisfies `pred` (the newest such one wins);
    /// panics after `timeout` listing what arrived.
    pub async fn wait_for_mail(
        &self,
        addr: &str,
        pred: impl Fn(&Mail) -> bool,
        timeout: Duration,
    ) -> Mail {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(m) = self.mails_to(addr).into_iter().rev().find(|m| pred(m)) {
                return m;
            }
            if Instant::now() >= deadline {
                let got: Vec<String> = self
                    .mails()
                    .iter()
                    .map(|m| format!("to {:?}: {}", m.rcpt_tos, m.subject))
                    .collect();
                panic!("no matching mail to {addr} within {timeout:?}; received: {got:#?}");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Polls until a message body to `addr` satisfies `pred`; returns that body.
    pub async fn wait_for(
        &self,
        addr: &str,
        pred: impl Fn(&str) -> bool,
        timeout: Duration,
    ) -> String {
        self.wait_for_mail(addr, |m| pred(&m.body), timeout)
            .await
            .body
    }

    /// Waits for the `n`-th (1-based) message to `addr` and returns its body.
    pub async fn wait_for_count(&self, addr: &str, n: usize, timeout: Duration) -> String {
        let deadline = Instant::now() + timeout;
        loop {
            let got = self.messages_to(addr);
            if got.len() >= n {
                return got[n - 1].clone();
            }
            assert!(
                Instant::now() < deadline,
                "only {} message(s) to {addr} within {timeout:?}",
                got.len()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The first run of 6 to 8 digits on or after the first line mentioning "code".
pub fn extract_code(body: &str) -> String {
    let start = body
        .lines()
        .position(|l| l.to_lowercase().contains("code"))
        .unwrap_or_else(|| panic!("no line mentions a code in:\n{body}"));
    for line in body.lines().skip(start) {
        let mut run = String::new();
        for c in line.chars().chain(std::iter::once(' ')) {
            if c.is_ascii_digit() {
                run.push(c);
            } else {
                if (6..=8).contains(&run.len()) {
                    return run;
                }
                run.clear();
            }
        }
    }
    panic!("no 6-8 digit code in:\n{body}");
}

/// The first `http(s)://…` link whose path starts with `path_prefix`.
pub fn extract_link(body: &str, path_prefix: &str) -> String {
    for word in body.split(|c: char| c.is_whitespace() || "<>\"'".contains(c)) {
        if !(word.starts_with("http://") || word.starts_with("https://")) {
            continue;
        }
        let after_scheme = &word[word.find("://").unwrap() + 3..];
        let path = after_scheme
            .find('/')
            .map(|i| &after_scheme[i..])
            .unwrap_or("/");
        if path.starts_with(path_prefix) {
            return word.trim_end_matches(['.', ',', ';', ')']).to_string();
        }
    }
    panic!("no link to {path_prefix} in:\n{body}");
}
