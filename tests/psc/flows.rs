//! Browser flows through the real provider: login page → « s'identifier avec PRO SANTÉ
//! CONNECT » → the provider's identity page on its « wallet » origin → webmail; logout
//! at the gateway (end-session at PSC) and at PSC (back-channel); the mailbox mapping
//! cases; code and state replays. Screenshots go to `target/test-output/psc/<test>/`.

use crate::common::webdriver::Browser;
use crate::common::{self, GatewayProcess};
use crate::provider::{self, OidcProvider};
use crate::stack::{free_port, Stack};
use crate::{begin, come_back, webmail};
use serde_json::json;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

const SECRET: &str = "psc-test-client-secret-0123456789";

struct Shots {
    dir: PathBuf,
    n: u32,
}

impl Shots {
    fn new(test: &str, b: &Browser) -> Shots {
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
            .parent()
            .expect("target dir")
            .join("test-output/psc")
            .join(test);
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("screenshot dir");
        b.set_failure_screenshot(&dir.join("failure.png"));
        Shots { dir, n: 0 }
    }

    async fn take(&mut self, b: &Browser, name: &str) {
        self.n += 1;
        b.screenshot(&self.dir.join(format!("{:02}-{name}.png", self.n)))
            .await;
    }
}

/// Provider with one client for a gateway that will listen on `port`, and the stack.
fn start(
    port: u16,
    client_id: &str,
    client_extra: serde_json::Value,
    psc_extra: &str,
) -> (OidcProvider, Stack) {
    let base = format!("http://127.0.0.1:{port}");
    let op = OidcProvider::start(
        json!([provider::client(&base, client_id, client_extra)]),
        provider::identities(),
    );
    let stack = Stack::start(
        port,
        &format!(
            "discovery_url = \"{}\"\nclient_id = \"{client_id}\"\n{psc_extra}",
            op.discovery_url()
        ),
    );
    (op, stack)
}

