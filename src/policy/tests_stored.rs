//! Stored items (issue 9, class 3) through `inspect`: asked for, then judged on what
//! the store holds, in XML, JSON and inside a batch; unreadable items refused.

use super::config::PolicyConfig;
use super::stored::{ItemKind, ItemRef, StoredItems};
use super::trust::test_space;
use super::{inspect, inspect_full, Decision, NoUploads, Policy, TrustStore, UserContext};
use crate::soap::{Element, Envelope, NS_MAIL};
use std::collections::HashMap;

const OUT: &str = "x@gmail.com";
const GOOD: &str = "a@medecin.mssante.fr";
const ME: &str = "jean.dupont@ght.mssante.fr";

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
        mssante_address: ME.into(),
        identity_ids: vec!["acc-id".into()],
        aliases: vec![],
    }
}

/// A mailbox: item → store answer (or the store's refusal).
struct Mailbox(HashMap<ItemRef, Result<Element, String>>);

impl StoredItems for Mailbox {
    fn get(&self, item: &ItemRef) -> Option<Result<Element, String>> {
        self.0.get(item).cloned()
    }
}

fn e(t: &str, a: &str) -> Element {
    Element::new(NS_MAIL, "e")
        .with_attr("t", t)
        .with_attr("a", a)
}

fn header(n: &str, v: &str) -> Element {
    Element::new(NS_MAIL, "header")
        .with_attr("n", n)
        .with_text(v)
}

fn msg(id: &str, children: Vec<Element>) -> (ItemRef, Result<Element, String>) {
    let m = Element::new(NS_MAIL, "m")
        .with_attr("id", id)
        .with_children(children);
    (
        ItemRef {
            kind: ItemKind::Message,
            id: id.into(),
        },
        Ok(Element::new(NS_MAIL, "GetMsgResponse").with_child(m)),
    )
}

fn appt(id: &str, organizer: &str, attendees: &[&str]) -> (ItemRef, Result<Element, String>) {
    let mut comp = Element::new(NS_MAIL, "comp")
        .with_child(Element::new(NS_MAIL, "or").with_attr("a", organizer));
    for a in attendees {
        comp = comp.with_child(Element::new(NS_MAIL, "at").with_attr("a", *a));
    }
    let el = Element::new(NS_MAIL, "appt")
        .with_attr("id", id)
        .with_child(Element::new(NS_MAIL, "inv").with_child(comp));
    (
        ItemRef {
            kind: ItemKind::Appointment,
            id: id.into(),
        },
        Ok(Element::new(NS_MAIL, "GetAppointmentResponse").with_child(el)),
    )
}

fn mailbox() -> Mailbox {
    Mailbox(HashMap::from([
        // Drafts: one to the outside (Bcc only in the stored headers), one inside.
        msg("300", vec![e("f", ME), e("t", GOOD), header("Bcc", OUT)]),
        msg("301", vec![e("f", ME), e("t", GOOD), header("To", GOOD)]),
        // A draft whose stored author is not the MSSanté address.
        msg(
            "302",
            vec![e("f", "jean.dupont@hopital.local"), e("t", GOOD)],
        ),
        // Messages asking for a read receipt.
        msg(
            "310",
            vec![e("f", GOOD), header("Disposition-Notification-To", OUT)],
        ),
        msg("311", vec![e("f", GOOD), e("n", GOOD)]),
        // An invite message and calendar items.
        msg(
            "320",
            vec![Element::new(NS_MAIL, "inv").with_child(
                Element::new(NS_MAIL, "comp")
                    .with_child(Element::new(NS_MAIL, "or").with_attr("a", OUT)),
            )],
        ),
        appt("257", ME, &[GOOD, OUT]),
        appt("260", ME, &[GOOD, "jean.dupont@hopital.local"]),
        appt("270", OUT, &[ME]),
        (
            ItemRef {
                kind: ItemKind::Message,
                id: "999".into(),
            },
            Err("no such message (mail.NO_SUCH_MSG)".into()),
        ),
    ]))
}

/// Asks `inspect` (it must ask for the items), then decides with the mailbox.
fn decide(body: &str) -> Decision {
    let env = Envelope::parse(body.as_bytes()).unwrap_or_else(|e| panic!("{body}: {e}"));
    match inspect(&env, &user(), &policy()) {
        Decision::NeedsItems(items) => {
            assert!(!items.is_empty());
            inspect_full(&env, &user(), &policy(), &NoUploads, &mailbox())
        }
        d => d,
    }
}

fn xml(inner: &str) -> String {
    format!(
        "<soap:Envelope xmlns:soap=\"http://www.w3.org/2003/05/soap-envelope\"><soap:Body>{inner}</soap:Body></soap:Envelope>"
    )
}

fn json(name: &str, obj: &str) -> String {
    format!("{{\"Body\":{{\"{name}\":{{\"_jsns\":\"urn:zimbraMail\",{obj}}}}}}}")
}

