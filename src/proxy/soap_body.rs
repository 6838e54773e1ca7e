//! Reading a SOAP body: spend almost nothing before a session is known.
//!
//! "Without a session" means: no full session named by the portal cookie,
//! `ZM_AUTH_TOKEN` or `zauthtoken=` (what the router resolved before reading
//! anything). Such a body is read only up to `limits.preauth_soap_max_bytes` (64 KiB:
//! a login takes a few hundred bytes), within `limits.preauth_body_timeout_secs`,
//! from the pre-session share of the body memory budget, and with at most
//! `limits.preauth_requests_per_client` such reads at once per client address.
//!
//! A real SOAP client may carry its session only in the envelope header
//! (`<context><authToken>`), and may send more than a login (a message with its text
//! inline). Design: the header comes before the body in every client (XML must, JSON
//! clients write it first), so when the first 64 KiB do not end the body, the gateway
//! looks for a session token in the header part of those bytes; if it names a full
//! session, the rest is read under the normal cap and budget, else the request is
//! refused with `service.AUTH_REQUIRED` and the rest is never read. This only decides
//! how much to read: the token is checked again, as always, once the whole envelope
//! is parsed (`soap_auth`), so a header the scanner reads differently can only lead
//! to a refusal. A header-token client whose header comes after a large body is
//! refused (no known client does that).

use super::context::RequestContext;
use super::limits::{read_into, ReadError, Reservation};
use super::{full, session_gate, Body};
use crate::server::state::AppState;
use crate::soap::{Fault, Format, SoapError};
use bytes::{Bytes, BytesMut};
use http::{header, HeaderMap, HeaderValue, Response};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use std::time::Duration;

/// A whole SOAP body and the room it takes in the body budget (keep both until the
/// store has the request).
pub struct SoapBody {
    pub bytes: Bytes,
    pub reservation: Reservation,
}

/// Why a body is not read (whole).
#[derive(Debug)]
pub enum Refusal {
    /// Over `limit` (the first bytes read, to answer in the client's format).
    TooLarge {
        limit: usize,
        prefix: Bytes,
    },
    /// More than a login without a session, nor one named in the SOAP header.
    AuthRequired {
        prefix: Bytes,
    },
    /// This client has too many bodies being read, or the budget has no room.
    Busy,
    Timeout,
    Client,
}

impl Refusal {
    /// A Zimbra fault in the client's format (a plain status for a broken body).
    /// The rest of the body is not read: the connection is not reused.
    pub fn into_response(self) -> Response<Body> {
        let (fault, prefix, status) = match self {
            Refusal::TooLarge { limit, prefix } => {
                (Fault::from(&SoapError::TooLarge { limit }), prefix, 500)
            }
            Refusal::AuthRequired { prefix } => (Fault::auth_required(), prefix, 500),
            Refusal::Busy => (
                Fault::new(
                    "service.TEMPORARILY_UNAVAILABLE",
                    "service momentanément surchargé, réessayez dans quelques instants",
                )
                .receiver(),
                Bytes::new(),
                503,
            ),
            Refusal::Timeout => {
                return super::error::ProxyError::RequestTimeout.into_response();
            }
            Refusal::Client => {
                return super::error::ProxyError::BadRequest("body").into_response();
            }
        };
        let reply = fault.reply(Format::sniff(&prefix));
        let mut resp = Response::new(full(reply.body));
        *resp.status_mut() =
            http::StatusCode::from_u16(status).unwrap_or(http::StatusCode::INTERNAL_SERVER_ERROR);
        let h = resp.headers_mut();
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static(reply.content_type),
        );
        h.insert(header::CONNECTION, HeaderValue::from_static("close"));
        resp
    }
}

impl From<ReadError> for Refusal {
    fn from(e: ReadError) -> Self {
        match e {
            ReadError::Busy => Refusal::Busy,
            ReadError::Client => Refusal::Client,
        }
    }
}

