//! Logs and metrics.
//!
//! Logs: `tracing` with a JSON or text layer (`[log]`); one `access` line per
//! request (method, path without query, status, surface, latency) and `audit`
//! lines from `crate::audit` (flat JSON objects in the JSON format, see
//! `audit_json`). Never log cookies, tokens, query strings or bodies.
//!
//! Metrics (Prometheus, served on the metrics listener at `/metrics`): the request
//! path's series below, the backends' series in [`series`], the standard
//! `process_*` series (memory, file descriptors, CPU) and `gateway_build_info`.
//!
//! | name | type | labels | meaning |
//! |---|---|---|---|
//! | `gateway_requests_total` | counter | surface, status | requests answered |
//! | `gateway_upstream_latency_seconds` | histogram | surface | time to the store's response head |
//! | `gateway_active_connections` | gauge | | open client connections |
//! | `gateway_policy_decisions_total` | counter | decision | SOAP pipeline decisions |
//! | `gateway_audit_events_total` | counter | kind | audit events (see `audit.rs`) |
//! | `gateway_build_info` | gauge (1) | version, commit | what is running |

mod audit_json;
pub mod series;

pub use series::{
    record_certificate_not_after, record_from_audit, record_ldap, record_ldap_pool, record_mail,
    record_mail_relay_up, record_mta_answer, record_session_created, record_sessions_active,
    record_sessions_ended, record_store_operation, LdapOutcome, MtaConnectionGauge,
};

use crate::config::{LogConfig, LogFormat};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use std::sync::OnceLock;
use tracing_subscriber::EnvFilter;

/// Version and commit of this build (`build.rs` reads the commit from git).
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
pub const COMMIT: &str = env!("MSSANTE_BUILD_COMMIT");

/// Metric names, defined once.
pub mod names {
    pub const REQUESTS_TOTAL: &str = "gateway_requests_total";
    pub const UPSTREAM_LATENCY_SECONDS: &str = "gateway_upstream_latency_seconds";
    pub const ACTIVE_CONNECTIONS: &str = "gateway_active_connections";
    pub const POLICY_DECISIONS_TOTAL: &str = "gateway_policy_decisions_total";
    pub const AUDIT_EVENTS_TOTAL: &str = "gateway_audit_events_total";
    pub const BUILD_INFO: &str = "gateway_build_info";
}

/// Installs the log subscriber. Safe to call more than once (later calls are ignored).
pub fn init_logging(cfg: &LogConfig) {
    let filter = EnvFilter::try_new(&cfg.level).unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()));
    let _ = match cfg.format {
        LogFormat::Json => builder
            .json()
            .event_format(audit_json::AuditFlattening::new(
                tracing_subscriber::fmt::format().json().flatten_event(true),
            ))
            .try_init(),
        LogFormat::Text => builder.try_init(),
    };
}

static PROMETHEUS: OnceLock<PrometheusHandle> = OnceLock::new();
static PROCESS: OnceLock<metrics_process::Collector> = OnceLock::new();

/// Installs the Prometheus recorder once per process and returns its handle.
pub fn metrics_handle() -> PrometheusHandle {
    PROMETHEUS
        .get_or_init(|| {
            let recorder = PrometheusBuilder::new()
                .set_buckets(&[
                    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
                ])
                .expect("static buckets")
                .build_recorder();
            let handle = recorder.handle();
            // Another recorder may exist (unit tests): metrics then go there, which is fine.
            let _ = metrics::set_global_recorder(recorder);
            describe();
            metrics::gauge!(names::BUILD_INFO, "version" => VERSION, "commit" => COMMIT).set(1.0);
            handle
        })
        .clone()
}

/// The exposition text, with the `process_*` series read just now.
pub fn render_metrics(handle: &PrometheusHandle) -> String {
    PROCESS
        .get_or_init(|| {
            let c = metrics_process::Collector::default();
            c.describe();
            c
        })
        .collect();
    handle.render()
}

/// Folds recorded histogram samples into their buckets every few seconds.
/// Without it the exporter keeps every sample until the next scrape, so an
/// instance nobody scrapes would grow without bound.
pub fn spawn_metrics_upkeep(handle: PrometheusHandle) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(std::time::Duration::from_secs(5));
        loop {
            tick.tick().await;
            handle.run_upkeep();
        }
    })
}

fn describe() {
    metrics::describe_counter!(
        names::REQUESTS_TOTAL,
        "Requests answered, by surface and status"
    );
    metrics::describe_histogram!(
        names::UPSTREAM_LATENCY_SECONDS,
        metrics::Unit::Seconds,
        "Time until the store's response head, by surface"
    );
    metrics::describe_gauge!(names::ACTIVE_CONNECTIONS, "Open client connections");
    metrics::describe_counter!(names::POLICY_DECISIONS_TOTAL, "SOAP pipeline decisions");
    metrics::describe_counter!(names::AUDIT_EVENTS_TOTAL, "Audit events, by kind");
    metrics::describe_gauge!(
        names::BUILD_INFO,
        "Always 1; the labels say which version and commit run"
    );
    series::describe();
}

/// Counts one answered request.
pub fn record_request(surface: &'static str, status: u16) {
    metrics::counter!(names::REQUESTS_TOTAL, "surface" => surface, "status" => status.to_string())
        .increment(1);
}

/// Records the store's latency for one request.
pub fn record_upstream_latency(surface: &'static str, seconds: f64) {
    metrics::histogram!(names::UPSTREAM_LATENCY_SECONDS, "surface" => surface).record(seconds);
}

/// Counts one SOAP pipeline decision (`forward`, `rewrite`, `answer`, `refuse`).
pub fn record_policy_decision(decision: &'static str) {
    metrics::counter!(names::POLICY_DECISIONS_TOTAL, "decision" => decision).increment(1);
}

/// Keeps `gateway_active_connections` right while a connection lives.
pub struct ConnectionGauge;

impl ConnectionGauge {
    pub fn open() -> Self {
        metrics::gauge!(names::ACTIVE_CONNECTIONS).increment(1.0);
        ConnectionGauge
    }
}

impl Drop for ConnectionGauge {
    fn drop(&mut self) {
        metrics::gauge!(names::ACTIVE_CONNECTIONS).decrement(1.0);
    }
}
