//! The gateway's own configuration sections. Every field's doc comment is its
//! reference text (kept in sync with `reference.rs` by a unit test).

use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use std::path::PathBuf;

/// `[server]`: the public listener.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    /// Address the gateway listens on.
    pub listen: SocketAddr,
    /// TLS certificate and key (PEM). Without it the listener speaks plain HTTP,
    /// which is only allowed on a loopback address or with `behind_tls_proxy = true`.
    pub tls: Option<TlsConfig>,
    /// A TLS-terminating load balancer sits in front (plain HTTP allowed on any address).
    pub behind_tls_proxy: bool,
    /// Offer HTTP/2 to clients (ALPN `h2` over TLS, prior knowledge in plain HTTP).
    pub http2: bool,
    /// Seconds a client has to send a request head; on HTTP/1.1 this also closes
    /// keep-alive connections idle for that long.
    pub header_read_timeout_secs: u64,
    /// Seconds between HTTP/2 keep-alive pings (a peer that does not answer within
    /// the same delay is disconnected). 0 disables them.
    pub http2_keepalive_secs: u64,
    /// Seconds a client has to send a SOAP body the gateway must read whole (408 after).
    pub request_timeout_secs: u64,
    /// Most simultaneous client connections; further ones wait in the accept queue.
    pub max_connections: usize,
    /// Seconds given to in-flight requests after SIGTERM/SIGINT before exiting.
    pub shutdown_grace_secs: u64,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            tls: None,
            behind_tls_proxy: false,
            http2: true,
            header_read_timeout_secs: 30,
            http2_keepalive_secs: 60,
            request_timeout_secs: 60,
            max_connections: 10_000,
            shutdown_grace_secs: 30,
        }
    }
}

/// `[server.tls]`
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct TlsConfig {
    /// PEM certificate chain, leaf first.
    pub cert_path: PathBuf,
    /// PEM private key (PKCS#8, PKCS#1 or SEC1).
    pub key_path: PathBuf,
}

/// `[upstream]`: the Zimbra mail store.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct UpstreamConfig {
    /// Base URL of the store (http or https); requests keep their path and query.
    pub url: String,
    /// Base URL of the store's admin SOAP service (e.g. `https://store:7071`), used only by
    /// the gateway itself: a new password after a reset link, and (with the admin
    /// credentials) the account a typed login name designates; none disables resets.
    pub admin_url: Option<String>,
    /// Extra CA certificates (PEM) trusted for an https upstream; the system roots otherwise.
    pub ca_file: Option<PathBuf>,
    /// Most idle keep-alive connections kept open to the store.
    pub pool_max_idle: usize,
    /// Seconds an idle pooled connection is kept.
    pub pool_idle_timeout_secs: u64,
    /// Seconds allowed to open a connection to the store (502 after).
    pub connect_timeout_secs: u64,
    /// Seconds the store has to start answering (504 after). Long polls are exempt.
    pub response_timeout_secs: u64,
    /// Seconds a long poll (NoOpRequest / WaitSetRequest that wait) may take.
    pub long_poll_timeout_secs: u64,
    /// Path requested by `/readyz` to check the store answers (any status below 500 is ready).
    pub readiness_path: String,
}

impl Default for UpstreamConfig {
    fn default() -> Self {
        UpstreamConfig {
            url: "http://127.0.0.1:7070".into(),
            admin_url: None,
            ca_file: None,
            pool_max_idle: 64,
            pool_idle_timeout_secs: 90,
            connect_timeout_secs: 5,
            response_timeout_secs: 60,
            long_poll_timeout_secs: 1500,
            readiness_path: "/".into(),
        }
    }
}

/// `[limits]`: what a request may make the gateway hold. Before a session is known,
/// a client gets little: a small body cap, a short reading time, a few requests at
/// once per address, and a bounded share of the body memory.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct LimitsConfig {
    /// Largest SOAP body read (Zimbra's `zimbraSoapRequestMaxSize`); larger ones get
    /// an INVALID_REQUEST fault without being read further.
    pub soap_max_bytes: usize,
    /// Largest `/service/upload` body streamed to the store (413 beyond).
    pub upload_max_bytes: u64,
    /// Largest SOAP body read before a session is known from the cookie or the
    /// `zauthtoken` query (a login needs a few hundred bytes). A larger body is read
    /// only this far, for a session token in the SOAP header; without one it is
    /// refused with `service.AUTH_REQUIRED`.
    pub preauth_soap_max_bytes: usize,
    /// Seconds a client without a session has to send its whole body (408 after).
    pub preauth_body_timeout_secs: u64,
    /// Most bodies of clients without a session read at once from one address (an
    /// IPv6 /64 counts as one address); more get 503 at once.
    pub preauth_requests_per_client: usize,
    /// Bytes of request bodies the gateway holds at once, all clients together
    /// (SOAP bodies and portal forms). A body that cannot get its share within the
    /// request timeout is refused (503).
    pub body_memory_bytes: usize,
    /// The part of `body_memory_bytes` clients without a session may use together;
    /// when it is taken, their bodies are refused at once (503).
    pub preauth_memory_bytes: usize,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        LimitsConfig {
            soap_max_bytes: crate::soap::DEFAULT_MAX_SOAP_BYTES,
            upload_max_bytes: 15 * 1024 * 1024,
            preauth_soap_max_bytes: 64 * 1024,
            preauth_body_timeout_secs: 10,
            preauth_requests_per_client: 16,
            body_memory_bytes: 256 * 1024 * 1024,
            preauth_memory_bytes: 16 * 1024 * 1024,
        }
    }
}

