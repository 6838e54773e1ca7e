//! Small HTTP helpers: body type, canned responses, cookies, query strings.

use std::convert::Infallible;

use bytes::Bytes;
use http::{header, HeaderMap, Response, StatusCode};
use http_body_util::{combinators::BoxBody, BodyExt, Full};

pub type Body = BoxBody<Bytes, Infallible>;

pub fn full(data: impl Into<Bytes>) -> Body {
    Full::new(data.into()).boxed()
}

/// A response with a body and content type (builder errors cannot happen here).
pub fn respond(status: StatusCode, content_type: &str, body: impl Into<Bytes>) -> Response<Body> {
    let mut resp = Response::new(full(body));
    *resp.status_mut() = status;
    if let Ok(v) = header::HeaderValue::from_str(content_type) {
        resp.headers_mut().insert(header::CONTENT_TYPE, v);
    }
    resp
}

pub fn text(status: StatusCode, body: impl Into<String>) -> Response<Body> {
    respond(status, "text/plain; charset=utf-8", body.into())
}

pub fn json(value: &impl serde::Serialize) -> Response<Body> {
    let body = serde_json::to_vec_pretty(value).unwrap_or_default();
    respond(StatusCode::OK, "application/json", body)
}

/// Servlet-style error (`ZimbraServlet.returnError`): status plus fault headers.
pub fn servlet_error(status: StatusCode, code: &str, message: &str) -> Response<Body> {
    let mut resp = text(status, message.to_string());
    add_header(&mut resp, "X-Zimbra-Fault-Code", code);
    add_header(&mut resp, "X-Zimbra-Fault-Message", message);
    resp
}

pub fn add_header(resp: &mut Response<Body>, name: &str, value: &str) {
    if let (Ok(n), Ok(v)) = (
        header::HeaderName::from_bytes(name.as_bytes()),
        header::HeaderValue::from_str(value),
    ) {
        resp.headers_mut().append(n, v);
    }
}

/// Value of cookie `name` from every `Cookie` header.
pub fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.trim_matches('"').to_string())
}

/// `Set-Cookie` value for an auth token cookie (`ZM_AUTH_TOKEN` / `ZM_ADMIN_AUTH_TOKEN`).
pub fn auth_cookie(name: &str, token: &str, persist_until_ms: Option<u64>) -> String {
    let mut c = format!("{name}={token}; Path=/; HttpOnly");
    if let Some(exp) = persist_until_ms {
        let secs = exp.saturating_sub(super::state::now_ms()) / 1000;
        c.push_str(&format!("; Max-Age={secs}"));
    }
    c
}

pub fn clear_cookie(name: &str) -> String {
    format!("{name}=; Path=/; HttpOnly; Max-Age=0")
}

/// Decoded query parameters in order.
pub fn query_pairs(query: Option<&str>) -> Vec<(String, String)> {
    url::form_urlencoded::parse(query.unwrap_or("").as_bytes())
        .into_owned()
        .collect()
}

pub fn query_get<'a>(pairs: &'a [(String, String)], key: &str) -> Option<&'a str> {
    pairs
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
}

/// Reads a whole body, failing when it exceeds `limit` bytes (0 = no limit).
/// `Ok(Err(n))` reports that the limit was passed after `n` bytes.
pub async fn read_body<B>(mut body: B, limit: usize) -> Result<Result<Vec<u8>, usize>, B::Error>
where
    B: http_body::Body + Unpin,
    B::Data: bytes::Buf,
{
    use bytes::Buf;
    let mut out = Vec::new();
    while let Some(frame) = body.frame().await {
        let frame = frame?;
        if let Ok(mut data) = frame.into_data() {
            while data.has_remaining() {
                let chunk = data.chunk();
                out.extend_from_slice(chunk);
                let n = chunk.len();
                data.advance(n);
            }
            if limit > 0 && out.len() > limit {
                return Ok(Err(out.len()));
            }
        }
    }
    Ok(Ok(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookie_lookup() {
        let mut h = HeaderMap::new();
        h.append(
            header::COOKIE,
            "a=1; ZM_AUTH_TOKEN=0_ab_cd".parse().unwrap(),
        );
        assert_eq!(cookie(&h, "ZM_AUTH_TOKEN").as_deref(), Some("0_ab_cd"));
        assert_eq!(cookie(&h, "ZM_ADMIN_AUTH_TOKEN"), None);
    }

    #[test]
    fn query_decoding() {
        let q = query_pairs(Some("account=a%40b.fr&by=name&x="));
        assert_eq!(query_get(&q, "account"), Some("a@b.fr"));
        assert_eq!(query_get(&q, "x"), Some(""));
    }
}
