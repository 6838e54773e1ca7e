//! Tokens and returns a real provider would not produce, each refused with a French
//! page and an audit event naming the reason; a correct token through the same path
//! opens the mailbox (so each refusal has teeth).

use crate::common;
use crate::forge::{self, Forge, Key, Planted};
use crate::stack::{free_port, Stack};
use crate::{begin, come_back, webmail, Begun};
use serde_json::{json, Value};

const CLIENT: &str = "gw-forge";
const SECRET: &str = "forge-client-secret-0123456789abcdef";
const SUB: &str = "f:550dc1c8-d97b-4b1e-ac8c-8eb4471cf9dd:810100000001";

fn psc_config(forge: &Forge, extra: &str) -> String {
    format!(
        "discovery_url = \"{}\"\nclient_id = \"{CLIENT}\"\nclient_secret = \"{SECRET}\"\n{extra}",
        forge.discovery_url()
    )
}

fn id_claims(forge: &Forge, b: &Begun) -> Value {
    let now = common::unix_now();
    json!({"iss": forge.base, "aud": CLIENT, "azp": CLIENT, "sub": SUB, "exp": now + 120,
           "iat": now, "auth_time": now, "nonce": b.nonce(), "acr": "eidas3", "sid": "psc-sid-1",
           "typ": "ID", "idp": "PSC", "amr": ["card"]})
}

fn userinfo(sub: &str) -> Value {
    json!({"sub": sub, "SubjectNameID": "810100000001", "preferred_username": "810100000001",
           "given_name": "ANTOINE", "family_name": "LEFEVRE", "email_verified": false,
           "otherIds": [{"identifiant": "810100000001", "origine": "RPPS", "qualite": 1}],
           "SubjectRefPro": {"exercices": [{"codeProfession": "10"}]}, "UnknownClaim": {"x": 1}})
}

fn json_userinfo(sub: &str) -> (&'static str, String) {
    ("application/json", userinfo(sub).to_string())
}

/// One login through the forge: `plant` decides the tokens for this begun flow.
async fn attempt(
    stack: &Stack,
    forge: &Forge,
    code: &str,
    plant: impl FnOnce(&Begun) -> Planted,
) -> crate::Returned {
    let b = begin(&stack.gw).await;
    forge.plant(code, plant(&b));
    come_back(
        &stack.gw,
        &format!("code={code}&state={}", b.state()),
        &b.cookie,
    )
    .await
}

