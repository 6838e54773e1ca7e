//! `/service/upload` (zimbra-api.md §4.3): cookie auth, multipart or raw bodies, the
//! size limit, and the exact answer shapes. The status is in the body; HTTP is 200.

use http::{HeaderMap, Response, StatusCode};

use super::call::token_account;
use super::http_util::{cookie, query_get, read_body, respond, Body};
use super::mime;
use super::state::{SandboxState, Upload};

/// An uploaded item as reported by `fmt=extended`.
struct Item {
    aid: String,
    ct: String,
    filename: String,
    size: usize,
}

/// The servlet's answer for `fmt` (default html, `raw`, `extended`, `raw,extended`).
fn answer(fmt: &str, status: u16, client: Option<&str>, items: &[Item]) -> Response<Body> {
    let client = match client {
        Some(c) => format!("'{c}'"),
        None => "'null'".to_string(),
    };
    let extended = fmt.split(',').any(|f| f == "extended");
    let raw = fmt.split(',').any(|f| f == "raw");
    let mut status_line = format!("{status},{client}");
    if !items.is_empty() {
        if extended {
            let list: Vec<serde_json::Value> = items
                .iter()
                .map(|i| serde_json::json!({"aid": i.aid, "ct": i.ct, "filename": i.filename, "s": i.size}))
                .collect();
            status_line.push(',');
            status_line.push_str(&serde_json::Value::Array(list).to_string());
        } else {
            let aids = items
                .iter()
                .map(|i| i.aid.as_str())
                .collect::<Vec<_>>()
                .join(",");
            status_line.push_str(&format!(",'{aids}'"));
        }
    }
    let body = if raw || extended {
        format!("{status_line}\n")
    } else {
        format!(
            "<html><head><script language='javascript'>\nfunction doit() {{ window.parent._uploadManager.loaded({status_line}); }}\n</script></head><body onload='doit()'></body></html>"
        )
    };
    respond(StatusCode::OK, "text/html; charset=utf-8", body)
}

pub async fn handle<B>(
    state: &SandboxState,
    headers: &HeaderMap,
    query: &[(String, String)],
    body: B,
) -> Response<Body>
where
    B: http_body::Body + Unpin,
    B::Data: bytes::Buf,
{
    let fmt = query_get(query, "fmt").unwrap_or("").to_string();
    let admin = query_get(query, "admin") == Some("1");
    let cookie_name = if admin {
        "ZM_ADMIN_AUTH_TOKEN"
    } else {
        "ZM_AUTH_TOKEN"
    };
    let Some(account) = cookie(headers, cookie_name).and_then(|t| token_account(state, &t)) else {
        return answer(&fmt, 401, None, &[]);
    };
    let limit = if query_get(query, "lbfums").is_some() {
        state.settings.file_upload_max_size
    } else {
        state.settings.mta_max_message_size
    } as usize;
    let data = match read_body(body, limit).await {
        Ok(Ok(d)) => d,
        Ok(Err(_)) => return answer(&fmt, 413, None, &[]),
        Err(_) => return answer(&fmt, 500, None, &[]),
    };
    let ct = headers
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let mut files: Vec<(String, String, Vec<u8>)> = Vec::new();
    let mut client: Option<String> = None;
    if ct.to_ascii_lowercase().starts_with("multipart/") {
        let Some(parts) =
            mime::param(&ct, "boundary").and_then(|b| super::multipart::parse(&data, &b))
        else {
            return answer(&fmt, 400, None, &[]);
        };
        for p in parts {
            match p.filename {
                Some(f) => files.push((f, p.content_type, p.data)),
                None if p.name == "requestId" => {
                    let id = String::from_utf8_lossy(&p.data).to_string();
                    // Only [a-zA-Z0-9_.-] is echoed back.
                    if id
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c))
                    {
                        client = Some(id);
                    }
                }
                None => {}
            }
        }
    } else {
        let disp = headers
            .get(http::header::CONTENT_DISPOSITION)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        let Some(name) = mime::param(disp, "filename").or_else(|| mime::param(&ct, "name")) else {
            return answer(&fmt, 204, None, &[]);
        };
        let ct = ct
            .split(';')
            .next()
            .unwrap_or("application/octet-stream")
            .trim()
            .to_string();
        files.push((name, ct, data));
    }
    if files.is_empty() {
        return answer(&fmt, 204, client.as_deref(), &[]);
    }
    let mut items = Vec::new();
    let mut store = state.store.lock();
    for (filename, ct, data) in files {
        let aid = format!("{}:{}", state.server_id, uuid::Uuid::new_v4());
        items.push(Item {
            aid: aid.clone(),
            ct: ct.clone(),
            filename: filename.clone(),
            size: data.len(),
        });
        store.uploads.insert(
            aid,
            Upload {
                owner: account.id.clone(),
                filename,
                content_type: ct,
                data,
            },
        );
    }
    drop(store);
    answer(&fmt, 200, client.as_deref(), &items)
}
