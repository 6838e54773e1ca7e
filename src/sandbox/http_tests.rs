//! End-to-end tests over HTTP against `start()` on 127.0.0.1:0 (hyper client).

use std::net::SocketAddr;

use bytes::Bytes;
use http::{HeaderMap, Method, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

use super::data::{SandboxData, FIXTURE_PASSWORD};
use super::preauth;
use super::state::now_ms;
use super::{start, SandboxHandle};

const ANTOINE: &str = "antoine.lefevre@esantepdl.mssante.fr";

async fn sandbox(data: SandboxData) -> SandboxHandle {
    start(SocketAddr::from(([127, 0, 0, 1], 0)), data)
        .await
        .expect("start")
}

struct Answer {
    status: StatusCode,
    headers: HeaderMap,
    body: Bytes,
}

impl Answer {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).to_string()
    }

    /// `ZM_AUTH_TOKEN=…` from Set-Cookie.
    fn cookie(&self) -> Option<String> {
        self.headers
            .get_all("set-cookie")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find(|v| v.starts_with("ZM_AUTH_TOKEN="))
            .map(|v| v.split(';').next().unwrap_or("").to_string())
    }
}

async fn http(
    h: &SandboxHandle,
    method: Method,
    path: &str,
    headers: &[(&str, &str)],
    body: impl Into<Bytes>,
) -> Answer {
    let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
    let mut req = Request::builder()
        .method(method)
        .uri(format!("{}{path}", h.base_url()));
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let resp = client
        .request(req.body(Full::new(body.into())).unwrap())
        .await
        .expect("request");
    let (parts, body) = resp.into_parts();
    Answer {
        status: parts.status,
        headers: parts.headers,
        body: body.collect().await.expect("body").to_bytes(),
    }
}

fn xml_envelope(body: &str) -> String {
    format!(
        "<soap:Envelope xmlns:soap=\"http://www.w3.org/2003/05/soap-envelope\"><soap:Header><context xmlns=\"urn:zimbra\"/></soap:Header><soap:Body>{body}</soap:Body></soap:Envelope>"
    )
}

fn xml_auth(name: &str, pw: &str) -> String {
    xml_envelope(&format!(
        "<AuthRequest xmlns=\"urn:zimbraAccount\"><account by=\"name\">{name}</account><password>{pw}</password></AuthRequest>"
    ))
}

async fn login_cookie(h: &SandboxHandle) -> String {
    let a = http(
        h,
        Method::POST,
        "/service/soap/AuthRequest",
        &[],
        xml_auth(ANTOINE, FIXTURE_PASSWORD),
    )
    .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text());
    a.cookie().expect("cookie")
}

#[tokio::test]
async fn xml_auth_then_send_reaches_the_outbox() {
    let h = sandbox(SandboxData::load(None).unwrap()).await;
    let a = http(
        &h,
        Method::POST,
        "/service/soap/AuthRequest",
        &[],
        xml_auth(ANTOINE, FIXTURE_PASSWORD),
    )
    .await;
    assert_eq!(a.status, StatusCode::OK);
    assert!(
        a.text()
            .contains("<AuthResponse xmlns=\"urn:zimbraAccount\">"),
        "{}",
        a.text()
    );
    assert!(
        a.text().contains("<authToken>0_") && a.text().contains("<lifetime>"),
        "{}",
        a.text()
    );
    let cookie = a.cookie().expect("Set-Cookie");
    let send = xml_envelope(
        "<SendMsgRequest xmlns=\"urn:zimbraMail\"><m><e t=\"t\" a=\"ext@ailleurs.fr\"/><e t=\"c\" a=\"adele.alexandre@esantepdl.mssante.fr\"/><su>Hello</su><mp ct=\"text/plain\"><content>Bonjour</content></mp></m></SendMsgRequest>",
    );
    let s = http(
        &h,
        Method::POST,
        "/service/soap/GetInfoRequest",
        &[("cookie", &cookie)],
        send,
    )
    .await;
    assert_eq!(s.status, StatusCode::OK, "{}", s.text());
    assert!(
        s.text()
            .contains("<SendMsgResponse xmlns=\"urn:zimbraMail\"><m id=\""),
        "{}",
        s.text()
    );
    assert_eq!(h.outbox().len(), 1);
    let o = http(&h, Method::GET, "/sandbox/outbox", &[], "").await;
    let entries: serde_json::Value = serde_json::from_slice(&o.body).unwrap();
    assert_eq!(entries[0]["external"][0], "ext@ailleurs.fr");
    assert_eq!(h.stats().surfaces.get("soap"), Some(&2));
    assert_eq!(h.stats().soap_requests.get("SendMsgRequest"), Some(&1));
}