fn planted(id_token: String, ui: (&'static str, String)) -> Planted {
    Planted {
        id_token,
        userinfo_type: ui.0,
        userinfo: ui.1,
    }
}

async fn assert_opens(stack: &Stack, r: &crate::Returned, what: &str) -> String {
    assert_eq!(r.status, 303, "{what}: {}", r.body);
    assert_eq!(r.location.as_deref(), Some("/"), "{what}");
    let session = r
        .session
        .clone()
        .unwrap_or_else(|| panic!("{what}: no session"));
    let (status, page) = webmail(&stack.gw, &session).await;
    assert_eq!(status, 200, "{what}: {page}");
    assert!(
        page.contains("antoine.lefevre@esantepdl.mssante.fr"),
        "{what}: webmail of the mapped account:\n{page}"
    );
    session
}

async fn assert_refused(stack: &Stack, r: &crate::Returned, status: u16, text: &str, reason: &str) {
    assert_eq!(r.status, status, "{reason}: {}", r.body);
    assert!(r.session.is_none(), "{reason}: a session was opened");
    assert!(
        r.body.contains(text),
        "{reason}: page lacks {text:?}:\n{}",
        r.body
    );
    assert!(
        r.body.contains("href=\"/connexion\""),
        "{reason}: no way back to the login page"
    );
    assert!(!r.body.to_lowercase().contains("panicked"), "{reason}");
    stack.wait_log(reason).await;
}

#[tokio::test]
async fn forged_tokens_are_refused() {
    let key = Key::new("forge-1");
    let forge = Forge::start(&[&key]);
    let stack = Stack::start(free_port(), &psc_config(&forge, ""));

    // Positive control: ES256 ID token, JSON UserInfo with unknown claims.
    let r = attempt(&stack, &forge, "ok-1", |b| {
        planted(key.sign(&id_claims(&forge, b)), json_userinfo(SUB))
    })
    .await;
    assert_opens(&stack, &r, "good token").await;
    let logs = stack.wait_log("login.success").await;
    assert!(logs.contains("psc"), "{logs}");

    let unverified = "pas pu être vérifiée";
    type Mutate = Box<dyn Fn(&mut Value)>;
    let claim_cases: Vec<(&str, Mutate, &str)> = vec![
        (
            "c-iss",
            Box::new(|c| c["iss"] = json!("https://auth.evil.example/realms/x")),
            "wrong_issuer",
        ),
        (
            "c-aud",
            Box::new(|c| c["aud"] = json!("another-client")),
            "wrong_audience",
        ),
        (
            "c-azp",
            Box::new(|c| {
                c["aud"] = json!([CLIENT, "other"]);
                c["azp"] = json!("other");
            }),
            "wrong_azp",
        ),
        (
            "c-exp",
            Box::new(|c| c["exp"] = json!(common::unix_now() - 600)),
            "expired_token",
        ),
        (
            "c-iat",
            Box::new(|c| c["iat"] = json!(common::unix_now() + 3600)),
            "token_from_future",
        ),
    ];
    for (code, mutate, reason) in claim_cases {
        let r = attempt(&stack, &forge, code, |b| {
            let mut c = id_claims(&forge, b);
            mutate(&mut c);
            planted(key.sign(&c), json_userinfo(SUB))
        })
        .await;
        assert_refused(&stack, &r, 403, unverified, reason).await;
    }

    // Signatures: tampered, unsigned, HS256 with the client secret (not configured),
    // a key the provider does not publish (even after refetching its keys).
    let r = attempt(&stack, &forge, "s-bad", |b| {
        planted(
            forge::tampered(&key.sign(&id_claims(&forge, b))),
            json_userinfo(SUB),
        )
    })
    .await;
    assert_refused(&stack, &r, 403, unverified, "bad_signature").await;
    let r = attempt(&stack, &forge, "s-none", |b| {
        planted(forge::unsigned(&id_claims(&forge, b)), json_userinfo(SUB))
    })
    .await;
    assert_refused(&stack, &r, 403, unverified, "alg_none").await;
    let r = attempt(&stack, &forge, "s-hs", |b| {
        planted(
            forge::hs256(SECRET, &id_claims(&forge, b)),
            json_userinfo(SUB),
        )
    })
    .await;
    assert_refused(&stack, &r, 403, unverified, "alg_not_allowed").await;
    let stranger = Key::new("not-published");
    let r = attempt(&stack, &forge, "s-kid", |b| {
        planted(stranger.sign(&id_claims(&forge, b)), json_userinfo(SUB))
    })
    .await;
    assert_refused(&stack, &r, 403, unverified, "unknown_key").await;
    // Key rotation: a new kid, once published, is fetched and accepted.
    let rotated = Key::new("forge-2");
    forge.publish(&rotated);
    tokio::time::sleep(std::time::Duration::from_secs(11)).await; // past the refetch floor
    let r = attempt(&stack, &forge, "s-rot", |b| {
        planted(rotated.sign(&id_claims(&forge, b)), json_userinfo(SUB))
    })
    .await;
    assert_opens(&stack, &r, "rotated key").await;

    // acr: missing, and a value that is not an eIDAS level (PSC's mock advertises "0").
    for (code, acr) in [("a-none", None), ("a-zero", Some("0"))] {
        let r = attempt(&stack, &forge, code, |b| {
            let mut c = id_claims(&forge, b);
            match acr {
                Some(a) => c["acr"] = json!(a),
                None => {
                    c.as_object_mut().unwrap().remove("acr");
                }
            }
            planted(key.sign(&c), json_userinfo(SUB))
        })
        .await;
        assert_refused(
            &stack,
            &r,
            403,
            "niveau d'authentification",
            "acr_missing_or_unknown",
        )
        .await;
    }

    // Nonce replay: the ID token of an earlier login presented in a new one.
    let first = begin(&stack.gw).await;
    let old_token = key.sign(&id_claims(&forge, &first));
    let r = attempt(&stack, &forge, "n-replay", |_| {
        planted(old_token.clone(), json_userinfo(SUB))
    })
    .await;
    assert_refused(&stack, &r, 403, unverified, "nonce_mismatch").await;

    // UserInfo: another subject; signed with an unpublished key; signed ES256 (accepted).
    let r = attempt(&stack, &forge, "u-sub", |b| {
        planted(
            key.sign(&id_claims(&forge, b)),
            json_userinfo("f:someone-else"),
        )
    })
    .await;
    assert_refused(&stack, &r, 403, "incomplètes", "userinfo_sub_mismatch").await;
    let r = attempt(&stack, &forge, "u-key", |b| {
        let mut ui = userinfo(SUB);
        ui["iss"] = json!(forge.base);
        ui["aud"] = json!(CLIENT);
        planted(
            key.sign(&id_claims(&forge, b)),
            ("application/jwt", stranger.sign(&ui)),
        )
    })
    .await;
    assert_refused(&stack, &r, 403, unverified, "unknown_key").await;
    let r = attempt(&stack, &forge, "u-jwt", |b| {
        let mut ui = userinfo(SUB);
        ui["iss"] = json!(forge.base);
        ui["aud"] = json!(CLIENT);
        planted(
            key.sign(&id_claims(&forge, b)),
            ("application/jwt; charset=utf-8", key.sign(&ui)),
        )
    })
    .await;
    assert_opens(&stack, &r, "ES256-signed UserInfo").await;
    let r = attempt(&stack, &forge, "u-none", |b| {
        let ui = userinfo(SUB);
        planted(
            key.sign(&id_claims(&forge, b)),
            ("application/jwt", forge::unsigned(&ui)),
        )
    })
    .await;
    assert_refused(&stack, &r, 403, unverified, "alg_none").await;
    let r = attempt(&stack, &forge, "u-html", |b| {
        planted(key.sign(&id_claims(&forge, b)), ("text/html", "<p>".into()))
    })
    .await;
    assert_refused(&stack, &r, 403, "incomplètes", "userinfo_refused").await;
    let r = attempt(&stack, &forge, "u-noid", |b| {
        let mut ui = userinfo(SUB);
        ui.as_object_mut().unwrap().remove("SubjectNameID");
        ui["email"] = json!("antoine.lefevre@esantepdl.mssante.fr");
        planted(
            key.sign(&id_claims(&forge, b)),
            ("application/json", ui.to_string()),
        )
    })
    .await;
    assert_refused(&stack, &r, 403, "incomplètes", "missing_claim").await;

    let logs = stack.logs();
    assert!(
        !logs.contains(SECRET),
        "the client secret leaked into the logs"
    );
    assert!(!logs.contains("code=ok-1"), "a code leaked into the logs");
}

#[tokio::test]
async fn returns_and_flows_are_checked() {
    let key = Key::new("forge-1");
    let forge = Forge::start(&[&key]);
    let stack = Stack::start(free_port(), &psc_config(&forge, "flow_timeout_secs = 2"));
    let good = |b: &Begun| planted(key.sign(&id_claims(&forge, b)), json_userinfo(SUB));
    let again = "Cette réponse de Pro Santé Connect ne correspond à aucune connexion";

    // The authorization request says what PSC expects.
    let b = begin(&stack.gw).await;
    assert!(b.location.starts_with(&format!("{}/auth?", forge.base)));
    assert_eq!(
        b.params["scope"], "openid scope_all",
        "openid once, then scope_all"
    );
    assert_eq!(b.params["acr_values"], "eidas1");
    assert_eq!(b.params["response_type"], "code");
    assert_eq!(b.params["code_challenge_method"], "S256");
    assert_eq!(b.params["client_id"], CLIENT);
    assert!(b.params["nonce"].len() >= 22 && b.params["state"].len() >= 22);
    assert_eq!(
        b.params["redirect_uri"],
        stack.gw.url("/connexion/psc/retour")
    );

    // State never issued; then a state issued to another browser (no or other cookie).
    let r = come_back(&stack.gw, "code=x&state=forged-state-value", &b.cookie).await;
    assert_refused(&stack, &r, 400, again, "state_unknown_or_replayed").await;
    forge.plant("st-1", good(&b));
    let other = begin(&stack.gw).await;
    let r = come_back(
        &stack.gw,
        &format!("code=st-1&state={}", b.state()),
        &other.cookie,
    )
    .await;
    assert_refused(&stack, &r, 400, again, "state_other_browser").await;
    // …and the state is spent: the right browser cannot use it afterwards either.
    let r = come_back(
        &stack.gw,
        &format!("code=st-1&state={}", b.state()),
        &b.cookie,
    )
    .await;
    assert_refused(&stack, &r, 400, again, "state_unknown_or_replayed").await;

    // State replay after a successful login; the code itself was single-use at PSC too.
    let b = begin(&stack.gw).await;
    forge.plant("st-2", good(&b));
    let q = format!("code=st-2&state={}", b.state());
    let r = come_back(&stack.gw, &q, &b.cookie).await;
    assert_opens(&stack, &r, "first return").await;
    let r = come_back(&stack.gw, &q, &b.cookie).await;
    assert_refused(&stack, &r, 400, again, "state_unknown_or_replayed").await;

    // The user cancels at PSC.
    let b = begin(&stack.gw).await;
    let r = come_back(
        &stack.gw,
        &format!("error=access_denied&state={}", b.state()),
        &b.cookie,
    )
    .await;
    assert_refused(&stack, &r, 403, "a été annulée", "access_denied").await;

    // A code the provider does not know (replayed or expired there).
    let b = begin(&stack.gw).await;
    let r = come_back(
        &stack.gw,
        &format!("code=never-issued&state={}", b.state()),
        &b.cookie,
    )
    .await;
    assert_refused(
        &stack,
        &r,
        400,
        "code déjà utilisé ou expiré",
        "code_refused",
    )
    .await;

    // Flow expired (flow_timeout_secs = 2).
    let b = begin(&stack.gw).await;
    forge.plant("st-3", good(&b));
    tokio::time::sleep(std::time::Duration::from_millis(3200)).await;
    let r = come_back(
        &stack.gw,
        &format!("code=st-3&state={}", b.state()),
        &b.cookie,
    )
    .await;
    assert_refused(&stack, &r, 400, "a expiré", "flow_expired").await;
}

#[tokio::test]
async fn card_level_required_and_psc_unreachable() {
    let key = Key::new("forge-1");
    let forge = Forge::start(&[&key]);
    let stack = Stack::start(free_port(), &psc_config(&forge, "acr_values = \"eidas3\""));
    let b = begin(&stack.gw).await;
    assert_eq!(b.params["acr_values"], "eidas3");
    forge.plant("e1", {
        let mut c = id_claims(&forge, &b);
        c["acr"] = json!("eidas1");
        planted(key.sign(&c), json_userinfo(SUB))
    });
    let r = come_back(
        &stack.gw,
        &format!("code=e1&state={}", b.state()),
        &b.cookie,
    )
    .await;
    assert_refused(&stack, &r, 403, "carte CPS", "acr_too_low").await;

    // PSC down: the button answers a French page, nothing else happens.
    let dead = format!("http://127.0.0.1:{}", free_port());
    let down = Stack::start(
        free_port(),
        &format!(
            "discovery_url = \"{dead}/.well-known/wallet-openid-configuration\"\n\
             client_id = \"{CLIENT}\"\nclient_secret = \"{SECRET}\"\nhttp_timeout_secs = 2"
        ),
    );
    let r = common::client()
        .get(down.gw.url("/connexion/psc"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 503);
    let page = r.text().await.unwrap();
    assert!(page.contains("momentanément injoignable"), "{page}");
    down.wait_log("psc_unreachable").await;
}

#[tokio::test]
async fn back_channel_logout_tokens_are_checked() {
    let key = Key::new("forge-1");
    let forge = Forge::start(&[&key]);
    let stack = Stack::start(free_port(), &psc_config(&forge, ""));
    let r = attempt(&stack, &forge, "bc-1", |b| {
        planted(key.sign(&id_claims(&forge, b)), json_userinfo(SUB))
    })
    .await;
    let session = assert_opens(&stack, &r, "login before logout").await;
    let post = |token: String| {
        let url = stack.gw.url("/connexion/psc/deconnexion");
        async move {
            common::client()
                .post(url)
                .header("content-type", "application/x-www-form-urlencoded")
                .body(serde_urlencoded::to_string([("logout_token", token)]).unwrap())
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    };
    let now = common::unix_now();
    let logout = json!({"iss": forge.base, "aud": CLIENT, "iat": now, "exp": now + 120,
        "jti": "jti-1", "sid": "psc-sid-1", "sub": SUB,
        "events": {"http://schemas.openid.net/event/backchannel-logout": {}}});
    let bad: Vec<(&str, Value)> = vec![
        ("logout_token_nonce", {
            let mut t = logout.clone();
            t["nonce"] = json!("n");
            t
        }),
        ("wrong_audience", {
            let mut t = logout.clone();
            t["aud"] = json!("other");
            t
        }),
        ("not_a_logout_token", {
            let mut t = logout.clone();
            t.as_object_mut().unwrap().remove("events");
            t
        }),
        ("wrong_issuer", {
            let mut t = logout.clone();
            t["iss"] = json!("https://evil.example");
            t
        }),
        ("logout_token_stale", {
            let mut t = logout.clone();
            t["iat"] = json!(now - 7200);
            t.as_object_mut().unwrap().remove("exp");
            t
        }),
    ];
    for (reason, t) in bad {
        assert_eq!(post(key.sign(&t)).await, 400, "{reason}");
        stack.wait_log(reason).await;
        assert_eq!(
            webmail(&stack.gw, &session).await.0,
            200,
            "{reason}: session ended"
        );
    }
    assert_eq!(post(forge::tampered(&key.sign(&logout))).await, 400);
    assert_eq!(post(forge::unsigned(&logout)).await, 400);
    assert_eq!(webmail(&stack.gw, &session).await.0, 200);

    // The real one ends the session (and its store token); its replay is refused.
    let good = key.sign(&logout);
    assert_eq!(post(good.clone()).await, 200);
    let (status, _) = webmail(&stack.gw, &session).await;
    assert_eq!(status, 302, "the session survived the back-channel logout");
    assert_eq!(post(good).await, 400);
    stack.wait_log("logout_token_replayed").await;
    let logs = stack.wait_log("psc_backchannel").await;
    assert!(
        logs.contains("antoine.lefevre@esantepdl.mssante.fr"),
        "{logs}"
    );
}
