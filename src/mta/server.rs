//! The TCP server of the MTA policy service (M8), and its command-line entry.

use super::protocol::{decide, parse_line, MtaSettings, MAX_ATTRS, MAX_LINE};
use crate::audit::AuditEvent;
use crate::config::LogConfig;
use crate::policy::config::PolicyConfig;
use crate::policy::TrustStore;
use crate::telemetry;
use serde::Deserialize;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

/// Postfix keeps policy connections open between messages; drop idle ones.
const IDLE: Duration = Duration::from_secs(600);

/// `mssante-gateway mta-policy` arguments.
#[derive(Debug, Clone, clap::Args)]
pub struct MtaPolicyArgs {
    /// Address to listen on (loopback: Postfix runs beside it).
    #[arg(long, default_value = "127.0.0.1:10040")]
    pub listen: SocketAddr,
    /// TOML configuration file; only its `[policy]` and `[log]` sections are read.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Whitelist file or https URL (overrides `policy.whitelist_source`).
    #[arg(long)]
    pub whitelist: Option<String>,
    /// Serve Prometheus metrics (`/metrics`, `/healthz`) on this address; keep it private.
    #[arg(long)]
    pub metrics_listen: Option<SocketAddr>,
}

#[derive(Deserialize, Default)]
struct ConfigFile {
    #[serde(default)]
    policy: PolicyConfig,
    #[serde(default)]
    log: LogConfig,
}

/// Loads the policy and log sections, the trust space (error when no good list),
/// starts the reloader (schedule + SIGHUP) and the metrics listener, serves forever.
pub async fn run_cli(args: MtaPolicyArgs) -> anyhow::Result<()> {
    // Only these two sections: the gateway's secret files need not be readable here.
    let file = match &args.config {
        Some(p) => {
            let text =
                std::fs::read_to_string(p).map_err(|e| anyhow::anyhow!("{}: {e}", p.display()))?;
            toml::from_str::<ConfigFile>(&text)
                .map_err(|e| anyhow::anyhow!("{}: {e}", p.display()))?
        }
        None => ConfigFile::default(),
    };
    telemetry::init_logging(&file.log);
    let mut cfg = file.policy;
    if let Some(w) = args.whitelist {
        cfg.whitelist_source = w;
    }
    tracing::info!(
        version = telemetry::VERSION,
        commit = telemetry::COMMIT,
        whitelist = %cfg.whitelist_source,
        check_sender = cfg.mta_check_sender,
        "MTA policy service starting"
    );
    let settings = MtaSettings {
        check_sender: cfg.mta_check_sender,
        local_domains: cfg.local_domains.clone(),
    };
    if let Some(addr) = args.metrics_listen {
        let bound = serve_metrics(addr).await?;
        println!("metrics listening on {bound}");
    }
    let trust = TrustStore::load(cfg).await.map_err(|e| {
        tracing::error!(error = %e, "no usable whitelist: the MTA policy service does not start");
        anyhow::anyhow!("policy.whitelist_source: {e}")
    })?;
    tracing::info!(domains = trust.get().len(), "MSSanté whitelist loaded");
    let _reloader = trust.spawn_reloader();
    run_mta_policy(args.listen, trust, settings).await?;
    Ok(())
}

/// The MTA service's own metrics listener (its series, `gateway_build_info`,
/// `process_*`, the whitelist gauges).
async fn serve_metrics(addr: SocketAddr) -> anyhow::Result<SocketAddr> {
    use crate::server::listener::{serve as serve_listener, Handler, ListenerOptions};
    use crate::server::ops;
    let handle = telemetry::metrics_handle();
    std::mem::forget(telemetry::spawn_metrics_upkeep(handle.clone()));
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|e| anyhow::anyhow!("--metrics-listen {addr}: {e}"))?;
    let bound = listener.local_addr()?;
    let handler: Handler = Arc::new(move |req, _conn| {
        let handle = handle.clone();
        Box::pin(async move {
            match req.uri().path() {
                "/metrics" => ops::metrics(&handle),
                "/healthz" => ops::healthz(),
                _ => ops::not_found(),
            }
        })
    });
    let opts = ListenerOptions {
        tls: None,
        http2: false,
        header_read_timeout: Duration::from_secs(10),
        http2_keepalive: None,
        max_connections: 16,
        shutdown_grace: Duration::from_secs(1),
    };
    // Never shut down: the service runs until the process ends.
    let (tx, rx) = tokio::sync::watch::channel(false);
    std::mem::forget(tx);
    tokio::spawn(serve_listener(listener, opts, handler, rx));
    Ok(bound)
}