#[tokio::test]
async fn json_auth_shape_and_faults() {
    let h = sandbox(SandboxData::load(None).unwrap()).await;
    let body = format!(
        r#"{{"Header":{{"context":{{"_jsns":"urn:zimbra"}}}},"Body":{{"AuthRequest":{{"_jsns":"urn:zimbraAccount","account":{{"by":"name","_content":"{ANTOINE}"}},"password":{{"_content":"{FIXTURE_PASSWORD}"}}}}}}}}"#
    );
    let a = http(
        &h,
        Method::POST,
        "/service/soap/",
        &[("content-type", "application/soap+xml")],
        body,
    )
    .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text());
    assert_eq!(a.headers["content-type"], "text/javascript; charset=utf-8");
    let v: serde_json::Value = serde_json::from_slice(&a.body).unwrap();
    let resp = &v["Body"]["AuthResponse"];
    assert!(resp["authToken"][0]["_content"]
        .as_str()
        .unwrap()
        .starts_with("0_"));
    assert!(resp["lifetime"].is_number());
    assert_eq!(resp["_jsns"], "urn:zimbraAccount");

    let bad = http(
        &h,
        Method::POST,
        "/service/soap",
        &[],
        xml_auth(ANTOINE, "wrong"),
    )
    .await;
    assert_eq!(bad.status, StatusCode::INTERNAL_SERVER_ERROR);
    assert!(
        bad.text().contains("<Code>account.AUTH_FAILED</Code>"),
        "{}",
        bad.text()
    );
    let unknown = http(
        &h,
        Method::POST,
        "/service/soap",
        &[],
        xml_envelope("<FooRequest xmlns=\"urn:zimbraMail\"/>"),
    )
    .await;
    assert!(unknown.text().contains("service.UNKNOWN_DOCUMENT"));
}

#[tokio::test]
async fn batch_over_http_is_200_with_fault_entries() {
    let h = sandbox(SandboxData::load(None).unwrap()).await;
    let cookie = login_cookie(&h).await;
    let batch = xml_envelope(
        "<BatchRequest xmlns=\"urn:zimbra\" onerror=\"continue\"><GetFolderRequest xmlns=\"urn:zimbraMail\" requestId=\"1\"/><NopeRequest xmlns=\"urn:zimbraMail\" requestId=\"2\"/></BatchRequest>",
    );
    let b = http(
        &h,
        Method::POST,
        "/service/soap/BatchRequest",
        &[("cookie", &cookie)],
        batch,
    )
    .await;
    assert_eq!(b.status, StatusCode::OK);
    let text = b.text();
    assert!(
        text.contains("<BatchResponse xmlns=\"urn:zimbra\">"),
        "{text}"
    );
    assert!(text.contains("requestId=\"2\""), "{text}");
    assert!(text.contains("soap:Fault"), "{text}");
}

#[tokio::test]
async fn big_stream_slow_and_stats() {
    let h = sandbox(SandboxData::load(None).unwrap()).await;
    let big = http(&h, Method::GET, "/sandbox/big?bytes=3000000", &[], "").await;
    assert_eq!(big.body.len(), 3_000_000);
    let started = std::time::Instant::now();
    let slow = http(&h, Method::GET, "/sandbox/slow?ms=150", &[], "").await;
    assert_eq!(slow.status, StatusCode::OK);
    assert!(started.elapsed().as_millis() >= 150);
    assert_eq!(h.received_count(), 2);
    http(&h, Method::POST, "/sandbox/reset-stats", &[], "").await;
    assert_eq!(h.received_count(), 0);
    let js = http(&h, Method::GET, "/js/app.js", &[], "").await;
    assert!(js.text().contains("sandboxWebmail"));
}

