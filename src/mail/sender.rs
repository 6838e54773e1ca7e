//! SMTP sender (lettre, tokio, rustls + ring).

use super::config::{MailConfig, SmtpSecurity};
use super::messages::Notification;
use lettre::message::header::ContentType;
use lettre::message::Mailbox;
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, CertificateStore, Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

#[derive(Debug, thiserror::Error)]
pub enum MailError {
    #[error("mail configuration: {0}")]
    Config(String),
    #[error("invalid address")]
    Address,
    #[error("SMTP: {0}")]
    Smtp(String),
}

/// Sends notification mail through the configured relay.
#[derive(Clone)]
pub struct Mailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
    /// The last relay probe failed (`start_relay_probe`). Pages that cannot say
    /// whether a mail was due (reset requests: no enumeration) answer every visitor
    /// alike from this, never from the outcome of a send.
    relay_down: Arc<AtomicBool>,
}

impl std::fmt::Debug for Mailer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Mailer(from {})", self.from)
    }
}

/// TLS towards the relay: the system roots, or only the CAs of `ca_file`.
fn tls_parameters(cfg: &MailConfig) -> Result<TlsParameters, MailError> {
    let mut b = TlsParameters::builder(cfg.host.clone());
    if let Some(path) = &cfg.ca_file {
        // The shared reader refuses a file with no certificate (an empty trust store).
        crate::config::pem::read_ca_bundle(path).map_err(MailError::Config)?;
        let pem = std::fs::read(path)
            .map_err(|e| MailError::Config(format!("{}: {e}", path.display())))?;
        let ca = Certificate::from_pem(&pem)
            .map_err(|e| MailError::Config(format!("{}: {e}", path.display())))?;
        b = b
            .certificate_store(CertificateStore::None)
            .add_root_certificate(ca);
    }
    b.build_rustls()
        .map_err(|e| MailError::Config(format!("TLS: {e}")))
}

/// Reads `username:password` (first line; the password may contain `:`).
pub(crate) fn read_credentials(path: &std::path::Path) -> Result<Credentials, MailError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| MailError::Config(format!("{}: {e}", path.display())))?;
    let line = text.lines().next().unwrap_or("");
    let (user, pass) = line.split_once(':').ok_or_else(|| {
        MailError::Config(format!("{}: expected username:password", path.display()))
    })?;
    Ok(Credentials::new(user.to_string(), pass.to_string()))
}

