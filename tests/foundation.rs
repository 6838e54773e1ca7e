//! Foundation (P1-P5, S3): the real binary in front of the real sandbox store.
//! Run alone with `cargo test --test foundation`.

mod common;

use common::*;
use std::time::{Duration, Instant};

const USER: &str = "antoine.lefevre@esantepdl.mssante.fr";
const PASSWORD: &str = "Sandbox-2026!";
const HOST: &str = "mail.example.fr";

fn auth_json() -> String {
    format!(
        r#"{{"Header":{{"context":{{"_jsns":"urn:zimbra"}}}},"Body":{{"AuthRequest":{{"_jsns":"urn:zimbraAccount","account":{{"by":"name","_content":"{USER}"}},"password":{{"_content":"{PASSWORD}"}}}}}}}}"#
    )
}

fn auth_xml() -> String {
    format!(
        r#"<soap:Envelope xmlns:soap="http://www.w3.org/2003/05/soap-envelope"><soap:Header><context xmlns="urn:zimbra"/></soap:Header><soap:Body><AuthRequest xmlns="urn:zimbraAccount"><account by="name">{USER}</account><password>{PASSWORD}</password></AuthRequest></soap:Body></soap:Envelope>"#
    )
}

fn get_info_json(token: &str) -> String {
    format!(
        r#"{{"Header":{{"context":{{"_jsns":"urn:zimbra","authToken":{{"_content":"{token}"}}}}}},"Body":{{"GetInfoRequest":{{"_jsns":"urn:zimbraAccount"}}}}}}"#
    )
}

fn get_info_xml(token: &str) -> String {
    format!(
        r#"<soap:Envelope xmlns:soap="http://www.w3.org/2003/05/soap-envelope"><soap:Header><context xmlns="urn:zimbra"><authToken>{token}</authToken></context></soap:Header><soap:Body><GetInfoRequest xmlns="urn:zimbraAccount"/></soap:Body></soap:Envelope>"#
    )
}

/// Time-dependent numbers (`lifetime`) are masked so two answers compare.
fn mask_lifetime(s: &str) -> String {
    let mut out = String::new();
    let mut rest = s;
    while let Some(i) = rest.find("lifetime") {
        let (head, tail) = rest.split_at(i + "lifetime".len());
        out.push_str(head);
        let skip = tail.find(|c: char| c.is_ascii_digit()).filter(|p| *p <= 3);
        match skip {
            Some(p) => {
                out.push_str(&tail[..p]);
                let t = &tail[p..];
                let end = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
                out.push('N');
                rest = &t[end..];
            }
            None => rest = tail,
        }
    }
    out.push_str(rest);
    out
}

async fn post(url: &str, body: String) -> (u16, String) {
    let r = client()
        .post(url)
        .header("Host", HOST)
        .header("Content-Type", "application/soap+xml; charset=utf-8")
        .body(body)
        .send()
        .await
        .expect("post");
    (r.status().as_u16(), r.text().await.expect("text"))
}

async fn get(url: &str) -> (u16, Vec<u8>) {
    let r = client()
        .get(url)
        .header("Host", HOST)
        .send()
        .await
        .expect("get");
    (
        r.status().as_u16(),
        r.bytes().await.expect("bytes").to_vec(),
    )
}

/// A GET carrying `token` as the Zimbra cookie (a gateway token through the gateway,
/// the store's own token directly).
async fn get_with(url: &str, token: &str) -> (u16, Vec<u8>) {
    let r = client()
        .get(url)
        .header("Host", HOST)
        .header("Cookie", format!("ZM_AUTH_TOKEN={token}"))
        .send()
        .await
        .expect("get");
    (
        r.status().as_u16(),
        r.bytes().await.expect("bytes").to_vec(),
    )
}

/// The store's own token for [`USER`], from a direct `AuthRequest` (never through the gateway).
async fn direct_token(sb: &SandboxProcess) -> String {
    store_token(&sb.url(""), USER, PASSWORD).await
}

