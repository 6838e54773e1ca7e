//! One SOAP call the gateway itself makes to the store on a user's behalf (annuaire
//! merge, "Échanges Patients" set-up): the envelope in the given format, the session's
//! store token in its header, the answer parsed back (or the store's fault).

use super::limits::{collect_capped, CollectError};
use super::upstream::Upstream;
use crate::auth::secret::UpstreamToken;
use crate::soap::{Element, Envelope, Fault};
use http::{header, HeaderMap, HeaderValue, Method, Request};
use std::net::IpAddr;

/// Largest store answer read back.
const MAX_ANSWER: usize = 4 * 1024 * 1024;

/// Sends `env` (with `token` set in its header) and returns the answer's body element.
/// `cookies`: the `Cookie` headers to pass along (already stripped of client tokens).
pub async fn send(
    upstream: &Upstream,
    mut env: Envelope,
    token: Option<&UpstreamToken>,
    cookies: &HeaderMap,
    client_ip: IpAddr,
) -> Result<Element, Fault> {
    if let Some(t) = token {
        env.set_auth_token(t.expose());
    }
    let uri = upstream
        .uri_for("/service/soap")
        .map_err(|_| unavailable())?;
    let mut req = Request::new(super::full(env.to_bytes()));
    *req.method_mut() = Method::POST;
    *req.uri_mut() = uri;
    let h = req.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(env.format.content_type()),
    );
    if let Ok(host) = HeaderValue::from_str(upstream.authority().as_str()) {
        h.insert(header::HOST, host);
    }
    for v in cookies.get_all(header::COOKIE) {
        h.append(header::COOKIE, v.clone());
    }
    if let Ok(ip) = HeaderValue::from_str(&client_ip.to_string()) {
        h.insert("x-forwarded-for", ip);
    }
    let resp = upstream
        .send(req, upstream.response_timeout)
        .await
        .map_err(|e| {
            tracing::warn!(error = %e, "store call failed");
            unavailable()
        })?;
    let body = collect_capped(resp.into_body(), MAX_ANSWER, upstream.response_timeout)
        .await
        .map_err(|e| {
            let why = match e {
                CollectError::TooLarge(_) => "too large",
                CollectError::Timeout => "timeout",
                CollectError::Client => "read error",
            };
            tracing::warn!(why, "store answer unreadable");
            unavailable()
        })?;
    let parsed = Envelope::parse(&body).map_err(|e| {
        tracing::warn!(error = %e, "store answer does not parse");
        unavailable()
    })?;
    if parsed.body.name == "Fault" {
        return Err(fault_from(&parsed.body));
    }
    Ok(parsed.body)
}

pub fn unavailable() -> Fault {
    Fault::new(
        "service.TEMPORARILY_UNAVAILABLE",
        "Le serveur de messagerie est momentanément indisponible",
    )
    .receiver()
}

/// The code and reason of a store fault (XML `Detail/Error/Code` or JSON `Detail.Error.Code`).
pub fn fault_from(f: &Element) -> Fault {
    let all = f.walk();
    let code = all
        .iter()
        .find(|e| e.name == "Error")
        .and_then(|e| e.attr("Code"))
        .unwrap_or("service.FAILURE")
        .to_owned();
    let reason = all
        .iter()
        .find_map(|e| match e.name.as_str() {
            "Reason" => e.attr("Text"),
            "faultstring" => Some(e.text()),
            _ => None,
        })
        .unwrap_or("erreur du serveur de messagerie")
        .to_owned();
    Fault::new(code, reason)
}
