//! Forwarding one request to the store and streaming the answer back.

use super::context::{GatewaySession, RequestContext};
use super::error::ProxyError;
use super::headers;
use super::limits::{collect_capped, LimitedBody};
use super::path::{NormalizedPath, Surface};
use super::session_gate;
use super::soap_auth::{self, AuthStep};
use super::soap_body;
use super::soap_pipeline::{self, SoapAction};
use super::uploads;
use super::upstream::UpstreamError;
use super::{full, Body};
use crate::audit::AuditEvent;
use crate::policy::exports::{self, ExportDecision};
use crate::policy::upload_limit;
use crate::server::state::AppState;
use crate::soap::{Envelope, Fault, Format, SoapError, SoapReply};
use crate::telemetry;
use bytes::Bytes;
use http::{header, HeaderValue, Method, Request, Response};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Proxies one request whose path is already normalized and classified.
pub async fn handle(
    req: Request<Incoming>,
    path: &NormalizedPath,
    ctx: RequestContext,
    peer: SocketAddr,
    state: &AppState,
) -> Response<Body> {
    match proxy(req, path, ctx, peer, state).await {
        Ok(resp) => resp,
        Err(e) => e.into_response(),
    }
}

async fn proxy(
    req: Request<Incoming>,
    path: &NormalizedPath,
    mut ctx: RequestContext,
    peer: SocketAddr,
    state: &AppState,
) -> Result<Response<Body>, ProxyError> {
    if ctx.surface == Surface::Closed {
        return Err(ProxyError::Forbidden);
    }
    let (mut parts, incoming) = req.into_parts();
    let limits = &state.config.limits;
    // Client tokens out, the session's store token in, before anything else reads them.
    parts.uri =
        session_gate::upstream_headers(&mut parts.headers, &parts.uri, ctx.session.as_ref());
    let is_soap = matches!(ctx.surface, Surface::Soap | Surface::AdminSoap);

    match &ctx.session {
        // SOAP bodies may name the session in their header, or log in: decided after parsing.
        None if !is_soap => {
            return Ok(session_gate::unauthenticated(
                ctx.surface,
                &parts.method,
                &parts.uri,
                &parts.headers,
            ))
        }
        Some(s) if !is_soap => {
            if let Err(e) = state.auth.sessions().touch(s.id.expose(), &s.session).await {
                tracing::warn!(error = %e, "session activity not recorded");
            }
            session_in_use(&ctx, state).await;
        }
        _ => {}
    }
    let ctx = &mut ctx;

    if ctx.surface == Surface::Rest {
        if let Some(resp) = rest_export(path, parts.uri.query(), ctx, state) {
            return Ok(resp);
        }
    }
    let upload_query = parts.uri.query().map(str::to_owned);
    let mut _body_reservation = None;
    let mut upload_sent: Option<Arc<AtomicU64>> = None;
    let (body, timeout, exceeded): (Body, Duration, Option<Arc<AtomicBool>>) = match ctx.surface {
        Surface::Soap | Surface::AdminSoap => {
            if parts.method != Method::POST {
                return Err(ProxyError::MethodNotAllowed);
            }
            // Without a session, little is read (`soap_body`); the reservation is held
            // until the store has the request.
            let body = match soap_body::read(incoming, &parts.headers, ctx, state).await {
                Ok(body) => body,
                Err(refusal) => return Ok(refusal.into_response()),
            };
            let bytes = body.bytes;
            _body_reservation = Some(body.reservation);
            // Boxed: the SOAP pipeline's future is large, and keeping it inline would make
            // every request's future (static files included) that large to move around.
            match Box::pin(soap_step(bytes, ctx, &mut parts.headers, state)).await {
                SoapStep::Answer(reply) => return Ok(soap_response(reply)),
                SoapStep::Forward(bytes, long_poll) => {
                    let t = if long_poll {
                        state.upstream.long_poll_timeout
                    } else {
                        state.upstream.response_timeout
                    };
                    (full(bytes), t, None)
                }
            }
        }
        Surface::Upload => {
            // One cap: the proxy limit and the MSSanté attachment limit (M4), the lower.
            let cap = limits
                .upload_max_bytes
                .min(state.policy.config.attachment_limit_bytes);
            let counter = upload_limit::ByteCounter::new(cap);
            if counter
                .check_declared(content_length(&parts.headers))
                .is_err()
            {
                return Ok(upload_too_large(parts.uri.query()));
            }
            let flag = Arc::new(AtomicBool::new(false));
            // Bytes sent, for the `aid` → size record (M4 check at send).
            let sent = Arc::new(AtomicU64::new(0));
            let count = sent.clone();
            let counted = incoming.map_frame(move |f| {
                if let Some(d) = f.data_ref() {
                    count.fetch_add(d.len() as u64, Ordering::Relaxed);
                }
                f
            });
            upload_sent = Some(sent);
            let body = LimitedBody::new(counted, cap, flag.clone()).boxed();
            (body, state.upstream.response_timeout, Some(flag))
        }
        _ => (
            incoming.map_err(Into::into).boxed(),
            state.upstream.response_timeout,
            None,
        ),
    };

    let up_req = build_upstream_request(parts, body, path, ctx, peer, state)?;
    let started = Instant::now();
    let result = state.upstream.send(up_req, timeout).await;
    telemetry::record_upstream_latency(ctx.surface.as_str(), started.elapsed().as_secs_f64());
    let resp = match result {
        Ok(resp) => resp,
        Err(_) if exceeded.as_ref().is_some_and(|f| f.load(Ordering::Relaxed)) => {
            return Ok(upload_too_large(upload_query.as_deref()))
        }
        Err(UpstreamError::Timeout) => {
            tracing::warn!(surface = ctx.surface.as_str(), "store response timeout");
            return Err(ProxyError::UpstreamTimeout);
        }
        Err(UpstreamError::Unavailable(why)) => {
            tracing::warn!(surface = ctx.surface.as_str(), error = %why, "store unavailable");
            return Err(ProxyError::UpstreamUnavailable);
        }
    };
    let (mut parts, body) = resp.into_parts();
    headers::strip_hop_by_hop(&mut parts.headers);
    // The store's own token cookies never reach the client (A7).
    crate::auth::session::filter_upstream_set_cookies(&mut parts.headers);
    if let Some(s) = ctx
        .session
        .as_ref()
        .filter(|_| is_soap && parts.status == 500)
    {
        let Some(len) = content_length(&parts.headers).filter(|l| *l <= MAX_FAULT_READ) else {
            return Ok(Response::from_parts(
                parts,
                body.map_err(Into::into).boxed(),
            ));
        };
        let fault = collect_capped(body, len as usize, timeout)
            .await
            .map_err(|_| ProxyError::UpstreamUnavailable)?;
        if store_token_dead(&fault) {
            end_dead_session(s, ctx.client_ip, state).await;
        }
        return Ok(Response::from_parts(parts, full(fault)));
    }
    if let (Some(sent), true) = (upload_sent, parts.status.is_success()) {
        // The servlet's short answer names the new `aid`s: remember their size.
        let answer = collect_capped(body, uploads::MAX_ANSWER_BYTES, timeout)
            .await
            .map_err(|_| ProxyError::UpstreamUnavailable)?;
        state
            .uploads
            .record(&answer, sent.load(Ordering::Relaxed))
            .await;
        return Ok(Response::from_parts(parts, full(answer)));
    }
    Ok(Response::from_parts(
        parts,
        body.map_err(Into::into).boxed(),
    ))
}

