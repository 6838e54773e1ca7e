//! The stand-in webmail page (`/`), a static file (`/js/app.js`), and the test-only
//! `/sandbox/*` endpoints (big and slow responses, outbox, stats).

use std::time::Duration;

use bytes::Bytes;
use futures_util::stream;
use http::{HeaderMap, Response, StatusCode};
use http_body_util::{BodyExt, StreamBody};

use super::call::token_account;
use super::http_util::{add_header, cookie, json, query_get, respond, Body};
use super::state::SandboxState;

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

pub fn index(state: &SandboxState, headers: &HeaderMap) -> Response<Body> {
    let who = cookie(headers, "ZM_AUTH_TOKEN").and_then(|t| token_account(state, &t));
    let main = match who {
        Some(a) => {
            let unread = state.store.lock().mailboxes[&a.id]
                .messages
                .values()
                .filter(|m| m.folder == super::mailbox::INBOX && m.unread)
                .count();
            format!(
                "<p id=\"account\">Connecté en tant que <strong>{}</strong> ({})</p>\n<p>Boîte de réception : {unread} message(s) non lu(s).</p>",
                escape(&a.display_name()),
                escape(&a.name)
            )
        }
        None => "<p id=\"anonymous\">Vous n'êtes pas connecté.</p>".to_string(),
    };
    let page = format!(
        "<!DOCTYPE html>\n<html lang=\"fr\"><head><meta charset=\"utf-8\"><title>Messagerie (bac à sable)</title>\
<script src=\"/js/app.js\"></script></head>\n<body><h1>Webmail du bac à sable</h1>\n\
<p>Ceci est le webmail de démonstration du magasin Zimbra de test (sandbox), pas un vrai webmail.</p>\n{main}\n</body></html>\n"
    );
    respond(StatusCode::OK, "text/html; charset=utf-8", page)
}

pub const APP_JS: &str = "// Sandbox webmail script (static pass-through test file).\nwindow.sandboxWebmail = { version: \"1\" };\n";

pub fn app_js() -> Response<Body> {
    let mut r = respond(StatusCode::OK, "application/javascript", APP_JS);
    add_header(&mut r, "Cache-Control", "public, max-age=3600");
    r
}

/// `GET /sandbox/big?bytes=N`: N bytes (default 100 MB) streamed in 64 KiB chunks.
pub fn big(query: &[(String, String)]) -> Response<Body> {
    const CHUNK: usize = 64 * 1024;
    let total: u64 = query_get(query, "bytes")
        .and_then(|b| b.parse().ok())
        .unwrap_or(100 * 1024 * 1024);
    let chunk = Bytes::from(vec![b'x'; CHUNK]);
    let chunks = stream::unfold(total, move |left| {
        let chunk = chunk.clone();
        async move {
            if left == 0 {
                return None;
            }
            let n = left.min(CHUNK as u64) as usize;
            Some((
                Ok::<_, std::convert::Infallible>(http_body::Frame::data(chunk.slice(..n))),
                left - n as u64,
            ))
        }
    });
    let mut r = Response::new(StreamBody::new(chunks).boxed());
    add_header(&mut r, "Content-Type", "application/octet-stream");
    add_header(&mut r, "Content-Length", &total.to_string());
    r
}

/// `GET /sandbox/slow?ms=N`: answers after N ms.
pub async fn slow(query: &[(String, String)]) -> Response<Body> {
    let ms: u64 = query_get(query, "ms")
        .and_then(|b| b.parse().ok())
        .unwrap_or(1000);
    tokio::time::sleep(Duration::from_millis(ms)).await;
    respond(
        StatusCode::OK,
        "text/plain; charset=utf-8",
        format!("slow answer after {ms} ms\n"),
    )
}

pub fn outbox(state: &SandboxState) -> Response<Body> {
    json(&state.outbox())
}

pub fn stats(state: &SandboxState) -> Response<Body> {
    json(&state.stats.lock().clone())
}
