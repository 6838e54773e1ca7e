//! See `tests/security.rs`. Classes 2 (routes: deny what is not known), 6 (before
//! authentication, spend almost nothing) and 7b (framing).
//!
//! The sandbox maps paths as Zimbra's Jetty does (`jetty.xml` rewrites, then the
//! servlet mappings of `web.xml`), so what reaches its SOAP servlet here would reach
//! Zimbra's. It has no HTML client, DAV, ActiveSync, EWS or REST import: for those
//! surfaces a direct request gets 404/405, which is not "open", so the tests show the
//! gateway's refusal (nothing reaches the store) and that naming the surface in
//! `paths.open_uninspected` lets the same request reach the store again.

use super::common::*;
use serde_json::Value;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

const USER: &str = "antoine.lefevre@esantepdl.mssante.fr";
const OUTSIDE: &str = "x@gmail.com";
const TRUSTED: &str = "dr.martin@medecin.mssante.fr";

/// A SendMsg in XML with the token in the SOAP header, `text` inline.
fn send_xml(token: &str, to: &str, text: &str) -> String {
    format!(
        r#"<soap:Envelope xmlns:soap="http://www.w3.org/2003/05/soap-envelope"><soap:Header><context xmlns="urn:zimbra"><authToken>{token}</authToken></context></soap:Header><soap:Body><SendMsgRequest xmlns="urn:zimbraMail"><m><e t="t" a="{to}"/><su>Test</su><mp ct="text/plain"><content>{text}</content></mp></m></SendMsgRequest></soap:Body></soap:Envelope>"#
    )
}

/// The same in JSON.
fn send_json(token: &str, to: &str, text: &str) -> String {
    format!(
        r#"{{"Header":{{"context":{{"_jsns":"urn:zimbra","authToken":{{"_content":"{token}"}}}}}},"Body":{{"SendMsgRequest":{{"_jsns":"urn:zimbraMail","m":{{"e":[{{"t":"t","a":"{to}"}}],"su":{{"_content":"Test"}},"mp":{{"ct":"text/plain","content":{{"_content":"{text}"}}}}}}}}}}}}"#
    )
}

/// One request as raw bytes (the target exactly as written), `Connection: close`.
fn raw(addr: SocketAddr, method: &str, target: &str, headers: &str, body: &[u8]) -> String {
    let mut req = format!(
        "{method} {target} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nContent-Length: {}\r\n{headers}\r\n",
        body.len()
    )
    .into_bytes();
    req.extend_from_slice(body);
    raw_http(addr, &req)
}

