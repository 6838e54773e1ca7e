//! THE ROUTER: every request of the public listener enters here.
//!
//! Order: target hygiene (400) -> ops endpoints -> portal routes -> route table
//! (403 for anything it does not allow) -> session -> proxy.
//! One access-log line and one metrics sample per request, always.

use super::conn::ConnInfo;
use super::ops;
use super::state::AppState;
use crate::portal::forms::MAX_FORM_BYTES;
use crate::portal::pages::paths;
use crate::proxy::context::RequestContext;
use crate::proxy::error::ProxyError;
use crate::proxy::limits::{collect_capped, CollectError, Reservation};
use crate::proxy::path::{self, Surface};
use crate::proxy::routes;
use crate::proxy::{forward, full, headers, session_gate, Body};
use crate::telemetry;
use bytes::Bytes;
use http::{header, Request, Response};
use hyper::body::{Body as _, Incoming};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Handles one request of the public listener.
pub async fn route(req: Request<Incoming>, conn: ConnInfo, state: Arc<AppState>) -> Response<Body> {
    let started = Instant::now();
    let method = req.method().clone();
    let client_ip = headers::client_ip(conn.peer.ip(), req.headers(), &state.trusted_proxies);
    let (resp, surface, logged_path) = dispatch(req, &conn, client_ip, &state).await;
    let status = resp.status().as_u16();
    telemetry::record_request(surface.as_str(), status);
    // Path only: never the query string (tokens travel there), never cookies.
    tracing::info!(
        target: "access",
        method = %method,
        path = %logged_path,
        status,
        surface = surface.as_str(),
        latency_ms = started.elapsed().as_millis() as u64,
        client_ip = %client_ip,
    );
    resp
}

async fn dispatch(
    req: Request<Incoming>,
    conn: &ConnInfo,
    client_ip: std::net::IpAddr,
    state: &AppState,
) -> (Response<Body>, Surface, String) {
    let h = req.headers();
    // Request smuggling: a body framed two ways is refused outright.
    if h.contains_key(header::CONTENT_LENGTH) && h.contains_key(header::TRANSFER_ENCODING) {
        let r = ProxyError::BadRequest("content-length and transfer-encoding");
        return (r.into_response(), Surface::Invalid, "-".into());
    }
    if conn.smuggling_suspected() {
        let r = ProxyError::BadRequest("content-length and transfer-encoding");
        return (r.into_response(), Surface::Invalid, "-".into());
    }
    let normalized = match path::normalize(req.uri().path()) {
        Ok(n) => n,
        Err(e) => {
            let r = ProxyError::BadRequest("target");
            tracing::debug!(error = %e, "target refused");
            return (r.into_response(), Surface::Invalid, "-".into());
        }
    };
    if let Some(q) = req.uri().query() {
        if path::check_query(q).is_err() {
            let r = ProxyError::BadRequest("query");
            return (r.into_response(), Surface::Invalid, normalized.decided);
        }
    }
    let logged = normalized.decided.clone();

    // ---- ops endpoints ----
    match normalized.decided.as_str() {
        "/healthz" => return (ops::healthz(), Surface::Ops, logged),
        "/readyz" => {
            return (
                ops::readyz(&state.readiness, false).await,
                Surface::Ops,
                logged,
            )
        }
        _ => {}
    }

    // ---- portal: login, second factor, reset, profile, logout ----
    if is_portal_path(&normalized.decided) {
        return (portal(req, client_ip, state).await, Surface::Portal, logged);
    }
    if session_gate::is_webmail_logout(req.uri()) {
        return (to_logout(), Surface::Portal, logged);
    }

    // Default deny, before anything else is spent on the request (session lookup included).
    let surface = routes::classify(req.method(), &normalized.decided, &state.config.paths);
    if surface == Surface::Closed {
        return (ProxyError::Forbidden.into_response(), surface, logged);
    }
    let session = match session_gate::resolve(req.headers(), req.uri(), state.auth.sessions()).await
    {
        Ok(s) => s,
        Err(session_gate::SessionConflict) => {
            return (session_gate::conflicting(req.headers()), surface, logged)
        }
    };
    let trusted = headers::is_trusted(conn.peer.ip(), &state.trusted_proxies);
    let secure = conn.tls
        || (state.config.server.behind_tls_proxy
            && trusted
            && req
                .headers()
                .get("x-forwarded-proto")
                .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"https")));
    let ctx = RequestContext {
        client_ip,
        surface,
        secure,
        session,
    };
    let resp = forward::handle(req, &normalized, ctx, conn.peer, state).await;
    (resp, surface, logged)
}

