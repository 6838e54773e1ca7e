//! REST: `/home/{user}/{folder}?fmt=tgz|tar` (and `/service/home/…`, `~` = self) and
//! `/service/content/get?id=&part=` (zimbra-api.md §7.8). Auth by cookie `ZM_AUTH_TOKEN`,
//! query `zauthtoken`, or HTTP Basic.

use base64::Engine;
use http::{HeaderMap, Response, StatusCode};

use super::call::token_account;
use super::data::AccountData;
use super::http_util::{add_header, cookie, query_get, respond, servlet_error, Body};
use super::mailbox::{Mailbox, ROOT};
use super::mime;
use super::state::SandboxState;

/// The caller, from the cookie, `zauthtoken` or Basic credentials.
pub fn rest_account<'s>(
    state: &'s SandboxState,
    headers: &HeaderMap,
    query: &[(String, String)],
) -> Option<&'s AccountData> {
    if let Some(a) = cookie(headers, "ZM_AUTH_TOKEN").and_then(|t| token_account(state, &t)) {
        return Some(a);
    }
    if let Some(a) = query_get(query, "zauthtoken").and_then(|t| token_account(state, t)) {
        return Some(a);
    }
    let basic = headers
        .get(http::header::AUTHORIZATION)?
        .to_str()
        .ok()?
        .strip_prefix("Basic ")?;
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(basic.trim())
        .ok()?;
    let (user, pw) = std::str::from_utf8(&decoded)
        .ok()?
        .split_once(':')
        .map(|(u, p)| (u.to_string(), p.to_string()))?;
    let account = state.find_account("name", &user)?;
    state
        .store
        .lock()
        .passwords
        .get(&account.id)
        .is_some_and(|h| h.verify(&pw))
        .then_some(account)
}

fn unauthorized() -> Response<Body> {
    let mut r = servlet_error(
        StatusCode::UNAUTHORIZED,
        "service.AUTH_REQUIRED",
        "must authenticate",
    );
    add_header(&mut r, "WWW-Authenticate", "BASIC realm=\"Zimbra\"");
    r
}

fn safe_name(s: &str) -> String {
    let cleaned: String = s
        .chars()
        .map(|c| {
            if c.is_alphanumeric() || " -_.".contains(c) {
                c
            } else {
                '_'
            }
        })
        .take(60)
        .collect();
    if cleaned.trim().is_empty() {
        "message".into()
    } else {
        cleaned.trim().to_string()
    }
}

/// A tar (optionally gzipped) of the folder subtree's messages as `.eml` files.
fn archive(mb: &Mailbox, folder: u32, gzip: bool) -> std::io::Result<Vec<u8>> {
    let tree = mb.subtree(folder);
    let mut builder = tar::Builder::new(Vec::new());
    for m in mb.messages.values().filter(|m| tree.contains(&m.folder)) {
        let dir = mb.path(m.folder).trim_start_matches('/').to_string();
        let path = format!("{dir}/{:010}-{}.eml", m.id, safe_name(&m.subject));
        let mut header = tar::Header::new_gnu();
        header.set_size(m.raw.len() as u64);
        header.set_mode(0o644);
        header.set_mtime(m.date / 1000);
        header.set_cksum();
        builder.append_data(&mut header, path, m.raw.as_slice())?;
    }
    let tar = builder.into_inner()?;
    if !gzip {
        return Ok(tar);
    }
    use std::io::Write;
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(&tar)?;
    gz.finish()
}