/// A fake store beside the real one: requests under `/service/` (the gateway's own
/// logins at the store) go to the sandbox at `store`; any other request has its raw
/// head recorded and gets `response`. One request per connection.
fn capture_upstream_beside(
    store: std::net::SocketAddr,
    response: &'static str,
) -> (std::net::SocketAddr, std::sync::mpsc::Receiver<String>) {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut s) = stream else { continue };
            let tx = tx.clone();
            std::thread::spawn(move || {
                let mut head = Vec::new();
                let mut byte = [0u8; 1];
                while !head.ends_with(b"\r\n\r\n") {
                    match s.read(&mut byte) {
                        Ok(1) => head.push(byte[0]),
                        _ => return,
                    }
                }
                let head = String::from_utf8_lossy(&head).into_owned();
                let path = head.split_whitespace().nth(1).unwrap_or("");
                if !path.starts_with("/service/") {
                    let _ = s.write_all(response.as_bytes());
                    let _ = tx.send(head);
                    return;
                }
                let lines: Vec<&str> = head.trim_end().split("\r\n").collect();
                let header = |name: &str| {
                    lines.iter().find_map(|l| {
                        let (k, v) = l.split_once(':')?;
                        k.trim()
                            .eq_ignore_ascii_case(name)
                            .then(|| v.trim().to_owned())
                    })
                };
                assert!(
                    header("transfer-encoding").is_none(),
                    "chunked request to the store: {head}"
                );
                let len: usize = header("content-length")
                    .map(|v| v.parse().expect("content-length"))
                    .unwrap_or(0);
                let mut body = vec![0u8; len];
                if s.read_exact(&mut body).is_err() {
                    return;
                }
                let mut out: Vec<&str> = lines
                    .into_iter()
                    .filter(|l| !l.to_ascii_lowercase().starts_with("connection:"))
                    .collect();
                out.push("Connection: close");
                let mut up = std::net::TcpStream::connect(store).expect("store");
                up.write_all(format!("{}\r\n\r\n", out.join("\r\n")).as_bytes())
                    .unwrap();
                up.write_all(&body).unwrap();
                let mut answer = Vec::new();
                let _ = up.read_to_end(&mut answer);
                let _ = s.write_all(&answer);
            });
        }
    });
    (addr, rx)
}

#[tokio::test]
async fn web_pages_and_static_files_pass_through_identical() {
    let sb = start_sandbox();
    let gw = start_gateway(&sb.url(""), "");
    // Direct with the store's own token, through the gateway with its session.
    let token = gateway_token(&gw, USER).await;
    let own = direct_token(&sb).await;
    for path in ["/", "/js/app.js"] {
        let direct = get_with(&sb.url(path), &own).await;
        let through = get_with(&gw.url(path), &token).await;
        assert_eq!(direct.0, 200, "{path}");
        assert_eq!(direct, through, "{path}");
    }
    let page = String::from_utf8_lossy(&get_with(&gw.url("/"), &token).await.1).into_owned();
    assert!(
        page.contains(USER),
        "the store did not see the session's user: {page}"
    );
}

