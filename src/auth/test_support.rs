//! Test helpers shared by the auth and portal tests.

use parking_lot::Mutex;
use std::sync::Arc;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// The default domain of [`fake_store`] (its `zimbraDefaultDomainName`).
pub const FAKE_DOMAIN: &str = "ms.example";

/// The account a name designates in [`fake_store`]: the default domain for a bare
/// name, lower case (as Zimbra's LDAP compares).
fn account_of(name: &str) -> String {
    let n = name.trim().to_lowercase();
    if n.contains('@') {
        n
    } else {
        format!("{n}@{FAKE_DOMAIN}")
    }
}

/// The `_content` of `"key":{"_content":"…"}` in a JSON request body.
fn content_of(text: &str, key: &str) -> Option<String> {
    let v: serde_json::Value = serde_json::from_str(text).ok()?;
    fn find(v: &serde_json::Value, key: &str) -> Option<String> {
        match v {
            serde_json::Value::Object(o) => o
                .get(key)
                .and_then(|x| x.get("_content").or(Some(x)))
                .and_then(|x| x.as_str().map(String::from))
                .or_else(|| o.values().find_map(|x| find(x, key))),
            _ => None,
        }
    }
    find(&v, key)
}

/// Fake store: password "good" logs in (token `0_upstream`), anything else is
/// AUTH_FAILED; `GetInfoRequest` names the account that logged in last.
pub async fn fake_store() -> String {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    let last: Arc<Mutex<String>> = Arc::default();
    tokio::spawn(async move {
        loop {
            let Ok((mut s, _)) = l.accept().await else {
                return;
            };
            let last = last.clone();
            tokio::spawn(async move {
                let mut got = Vec::new();
                let mut buf = [0u8; 8192];
                loop {
                    let Ok(n) = s.read(&mut buf).await else {
                        return;
                    };
                    if n == 0 {
                        return;
                    }
                    got.extend_from_slice(&buf[..n]);
                    let text = String::from_utf8_lossy(&got).to_string();
                    let Some(i) = text.find("\r\n\r\n") else {
                        continue;
                    };
                    let len: usize = text
                        .lines()
                        .find_map(|l| {
                            l.to_ascii_lowercase()
                                .strip_prefix("content-length:")
                                .map(|v| v.trim().parse().unwrap())
                        })
                        .unwrap_or(0);
                    if got.len() < i + 4 + len {
                        continue;
                    }
                    let body_text = &text[i + 4..];
                    let body = if body_text.contains("\"GetInfoRequest\"") {
                        let name = last.lock().clone();
                        format!(
                            r#"{{"Body":{{"GetInfoResponse":{{"id":"id-{name}","name":"{name}"}}}}}}"#
                        )
                    } else if text.contains(r#""password":{"_content":"good"}"#) {
                        if let Some(n) = content_of(body_text, "account") {
                            *last.lock() = account_of(&n);
                        }
                        r#"{"Body":{"AuthResponse":{"authToken":[{"_content":"0_upstream"}],"lifetime":172800000}}}"#.to_string()
                    } else {
                        r#"{"Body":{"Fault":{"Reason":{"Text":"authentication failed"},"Detail":{"Error":{"Code":"account.AUTH_FAILED"}}}}}"#.to_string()
                    };
                    let resp = format!(
                        "HTTP/1.1 200 OK\r\ncontent-length: {}\r\n\r\n{body}",
                        body.len()
                    );
                    if s.write_all(resp.as_bytes()).await.is_err() {
                        return;
                    }
                    got.clear();
                }
            });
        }
    });
    format!("http://{addr}")
}
