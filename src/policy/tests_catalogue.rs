//! The outbound catalogue (zimbra-api §6.1, §6.2), row by row, in XML, in JSON and
//! inside a `BatchRequest`, through the real SOAP readers.

use super::config::PolicyConfig;
use super::stored::{ItemKind, ItemRef, StoredItems};
use super::trust::test_space;
use super::{inspect, inspect_with, Decision, Policy, TrustStore, UploadInfo, UserContext};
use crate::soap::{Element, Envelope, NS_MAIL};

fn policy() -> Policy {
    let cfg = PolicyConfig {
        sender_domain: Some("ght.mssante.fr".into()),
        local_domains: vec!["hopital.local".into()],
        ..Default::default()
    };
    Policy::new(cfg.clone(), TrustStore::from_space(test_space(), cfg)).unwrap()
}

fn user() -> UserContext {
    UserContext {
        account: "jean.dupont@hopital.local".into(),
        mssante_address: "jean.dupont@ght.mssante.fr".into(),
        identity_ids: vec!["acc-id".into(), "id-2".into()],
        aliases: vec![],
    }
}

fn xml_env(inner: &str) -> String {
    format!(
        "<soap:Envelope xmlns:soap=\"http://www.w3.org/2003/05/soap-envelope\"><soap:Header>\
         <context xmlns=\"urn:zimbra\"/></soap:Header><soap:Body>{inner}</soap:Body></soap:Envelope>"
    )
}

fn xml_batch(inner: &str) -> String {
    xml_env(&format!(
        "<BatchRequest xmlns=\"urn:zimbra\" onerror=\"continue\">\
         <GetFolderRequest xmlns=\"urn:zimbraMail\" requestId=\"0\"/>{inner}</BatchRequest>"
    ))
}

fn json_env(name: &str, obj: &str) -> String {
    format!(
        "{{\"Header\":{{\"context\":{{\"_jsns\":\"urn:zimbra\"}}}},\"Body\":{{\"{name}\":{obj}}}}}"
    )
}

fn json_batch(name: &str, obj: &str) -> String {
    format!(
        "{{\"Body\":{{\"BatchRequest\":{{\"_jsns\":\"urn:zimbra\",\"onerror\":\"continue\",\
         \"GetFolderRequest\":[{{\"_jsns\":\"urn:zimbraMail\",\"requestId\":0}}],\"{name}\":[{obj}]}}}}}}"
    )
}

/// A mailbox whose stored items name nobody but the user (as MSSanté sender).
pub(super) struct CleanStore;

impl StoredItems for CleanStore {
    fn get(&self, item: &ItemRef) -> Option<Result<Element, String>> {
        let (resp, name) = match item.kind {
            ItemKind::Message => ("GetMsgResponse", "m"),
            ItemKind::Appointment => ("GetAppointmentResponse", "appt"),
            ItemKind::Task => ("GetTaskResponse", "task"),
        };
        let el = Element::new(NS_MAIL, name).with_child(
            Element::new(NS_MAIL, "e")
                .with_attr("t", "f")
                .with_attr("a", "jean.dupont@ght.mssante.fr"),
        );
        Some(Ok(Element::new(NS_MAIL, resp).with_child(el)))
    }
}

/// Stored items are asked for first, then the decision is made with [`CleanStore`].
fn decide(body: &str) -> Decision {
    let env = Envelope::parse(body.as_bytes())
        .unwrap_or_else(|e| panic!("unreadable test body {body}: {e}"));
    match inspect(&env, &user(), &policy()) {
        Decision::NeedsItems(_) => {
            super::inspect_full(&env, &user(), &policy(), &super::NoUploads, &CleanStore)
        }
        d => d,
    }
}

fn assert_passes(body: &str) {
    match decide(body) {
        Decision::Allow | Decision::Rewrite(_) => {}
        d => panic!("expected to pass, got {d:?} for {body}"),
    }
}

fn assert_denied(body: &str, marker: &str, batch: bool) {
    match decide(body) {
        Decision::Deny(f) => {
            assert!(
                f.reason.contains(marker),
                "reason {:?} lacks {marker:?}",
                f.reason
            );
            assert_eq!(f.reason.contains("BatchRequest"), batch, "{}", f.reason);
        }
        d => panic!("expected a refusal naming {marker}, got {d:?} for {body}"),
    }
}

use super::tests_catalogue_rows::{rows, GOOD, OUT};

fn fill(s: &str) -> String {
    s.replace("GOOD", GOOD).replace("OUT", OUT)
}