async fn json_get(url: String) -> Value {
    client()
        .get(url)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

async fn outbox_len(sb: &SandboxProcess) -> usize {
    json_get(sb.url("/sandbox/outbox"))
        .await
        .as_array()
        .map_or(0, Vec::len)
}

async fn store_total(sb: &SandboxProcess) -> u64 {
    json_get(sb.url("/sandbox/stats")).await["total"]
        .as_u64()
        .unwrap()
}

async fn store_surface(sb: &SandboxProcess, surface: &str) -> u64 {
    json_get(sb.url("/sandbox/stats")).await["surfaces"][surface]
        .as_u64()
        .unwrap_or(0)
}

/// `gateway_requests_total` for one surface label, all statuses.
async fn requests_on(gw: &GatewayProcess, surface: &str) -> u64 {
    let text = client()
        .get(gw.metrics_url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    text.lines()
        .filter(|l| {
            l.starts_with("gateway_requests_total{")
                && l.contains(&format!("surface=\"{surface}\""))
        })
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum::<f64>() as u64
}

/// Paths the store's SOAP servlet answers (`/soap/*` after Jetty's decoding).
const SOAP_AT_THE_STORE: &[&str] = &[
    "/service/soap/SendMsgRequest",
    "/service/soap;jsessionid=1",
    "/service//soap",
    "/service/x/../soap",
    "/%73ervice/soap/",
];

/// Paths that are not the SOAP servlet for Zimbra (nor, now, for the sandbox).
const NOT_SOAP: &[&str] = &[
    "/service/soapx",
    "/service/soap.json",
    "/service/soap%20",
    "/service/Soap",
    "/zimbra/service/soap",
];

#[tokio::test]
async fn soap_is_inspected_on_every_spelling_of_its_servlet_and_nothing_else_is_forwarded() {
    let sb = start_sandbox();
    let own = store_token(&sb.url(""), USER, SANDBOX_PASSWORD).await;
    // Open, against the store alone: every spelling of the servlet sends the mail out.
    for path in SOAP_AT_THE_STORE {
        let before = outbox_len(&sb).await;
        let resp = raw(
            sb.addr,
            "POST",
            path,
            "",
            send_xml(&own, OUTSIDE, "a").as_bytes(),
        );
        assert_eq!(raw_status(&resp), 200, "{path}: {resp}");
        assert_eq!(outbox_len(&sb).await, before + 1, "{path}: no mail left");
    }
    // The other spellings are not SOAP at the store (Jetty's exact servlet matching).
    for path in NOT_SOAP {
        let before = store_surface(&sb, "soap").await;
        let resp = raw(
            sb.addr,
            "POST",
            path,
            "",
            send_xml(&own, OUTSIDE, "a").as_bytes(),
        );
        assert_eq!(raw_status(&resp), 404, "{path}: {resp}");
        assert_eq!(store_surface(&sb, "soap").await, before, "{path}");
    }

    // Closed, through the gateway: the SOAP spellings meet the SOAP inspector.
    let gw = start_gateway(&sb.url(""), "");
    let token = gateway_token(&gw, USER).await;
    settle_first_session(&gw, &sb, &token).await;
    let sent = outbox_len(&sb).await;
    for path in SOAP_AT_THE_STORE {
        for body in [
            send_xml(&token, OUTSIDE, "a"),
            send_json(&token, OUTSIDE, "a"),
        ] {
            let resp = raw(gw.addr, "POST", path, "", body.as_bytes());
            assert_eq!(raw_status(&resp), 500, "{path}: {resp}");
            assert!(
                resp.contains("mail.SEND_ABORTED_ADDRESS_FAILURE") || resp.contains("PERM_DENIED"),
                "{path}: {resp}"
            );
        }
    }
    assert_eq!(outbox_len(&sb).await, sent, "mail left through the gateway");
    // Everything else is refused before the session is looked up: the same answer
    // with a valid session cookie, and nothing reaches the store.
    let closed_before = requests_on(&gw, "closed").await;
    let total = store_total(&sb).await;
    for path in NOT_SOAP {
        for cookie in ["", &format!("Cookie: ZM_AUTH_TOKEN={token}\r\n")] {
            let resp = raw(
                gw.addr,
                "POST",
                path,
                cookie,
                send_xml(&token, OUTSIDE, "a").as_bytes(),
            );
            assert_eq!(raw_status(&resp), 403, "{path}: {resp}");
        }
    }
    // One request per call to /sandbox/stats itself is not counted.
    assert_eq!(
        store_total(&sb).await,
        total,
        "a refused request reached the store"
    );
    assert_eq!(
        requests_on(&gw, "closed").await - closed_before,
        2 * NOT_SOAP.len() as u64,
        "refused as closed routes"
    );
    assert_eq!(outbox_len(&sb).await, sent);
}

#[tokio::test]
async fn preauth_is_reached_only_on_its_own_mapping_and_only_when_opened() {
    let sb = start_sandbox();
    let query =
        "?account=antoine.lefevre@esantepdl.mssante.fr&by=name&timestamp=1&expires=0&preauth=00";
    for (path, reaches) in [
        ("/service/preauth", true),
        ("/service/preauth/", true),
        ("/service/preauthx", false),
        ("/service/preauth.jsp", false),
    ] {
        let before = store_surface(&sb, "preauth").await;
        raw(sb.addr, "GET", &format!("{path}{query}"), "", b"");
        assert_eq!(
            store_surface(&sb, "preauth").await,
            before + u64::from(reaches),
            "{path}"
        );
    }
    for (extra, opened) in [("", false), ("[paths]\nopen_preauth = true\n", true)] {
        let gw = start_gateway(&sb.url(""), extra);
        let token = gateway_token(&gw, USER).await;
        settle_first_session(&gw, &sb, &token).await;
        let cookie = format!("Cookie: ZM_AUTH_TOKEN={token}\r\n");
        for (path, allowed) in [
            ("/service/preauth", opened),
            ("/service/preauthx", false),
            ("/SERVICE/preauth", false),
        ] {
            let before = store_surface(&sb, "preauth").await;
            let total = store_total(&sb).await;
            let resp = raw(gw.addr, "GET", &format!("{path}{query}"), &cookie, b"");
            if allowed {
                assert_ne!(raw_status(&resp), 403, "{path}: {resp}");
                assert_eq!(store_surface(&sb, "preauth").await, before + 1, "{path}");
            } else {
                assert_eq!(raw_status(&resp), 403, "{path} ({extra}): {resp}");
                assert_eq!(store_total(&sb).await, total, "{path} reached the store");
            }
        }
    }
}

/// (method, target, headers, body) of requests to the surfaces the gateway cannot
/// inspect, each of which makes Zimbra send mail (zimbra-api.md §6.3).
fn uninspected_requests(user: &str) -> Vec<(&'static str, String, String, Vec<u8>)> {
    let event = format!(
        "BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nUID:1\r\nORGANIZER:mailto:{user}\r\nATTENDEE:mailto:{OUTSIDE}\r\nDTSTART:20300101T100000Z\r\nSUMMARY:x\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
    );
    let form = format!("actionSend=1&to={OUTSIDE}&subject=x&body=y&crumb=z");
    let form_h = "Content-Type: application/x-www-form-urlencoded\r\n".to_string();
    vec![
        (
            "POST",
            "/h/compose".into(),
            form_h.clone(),
            form.clone().into_bytes(),
        ),
        (
            "POST",
            "/m/mainx".into(),
            form_h.clone(),
            form.clone().into_bytes(),
        ),
        (
            "POST",
            "/zimbra/h/compose".into(),
            form_h.clone(),
            form.into_bytes(),
        ),
        (
            "PUT",
            format!("/dav/{user}/Calendar/1.ics"),
            "Content-Type: text/calendar\r\n".into(),
            event.clone().into_bytes(),
        ),
        (
            "POST",
            format!("/dav/{user}/Outbox/"),
            "Content-Type: text/calendar\r\n".into(),
            event.clone().into_bytes(),
        ),
        (
            "PUT",
            format!("/service/dav/home/{user}/Calendar/2.ics"),
            "Content-Type: text/calendar\r\n".into(),
            event.clone().into_bytes(),
        ),
        (
            "POST",
            "/home/~/Calendar?fmt=ics".into(),
            "Content-Type: text/calendar\r\n".into(),
            event.clone().into_bytes(),
        ),
        (
            "PUT",
            "/service/home/~/Drafts?fmt=eml".into(),
            "Content-Type: message/rfc822\r\n".into(),
            format!("To: {OUTSIDE}\r\nSubject: x\r\n\r\ny\r\n").into_bytes(),
        ),
        (
            "POST",
            "/Microsoft-Server-ActiveSync?Cmd=SendMail&User=u&DeviceId=d&DeviceType=t".into(),
            "Content-Type: application/vnd.ms-sync.wbxml\r\n".into(),
            b"\x03\x01j\x00".to_vec(),
        ),
        (
            "POST",
            "/ews/Exchange.asmx".into(),
            "Content-Type: text/xml\r\n".into(),
            b"<soap:Envelope/>".to_vec(),
        ),
    ]
}

#[tokio::test]
async fn uninspected_surfaces_are_closed_before_the_session_and_opened_only_by_name() {
    let sb = start_sandbox();
    let gw = start_gateway(&sb.url(""), "");
    let token = gateway_token(&gw, USER).await;
    settle_first_session(&gw, &sb, &token).await;
    let cookie = format!("Cookie: ZM_AUTH_TOKEN={token}\r\n");
    let total = store_total(&sb).await;
    let mut refused = uninspected_requests(USER);
    // Routes no row knows: store servlets, other webapps, writes to the web client.
    for (m, t) in [
        ("GET", "/service/proxy?target=http://x/"),
        ("GET", "/service/wsdl/ZimbraService.wsdl"),
        ("GET", "/service/extuserprov/?p=1"),
        ("GET", "/shf/x"),
        ("GET", "/autodiscover/autodiscover.xml"),
        ("POST", "/"),
        ("POST", "/public/login.jsp"),
        ("POST", "/service/upload/"),
        ("GET", "/service/soap"),
        ("DELETE", "/home/~/Inbox"),
    ] {
        refused.push((m, t.into(), String::new(), Vec::new()));
    }
    for (method, target, headers, body) in &refused {
        let resp = raw(gw.addr, method, target, &format!("{headers}{cookie}"), body);
        assert_eq!(raw_status(&resp), 403, "{method} {target}: {resp}");
        assert!(resp.contains("Accès interdit"), "{method} {target}: {resp}");
    }
    assert_eq!(
        store_total(&sb).await,
        total,
        "a refused request reached the store"
    );

    // Named in paths.open_uninspected, each surface reaches the store again (the
    // sandbox does not implement them: it answers 404/405, but it got the request).
    let open = start_gateway(
        &sb.url(""),
        "[paths]\nopen_uninspected = [\"html_client\", \"dav_write\", \"rest_write\", \"activesync\", \"ews\"]\n",
    );
    let token = gateway_token(&open, USER).await;
    settle_first_session(&open, &sb, &token).await;
    let cookie = format!("Cookie: ZM_AUTH_TOKEN={token}\r\n");
    for (method, target, headers, body) in uninspected_requests(USER) {
        let before = store_total(&sb).await;
        let resp = raw(
            open.addr,
            method,
            &target,
            &format!("{headers}{cookie}"),
            &body,
        );
        assert_ne!(raw_status(&resp), 403, "{method} {target}: {resp}");
        assert_eq!(
            store_total(&sb).await,
            before + 1,
            "{method} {target} did not reach the store"
        );
        // Without a session, still nothing reaches the store.
        let resp = raw(open.addr, method, &target, &headers, &body);
        assert_eq!(raw_status(&resp), 401, "{method} {target}: {resp}");
        assert_eq!(
            store_total(&sb).await,
            before + 1,
            "{method} {target} without a session"
        );
    }
    // One surface named, the others stay closed.
    let html_only = start_gateway(
        &sb.url(""),
        "[paths]\nopen_uninspected = [\"html_client\"]\n",
    );
    let token = gateway_token(&html_only, USER).await;
    let cookie = format!("Cookie: ZM_AUTH_TOKEN={token}\r\n");
    let resp = raw(html_only.addr, "POST", "/h/compose", &cookie, b"x=1");
    assert_ne!(raw_status(&resp), 403, "{resp}");
    let target = format!("/dav/{USER}/Calendar/1.ics");
    let resp = raw(html_only.addr, "PUT", &target, &cookie, b"x");
    assert_eq!(raw_status(&resp), 403, "{resp}");
}

#[tokio::test]
async fn every_spelling_of_the_user_servlet_meets_the_export_policy() {
    let sb = start_sandbox();
    let own = store_token(&sb.url(""), USER, SANDBOX_PASSWORD).await;
    // Open at the store: /user/* is the same servlet as /home/*.
    let resp = client()
        .get(sb.url("/user/~/?fmt=tgz"))
        .header("Cookie", format!("ZM_AUTH_TOKEN={own}"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert!(
        resp.bytes().await.unwrap().starts_with(&[0x1f, 0x8b]),
        "a gzip archive"
    );
    let gw = start_gateway(&sb.url(""), "[policy]\nexports = \"refuse\"\n");
    let token = gateway_token(&gw, USER).await;
    settle_first_session(&gw, &sb, &token).await;
    let total = store_total(&sb).await;
    for path in [
        "/home/~/?fmt=tgz",
        "/user/~/?fmt=tgz",
        "/service/user/~/Inbox?fmt=zip",
        "/zimbra/home/~/?fmt=tgz",
        "/zimbra/user/~/Inbox.tar",
    ] {
        let resp = client()
            .get(gw.url(path))
            .header("Cookie", format!("ZM_AUTH_TOKEN={token}"))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 403, "{path}");
        assert!(
            resp.text()
                .await
                .unwrap()
                .contains("Export d'archive refusé"),
            "{path}"
        );
    }
    assert_eq!(store_total(&sb).await, total);
}

// ---- class 6: before authentication, spend almost nothing ----

/// One unauthenticated connection declaring a 12 MiB SOAP body and sending it slowly
/// (64 KiB every 20 ms) until the gateway answers or closes; returns the status.
async fn slow_big_body(addr: SocketAddr) -> u16 {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    const DECLARED: usize = 12 * 1024 * 1024;
    let Ok(mut s) = tokio::net::TcpStream::connect(addr).await else {
        return 0;
    };
    let head = format!(
        "POST /service/soap HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/soap+xml\r\nContent-Length: {DECLARED}\r\n\r\n<soap:Envelope xmlns:soap=\"http://www.w3.org/2003/05/soap-envelope\"><soap:Body><AuthRequest xmlns=\"urn:zimbraAccount\"><password>"
    );
    if s.write_all(head.as_bytes()).await.is_err() {
        return 0;
    }
    let chunk = vec![b'a'; 64 * 1024];
    let (mut rd, mut wr) = s.into_split();
    let writer = tokio::spawn(async move {
        for _ in 0..DECLARED / chunk.len() {
            if wr.write_all(&chunk).await.is_err() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    });
    let mut answer = Vec::new();
    let mut buf = [0u8; 4096];
    let read = tokio::time::timeout(Duration::from_secs(30), async {
        while let Ok(n) = rd.read(&mut buf).await {
            if n == 0 {
                break;
            }
            answer.extend_from_slice(&buf[..n]);
            if answer.windows(4).any(|w| w == b"\r\n\r\n") && answer.len() > 200 {
                break;
            }
        }
    })
    .await;
    writer.abort();
    if read.is_err() {
        return 1; // no answer
    }
    raw_status(&String::from_utf8_lossy(&answer))
}

#[tokio::test]
async fn memory_stays_flat_when_many_clients_without_a_session_send_big_bodies_slowly() {
    let sb = start_sandbox();
    // Every connection comes from 127.0.0.1: lift the per-address limit so that the
    // memory budget is what holds.
    let gw = start_gateway(
        &sb.url(""),
        "[limits]\npreauth_requests_per_client = 10000\npreauth_memory_bytes = 4194304\n",
    );
    // Warm up (allocator arenas, worker threads), then take the baseline.
    for _ in 0..20 {
        raw(gw.addr, "GET", "/healthz", "", b"");
    }
    let _ = soap_json(
        &gw.url("/service/soap"),
        r#"{"Body":{"NoOpRequest":{"_jsns":"urn:zimbraMail"}}}"#,
    )
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let baseline = gw.proc.rss_kb();
    let total = store_total(&sb).await;

    const CLIENTS: usize = 300;
    let attack: Vec<_> = (0..CLIENTS)
        .map(|_| tokio::spawn(slow_big_body(gw.addr)))
        .collect();
    let pid_rss = {
        let started = Instant::now();
        let mut peak = baseline;
        while started.elapsed() < Duration::from_secs(4) {
            peak = peak.max(gw.proc.rss_kb());
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        peak
    };
    let mut statuses = std::collections::BTreeMap::new();
    for a in attack {
        *statuses.entry(a.await.unwrap()).or_insert(0) += 1;
    }
    let peak = pid_rss.max(gw.proc.rss_kb());
    let grown_mib = (peak.saturating_sub(baseline)) as f64 / 1024.0;
    eprintln!(
        "RSS baseline {} MiB, peak {} MiB (+{grown_mib:.1} MiB) for {CLIENTS} clients each declaring 12 MiB; answers {statuses:?}",
        baseline / 1024,
        peak / 1024
    );
    // Before: six such clients raised the gateway's memory by 75 MiB.
    assert!(grown_mib < 24.0, "memory grew by {grown_mib:.1} MiB");
    // Each got AUTH_REQUIRED after 64 KiB (500) or a 503 when the budget was taken.
    assert!(
        statuses.keys().all(|s| *s == 500 || *s == 503),
        "{statuses:?}"
    );
    assert!(statuses.get(&500).is_some_and(|n| *n > 0), "{statuses:?}");
    assert_eq!(store_total(&sb).await, total, "the store was reached");
}

#[tokio::test]
async fn slow_senders_time_out_and_each_address_gets_a_few_reads_at_once() {
    let sb = start_sandbox();
    let gw = start_gateway(
        &sb.url(""),
        "[limits]\npreauth_body_timeout_secs = 2\npreauth_requests_per_client = 4\n",
    );
    // Six stalled bodies from one address: four are read (and time out), two are
    // refused at once.
    let started = Instant::now();
    let mut stalled = Vec::new();
    for _ in 0..6 {
        let mut s = TcpStream::connect(gw.addr).unwrap();
        s.write_all(
            b"POST /service/soap HTTP/1.1\r\nHost: a\r\nContent-Length: 1000\r\n\r\n<soap:Env",
        )
        .unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        stalled.push(std::thread::spawn(move || {
            let mut buf = [0u8; 2048];
            let n = s.read(&mut buf).unwrap_or(0);
            (
                raw_status(&String::from_utf8_lossy(&buf[..n])),
                started.elapsed(),
            )
        }));
        std::thread::sleep(Duration::from_millis(50));
    }
    let statuses: Vec<(u16, Duration)> = stalled.into_iter().map(|t| t.join().unwrap()).collect();
    let busy: Vec<_> = statuses.iter().filter(|(s, _)| *s == 503).collect();
    let timed_out: Vec<_> = statuses.iter().filter(|(s, _)| *s == 408).collect();
    assert_eq!((busy.len(), timed_out.len()), (2, 4), "{statuses:?}");
    assert!(
        busy.iter().all(|(_, t)| *t < Duration::from_secs(2)),
        "{statuses:?}"
    );
    assert!(
        timed_out
            .iter()
            .all(|(_, t)| *t >= Duration::from_secs(2) && *t < Duration::from_secs(6)),
        "{statuses:?}"
    );
    // The slots are given back: a login works again from the same address.
    let (status, v) = soap_json(
        &gw.url("/service/soap"),
        r#"{"Body":{"NoOpRequest":{"_jsns":"urn:zimbraMail"}}}"#,
    )
    .await;
    assert_eq!(status, 500);
    assert_eq!(
        v["Body"]["Fault"]["Detail"]["Error"]["Code"], "service.AUTH_REQUIRED",
        "{v}"
    );
}

#[tokio::test]
async fn a_client_with_its_token_in_the_soap_header_still_sends_large_messages() {
    let sb = start_sandbox();
    let gw = start_gateway(&sb.url(""), "");
    let token = gateway_token(&gw, USER).await;
    settle_first_session(&gw, &sb, &token).await;
    let text = "Compte rendu. ".repeat(20_000); // 280 KB, over the 64 KiB pre-session cap
    for (i, body) in [
        send_xml(&token, TRUSTED, &text),
        send_json(&token, TRUSTED, &text),
    ]
    .into_iter()
    .enumerate()
    {
        let before = outbox_len(&sb).await;
        let (status, answer) = {
            let r = client()
                .post(gw.url("/service/soap"))
                .body(body)
                .send()
                .await
                .unwrap();
            (r.status().as_u16(), r.text().await.unwrap())
        };
        assert_eq!(status, 200, "body {i}: {answer}");
        assert!(answer.contains("SendMsgResponse"), "{answer}");
        assert_eq!(outbox_len(&sb).await, before + 1);
    }
    // The same without a valid token: refused after the first 64 KiB, nothing sent.
    let total = store_total(&sb).await;
    for body in [
        send_xml("not-a-session", TRUSTED, &text),
        send_json("not-a-session", TRUSTED, &text),
        send_xml("", TRUSTED, &text),
    ] {
        let r = client()
            .post(gw.url("/service/soap"))
            .body(body)
            .send()
            .await;
        // The gateway answers before reading the rest; the client may see the reset.
        if let Ok(r) = r {
            assert_eq!(r.status(), 500);
            assert!(r.text().await.unwrap().contains("service.AUTH_REQUIRED"));
        }
    }
    assert_eq!(store_total(&sb).await, total, "the store was reached");
}

// ---- class 7b: framing ----

/// Raw requests hyper would read with two framings, or with several lengths.
fn ambiguous_framings() -> Vec<(&'static str, Vec<u8>)> {
    let mut big = b"POST /service/soap HTTP/1.1\nHost: a\n".to_vec();
    for i in 0..90 {
        big.extend_from_slice(format!("X-Pad-{i}: {}\n", "p".repeat(600)).as_bytes());
    }
    big.extend_from_slice(b"Content-Length: 5\nTransfer-Encoding: chunked\n\n0\r\n\r\n");
    vec![
        ("bare LF", b"POST /service/soap HTTP/1.1\nHost: a\nContent-Length: 5\nTransfer-Encoding: chunked\n\n0\r\n\r\n".to_vec()),
        ("mixed endings", b"POST /service/soap HTTP/1.1\r\nHost: a\nTransfer-Encoding: chunked\r\nContent-Length: 5\n\r\n0\r\n\r\n".to_vec()),
        ("case", b"POST /service/soap HTTP/1.1\r\nHost: a\r\nTRANSFER-ENCODING: CHUNKED\r\ncontent-length: 5\r\n\r\n0\r\n\r\n".to_vec()),
        ("whitespace", b"POST /service/soap HTTP/1.1\nHost: a\nContent-Length:5\nTransfer-Encoding:\t chunked \n\n0\r\n\r\n".to_vec()),
        ("coding list", b"POST /service/soap HTTP/1.1\nHost: a\nContent-Length: 5\nTransfer-Encoding: gzip, chunked\n\n0\r\n\r\n".to_vec()),
        ("duplicate length", b"POST /service/soap HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\nabcde".to_vec()),
        ("length list", b"POST /service/soap HTTP/1.1\r\nHost: a\r\nContent-Length: 5, 5\r\n\r\nabcde".to_vec()),
        ("obs-fold", b"POST /service/soap HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nX-A: a\r\n Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n".to_vec()),
        ("space before colon", b"POST /service/soap HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nTransfer-Encoding : chunked\r\n\r\n0\r\n\r\n".to_vec()),
        ("60 KB head", big),
        ("second request, bare LF", b"GET /healthz HTTP/1.1\nHost: a\n\nPOST /service/soap HTTP/1.1\nHost: a\nContent-Length: 5\nTransfer-Encoding: chunked\n\n0\r\n\r\n".to_vec()),
    ]
}

#[tokio::test]
async fn ambiguous_framing_gets_400_whatever_the_line_endings_and_size() {
    let sb = start_sandbox();
    let gw = start_gateway(&sb.url(""), "");
    let total = store_total(&sb).await;
    for (what, req) in ambiguous_framings() {
        let resp = raw_http(gw.addr, &req);
        let last = resp.rfind("HTTP/1.1 ").map_or("", |i| &resp[i..]);
        assert_eq!(raw_status(last), 400, "{what}: {resp}");
    }
    assert_eq!(
        store_total(&sb).await,
        total,
        "an ambiguous request reached the store"
    );
}

/// Sends raw bytes over TLS (trusting `cert_der`) and reads the answer.
fn raw_tls(
    addr: SocketAddr,
    cert_der: rustls::pki_types::CertificateDer<'static>,
    request: &[u8],
) -> String {
    install_crypto();
    let mut roots = rustls::RootCertStore::empty();
    roots.add(cert_der).unwrap();
    let config = rustls::ClientConfig::builder()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
    let conn = rustls::ClientConnection::new(std::sync::Arc::new(config), name).unwrap();
    let tcp = TcpStream::connect(addr).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut tls = rustls::StreamOwned::new(conn, tcp);
    tls.write_all(request).unwrap();
    let mut out = Vec::new();
    let _ = tls.read_to_end(&mut out);
    String::from_utf8_lossy(&out).into_owned()
}

#[tokio::test]
async fn the_framing_watch_reads_inside_tls() {
    let sb = start_sandbox();
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (cert_path, key_path) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    std::fs::write(&cert_path, cert.cert.pem()).unwrap();
    std::fs::write(&key_path, cert.signing_key.serialize_pem()).unwrap();
    let gw = start_gateway(
        &sb.url(""),
        &format!("[server.tls]\ncert_path = {cert_path:?}\nkey_path = {key_path:?}\n"),
    );
    let total = store_total(&sb).await;
    let ok = raw_tls(
        gw.addr,
        cert.cert.der().clone(),
        b"GET /healthz HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(raw_status(&ok), 200, "{ok}");
    for (what, req) in ambiguous_framings() {
        let resp = raw_tls(gw.addr, cert.cert.der().clone(), &req);
        let last = resp.rfind("HTTP/1.1 ").map_or("", |i| &resp[i..]);
        assert_eq!(raw_status(last), 400, "TLS, {what}: {resp}");
    }
    assert_eq!(store_total(&sb).await, total);
}