impl Mailer {
    /// Must be called inside the tokio runtime (the connection pool spawns a task).
    pub fn new(cfg: &MailConfig) -> Result<Self, MailError> {
        let tls = match cfg.security {
            SmtpSecurity::Tls => Tls::Wrapper(tls_parameters(cfg)?),
            // Required, not opportunistic: a relay without STARTTLS gets no code.
            SmtpSecurity::Starttls => Tls::Required(tls_parameters(cfg)?),
            SmtpSecurity::None => Tls::None,
        };
        let mut b = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&cfg.host)
            .tls(tls)
            .port(cfg.port)
            .timeout(Some(Duration::from_secs(cfg.timeout_secs)));
        if let Some(path) = &cfg.credentials_file {
            b = b.credentials(read_credentials(path)?);
        }
        let from: Mailbox = cfg
            .from
            .parse()
            .map_err(|_| MailError::Config(format!("bad from address {:?}", cfg.from)))?;
        Ok(Mailer {
            transport: b.build(),
            from,
            relay_down: Arc::new(AtomicBool::new(false)),
        })
    }

    /// Whether the last relay probe failed.
    pub fn relay_failing(&self) -> bool {
        self.relay_down.load(Ordering::Relaxed)
    }

    /// Connects to the relay (TLS included) and says `NOOP`, as a send would start.
    pub async fn probe(&self) -> Result<(), MailError> {
        match self.transport.test_connection().await {
            Ok(true) => Ok(()),
            Ok(false) => Err(MailError::Smtp("the relay did not answer NOOP".into())),
            Err(e) => Err(MailError::Smtp(e.to_string())),
        }
    }

    /// Probes the relay now and then every `every`, keeping `relay_failing` and the
    /// `gateway_mail_relay_up` gauge current and logging each change.
    pub fn start_relay_probe(&self, every: Duration) -> tokio::task::JoinHandle<()> {
        let me = self.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            let mut first = true;
            loop {
                tick.tick().await;
                let result = me.probe().await;
                let was_down = me.relay_down.swap(result.is_err(), Ordering::Relaxed);
                crate::telemetry::record_mail_relay_up(result.is_ok());
                match result {
                    Err(e) if first || !was_down => {
                        tracing::error!(error = %e, "mail relay unreachable: emailed codes and links cannot be sent")
                    }
                    Ok(()) if first || was_down => tracing::info!("mail relay reachable"),
                    _ => {}
                }
                first = false;
            }
        })
    }

    /// Builds the message (separately testable).
    pub fn build(&self, to: &str, n: &Notification) -> Result<Message, MailError> {
        let to: Mailbox = to.parse().map_err(|_| MailError::Address)?;
        Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(n.subject.clone())
            .header(ContentType::TEXT_PLAIN)
            .body(n.body.clone())
            .map_err(|e| MailError::Smtp(e.to_string()))
    }

    /// Sends one notification; counted in `gateway_mail_sent_total` /
    /// `gateway_mail_failures_total` by kind, timed in `gateway_mail_send_seconds`.
    pub async fn send(&self, to: &str, n: &Notification) -> Result<(), MailError> {
        let msg = self.build(to, n)?;
        let started = Instant::now();
        let result = self
            .transport
            .send(msg)
            .await
            .map(|_| ())
            .map_err(|e| MailError::Smtp(e.to_string()));
        crate::telemetry::record_mail(n.kind, result.is_ok(), started.elapsed());
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

    /// A minimal SMTP sink accepting one message; yields the DATA it received.
    async fn smtp_sink() -> (u16, tokio::task::JoinHandle<String>) {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = l.local_addr().unwrap().port();
        let h = tokio::spawn(async move {
            let (s, _) = l.accept().await.unwrap();
            let (r, mut w) = s.into_split();
            let mut r = BufReader::new(r);
            w.write_all(b"220 sink\r\n").await.unwrap();
            let (mut data, mut in_data) = (String::new(), false);
            loop {
                let mut line = String::new();
                if r.read_line(&mut line).await.unwrap() == 0 {
                    break;
                }
                if in_data {
                    if line == ".\r\n" {
                        in_data = false;
                        w.write_all(b"250 ok\r\n").await.unwrap();
                    } else {
                        data.push_str(&line);
                    }
                    continue;
                }
                let cmd = line.to_ascii_uppercase();
                let reply: &[u8] = if cmd.starts_with("EHLO") {
                    b"250 sink\r\n"
                } else if cmd.starts_with("DATA") {
                    in_data = true;
                    b"354 go\r\n"
                } else if cmd.starts_with("QUIT") {
                    w.write_all(b"221 bye\r\n").await.unwrap();
                    break;
                } else {
                    b"250 ok\r\n"
                };
                w.write_all(reply).await.unwrap();
            }
            data
        });
        (port, h)
    }

    #[tokio::test]
    async fn sends_french_code_mail() {
        let (port, sink) = smtp_sink().await;
        let cfg = MailConfig {
            host: "127.0.0.1".into(),
            port,
            security: SmtpSecurity::None,
            from: "Messagerie <ne-pas-repondre@example.fr>".into(),
            ..MailConfig::default()
        };
        let m = Mailer::new(&cfg).unwrap();
        m.send(
            "jean@perso.example",
            &super::super::messages::otp_code("Opérateur", "424242", 600),
        )
        .await
        .unwrap();
        drop(m);
        let data = sink.await.unwrap();
        assert!(data.contains("To: jean@perso.example"), "{data}");
        assert!(data.contains("424242"));
    }

    #[tokio::test]
    async fn bad_addresses_and_credentials() {
        let m = Mailer::new(&MailConfig::default()).unwrap();
        assert!(matches!(
            m.build(
                "not an address",
                &super::super::messages::otp_code("o", "1", 60)
            ),
            Err(MailError::Address)
        ));
        let cfg = MailConfig {
            from: "nope".into(),
            ..MailConfig::default()
        };
        assert!(Mailer::new(&cfg).is_err());
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("c");
        std::fs::write(&p, "user:pa:ss\n").unwrap();
        assert!(read_credentials(&p).is_ok());
        std::fs::write(&p, "nocolon").unwrap();
        assert!(read_credentials(&p).is_err());
    }
}