async fn wait_url(b: &Browser, what: &str, pred: impl Fn(&str) -> bool) -> String {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let u = b.current_url().await;
        if pred(&u) {
            return u;
        }
        if Instant::now() >= deadline {
            let msg = format!("expected {what}, still at {u}:\n{}", b.body_text().await);
            b.fail(msg).await;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// From the gateway's login page to PSC's identity page, then log in as `sub`.
async fn psc_login(
    b: &Browser,
    gw: &GatewayProcess,
    op: &OidcProvider,
    sub: &str,
    acr: &str,
    shots: &mut Shots,
) {
    b.goto(&gw.url("/")).await;
    b.wait_path("the login page", |p| p.starts_with("/connexion"))
        .await;
    b.wait_text("Veuillez utiliser Pro Santé Connect ou votre prénom.nom")
        .await;
    let src = b.page_source().await;
    let button = src.find("PRO SANTÉ CONNECT").expect("PSC button");
    let form = src.find("name=\"username\"").expect("login form");
    assert!(button < form, "the PSC button comes first");
    if shots.n == 0 {
        shots.take(b, "connexion").await;
    }
    b.click("a.psc").await;
    wait_url(b, "PSC's wallet origin", |u| u.starts_with(&op.wallet)).await;
    b.wait_text("identités de test").await;
    b.click(&format!("input[value=\"{sub}\"]")).await;
    b.script(
        "document.getElementById('acr').value = arguments[0];",
        json!([acr]),
    )
    .await;
    shots.take(b, "psc-identite").await;
    b.click("#psc-login").await;
}

/// Ends the provider's own session (PSC is single sign-on: without this, the next
/// button press comes straight back as the same identity).
async fn provider_logout(b: &Browser, op: &OidcProvider) {
    b.goto(&format!("{}/session/end", op.issuer)).await;
    b.wait_text("Se déconnecter de Pro Santé Connect").await;
    b.click("#psc-logout").await;
    wait_url(b, "the provider's logout success", |u| {
        u.contains("/session/end/success")
    })
    .await;
}

async fn expect_webmail(b: &Browser, gw: &GatewayProcess, account: &str, shots: &mut Shots) {
    wait_url(b, "the webmail", |u| u == gw.url("/")).await;
    let text = b.wait_text("Webmail du bac à sable").await;
    assert!(
        text.contains("Connecté en tant que") && text.contains(account),
        "webmail of {account}:\n{text}"
    );
    shots.take(b, "webmail").await;
}

async fn expect_login_page(b: &Browser, gw: &GatewayProcess) {
    b.goto(&gw.url("/")).await;
    b.wait_path("the login page (session over)", |p| {
        p.starts_with("/connexion")
    })
    .await;
    assert!(!b.body_text().await.contains("Connecté en tant que"));
}

#[tokio::test]
async fn card_login_json_userinfo_then_logout_at_psc_too() {
    let port = free_port();
    let (op, stack) = start(
        port,
        "gw-json",
        json!({"client_secret": SECRET, "token_endpoint_auth_method": "client_secret_basic"}),
        &format!("client_secret = \"{SECRET}\"\nclient_auth = \"client_secret_basic\""),
    );
    let b = Browser::start().await;
    let mut shots = Shots::new("carte_cps_json", &b);
    psc_login(&b, &stack.gw, &op, provider::ANTOINE, "eidas3", &mut shots).await;
    expect_webmail(
        &b,
        &stack.gw,
        "antoine.lefevre@esantepdl.mssante.fr",
        &mut shots,
    )
    .await;
    let logs = stack.wait_log("login.success").await;
    assert!(
        logs.contains("eidas3") && logs.contains("\"userinfo_signed\":false"),
        "{logs}"
    );
    // No second factor was asked and none was set up.
    assert!(!logs.contains("otp"), "an OTP step ran after PSC:\n{logs}");

    // The webmail's logout ends the gateway session, then PSC's (end-session).
    b.goto(&stack.gw.url("/deconnexion")).await;
    let u = wait_url(&b, "PSC's end-session", |u| u.starts_with(&op.issuer)).await;
    assert!(
        u.contains("id_token_hint=") && u.contains("post_logout_redirect_uri="),
        "{u}"
    );
    assert!(u.contains("state="), "{u}");
    b.wait_text("Se déconnecter de Pro Santé Connect").await;
    shots.take(&b, "psc-deconnexion").await;
    b.click("#psc-logout").await;
    b.wait_path("the login page", |p| p.starts_with("/connexion"))
        .await;
    b.wait_text("Vous êtes déconnecté de la messagerie et de Pro Santé Connect")
        .await;
    shots.take(&b, "deconnecte").await;
    expect_login_page(&b, &stack.gw).await;
    // PSC's session is over too: the button leads to the identity page again.
    b.click("a.psc").await;
    wait_url(&b, "PSC's identity page", |u| u.starts_with(&op.wallet)).await;
    b.wait_text("identités de test").await;
}

#[tokio::test]
async fn signed_userinfo_adeli_then_back_channel_logout() {
    let port = free_port();
    let (op, stack) = start(
        port,
        "gw-jwt",
        json!({"client_secret": SECRET, "token_endpoint_auth_method": "client_secret_post",
               "id_token_signed_response_alg": "PS256",
               "userinfo_signed_response_alg": "PS256"}),
        &format!(
            "client_secret = \"{SECRET}\"\nclient_auth = \"client_secret_post\"\n\
             require_signed_userinfo = true"
        ),
    );
    let b = Browser::start().await;
    let mut shots = Shots::new("userinfo_signe_backchannel", &b);
    psc_login(&b, &stack.gw, &op, provider::ADRIEN, "eidas1", &mut shots).await;
    expect_webmail(
        &b,
        &stack.gw,
        "adrien.malosse27@esantepdl.mssante.fr",
        &mut shots,
    )
    .await;
    let logs = stack.wait_log("login.success").await;
    assert!(
        logs.contains("\"userinfo_signed\":true") && logs.contains("adeli"),
        "{logs}"
    );

    // Logout at PSC itself (another application): PSC tells the gateway back-channel.
    b.goto(&format!("{}/session/end", op.issuer)).await;
    b.wait_text("Se déconnecter de Pro Santé Connect").await;
    b.click("#psc-logout").await;
    stack.wait_log("psc_backchannel").await;
    expect_login_page(&b, &stack.gw).await;
    shots.take(&b, "apres-backchannel").await;
    assert!(!op.log().contains("backchannel.error"), "{}", op.log());
}

#[tokio::test]
async fn private_key_jwt_client_authentication() {
    use base64::Engine;
    use ring::signature::{EcdsaKeyPair, KeyPair, ECDSA_P256_SHA256_FIXED_SIGNING};
    let rng = ring::rand::SystemRandom::new();
    let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).unwrap();
    let pair =
        EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref(), &rng).unwrap();
    let p = pair.public_key().as_ref();
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let jwk = json!({"kty": "EC", "crv": "P-256", "kid": "gw-key-1", "use": "sig",
                     "x": b64.encode(&p[1..33]), "y": b64.encode(&p[33..65])});
    let dir = tempfile::tempdir().unwrap();
    let key_file = dir.path().join("client-key.pem");
    std::fs::write(
        &key_file,
        format!(
            "-----BEGIN PRIVATE KEY-----\n{}\n-----END PRIVATE KEY-----\n",
            base64::engine::general_purpose::STANDARD.encode(pkcs8.as_ref())
        ),
    )
    .unwrap();
    let port = free_port();
    let (op, stack) = start(
        port,
        "gw-pkjwt",
        json!({"token_endpoint_auth_method": "private_key_jwt",
               "token_endpoint_auth_signing_alg": "ES256", "jwks": {"keys": [jwk]},
               "id_token_signed_response_alg": "ES256"}),
        &format!(
            "client_auth = \"private_key_jwt\"\nprivate_key_file = \"{}\"\n\
             private_key_alg = \"ES256\"\nprivate_key_id = \"gw-key-1\"",
            key_file.display()
        ),
    );
    let b = Browser::start().await;
    let mut shots = Shots::new("private_key_jwt", &b);
    psc_login(&b, &stack.gw, &op, provider::ANTOINE, "eidas1", &mut shots).await;
    expect_webmail(
        &b,
        &stack.gw,
        "antoine.lefevre@esantepdl.mssante.fr",
        &mut shots,
    )
    .await;
}

