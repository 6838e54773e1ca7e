//! A client never reaches the store with a token the gateway did not hand out:
//! strip client-supplied Zimbra tokens and the gateway's own cookie from requests,
//! inject the session's upstream token, and drop upstream `Set-Cookie` tokens.

use super::secret::UpstreamToken;
use super::session::{COOKIE_NAME_DEMO, COOKIE_NAME_SECURE};
use crate::soap::Envelope;
use http::header::{AUTHORIZATION, COOKIE, SET_COOKIE};
use http::{HeaderMap, HeaderValue, Uri};
use percent_encoding::percent_decode_str;

/// Cookies that carry Zimbra credentials, plus the gateway's own (compared case-insensitively).
const STRIPPED_COOKIES: &[&str] = &[
    "ZM_AUTH_TOKEN",
    "ZM_ADMIN_AUTH_TOKEN",
    "ZM_JWT",
    "ZM_TRUST_TOKEN",
    COOKIE_NAME_SECURE,
    COOKIE_NAME_DEMO,
    crate::portal::csrf::CSRF_COOKIE_SECURE,
    crate::portal::csrf::CSRF_COOKIE_DEMO,
];
/// Upstream cookies the browser must never receive.
const UPSTREAM_COOKIES: &[&str] = &[
    "ZM_AUTH_TOKEN",
    "ZM_ADMIN_AUTH_TOKEN",
    "ZM_JWT",
    "ZM_TRUST_TOKEN",
];
/// Query parameters Zimbra reads a token from.
const STRIPPED_PARAMS: &[&str] = &["zauthtoken", "authtoken", "zjwttoken"];

fn cookie_name(pair: &str) -> String {
    let name = pair.split('=').next().unwrap_or("").trim();
    name.trim_matches('"').to_ascii_lowercase()
}

fn is_listed(name: &str, list: &[&str]) -> bool {
    let name = name.strip_prefix('$').unwrap_or(name);
    list.iter().any(|c| c.eq_ignore_ascii_case(name))
}

/// Removes token cookies (any case, every `Cookie` header, `,` as well as `;` as a
/// separator since old servlet parsers accept both), every `Authorization` header,
/// and returns `uri` without token query parameters (names percent-decoded).
pub fn strip_client_tokens(headers: &mut HeaderMap, uri: &Uri) -> Uri {
    let mut kept: Vec<String> = Vec::new();
    for value in headers.get_all(COOKIE) {
        // A non-UTF-8 Cookie header is dropped whole.
        let Ok(text) = value.to_str() else { continue };
        for segment in text.split(';') {
            let poisoned = segment
                .split(',')
                .any(|p| is_listed(&cookie_name(p), STRIPPED_COOKIES));
            if !poisoned && !segment.trim().is_empty() {
                kept.push(segment.trim().to_string());
            }
        }
    }
    headers.remove(COOKIE);
    if !kept.is_empty() {
        if let Ok(v) = HeaderValue::from_str(&kept.join("; ")) {
            headers.insert(COOKIE, v);
        }
    }
    headers.remove(AUTHORIZATION);
    strip_query_tokens(uri)
}

fn strip_query_tokens(uri: &Uri) -> Uri {
    let Some(query) = uri.query() else {
        return uri.clone();
    };
    let kept: Vec<&str> = query
        .split('&')
        .filter(|p| {
            let raw_name = p.split('=').next().unwrap_or("").replace('+', " ");
            let name = percent_decode_str(&raw_name)
                .decode_utf8_lossy()
                .trim()
                .to_ascii_lowercase();
            !p.is_empty() && !STRIPPED_PARAMS.contains(&name.as_str())
        })
        .collect();
    let path = uri.path();
    let pq = if kept.is_empty() {
        path.to_string()
    } else {
        format!("{path}?{}", kept.join("&"))
    };
    let mut parts = uri.clone().into_parts();
    parts.path_and_query = pq.parse().ok();
    Uri::from_parts(parts).unwrap_or_else(|_| Uri::from_static("/"))
}

