//! `GET /service/preauth` (zimbra-api.md §2.3): checks the preauth (or injects an
//! existing token with `isredirect=1&authtoken=`), sets the cookie and redirects.
//! Errors are plain HTTP 400, as `resp.sendError(400, …)`.

use http::{HeaderMap, Response, StatusCode};

use super::auth::USER_COOKIE;
use super::http_util::{add_header, auth_cookie, query_get, text, Body};
use super::preauth::{self, PreauthInput};
use super::state::{now_ms, SandboxState};
use super::token::TokenClaims;

fn bad(msg: &str) -> Response<Body> {
    text(StatusCode::BAD_REQUEST, msg.to_string())
}

/// `redirectURL` must stay on this server (relative path or same host).
fn allowed_redirect(url: &str, host: &str) -> bool {
    (url.starts_with('/') && !url.starts_with("//"))
        || url.starts_with(&format!("http://{host}/"))
        || url.starts_with(&format!("https://{host}/"))
}

pub fn handle(
    state: &SandboxState,
    headers: &HeaderMap,
    query: &[(String, String)],
) -> Response<Body> {
    let host = headers
        .get(http::header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("localhost");
    let redirect = query_get(query, "redirectURL").unwrap_or("/").to_string();
    if !allowed_redirect(&redirect, host) {
        return bad("redirect URL not allowed");
    }
    let token =
        if query_get(query, "isredirect") == Some("1") && query_get(query, "authtoken").is_some() {
            // Token injection: one-time, so the old token is ended and a new one issued.
            let old = query_get(query, "authtoken").unwrap_or("");
            let Ok(claims) = state.tokens.decode(old, now_ms()) else {
                return bad("invalid authtoken");
            };
            if !state.store.lock().revoked.insert(old.to_string()) {
                return bad("invalid authtoken");
            }
            state.tokens.encode(&TokenClaims {
                csrf: false,
                ..claims
            })
        } else {
            let (Some(account), Some(value), Some(ts), Some(exp)) = (
                query_get(query, "account"),
                query_get(query, "preauth"),
                query_get(query, "timestamp"),
                query_get(query, "expires"),
            ) else {
                return bad("missing required parameter");
            };
            let by = query_get(query, "by").unwrap_or("name");
            let admin = query_get(query, "admin") == Some("1");
            if admin {
                return bad("admin preauth is only available on the admin port");
            }
            let Some(acct) = state.find_account(by, account) else {
                return bad("authentication failed");
            };
            let Some(domain) = state.domain(acct.domain()) else {
                return bad("domain is not configured for preauth");
            };
            let input = PreauthInput {
                account,
                by,
                timestamp: ts,
                expires: exp,
                admin,
                value,
            };
            let expiry = match preauth::verify(&domain.preauth_key, &input, now_ms()) {
                Ok(e) => e.unwrap_or_else(|| now_ms() + state.settings.token_lifetime_ms),
                Err(e) => return bad(&format!("authentication failed: {e}")),
            };
            state.tokens.encode(&TokenClaims {
                id: acct.id.clone(),
                exp: expiry,
                usage: "a".into(),
                admin: false,
                csrf: false,
            })
        };
    let mut resp = text(StatusCode::FOUND, "");
    add_header(&mut resp, "Location", &redirect);
    add_header(
        &mut resp,
        "Set-Cookie",
        &auth_cookie(USER_COOKIE, &token, None),
    );
    resp
}