fn json_batch(name: &str, obj: &str) -> String {
    format!(
        "{{\"Body\":{{\"BatchRequest\":{{\"_jsns\":\"urn:zimbra\",\"GetFolderRequest\":[{{\"_jsns\":\"urn:zimbraMail\"}}],\"{name}\":[{{\"_jsns\":\"urn:zimbraMail\",{obj}}}]}}}}}}"
    )
}

fn refused(d: Decision, marker: &str) {
    match d {
        Decision::Deny(f) => assert!(f.reason.contains(marker), "{marker:?} not in {}", f.reason),
        d => panic!("expected a refusal naming {marker}, got {d:?}"),
    }
}

fn allowed(d: Decision) {
    assert!(matches!(d, Decision::Allow | Decision::Rewrite(_)), "{d:?}");
}

/// (request, XML attributes and children, JSON members, verdict marker or "" = allowed)
const CASES: &[(&str, &str, &str, &str)] = &[
    (
        "SendMsgRequest",
        r#"<m did="300" sfd="1"/>"#,
        r#""m":{"did":"300","sfd":"1"}"#,
        OUT,
    ),
    (
        "SendMsgRequest",
        r#"<m did="301" sfd="1"><e t="t" a="a@medecin.mssante.fr"/></m>"#,
        r#""m":{"did":"301","sfd":true}"#,
        "",
    ),
    (
        "SendMsgRequest",
        r#"<m did="302" sfd="1"/>"#,
        r#""m":{"did":"302","sfd":"1"}"#,
        "expéditeur du brouillon",
    ),
    (
        "SendMsgRequest",
        r#"<m did="999" sfd="1"/>"#,
        r#""m":{"did":"999","sfd":"1"}"#,
        "NO_SUCH_MSG",
    ),
    (
        "SendSecureMsgRequest",
        r#"<m did="300" sfd="1"/>"#,
        r#""m":{"did":"300","sfd":"1"}"#,
        OUT,
    ),
    (
        "SendDeliveryReportRequest",
        r#"<mid>310</mid>"#,
        r#""mid":"310""#,
        OUT,
    ),
    (
        "SendDeliveryReportRequest",
        r#"<mid>311</mid>"#,
        r#""mid":311"#,
        "",
    ),
    (
        "SendInviteReplyRequest",
        r#"<id>320</id><verb>ACCEPT</verb>"#,
        r#""id":"320","compNum":"0","verb":"ACCEPT""#,
        OUT,
    ),
    (
        "CancelAppointmentRequest",
        r#"<id>257-258</id><comp>0</comp>"#,
        r#""id":"257-258","comp":"0""#,
        OUT,
    ),
    (
        "CancelAppointmentRequest",
        r#"<id>260-261</id><comp>0</comp>"#,
        r#""id":"260-261","comp":"0""#,
        "",
    ),
    (
        "ModifyAppointmentRequest",
        r#"<id>257-258</id><m><inv><comp><at a="a@medecin.mssante.fr"/></comp></inv></m>"#,
        r#""id":"257-258","m":{"inv":{"comp":[{"at":[{"a":"a@medecin.mssante.fr"}]}]}}"#,
        OUT,
    ),
    (
        "AnnounceOrganizerChangeRequest",
        r#"<id>257</id>"#,
        r#""id":"257""#,
        OUT,
    ),
    (
        "CounterAppointmentRequest",
        r#"<id>270-271</id><m><e t="t" a="a@medecin.mssante.fr"/></m>"#,
        r#""id":"270-271","m":{"e":[{"t":"t","a":"a@medecin.mssante.fr"}]}"#,
        OUT,
    ),
    (
        "ForwardAppointmentRequest",
        r#"<id>270-271</id><m><e t="t" a="a@medecin.mssante.fr"/></m>"#,
        r#""id":"270-271","m":{"e":[{"t":"t","a":"a@medecin.mssante.fr"}]}"#,
        OUT,
    ),
    (
        "ForwardAppointmentInviteRequest",
        r#"<id>320</id><m><e t="t" a="a@medecin.mssante.fr"/></m>"#,
        r#""id":"320","m":{"e":[{"t":"t","a":"a@medecin.mssante.fr"}]}"#,
        OUT,
    ),
];

#[test]
fn stored_addresses_decide_in_xml_json_and_batch() {
    for (name, xml_inner, json_obj, marker) in CASES {
        let x = xml(&format!(
            "<{name} xmlns=\"urn:zimbraMail\">{xml_inner}</{name}>"
        ));
        let xb = xml(&format!(
            "<BatchRequest xmlns=\"urn:zimbra\"><GetFolderRequest xmlns=\"urn:zimbraMail\"/><{name} xmlns=\"urn:zimbraMail\" requestId=\"2\">{xml_inner}</{name}></BatchRequest>"
        ));
        for body in [x, xb, json(name, json_obj), json_batch(name, json_obj)] {
            if marker.is_empty() {
                allowed(decide(&body));
            } else {
                refused(decide(&body), marker);
            }
        }
    }
}