#[tokio::test]
async fn soap_json_and_xml_identical_to_direct() {
    let sb = start_sandbox();
    let gw = start_gateway(&sb.url(""), "");
    // The gateway answers AuthRequest itself now (two-factor protocol), so the
    // pass-through comparison is GetInfo: directly with the store's own token,
    // through the gateway with the gateway token.
    let token = gateway_token(&gw, USER).await;
    let own = direct_token(&sb).await;
    // JSON
    let direct = post(&sb.url("/service/soap"), get_info_json(&own)).await;
    let through = post(
        &gw.url("/service/soap/GetInfoRequest"),
        get_info_json(&token),
    )
    .await;
    assert_eq!(direct.0, 200, "{}", direct.1);
    assert!(direct.1.contains("GetInfoResponse"));
    assert_eq!(mask_lifetime(&direct.1), mask_lifetime(&through.1));
    // XML
    let direct = post(&sb.url("/service/soap"), get_info_xml(&own)).await;
    let through = post(&gw.url("/service/soap"), get_info_xml(&token)).await;
    assert_eq!(direct.0, 200, "{}", direct.1);
    assert!(direct.1.contains("GetInfoResponse"), "{}", direct.1);
    assert_eq!(mask_lifetime(&direct.1), mask_lifetime(&through.1));
    // A password AuthRequest through the gateway, in either format, is answered by the
    // gateway with the second-factor step, in the client's format: never a store token.
    let (status, auth) = post(&gw.url("/service/soap"), auth_xml()).await;
    assert_eq!(status, 200, "{auth}");
    assert!(
        auth.contains("<soap:Envelope") && auth.contains("AuthResponse"),
        "{auth}"
    );
    assert!(auth.contains("twoFactorAuthRequired"), "{auth}");
    let (status, auth) = post(&gw.url("/service/soap/AuthRequest"), auth_json()).await;
    assert_eq!(status, 200, "{auth}");
    let v: serde_json::Value = serde_json::from_str(&auth).expect("json answer");
    let r = &v["Body"]["AuthResponse"];
    assert_eq!(
        json_text(&r["twoFactorAuthRequired"]).as_deref(),
        Some("true"),
        "{auth}"
    );
}

#[tokio::test]
async fn rest_export_identical_to_direct() {
    let sb = start_sandbox();
    let gw = start_gateway(&sb.url(""), "");
    let token = gateway_token(&gw, USER).await;
    let own = direct_token(&sb).await;
    let direct = get_with(&sb.url("/home/~/?fmt=tgz"), &own).await;
    let through = get_with(&gw.url("/home/~/?fmt=tgz"), &token).await;
    assert_eq!(direct.0, 200);
    assert!(!direct.1.is_empty());
    assert_eq!(direct, through);
    // The gateway token also works the Zimbra REST way, as `zauthtoken=`.
    let by_query = get(&gw.url(&format!("/home/~/?fmt=tgz&zauthtoken={token}"))).await;
    assert_eq!(direct, by_query);
}

