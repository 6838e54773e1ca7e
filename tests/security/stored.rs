//! See `tests/security.rs`. Classes 3 (stored items), 4 (header injection) and 9
//! (calendar end times). Each attack is first run against the sandbox alone with the
//! store's own token (the mail leaves: `/sandbox/outbox`), then through the gateway
//! (a fault naming what was refused, nothing leaves), in XML, JSON and inside a
//! BatchRequest. Items the gateway now refuses to plant are planted straight in the
//! store, as IMAP, a REST import or an older gateway could have.

use super::common::*;
use serde_json::{json, Value};
use std::time::Duration;

const USER: &str = "antoine.lefevre@esantepdl.mssante.fr";
const OUTSIDE: &str = "x@gmail.com";
const TRUSTED: &str = "dr.martin@medecin.mssante.fr";

/// A running pair: the sandbox, the gateway in front, a store token and a gateway token.
struct Pair {
    sb: SandboxProcess,
    gw: GatewayProcess,
    store: String,
    gateway: String,
}

async fn pair() -> Pair {
    let sb = start_sandbox();
    let gw = start_gateway(&sb.url(""), "");
    let store = store_token(&sb.url(""), USER, SANDBOX_PASSWORD).await;
    let gateway = gateway_token(&gw, USER).await;
    Pair {
        sb,
        gw,
        store,
        gateway,
    }
}

/// One JSON request (`name` in urn:zimbraMail) with `token` in the header.
fn json_env(token: &str, body: Value) -> String {
    json!({
        "Header": {"context": {"_jsns": "urn:zimbra", "authToken": {"_content": token}}},
        "Body": body,
    })
    .to_string()
}

fn mail_req(name: &str, mut obj: Value) -> Value {
    obj["_jsns"] = json!("urn:zimbraMail");
    json!({ name: obj })
}

fn json_batch(name: &str, mut obj: Value) -> Value {
    obj["_jsns"] = json!("urn:zimbraMail");
    obj["requestId"] = json!("2");
    json!({"BatchRequest": {
        "_jsns": "urn:zimbra",
        "GetFolderRequest": [{"_jsns": "urn:zimbraMail", "requestId": "1"}],
        name: [obj],
    }})
}

fn xml_env(token: &str, body: &str) -> String {
    format!(
        r#"<soap:Envelope xmlns:soap="http://www.w3.org/2003/05/soap-envelope"><soap:Header><context xmlns="urn:zimbra"><authToken>{token}</authToken></context></soap:Header><soap:Body>{body}</soap:Body></soap:Envelope>"#
    )
}

fn xml_batch(name: &str, inner: &str) -> String {
    format!(
        r#"<BatchRequest xmlns="urn:zimbra"><GetFolderRequest xmlns="urn:zimbraMail" requestId="1"/><{name} xmlns="urn:zimbraMail" requestId="2" {inner}</BatchRequest>"#
    )
}

async fn post(url: &str, body: String) -> (u16, String) {
    let r = client()
        .post(url)
        .body(body)
        .send()
        .await
        .expect("SOAP call");
    (r.status().as_u16(), r.text().await.unwrap_or_default())
}

/// A JSON call that must succeed; returns the response element.
async fn ok(url: &str, token: &str, name: &str, obj: Value) -> Value {
    let (status, text) = post(url, json_env(token, mail_req(name, obj))).await;
    assert_eq!(status, 200, "{name}: {text}");
    let v: Value = serde_json::from_str(&text).expect("JSON answer");
    v["Body"][name.replace("Request", "Response")].clone()
}

async fn outbox(sb: &SandboxProcess) -> Vec<Value> {
    client()
        .get(sb.url("/sandbox/outbox"))
        .send()
        .await
        .expect("outbox")
        .json()
        .await
        .expect("outbox JSON")
}

/// Outbox entries after the first `from` that mailed `addr` outside the sandbox.
async fn left_to(sb: &SandboxProcess, from: usize, addr: &str) -> Vec<Value> {
    outbox(sb)
        .await
        .into_iter()
        .skip(from)
        .filter(|e| {
            e["external"]
                .as_array()
                .is_some_and(|x| x.iter().any(|a| a.as_str() == Some(addr)))
        })
        .collect()
}

