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

/// `[limits]`
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct LimitsConfig {
    /// Largest SOAP body read (Zimbra's `zimbraSoapRequestMaxSize`); larger ones get
    /// an INVALID_REQUEST fault without being read further.
    pub soap_max_bytes: usize,
    /// Largest `/service/upload` body streamed to the store (413 beyond).
    pub upload_max_bytes: u64,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        LimitsConfig {
            soap_max_bytes: crate::soap::DEFAULT_MAX_SOAP_BYTES,
            upload_max_bytes: 15 * 1024 * 1024,
        }
    }
}

/// `[paths]`: store paths closed to clients (403).
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct PathsConfig {
    /// Open `/service/preauth` (closed by default: it mints sessions from a shared key).
    pub open_preauth: bool,
    /// Open `/service/admin/*` and `/zimbraAdmin` (closed by default).
    pub open_admin: bool,
    /// Open `/service/extension/*` and `/service/admin/extension/*` (closed by default).
    pub open_extension: bool,
    /// More closed path prefixes, e.g. `["/service/shf", "/service/proxy"]`.
    pub closed: Vec<String>,
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