/// Reads the SOAP body of a request under the limits above.
pub async fn read(
    mut incoming: Incoming,
    headers: &HeaderMap,
    ctx: &RequestContext,
    state: &AppState,
) -> Result<SoapBody, Refusal> {
    let limits = &state.config.limits;
    let max = limits.soap_max_bytes;
    let declared = content_length(headers);
    if declared.is_some_and(|len| len > max as u64) {
        // Only the first frame is read, to answer in the client's format.
        return Err(Refusal::TooLarge {
            limit: max,
            prefix: first_frame(incoming).await,
        });
    }
    let declared = declared.map(|l| l as usize);
    let budget = &state.body_limits;
    let session_timeout = Duration::from_secs(state.config.server.request_timeout_secs);
    if ctx.session.is_some() {
        let mut reservation = budget.reserve();
        let mut buf = BytesMut::new();
        let read = async {
            reservation.grow_to(declared.unwrap_or(0)).await?;
            read_into(&mut incoming, &mut buf, max, &mut reservation).await
        };
        return match tokio::time::timeout(session_timeout, read).await {
            Err(_) if reservation.was_waiting() => Err(Refusal::Busy),
            Err(_) => Err(Refusal::Timeout),
            Ok(Err(e)) => Err(e.into()),
            Ok(Ok(false)) => Err(Refusal::TooLarge {
                limit: max,
                prefix: head_of(&buf),
            }),
            Ok(Ok(true)) => Ok(SoapBody {
                bytes: buf.freeze(),
                reservation,
            }),
        };
    }

    let Some(slot) = budget.client_slot(ctx.client_ip) else {
        tracing::info!(client_ip = %ctx.client_ip, "pre-session body refused: too many at once");
        return Err(Refusal::Busy);
    };
    let cap = limits.preauth_soap_max_bytes.min(max);
    // A body declared within the cap cannot grow past it; otherwise the last frame
    // read may cross the cap (frames are at most hyper's read buffer).
    let room = match declared {
        Some(len) if len <= cap => len,
        _ => cap + crate::server::conn::MAX_HEAD_BYTES,
    };
    let Some(mut reservation) = budget.reserve_preauth(room) else {
        tracing::info!("pre-session body refused: body memory share exhausted");
        return Err(Refusal::Busy);
    };
    let mut buf = BytesMut::new();
    let preauth_timeout = Duration::from_secs(limits.preauth_body_timeout_secs);
    let first = read_into(&mut incoming, &mut buf, cap, &mut reservation);
    let ended = match tokio::time::timeout(preauth_timeout, first).await {
        Err(_) => return Err(Refusal::Timeout),
        Ok(r) => r?,
    };
    if ended {
        return Ok(SoapBody {
            bytes: buf.freeze(),
            reservation,
        });
    }
    if buf.len() > max {
        return Err(Refusal::TooLarge {
            limit: max,
            prefix: head_of(&buf),
        });
    }
    // More than a login: only a session named in the SOAP header may send the rest.
    let named = match header_token(&buf) {
        Some(token) => session_gate::lookup(&token, state.auth.sessions())
            .await
            .is_some(),
        None => false,
    };
    if !named {
        return Err(Refusal::AuthRequired {
            prefix: head_of(&buf),
        });
    }
    drop(slot);
    let mut reservation = reservation.into_session();
    let rest = async {
        reservation.grow_to(declared.unwrap_or(buf.len())).await?;
        read_into(&mut incoming, &mut buf, max, &mut reservation).await
    };
    match tokio::time::timeout(session_timeout, rest).await {
        Err(_) if reservation.was_waiting() => Err(Refusal::Busy),
        Err(_) => Err(Refusal::Timeout),
        Ok(Err(e)) => Err(e.into()),
        Ok(Ok(false)) => Err(Refusal::TooLarge {
            limit: max,
            prefix: head_of(&buf),
        }),
        Ok(Ok(true)) => Ok(SoapBody {
            bytes: buf.freeze(),
            reservation,
        }),
    }
}

/// The first bytes of a body, enough to tell its format.
fn head_of(buf: &[u8]) -> Bytes {
    Bytes::copy_from_slice(&buf[..buf.len().min(4096)])
}

