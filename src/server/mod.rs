//! Listeners, TLS, routing and the shared state.

pub mod conn;
pub mod listener;
pub mod ops;
pub mod router;
pub mod state;
pub mod tls;

use crate::config::Config;
use crate::proxy::{full, Body};
use crate::telemetry;
use http::{Response, StatusCode};
use listener::{Handler, ListenerOptions};
use state::AppState;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// `Strict-Transport-Security` on every HTTPS answer: one year, this host only (other
/// hosts of the operator's domain may not all be HTTPS).
pub const HSTS: &str = "max-age=31536000";

/// A started gateway (public listener and optional metrics listener).
pub struct RunningGateway {
    pub addr: SocketAddr,
    pub metrics_addr: Option<SocketAddr>,
    pub state: Arc<AppState>,
    shutdown: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
    metrics_upkeep: JoinHandle<()>,
    /// Timers of the gateway's own upkeep (sessions gauge, mail relay probe).
    background: Vec<JoinHandle<()>>,
}

impl RunningGateway {
    /// Stops accepting, lets in-flight requests finish (grace period), returns.
    pub async fn shutdown(self) {
        let _ = self.shutdown.send(true);
        for t in self.tasks {
            let _ = t.await;
        }
        self.metrics_upkeep.abort();
        for t in self.background {
            t.abort();
        }
    }
}

/// How often the SMTP relay is probed (what reset pages rely on to say mail is down).
const MAIL_RELAY_PROBE: Duration = Duration::from_secs(60);

/// Counts live sessions for `gateway_sessions_active` once a minute (a store scan:
/// never on the request path).
fn spawn_sessions_gauge(state: Arc<AppState>) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(60));
        loop {
            tick.tick().await;
            match state.auth.sessions().count_live().await {
                Ok(n) => telemetry::record_sessions_active(n),
                Err(e) => tracing::debug!(error = %e, "sessions not counted"),
            }
        }
    })
}

/// Binds the listeners and starts serving in the background.
pub async fn start(config: Config) -> anyhow::Result<RunningGateway> {
    let metrics = telemetry::metrics_handle();
    let upkeep = telemetry::spawn_metrics_upkeep(metrics.clone());
    let s = &config.server;
    let tls = match &s.tls {
        Some(t) => Some(tls::acceptor(t, s.http2)?),
        None => None,
    };
    let opts = ListenerOptions {
        tls,
        http2: s.http2,
        header_read_timeout: Duration::from_secs(s.header_read_timeout_secs.max(1)),
        http2_keepalive: (s.http2_keepalive_secs > 0)
            .then(|| Duration::from_secs(s.http2_keepalive_secs)),
        max_connections: s.max_connections,
        shutdown_grace: Duration::from_secs(s.shutdown_grace_secs),
    };
    let public = TcpListener::bind(s.listen)
        .await
        .map_err(|e| anyhow::anyhow!("server.listen {}: {e}", s.listen))?;
    let addr = public.local_addr()?;
    let metrics_cfg = config.metrics.clone();
    let state = Arc::new(AppState::new(config).await?);
    let (tx, rx) = watch::channel(false);
    let mut tasks = Vec::new();

    let st = state.clone();
    // The gateway terminates TLS itself: browsers must never come back in clear.
    // (Behind a TLS-terminating balancer, the balancer sets it: deploy/nginx.)
    let hsts = opts.tls.is_some();
    let handler: Handler = Arc::new(move |req, conn| {
        let st = st.clone();
        Box::pin(async move {
            let mut resp = router::route(req, conn, st).await;
            if hsts {
                resp.headers_mut()
                    .entry(http::header::STRICT_TRANSPORT_SECURITY)
                    .or_insert(http::HeaderValue::from_static(HSTS));
            }
            resp
        })
    });
    tasks.push(tokio::spawn(listener::serve(
        public,
        opts.clone(),
        handler,
        rx.clone(),
    )));

    let mut metrics_addr = None;
    if metrics_cfg.enabled {
        let ml = TcpListener::bind(metrics_cfg.listen)
            .await
            .map_err(|e| anyhow::anyhow!("metrics.listen {}: {e}", metrics_cfg.listen))?;
        metrics_addr = Some(ml.local_addr()?);
        let st = state.clone();
        let handler: Handler = Arc::new(move |req, _conn| {
            let st = st.clone();
            let metrics = metrics.clone();
            Box::pin(async move {
                match req.uri().path() {
                    "/metrics" => ops::metrics(&metrics),
                    "/healthz" => ops::healthz(),
                    "/readyz" => ops::readyz(&st.readiness, true).await,
                    _ => not_found(),
                }
            })
        });
        let mopts = ListenerOptions {
            tls: None,
            http2: false,
            max_connections: 64,
            ..opts
        };
        tasks.push(tokio::spawn(listener::serve(ml, mopts, handler, rx)));
    }
    let mut background = vec![spawn_sessions_gauge(state.clone())];
    if let Some(mailer) = &state.auth.portal.mailer {
        background.push(mailer.start_relay_probe(MAIL_RELAY_PROBE));
    }
    Ok(RunningGateway {
        addr,
        metrics_addr,
        background,
        state,
        shutdown: tx,
        tasks,
        metrics_upkeep: upkeep,
    })
}

fn not_found() -> Response<Body> {
    let mut r = Response::new(full("not found\n"));
    *r.status_mut() = StatusCode::NOT_FOUND;
    r
}

/// Resolves on SIGTERM or SIGINT.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
}
