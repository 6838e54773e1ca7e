//! In-process tests of the handlers on Elements built by hand (no reader needed).

use std::sync::Arc;

use crate::soap::{Element, Fault, Format, NS_ACCOUNT, NS_ADMIN, NS_MAIL, NS_ZIMBRA};

use super::call::Call;
use super::data::{SandboxData, FIXTURE_ADMIN_PASSWORD, FIXTURE_PASSWORD};
use super::state::{now_ms, SandboxState, Upload};
use super::{delivery, dispatch, preauth};

const ANTOINE: &str = "antoine.lefevre@esantepdl.mssante.fr";
const ADELE: &str = "adele.alexandre@esantepdl.mssante.fr";

fn state() -> Arc<SandboxState> {
    SandboxState::new(SandboxData::load(None).expect("fixture"))
}

fn call<'a>(state: &'a SandboxState, token: Option<&str>, admin_port: bool) -> Call<'a> {
    Call {
        state,
        format: Format::Soap12,
        admin_port,
        context: None,
        token: token.map(str::to_string),
        csrf_header: None,
        host: "sandbox.test".into(),
        set_cookies: Vec::new(),
        headers: Vec::new(),
    }
}

async fn run(state: &SandboxState, token: Option<&str>, req: Element) -> Result<Element, Fault> {
    dispatch::dispatch(&mut call(state, token, false), &req).await
}

fn auth_request(name: &str, password: &str) -> Element {
    Element::new(NS_ACCOUNT, "AuthRequest")
        .with_child(
            Element::new(NS_ACCOUNT, "account")
                .with_attr("by", "name")
                .with_text(name),
        )
        .with_child(Element::new(NS_ACCOUNT, "password").with_text(password))
}

async fn login(state: &SandboxState, name: &str) -> String {
    let resp = run(state, None, auth_request(name, FIXTURE_PASSWORD))
        .await
        .expect("login");
    resp.child("authToken")
        .expect("authToken")
        .text()
        .to_string()
}

fn e(t: &str, a: &str) -> Element {
    Element::new(NS_MAIL, "e")
        .with_attr("t", t)
        .with_attr("a", a)
}

fn send_request(recipients: &[(&str, &str)], subject: &str) -> Element {
    let mut m = Element::new(NS_MAIL, "m");
    for (t, a) in recipients {
        m = m.with_child(e(t, a));
    }
    m = m
        .with_child(Element::new(NS_MAIL, "su").with_text(subject))
        .with_child(
            Element::new(NS_MAIL, "mp")
                .with_attr("ct", "text/plain")
                .with_child(Element::new(NS_MAIL, "content").with_text("Bonjour")),
        );
    Element::new(NS_MAIL, "SendMsgRequest").with_child(m)
}

#[tokio::test]
async fn password_auth_sets_cookie_and_shapes_response() {
    let st = state();
    let mut c = call(&st, None, false);
    let resp = dispatch::dispatch(&mut c, &auth_request(ANTOINE, FIXTURE_PASSWORD))
        .await
        .unwrap();
    assert!(resp.is(NS_ACCOUNT, "AuthResponse"));
    let token = resp.child("authToken").unwrap();
    assert!(token.list, "authToken is a JSON array");
    assert!(token.text().starts_with("0_"));
    assert!(resp.attrs.iter().any(|a| a.name == "lifetime"));
    assert!(resp.child("skin").is_some());
    assert!(c.set_cookies[0].starts_with(&format!("ZM_AUTH_TOKEN={}", token.text())));

    for (name, pw) in [
        (ANTOINE, "bad"),
        ("nobody@esantepdl.mssante.fr", FIXTURE_PASSWORD),
    ] {
        let f = run(&st, None, auth_request(name, pw)).await.unwrap_err();
        assert_eq!(f.code, "account.AUTH_FAILED");
        assert_eq!(f.reason, format!("authentication failed for [{name}]"));
    }
    // A bare local part gets the default domain.
    assert!(
        run(&st, None, auth_request("antoine.lefevre", FIXTURE_PASSWORD))
            .await
            .is_ok()
    );
}