fn first_id(v: &Value, key: &str) -> String {
    let m = &v[key];
    let m = if m.is_array() { &m[0] } else { m };
    m["id"].as_str().expect("id").to_string()
}

/// `name` refused through the gateway in XML, JSON and both batches, with `marker` in
/// the fault, and nothing left the store.
async fn refused_everywhere(p: &Pair, name: &str, xml_inner: &str, obj: Value, marker: &str) {
    let url = p.gw.url("/service/soap");
    let before = outbox(&p.sb).await.len();
    let xml_one = format!(r#"<{name} xmlns="urn:zimbraMail" {xml_inner}"#);
    for (form, body) in [
        ("XML", xml_env(&p.gateway, &xml_one)),
        (
            "XML batch",
            xml_env(&p.gateway, &xml_batch(name, xml_inner)),
        ),
        ("JSON", json_env(&p.gateway, mail_req(name, obj.clone()))),
        (
            "JSON batch",
            json_env(&p.gateway, json_batch(name, obj.clone())),
        ),
    ] {
        let (status, text) = post(&url, body).await;
        assert_eq!(status, 500, "{name} {form} not refused: {text}");
        assert!(
            text.contains(marker),
            "{name} {form}: {marker} not in {text}"
        );
    }
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(
        outbox(&p.sb).await.len(),
        before,
        "{name}: a refused request made mail leave"
    );
}

#[tokio::test]
async fn a_stored_draft_is_judged_on_its_stored_recipients() {
    let p = pair().await;
    let store = p.sb.url("/service/soap");
    let draft = |to: &str| {
        json!({"m": {"e": [{"t": "t", "a": to}], "su": {"_content": "Brouillon"},
                     "mp": [{"ct": "text/plain", "content": {"_content": "texte"}}]}})
    };
    // Open: the store sends the draft as stored, whatever the request names.
    let id = first_id(
        &ok(&store, &p.store, "SaveDraftRequest", draft(OUTSIDE)).await,
        "m",
    );
    let send = json!({"m": {"did": id, "sfd": "1", "e": [{"t": "t", "a": TRUSTED}]}});
    ok(&store, &p.store, "SendMsgRequest", send).await;
    assert_eq!(
        left_to(&p.sb, 0, OUTSIDE).await.len(),
        1,
        "the sandbox must send stored drafts"
    );
    // Closed: a draft planted in the store is read by the gateway and refused.
    let id = first_id(
        &ok(&store, &p.store, "SaveDraftRequest", draft(OUTSIDE)).await,
        "m",
    );
    refused_everywhere(
        &p,
        "SendMsgRequest",
        &format!(r#"><m did="{id}" sfd="1"><e t="t" a="{TRUSTED}"/></m></SendMsgRequest>"#),
        json!({"m": {"did": id, "sfd": true, "e": [{"t": "t", "a": TRUSTED}]}}),
        OUTSIDE,
    )
    .await;
    // A draft the store does not have is refused, not forwarded unread.
    refused_everywhere(
        &p,
        "SendMsgRequest",
        r#"><m did="99999" sfd="1"/></SendMsgRequest>"#,
        json!({"m": {"did": "99999", "sfd": "1"}}),
        "99999",
    )
    .await;
    // Planting one through the gateway is refused too (read-receipt address included).
    let gw = p.gw.url("/service/soap");
    let (status, text) = post(
        &gw,
        json_env(&p.gateway, mail_req("SaveDraftRequest", draft(OUTSIDE))),
    )
    .await;
    assert!(status == 500 && text.contains(OUTSIDE), "{text}");
    let dnt = json!({"m": {"e": [{"t": "t", "a": TRUSTED}, {"t": "n", "a": OUTSIDE}]}});
    let (status, text) = post(&gw, json_env(&p.gateway, mail_req("SaveDraftRequest", dnt))).await;
    assert!(status == 500 && text.contains(OUTSIDE), "{text}");
    // An inside-only draft saved through the gateway still sends as stored.
    let before = outbox(&p.sb).await.len();
    let id = first_id(
        &ok(&gw, &p.gateway, "SaveDraftRequest", draft(TRUSTED)).await,
        "m",
    );
    ok(
        &gw,
        &p.gateway,
        "SendMsgRequest",
        json!({"m": {"did": id, "sfd": "1"}}),
    )
    .await;
    assert_eq!(
        left_to(&p.sb, before, TRUSTED).await.len(),
        1,
        "inside-only draft not sent"
    );
}

#[tokio::test]
async fn a_read_receipt_goes_to_the_stored_address_only_when_trusted() {
    let p = pair().await;
    let store = p.sb.url("/service/soap");
    let mime = |dnt: &str| {
        format!(
            "From: {TRUSTED}\r\nTo: {USER}\r\nSubject: Compte rendu\r\nDisposition-Notification-To: {dnt}\r\nMessage-ID: <cr-{}@x>\r\n\r\nbonjour\r\n",
            dnt.len()
        )
    };
    let plant = |dnt: &str| json!({"m": {"l": "2", "content": {"_content": mime(dnt)}}});
    // Open.
    let id = first_id(
        &ok(&store, &p.store, "AddMsgRequest", plant(OUTSIDE)).await,
        "m",
    );
    ok(
        &store,
        &p.store,
        "SendDeliveryReportRequest",
        json!({"mid": id}),
    )
    .await;
    assert_eq!(
        left_to(&p.sb, 0, OUTSIDE).await.len(),
        1,
        "the sandbox must mail the MDN"
    );
    // Closed.
    refused_everywhere(
        &p,
        "SendDeliveryReportRequest",
        &format!(r#"mid="{id}"/>"#),
        json!({"mid": id}),
        OUTSIDE,
    )
    .await;
    // Planting such a message through the gateway is refused.
    let gw = p.gw.url("/service/soap");
    let (status, text) = post(
        &gw,
        json_env(&p.gateway, mail_req("AddMsgRequest", plant(OUTSIDE))),
    )
    .await;
    assert!(status == 500 && text.contains(OUTSIDE), "{text}");
    // A trusted read-receipt address works through the gateway.
    let before = outbox(&p.sb).await.len();
    let id = first_id(
        &ok(&gw, &p.gateway, "AddMsgRequest", plant(TRUSTED)).await,
        "m",
    );
    ok(
        &gw,
        &p.gateway,
        "SendDeliveryReportRequest",
        json!({"mid": id}),
    )
    .await;
    assert_eq!(left_to(&p.sb, before, TRUSTED).await.len(), 1);
}

/// An appointment planted straight in the store (SetAppointment: nothing mailed).
async fn plant_appointment(p: &Pair, organizer: &str, attendees: &[&str]) -> String {
    let at: Vec<Value> = attendees
        .iter()
        .map(|a| json!({"a": a, "role": "REQ", "ptst": "NE"}))
        .collect();
    let comp = json!({"name": "Réunion de service", "s": [{"d": "20300101T100000Z"}],
                      "e": [{"d": "20300101T110000Z"}], "or": {"a": organizer}, "at": at});
    let set = json!({"default": {"ptst": "AC", "m": {"inv": {"comp": [comp]}}}});
    let r = ok(
        &p.sb.url("/service/soap"),
        &p.store,
        "SetAppointmentRequest",
        set,
    )
    .await;
    let item = r["calItemId"].as_str().expect("calItemId").to_string();
    let inv = r["default"]["id"]
        .as_str()
        .or_else(|| r["default"][0]["id"].as_str())
        .expect("default id")
        .to_string();
    format!("{item}-{inv}")
}

#[tokio::test]
async fn calendar_requests_are_judged_on_stored_organizers_and_attendees() {
    let p = pair().await;
    let store = p.sb.url("/service/soap");
    let keep_trusted = json!({"inv": {"comp": [{"name": "Réunion de service",
        "s": [{"d": "20300101T100000Z"}], "e": [{"d": "20300101T110000Z"}],
        "or": {"a": USER}, "at": [{"a": TRUSTED}]}]}});
    // Open, one request after the other, each against its own planted item.
    let opens: Vec<(&str, Value)> = vec![
        ("CancelAppointmentRequest", json!({"comp": "0"})),
        (
            "ModifyAppointmentRequest",
            json!({"comp": "0", "m": keep_trusted}),
        ),
        ("AnnounceOrganizerChangeRequest", json!({})),
    ];
    for (name, mut obj) in opens {
        let id = plant_appointment(&p, USER, &[TRUSTED, OUTSIDE]).await;
        obj["id"] = json!(id);
        let before = outbox(&p.sb).await.len();
        ok(&store, &p.store, name, obj).await;
        assert_eq!(
            left_to(&p.sb, before, OUTSIDE).await.len(),
            1,
            "{name} must mail {OUTSIDE}"
        );
    }
    let id = plant_appointment(&p, OUTSIDE, &[USER]).await;
    let before = outbox(&p.sb).await.len();
    ok(
        &store,
        &p.store,
        "SendInviteReplyRequest",
        json!({"id": id, "compNum": "0", "verb": "ACCEPT"}),
    )
    .await;
    assert_eq!(
        left_to(&p.sb, before, OUTSIDE).await.len(),
        1,
        "the reply must go to the organizer"
    );

    // Closed: every request that mails what the item holds, on items planted in the store.
    let theirs = plant_appointment(&p, USER, &[TRUSTED, OUTSIDE]).await;
    let mine = plant_appointment(&p, OUTSIDE, &[USER]).await;
    let m_trusted = json!({"e": [{"t": "t", "a": TRUSTED}], "su": "Réunion"});
    let xml_m = format!(r#"<m><e t="t" a="{TRUSTED}"/><su>Réunion</su></m>"#);
    let cases: Vec<(&str, &str, Value, String)> = vec![
        (
            "CancelAppointmentRequest",
            theirs.as_str(),
            json!({"comp": "0"}),
            r#"comp="0"/>"#.into(),
        ),
        (
            "ModifyAppointmentRequest",
            theirs.as_str(),
            json!({"comp": "0", "m": keep_trusted}),
            format!(
                r#"comp="0"><m><inv><comp name="R"><s d="20300101T100000Z"/><e d="20300101T110000Z"/><or a="{USER}"/><at a="{TRUSTED}"/></comp></inv></m></ModifyAppointmentRequest>"#
            ),
        ),
        (
            "AnnounceOrganizerChangeRequest",
            theirs.as_str(),
            json!({}),
            "/>".into(),
        ),
        (
            "SendInviteReplyRequest",
            mine.as_str(),
            json!({"compNum": "0", "verb": "ACCEPT"}),
            r#"compNum="0" verb="ACCEPT"/>"#.into(),
        ),
        (
            "CounterAppointmentRequest",
            mine.as_str(),
            json!({"comp": "0", "m": m_trusted}),
            format!(r#"comp="0">{xml_m}</CounterAppointmentRequest>"#),
        ),
        (
            "ForwardAppointmentRequest",
            mine.as_str(),
            json!({"m": m_trusted}),
            format!(r#">{xml_m}</ForwardAppointmentRequest>"#),
        ),
    ];
    for (name, id, mut obj, xml_tail) in cases {
        obj["id"] = json!(id);
        refused_everywhere(&p, name, &format!(r#"id="{id}" {xml_tail}"#), obj, OUTSIDE).await;
    }
    // The same requests on items that name only trusted people work through the gateway.
    let gw = p.gw.url("/service/soap");
    let fine = plant_appointment(&p, USER, &[TRUSTED]).await;
    ok(
        &gw,
        &p.gateway,
        "CancelAppointmentRequest",
        json!({"id": fine, "comp": "0"}),
    )
    .await;
}

#[tokio::test]
async fn planting_outside_people_is_refused() {
    let p = pair().await;
    let ics = format!(
        "BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nUID:u-1\r\nSUMMARY:r\r\nORGANIZER:mailto:{USER}\r\nATTENDEE;CN=X:mailto:{OUTSIDE}\r\nDTSTART:20300101T100000Z\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
    );
    let comp = json!([{"name": "r", "s": [{"d": "20300101"}], "e": [{"d": "20300101"}],
                       "or": {"a": OUTSIDE}}]);
    refused_everywhere(
        &p,
        "SetAppointmentRequest",
        &format!(r#"><default><m><inv><comp name="r"><s d="20300101"/><e d="20300101"/><or a="{OUTSIDE}"/></comp></inv></m></default></SetAppointmentRequest>"#),
        json!({"default": {"m": {"inv": {"comp": comp}}}}),
        OUTSIDE,
    )
    .await;
    refused_everywhere(
        &p,
        "AddAppointmentInviteRequest",
        &format!(
            r#"><m><inv><comp><at a="{OUTSIDE}"/></comp></inv></m></AddAppointmentInviteRequest>"#
        ),
        json!({"m": {"inv": {"comp": comp}}}),
        OUTSIDE,
    )
    .await;
    let xml_ics = ics.replace("\r\n", "&#13;&#10;");
    refused_everywhere(
        &p,
        "ImportAppointmentsRequest",
        &format!(r#"ct="ics"><content>{xml_ics}</content></ImportAppointmentsRequest>"#),
        json!({"ct": "ics", "content": {"_content": ics}}),
        OUTSIDE,
    )
    .await;
    // Nothing was planted in the store.
    let get = mail_req("GetAppointmentRequest", json!({"uid": "u-1"}));
    let (status, text) = post(&p.sb.url("/service/soap"), json_env(&p.store, get)).await;
    assert!(status == 500 && text.contains("NO_SUCH_CALITEM"), "{text}");
}

/// `autoSendTime` a moment from now (the sandbox sends due drafts every second).
fn soon() -> u64 {
    (unix_now() + 1) * 1000
}

#[tokio::test]
async fn header_values_cannot_carry_line_breaks() {
    let p = pair().await;
    let store = p.sb.url("/service/soap");
    let injected = format!("Bonjour\r\nBcc: {OUTSIDE}");
    // Open: the delayed draft is rebuilt from its stored subject, the Bcc leaves.
    let draft = json!({"m": {"autoSendTime": soon(), "e": [{"t": "t", "a": TRUSTED}],
        "su": {"_content": injected}, "mp": [{"ct": "text/plain", "content": {"_content": "x"}}]}});
    ok(&store, &p.store, "SaveDraftRequest", draft).await;
    let mut left = Vec::new();
    for _ in 0..40 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        left = left_to(&p.sb, 0, OUTSIDE).await;
        if !left.is_empty() {
            break;
        }
    }
    assert_eq!(
        left.len(),
        1,
        "the sandbox must rebuild headers from stored fields"
    );

    // Closed: subject, In-Reply-To and display names, every spelling, every form.
    let cases: Vec<(String, Value)> = vec![
        (
            format!(
                r#"><m autoSendTime="{}"><e t="t" a="{TRUSTED}"/><su>Bonjour&#13;&#10;Bcc: {OUTSIDE}</su></m></SaveDraftRequest>"#,
                soon()
            ),
            json!({"m": {"autoSendTime": soon(), "e": [{"t": "t", "a": TRUSTED}], "su": injected}}),
        ),
        (
            format!(
                r#"><m autoSendTime="{}" su="Bonjour&#10;Bcc: {OUTSIDE}"><e t="t" a="{TRUSTED}"/></m></SaveDraftRequest>"#,
                soon()
            ),
            json!({"m": {"autoSendTime": soon(), "e": [{"t": "t", "a": TRUSTED}], "irt": {"_content": format!("<a@b>\r\nBcc: {OUTSIDE}")}}}),
        ),
        (
            format!(
                r#"><m><e t="t" a="{TRUSTED}" p="Dr&#13;Bcc: {OUTSIDE}"/><irt>&lt;a@b&gt;&#x2028;Bcc: {OUTSIDE}</irt></m></SaveDraftRequest>"#
            ),
            json!({"m": {"e": [{"t": "t", "a": TRUSTED, "p": format!("Dr\u{85}Bcc: {OUTSIDE}")}]}}),
        ),
    ];
    for (xml, obj) in cases {
        refused_everywhere(&p, "SaveDraftRequest", &xml, obj, "saut de ligne").await;
    }
    // The escaped JSON spelling (`\u000d\u000a`) is the same value.
    let raw = format!(
        r#"{{"Header":{{"context":{{"_jsns":"urn:zimbra","authToken":{{"_content":"{}"}}}}}},"Body":{{"SendMsgRequest":{{"_jsns":"urn:zimbraMail","m":{{"e":[{{"t":"t","a":"{TRUSTED}"}}],"su":"a\u000d\u000aBcc: {OUTSIDE}"}}}}}}}}"#,
        p.gateway
    );
    let (status, text) = post(&p.gw.url("/service/soap"), raw).await;
    assert!(status == 500 && text.contains("saut de ligne"), "{text}");
    // Appointment names become subjects too.
    refused_everywhere(
        &p,
        "CreateAppointmentRequest",
        &format!(r#"><m><e t="t" a="{TRUSTED}"/><inv><comp name="R&#10;Bcc: {OUTSIDE}"><s d="20300101"/><e d="20300101"/></comp></inv></m></CreateAppointmentRequest>"#),
        json!({"m": {"e": [{"t": "t", "a": TRUSTED}], "inv": {"comp": [{"name": format!("R\nBcc: {OUTSIDE}")}]}}}),
        "saut de ligne",
    )
    .await;
    // Nothing left late either (delayed drafts included).
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(left_to(&p.sb, 1, OUTSIDE).await.len(), 0);
}

#[tokio::test]
async fn an_appointment_with_an_end_time_is_created_through_the_gateway() {
    let p = pair().await;
    let gw = p.gw.url("/service/soap");
    let before = outbox(&p.sb).await.len();
    // The web client's shape: `comp/e` is the end time, not an address.
    let create = json!({"m": {"l": "10", "e": [{"t": "t", "a": TRUSTED, "p": "Dr Martin"}],
        "su": "Réunion de service",
        "inv": {"comp": [{"name": "Réunion de service", "loc": "Salle 2", "fb": "B", "class": "PUB",
            "s": [{"d": "20300101T100000", "tz": "Europe/Paris"}],
            "e": [{"d": "20300101T110000", "tz": "Europe/Paris"}],
            "or": {"a": USER, "d": "Antoine Lefèvre"},
            "at": [{"a": TRUSTED, "d": "Dr Martin", "role": "REQ", "ptst": "NE", "rsvp": "1"}]}]},
        "mp": [{"ct": "multipart/alternative", "mp": [{"ct": "text/plain", "content": "Ordre du jour"}]}]}});
    let r = ok(&gw, &p.gateway, "CreateAppointmentRequest", create).await;
    let inv = r["invId"].as_str().expect("invId").to_string();
    assert_eq!(
        left_to(&p.sb, before, TRUSTED).await.len(),
        1,
        "the invitation did not leave"
    );
    let item = inv.split('-').next().unwrap().to_string();
    let got = ok(
        &gw,
        &p.gateway,
        "GetAppointmentRequest",
        json!({"id": item}),
    )
    .await;
    assert!(got.to_string().contains("Réunion de service"), "{got}");
    // XML too, with a recurrence date (`dtval/e`).
    let xml = format!(
        r#"<CreateAppointmentRequest xmlns="urn:zimbraMail"><m l="10"><e t="t" a="{TRUSTED}"/><su>R2</su><inv><comp name="R2"><s d="20300102T100000Z"/><e d="20300102T110000Z"/><or a="{USER}"/><at a="{TRUSTED}"/><recur><add><dates><dtval><s d="20300109T100000Z"/><e d="20300109T110000Z"/></dtval></dates></add></recur></comp></inv></m></CreateAppointmentRequest>"#
    );
    let (status, text) = post(&gw, xml_env(&p.gateway, &xml)).await;
    assert_eq!(status, 200, "{text}");
    assert!(text.contains("invId"), "{text}");
}

#[tokio::test]
async fn store_gal_requests_are_refused() {
    let p = pair().await;
    let gw = p.gw.url("/service/soap");
    for name in [
        "SyncGalRequest",
        "GetDistributionListMembersRequest",
        "GetAllAddressListsRequest",
    ] {
        let body = json!({name: {"_jsns": "urn:zimbraAccount"}});
        let (status, text) = post(&gw, json_env(&p.gateway, body)).await;
        assert_eq!(status, 500, "{name}: {text}");
        assert!(text.contains(name), "{name}: {text}");
    }
}