/// Binds `listen` and serves the policy protocol.
pub async fn run_mta_policy(
    listen: SocketAddr,
    trust: Arc<TrustStore>,
    settings: MtaSettings,
) -> std::io::Result<()> {
    let listener = TcpListener::bind(listen).await?;
    let bound = listener.local_addr()?;
    tracing::info!(listen = %bound, "MTA policy service listening");
    println!("mta-policy listening on {bound}");
    serve(listener, trust, settings).await
}

/// Serves an already-bound listener (tests bind port 0).
pub async fn serve(
    listener: TcpListener,
    trust: Arc<TrustStore>,
    settings: MtaSettings,
) -> std::io::Result<()> {
    let settings = Arc::new(settings);
    loop {
        let (stream, peer) = listener.accept().await?;
        let (trust, settings) = (trust.clone(), settings.clone());
        tokio::spawn(async move {
            let _gauge = telemetry::MtaConnectionGauge::open();
            if let Err(e) = handle(stream, &trust, &settings).await {
                tracing::debug!(%peer, error = %e, "MTA policy connection closed");
            }
        });
    }
}

async fn handle(
    stream: TcpStream,
    trust: &TrustStore,
    settings: &MtaSettings,
) -> std::io::Result<()> {
    let (r, mut w) = stream.into_split();
    // `take` bounds what one read_line may buffer; it is renewed per line.
    let mut reader = BufReader::new(r);
    let mut attrs: HashMap<String, String> = HashMap::new();
    let mut line = String::new();
    loop {
        line.clear();
        let n = match tokio::time::timeout(
            IDLE,
            (&mut reader).take(MAX_LINE as u64 + 1).read_line(&mut line),
        )
        .await
        {
            Ok(r) => r?,
            Err(_) => return Ok(()), // idle
        };
        if n == 0 {
            return Ok(());
        }
        if n > MAX_LINE || !line.ends_with('\n') {
            return Err(std::io::Error::other("ligne trop longue ou incomplète"));
        }
        let l = line.trim_end_matches(['\n', '\r']);
        if l.is_empty() {
            let answer = decide(&attrs, &trust.get(), settings);
            let rejected = matches!(answer, super::protocol::Answer::Reject(_));
            telemetry::record_mta_answer(rejected);
            if let super::protocol::Answer::Reject(why) = &answer {
                audit_rejection(&attrs, why);
            }
            w.write_all(answer.to_wire().as_bytes()).await?;
            attrs.clear();
            continue;
        }
        match parse_line(l) {
            Some((k, v)) if attrs.len() < MAX_ATTRS => {
                attrs.insert(k.to_string(), v.to_string());
            }
            _ => return Err(std::io::Error::other("ligne de politique invalide")),
        }
    }
}

/// The `mta.rejected` audit event: what Postfix said about the message (addresses,
/// client, queue id) and why it was refused. Never the message itself.
fn audit_rejection(attrs: &HashMap<String, String>, why: &str) {
    let get = |k: &str| attrs.get(k).map(String::as_str).unwrap_or("");
    let mut event = AuditEvent::new("mta.rejected").detail(serde_json::json!({
        "recipient": get("recipient"),
        "sender": get("sender"),
        "client_name": get("client_name"),
        "queue_id": get("queue_id"),
        "sasl_username": get("sasl_username"),
        "reason": why,
    }));
    if let Ok(ip) = get("client_address").parse() {
        event = event.client_ip(ip);
    }
    event.emit();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn answers_over_tcp() {
        let mut space = crate::policy::TrustSpace::new(Default::default(), "patient.mssante.fr");
        space.apply_local("+medecin.mssante.fr\n").unwrap();
        let store = TrustStore::from_space(space, PolicyConfig::default());
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        tokio::spawn(serve(l, store, MtaSettings::default()));
        let mut s = TcpStream::connect(addr).await.unwrap();
        s.write_all(
            b"request=smtpd_access_policy\nprotocol_state=RCPT\nrecipient=a@medecin.mssante.fr\n\n",
        )
        .await
        .unwrap();
        s.write_all(b"request=smtpd_access_policy\nrecipient=x@gmail.com\n\n")
            .await
            .unwrap();
        let mut buf = vec![0u8; 4096];
        let mut got = String::new();
        while got.matches("\n\n").count() < 2 {
            let n = s.read(&mut buf).await.unwrap();
            assert!(n > 0, "closed early: {got}");
            got.push_str(std::str::from_utf8(&buf[..n]).unwrap());
        }
        let mut answers = got.split("\n\n");
        assert_eq!(answers.next(), Some("action=DUNNO"));
        assert!(answers
            .next()
            .unwrap()
            .starts_with("action=REJECT 5.7.1 Destinataire hors"));
        // A garbage line closes the connection.
        let mut s = TcpStream::connect(addr).await.unwrap();
        s.write_all(b"garbage\n").await.unwrap();
        assert_eq!(s.read(&mut buf).await.unwrap(), 0);
    }
}