#[tokio::test]
async fn hs256_id_token_refused_unless_configured() {
    let port = free_port();
    let client = json!({"client_secret": SECRET, "id_token_signed_response_alg": "HS256"});
    let (op, stack) = start(
        port,
        "gw-hs",
        client.clone(),
        &format!("client_secret = \"{SECRET}\""),
    );
    let b = Browser::start().await;
    let mut shots = Shots::new("hs256", &b);
    psc_login(&b, &stack.gw, &op, provider::ANTOINE, "eidas3", &mut shots).await;
    b.wait_text("n'a pas pu être vérifiée").await;
    shots.take(&b, "refus-hs256").await;
    assert!(b
        .body_text()
        .await
        .contains("Retour à la page de connexion"));
    stack.wait_log("alg_not_allowed").await;
    drop(stack);
    drop(op);

    // The same provider client, with HS* explicitly allowed: accepted.
    let port = free_port();
    let (op, stack) = start(
        port,
        "gw-hs",
        client,
        &format!("client_secret = \"{SECRET}\"\nallow_symmetric_signatures = true"),
    );
    psc_login(&b, &stack.gw, &op, provider::ANTOINE, "eidas3", &mut shots).await;
    expect_webmail(
        &b,
        &stack.gw,
        "antoine.lefevre@esantepdl.mssante.fr",
        &mut shots,
    )
    .await;
}

