//! THE SESSION GATE: who is calling, and what the store sees of it.
//!
//! A request belongs to a gateway session only through a session id the gateway
//! handed out (portal cookie, or the token a SOAP client got from the gateway's
//! `AuthRequest`, sent back as `ZM_AUTH_TOKEN` cookie, SOAP header `authToken` or
//! `zauthtoken=` query). Store tokens a client sends are never looked up: they are
//! stripped, and the session's own store token is injected instead (A7).
//! Without a full session nothing reaches the store (default deny).
//!
//! Header order decides nothing: the `__Host-` portal cookie (which no sibling host can
//! set) is looked up first, and a request naming two different live gateway sessions
//! (a `ZM_AUTH_TOKEN` a sibling host planted beside the portal cookie, two query
//! tokens…) is refused, with the planted cookie cleared where the gateway can clear it.

use super::context::GatewaySession;
use super::path::Surface;
use super::{full, Body};
use crate::auth::session::{inject_upstream_token, strip_client_tokens, SessionManager};
use crate::portal::pages::paths;
use http::header::{CACHE_CONTROL, CONTENT_TYPE, COOKIE, HOST, LOCATION, SET_COOKIE};
use http::{HeaderMap, HeaderValue, Method, Response, StatusCode, Uri};

/// At most this many candidate ids are looked up per request (each is one store read).
const MAX_CANDIDATES: usize = 4;

/// The values of cookie `name`, in header order.
fn cookie_values<'a>(headers: &'a HeaderMap, name: &str) -> Vec<&'a str> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|p| p.trim().split_once('='))
        .filter(|(k, _)| *k == name)
        .map(|(_, v)| v.trim())
        .collect()
}

/// Candidate ids, the portal cookie's first (it wins over anything a sibling host
/// could set), then `ZM_AUTH_TOKEN` for SOAP clients that keep the token the gateway
/// gave them the Zimbra way, then the query.
fn cookie_candidates<'a>(headers: &'a HeaderMap, portal_cookie: &'a str) -> Vec<&'a str> {
    let mut c = cookie_values(headers, portal_cookie);
    c.extend(cookie_values(headers, "ZM_AUTH_TOKEN"));
    c
}

fn query_candidates(uri: &Uri) -> Vec<String> {
    url::form_urlencoded::parse(uri.query().unwrap_or("").as_bytes())
        .filter(|(k, _)| k.eq_ignore_ascii_case("zauthtoken"))
        .map(|(_, v)| v.into_owned())
        .collect()
}

/// A request naming two different live gateway sessions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionConflict;

/// The full session named by the request's cookies or query, if any; refused when
/// they name two different live sessions. Loading does not count as activity: the
/// caller touches it once it knows the request is not background polling.
pub async fn resolve(
    headers: &HeaderMap,
    uri: &Uri,
    sessions: &SessionManager,
) -> Result<Option<GatewaySession>, SessionConflict> {
    let from_query = query_candidates(uri);
    let candidates = cookie_candidates(headers, sessions.cookie_name())
        .into_iter()
        .chain(from_query.iter().map(String::as_str))
        .take(MAX_CANDIDATES);
    let mut found: Option<GatewaySession> = None;
    let mut tried: Vec<&str> = Vec::new();
    for id in candidates {
        if tried.contains(&id) {
            continue;
        }
        tried.push(id);
        if let Some(s) = lookup(id, sessions).await {
            if found.is_some() {
                tracing::warn!("request names two gateway sessions: refused");
                return Err(SessionConflict);
            }
            found = Some(s);
        }
    }
    Ok(found)
}

/// Whether `id` names a live session other than `current` (a second session named in
/// the same request, e.g. by a SOAP header beside a cookie).
pub async fn names_another(id: &str, current: &GatewaySession, sessions: &SessionManager) -> bool {
    id != current.id.expose() && lookup(id, sessions).await.is_some()
}

/// The answer to a request naming two sessions: 401, and `ZM_AUTH_TOKEN` cleared on
/// this host and on its parent domains (where a sibling host could have set it).
pub fn conflicting(headers: &HeaderMap) -> Response<Body> {
    let mut r = Response::new(full(
        "Requête refusée : elle désigne deux sessions différentes. \
         Reconnectez-vous à la messagerie sur /connexion.\n",
    ));
    *r.status_mut() = StatusCode::UNAUTHORIZED;
    let h = r.headers_mut();
    h.insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    h.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    let host = headers
        .get(HOST)
        .and_then(|v| v.to_str().ok())
        .map(|h| {
            h.rsplit_once(':').map_or(h, |(name, port)| {
                if port.bytes().all(|b| b.is_ascii_digit()) {
                    name
                } else {
                    h
                }
            })
        })
        .unwrap_or("");
    for c in clearing_cookies(host) {
        if let Ok(v) = HeaderValue::from_str(&c) {
            h.append(SET_COOKIE, v);
        }
    }
    r
}

