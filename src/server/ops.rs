//! Operations endpoints: `/healthz` (the process answers), `/readyz` (every
//! readiness check passes; 503 with a JSON reason otherwise), `/metrics`.

use crate::proxy::upstream::Upstream;
use crate::proxy::{full, Body};
use futures_util::future::BoxFuture;
use http::{header, HeaderValue, Request, Response, StatusCode};
use metrics_exporter_prometheus::PrometheusHandle;
use std::sync::Arc;
use std::time::Duration;

/// One thing `/readyz` checks. Implement it for your backend and push it into
/// `AppState::readiness`.
pub trait ReadinessCheck: Send + Sync {
    /// Short stable name shown in the 503 body.
    fn name(&self) -> &'static str;
    /// `Err(reason)` when not ready. Must finish quickly (a few seconds at most).
    fn check(&self) -> BoxFuture<'_, Result<(), String>>;
}

/// The store answers a cheap GET with a status below 500.
pub struct UpstreamReadiness {
    upstream: Upstream,
    path: String,
}

impl UpstreamReadiness {
    pub fn new(upstream: Upstream, path: String) -> Self {
        UpstreamReadiness { upstream, path }
    }
}

impl ReadinessCheck for UpstreamReadiness {
    fn name(&self) -> &'static str {
        "upstream"
    }

    fn check(&self) -> BoxFuture<'_, Result<(), String>> {
        Box::pin(async move {
            let uri = self
                .upstream
                .uri_for(&self.path)
                .map_err(|e| e.to_string())?;
            let mut req = Request::new(crate::proxy::empty());
            *req.uri_mut() = uri;
            let resp = self
                .upstream
                .send(req, Duration::from_secs(5))
                .await
                .map_err(|e| e.to_string())?;
            if resp.status().is_server_error() {
                Err(format!("store answered {}", resp.status().as_u16()))
            } else {
                Ok(())
            }
        })
    }
}

pub fn not_found() -> Response<Body> {
    text(
        StatusCode::NOT_FOUND,
        "not found\n",
        "text/plain; charset=utf-8",
    )
}

pub fn healthz() -> Response<Body> {
    text(StatusCode::OK, "ok\n", "text/plain; charset=utf-8")
}

/// `detailed`: include each failure's reason (metrics listener only; the public
/// listener says which check failed, not why, to keep internals private).
pub async fn readyz(checks: &[Arc<dyn ReadinessCheck>], detailed: bool) -> Response<Body> {
    let mut failed = serde_json::Map::new();
    for c in checks {
        if let Err(reason) = c.check().await {
            let reason = if detailed { reason } else { "not ready".into() };
            failed.insert(c.name().to_owned(), reason.into());
        }
    }
    if failed.is_empty() {
        text(StatusCode::OK, "{\"ready\":true}", "application/json")
    } else {
        let body = serde_json::json!({ "ready": false, "failed": failed }).to_string();
        text(StatusCode::SERVICE_UNAVAILABLE, body, "application/json")
    }
}

pub fn metrics(handle: &PrometheusHandle) -> Response<Body> {
    text(
        StatusCode::OK,
        crate::telemetry::render_metrics(handle),
        "text/plain; version=0.0.4",
    )
}

fn text(status: StatusCode, body: impl Into<bytes::Bytes>, ct: &'static str) -> Response<Body> {
    let mut resp = Response::new(full(body));
    *resp.status_mut() = status;
    resp.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(ct));
    resp.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}

/// The auth state stores answer: short-lived (sessions) and durable (security settings).
/// Without them nobody can log in, so the instance is not ready.
pub struct AuthStoresReadiness {
    pub short: crate::store::ShortStore,
    pub durable: crate::store::DurableStore,
}

impl ReadinessCheck for AuthStoresReadiness {
    fn name(&self) -> &'static str {
        "auth_stores"
    }

    fn check(&self) -> BoxFuture<'_, Result<(), String>> {
        Box::pin(async move {
            self.short.ping().await.map_err(|e| e.to_string())?;
            self.durable.ping().await.map_err(|e| e.to_string())
        })
    }
}