/// Adds the session's upstream token as the `ZM_AUTH_TOKEN` cookie. Call after
/// `strip_client_tokens`. Fails if the token is not a valid header value.
pub fn inject_upstream_token(
    headers: &mut HeaderMap,
    token: &UpstreamToken,
) -> Result<(), http::header::InvalidHeaderValue> {
    let ours = format!("ZM_AUTH_TOKEN={}", token.expose());
    let joined = match headers.get(COOKIE).and_then(|v| v.to_str().ok()) {
        Some(rest) if !rest.is_empty() => format!("{rest}; {ours}"),
        _ => ours,
    };
    let mut v = HeaderValue::from_str(&joined)?;
    v.set_sensitive(true);
    headers.insert(COOKIE, v);
    Ok(())
}

/// Drops upstream `Set-Cookie` headers that would hand a Zimbra token to the browser.
/// Returns how many were removed.
pub fn filter_upstream_set_cookies(headers: &mut HeaderMap) -> usize {
    let all: Vec<HeaderValue> = headers.get_all(SET_COOKIE).iter().cloned().collect();
    let before = all.len();
    headers.remove(SET_COOKIE);
    for v in all {
        let keep = match v.to_str() {
            Ok(s) => !is_listed(&cookie_name(s), UPSTREAM_COOKIES),
            Err(_) => false,
        };
        if keep {
            headers.append(SET_COOKIE, v);
        }
    }
    before - headers.get_all(SET_COOKIE).iter().count()
}