enum SoapStep {
    Forward(Bytes, bool),
    Answer(SoapReply),
}

/// Parse strictly, then ask the decision point. A body that does not parse is
/// answered with a fault and never reaches the store.
async fn soap_step(
    bytes: Bytes,
    ctx: &mut RequestContext,
    headers: &mut http::HeaderMap,
    state: &AppState,
) -> SoapStep {
    let cap = state.config.limits.soap_max_bytes;
    let mut env = match Envelope::parse_capped(&bytes, cap) {
        Ok(env) => env,
        Err(err) => {
            telemetry::record_policy_decision("malformed");
            tracing::info!(error = %err, "SOAP body refused");
            return SoapStep::Answer(fault_for(&err, &bytes));
        }
    };
    let mut env_changed = false;
    match soap_auth::step(&mut env, &mut env_changed, ctx, headers, &state.auth).await {
        AuthStep::Continue => session_in_use(ctx, state).await,
        AuthStep::Answer(reply) => {
            telemetry::record_policy_decision(if reply.status >= 400 {
                "refuse"
            } else {
                "answer"
            });
            return SoapStep::Answer(reply);
        }
    }
    let long_poll = soap_pipeline::is_long_poll(&env);
    let action = soap_pipeline::decide(&env, ctx, headers, state).await;
    telemetry::record_policy_decision(action.label());
    match action {
        SoapAction::Forward if env_changed => {
            SoapStep::Forward(Bytes::from(env.to_bytes()), long_poll)
        }
        SoapAction::Forward => SoapStep::Forward(bytes, long_poll),
        SoapAction::ForwardRewritten(new) => SoapStep::Forward(Bytes::from(new), long_poll),
        SoapAction::Answer(reply) => SoapStep::Answer(reply),
    }
}

/// Store faults are small; larger 500 answers are streamed without a look.
const MAX_FAULT_READ: u64 = 64 * 1024;

/// Does this store fault say the token the gateway injected no longer works?
fn store_token_dead(body: &[u8]) -> bool {
    Envelope::parse(body).is_ok_and(|env| {
        env.body.name == "Fault"
            && matches!(
                super::store_call::fault_from(&env.body).code.as_str(),
                "service.AUTH_EXPIRED" | "service.AUTH_REQUIRED"
            )
    })
}

/// The store ended the session's token (store restart, logout elsewhere, password set by
/// an administrator): end the gateway session too, so the next page load goes to the
/// login page instead of a webmail that can no longer work.
async fn end_dead_session(s: &GatewaySession, ip: std::net::IpAddr, state: &AppState) {
    if let Ok(Some(ended)) = state.auth.sessions().revoke(s.id.expose()).await {
        AuditEvent::new("session.ended_by_store")
            .user(&ended.user)
            .client_ip(ip)
            .emit();
    }
}