#[tokio::test]
async fn upload_shapes_and_limit() {
    let mut data = SandboxData::load(None).unwrap();
    data.settings.mta_max_message_size = 1000;
    let h = sandbox(data).await;
    let none = http(&h, Method::POST, "/service/upload?fmt=raw", &[], "x").await;
    assert_eq!(none.text(), "401,'null'\n");
    let cookie = login_cookie(&h).await;
    let disp = "attachment; filename=\"cr.txt\"";
    let raw = http(
        &h,
        Method::POST,
        "/service/upload?fmt=raw",
        &[
            ("cookie", &cookie),
            ("content-type", "text/plain"),
            ("content-disposition", disp),
        ],
        "hello",
    )
    .await;
    assert_eq!(raw.status, StatusCode::OK);
    let text = raw.text();
    assert!(
        text.starts_with("200,'null','") && text.ends_with("'\n"),
        "{text}"
    );
    let mp = "--B\r\nContent-Disposition: form-data; name=\"requestId\"\r\n\r\nclient-7\r\n--B\r\nContent-Disposition: form-data; name=\"f\"; filename=\"a.pdf\"\r\nContent-Type: application/pdf\r\n\r\n%PDF-1\r\n--B--\r\n";
    let ext = http(
        &h,
        Method::POST,
        "/service/upload?fmt=raw,extended",
        &[
            ("cookie", &cookie),
            ("content-type", "multipart/form-data; boundary=B"),
        ],
        mp,
    )
    .await;
    let text = ext.text();
    assert!(text.starts_with("200,'client-7',[{\"aid\":\""), "{text}");
    assert!(
        text.contains("\"filename\":\"a.pdf\"") && text.contains("\"s\":6"),
        "{text}"
    );
    let html = http(
        &h,
        Method::POST,
        "/service/upload",
        &[
            ("cookie", &cookie),
            ("content-type", "multipart/form-data; boundary=B"),
        ],
        mp,
    )
    .await;
    assert!(
        html.text()
            .contains("window.parent._uploadManager.loaded(200,'client-7','"),
        "{}",
        html.text()
    );
    let big = http(
        &h,
        Method::POST,
        "/service/upload?fmt=raw",
        &[("cookie", &cookie), ("content-disposition", disp)],
        vec![b'x'; 5000],
    )
    .await;
    assert_eq!(big.status, StatusCode::OK);
    assert!(big.text().starts_with("413,"), "{}", big.text());
}