/// `/home/…` and `/service/home/…`.
pub fn home(
    state: &SandboxState,
    path: &str,
    headers: &HeaderMap,
    query: &[(String, String)],
) -> Response<Body> {
    let Some(me) = rest_account(state, headers, query) else {
        return unauthorized();
    };
    let rest = path
        .strip_prefix("/service")
        .unwrap_or(path)
        .strip_prefix("/home")
        .unwrap_or("");
    let decoded = percent_encoding::percent_decode_str(rest.trim_start_matches('/'))
        .decode_utf8_lossy()
        .to_string();
    let (user, folder_path) = decoded.split_once('/').unwrap_or((decoded.as_str(), ""));
    let owner = if user.is_empty() || user == "~" {
        Some(me)
    } else {
        state.find_account("name", user)
    };
    let Some(owner) = owner else {
        return servlet_error(
            StatusCode::NOT_FOUND,
            "account.NO_SUCH_ACCOUNT",
            "no such account",
        );
    };
    let store = state.store.lock();
    let mb = &store.mailboxes[&owner.id];
    let Some(folder) = mb.folder_by_path(folder_path) else {
        return servlet_error(
            StatusCode::NOT_FOUND,
            "mail.NO_SUCH_FOLDER",
            "no such folder",
        );
    };
    if owner.id != me.id {
        let granted = mb.folders[&folder]
            .grants
            .iter()
            .any(|g| g.zid == me.id || g.gt == "all" || g.gt == "pub");
        if !granted {
            return servlet_error(
                StatusCode::FORBIDDEN,
                "service.PERM_DENIED",
                "permission denied",
            );
        }
    }
    if let Some(id) = query_get(query, "id") {
        return content(mb, id, query_get(query, "part"));
    }
    let fmt = query_get(query, "fmt").unwrap_or("");
    let (gzip, ct, ext) = match fmt {
        "tgz" => (true, "application/x-compressed", "tgz"),
        "tar" => (false, "application/x-tar", "tar"),
        _ => {
            return servlet_error(
                StatusCode::BAD_REQUEST,
                "service.INVALID_REQUEST",
                "unsupported format",
            )
        }
    };
    match archive(mb, folder, gzip) {
        Ok(bytes) => {
            let name = if folder == ROOT {
                owner.name.clone()
            } else {
                mb.folders[&folder].name.clone()
            };
            let mut r = respond(StatusCode::OK, ct, bytes);
            add_header(
                &mut r,
                "Content-Disposition",
                &format!("attachment; filename=\"{}.{ext}\"", safe_name(&name)),
            );
            r
        }
        Err(_) => servlet_error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "service.FAILURE",
            "archive failed",
        ),
    }
}

/// A message (`message/rfc822`) or one of its parts.
fn content(mb: &Mailbox, id: &str, part: Option<&str>) -> Response<Body> {
    let Some(msg) = id.parse::<u32>().ok().and_then(|i| mb.messages.get(&i)) else {
        return servlet_error(StatusCode::NOT_FOUND, "mail.NO_SUCH_MSG", "no such message");
    };
    let Some(part) = part else {
        return respond(StatusCode::OK, "message/rfc822", msg.raw.clone());
    };
    match mime::leaves(&msg.raw).into_iter().find(|l| l.part == part) {
        Some(leaf) => {
            let mut r = respond(StatusCode::OK, &leaf.content_type, leaf.body);
            if let Some(f) = leaf.filename {
                add_header(
                    &mut r,
                    "Content-Disposition",
                    &format!("attachment; filename=\"{}\"", safe_name(&f)),
                );
            }
            r
        }
        None => servlet_error(StatusCode::NOT_FOUND, "mail.NO_SUCH_PART", "no such part"),
    }
}

/// `/service/content/get?id=…[&part=…]`.
pub fn content_get(
    state: &SandboxState,
    headers: &HeaderMap,
    query: &[(String, String)],
) -> Response<Body> {
    let Some(me) = rest_account(state, headers, query) else {
        return unauthorized();
    };
    let Some(id) = query_get(query, "id") else {
        return servlet_error(
            StatusCode::BAD_REQUEST,
            "service.INVALID_REQUEST",
            "missing id",
        );
    };
    let store = state.store.lock();
    content(&store.mailboxes[&me.id], id, query_get(query, "part"))
}