/// Work due once a user's session is in use: the "Échanges Patients" set-up (M5).
async fn session_in_use(ctx: &RequestContext, state: &AppState) {
    if let Some(s) = &ctx.session {
        state
            .patients
            .ensure_in_background(&state.upstream, s.user(), &s.upstream_token, ctx.client_ip)
            .await;
    }
}

/// M4: an upload over the limit, answered in the upload servlet's own shape (§4.3) so
/// the webmail shows its usual message; HTTP 413 is kept for non-browser clients.
fn upload_too_large(query: Option<&str>) -> Response<Body> {
    let (mut fmt, mut request_id) = (None, None);
    for (k, v) in url::form_urlencoded::parse(query.unwrap_or("").as_bytes()) {
        match k.as_ref() {
            "fmt" => fmt = Some(v.into_owned()),
            "requestId" => request_id = Some(v.into_owned()),
            _ => {}
        }
    }
    let body = upload_limit::upload_error_body(413, fmt.as_deref(), request_id.as_deref());
    let mut resp = Response::new(full(body));
    *resp.status_mut() = http::StatusCode::PAYLOAD_TOO_LARGE;
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    // The rest of the body is not read: the connection cannot be reused.
    h.insert(header::CONNECTION, HeaderValue::from_static("close"));
    resp
}

/// M7: archive exports (`fmt=tgz|tar|zip`) are audited, or refused by policy.
fn rest_export(
    path: &NormalizedPath,
    query: Option<&str>,
    ctx: &RequestContext,
    state: &AppState,
) -> Option<Response<Body>> {
    // Every spelling of the UserServlet (`/user/…`, `/zimbra/home/…`) is judged as one.
    let servlet_path = super::routes::user_servlet_path(&path.decided)?;
    let (format, refused) =
        match exports::classify_rest(&servlet_path, query.unwrap_or(""), &state.policy.config) {
            ExportDecision::Pass => return None,
            ExportDecision::Audit { format } => (format, false),
            ExportDecision::Refuse { format } => (format, true),
        };
    // Path only (it names the mailbox); never the query, where tokens may travel.
    AuditEvent::new(if refused {
        "export.refused"
    } else {
        "export.audited"
    })
    .client_ip(ctx.client_ip)
    .detail(serde_json::json!({"path": path.decided, "format": format}))
    .emit();
    if !refused {
        return None;
    }
    telemetry::record_policy_decision("refuse");
    let mut resp = Response::new(full("Export d'archive refusé par la politique MSSanté.\n"));
    *resp.status_mut() = http::StatusCode::FORBIDDEN;
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    Some(resp)
}

fn fault_for(err: &SoapError, body: &[u8]) -> SoapReply {
    Fault::from(err).reply(Format::sniff(body))
}

fn soap_response(reply: SoapReply) -> Response<Body> {
    let mut resp = Response::new(full(reply.body));
    *resp.status_mut() =
        http::StatusCode::from_u16(reply.status).unwrap_or(http::StatusCode::INTERNAL_SERVER_ERROR);
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(reply.content_type),
    );
    resp
}

fn content_length(h: &http::HeaderMap) -> Option<u64> {
    h.get(header::CONTENT_LENGTH)?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()
}

fn build_upstream_request(
    parts: http::request::Parts,
    body: Body,
    path: &NormalizedPath,
    ctx: &RequestContext,
    peer: SocketAddr,
    state: &AppState,
) -> Result<Request<Body>, ProxyError> {
    let pq = match parts.uri.query() {
        Some(q) => format!("{}?{q}", path.forward),
        None => path.forward.clone(),
    };
    let uri = state
        .upstream
        .uri_for(&pq)
        .map_err(|_| ProxyError::BadRequest("target"))?;
    let mut headers = parts.headers;
    headers::strip_hop_by_hop(&mut headers);
    // hyper already answered any `100-continue` to the client; the store must not wait.
    headers.remove(header::EXPECT);
    // Host is preserved (Zimbra checks Referer against it); HTTP/2 carries it in
    // the :authority pseudo-header instead.
    let host = headers.get(header::HOST).cloned().or_else(|| {
        parts
            .uri
            .authority()
            .and_then(|a| HeaderValue::from_str(a.as_str()).ok())
    });
    match &host {
        Some(h) => headers.insert(header::HOST, h.clone()),
        None => headers.insert(
            header::HOST,
            HeaderValue::from_str(state.upstream.authority().as_str())
                .map_err(|_| ProxyError::Internal)?,
        ),
    };
    let trusted = headers::is_trusted(peer.ip(), &state.trusted_proxies);
    headers::set_forwarding(&mut headers, peer.ip(), trusted, ctx.secure, host);
    // Our SOAP bodies are complete: let the client compute their framing.
    if matches!(ctx.surface, Surface::Soap | Surface::AdminSoap) {
        headers.remove(header::CONTENT_LENGTH);
    }
    let mut req = Request::new(body);
    *req.method_mut() = parts.method;
    *req.uri_mut() = uri;
    *req.headers_mut() = headers;
    Ok(req)
}