/// The first data frame of a body (at most a short wait), for format sniffing.
async fn first_frame(mut body: Incoming) -> Bytes {
    let wait = tokio::time::timeout(Duration::from_secs(1), body.frame()).await;
    match wait {
        Ok(Some(Ok(frame))) => frame.into_data().unwrap_or_default(),
        _ => Bytes::new(),
    }
}

fn content_length(h: &HeaderMap) -> Option<u64> {
    h.get(header::CONTENT_LENGTH)?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()
}

/// The `authToken` of the SOAP header context, read from the first bytes of a body
/// that is not whole: XML up to `Body`, JSON up to the end of the top-level `Header`.
pub fn header_token(prefix: &[u8]) -> Option<String> {
    let token = if prefix.first() == Some(&b'<') {
        xml_header_token(prefix)
    } else {
        json_header_token(prefix)
    }?;
    let token = token.trim();
    (!token.is_empty()).then(|| token.to_owned())
}

fn xml_header_token(prefix: &[u8]) -> Option<String> {
    use quick_xml::events::Event;
    let text = match std::str::from_utf8(prefix) {
        Ok(t) => t,
        Err(e) => std::str::from_utf8(&prefix[..e.valid_up_to()]).ok()?,
    };
    let mut reader = quick_xml::Reader::from_str(text);
    reader.config_mut().expand_empty_elements = true;
    const CONTEXT: [&str; 3] = ["Envelope", "Header", "context"];
    let mut path: Vec<String> = Vec::new();
    let mut token: Option<String> = None;
    loop {
        match reader.read_event().ok()? {
            Event::Start(e) => {
                let name = e.local_name().as_ref().to_owned();
                if path.len() == 1 && name == "Body" {
                    return None;
                }
                path.push(name);
                if path.iter().map(String::as_str).eq(CONTEXT) {
                    if let Some(a) = e
                        .attributes()
                        .flatten()
                        .find(|a| a.key.local_name().as_ref() == "authToken")
                    {
                        return Some(a.value.into_owned());
                    }
                }
                if path.len() == 4
                    && path[..3].iter().map(String::as_str).eq(CONTEXT)
                    && path[3] == "authToken"
                {
                    token = Some(String::new());
                }
            }
            Event::Text(t) => {
                if let (Some(tok), 4) = (token.as_mut(), path.len()) {
                    tok.push_str(&t.xml10_content());
                }
            }
            Event::End(_) => {
                if path.len() == 4 && token.is_some() {
                    return token;
                }
                path.pop();
            }
            Event::Eof => return None,
            Event::GeneralRef(_) if token.is_some() => return None,
            _ => {}
        }
    }
}

fn json_header_token(prefix: &[u8]) -> Option<String> {
    let header = json_top_level_value(prefix, b"Header")?;
    let v: serde_json::Value = serde_json::from_slice(header).ok()?;
    let t = &v.get("context")?.get("authToken")?;
    let t = match t {
        serde_json::Value::Array(items) => items.first()?,
        other => other,
    };
    match t {
        serde_json::Value::String(s) => Some(s.clone()),
        serde_json::Value::Object(o) => o.get("_content")?.as_str().map(str::to_owned),
        _ => None,
    }
}

/// The bytes of the value of top-level key `key` in a JSON object, if the prefix
/// holds it whole.
fn json_top_level_value<'a>(b: &'a [u8], key: &[u8]) -> Option<&'a [u8]> {
    let ws = |i: &mut usize| {
        while b.get(*i).is_some_and(u8::is_ascii_whitespace) {
            *i += 1;
        }
    };
    let mut i = 0;
    ws(&mut i);
    (b.get(i) == Some(&b'{')).then_some(())?;
    i += 1;
    loop {
        ws(&mut i);
        (b.get(i) == Some(&b'"')).then_some(())?;
        let end = string_end(b, i)?;
        let name = &b[i + 1..end - 1];
        i = end;
        ws(&mut i);
        (b.get(i) == Some(&b':')).then_some(())?;
        i += 1;
        ws(&mut i);
        let start = i;
        i = value_end(b, i)?;
        if name == key {
            return Some(&b[start..i]);
        }
        ws(&mut i);
        (b.get(i) == Some(&b',')).then_some(())?;
        i += 1;
    }
}