#[tokio::test]
async fn preauth_auth_request_and_window() {
    let st = state();
    let key = st
        .domain("esantepdl.mssante.fr")
        .unwrap()
        .preauth_key
        .clone();
    let ts = now_ms().to_string();
    let req = |ts: &str, value: &str| {
        Element::new(NS_ACCOUNT, "AuthRequest")
            .with_child(
                Element::new(NS_ACCOUNT, "account")
                    .with_attr("by", "name")
                    .with_text(ANTOINE),
            )
            .with_child(
                Element::new(NS_ACCOUNT, "preauth")
                    .with_attr("timestamp", ts)
                    .with_attr("expires", "0")
                    .with_text(value),
            )
    };
    let good = preauth::compute(&key, ANTOINE, "name", &ts, "0", false);
    assert!(run(&st, None, req(&ts, &good)).await.is_ok());
    let old = (now_ms() - 10 * 60 * 1000).to_string();
    let stale = preauth::compute(&key, ANTOINE, "name", &old, "0", false);
    assert_eq!(
        run(&st, None, req(&old, &stale)).await.unwrap_err().code,
        "account.AUTH_FAILED"
    );
    assert_eq!(
        run(&st, None, req(&ts, "deadbeef")).await.unwrap_err().code,
        "account.AUTH_FAILED"
    );
}

#[tokio::test]
async fn requests_need_a_valid_token() {
    let st = state();
    let info = Element::new(NS_ACCOUNT, "GetInfoRequest");
    assert_eq!(
        run(&st, None, info.clone()).await.unwrap_err().code,
        "service.AUTH_REQUIRED"
    );
    assert_eq!(
        run(&st, Some("0_00_00"), info.clone())
            .await
            .unwrap_err()
            .code,
        "service.AUTH_REQUIRED"
    );
    let token = login(&st, ANTOINE).await;
    let resp = run(&st, Some(&token), info.clone()).await.unwrap();
    assert_eq!(resp.attr("name"), Some(ANTOINE));
    let quota = resp
        .child("attrs")
        .unwrap()
        .kv
        .iter()
        .find(|(k, _)| k == "zimbraMailQuota")
        .cloned();
    assert_eq!(quota.map(|(_, v)| v).as_deref(), Some("524288000"));
    assert_eq!(resp.attr("used"), Some("0"));
    // EndSession ends the token.
    run(
        &st,
        Some(&token),
        Element::new(NS_ACCOUNT, "EndSessionRequest"),
    )
    .await
    .unwrap();
    assert_eq!(
        run(&st, Some(&token), info).await.unwrap_err().code,
        "service.AUTH_EXPIRED"
    );
}

#[tokio::test]
async fn send_delivers_locally_and_records_the_rest() {
    let st = state();
    let token = login(&st, ANTOINE).await;
    let req = send_request(
        &[
            ("t", ADELE),
            ("c", "dr.who@ailleurs.fr"),
            ("b", "x@gmail.com, y@gmail.com"),
        ],
        "Compte rendu",
    );
    let resp = run(&st, Some(&token), req).await.unwrap();
    let saved = resp
        .child("m")
        .and_then(|m| m.attr("id"))
        .expect("Sent copy id");

    let outbox = st.outbox();
    assert_eq!(outbox.len(), 1);
    let entry = &outbox[0];
    assert_eq!(entry.from, ANTOINE);
    assert_eq!(
        entry.external,
        vec!["dr.who@ailleurs.fr", "x@gmail.com", "y@gmail.com"]
    );
    assert_eq!(entry.subject, "Compte rendu");
    assert!(
        !entry.headers.iter().any(|(k, _)| k == "Bcc"),
        "Bcc is not a header"
    );

    let adele = st.account_by_name(ADELE).unwrap().id.clone();
    let store = st.store.lock();
    let inbox: Vec<_> = store.mailboxes[&adele]
        .messages
        .values()
        .filter(|m| m.folder == 2)
        .collect();
    assert_eq!(inbox.len(), 1);
    assert!(inbox[0].unread);
    let me = st.account_by_name(ANTOINE).unwrap().id.clone();
    assert_eq!(
        store.mailboxes[&me].messages[&saved.parse::<u32>().unwrap()].folder,
        5
    );
}