/// Path prefixes served by the portal (`crate::portal::pages::paths`).
const PORTAL_PREFIXES: &[&str] = &[
    paths::LOGIN,
    paths::OTP,
    paths::FORGOT,
    paths::NEW_PASSWORD,
    paths::PROFILE,
    paths::LOGOUT,
];

fn is_portal_path(path: &str) -> bool {
    PORTAL_PREFIXES.iter().any(|p| {
        path.strip_prefix(p)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
    })
}

/// Reads the (small) form body, then lets the portal answer.
async fn portal(
    req: Request<Incoming>,
    client_ip: std::net::IpAddr,
    state: &AppState,
) -> Response<Body> {
    let (parts, body) = req.into_parts();
    // Portal forms come before the session: the pre-session limits apply (`[limits]`).
    let (bytes, _reservation) = if body.is_end_stream() {
        (Bytes::new(), None)
    } else {
        match read_form(body, client_ip, state).await {
            Ok((bytes, reservation)) => (bytes, Some(reservation)),
            Err(e) => return e.into_response(),
        }
    };
    let resp = crate::portal::handle(
        Request::from_parts(parts, bytes),
        client_ip,
        &state.auth.portal,
    )
    .await;
    resp.map(full)
}

/// A portal form, read with a pre-session slot (only while reading) and room in the
/// pre-session memory share (kept while the form is handled).
async fn read_form(
    body: Incoming,
    client_ip: std::net::IpAddr,
    state: &AppState,
) -> Result<(Bytes, Reservation), ProxyError> {
    let limits = &state.body_limits;
    let room = match body.size_hint().exact() {
        Some(len) if len <= MAX_FORM_BYTES as u64 => len as usize,
        _ => MAX_FORM_BYTES + crate::server::conn::MAX_HEAD_BYTES,
    };
    let (Some(_slot), Some(reservation)) =
        (limits.client_slot(client_ip), limits.reserve_preauth(room))
    else {
        return Err(ProxyError::Busy);
    };
    let timeout = Duration::from_secs(state.config.limits.preauth_body_timeout_secs);
    match collect_capped(body, MAX_FORM_BYTES, timeout).await {
        Ok(b) => Ok((b, reservation)),
        // The portal answers an oversize form itself (it sees one byte too many).
        Err(CollectError::TooLarge(_)) => {
            Ok((Bytes::from(vec![0u8; MAX_FORM_BYTES + 1]), reservation))
        }
        Err(CollectError::Timeout) => Err(ProxyError::RequestTimeout),
        Err(CollectError::Client) => Err(ProxyError::BadRequest("body")),
    }
}

fn to_logout() -> Response<Body> {
    let mut r = Response::new(full(""));
    *r.status_mut() = http::StatusCode::FOUND;
    r.headers_mut().insert(
        header::LOCATION,
        http::HeaderValue::from_static(paths::LOGOUT),
    );
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn portal_paths_are_matched_on_segment_boundaries() {
        assert!(is_portal_path("/connexion"));
        assert!(is_portal_path("/otp/parametrage"));
        assert!(is_portal_path("/profil/email"));
        assert!(!is_portal_path("/profile"));
        assert!(!is_portal_path("/otpx"));
        assert!(!is_portal_path("/service/soap"));
    }
}