/// Index just past the string starting at `b[i] == '"'`.
fn string_end(b: &[u8], i: usize) -> Option<usize> {
    let mut j = i + 1;
    while j < b.len() {
        match b[j] {
            b'\\' => j += 2,
            b'"' => return Some(j + 1),
            _ => j += 1,
        }
    }
    None
}

/// Index just past the value starting at `b[i]` (its closing `,` / `}` excluded).
fn value_end(b: &[u8], mut i: usize) -> Option<usize> {
    let mut depth = 0usize;
    while i < b.len() {
        match b[i] {
            b'"' => {
                i = string_end(b, i)?;
                if depth == 0 {
                    return Some(i);
                }
                continue;
            }
            b'{' | b'[' => depth += 1,
            b'}' | b']' if depth == 0 => return Some(i),
            b'}' | b']' => {
                depth -= 1;
                if depth == 0 {
                    return Some(i + 1);
                }
            }
            b',' if depth == 0 => return Some(i),
            _ => {}
        }
        i += 1;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    const BIG: usize = 100_000;

    #[test]
    fn xml_header_token_in_every_spelling_before_body() {
        let body = "x".repeat(BIG);
        for env in [
            format!(
                r#"<soap:Envelope xmlns:soap="http://www.w3.org/2003/05/soap-envelope"><soap:Header><context xmlns="urn:zimbra"><authToken> T1 </authToken></context></soap:Header><soap:Body><SendMsgRequest xmlns="urn:zimbraMail"><m><content>{body}"#
            ),
            format!(
                r#"<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Header><z:context xmlns:z="urn:zimbra"><z:userAgent name="x"/><z:authToken>T1</z:authToken></z:context></s:Header><s:Body>{body}"#
            ),
            format!(
                r#"<soap:Envelope xmlns:soap="x"><soap:Header><context xmlns="urn:zimbra" authToken="T1"/></soap:Header><soap:Body>{body}"#
            ),
        ] {
            let prefix = &env.as_bytes()[..64 * 1024];
            assert_eq!(
                header_token(prefix).as_deref(),
                Some("T1"),
                "{}",
                &env[..120]
            );
        }
        // A token inside Body, or a header after Body, is not a header token.
        let after = format!(
            r#"<soap:Envelope xmlns:soap="x"><soap:Body><x><authToken>T1</authToken>{body}"#
        );
        assert_eq!(header_token(after.as_bytes()), None);
        let truncated = r#"<soap:Envelope xmlns:soap="x"><soap:Header><context xmlns="urn:zimbra"><authToken>T"#;
        assert_eq!(header_token(truncated.as_bytes()), None);
    }

    #[test]
    fn json_header_token_only_from_a_complete_top_level_header() {
        let body = "y".repeat(BIG);
        for env in [
            format!(
                r#"{{"Header":{{"context":{{"_jsns":"urn:zimbra","authToken":"T2"}}}},"Body":{{"SendMsgRequest":{{"m":{{"content":"{body}"#
            ),
            format!(
                r#" {{ "Header" : {{"context":{{"authToken":[{{"_content":"T2"}}],"s":"a\"}}"}}}} , "Body":{{"x":"{body}"#
            ),
            format!(
                r#"{{"Header":{{"context":{{"authToken":{{"_content":"T2"}}}}}},"Body":{{"x":"{body}"#
            ),
        ] {
            let prefix = &env.as_bytes()[..64 * 1024];
            assert_eq!(
                header_token(prefix).as_deref(),
                Some("T2"),
                "{}",
                &env[..80]
            );
        }
        let body_first =
            format!(r#"{{"Body":{{"x":"{body}"}},"Header":{{"context":{{"authToken":"T2"}}}}}}"#);
        assert_eq!(header_token(&body_first.as_bytes()[..64 * 1024]), None);
        let nested =
            format!(r#"{{"Body":{{"Header":{{"context":{{"authToken":"T2"}}}}}},"x":"{body}"#);
        assert_eq!(header_token(nested.as_bytes()), None);
        assert_eq!(
            header_token(br#"{"Header":{"context":{"authToken":"T"#),
            None
        );
    }
}