#[tokio::test]
async fn foreign_from_gets_sender_and_upload_attachment_is_used_once() {
    let st = state();
    let token = login(&st, ANTOINE).await;
    let me = st.account_by_name(ANTOINE).unwrap().id.clone();
    st.store.lock().uploads.insert(
        "srv:1".into(),
        Upload {
            owner: me,
            filename: "cr.pdf".into(),
            content_type: "application/pdf".into(),
            data: vec![7; 10],
        },
    );
    let mut req = send_request(
        &[("f", "boss@elsewhere.fr"), ("t", "ext@ailleurs.fr")],
        "PJ",
    );
    req.children[0]
        .children
        .push(Element::new(NS_MAIL, "attach").with_attr("aid", "srv:1"));
    run(&st, Some(&token), req.clone()).await.unwrap();
    let entry = st.outbox().pop().unwrap();
    assert_eq!(entry.from, "boss@elsewhere.fr");
    assert_eq!(entry.sender.as_deref(), Some(ANTOINE));
    assert_eq!(entry.attachments[0].filename, "cr.pdf");
    assert_eq!(
        run(&st, Some(&token), req).await.unwrap_err().code,
        "mail.NO_SUCH_UPLOAD"
    );
}

#[tokio::test]
async fn batch_echoes_request_ids_and_honours_onerror() {
    let st = state();
    let token = login(&st, ANTOINE).await;
    let children = vec![
        Element::new(NS_MAIL, "GetFolderRequest").with_attr("requestId", "0"),
        Element::new(NS_MAIL, "NoSuchRequest").with_attr("requestId", "1"),
        Element::new(NS_ZIMBRA, "BatchRequest").with_attr("requestId", "2"),
        Element::new(NS_ACCOUNT, "GetInfoRequest").with_attr("requestId", "3"),
    ];
    let body = Element::new(NS_ZIMBRA, "BatchRequest").with_children(children.clone());
    let mut c = call(&st, Some(&token), false);
    let entries = dispatch::batch(&mut c, &body).await;
    let summary: Vec<(String, Option<&str>)> = entries
        .iter()
        .map(|e| (e.name.clone(), e.attr("requestId")))
        .collect();
    assert_eq!(
        summary,
        vec![
            ("GetFolderResponse".into(), Some("0")),
            ("Fault".into(), Some("1")),
            ("Fault".into(), Some("2")),
            ("GetInfoResponse".into(), Some("3")),
        ]
    );
    let stop = Element::new(NS_ZIMBRA, "BatchRequest")
        .with_attr("onerror", "stop")
        .with_children(children);
    assert_eq!(dispatch::batch(&mut c, &stop).await.len(), 2);
}

#[tokio::test]
async fn unknown_and_admin_requests() {
    let st = state();
    let f = run(&st, None, Element::new(NS_MAIL, "FrobnicateRequest"))
        .await
        .unwrap_err();
    assert_eq!(f.code, "service.UNKNOWN_DOCUMENT");
    assert_eq!(
        f.reason,
        "unknown document: {urn:zimbraMail}FrobnicateRequest"
    );
    let admin_auth = Element::new(NS_ADMIN, "AuthRequest")
        .with_child(Element::new(NS_ADMIN, "name").with_text("admin@esantepdl.mssante.fr"))
        .with_child(Element::new(NS_ADMIN, "password").with_text(FIXTURE_ADMIN_PASSWORD));
    // Admin requests exist only on the admin port.
    assert_eq!(
        run(&st, None, admin_auth.clone()).await.unwrap_err().code,
        "service.UNKNOWN_DOCUMENT"
    );
    let mut c = call(&st, None, true);
    let resp = dispatch::dispatch(&mut c, &admin_auth).await.unwrap();
    let admin_token = resp.child("authToken").unwrap().text().to_string();
    assert!(c.set_cookies[0].starts_with("ZM_ADMIN_AUTH_TOKEN="));
    let id = st.account_by_name(ADELE).unwrap().id.clone();
    let set = Element::new(NS_ADMIN, "SetPasswordRequest")
        .with_attr("id", id)
        .with_attr("newPassword", "Nouveau-1");
    let user_token = login(&st, ANTOINE).await;
    let f = dispatch::dispatch(&mut call(&st, Some(&user_token), true), &set)
        .await
        .unwrap_err();
    assert_eq!(f.code, "service.PERM_DENIED");
    dispatch::dispatch(&mut call(&st, Some(&admin_token), true), &set)
        .await
        .unwrap();
    assert!(run(&st, None, auth_request(ADELE, "Nouveau-1"))
        .await
        .is_ok());
}