#[tokio::test]
async fn mailbox_mapping_cases() {
    let port = free_port();
    let (op, stack) = start(
        port,
        "gw-map",
        json!({"client_secret": SECRET}),
        &format!("client_secret = \"{SECRET}\""),
    );
    let b = Browser::start().await;
    let mut shots = Shots::new("boites", &b);

    // At another operator only: no mailbox here.
    psc_login(&b, &stack.gw, &op, provider::UNKNOWN, "eidas3", &mut shots).await;
    b.wait_text("Aucune boîte aux lettres de cette messagerie")
        .await;
    shots.take(&b, "aucune-bal").await;
    stack.wait_log("no_mailbox").await;
    provider_logout(&b, &op).await;

    // An organisational mailbox only.
    psc_login(
        &b,
        &stack.gw,
        &op,
        provider::SECRETARIAT,
        "eidas3",
        &mut shots,
    )
    .await;
    b.wait_text("boîte aux lettres organisationnelle").await;
    shots.take(&b, "bal-organisationnelle").await;
    stack.wait_log("organisational_only").await;
    provider_logout(&b, &op).await;

    // Too low a level chosen at PSC.
    psc_login(&b, &stack.gw, &op, provider::ANTOINE, "eidas0", &mut shots).await;
    b.wait_text("niveau d'authentification").await;
    shots.take(&b, "acr-insuffisant").await;
    stack.wait_log("acr_missing_or_unknown").await;
    provider_logout(&b, &op).await;

    // Two personal mailboxes: the choice page, then the second one.
    psc_login(&b, &stack.gw, &op, provider::CAMILLE, "eidas3", &mut shots).await;
    b.wait_text("Choisissez la boîte aux lettres à ouvrir")
        .await;
    let text = b.body_text().await;
    assert!(
        text.contains("camille.bernard@esantepdl.mssante.fr")
            && text.contains("louis.petit@chu-exemple.mssante.fr"),
        "{text}"
    );
    shots.take(&b, "choix-bal").await;
    b.click("form:nth-of-type(2) button.bal").await;
    expect_webmail(
        &b,
        &stack.gw,
        "louis.petit@chu-exemple.mssante.fr",
        &mut shots,
    )
    .await;
    b.goto(&stack.gw.url("/deconnexion")).await;
    b.click("#psc-logout").await;
    b.wait_path("the login page", |p| p.starts_with("/connexion"))
        .await;

    // An EDIT test identity is never looked up in the annuaire…
    psc_login(&b, &stack.gw, &op, provider::EDIT, "eidas1", &mut shots).await;
    b.wait_text("Aucune boîte aux lettres de cette messagerie")
        .await;
    let logs = stack.wait_log("ANS20231122132732").await;
    assert!(logs.contains("opaque"), "{logs}");
    provider_logout(&b, &op).await;
    // …until the operator links it by hand (users psc-link).
    let cfg = stack.gw.config_path.to_str().unwrap();
    let out = common::run_binary(&[
        "users",
        "psc-link",
        "--config",
        cfg,
        "ANS20231122132732",
        "julien.morel@esantepdl.mssante.fr",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let listed = common::run_binary(&["users", "psc-links", "--config", cfg]);
    assert!(String::from_utf8_lossy(&listed.stdout)
        .contains("ANS20231122132732\tjulien.morel@esantepdl.mssante.fr"));
    psc_login(&b, &stack.gw, &op, provider::EDIT, "eidas1", &mut shots).await;
    expect_webmail(
        &b,
        &stack.gw,
        "julien.morel@esantepdl.mssante.fr",
        &mut shots,
    )
    .await;
    let out = common::run_binary(&["users", "psc-unlink", "--config", cfg, "ANS20231122132732"]);
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("supprimé"));
    let bad = common::run_binary(&[
        "users",
        "psc-link",
        "--config",
        cfg,
        "a b",
        "x@esantepdl.mssante.fr",
    ]);
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("identifiant Pro Santé Connect invalide"));
}

#[tokio::test]
async fn code_and_state_replays_are_refused() {
    // The redirect URI points at a recorder: the test holds the code and the state,
    // then plays the return to the gateway itself, twice, and the code in a new login.
    let (capture, heads) = common::capture_upstream(
        "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok",
    );
    let redirect = format!("http://{capture}/connexion/psc/retour");
    let port = free_port();
    let (op, stack) = start(
        port,
        "gw-replay",
        json!({"client_secret": SECRET, "redirect_uris": [redirect]}),
        &format!("client_secret = \"{SECRET}\"\nredirect_uri = \"{redirect}\""),
    );
    let b = Browser::start().await;
    let mut shots = Shots::new("rejeu", &b);
    psc_login(&b, &stack.gw, &op, provider::ANTOINE, "eidas3", &mut shots).await;
    let head = heads
        .recv_timeout(Duration::from_secs(15))
        .expect("the browser came back to the recorder");
    let target = head.split_whitespace().nth(1).expect("request target");
    let query = target.split_once('?').expect("query").1.to_string();
    let code = url::form_urlencoded::parse(query.as_bytes())
        .find(|(k, _)| k == "code")
        .map(|(_, v)| v.into_owned())
        .expect("code on the return");
    // The browser-binding cookie the gateway set (cookies ignore ports: the
    // recorder's origin sees it too).
    let binding = b
        .cookies()
        .await
        .into_iter()
        .find(|c| c.name == "mssante_psc")
        .expect("browser-binding cookie");
    assert!(binding.http_only && binding.same_site == "Lax");
    let cookie = format!("mssante_psc={}", binding.value);

    let first = come_back(&stack.gw, &query, &cookie).await;
    assert_eq!(first.status, 303, "{}", first.body);
    let session = first.session.expect("session");
    assert_eq!(webmail(&stack.gw, &session).await.0, 200);
    // The same return again: the state is spent.
    let again = come_back(&stack.gw, &query, &cookie).await;
    assert_eq!(again.status, 400);
    assert!(again.session.is_none());
    stack.wait_log("state_unknown_or_replayed").await;
    // The code in a fresh login of its own: PSC refuses it (single use).
    let fresh = begin(&stack.gw).await;
    let replay = come_back(
        &stack.gw,
        &format!("code={code}&state={}", fresh.state()),
        &fresh.cookie,
    )
    .await;
    assert_eq!(replay.status, 400, "{}", replay.body);
    assert!(replay.body.contains("code déjà utilisé ou expiré"));
    assert!(replay.session.is_none());
    stack.wait_log("code_refused").await;
}