/// Does the SOAP header context carry a client token (`authToken`, `jwtToken`,
/// `jwtSalt` in any spelling)? The pipeline refuses or strips such requests.
pub fn soap_has_client_token(env: &Envelope) -> bool {
    env.context.as_ref().is_some_and(|c| {
        ["authToken", "jwtToken", "jwtSalt"]
            .iter()
            .any(|k| !c.attr_all(k).is_empty())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::soap::{Element, Format, NS_ZIMBRA};

    fn headers(cookies: &[&str]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for c in cookies {
            h.append(COOKIE, HeaderValue::from_str(c).unwrap());
        }
        h
    }

    fn cookie(h: &HeaderMap) -> Option<&str> {
        h.get(COOKIE).map(|v| v.to_str().unwrap())
    }

    #[test]
    fn strips_token_cookies_in_any_case_and_header() {
        let mut h = headers(&[
            "a=1; ZM_AUTH_TOKEN=evil; b=2",
            "zm_auth_token=evil2;ZM_ADMIN_AUTH_TOKEN=x",
            "Zm_Jwt=s; __Host-mssante_session=sid; mssante_session=sid2; c=3",
            "__Host-mssante_csrf=x; mssante_csrf=y",
            " \"ZM_AUTH_TOKEN\"=q; $ZM_AUTH_TOKEN=r",
        ]);
        let uri: Uri = "/service/soap".parse().unwrap();
        strip_client_tokens(&mut h, &uri);
        assert_eq!(cookie(&h), Some("a=1; b=2; c=3"));
        assert_eq!(h.get_all(COOKIE).iter().count(), 1);
    }

    #[test]
    fn comma_separated_smuggling_is_dropped() {
        let mut h = headers(&["a=1, ZM_AUTH_TOKEN=evil; b=2"]);
        strip_client_tokens(&mut h, &"/".parse().unwrap());
        assert_eq!(cookie(&h), Some("b=2"));
        let mut h = headers(&["ZM_AUTH_TOKEN=evil"]);
        strip_client_tokens(&mut h, &"/".parse().unwrap());
        assert_eq!(cookie(&h), None);
    }

    #[test]
    fn strips_authorization() {
        let mut h = HeaderMap::new();
        h.append(AUTHORIZATION, HeaderValue::from_static("Basic YTpi"));
        h.append(AUTHORIZATION, HeaderValue::from_static("Bearer eyJ"));
        strip_client_tokens(&mut h, &"/".parse().unwrap());
        assert!(h.get(AUTHORIZATION).is_none());
    }

    #[test]
    fn strips_query_tokens() {
        let cases = [
            (
                "/home/u/inbox?fmt=tgz&zauthtoken=x",
                "/home/u/inbox?fmt=tgz",
            ),
            ("/h?ZAUTHTOKEN=x&authToken=y&a=1", "/h?a=1"),
            ("/h?%7Aauthtoken=x&b=2", "/h?b=2"),
            ("/h?zauth%74oken=x", "/h"),
            ("/h?authtoken", "/h"),
            ("/h?authtoken+=x&c=%20", "/h?c=%20"),
            ("/h?zjwttoken=x", "/h"),
            ("/h?notauthtoken=1", "/h?notauthtoken=1"),
            ("/h", "/h"),
        ];
        for (input, want) in cases {
            let mut h = HeaderMap::new();
            let out = strip_client_tokens(&mut h, &input.parse().unwrap());
            assert_eq!(out.to_string(), want, "{input}");
        }
        let abs: Uri = "http://store:8080/h?zauthtoken=x&k=v".parse().unwrap();
        assert_eq!(
            strip_client_tokens(&mut HeaderMap::new(), &abs).to_string(),
            "http://store:8080/h?k=v"
        );
    }

    #[test]
    fn injects_token() {
        let mut h = headers(&["ZM_AUTH_TOKEN=evil; a=1"]);
        strip_client_tokens(&mut h, &"/".parse().unwrap());
        inject_upstream_token(&mut h, &UpstreamToken::new("0_abc_def")).unwrap();
        assert_eq!(cookie(&h), Some("a=1; ZM_AUTH_TOKEN=0_abc_def"));
        assert!(h.get(COOKIE).unwrap().is_sensitive());
        let mut h = HeaderMap::new();
        inject_upstream_token(&mut h, &UpstreamToken::new("t")).unwrap();
        assert_eq!(cookie(&h), Some("ZM_AUTH_TOKEN=t"));
        assert!(inject_upstream_token(&mut h, &UpstreamToken::new("a\nb")).is_err());
    }

    #[test]
    fn filters_upstream_set_cookie() {
        let mut h = HeaderMap::new();
        h.append(
            SET_COOKIE,
            HeaderValue::from_static("ZM_AUTH_TOKEN=t; Path=/; HttpOnly"),
        );
        h.append(
            SET_COOKIE,
            HeaderValue::from_static("zm_admin_auth_token=t"),
        );
        h.append(SET_COOKIE, HeaderValue::from_static("JSESSIONID=j; Path=/"));
        h.append(SET_COOKIE, HeaderValue::from_static("ZM_TEST=true"));
        assert_eq!(filter_upstream_set_cookies(&mut h), 2);
        let left: Vec<_> = h
            .get_all(SET_COOKIE)
            .iter()
            .map(|v| v.to_str().unwrap())
            .collect();
        assert_eq!(left, vec!["JSESSIONID=j; Path=/", "ZM_TEST=true"]);
    }

    #[test]
    fn soap_context_token_detected() {
        let env = |ctx: Option<Element>| Envelope {
            format: Format::Json,
            context: ctx,
            body: Element::new("urn:zimbraAccount", "GetInfoRequest"),
        };
        assert!(!soap_has_client_token(&env(None)));
        assert!(!soap_has_client_token(&env(Some(Element::new(
            NS_ZIMBRA, "context"
        )))));
        let attr = Element::new(NS_ZIMBRA, "context").with_attr("authToken", "x");
        assert!(soap_has_client_token(&env(Some(attr))));
        let child = Element::new(NS_ZIMBRA, "context")
            .with_child(Element::new(NS_ZIMBRA, "authToken").with_text("x"));
        assert!(soap_has_client_token(&env(Some(child))));
        let jwt =
            Element::new(NS_ZIMBRA, "context").with_kv("a", "n", [("jwtToken".into(), "j".into())]);
        assert!(soap_has_client_token(&env(Some(jwt))));
    }
}