#[tokio::test]
async fn folders_tree_create_grant_and_delete() {
    let st = state();
    let token = login(&st, ANTOINE).await;
    let tree = run(&st, Some(&token), Element::new(NS_MAIL, "GetFolderRequest"))
        .await
        .unwrap();
    let root = tree.child("folder").unwrap();
    assert_eq!(root.attr("id"), Some("1"));
    let ids: Vec<&str> = root
        .children_named("folder")
        .filter_map(|f| f.attr("id"))
        .collect();
    assert_eq!(ids, vec!["2", "3", "4", "5", "6", "7", "10"]);

    let create = Element::new(NS_MAIL, "CreateFolderRequest").with_child(
        Element::new(NS_MAIL, "folder")
            .with_attr("name", "Échanges Patients")
            .with_attr("l", "1"),
    );
    let made = run(&st, Some(&token), create.clone()).await.unwrap();
    let id = made
        .child("folder")
        .unwrap()
        .attr("id")
        .unwrap()
        .to_string();
    assert_eq!(
        run(&st, Some(&token), create).await.unwrap_err().code,
        "mail.ALREADY_EXISTS"
    );

    let grant = Element::new(NS_MAIL, "FolderActionRequest").with_child(
        Element::new(NS_MAIL, "action")
            .with_attr("op", "grant")
            .with_attr("id", id.clone())
            .with_child(
                Element::new(NS_MAIL, "grant")
                    .with_attr("gt", "usr")
                    .with_attr("perm", "r")
                    .with_attr("d", "inconnu@ailleurs.fr"),
            ),
    );
    let resp = run(&st, Some(&token), grant).await.unwrap();
    assert_eq!(
        resp.child("action").unwrap().attr("zid"),
        Some("inconnu@ailleurs.fr")
    );
    let me = st.account_by_name(ANTOINE).unwrap().id.clone();
    let g = st.store.lock().mailboxes[&me].folders[&id.parse().unwrap()].grants[0].clone();
    assert_eq!(g.gt, "guest", "unknown usr becomes guest");

    let delete_inbox = Element::new(NS_MAIL, "FolderActionRequest").with_child(
        Element::new(NS_MAIL, "action")
            .with_attr("op", "delete")
            .with_attr("id", "2"),
    );
    assert_eq!(
        run(&st, Some(&token), delete_inbox).await.unwrap_err().code,
        "mail.IMMUTABLE_OBJECT"
    );
}

#[tokio::test]
async fn prefs_identities_signatures_filters() {
    let st = state();
    let token = login(&st, ANTOINE).await;
    let modify = Element::new(NS_ACCOUNT, "ModifyPrefsRequest").with_kv(
        "pref",
        "name",
        [(
            "+zimbraPrefCalendarForwardInvitesTo".to_string(),
            "a@x.fr".to_string(),
        )],
    );
    run(&st, Some(&token), modify).await.unwrap();
    let prefs = run(
        &st,
        Some(&token),
        Element::new(NS_ACCOUNT, "GetPrefsRequest"),
    )
    .await
    .unwrap();
    assert!(prefs
        .kv
        .contains(&("zimbraPrefCalendarForwardInvitesTo".into(), "a@x.fr".into())));

    let ident = Element::new(NS_ACCOUNT, "CreateIdentityRequest").with_child(
        Element::new(NS_ACCOUNT, "identity")
            .with_attr("name", "alt")
            .with_kv(
                "a",
                "name",
                [("zimbraPrefFromAddress".to_string(), "alt@x.fr".to_string())],
            ),
    );
    let made = run(&st, Some(&token), ident).await.unwrap();
    assert!(made.child("identity").unwrap().attr("id").is_some());
    let all = run(
        &st,
        Some(&token),
        Element::new(NS_ACCOUNT, "GetIdentitiesRequest"),
    )
    .await
    .unwrap();
    assert_eq!(all.children_named("identity").count(), 2);

    let sig = Element::new(NS_ACCOUNT, "CreateSignatureRequest").with_child(
        Element::new(NS_ACCOUNT, "signature")
            .with_attr("name", "pro")
            .with_child(
                Element::new(NS_ACCOUNT, "content")
                    .with_attr("type", "text/plain")
                    .with_text("Dr L."),
            ),
    );
    run(&st, Some(&token), sig).await.unwrap();
    let sigs = run(
        &st,
        Some(&token),
        Element::new(NS_ACCOUNT, "GetSignaturesRequest"),
    )
    .await
    .unwrap();
    assert_eq!(
        sigs.child("signature")
            .unwrap()
            .child("content")
            .unwrap()
            .text(),
        "Dr L."
    );

    let rules = Element::new(NS_MAIL, "filterRules").with_child(
        Element::new(NS_MAIL, "filterRule")
            .with_attr("name", "r1")
            .with_attr("active", "1"),
    );
    let modify =
        Element::new(NS_MAIL, "ModifyOutgoingFilterRulesRequest").with_child(rules.clone());
    run(&st, Some(&token), modify).await.unwrap();
    let got = run(
        &st,
        Some(&token),
        Element::new(NS_MAIL, "GetOutgoingFilterRulesRequest"),
    )
    .await
    .unwrap();
    assert_eq!(got.child("filterRules").unwrap().children, rules.children);
}

