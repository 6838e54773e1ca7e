//! Maps each HTTP request to its surface and handler, counting what reaches the store.
//!
//! Paths are matched the way Zimbra's Jetty does, so that a test through the sandbox
//! says what a real store would do: the target is percent-decoded, `;params` are
//! dropped from each segment, dot segments resolved and `//` compacted (the webapps
//! use `compactPath`); ambiguous escapes (`%2f`, `%2e`, `%5c`, `%3b`) are refused
//! with 400 as Jetty 9.4 does. The root rewrites of `jetty.xml` come next
//! (`/home/*` → `/service/home/*`, `/dav/*`, `/Microsoft-Server-ActiveSync/*` …),
//! then the servlet mappings of the service webapp's `web.xml`, with the servlet
//! spec's rules: `/soap/*` matches `/soap` and `/soap/…` but not `/soapx`, and the
//! exact mapping `/upload` matches nothing else.

use std::convert::Infallible;
use std::sync::Arc;

use http::{Method, Request, Response, StatusCode};

use crate::soap::{Fault, Format, SoapError, DEFAULT_MAX_SOAP_BYTES};

use super::http_util::{query_pairs, read_body, respond, text, Body};
use super::state::SandboxState;
use super::{dispatch, preauth_url, rest, upload, webmail};

/// The path as Jetty sees it, or `None` when Jetty would refuse it (400).
pub fn canonical(raw: &str) -> Option<String> {
    if !raw.starts_with('/') {
        return None;
    }
    let mut segments: Vec<String> = Vec::new();
    for seg in raw.split('/').skip(1) {
        // Path parameters are not part of the servlet path.
        let seg = seg.split(';').next().unwrap_or("");
        let decoded = decode(seg)?;
        match decoded.as_str() {
            "" | "." => {}
            ".." => {
                segments.pop()?;
            }
            _ => segments.push(decoded),
        }
    }
    let mut path = format!("/{}", segments.join("/"));
    if raw.ends_with('/') && !segments.is_empty() {
        path.push('/');
    }
    Some(path)
}

fn decode(seg: &str) -> Option<String> {
    let bytes = seg.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
            let v = u8::from_str_radix(hex, 16).ok()?;
            if matches!(v, b'/' | b'.' | b'\\' | b';') || v < 0x20 {
                return None;
            }
            out.push(v);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// `path` matches the servlet-spec pattern `prefix/*` (which includes `prefix` itself).
fn under(path: &str, prefix: &str) -> bool {
    path.strip_prefix(prefix)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
}

/// The root rewrites of Zimbra's `jetty.xml` (`RewritePatternRule`s keep the rest
/// of the path after the replacement; the EWS rule is a case-insensitive regex on the
/// whole path).
pub fn rewrite(path: &str) -> String {
    const RULES: &[(&str, &str)] = &[
        (
            "/Microsoft-Server-ActiveSync",
            "/service/extension/zimbrasync",
        ),
        ("/principals", "/service/dav/principals"),
        ("/dav", "/service/dav/home"),
        ("/.well-known", "/service/.well-known"),
        ("/home", "/service/home"),
        ("/user", "/service/user"),
        ("/shf", "/service/shf"),
        ("/certauth", "/service/certauth"),
        ("/spnegoauth", "/service/spnego"),
        ("/autodiscover", "/service/autodiscover"),
        ("/Autodiscover", "/service/autodiscover"),
        ("/AutoDiscover", "/service/autodiscover"),
    ];
    let ews = path.trim_end_matches('/').as_bytes();
    if ews.len() == "/ews/Exchange.asmx".len()
        && ews[..5].eq_ignore_ascii_case(b"/ews/")
        && ews[5..13].eq_ignore_ascii_case(b"exchange")
        && ews[14..].eq_ignore_ascii_case(b"asmx")
    {
        return "/service/extension/zimbraews".into();
    }
    for (pattern, replacement) in RULES {
        if under(path, pattern) {
            return format!("{replacement}{}", &path[pattern.len()..]);
        }
    }
    path.to_owned()
}

/// The surface a (canonical, rewritten) path belongs to (the keys of
/// `/sandbox/stats`); `None` for the sandbox's own control endpoints, which are not
/// counted.
pub fn surface(path: &str) -> Option<&'static str> {
    let s = if let Some(service) = path.strip_prefix("/service").filter(|r| r.starts_with('/')) {
        service_servlet(service)
    } else if path == "/sandbox/big" || path == "/sandbox/slow" {
        "test"
    } else if under(path, "/sandbox") {
        return None;
    } else if under(path, "/h") || under(path, "/m") {
        // The HTML clients (`/h/`, `/m/`): not implemented here (404), but counted.
        "html"
    } else {
        "webmail"
    };
    Some(s)
}

/// The servlet of the service webapp's `web.xml` a path under `/service` reaches.
fn service_servlet(p: &str) -> &'static str {
    if under(p, "/soap") {
        "soap"
    } else if under(p, "/admin/soap") {
        "admin"
    } else if p == "/upload" {
        "upload"
    } else if under(p, "/preauth") {
        "preauth"
    } else if under(p, "/home") || under(p, "/user") {
        "rest"
    } else if under(p, "/content") {
        "content"
    } else if under(p, "/dav") || under(p, "/.well-known") {
        "dav"
    } else if under(p, "/extension") || under(p, "/admin/extension") {
        "extension"
    } else {
        "other"
    }
}

fn method_not_allowed() -> Response<Body> {
    text(StatusCode::METHOD_NOT_ALLOWED, "method not allowed\n")
}