#[test]
fn nothing_is_read_when_nothing_stored_is_mailed() {
    for body in [
        xml(
            r#"<SendInviteReplyRequest xmlns="urn:zimbraMail" id="320" verb="ACCEPT" updateOrganizer="0"/>"#,
        ),
        xml(
            r#"<SendMsgRequest xmlns="urn:zimbraMail"><m did="300"><e t="t" a="a@medecin.mssante.fr"/></m></SendMsgRequest>"#,
        ),
        xml(
            r#"<CounterAppointmentRequest xmlns="urn:zimbraMail"><m><e t="t" a="a@medecin.mssante.fr"/></m></CounterAppointmentRequest>"#,
        ),
    ] {
        let env = Envelope::parse(body.as_bytes()).unwrap();
        allowed(inspect(&env, &user(), &policy()));
    }
}

#[test]
fn items_the_store_did_not_show_are_refused() {
    // Looked up, but absent from the answers: refused, never forwarded unread.
    let body = xml(r#"<SendDeliveryReportRequest xmlns="urn:zimbraMail" mid="404"/>"#);
    let env = Envelope::parse(body.as_bytes()).unwrap();
    refused(
        inspect_full(&env, &user(), &policy(), &NoUploads, &mailbox()),
        "non vérifiable",
    );
}

#[test]
fn a_batch_cannot_change_then_send_a_stored_item() {
    let body = xml(&format!(
        "<BatchRequest xmlns=\"urn:zimbra\"><SaveDraftRequest xmlns=\"urn:zimbraMail\"><m id=\"301\"><e t=\"t\" a=\"{GOOD}\"/></m></SaveDraftRequest><SendMsgRequest xmlns=\"urn:zimbraMail\"><m did=\"301\" sfd=\"1\"/></SendMsgRequest></BatchRequest>"
    ));
    refused(decide(&body), "modifier puis envoyer");
    // Several cancels in one batch (deleting several appointments) are fine.
    let body = xml(
        "<BatchRequest xmlns=\"urn:zimbra\"><CancelAppointmentRequest xmlns=\"urn:zimbraMail\" id=\"260-261\" comp=\"0\"/><CancelAppointmentRequest xmlns=\"urn:zimbraMail\" id=\"260-261\" comp=\"0\"/></BatchRequest>",
    );
    allowed(decide(&body));
    // Reads before the send are fine.
    let body = xml(
        "<BatchRequest xmlns=\"urn:zimbra\"><GetMsgRequest xmlns=\"urn:zimbraMail\"><m id=\"301\"/></GetMsgRequest><SendMsgRequest xmlns=\"urn:zimbraMail\"><m did=\"301\" sfd=\"1\"/></SendMsgRequest></BatchRequest>",
    );
    allowed(decide(&body));
}

#[test]
fn every_stored_send_is_an_inspect_entry() {
    // A `pass` entry would skip the identity lookup the item read needs.
    let table = super::requests::RequestTable::builtin();
    for name in super::stored::stored_send_requests() {
        assert_eq!(
            table.class(NS_MAIL, name),
            Some(super::requests::Class::Inspect),
            "{name}"
        );
    }
}

#[test]
fn calendar_end_times_are_not_addresses() {
    // Issue 9, class 9: `comp/e` is the end time, `dtval/e` a recurrence date.
    let body = xml(&format!(
        "<CreateAppointmentRequest xmlns=\"urn:zimbraMail\"><m l=\"10\"><e t=\"t\" a=\"{GOOD}\"/><su>Réunion</su><inv><comp name=\"Réunion\" loc=\"Salle 2\"><s d=\"20250101T100000\" tz=\"Europe/Paris\"/><e d=\"20250101T110000\" tz=\"Europe/Paris\"/><or a=\"{ME}\"/><at a=\"{GOOD}\" role=\"REQ\" ptst=\"NE\"/><recur><add><dates><dtval><s d=\"20250108T100000Z\"/><e d=\"20250108T110000Z\"/></dtval></dates></add></recur></comp></inv><mp ct=\"text/plain\"><content>ordre du jour</content></mp></m></CreateAppointmentRequest>"
    ));
    allowed(decide(&body));
    let body = json(
        "CreateAppointmentRequest",
        r#""m":{"l":"10","inv":{"comp":[{"name":"R","s":[{"d":"20250101"}],"e":[{"d":"20250101"}],"or":{"a":"jean.dupont@ght.mssante.fr"}}]},"mp":[{"ct":"text/plain","content":"x"}]}"#,
    );
    allowed(decide(&body));
    // An address outside where the schema puts one is still refused.
    let body = xml(&format!(
        "<CreateAppointmentRequest xmlns=\"urn:zimbraMail\"><m><inv><comp><e d=\"20250101\"/><at a=\"{OUT}\"/></comp></inv></m></CreateAppointmentRequest>"
    ));
    refused(decide(&body), OUT);
}