/// `Set-Cookie` values deleting `ZM_AUTH_TOKEN` host-only and for each parent domain
/// of `host` with at least two labels (never a bare top-level domain; an IP has none).
fn clearing_cookies(host: &str) -> Vec<String> {
    let clear = "ZM_AUTH_TOKEN=; Path=/; Max-Age=0";
    let mut out = vec![clear.to_string()];
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    if host.parse::<std::net::IpAddr>().is_ok() || host.starts_with('[') {
        return out;
    }
    let labels: Vec<&str> = host.split('.').collect();
    for i in 1..labels.len().saturating_sub(1) {
        out.push(format!("{clear}; Domain={}", labels[i..].join(".")));
    }
    out
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
            HeaderValue::from_static("a=1; ZM_AUTH_TOKEN=Z1; mssante_session=S1"),
        );
        h.append(COOKIE, HeaderValue::from_static("other=2"));
        assert_eq!(
            cookie_candidates(&h, "mssante_session"),
            vec!["S1", "Z1"],
            "the portal cookie first, whatever the header order"
        );
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
    fn a_planted_cookie_is_cleared_where_it_can_be() {
        assert_eq!(
            clearing_cookies("messagerie.esante.example.fr"),
            vec![
                "ZM_AUTH_TOKEN=; Path=/; Max-Age=0".to_string(),
                "ZM_AUTH_TOKEN=; Path=/; Max-Age=0; Domain=esante.example.fr".to_string(),
                "ZM_AUTH_TOKEN=; Path=/; Max-Age=0; Domain=example.fr".to_string(),
            ]
        );
        assert_eq!(clearing_cookies("127.0.0.1").len(), 1);
        assert_eq!(clearing_cookies("localhost").len(), 1);
    }

    #[tokio::test]
    async fn two_live_sessions_in_one_request_are_refused() {
        use crate::auth::clock::Clock;
        use crate::auth::config::SessionConfig;
        use crate::auth::secret::UpstreamToken;
        use crate::auth::session::Stage;
        use crate::store::ShortStore;
        let sessions = SessionManager::new(
            SessionConfig {
                insecure_loopback_demo: true,
                ..SessionConfig::default()
            },
            ShortStore::memory(Clock::System, 100),
        );
        let full = |u: &'static str| {
            let s = sessions.clone();
            async move {
                s.create(u, Stage::Full, Some(UpstreamToken::new("0_t")))
                    .await
                    .unwrap()
                    .id
                    .expose()
                    .to_string()
            }
        };
        let victim = full("victim@x.fr").await;
        let attacker = full("attacker@x.fr").await;
        let uri: Uri = "/".parse().unwrap();
        let cookies = |v: String| {
            let mut h = HeaderMap::new();
            h.insert(COOKIE, HeaderValue::from_str(&v).unwrap());
            h
        };
        // The planted cookie first in header order: refused, not the attacker's session.
        let h = cookies(format!(
            "ZM_AUTH_TOKEN={attacker}; mssante_session={victim}"
        ));
        assert_eq!(
            resolve(&h, &uri, &sessions).await.unwrap_err(),
            SessionConflict
        );
        // A dead or foreign value beside the portal cookie: the portal cookie wins.
        let h = cookies(format!(
            "ZM_AUTH_TOKEN=0_store_token; mssante_session={victim}"
        ));
        let s = resolve(&h, &uri, &sessions).await.unwrap().unwrap();
        assert_eq!(s.user(), "victim@x.fr");
        // The same session named twice is one session.
        let h = cookies(format!("ZM_AUTH_TOKEN={victim}; mssante_session={victim}"));
        assert!(resolve(&h, &uri, &sessions).await.unwrap().is_some());
    }

    #[test]
    fn webmail_logout_link() {
        assert!(is_webmail_logout(&"/?loginOp=logout".parse().unwrap()));
        assert!(!is_webmail_logout(&"/?loginOp=login".parse().unwrap()));
    }
}
