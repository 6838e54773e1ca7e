//! THE SESSION GATE: who is calling, and what the store sees of it.
//!
//! A request belongs to a gateway session only through a session id the gateway
//! handed out (portal cookie, or the token a SOAP client got from the gateway's
//! `AuthRequest`, sent back as `ZM_AUTH_TOKEN` cookie, SOAP header `authToken` or
//! `zauthtoken=` query). Store tokens a client sends are never looked up: they are
//! stripped, and the session's own store token is injected instead (A7).
//! Without a full session nothing reaches the store (default deny).

use super::context::GatewaySession;
use super::path::Surface;
use super::{full, Body};
use crate::auth::session::{inject_upstream_token, strip_client_tokens, SessionManager};
use crate::portal::pages::paths;
use http::header::{CACHE_CONTROL, CONTENT_TYPE, COOKIE, LOCATION};
use http::{HeaderMap, HeaderValue, Method, Response, StatusCode, Uri};

/// At most this many candidate ids are looked up per request (each is one store read).
const MAX_CANDIDATES: usize = 4;

/// Cookie names a session id may travel in: the portal's, and `ZM_AUTH_TOKEN` for
/// SOAP clients that keep the token the gateway gave them the Zimbra way.
fn cookie_candidates<'a>(headers: &'a HeaderMap, portal_cookie: &'a str) -> Vec<&'a str> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|p| p.trim().split_once('='))
        .filter(|(k, _)| *k == portal_cookie || *k == "ZM_AUTH_TOKEN")
        .map(|(_, v)| v.trim())
        .collect()
}

fn query_candidates(uri: &Uri) -> Vec<String> {
    url::form_urlencoded::parse(uri.query().unwrap_or("").as_bytes())
        .filter(|(k, _)| k.eq_ignore_ascii_case("zauthtoken"))
        .map(|(_, v)| v.into_owned())
        .collect()
}

/// The full session named by the request's cookies or query, if any. Loading does
/// not count as activity: the caller touches it once it knows the request is not
/// background polling.
pub async fn resolve(
    headers: &HeaderMap,
    uri: &Uri,
    sessions: &SessionManager,
) -> Option<GatewaySession> {
    let from_query = query_candidates(uri);
    let candidates = cookie_candidates(headers, sessions.cookie_name())
        .into_iter()
        .chain(from_query.iter().map(String::as_str))
        .take(MAX_CANDIDATES);
    for id in candidates {
        if let Some(s) = lookup(id, sessions).await {
            return Some(s);
        }
    }
    None
}

/// One candidate id; store errors count as "no session" (fail closed).
pub async fn lookup(id: &str, sessions: &SessionManager) -> Option<GatewaySession> {
    match sessions.load(id, false).await {
        Ok(Some(s)) => GatewaySession::full(id, s),
        Ok(None) => None,
        Err(e) => {
            tracing::error!(error = %e, "session store unavailable");
            None
        }
    }
}

/// Rewrites the request for the store: every client token out, the session's in.
/// Returns the target without token parameters.
pub fn upstream_headers(
    headers: &mut HeaderMap,
    uri: &Uri,
    session: Option<&GatewaySession>,
) -> Uri {
    let uri = strip_client_tokens(headers, uri);
    if let Some(s) = session {
        if inject_upstream_token(headers, &s.upstream_token).is_err() {
            tracing::error!("store token is not a valid cookie value");
        }
    }
    uri
}

/// A top-level page load: `Sec-Fetch-Mode: navigate` where the browser sends it,
/// else an `Accept` asking for HTML.
fn is_page_load(headers: &HeaderMap) -> bool {
    if let Some(mode) = headers.get("sec-fetch-mode") {
        return mode.as_bytes() == b"navigate";
    }
    headers
        .get(http::header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.contains("text/html"))
}

/// The webmail's own logout link (`/?loginOp=logout`) ends the gateway session.
pub fn is_webmail_logout(uri: &Uri) -> bool {
    url::form_urlencoded::parse(uri.query().unwrap_or("").as_bytes())
        .any(|(k, v)| k == "loginOp" && v == "logout")
}

/// Answer to a request without a session. Browser page loads go to the login page
/// and come back afterwards; anything else (scripts, images, the favicon a browser
/// fetches by itself, API clients) gets a 401, so background requests never load the
/// login page behind the user's back.
pub fn unauthenticated(
    surface: Surface,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
) -> Response<Body> {
    let navigation = matches!(*method, Method::GET | Method::HEAD)
        && matches!(surface, Surface::Static | Surface::Rest)
        && is_page_load(headers);
    let mut resp = if navigation {
        let back = uri.path_and_query().map(|p| p.as_str()).unwrap_or("/");
        let target = format!(
            "{}?retour={}",
            paths::LOGIN,
            url::form_urlencoded::byte_serialize(back.as_bytes()).collect::<String>()
        );
        let mut r = Response::new(full(""));
        *r.status_mut() = StatusCode::FOUND;
        if let Ok(v) = HeaderValue::from_str(&target) {
            r.headers_mut().insert(LOCATION, v);
        }
        r
    } else {
        let mut r = Response::new(full(
            "Authentification requise : connectez-vous à la messagerie sur /connexion.\n",
        ));
        *r.status_mut() = StatusCode::UNAUTHORIZED;
        r.headers_mut().insert(
            CONTENT_TYPE,
            HeaderValue::from_static("text/plain; charset=utf-8"),
        );
        r
    };
    resp.headers_mut()
        .insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn candidates_come_from_our_cookie_zm_auth_token_and_query() {
        let mut h = HeaderMap::new();
        h.append(
            COOKIE,
            HeaderValue::from_static("a=1; mssante_session=S1; ZM_AUTH_TOKEN=Z1"),
        );
        h.append(COOKIE, HeaderValue::from_static("other=2"));
        assert_eq!(cookie_candidates(&h, "mssante_session"), vec!["S1", "Z1"]);
        let uri: Uri = "/home/x?zauthtoken=Q1&fmt=ics".parse().unwrap();
        assert_eq!(query_candidates(&uri), vec!["Q1".to_string()]);
    }

    #[test]
    fn navigation_redirects_with_return_path_other_requests_get_401() {
        let uri: Uri = "/h/search?q=a%20b".parse().unwrap();
        let mut page = HeaderMap::new();
        page.insert(
            http::header::ACCEPT,
            HeaderValue::from_static("text/html,*/*"),
        );
        let r = unauthenticated(Surface::Static, &Method::GET, &uri, &page);
        assert_eq!(r.status(), StatusCode::FOUND);
        assert_eq!(
            r.headers()[LOCATION],
            "/connexion?retour=%2Fh%2Fsearch%3Fq%3Da%2520b"
        );
        let mut favicon = HeaderMap::new();
        favicon.insert("sec-fetch-mode", HeaderValue::from_static("no-cors"));
        favicon.insert(http::header::ACCEPT, HeaderValue::from_static("text/html"));
        let r = unauthenticated(Surface::Static, &Method::GET, &uri, &favicon);
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
        let r = unauthenticated(Surface::Static, &Method::GET, &uri, &HeaderMap::new());
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
        let r = unauthenticated(Surface::Upload, &Method::POST, &uri, &page);
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
        let r = unauthenticated(Surface::Dav, &Method::GET, &uri, &page);
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    }

    #[test]
    fn webmail_logout_link() {
        assert!(is_webmail_logout(&"/?loginOp=logout".parse().unwrap()));
        assert!(!is_webmail_logout(&"/?loginOp=login".parse().unwrap()));
    }
}
