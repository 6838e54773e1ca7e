//! M1-M7 through the real gateway in front of the real sandbox: a gateway token
//! (SOAP login through the gateway, second factor enrolled on the way), then
//! requests through the gateway in XML, JSON and inside BatchRequest; refused ones
//! must never reach the store.

use super::common::*;
use serde_json::Value;

const USER: &str = "antoine.lefevre@esantepdl.mssante.fr";
const OUTSIDE: &str = "x@gmail.com";
const TRUSTED: &str = "dr.martin@medecin.mssante.fr";

async fn post(url: &str, body: String) -> (u16, String) {
    let r = client().post(url).body(body).send().await.unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

/// A gateway token for [`USER`] (SOAP login through the gateway).
async fn login(gw: &GatewayProcess) -> String {
    gateway_token(gw, USER).await
}

fn json(token: &str, body: &str) -> String {
    format!(
        r#"{{"Header":{{"context":{{"_jsns":"urn:zimbra","authToken":{{"_content":"{token}"}}}}}},"Body":{body}}}"#
    )
}

fn xml(token: &str, body: &str) -> String {
    format!(
        r#"<soap:Envelope xmlns:soap="http://www.w3.org/2003/05/soap-envelope"><soap:Header><context xmlns="urn:zimbra"><authToken>{token}</authToken></context></soap:Header><soap:Body>{body}</soap:Body></soap:Envelope>"#
    )
}

fn send_xml(to: &str, from: &str) -> String {
    format!(
        r#"<SendMsgRequest xmlns="urn:zimbraMail"><m><e t="f" a="{from}"/><e t="t" a="{to}"/><su>Test</su><mp ct="text/plain"><content>Bonjour</content></mp></m></SendMsgRequest>"#
    )
}

/// The SendMsgRequest object (JSON), without its name.
fn send_obj(to: &str) -> String {
    format!(
        r#"{{"_jsns":"urn:zimbraMail","m":{{"e":[{{"t":"t","a":"{to}"}}],"su":{{"_content":"Test"}},"mp":{{"ct":"text/plain","content":{{"_content":"Bonjour"}}}}}}}}"#
    )
}

fn send_json(to: &str) -> String {
    format!(r#"{{"SendMsgRequest":{}}}"#, send_obj(to))
}

async fn outbox(sb: &SandboxProcess) -> Vec<Value> {
    let r = client()
        .get(sb.url("/sandbox/outbox"))
        .send()
        .await
        .unwrap();
    r.json().await.unwrap()
}

async fn count(sb: &SandboxProcess, request: &str) -> u64 {
    let r = client().get(sb.url("/sandbox/stats")).send().await.unwrap();
    let v: Value = r.json().await.unwrap();
    v["soap_requests"][request].as_u64().unwrap_or(0)
}

async fn sent_count(sb: &SandboxProcess) -> u64 {
    count(sb, "SendMsgRequest").await
}

fn assert_refused(what: &str, (status, body): &(u16, String), code: &str) {
    assert_eq!(*status, 500, "{what}: {body}");
    assert!(body.contains(code), "{what}: {body}");
}

#[tokio::test]
async fn send_outside_is_refused_in_xml_json_and_batch() {
    let sb = start_sandbox();
    let gw = start_gateway(&sb.url(""), "");
    let token = login(&gw).await;
    let url = gw.url("/service/soap");
    let code = "mail.SEND_ABORTED_ADDRESS_FAILURE";
    let r = post(&url, xml(&token, &send_xml(OUTSIDE, USER))).await;
    assert_refused("xml", &r, code);
    assert!(
        r.1.contains(OUTSIDE) && r.1.contains("<soap:Envelope"),
        "{}",
        r.1
    );
    let r = post(&url, json(&token, &send_json(OUTSIDE))).await;
    assert_refused("json", &r, code);
    assert!(r.1.contains(OUTSIDE) && r.1.starts_with('{'), "{}", r.1);
    // One refused child refuses the whole batch (the trusted send does not leave either).
    let batch = format!(
        r#"<BatchRequest xmlns="urn:zimbra" onerror="continue">{}{}</BatchRequest>"#,
        send_xml(TRUSTED, USER).replace("<SendMsgRequest ", "<SendMsgRequest requestId=\"1\" "),
        send_xml(OUTSIDE, USER).replace("<SendMsgRequest ", "<SendMsgRequest requestId=\"2\" "),
    );
    let r = post(&url, xml(&token, &batch)).await;
    assert_refused("batch", &r, code);
    let batch = format!(
        r#"{{"BatchRequest":{{"_jsns":"urn:zimbra","SendMsgRequest":[{},{}]}}}}"#,
        send_obj(TRUSTED),
        send_obj(OUTSIDE),
    );
    let r = post(&url, json(&token, &batch)).await;
    assert_refused("json batch", &r, code);
    assert!(outbox(&sb).await.is_empty(), "a refused message left");
    assert_eq!(
        sent_count(&sb).await,
        0,
        "a refused SendMsg reached the store"
    );
    // Without any token, nothing is forwarded: the gateway answers its own fault.
    let r = post(
        &url,
        json("", &send_json(TRUSTED)).replace(r#","authToken":{"_content":""}"#, ""),
    )
    .await;
    assert_refused("no token", &r, "service.AUTH_REQUIRED");
    assert_eq!(sent_count(&sb).await, 0);
    // Nor with the store's own token: client-sent store tokens are stripped, ignored.
    let own = store_token(&sb.url(""), USER, "Sandbox-2026!").await;
    let r = post(&url, json(&own, &send_json(TRUSTED))).await;
    assert_refused("store token", &r, "service.AUTH_REQUIRED");
    assert_eq!(sent_count(&sb).await, 0);
}

#[tokio::test]
async fn send_to_trusted_domain_leaves_with_the_mssante_from() {
    let sb = start_sandbox();
    let gw = start_gateway(&sb.url(""), "");
    let token = login(&gw).await;
    // Lookups made while logging in do not count.
    let lookups = count(&sb, "GetInfoRequest").await;
    // Pass-through requests never trigger the identity lookup (GetInfo).
    let noop = r#"<NoOpRequest xmlns="urn:zimbraMail"/>"#;
    assert_eq!(
        post(&gw.url("/service/soap"), xml(&token, noop)).await.0,
        200
    );
    assert_eq!(count(&sb, "GetInfoRequest").await, lookups);
    let (status, body) = post(
        &gw.url("/service/soap"),
        xml(&token, &send_xml(TRUSTED, "faux@exemple.org")),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let out = outbox(&sb).await;
    assert_eq!(out.len(), 1, "{out:?}");
    let from = out[0]["from"].as_str().unwrap_or_default();
    assert!(from.contains(USER) && !from.contains("faux"), "{out:?}");
    assert!(
        out[0]["recipients"].to_string().contains(TRUSTED),
        "{out:?}"
    );
    // JSON, without any From: allowed too (From added).
    let (status, body) = post(&gw.url("/service/soap"), json(&token, &send_json(TRUSTED))).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(outbox(&sb).await.len(), 2);
    // One identity lookup for both sends: cached by the session's store token.
    assert_eq!(count(&sb, "GetInfoRequest").await, lookups + 1);
}

#[tokio::test]
async fn settings_grants_unknown_requests_and_uploads() {
    let sb = start_sandbox();
    let gw = start_gateway(&sb.url(""), "[limits]\nupload_max_bytes = 1000\n");
    let token = login(&gw).await;
    let url = gw.url("/service/soap");
    let fwd = format!(
        r#"{{"ModifyPrefsRequest":{{"_jsns":"urn:zimbraAccount","_attrs":{{"zimbraPrefMailForwardingAddress":"{OUTSIDE}"}}}}}}"#
    );
    assert_refused("forwarding", &post(&url, json(&token, &fwd)).await, "Fault");
    let notif = fwd.replace(
        "zimbraPrefMailForwardingAddress",
        "zimbraPrefNewMailNotificationAddress",
    );
    let r = post(&url, json(&token, &notif)).await;
    assert_eq!(r.0, 200, "notification address: {}", r.1);
    let filter = format!(
        r#"<ModifyFilterRulesRequest xmlns="urn:zimbraMail"><filterRules><filterRule name="r" active="1"><filterTests condition="anyof"><headerTest header="subject" stringComparison="contains" value="x"/></filterTests><filterActions><actionRedirect a="{OUTSIDE}"/></filterActions></filterRule></filterRules></ModifyFilterRulesRequest>"#
    );
    assert_refused(
        "redirect",
        &post(&url, xml(&token, &filter)).await,
        "<soap:Fault",
    );
    let grant = r#"<FolderActionRequest xmlns="urn:zimbraMail"><action op="grant" id="2"><grant gt="pub" perm="r"/></action></FolderActionRequest>"#;
    assert_refused(
        "grant pub",
        &post(&url, xml(&token, grant)).await,
        "<soap:Fault",
    );
    let unknown = r#"<FrobnicateRequest xmlns="urn:zimbraMail"/>"#;
    assert_refused(
        "unknown",
        &post(&url, xml(&token, unknown)).await,
        "<soap:Fault",
    );
    // Upload over the limit: the upload servlet's answer shape.
    let r = client()
        .post(gw.url("/service/upload?fmt=raw&requestId=c1"))
        .header("Cookie", format!("ZM_AUTH_TOKEN={token}"))
        .header("Content-Type", "text/plain")
        .body("x".repeat(2000))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 413);
    assert_eq!(r.text().await.unwrap(), "413,'c1'\n");
}

/// Uploads one plain file through the gateway; returns its `aid`.
async fn upload(gw: &GatewayProcess, token: &str, bytes: usize) -> String {
    let r = client()
        .post(gw.url("/service/upload?fmt=raw"))
        .header("Cookie", format!("ZM_AUTH_TOKEN={token}"))
        .header("Content-Type", "text/plain; name=a.txt")
        .body("z".repeat(bytes))
        .send()
        .await
        .unwrap();
    let text = r.text().await.unwrap();
    assert!(text.starts_with("200,"), "{text}");
    text.trim().rsplit('\'').nth(1).expect("aid").to_string()
}

#[tokio::test]
async fn attachments_are_counted_from_uploads_seen_by_the_gateway() {
    let sb = start_sandbox();
    let gw = start_gateway(&sb.url(""), "[policy]\nattachment_limit_bytes = 5000\n");
    let token = login(&gw).await;
    let (a, b) = (
        upload(&gw, &token, 3000).await,
        upload(&gw, &token, 3000).await,
    );
    let send = |aids: &str| {
        send_xml(TRUSTED, USER).replace("</m>", &format!(r#"<attach aid="{aids}"/></m>"#))
    };
    let url = gw.url("/service/soap");
    let r = post(&url, xml(&token, &send(&a))).await;
    assert_eq!(r.0, 200, "one attachment under the limit: {}", r.1);
    let r = post(&url, xml(&token, &send(&format!("{a},{b}")))).await;
    assert_refused("over the total", &r, "<soap:Fault");
    // An upload the gateway never saw is refused (default deny).
    let unseen = "x:3f2504e0-4f89-11d3-9a0c-0305e82c3301";
    assert_refused(
        "unseen aid",
        &post(&url, xml(&token, &send(unseen))).await,
        "<soap:Fault",
    );
    assert_eq!(outbox(&sb).await.len(), 1);
}

#[tokio::test]
async fn archive_exports_refused_by_policy() {
    let sb = start_sandbox();
    let gw = start_gateway(&sb.url(""), "[policy]\nexports = \"refuse\"\n");
    let token = login(&gw).await;
    settle_first_session(&gw, &sb, &token).await;
    let before = sb.received().await;
    let r = client()
        .get(gw.url("/home/~/?fmt=tgz"))
        .header("Cookie", format!("ZM_AUTH_TOKEN={token}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    assert!(r.text().await.unwrap().contains("refusé"));
    assert_eq!(
        sb.received().await,
        before,
        "a refused export reached the store"
    );
}

#[test]
fn no_good_whitelist_no_gateway() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("g.toml");
    let extra = "[policy]\nwhitelist_source = \"/nonexistent/liste.xml\"\n";
    std::fs::write(&p, gateway_config("http://127.0.0.1:9", extra)).unwrap();
    let out = run_binary(&["serve", "--config", p.to_str().unwrap()]);
    assert_ne!(out.status.code(), Some(0));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("policy.whitelist_source"), "{err}");
}

/// The folders under Inbox named "Échanges Patients" and the rules filing patient mail,
/// read straight from the store.
async fn patients_setup_counts(sb: &SandboxProcess) -> (usize, usize) {
    let token = store_token(&sb.url(""), USER, SANDBOX_PASSWORD).await;
    let folders = post(
        &sb.url("/service/soap"),
        json(
            &token,
            r#"{"GetFolderRequest":{"_jsns":"urn:zimbraMail","folder":{"l":"2"}}}"#,
        ),
    )
    .await
    .1;
    let rules = post(
        &sb.url("/service/soap"),
        json(
            &token,
            r#"{"GetFilterRulesRequest":{"_jsns":"urn:zimbraMail"}}"#,
        ),
    )
    .await
    .1;
    (
        folders.matches("\"Échanges Patients\"").count(),
        rules.matches("@patient.mssante.fr").count(),
    )
}

#[tokio::test]
async fn first_session_creates_the_patients_folder_and_rule_once() {
    let sb = start_sandbox();
    assert_eq!(patients_setup_counts(&sb).await, (0, 0));
    // Two gateways with their own state: two "first" sessions of the same user.
    for round in 0..2 {
        let gw = start_gateway(&sb.url(""), "");
        let token = login(&gw).await;
        let (status, _) = post(
            &gw.url("/service/soap"),
            json(
                &token,
                r#"{"GetInfoRequest":{"_jsns":"urn:zimbraAccount","sections":"mbox"}}"#,
            ),
        )
        .await;
        assert_eq!(status, 200);
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        loop {
            let counts = patients_setup_counts(&sb).await;
            if counts == (1, 1) {
                break;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "round {round}: folder/rule counts {counts:?}"
            );
            tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        }
    }
    // Settled: still one folder and one rule after the second session.
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    assert_eq!(patients_setup_counts(&sb).await, (1, 1));
}

#[tokio::test]
async fn an_opened_admin_path_still_needs_a_session_and_refuses_admin_login() {
    let sb = start_sandbox();
    let gw = start_gateway(&sb.url(""), "[paths]\nopen_admin = true\n");
    let url = gw.url("/service/admin/soap");
    // Admin login through the gateway would skip the second factor: refused here.
    let admin_login = format!(
        r#"{{"Body":{{"AuthRequest":{{"_jsns":"urn:zimbraAdmin","name":{{"_content":"{SANDBOX_ADMIN}"}},"password":{{"_content":"{SANDBOX_ADMIN_PASSWORD}"}}}}}}}}"#
    );
    let (_, answer) = post(&url, admin_login).await;
    assert!(answer.contains("service.PERM_DENIED"), "{answer}");
    // A store admin token sent by the client is stripped: no session, nothing forwarded.
    let admin_token = {
        let body = format!(
            r#"{{"Body":{{"AuthRequest":{{"_jsns":"urn:zimbraAdmin","name":{{"_content":"{SANDBOX_ADMIN}"}},"password":{{"_content":"{SANDBOX_ADMIN_PASSWORD}"}}}}}}}}"#
        );
        let (_, a) = post(&sb.url("/service/admin/soap"), body).await;
        let v: Value = serde_json::from_str(&a).unwrap();
        json_text(&v["Body"]["AuthResponse"]["authToken"]).expect("admin token")
    };
    let modify = format!(
        r#"{{"Body":{{"ModifyAccountRequest":{{"_jsns":"urn:zimbraAdmin","id":"x","a":[{{"n":"zimbraPrefMailForwardingAddress","_content":"{OUTSIDE}"}}]}}}}}}"#
    );
    let r = client()
        .post(&url)
        .header("Cookie", format!("ZM_ADMIN_AUTH_TOKEN={admin_token}"))
        .body(modify.clone())
        .send()
        .await
        .unwrap();
    let text = r.text().await.unwrap();
    assert!(text.contains("service.AUTH_REQUIRED"), "{text}");
    // With a user session, admin requests that could open a way out are refused.
    let token = login(&gw).await;
    let (_, text) = post(&url, json(&token, &modify[8..modify.len() - 1])).await;
    assert!(!text.contains("ModifyAccountResponse"), "{text}");
    assert!(text.contains("Fault"), "{text}");
    assert_eq!(
        count(&sb, "ModifyAccountRequest").await,
        0,
        "reached the store"
    );
}