#[tokio::test]
async fn draft_with_auto_send_time_leaves_on_its_own() {
    let st = state();
    let token = login(&st, ANTOINE).await;
    let mut m = send_request(&[("t", "later@ailleurs.fr")], "Plus tard")
        .children
        .remove(0);
    m.set_attr("autoSendTime", (now_ms() - 1).to_string());
    let resp = run(
        &st,
        Some(&token),
        Element::new(NS_MAIL, "SaveDraftRequest").with_child(m),
    )
    .await
    .unwrap();
    assert!(resp.child("m").unwrap().attr("autoSendTime").is_some());
    assert!(st.outbox().is_empty());
    delivery::send_due_drafts(&st);
    let entry = st.outbox().pop().expect("sent by the task");
    assert_eq!(entry.via, "SaveDraftRequest autoSendTime");
    assert_eq!(entry.external, vec!["later@ailleurs.fr"]);
}

#[tokio::test]
async fn search_and_get_msg() {
    let st = state();
    let token = login(&st, ANTOINE).await;
    run(
        &st,
        Some(&token),
        send_request(&[("t", ADELE)], "Résultats biologie"),
    )
    .await
    .unwrap();
    let adele = login(&st, ADELE).await;
    let search = Element::new(NS_MAIL, "SearchRequest")
        .with_attr("types", "message")
        .with_attr("query", "in:inbox");
    let found = run(&st, Some(&adele), search).await.unwrap();
    let m = found.child("m").expect("one hit");
    assert_eq!(m.attr("su"), Some("Résultats biologie"));
    let id = m.attr("id").unwrap().to_string();
    let get = Element::new(NS_MAIL, "GetMsgRequest")
        .with_child(Element::new(NS_MAIL, "m").with_attr("id", id));
    let msg = run(&st, Some(&adele), get).await.unwrap();
    let body = msg
        .child("m")
        .unwrap()
        .walk()
        .into_iter()
        .find_map(|e| e.attr("content").map(str::to_string));
    assert_eq!(body.as_deref(), Some("Bonjour"));
}

#[tokio::test]
async fn noop_wait_times_out_and_is_preempted() {
    let st = state();
    let token = login(&st, ANTOINE).await;
    let wait = |ms: &str| {
        Element::new(NS_MAIL, "NoOpRequest")
            .with_attr("wait", "1")
            .with_attr("timeout", ms)
    };
    let quick = run(&st, Some(&token), wait("20")).await.unwrap();
    assert!(quick.attr("waitDisallowed").is_none());

    let st2 = st.clone();
    let t2 = token.clone();
    let first = tokio::spawn(async move { run(&st2, Some(&t2), wait("5000")).await });
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    let second = tokio::spawn({
        let st3 = st.clone();
        let t3 = token.clone();
        async move { run(&st3, Some(&t3), wait("30")).await }
    });
    let first = tokio::time::timeout(std::time::Duration::from_secs(2), first)
        .await
        .expect("preempted")
        .unwrap()
        .unwrap();
    assert_eq!(first.attr("waitDisallowed"), Some("1"));
    assert!(second.await.unwrap().is_ok());
}