pub async fn route<B>(
    state: Arc<SandboxState>,
    req: Request<B>,
) -> Result<Response<Body>, Infallible>
where
    B: http_body::Body + Unpin,
    B::Data: bytes::Buf,
{
    let (parts, body) = req.into_parts();
    let Some(path) = canonical(parts.uri.path()).map(|p| rewrite(&p)) else {
        return Ok(text(StatusCode::BAD_REQUEST, "ambiguous URI\n"));
    };
    let query = query_pairs(parts.uri.query());
    let Some(surface) = surface(&path) else {
        return Ok(control(&state, &parts.method, &path));
    };
    state.count(surface);
    let headers = &parts.headers;
    let resp = match surface {
        "soap" | "admin" => {
            if parts.method != Method::POST {
                return Ok(method_not_allowed());
            }
            match read_body(body, DEFAULT_MAX_SOAP_BYTES).await {
                Ok(Ok(bytes)) => {
                    dispatch::handle(&state, headers, &bytes, surface == "admin").await
                }
                Ok(Err(_)) => {
                    let f = Fault::from(&SoapError::TooLarge {
                        limit: DEFAULT_MAX_SOAP_BYTES,
                    });
                    let r = f.reply(Format::Soap12);
                    respond(StatusCode::INTERNAL_SERVER_ERROR, r.content_type, r.body)
                }
                Err(_) => text(StatusCode::BAD_REQUEST, "unreadable body\n"),
            }
        }
        "upload" if parts.method == Method::POST => {
            upload::handle(&state, headers, &query, body).await
        }
        "preauth" if parts.method == Method::GET => preauth_url::handle(&state, headers, &query),
        "rest" if parts.method == Method::GET => rest::home(&state, &path, headers, &query),
        "content" if path == "/service/content/get" => rest::content_get(&state, headers, &query),
        "test" if path == "/sandbox/big" => webmail::big(&query),
        "test" => webmail::slow(&query).await,
        "webmail" if path == "/" => webmail::index(&state, headers),
        "webmail" if path == "/js/app.js" => webmail::app_js(),
        "upload" | "preauth" | "rest" => method_not_allowed(),
        _ => text(StatusCode::NOT_FOUND, "not found\n"),
    };
    Ok(resp)
}

fn control(state: &SandboxState, method: &Method, path: &str) -> Response<Body> {
    match (method, path) {
        (&Method::GET, "/sandbox/outbox") => webmail::outbox(state),
        (&Method::GET, "/sandbox/stats") => webmail::stats(state),
        (&Method::POST, "/sandbox/reset-stats") => {
            state.reset_stats();
            text(StatusCode::OK, "ok\n")
        }
        _ => text(StatusCode::NOT_FOUND, "not found\n"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn servlet(raw: &str) -> Option<&'static str> {
        canonical(raw).and_then(|p| surface(&rewrite(&p)))
    }

    #[test]
    fn surfaces() {
        assert_eq!(servlet("/service/soap/SendMsgRequest"), Some("soap"));
        assert_eq!(servlet("/service/admin/soap"), Some("admin"));
        assert_eq!(servlet("/service/home/~/Inbox"), Some("rest"));
        assert_eq!(servlet("/home/a@b/Inbox"), Some("rest"));
        assert_eq!(servlet("/sandbox/stats"), None);
        assert_eq!(servlet("/sandbox/big"), Some("test"));
        assert_eq!(servlet("/"), Some("webmail"));
    }

    #[test]
    fn servlets_match_as_web_xml_maps_them() {
        for soap in [
            "/service/soap",
            "/service/soap/",
            "/service/soap/GetInfoRequest",
            "/service/soap;jsessionid=1",
            "/service//soap",
            "/service/./soap",
            "/service/x/../soap",
            "/%73ervice/soap",
        ] {
            assert_eq!(servlet(soap), Some("soap"), "{soap}");
        }
        for not_soap in [
            "/service/soapx",
            "/service/soap.json",
            "/service/soap%20",
            "/SERVICE/soap",
            "/service/Soap",
            "/zimbra/service/soap",
        ] {
            assert_ne!(servlet(not_soap), Some("soap"), "{not_soap}");
        }
        assert_eq!(servlet("/service/upload"), Some("upload"));
        assert_eq!(servlet("/service/upload/"), Some("other"));
        assert_eq!(servlet("/service/uploadx"), Some("other"));
        assert_eq!(servlet("/service/preauth"), Some("preauth"));
        assert_eq!(servlet("/service/preauth/x"), Some("preauth"));
        assert_eq!(servlet("/service/preauthx"), Some("other"));
    }

    #[test]
    fn jetty_rewrites() {
        assert_eq!(servlet("/Microsoft-Server-ActiveSync"), Some("extension"));
        assert_eq!(servlet("/Microsoft-Server-ActiveSync/x"), Some("extension"));
        assert_eq!(servlet("/EWS/exchange.ASMX"), Some("extension"));
        assert_eq!(servlet("/ews/Exchange.asmx//"), Some("extension"));
        assert_eq!(servlet("/dav/u@x/Calendar/a.ics"), Some("dav"));
        assert_eq!(servlet("/.well-known/caldav"), Some("dav"));
        assert_eq!(servlet("/principals/users/u"), Some("dav"));
        assert_eq!(servlet("/h/search"), Some("html"));
        assert_eq!(servlet("/m/"), Some("html"));
        assert_eq!(servlet("/hx"), Some("webmail"));
    }

    #[test]
    fn ambiguous_targets_are_refused() {
        for raw in [
            "/service%2fsoap",
            "/service/%2e%2e/x",
            "/a%5cb",
            "/a%3bb",
            "/../x",
            "x",
        ] {
            assert_eq!(canonical(raw), None, "{raw}");
        }
    }
}