fn xml_req(name: &str, ns: &str, inner: &str) -> String {
    // Requests whose fields are attributes get them from the JSON variant in XML too.
    format!(
        "<{name} xmlns=\"{ns}\" requestId=\"1\">{}</{name}>",
        fill(inner)
    )
}

#[test]
fn every_catalogue_row_in_xml_json_and_batch() {
    let rows = rows();
    for (name, ns, ok_xml, bad_xml, ok_json, bad_json, marker) in &rows {
        let marker = fill(marker);
        let ok_json_obj = ok_json.map(|j| {
            fill(
                &j.replacen('{', &format!("{{\"_jsns\":\"{ns}\","), 1)
                    .replace(",}", "}"),
            )
        });
        let bad_json_obj = fill(
            &bad_json
                .replacen('{', &format!("{{\"_jsns\":\"{ns}\","), 1)
                .replace(",}", "}"),
        );
        // XML (rows with attribute-only fields use the JSON forms, see below).
        if !bad_xml.is_empty() {
            if let Some(ok) = ok_xml {
                assert_passes(&xml_env(&xml_req(name, ns, ok)));
                assert_passes(&xml_batch(&xml_req(name, ns, ok)));
            }
            assert_denied(&xml_env(&xml_req(name, ns, bad_xml)), &marker, false);
            assert_denied(&xml_batch(&xml_req(name, ns, bad_xml)), &marker, true);
        }
        if let Some(ok) = &ok_json_obj {
            assert_passes(&json_env(name, ok));
            assert_passes(&json_batch(name, ok));
        }
        assert_denied(&json_env(name, &bad_json_obj), &marker, false);
        assert_denied(&json_batch(name, &bad_json_obj), &marker, true);
    }
}

#[test]
fn attribute_rows_in_xml() {
    for (name, attrs, refused) in [
        ("SendVerificationCodeRequest", "a=\"OUT\"", true),
        ("SendVerificationCodeRequest", "a=\"GOOD\"", false),
        (
            "SetRecoveryAccountRequest",
            "op=\"sendCode\" recoveryAccount=\"OUT\"",
            true,
        ),
        (
            "VerifyCodeRequest",
            "code=\"1\"><a>OUT</a></VerifyCodeRequest><!-- child spelling --",
            true,
        ),
    ] {
        let body = fill(&format!("<{name} xmlns=\"urn:zimbraMail\" {attrs}/>"));
        let body = body.replace("--/>", "-->");
        if refused {
            assert_denied(&xml_env(&body), OUT, false);
        } else {
            assert_passes(&xml_env(&body));
        }
    }
}

#[test]
fn every_inspect_entry_has_a_rule_and_a_catalogue_row() {
    let table = super::requests::RequestTable::builtin();
    let covered: Vec<&str> = rows().iter().map(|r| r.0).collect();
    for (ns, name) in table.names(super::requests::Class::Inspect) {
        assert!(
            super::inspect::rule_for(&ns, &name).is_some(),
            "no rule for {ns} {name}"
        );
        assert!(
            covered.contains(&name.as_str()),
            "no catalogue test for {name}"
        );
    }
}

fn send(inner: &str) -> String {
    xml_env(&format!(
        "<SendMsgRequest xmlns=\"urn:zimbraMail\">{}</SendMsgRequest>",
        fill(inner)
    ))
}

