//! Test helpers shared by the auth and portal tests.

use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Fake store: password "good" logs in, anything else is AUTH_FAILED.
pub async fn fake_store() -> String {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((mut s, _)) = l.accept().await else {
                return;
            };
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
                    let body = if text.contains(r#""password":{"_content":"good"}"#) {
                        r#"{"Body":{"AuthResponse":{"authToken":[{"_content":"0_upstream"}],"lifetime":172800000}}}"#
                    } else {
                        r#"{"Body":{"Fault":{"Reason":{"Text":"authentication failed"},"Detail":{"Error":{"Code":"account.AUTH_FAILED"}}}}}"#
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