#[tokio::test]
async fn hundred_megabytes_stream_with_low_memory() {
    let sb = start_sandbox();
    let gw = start_gateway(&sb.url(""), "");
    let token = gateway_token(&gw, USER).await;
    let before = gw.proc.rss_kb();
    let mut resp = client()
        .get(gw.url("/sandbox/big?bytes=104857600"))
        .header("Cookie", format!("ZM_AUTH_TOKEN={token}"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let (mut total, mut peak) = (0u64, 0u64);
    while let Some(chunk) = resp.chunk().await.unwrap() {
        total += chunk.len() as u64;
        if total % (8 << 20) < chunk.len() as u64 {
            peak = peak.max(gw.proc.rss_kb());
        }
    }
    peak = peak.max(gw.proc.rss_kb());
    assert_eq!(total, 104_857_600);
    let growth_mb = peak.saturating_sub(before) / 1024;
    eprintln!("gateway RSS before {before} kB, peak {peak} kB, growth {growth_mb} MB");
    assert!(growth_mb < 64, "RSS grew by {growth_mb} MB");
}

#[tokio::test]
async fn long_poll_outlives_the_response_timeout_and_slow_gets_504() {
    let sb = start_sandbox();
    let gw = start_gateway(&sb.url(""), "[upstream]\nresponse_timeout_secs = 1\n");
    let token = gateway_token(&gw, USER).await;
    let noop = format!(
        r#"{{"Header":{{"context":{{"_jsns":"urn:zimbra","authToken":{{"_content":"{token}"}}}}}},"Body":{{"NoOpRequest":{{"_jsns":"urn:zimbraMail","wait":"1","timeout":"2500"}}}}}}"#
    );
    let started = Instant::now();
    let (status, body) = post(&gw.url("/service/soap/NoOpRequest"), noop).await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("NoOpResponse"), "{body}");
    assert!(
        started.elapsed() >= Duration::from_secs(2),
        "the wait was not held"
    );

    let (status, _) = get_with(&gw.url("/sandbox/slow?ms=2500"), &token).await;
    assert_eq!(status, 504);
    let (status, _) = get_with(&gw.url("/sandbox/slow?ms=100"), &token).await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn upstream_down_gives_502_with_clear_text() {
    // A session is needed to reach the store at all: log in while the store is up,
    // then stop it.
    let sb = start_sandbox();
    let gw = start_gateway(&sb.url(""), "");
    let token = gateway_token(&gw, USER).await;
    drop(sb);
    let r = client()
        .get(gw.url("/"))
        .header("Cookie", format!("ZM_AUTH_TOKEN={token}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 502);
    let text = r.text().await.unwrap();
    assert!(
        text.contains("indisponible") && text.contains("unavailable"),
        "{text}"
    );
    let r = client().get(gw.url("/readyz")).send().await.unwrap();
    assert_eq!(r.status(), 503);
    let v: serde_json::Value = r.json().await.unwrap();
    assert!(v["failed"]["upstream"].is_string(), "{v}");
    assert_eq!(
        client()
            .get(gw.url("/healthz"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
}

#[tokio::test]
async fn closed_paths_and_their_disguises_are_refused() {
    let sb = start_sandbox();
    let gw = start_gateway(&sb.url(""), "[paths]\nclosed = [\"/service/shf\"]\n");
    let before = sb.received().await;
    let forbidden = [
        "/service/preauth?account=x&preauth=y",
        "/service/preauth/",
        "/service/../service/preauth",
        "/service//preauth",
        "/service/./preauth",
        "/service;x=1/preauth",
        "/%73ervice/preauth",
        "/SERVICE/PREAUTH",
        "/service/admin/soap",
        "/service//admin/soap",
        "/service/admin/extension/x",
        "/service/extension/zimbraldap",
        "/zimbraAdmin/",
        "/service/shf/x",
    ];
    for path in forbidden {
        let raw = format!("GET {path} HTTP/1.1\r\nHost: {HOST}\r\nConnection: close\r\n\r\n");
        let resp = raw_http(gw.addr, raw.as_bytes());
        assert_eq!(raw_status(&resp), 403, "{path}: {resp}");
    }
    for path in [
        "/service%2fpreauth",
        "/service/%2e%2e/service/preauth",
        "/a%5c..",
        "/x%00",
    ] {
        let raw = format!("GET {path} HTTP/1.1\r\nHost: {HOST}\r\nConnection: close\r\n\r\n");
        assert_eq!(
            raw_status(&raw_http(gw.addr, raw.as_bytes())),
            400,
            "{path}"
        );
    }
    assert_eq!(
        sb.received().await,
        before,
        "a refused request reached the store"
    );
}

#[tokio::test]
async fn smuggling_and_crlf_in_target_get_400() {
    let sb = start_sandbox();
    let gw = start_gateway(&sb.url(""), "");
    let before = sb.received().await;
    let both = "POST /service/soap HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n";
    assert_eq!(raw_status(&raw_http(gw.addr, both.as_bytes())), 400);
    let te_first = "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n";
    assert_eq!(raw_status(&raw_http(gw.addr, te_first.as_bytes())), 400);
    // On a keep-alive connection, after an innocent request with a body.
    let second = "POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabcGET / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n";
    assert!(raw_http(gw.addr, second.as_bytes()).contains(" 400 "));
    let raw_crlf = "GET /a\rb HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n";
    assert_eq!(raw_status(&raw_http(gw.addr, raw_crlf.as_bytes())), 400);
    for target in [
        "/a%0d%0aSet-Cookie:%20x=1",
        "/?redirectURL=%0d%0aLocation:%20http://evil",
    ] {
        let raw = format!("GET {target} HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n");
        assert_eq!(
            raw_status(&raw_http(gw.addr, raw.as_bytes())),
            400,
            "{target}"
        );
    }
    assert_eq!(
        sb.received().await,
        before,
        "a refused request reached the store"
    );
}

#[tokio::test]
async fn bad_soap_bodies_get_faults_and_never_reach_the_store() {
    let sb = start_sandbox();
    let gw = start_gateway(&sb.url(""), "[limits]\nsoap_max_bytes = 4096\n");
    let before = sb.received().await;
    let soap12 = |body: &str| {
        format!(
            r#"<soap:Envelope xmlns:soap="http://www.w3.org/2003/05/soap-envelope"><soap:Body>{body}</soap:Body></soap:Envelope>"#
        )
    };
    let cases: Vec<(&str, String, &str)> = vec![
        ("malformed XML", "<soap:Envelope><oops".into(), "service.PARSE_ERROR"),
        ("malformed JSON", "{\"Body\":{\"GetInfoRequest\":".into(), "service.PARSE_ERROR"),
        (
            "duplicate JSON keys",
            r#"{"Body":{"GetInfoRequest":{"_jsns":"urn:zimbraAccount","a":{"_content":"1"},"a":{"_content":"2"}}}}"#.into(),
            "service.",
        ),
        (
            "two Body children",
            soap12(r#"<GetInfoRequest xmlns="urn:zimbraAccount"/><SendMsgRequest xmlns="urn:zimbraMail"/>"#),
            "service.INVALID_REQUEST",
        ),
        (
            "nested batch",
            soap12(r#"<BatchRequest xmlns="urn:zimbra"><BatchRequest xmlns="urn:zimbra"><GetInfoRequest xmlns="urn:zimbraAccount"/></BatchRequest></BatchRequest>"#),
            "service.INVALID_REQUEST",
        ),
        ("oversize (Content-Length)", soap12(&" ".repeat(5000)), "<soap:Envelope"),
        (
            "oversize JSON (Content-Length)",
            format!("{{\"Body\":{{}}, \"x\":\"{}\"}}", "j".repeat(5000)),
            "\"service.INVALID_REQUEST\"",
        ),
    ];
    for (what, body, code) in cases {
        let (status, answer) = post(&gw.url("/service/soap"), body).await;
        assert_eq!(status, 500, "{what}: {answer}");
        assert!(answer.contains(code), "{what}: {answer}");
    }
    // Oversize without Content-Length (chunked), refused while streaming.
    let chunk = "x".repeat(3000);
    let raw = format!(
        "POST /service/soap HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n{:x}\r\n<{chunk}\r\n{:x}\r\n{chunk}\r\n0\r\n\r\n",
        chunk.len() + 1,
        chunk.len()
    );
    let resp = raw_http(gw.addr, raw.as_bytes());
    assert_eq!(raw_status(&resp), 500, "{resp}");
    assert!(resp.contains("service.INVALID_REQUEST"), "{resp}");
    assert!(
        resp.contains("<soap:Envelope"),
        "fault not in the client's XML: {resp}"
    );
    assert_eq!(
        sb.received().await,
        before,
        "a refused body reached the store"
    );
}

#[tokio::test]
async fn headers_hop_by_hop_dropped_forwarded_set_host_kept() {
    let sb = start_sandbox();
    let (up, heads) = capture_upstream_beside(
        sb.addr,
        "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: keep-alive, x-up-secret\r\nX-Up-Secret: 1\r\nKeep-Alive: timeout=5\r\nProxy-Authenticate: Basic\r\nX-Kept: yes\r\n\r\nok",
    );
    let gw = start_gateway(&format!("http://{up}"), "");
    let token = gateway_token(&gw, USER).await;
    let raw = format!(
        "GET /js/x.js?q=1 HTTP/1.1\r\nHost: {HOST}\r\nCookie: ZM_AUTH_TOKEN={token}\r\nConnection: close, x-client-secret\r\nX-Client-Secret: s\r\nKeep-Alive: 5\r\nTE: trailers\r\nUpgrade: websocket\r\nProxy-Authorization: Basic eA==\r\nX-Forwarded-For: 6.6.6.6\r\nX-Forwarded-Host: evil.example\r\nX-Forwarded-Proto: https\r\nX-Other: 1\r\n\r\n"
    );
    let resp = raw_http(gw.addr, raw.as_bytes());
    assert_eq!(raw_status(&resp), 200, "{resp}");
    let lower = resp.to_ascii_lowercase();
    assert!(lower.contains("x-kept: yes"));
    for gone in ["x-up-secret", "keep-alive:", "proxy-authenticate"] {
        assert!(!lower.contains(gone), "{gone} reached the client: {resp}");
    }
    let head = heads
        .recv_timeout(Duration::from_secs(5))
        .unwrap()
        .to_ascii_lowercase();
    assert!(head.starts_with("get /js/x.js?q=1 http/1.1\r\n"), "{head}");
    assert!(head.contains(&format!("host: {HOST}\r\n")), "{head}");
    assert!(head.contains("x-forwarded-for: 127.0.0.1\r\n"), "{head}");
    assert!(head.contains("x-forwarded-proto: http\r\n"), "{head}");
    assert!(
        head.contains(&format!("x-forwarded-host: {HOST}\r\n")),
        "{head}"
    );
    assert!(head.contains("x-other: 1\r\n"), "{head}");
    // The session's store token goes up, never the gateway token.
    assert!(head.contains("cookie: zm_auth_token="), "{head}");
    assert!(
        !head.contains(&token.to_ascii_lowercase()),
        "the gateway token reached the store: {head}"
    );
    for gone in [
        "x-client-secret",
        "keep-alive",
        "\r\nte:",
        "upgrade",
        "proxy-authorization",
        "6.6.6.6",
        "evil.example",
    ] {
        assert!(!head.contains(gone), "{gone} reached the store: {head}");
    }
}

#[tokio::test]
async fn trusted_proxy_forwarding_is_kept() {
    let sb = start_sandbox();
    let (up, heads) = capture_upstream_beside(sb.addr, "HTTP/1.1 204 No Content\r\n\r\n");
    let gw = start_gateway(
        &format!("http://{up}"),
        "[trusted_proxies]\ncidrs = [\"127.0.0.0/8\"]\n",
    );
    let token = gateway_token(&gw, USER).await;
    let raw = format!("GET / HTTP/1.1\r\nHost: {HOST}\r\nCookie: ZM_AUTH_TOKEN={token}\r\nX-Forwarded-For: 198.51.100.7\r\nX-Forwarded-Proto: https\r\nConnection: close\r\n\r\n");
    assert_eq!(raw_status(&raw_http(gw.addr, raw.as_bytes())), 204);
    let head = heads
        .recv_timeout(Duration::from_secs(5))
        .unwrap()
        .to_ascii_lowercase();
    assert!(
        head.contains("x-forwarded-for: 198.51.100.7, 127.0.0.1\r\n"),
        "{head}"
    );
    assert!(head.contains("x-forwarded-proto: https\r\n"), "{head}");
}

#[tokio::test]
async fn http2_over_tls_with_a_self_signed_certificate() {
    let sb = start_sandbox();
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (cert_path, key_path) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    std::fs::write(&cert_path, cert.cert.pem()).unwrap();
    std::fs::write(&key_path, cert.signing_key.serialize_pem()).unwrap();
    let extra = format!(
        "[server.tls]\ncert_path = {:?}\nkey_path = {:?}\n",
        cert_path.display().to_string(),
        key_path.display().to_string()
    );
    let gw = start_gateway(&sb.url(""), &extra);
    install_crypto();
    let tls_client = reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(cert.cert.pem().as_bytes()).unwrap())
        .resolve("localhost", gw.addr)
        .build()
        .unwrap();
    let soap_url = format!("https://localhost:{}/service/soap", gw.addr.port());
    let (token, _) = soap_enrol_at(&tls_client, &soap_url, USER, PASSWORD).await;
    let url = format!("https://localhost:{}/js/app.js", gw.addr.port());
    let r = tls_client
        .get(&url)
        .header("Cookie", format!("ZM_AUTH_TOKEN={token}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.version(), reqwest::Version::HTTP_2);
    let through = r.bytes().await.unwrap();
    let direct = client()
        .get(sb.url("/js/app.js"))
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert_eq!(through, direct);
    let r = tls_client
        .post(&soap_url)
        .body(get_info_json(&token))
        .send()
        .await
        .unwrap();
    assert_eq!(r.version(), reqwest::Version::HTTP_2);
    assert!(r.text().await.unwrap().contains("GetInfoResponse"));
}

/// The one setting a configuration cannot do without: `[auth.store] data_key_file`,
/// pointing at a fresh 64-hex-character key written under `dir`.
fn data_key_toml(dir: &std::path::Path) -> String {
    let path = dir.join("data.key");
    std::fs::write(&path, "ab".repeat(32)).unwrap();
    format!(
        "[auth.store]\ndata_key_file = {:?}\n",
        path.display().to_string()
    )
}

#[test]
fn check_config_errors_name_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let data_key = data_key_toml(dir.path());
    let cases = [
        (
            "[server]\nlisten = \"127.0.0.1:8080\"\nlisten_port = 1\n",
            "server.listen_port",
        ),
        (
            "[upstream]\nconnect_timeout_secs = \"soon\"\n",
            "upstream.connect_timeout_secs",
        ),
        ("[server]\nlisten = \"0.0.0.0:8080\"\n", "server.listen"),
        ("[nope]\nx = 1\n", "nope"),
    ];
    for (i, (text, key)) in cases.iter().enumerate() {
        let p = dir.path().join(format!("c{i}.toml"));
        std::fs::write(&p, format!("{text}{data_key}")).unwrap();
        let out = run_binary(&["check-config", p.to_str().unwrap()]);
        assert_eq!(out.status.code(), Some(1), "{text}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(key), "{key} not named in: {err}");
    }
    // A complete configuration (its files exist) passes the whole pre-flight.
    let p = dir.path().join("ok.toml");
    std::fs::write(
        &p,
        gateway_config_in("https://zimbra.internal:8443", "", dir.path()),
    )
    .unwrap();
    let out = run_binary(&["check-config", p.to_str().unwrap()]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("zimbra.internal"));
}

#[test]
fn check_config_reads_env_values_as_strings() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("g.toml");
    std::fs::write(&p, gateway_config_in("http://127.0.0.1:1", "", dir.path())).unwrap();
    let out = std::process::Command::new(BIN)
        .args(["check-config", p.to_str().unwrap()])
        .env("GATEWAY_UPSTREAM__URL", "http://10.1.2.3:7070")
        .env("GATEWAY_LIMITS__SOAP_MAX_BYTES", "0123")
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("http://10.1.2.3:7070"), "{text}");
    assert!(text.contains("soap_max_bytes = 123"), "{text}");
}

#[tokio::test]
async fn metrics_listener_exposes_counters() {
    let sb = start_sandbox();
    let gw = start_gateway(&sb.url(""), "");
    let token = gateway_token(&gw, USER).await;
    assert_eq!(get_with(&gw.url("/"), &token).await.0, 200);
    get(&gw.url("/service/preauth")).await;
    let text = client()
        .get(gw.metrics_url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        text.contains("gateway_requests_total{surface=\"static\",status=\"200\"}"),
        "{text}"
    );
    assert!(
        text.contains("gateway_requests_total{surface=\"closed\",status=\"403\"}"),
        "{text}"
    );
    assert!(text.contains("gateway_upstream_latency_seconds"), "{text}");
    assert!(text.contains("gateway_active_connections"), "{text}");
    // Not on the public listener.
    let r = client().get(gw.url("/metrics")).send().await.unwrap();
    assert_ne!(r.text().await.unwrap(), text);
    // Access log: path without query, never the token.
    get(&gw.url("/home/~/?zauthtoken=SECRET123")).await;
    get(&gw.url(&format!("/home/~/?fmt=ics&zauthtoken={token}"))).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let logs = gw.proc.stderr();
    assert!(logs.contains("/home/~/"), "{logs}");
    assert!(!logs.contains("SECRET123"), "token in logs");
    assert!(!logs.contains(&token), "gateway token in logs");
}

#[tokio::test]
async fn uploads_over_the_limit_get_413() {
    let sb = start_sandbox();
    let gw = start_gateway(&sb.url(""), "[limits]\nupload_max_bytes = 1000\n");
    let token = gateway_token(&gw, USER).await;
    settle_first_session(&gw, &sb, &token).await;
    let before = sb.received().await;
    let raw = format!(
        "POST /service/upload?fmt=raw HTTP/1.1\r\nHost: a\r\nCookie: ZM_AUTH_TOKEN={token}\r\nContent-Type: text/plain; name=a.txt\r\nContent-Length: 2000\r\nConnection: close\r\n\r\n{}",
        "x".repeat(2000)
    );
    assert_eq!(raw_status(&raw_http(gw.addr, raw.as_bytes())), 413);
    assert_eq!(
        sb.received().await,
        before,
        "refused on Content-Length alone"
    );
    // Streamed (chunked): counted on the way and cut.
    let chunk = "y".repeat(800);
    let raw = format!(
        "POST /service/upload?fmt=raw HTTP/1.1\r\nHost: a\r\nCookie: ZM_AUTH_TOKEN={token}\r\nContent-Type: text/plain; name=a.txt\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n320\r\n{chunk}\r\n320\r\n{chunk}\r\n0\r\n\r\n"
    );
    assert_eq!(raw_status(&raw_http(gw.addr, raw.as_bytes())), 413);
}

#[tokio::test]
async fn sigterm_lets_in_flight_requests_finish() {
    let sb = start_sandbox();
    let mut gw = start_gateway(&sb.url(""), "");
    let token = gateway_token(&gw, USER).await;
    let slow = tokio::spawn(
        client()
            .get(gw.url("/sandbox/slow?ms=1500"))
            .header("Cookie", format!("ZM_AUTH_TOKEN={token}"))
            .send(),
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    let pid = gw.proc.pid().to_string();
    let killed = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap();
    assert!(killed.success());
    let resp = slow.await.unwrap().unwrap();
    assert_eq!(resp.status(), 200);
    assert!(resp.text().await.unwrap().contains("slow answer"));
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(status) = gw.proc.child.try_wait().unwrap() {
            assert!(status.success(), "exit status {status}");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "gateway did not exit after SIGTERM"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn demo_prints_accounts_and_serves() {
    let (proc, found) = spawn_and_wait(
        &[
            "demo",
            "--listen",
            "127.0.0.1:0",
            "--demo-password",
            "Demo-Pass-1",
        ],
        &[],
        &[
            "  webmail (through the gateway): http://",
            "  demo password: ",
        ],
    );
    assert_eq!(found[1], "Demo-Pass-1");
    let base = format!("http://{}", found[0].trim_end_matches('/'));
    // The webmail needs a gateway session: a browser goes to the portal's login page.
    let r = client()
        .get(format!("{base}/"))
        .header("Accept", "text/html")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 302);
    assert_eq!(r.headers()["location"], "/connexion?retour=%2F");
    let r = client()
        .get(format!("{base}/connexion"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let page = r.text().await.unwrap();
    assert!(
        page.contains("lang=\"fr\"")
            && page.contains("Se connecter")
            && page.contains("action=\"/connexion\""),
        "{page}"
    );
    // A SOAP client logs in with the demo password (first login: TOTP enrolment),
    // then the webmail and SOAP answer with the gateway token.
    let soap_url = format!("{base}/service/soap");
    let (token, _) = soap_enrol_at(&client(), &soap_url, USER, "Demo-Pass-1").await;
    let r = client()
        .post(&soap_url)
        .body(get_info_json(&token))
        .send()
        .await
        .unwrap();
    assert!(r.text().await.unwrap().contains("GetInfoResponse"));
    let r = client()
        .get(format!("{base}/"))
        .header("Cookie", format!("ZM_AUTH_TOKEN={token}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    drop(proc);
}