#[test]
fn sender_is_rewritten_with_display_name_kept() {
    let body = send(
        r#"<m><e t="f" a="autre@gmail.com" p="Dr Jean Dupont"/><e t="s" a="x@y.fr"/><e t="t" a="GOOD"/></m>"#,
    );
    let Decision::Rewrite(new) = decide(&body) else {
        panic!("expected a rewrite")
    };
    let m = new.child("m").unwrap();
    let senders: Vec<_> = m
        .children_named("e")
        .filter(|e| matches!(e.attr("t"), Some("f" | "s")))
        .collect();
    assert_eq!(senders.len(), 1);
    assert_eq!(senders[0].attr("a"), Some("jean.dupont@ght.mssante.fr"));
    assert_eq!(senders[0].attr("p"), Some("Dr Jean Dupont"));
    // Already right: unchanged.
    let body = send(r#"<m><e t="f" a="jean.dupont@ght.mssante.fr"/><e t="t" a="GOOD"/></m>"#);
    assert!(matches!(decide(&body), Decision::Allow));
    // Inside a batch the whole body is rewritten.
    let batch = xml_batch(&fill(
        r#"<SendMsgRequest xmlns="urn:zimbraMail" requestId="1"><m><e t="t" a="GOOD"/></m></SendMsgRequest>"#,
    ));
    let Decision::Rewrite(b) = decide(&batch) else {
        panic!("expected a rewrite")
    };
    assert_eq!(b.name, "BatchRequest");
    assert_eq!(b.children.len(), 2);
    let f = b.children[1]
        .child("m")
        .unwrap()
        .children_named("e")
        .find(|e| e.attr("t") == Some("f"))
        .unwrap();
    assert_eq!(f.attr("a"), Some("jean.dupont@ght.mssante.fr"));
}

#[test]
fn send_msg_evasions_are_refused() {
    for (inner, marker) in [
        (r#"<m><e t="t" a="GOOD, OUT"/></m>"#, OUT),
        (r#"<m><e t="t" a="amis: OUT;"/></m>"#, OUT),
        (r#"<m><e t="t"><a>OUT</a></e></m>"#, OUT),
        (r#"<m><e t="t" a="GOOD"><a>OUT</a></e></m>"#, OUT),
        (r#"<m><e t="r" a="OUT"/><e t="t" a="GOOD"/></m>"#, OUT),
        (r#"<m><e t="n" a="OUT"/><e t="t" a="GOOD"/></m>"#, OUT),
        (r#"<m><e t="t" a="GOOD"><t>b</t></e></m>"#, "ambigu"),
        (r#"<m><e t="z" a="OUT"/></m>"#, "inconnu"),
        (r#"<m><e a="OUT"/></m>"#, "sans type"),
        (
            r#"<m idnt="someone-else"><e t="t" a="GOOD"/></m>"#,
            "identité",
        ),
        (r#"<m dsId="9"><e t="t" a="GOOD"/></m>"#, "dsId"),
        (r#"<m><dsId>9</dsId><e t="t" a="GOOD"/></m>"#, "dsId"),
        (
            r#"<m><e t="t" a="GOOD"/><header name="Bcc">OUT</header></m>"#,
            "bcc",
        ),
        (
            r#"<m><e t="t" a="GOOD"/></m><m><e t="t" a="OUT"/></m>"#,
            "unique",
        ),
        (
            r#"<m><e t="t" a="a@medecin.mssante.fr."/></m>"#,
            "medecin.mssante.fr.",
        ),
        (
            r#"<m><e t="t" a="1234@patient.mssante.fr"/></m>"#,
            "1234@patient.mssante.fr",
        ),
    ] {
        assert_denied(&send(inner), &fill(marker), false);
    }
    assert_passes(&send(
        r#"<m idnt="id-2" did="5" sfd="1"><e t="t" a="146026322000196@patient.mssante.fr"/></m>"#,
    ));
    // A draft without autoSendTime can still be sent as stored later: judged now.
    assert_denied(
        &xml_env(&fill(
            r#"<SaveDraftRequest xmlns="urn:zimbraMail"><m><e t="t" a="OUT"/></m></SaveDraftRequest>"#,
        )),
        OUT,
        false,
    );
}

#[test]
fn uploads_are_asked_for_then_checked() {
    let body = send(r#"<m aid="srv:up1"/>"#);
    let env = Envelope::parse(body.as_bytes()).unwrap();
    assert!(
        matches!(inspect(&env, &user(), &policy()), Decision::NeedsUploads(ref v) if v == &["srv:up1"])
    );
    let msg = |to: &'static str| {
        move |aid: &str| {
            (aid == "srv:up1").then(|| UploadInfo {
                size: 100,
                content: Some(bytes::Bytes::from(format!(
                    "From: Jean <jean.dupont@ght.mssante.fr>\r\nTo: {to}\r\nSubject: x\r\n\r\nbody"
                ))),
            })
        }
    };
    assert!(matches!(
        inspect_with(&env, &user(), &policy(), &msg(GOOD)),
        Decision::Allow
    ));
    let d = inspect_with(
        &env,
        &user(),
        &policy(),
        &msg("a@medecin.mssante.fr,\r\n x@gmail.com"),
    );
    assert!(
        matches!(d, Decision::Deny(ref f) if f.code == "mail.SEND_ABORTED_ADDRESS_FAILURE" && f.args[0].value == OUT),
        "{d:?}"
    );
    // Unknown upload once uploads are available: refused, never passed unread.
    let none = |_: &str| None;
    assert!(matches!(
        inspect_with(&env, &user(), &policy(), &none),
        Decision::Deny(_)
    ));
}

#[test]
fn attachment_total_is_limited() {
    let body = send(r#"<m><e t="t" a="GOOD"/><attach aid="u1,u2"/></m>"#);
    let env = Envelope::parse(body.as_bytes()).unwrap();
    let sizes = |s: u64| {
        move |_: &str| {
            Some(UploadInfo {
                size: s,
                content: None,
            })
        }
    };
    assert!(matches!(
        inspect_with(&env, &user(), &policy(), &sizes(7 * 1024 * 1024)),
        Decision::Rewrite(_)
    ));
    let d = inspect_with(&env, &user(), &policy(), &sizes(8 * 1024 * 1024));
    assert!(
        matches!(d, Decision::Deny(ref f) if f.reason.contains("trop volumineuses")),
        "{d:?}"
    );
}

#[test]
fn prefs_rules() {
    let prefs = |inner: &str| {
        xml_env(&fill(&format!(
            "<ModifyPrefsRequest xmlns=\"urn:zimbraAccount\">{inner}</ModifyPrefsRequest>"
        )))
    };
    for (inner, ok) in [
        (
            r#"<pref name="zimbraPrefNewMailNotificationAddress">OUT</pref>"#,
            true,
        ),
        (
            r#"<pref name="zimbraPrefOutOfOfficeReply">absent</pref>"#,
            true,
        ),
        (
            r#"<pref name="zimbraPrefMailForwardingAddress"></pref>"#,
            true,
        ),
        (
            r#"<pref name="ZIMBRAPREFMAILFORWARDINGADDRESS">OUT</pref>"#,
            false,
        ),
        (
            r#"<pref name="zimbraPrefCalendarReminderEmail">OUT</pref>"#,
            false,
        ),
        (r#"<pref name="zimbraPrefReplyToAddress">OUT</pref>"#, false),
        (
            r#"<pref name="zimbraPrefPasswordRecoveryAddress">GOOD</pref>"#,
            false,
        ),
        (r#"<pref name="zimbraPrefFromAddress">OUT</pref>"#, false),
        (
            r#"<pref name="zimbraPrefFromAddress">jean.dupont@ght.mssante.fr</pref>"#,
            true,
        ),
    ] {
        match decide(&prefs(inner)) {
            Decision::Allow => assert!(ok, "{inner} allowed"),
            Decision::Deny(f) => {
                assert!(!ok, "{inner} refused: {}", f.reason);
                assert_eq!(f.code, "service.PERM_DENIED");
            }
            d => panic!("{d:?}"),
        }
    }
}

#[test]
fn unknown_and_admin_requests_are_refused() {
    assert_denied(
        &xml_env(r#"<FrobnicateRequest xmlns="urn:zimbraMail"/>"#),
        "inconnue",
        false,
    );
    assert_denied(
        &xml_env(r#"<SendMsgRequest xmlns="urn:zimbraAdmin"><m/></SendMsgRequest>"#),
        "inconnue",
        false,
    );
    assert_denied(
        &xml_env(
            r#"<ModifyAccountRequest xmlns="urn:zimbraAdmin" id="x"><a n="zimbraMailForwardingAddress">x@gmail.com</a></ModifyAccountRequest>"#,
        ),
        "ModifyAccountRequest",
        false,
    );
    assert_passes(&xml_env(r#"<GetInfoRequest xmlns="urn:zimbraAccount"/>"#));
    assert_passes(&xml_env(&format!(
        r#"<SearchRequest xmlns="{NS_MAIL}"><query>in:inbox</query></SearchRequest>"#
    )));
}

#[test]
fn faults_name_the_refused_addresses_in_french() {
    let Decision::Deny(f) = decide(&send(
        r#"<m><e t="t" a="OUT"/><e t="c" a="y@yahoo.fr"/></m>"#,
    )) else {
        panic!()
    };
    assert_eq!(f.code, "mail.SEND_ABORTED_ADDRESS_FAILURE");
    assert_eq!(
        f.reason,
        "Adresses hors de l'espace de confiance MSSanté : x@gmail.com, y@yahoo.fr"
    );
    let invalid: Vec<_> = f
        .args
        .iter()
        .filter(|a| a.name == "invalid")
        .map(|a| a.value.as_str())
        .collect();
    assert_eq!(invalid, ["x@gmail.com", "y@yahoo.fr"]);
}

#[test]
fn multi_valued_json_prefs_and_request_level_auto_send() {
    let body = json_env(
        "ModifyPrefsRequest",
        &fill(
            r#"{"_jsns":"urn:zimbraAccount","_attrs":{"zimbraPrefMailForwardingAddress":["GOOD","OUT"]}}"#,
        ),
    );
    assert_denied(&body, OUT, false);
    let body = xml_env(&fill(
        r#"<SaveDraftRequest xmlns="urn:zimbraMail" autoSendTime="1900000000000"><m><e t="t" a="OUT"/></m></SaveDraftRequest>"#,
    ));
    assert_denied(&body, OUT, false);
}