/// `[paths]`: which store surfaces clients reach. Requests are matched against an
/// allow-list of (method, path) rows; anything else is refused (403) before the
/// session is looked up.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct PathsConfig {
    /// Open `/service/preauth` (closed by default: it mints sessions from a shared key).
    pub open_preauth: bool,
    /// Open `/service/admin/*` and `/zimbraAdmin` (closed by default).
    pub open_admin: bool,
    /// Open `/service/extension/*` and `/service/admin/extension/*` (closed by default).
    pub open_extension: bool,
    /// Surfaces that make the store send mail the gateway cannot see, opened anyway.
    /// Closed by default; naming one here accepts that the mail it sends is checked
    /// only by the MTA policy service (M8), not by the gateway.
    pub open_uninspected: Vec<UninspectedSurface>,
    /// More closed path prefixes, e.g. `["/service/shf", "/service/proxy"]`.
    pub closed: Vec<String>,
}

/// A store surface the gateway cannot inspect (see `paths.open_uninspected`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum UninspectedSurface {
    /// The HTML clients `/h/` and `/m/`: their form posts send mail server-side.
    HtmlClient,
    /// CalDAV/WebDAV writes (`PUT` of an event with attendees, schedule-outbox
    /// `POST`, `DELETE`, `MOVE` …): the store mails the invitations.
    DavWrite,
    /// REST writes (`POST`/`PUT`/`DELETE` on `/home/…`): imports can plant drafts
    /// and calendar items that later mail their stored recipients.
    RestWrite,
    /// `/Microsoft-Server-ActiveSync` (SendMail, SmartReply, SmartForward).
    Activesync,
    /// `/ews/Exchange.asmx` (CreateItem with SendAndSaveCopy …).
    Ews,
}

/// Log line format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Json,
    Text,
}

/// `[log]`
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogConfig {
    /// `json` (one object per line) or `text`.
    pub format: LogFormat,
    /// Level or `tracing` filter, e.g. `info` or `info,access=warn`.
    pub level: String,
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            format: LogFormat::Text,
            level: "info".into(),
        }
    }
}

/// `[metrics]`: Prometheus metrics on their own listener.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct MetricsConfig {
    /// Serve `/metrics` (and `/healthz`, `/readyz`).
    pub enabled: bool,
    /// Address of the metrics listener; keep it private.
    pub listen: SocketAddr,
}

impl Default for MetricsConfig {
    fn default() -> Self {
        MetricsConfig {
            enabled: true,
            listen: SocketAddr::from(([127, 0, 0, 1], 9090)),
        }
    }
}

/// `[trusted_proxies]`
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct TrustedProxiesConfig {
    /// CIDRs (e.g. `10.0.0.0/8`) of load balancers whose `X-Forwarded-For`/`-Proto`/`-Host`
    /// are kept; from anyone else those headers are replaced.
    pub cidrs: Vec<String>,
}

impl LimitsConfig {
    /// Errors naming the key, for `check-config` and start-up.
    pub fn validate(&self) -> Vec<String> {
        let mut e = Vec::new();
        if self.preauth_soap_max_bytes < 4096 {
            e.push(
                "limits.preauth_soap_max_bytes: must be at least 4096 (a login must fit)".into(),
            );
        }
        for (key, v) in [
            (
                "limits.preauth_body_timeout_secs",
                self.preauth_body_timeout_secs as usize,
            ),
            (
                "limits.preauth_requests_per_client",
                self.preauth_requests_per_client,
            ),
        ] {
            if v == 0 {
                e.push(format!("{key}: must be at least 1"));
            }
        }
        if self.body_memory_bytes < self.soap_max_bytes {
            e.push(format!(
                "limits.body_memory_bytes: must be at least limits.soap_max_bytes ({}), \
                 or the largest SOAP body could never be read",
                self.soap_max_bytes
            ));
        }
        if self.preauth_memory_bytes < self.preauth_soap_max_bytes
            || self.preauth_memory_bytes > self.body_memory_bytes
        {
            e.push(
                "limits.preauth_memory_bytes: must lie between limits.preauth_soap_max_bytes \
                 and limits.body_memory_bytes"
                    .into(),
            );
        }
        e
    }
}
