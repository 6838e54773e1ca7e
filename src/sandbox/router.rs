//! Maps each HTTP request to its surface and handler, counting what reaches the store.

use std::convert::Infallible;
use std::sync::Arc;

use http::{Method, Request, Response, StatusCode};

use crate::soap::{Fault, Format, SoapError, DEFAULT_MAX_SOAP_BYTES};

use super::http_util::{query_pairs, read_body, respond, text, Body};
use super::state::SandboxState;
use super::{dispatch, preauth_url, rest, upload, webmail};

/// The surface a path belongs to (the keys of `/sandbox/stats`); `None` for the
/// sandbox's own control endpoints, which are not counted.
pub fn surface(path: &str) -> Option<&'static str> {
    let s = if path.starts_with("/service/admin/soap") {
        "admin"
    } else if path.starts_with("/service/soap") {
        "soap"
    } else if path.starts_with("/service/upload") {
        "upload"
    } else if path.starts_with("/service/preauth") {
        "preauth"
    } else if path.starts_with("/home/") || path == "/home" || path.starts_with("/service/home/") {
        "rest"
    } else if path.starts_with("/service/content/") {
        "content"
    } else if path == "/sandbox/big" || path == "/sandbox/slow" {
        "test"
    } else if path.starts_with("/sandbox/") {
        return None;
    } else if path == "/" || path.starts_with("/js/") {
        "webmail"
    } else {
        "other"
    };
    Some(s)
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
    let path = parts.uri.path().to_string();
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

    #[test]
    fn surfaces() {
        assert_eq!(surface("/service/soap/SendMsgRequest"), Some("soap"));
        assert_eq!(surface("/service/admin/soap"), Some("admin"));
        assert_eq!(surface("/service/home/~/Inbox"), Some("rest"));
        assert_eq!(surface("/home/a@b/Inbox"), Some("rest"));
        assert_eq!(surface("/sandbox/stats"), None);
        assert_eq!(surface("/sandbox/big"), Some("test"));
        assert_eq!(surface("/"), Some("webmail"));
    }
}