#[tokio::test]
async fn preauth_url_webmail_and_rest_export() {
    let data = SandboxData::load(None).unwrap();
    let key = data
        .preauth_key("esantepdl.mssante.fr")
        .unwrap()
        .to_string();
    let h = sandbox(data).await;
    let ts = now_ms().to_string();
    let value = preauth::compute(&key, ANTOINE, "name", &ts, "0", false);
    let url = format!(
        "/service/preauth?account={ANTOINE}&by=name&timestamp={ts}&expires=0&preauth={value}"
    );
    let p = http(&h, Method::GET, &url, &[], "").await;
    assert_eq!(p.status, StatusCode::FOUND);
    assert_eq!(p.headers["location"], "/");
    let cookie = p.cookie().expect("cookie");
    let bad = http(&h, Method::GET, &url.replace(&value, "00"), &[], "").await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);

    let page = http(&h, Method::GET, "/", &[("cookie", &cookie)], "").await;
    assert!(page.text().contains("Antoine Lefèvre"), "{}", page.text());
    let anon = http(&h, Method::GET, "/", &[], "").await;
    assert!(anon.text().contains("Vous n'êtes pas connecté"));

    let send = xml_envelope("<SendMsgRequest xmlns=\"urn:zimbraMail\"><m><e t=\"t\" a=\"x@ailleurs.fr\"/><su>Export</su></m></SendMsgRequest>");
    http(
        &h,
        Method::POST,
        "/service/soap",
        &[("cookie", &cookie)],
        send,
    )
    .await;
    let tgz = http(
        &h,
        Method::GET,
        "/home/~/Sent?fmt=tgz",
        &[("cookie", &cookie)],
        "",
    )
    .await;
    assert_eq!(tgz.status, StatusCode::OK);
    assert_eq!(&tgz.body[..2], &[0x1f, 0x8b]);
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(&tgz.body[..]));
    let names: Vec<String> = archive
        .entries()
        .unwrap()
        .map(|e| e.unwrap().path().unwrap().display().to_string())
        .collect();
    assert!(
        names
            .iter()
            .any(|n| n.starts_with("Sent/") && n.ends_with("Export.eml")),
        "{names:?}"
    );
    let anon = http(&h, Method::GET, "/service/home/~/Sent?fmt=tgz", &[], "").await;
    assert_eq!(anon.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn json_batch_like_the_web_client() {
    let h = sandbox(SandboxData::load(None).unwrap()).await;
    let cookie = login_cookie(&h).await;
    let body = r#"{"Header":{"context":{"_jsns":"urn:zimbra"}},"Body":{"BatchRequest":{"_jsns":"urn:zimbra","onerror":"continue",
        "GetFolderRequest":[{"_jsns":"urn:zimbraMail","requestId":0}],
        "SendMsgRequest":[{"_jsns":"urn:zimbraMail","requestId":1,"suid":1430804429828,"m":{
            "e":[{"t":"t","a":"dr.x@ailleurs.fr"},{"t":"f","a":"antoine.lefevre@esantepdl.mssante.fr","p":"Antoine"}],
            "su":{"_content":"test"},
            "mp":[{"ct":"multipart/alternative","mp":[{"ct":"text/plain","content":{"_content":"test"}},{"ct":"text/html","content":{"_content":"<b>test</b>"}}]}]}}]}}}"#;
    let b = http(
        &h,
        Method::POST,
        "/service/soap/BatchRequest",
        &[("cookie", &cookie)],
        body,
    )
    .await;
    assert_eq!(b.status, StatusCode::OK, "{}", b.text());
    let v: serde_json::Value = serde_json::from_slice(&b.body).unwrap();
    let batch = &v["Body"]["BatchResponse"];
    assert_eq!(batch["GetFolderResponse"][0]["requestId"], "0");
    assert_eq!(batch["SendMsgResponse"][0]["requestId"], "1");
    assert!(
        batch["SendMsgResponse"][0]["m"][0]["id"].is_string(),
        "{batch}"
    );
    let entry = h.outbox().pop().expect("outbox");
    assert_eq!(entry.external, vec!["dr.x@ailleurs.fr"]);
    assert_eq!(entry.subject, "test");
    assert!(entry
        .headers
        .iter()
        .any(|(k, v)| k == "From" && v.contains("antoine.lefevre")));
}

#[tokio::test]
async fn format_override_and_delegation_refused() {
    let h = sandbox(SandboxData::load(None).unwrap()).await;
    let cookie = login_cookie(&h).await;
    let js = "<soap:Envelope xmlns:soap=\"http://www.w3.org/2003/05/soap-envelope\"><soap:Header><context xmlns=\"urn:zimbra\"><format type=\"js\"/></context></soap:Header><soap:Body><GetFolderRequest xmlns=\"urn:zimbraMail\"/></soap:Body></soap:Envelope>";
    let a = http(
        &h,
        Method::POST,
        "/service/soap",
        &[("cookie", &cookie)],
        js,
    )
    .await;
    assert_eq!(a.headers["content-type"], "text/javascript; charset=utf-8");
    let other = "<soap:Envelope xmlns:soap=\"http://www.w3.org/2003/05/soap-envelope\"><soap:Header><context xmlns=\"urn:zimbra\"><account by=\"name\">adele.alexandre@esantepdl.mssante.fr</account></context></soap:Header><soap:Body><GetFolderRequest xmlns=\"urn:zimbraMail\"/></soap:Body></soap:Envelope>";
    let d = http(
        &h,
        Method::POST,
        "/service/soap",
        &[("cookie", &cookie)],
        other,
    )
    .await;
    assert_eq!(d.status, StatusCode::INTERNAL_SERVER_ERROR);
    assert!(d.text().contains("service.PERM_DENIED"), "{}", d.text());
}
