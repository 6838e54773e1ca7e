//! Sessions, second factor and the portal (A1-A10) through the real binary, in front
//! of the sandbox store, with a real SMTP server (aiosmtpd) for emailed codes and
//! links. Run alone with `cargo test --test auth`. The browser flows are in
//! `tests/browser.rs`.

mod common;

use common::smtp::SmtpSink;
use common::*;
use std::time::{Duration, Instant};

const ALICE: &str = "antoine.lefevre@esantepdl.mssante.fr";
const BOB: &str = "adrien.malosse27@esantepdl.mssante.fr";
const CAROL: &str = "adele.alexandre@esantepdl.mssante.fr";

// ---------------------------------------------------------------- SOAP helpers

fn auth_password(user: &str, password: &str) -> String {
    format!(
        r#"{{"Body":{{"AuthRequest":{{"_jsns":"urn:zimbraAccount","account":{{"by":"name","_content":"{user}"}},"password":{{"_content":"{password}"}}}}}}}}"#
    )
}

fn auth_code(stage: &str, code: &str) -> String {
    format!(
        r#"{{"Body":{{"AuthRequest":{{"_jsns":"urn:zimbraAccount","authToken":{{"_content":"{stage}"}},"twoFactorCode":{{"_content":"{code}"}}}}}}}}"#
    )
}

fn with_token(token: &str, body: &str) -> String {
    format!(
        r#"{{"Header":{{"context":{{"_jsns":"urn:zimbra","authToken":{{"_content":"{token}"}}}}}},"Body":{body}}}"#
    )
}

const GET_INFO: &str = r#"{"GetInfoRequest":{"_jsns":"urn:zimbraAccount","sections":"mbox"}}"#;
const NOOP: &str = r#"{"NoOpRequest":{"_jsns":"urn:zimbraMail"}}"#;

fn fault_code(v: &serde_json::Value) -> String {
    json_text(&v["Body"]["Fault"]["Detail"]["Error"]["Code"]).unwrap_or_default()
}

/// A store token straight from the sandbox (what an attacker who stole one holds).
async fn store_token(sb: &SandboxProcess, user: &str) -> String {
    let (s, v) = soap_json(
        &sb.url("/service/soap"),
        &auth_password(user, SANDBOX_PASSWORD),
    )
    .await;
    assert_eq!(s, 200, "{v}");
    json_text(&v["Body"]["AuthResponse"]["authToken"]).expect("store token")
}

/// The account name GetInfo reports with `token` in the SOAP header (None: refused).
async fn whoami(gw: &GatewayProcess, token: &str) -> Result<String, String> {
    let (_, v) = soap_json(&gw.url("/service/soap"), &with_token(token, GET_INFO)).await;
    json_text(&v["Body"]["GetInfoResponse"]["name"]).ok_or_else(|| fault_code(&v))
}

/// Password step of a SOAP login: the stage token.
async fn password_step(gw: &GatewayProcess, user: &str) -> String {
    let (s, v) = soap_json(
        &gw.url("/service/soap"),
        &auth_password(user, SANDBOX_PASSWORD),
    )
    .await;
    assert_eq!(s, 200, "{v}");
    let r = &v["Body"]["AuthResponse"];
    assert_eq!(
        json_text(&r["twoFactorAuthRequired"]).as_deref(),
        Some("true")
    );
    json_text(&r["authToken"]).expect("stage token")
}

/// The next TOTP code not yet used: waits for a fresh 30 s step when needed.
async fn fresh_code(secret: &str, used: &mut Vec<String>) -> String {
    loop {
        let c = totp_at(secret, unix_now());
        if !used.contains(&c) {
            used.push(c.clone());
            return c;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

// ---------------------------------------------------------------- SOAP clients (A8)

#[tokio::test]
async fn soap_login_is_two_steps_and_never_shows_the_store_token() {
    let sb = start_sandbox();
    let gw = start_gateway(&sb.url(""), "");
    let (enrolled, secret) = soap_enrol(&gw, ALICE).await;
    let mut used = vec![totp_at(&secret, unix_now())];
    assert_eq!(whoami(&gw, &enrolled).await.as_deref(), Ok(ALICE));

    // Step 1 answers a stage token, which opens nothing by itself.
    let stage = password_step(&gw, ALICE).await;
    assert_eq!(
        whoami(&gw, &stage).await,
        Err("service.AUTH_REQUIRED".into())
    );
    // A wrong code keeps the door shut.
    let (_, v) = soap_json(&gw.url("/service/soap"), &auth_code(&stage, "000000")).await;
    assert!(fault_code(&v).starts_with("account."), "{v}");
    // Step 2: the gateway's token, not the store's.
    let code = fresh_code(&secret, &mut used).await;
    let (s, v) = soap_json(&gw.url("/service/soap"), &auth_code(&stage, &code)).await;
    assert_eq!(s, 200, "{v}");
    let token = json_text(&v["Body"]["AuthResponse"]["authToken"]).expect("token");
    assert_eq!(whoami(&gw, &token).await.as_deref(), Ok(ALICE));
    // The store does not know that token: it is only a gateway session id.
    let (_, direct) = soap_json(&sb.url("/service/soap"), &with_token(&token, GET_INFO)).await;
    assert!(fault_code(&direct).contains("AUTH"), "{direct}");
    // Replays: the stage token is single-use, and so is the TOTP step.
    let (_, v) = soap_json(&gw.url("/service/soap"), &auth_code(&stage, &code)).await;
    assert_eq!(fault_code(&v), "service.AUTH_EXPIRED", "{v}");
    let stage2 = password_step(&gw, ALICE).await;
    let (_, v) = soap_json(&gw.url("/service/soap"), &auth_code(&stage2, &code)).await;
    assert!(
        fault_code(&v).starts_with("account."),
        "replayed TOTP accepted: {v}"
    );

    // XML clients get the same protocol.
    let xml = format!(
        r#"<soap:Envelope xmlns:soap="http://www.w3.org/2003/05/soap-envelope"><soap:Body><AuthRequest xmlns="urn:zimbraAccount"><account by="name">{ALICE}</account><password>{SANDBOX_PASSWORD}</password></AuthRequest></soap:Body></soap:Envelope>"#
    );
    let r = client()
        .post(gw.url("/service/soap"))
        .header("Content-Type", "application/soap+xml")
        .body(xml)
        .send()
        .await
        .unwrap();
    let text = r.text().await.unwrap();
    assert!(
        text.contains("<twoFactorAuthRequired>true</twoFactorAuthRequired>"),
        "{text}"
    );
    // Checking a held token the Zimbra way (AuthRequest with authToken only).
    let check = format!(
        r#"{{"Body":{{"AuthRequest":{{"_jsns":"urn:zimbraAccount","authToken":{{"_content":"{token}"}}}}}}}}"#
    );
    let (s, v) = soap_json(&gw.url("/service/soap"), &check).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(
        json_text(&v["Body"]["AuthResponse"]["authToken"]).as_deref(),
        Some(token.as_str())
    );
}

#[tokio::test]
async fn client_sent_store_tokens_are_ignored_everywhere() {
    let sb = start_sandbox();
    let gw = start_gateway(&sb.url(""), "");
    let stolen = store_token(&sb, BOB).await;
    let before = sb.received().await;
    // SOAP header, ZM_AUTH_TOKEN cookie, zauthtoken query, Basic auth: no session.
    assert_eq!(
        whoami(&gw, &stolen).await,
        Err("service.AUTH_REQUIRED".into())
    );
    let r = client()
        .post(gw.url("/service/soap"))
        .header("Cookie", format!("ZM_AUTH_TOKEN={stolen}"))
        .header("Content-Type", "application/json")
        .body(format!(r#"{{"Body":{GET_INFO}}}"#))
        .send()
        .await
        .unwrap();
    let v: serde_json::Value = r.json().await.unwrap();
    assert_eq!(fault_code(&v), "service.AUTH_REQUIRED", "{v}");
    for target in [
        format!("/home/{BOB}/inbox?fmt=json&zauthtoken={stolen}"),
        format!("/service/home/~/inbox?auth=qp&zauthtoken={stolen}"),
    ] {
        let r = client().get(gw.url(&target)).send().await.unwrap();
        assert_eq!(r.status().as_u16(), 401, "{target}");
    }
    let r = client()
        .get(gw.url("/"))
        .basic_auth(BOB, Some(SANDBOX_PASSWORD))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 401);
    assert_eq!(
        sb.received().await,
        before,
        "an unauthenticated request reached the store"
    );

    // With a real session, a second (stolen) token in the header does not switch user.
    let mine = gateway_token(&gw, ALICE).await;
    let both = format!(
        r#"{{"Header":{{"context":{{"_jsns":"urn:zimbra","authToken":{{"_content":"{stolen}"}}}}}},"Body":{GET_INFO}}}"#
    );
    let r = client()
        .post(gw.url("/service/soap"))
        .header("Cookie", format!("ZM_AUTH_TOKEN={mine}"))
        .header("Content-Type", "application/json")
        .body(both)
        .send()
        .await
        .unwrap();
    let v: serde_json::Value = r.json().await.unwrap();
    assert_eq!(
        json_text(&v["Body"]["GetInfoResponse"]["name"]).as_deref(),
        Some(ALICE),
        "{v}"
    );
    // Tampered session ids are just unknown.
    let mut tampered = mine.clone();
    let last = tampered.pop().unwrap();
    tampered.push(if last == 'A' { 'B' } else { 'A' });
    assert_eq!(
        whoami(&gw, &tampered).await,
        Err("service.AUTH_REQUIRED".into())
    );
}

#[tokio::test]
async fn logout_ends_the_gateway_and_the_store_sessions() {
    let sb = start_sandbox();
    let gw = start_gateway(&sb.url(""), "");
    let token = gateway_token(&gw, ALICE).await;
    assert!(whoami(&gw, &token).await.is_ok());
    let end = with_token(
        &token,
        r#"{"EndSessionRequest":{"_jsns":"urn:zimbraAccount","logoff":"1"}}"#,
    );
    let (s, v) = soap_json(&gw.url("/service/soap"), &end).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(
        whoami(&gw, &token).await,
        Err("service.AUTH_REQUIRED".into())
    );
    // The webmail's own logout link goes to the portal's logout.
    let r = client()
        .get(gw.url("/?loginOp=logout"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 302);
    assert_eq!(r.headers()["location"], "/deconnexion");
}

#[tokio::test]
async fn credentials_requests_are_refused_inside_a_batch() {
    let sb = start_sandbox();
    let gw = start_gateway(&sb.url(""), "");
    let token = gateway_token(&gw, ALICE).await;
    let batch = with_token(
        &token,
        &format!(
            r#"{{"BatchRequest":{{"_jsns":"urn:zimbra","NoOpRequest":[{{"_jsns":"urn:zimbraMail","requestId":"1"}}],"AuthRequest":[{{"_jsns":"urn:zimbraAccount","requestId":"2","account":{{"by":"name","_content":"{BOB}"}},"password":{{"_content":"{SANDBOX_PASSWORD}"}}}}]}}}}"#
        ),
    );
    let (_, v) = soap_json(&gw.url("/service/soap"), &batch).await;
    assert_eq!(fault_code(&v), "service.INVALID_REQUEST", "{v}");
    // Preauth from a client would skip the second factor.
    let pre = format!(
        r#"{{"Body":{{"AuthRequest":{{"_jsns":"urn:zimbraAccount","account":{{"by":"name","_content":"{BOB}"}},"preauth":{{"timestamp":"1","expires":"0","_content":"00"}}}}}}}}"#
    );
    let (_, v) = soap_json(&gw.url("/service/soap"), &pre).await;
    assert_eq!(fault_code(&v), "service.PERM_DENIED", "{v}");
    // Turning the mandatory second factor off is refused.
    let off = with_token(
        &token,
        r#"{"DisableTwoFactorAuthRequest":{"_jsns":"urn:zimbraAccount"}}"#,
    );
    let (_, v) = soap_json(&gw.url("/service/soap"), &off).await;
    assert_eq!(fault_code(&v), "service.PERM_DENIED", "{v}");
}

#[tokio::test]
async fn soap_password_change_keeps_the_session_and_hides_the_new_store_token() {
    let sb = start_sandbox();
    let gw = start_gateway(&sb.url(""), "");
    let token = gateway_token(&gw, CAROL).await;
    let new_password = "Nouveau-Mot-2026!";
    let change = with_token(
        &token,
        &format!(
            r#"{{"ChangePasswordRequest":{{"_jsns":"urn:zimbraAccount","account":{{"by":"name","_content":"{CAROL}"}},"oldPassword":{{"_content":"{SANDBOX_PASSWORD}"}},"password":{{"_content":"{new_password}"}}}}}}"#
        ),
    );
    let (s, v) = soap_json(&gw.url("/service/soap"), &change).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(
        json_text(&v["Body"]["ChangePasswordResponse"]["authToken"]).as_deref(),
        Some(token.as_str())
    );
    // The session goes on with the store's new token.
    assert_eq!(whoami(&gw, &token).await.as_deref(), Ok(CAROL));
    // The store now takes the new password only.
    let (_, v) = soap_json(
        &sb.url("/service/soap"),
        &auth_password(CAROL, new_password),
    )
    .await;
    assert!(
        json_text(&v["Body"]["AuthResponse"]["authToken"]).is_some(),
        "{v}"
    );
}

// ---------------------------------------------------------------- regulation (A9)

#[tokio::test]
async fn repeated_failures_ban_the_account_and_answers_stay_uniform() {
    let sb = start_sandbox();
    let gw = start_gateway(
        &sb.url(""),
        "[auth.regulation]\nfailure_min_delay_ms = 300\nmax_retries = 3\nban_time_secs = 60\n\
         address_max_failures = 4\n",
    );
    let url = gw.url("/service/soap");
    let mut wrong = Vec::new();
    for _ in 0..3 {
        let started = Instant::now();
        let (_, v) = soap_json(&url, &auth_password(BOB, "mauvais")).await;
        wrong.push(started.elapsed());
        assert_eq!(fault_code(&v), "account.AUTH_FAILED", "{v}");
    }
    // Banned now from this address (the pair account + address: the owner elsewhere is
    // not, see tests/security/identity.rs): even the right password fails, same fault.
    let (_, v) = soap_json(&url, &auth_password(BOB, SANDBOX_PASSWORD)).await;
    assert_eq!(fault_code(&v), "account.AUTH_FAILED", "{v}");
    // Unknown accounts answer the same way, after the same minimum delay.
    let started = Instant::now();
    let (_, v) = soap_json(&url, &auth_password("inconnu@esantepdl.mssante.fr", "x")).await;
    let unknown = started.elapsed();
    assert_eq!(fault_code(&v), "account.AUTH_FAILED", "{v}");
    for d in wrong.iter().chain([&unknown]) {
        assert!(
            *d >= Duration::from_millis(300),
            "failure answered early: {d:?}"
        );
    }
    // Four failures from one address, whatever the accounts (address_max_failures = 4
    // here, 20 by default): the address is banned, another account from it is refused.
    let (_, v) = soap_json(&url, &auth_password(ALICE, SANDBOX_PASSWORD)).await;
    assert_eq!(fault_code(&v), "account.AUTH_FAILED", "{v}");
}

// ---------------------------------------------------------------- portal (A1, A5-A7)

/// A cookie-keeping browser-like client (no redirects followed).
struct Web {
    gw: String,
    jar: Vec<(String, String)>,
}

impl Web {
    fn new(gw: &GatewayProcess) -> Web {
        Web {
            gw: gw.url(""),
            jar: Vec::new(),
        }
    }

    fn cookie_header(&self) -> String {
        self.jar
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    fn keep(&mut self, r: &reqwest::Response) {
        for v in r.headers().get_all("set-cookie") {
            let text = v.to_str().unwrap();
            let pair = text.split(';').next().unwrap();
            let (k, val) = pair.split_once('=').unwrap();
            self.jar.retain(|(n, _)| n != k);
            if !val.is_empty() && !text.contains("Max-Age=0") {
                self.jar.push((k.to_string(), val.to_string()));
            }
        }
    }

    fn session(&self) -> Option<String> {
        self.jar
            .iter()
            .find(|(k, _)| k == "mssante_session")
            .map(|(_, v)| v.clone())
    }

    async fn get(&mut self, path: &str) -> (u16, String, String) {
        let r = client()
            .get(format!("{}{path}", self.gw))
            .header("Cookie", self.cookie_header())
            .header("Accept", "text/html,application/xhtml+xml")
            .header("Sec-Fetch-Mode", "navigate")
            .send()
            .await
            .unwrap();
        self.keep(&r);
        let loc = location(&r);
        (r.status().as_u16(), loc, r.text().await.unwrap())
    }

    async fn post(&mut self, path: &str, form: &[(&str, &str)]) -> (u16, String, String) {
        let r = client()
            .post(format!("{}{path}", self.gw))
            .header("Cookie", self.cookie_header())
            .header("Content-Type", "application/x-www-form-urlencoded")
            .body(serde_urlencoded::to_string(form).unwrap())
            .send()
            .await
            .unwrap();
        self.keep(&r);
        let loc = location(&r);
        (r.status().as_u16(), loc, r.text().await.unwrap())
    }
}

fn location(r: &reqwest::Response) -> String {
    r.headers()
        .get("location")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default()
}

/// The value of the hidden field `name` in a page.
fn hidden(page: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    let i = page
        .find(&marker)
        .unwrap_or_else(|| panic!("no {name} in {page}"))
        + marker.len();
    page[i..].split('"').next().unwrap().to_string()
}

fn secret_on(page: &str) -> String {
    let i = page.find("<p class=\"secret\">").expect("secret shown") + 18;
    page[i..].split('<').next().unwrap().to_string()
}

/// Portal login up to the password: returns where the gateway sends the browser.
async fn portal_password(web: &mut Web, user: &str, password: &str, retour: &str) -> String {
    let (s, _, page) = web.get(&format!("/connexion?retour={retour}")).await;
    assert_eq!(s, 200);
    let csrf = hidden(&page, "csrf");
    let return_to = hidden(&page, "return_to");
    let (s, loc, body) = web
        .post(
            "/connexion",
            &[
                ("csrf", csrf.as_str()),
                ("username", user),
                ("password", password),
                ("return_to", return_to.as_str()),
            ],
        )
        .await;
    assert!(s == 303 || s == 302 || s == 401, "{s} {body}");
    loc
}

/// First connection in the portal with the application channel: returns the secret.
async fn portal_first_login_totp(web: &mut Web, user: &str, retour: &str) -> (String, String) {
    let loc = portal_password(web, user, SANDBOX_PASSWORD, retour).await;
    assert_eq!(loc, "/otp/parametrage");
    let before_setup = web.session().expect("pending session");
    let (_, _, page) = web.get("/otp/parametrage").await;
    let csrf = hidden(&page, "csrf");
    let (s, _, page) = web
        .post(
            "/otp/parametrage",
            &[
                ("csrf", csrf.as_str()),
                ("email", "contact.perso@example.org"),
                ("channel", "totp"),
            ],
        )
        .await;
    assert_eq!(s, 200, "{page}");
    let secret = secret_on(&page);
    let csrf = hidden(&page, "csrf");
    let code = totp_at(&secret, unix_now());
    let (s, _, page) = web
        .post(
            "/otp/test",
            &[("csrf", csrf.as_str()), ("code", code.as_str())],
        )
        .await;
    assert_eq!(s, 200, "{page}");
    assert!(page.contains("codes de secours"), "{page}");
    let full = web.session().expect("full session");
    assert_ne!(
        full, before_setup,
        "session id not renewed after the factor"
    );
    (secret, code)
}

#[tokio::test]
async fn portal_login_otp_return_path_fixation_and_logout() {
    let sb = start_sandbox();
    let gw = start_gateway(&sb.url(""), "");
    let mut web = Web::new(&gw);
    // Unauthenticated navigation goes to the portal and remembers where it was going
    // (a web client page: the HTML client `/h/` is closed by default, 403).
    let (s, loc, _) = web.get("/public/search?q=1").await;
    assert_eq!(
        (s, loc.as_str()),
        (302, "/connexion?retour=%2Fpublic%2Fsearch%3Fq%3D1")
    );

    // Fixation: a session id planted before login is never the one after.
    web.jar.push(("mssante_session".into(), "A".repeat(43)));
    let (secret, first_code) = portal_first_login_totp(&mut web, ALICE, "%2F").await;
    assert_ne!(web.session().unwrap(), "A".repeat(43));
    // The webmail through the gateway, with the store's page.
    let (s, _, page) = web.get("/").await;
    assert_eq!(s, 200);
    assert!(
        page.contains("id=\"account\""),
        "store did not see the session: {page}"
    );
    assert!(page.contains(ALICE), "{page}");

    // Logout ends it; the old cookie no longer opens anything.
    let old = web.session().unwrap();
    let (s, loc, _) = web.get("/deconnexion").await;
    assert_eq!((s, loc.as_str()), (303, "/connexion"));
    assert!(web.session().is_none());
    web.jar.push(("mssante_session".into(), old));
    let (s, _, _) = web.get("/").await;
    assert_eq!(s, 302, "a logged-out session still works");
    web.jar.clear();

    // Second login: password, then the OTP page; the used step is refused (replay).
    let loc = portal_password(&mut web, ALICE, SANDBOX_PASSWORD, "%2Fpublic%2Fsearch").await;
    assert_eq!(loc, "/otp");
    let (_, _, page) = web.get("/otp").await;
    let csrf = hidden(&page, "csrf");
    let (s, _, _) = web
        .post(
            "/otp",
            &[("csrf", csrf.as_str()), ("code", first_code.as_str())],
        )
        .await;
    assert_eq!(s, 401, "a used TOTP step was accepted");
    let mut used = vec![first_code];
    let code = fresh_code(&secret, &mut used).await;
    let (s, loc, _) = web
        .post("/otp", &[("csrf", csrf.as_str()), ("code", code.as_str())])
        .await;
    assert_eq!(s, 303);
    assert_eq!(loc, "/public/search", "return path lost");
}

#[tokio::test]
async fn portal_forms_refuse_missing_or_foreign_csrf_tokens() {
    let sb = start_sandbox();
    let gw = start_gateway(&sb.url(""), "");
    let mut web = Web::new(&gw);
    let (_, _, page) = web.get("/connexion").await;
    let good = hidden(&page, "csrf");
    // No token, a made-up token, and a valid token without its cookie.
    for csrf in ["", "forged"] {
        let (s, _, _) = web
            .post(
                "/connexion",
                &[
                    ("csrf", csrf),
                    ("username", ALICE),
                    ("password", SANDBOX_PASSWORD),
                ],
            )
            .await;
        assert_eq!(s, 403, "login accepted csrf {csrf:?}");
    }
    let mut other = Web::new(&gw);
    let (s, _, _) = other
        .post(
            "/connexion",
            &[
                ("csrf", good.as_str()),
                ("username", ALICE),
                ("password", SANDBOX_PASSWORD),
            ],
        )
        .await;
    assert_eq!(s, 403, "a token without its cookie was accepted");
    let (s, _, _) = web
        .post(
            "/mot-de-passe-oublie",
            &[
                ("csrf", "forged"),
                ("username", ALICE),
                ("email", "x@example.org"),
            ],
        )
        .await;
    assert_eq!(s, 403);
    // Forms behind a session need that session's own token.
    let mut alice = Web::new(&gw);
    portal_first_login_totp(&mut alice, ALICE, "%2F").await;
    for path in [
        "/profil/email",
        "/profil/mot-de-passe",
        "/deconnexion/partout",
    ] {
        let (s, _, _) = alice
            .post(path, &[("csrf", good.as_str()), ("email", "y@example.org")])
            .await;
        assert_eq!(s, 403, "{path} accepted a foreign token");
    }
    assert!(
        alice.session().is_some(),
        "a refused form ended the session"
    );
}

#[tokio::test]
async fn open_redirects_are_refused() {
    let sb = start_sandbox();
    let gw = start_gateway(&sb.url(""), "");
    for (i, evil) in [
        "https%3A%2F%2Fevil.example%2F",
        "%2F%2Fevil.example",
        "%2F%5Cevil.example",
        "javascript%3Aalert(1)",
    ]
    .iter()
    .enumerate()
    {
        let mut web = Web::new(&gw);
        let (_, _, page) = web.get(&format!("/connexion?retour={evil}")).await;
        assert!(!page.contains("evil.example"), "{evil} echoed in the form");
        // Log in fully (a different account each time: one enrolment per account).
        let user = [ALICE, BOB, CAROL, "sophie.martin@chu-exemple.mssante.fr"][i];
        portal_first_login_totp(&mut web, user, evil).await;
        let (_, _, page) = web.get("/").await;
        assert!(!page.contains("evil.example"));
    }
}

#[tokio::test]
async fn reset_link_is_single_use_expires_and_does_not_tell_who_exists() {
    let smtp = SmtpSink::start();
    let sb = start_sandbox();
    let gw = start_gateway(
        &sb.url(""),
        &format!(
            "{}[auth.operator]\npublic_url = \"http://127.0.0.1\"\n\
             [auth.regulation]\nreset_per_10min = 50\n",
            smtp.gateway_config()
        ),
    );
    // The contact address comes from a finished set-up.
    let mut web = Web::new(&gw);
    portal_first_login_totp(&mut web, BOB, "%2F").await;
    let contact = "contact.perso@example.org";

    // Same answer for a match, a wrong email and an unknown user.
    let mut answers = Vec::new();
    for (user, email) in [
        (BOB, contact),
        (BOB, "autre@example.org"),
        ("personne@esantepdl.mssante.fr", contact),
    ] {
        let mut w = Web::new(&gw);
        let (_, _, page) = w.get("/mot-de-passe-oublie").await;
        let csrf = hidden(&page, "csrf");
        let started = Instant::now();
        let (s, _, page) = w
            .post(
                "/mot-de-passe-oublie",
                &[
                    ("csrf", csrf.as_str()),
                    ("username", user),
                    ("email", email),
                ],
            )
            .await;
        answers.push((s, page, started.elapsed()));
    }
    assert_eq!(answers[0].0, answers[1].0);
    assert_eq!(answers[0].0, answers[2].0);
    // Pages differ only by their fresh CSRF token.
    let masked: Vec<String> = answers
        .iter()
        .map(|(_, p, _)| p.replace(&hidden(p, "csrf"), "CSRF"))
        .collect();
    assert_eq!(masked[0], masked[1], "answers differ for a wrong email");
    assert_eq!(masked[0], masked[2], "answers differ for an unknown user");
    // Similar timing: every answer waits for the same minimum delay.
    let slowest = answers.iter().map(|a| a.2).max().unwrap();
    let fastest = answers.iter().map(|a| a.2).min().unwrap();
    assert!(
        slowest - fastest < Duration::from_millis(400),
        "timing tells accounts apart: {:?}",
        answers.iter().map(|a| a.2).collect::<Vec<_>>()
    );

    let body = smtp
        .wait_for(
            contact,
            |b| b.contains("nouveau-mot-de-passe"),
            Duration::from_secs(10),
        )
        .await;
    let link = common::smtp::extract_link(&body, "/nouveau-mot-de-passe");
    let path = &link[link.find("/nouveau-mot-de-passe").unwrap()..];
    let mut w = Web::new(&gw);
    let (s, _, page) = w.get(path).await;
    assert_eq!(s, 200, "{page}");
    let csrf = hidden(&page, "csrf");
    let token = hidden(&page, "token");
    // Policy first: a weak password is refused and the link stays usable.
    let (s, _, page) = w
        .post(
            "/nouveau-mot-de-passe",
            &[
                ("csrf", &csrf),
                ("token", &token),
                ("password", "court"),
                ("confirmation", "court"),
            ],
        )
        .await;
    assert_eq!(s, 400, "{page}");
    // The form comes back with a fresh CSRF token (and cookie), as a browser would use.
    let csrf = hidden(&page, "csrf");
    let strong = "Tres-Long-Mot-2026!";
    let (s, loc, page) = w
        .post(
            "/nouveau-mot-de-passe",
            &[
                ("csrf", &csrf),
                ("token", &token),
                ("password", strong),
                ("confirmation", strong),
            ],
        )
        .await;
    assert!(s == 302 || s == 303, "{s} {page}");
    assert!(loc.starts_with("/connexion"), "{loc}");
    // Old sessions ended, the store takes the new password.
    let (s, _, _) = web.get("/").await;
    assert_eq!(s, 302, "a session outlived the reset");
    let (_, v) = soap_json(&sb.url("/service/soap"), &auth_password(BOB, strong)).await;
    assert!(
        json_text(&v["Body"]["AuthResponse"]["authToken"]).is_some(),
        "{v}"
    );
    // Single use.
    let (s, _, _) = Web::new(&gw).get(path).await;
    assert_eq!(s, 410, "reset link reused");
}

#[tokio::test]
async fn expired_reset_link_is_refused() {
    let smtp = SmtpSink::start();
    let sb = start_sandbox();
    let gw = start_gateway(
        &sb.url(""),
        &format!(
            "{}[auth.reset]\nlink_validity_secs = 1\n",
            smtp.gateway_config()
        ),
    );
    let mut web = Web::new(&gw);
    portal_first_login_totp(&mut web, CAROL, "%2F").await;
    let (_, _, page) = web.get("/mot-de-passe-oublie").await;
    let csrf = hidden(&page, "csrf");
    web.post(
        "/mot-de-passe-oublie",
        &[
            ("csrf", csrf.as_str()),
            ("username", CAROL),
            ("email", "contact.perso@example.org"),
        ],
    )
    .await;
    let body = smtp
        .wait_for(
            "contact.perso@example.org",
            |b| b.contains("nouveau-mot-de-passe"),
            Duration::from_secs(10),
        )
        .await;
    let link = common::smtp::extract_link(&body, "/nouveau-mot-de-passe");
    let path = link[link.find("/nouveau-mot-de-passe").unwrap()..].to_string();
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let (s, _, page) = Web::new(&gw).get(&path).await;
    assert!(s == 410 || s == 400, "expired link accepted: {s} {page}");
}

#[tokio::test]
async fn polling_does_not_keep_a_session_alive() {
    let sb = start_sandbox();
    let gw = start_gateway(
        &sb.url(""),
        "[auth.session]\ninactivity_timeout_secs = 3\ntouch_interval_secs = 0\n",
    );
    let token = gateway_token(&gw, ALICE).await;
    // Real activity extends the session…
    for _ in 0..3 {
        tokio::time::sleep(Duration::from_millis(1500)).await;
        assert!(whoami(&gw, &token).await.is_ok(), "active session expired");
    }
    // …background polling does not.
    for _ in 0..3 {
        tokio::time::sleep(Duration::from_millis(1100)).await;
        let _ = soap_json(&gw.url("/service/soap"), &with_token(&token, NOOP)).await;
    }
    assert_eq!(
        whoami(&gw, &token).await,
        Err("service.AUTH_REQUIRED".into())
    );
}

#[tokio::test]
async fn emailed_codes_work_for_soap_clients() {
    let smtp = SmtpSink::start();
    let sb = start_sandbox();
    let gw = start_gateway(&sb.url(""), &smtp.gateway_config());
    let url = gw.url("/service/soap");
    let contact = "bob.perso@example.org";
    let step1 = format!(
        r#"{{"Body":{{"EnableTwoFactorAuthRequest":{{"_jsns":"urn:zimbraAccount","name":{{"_content":"{BOB}"}},"password":{{"_content":"{SANDBOX_PASSWORD}"}},"method":{{"_content":"email"}},"email":{{"_content":"{contact}"}}}}}}}}"#
    );
    let (s, v) = soap_json(&url, &step1).await;
    assert_eq!(s, 200, "{v}");
    let stage = json_text(&v["Body"]["EnableTwoFactorAuthResponse"]["authToken"]).unwrap();
    let code = common::smtp::extract_code(
        &smtp
            .wait_for_count(contact, 1, Duration::from_secs(10))
            .await,
    );
    let step2 = format!(
        r#"{{"Body":{{"EnableTwoFactorAuthRequest":{{"_jsns":"urn:zimbraAccount","name":{{"_content":"{BOB}"}},"authToken":{{"_content":"{stage}"}},"twoFactorCode":{{"_content":"{code}"}}}}}}}}"#
    );
    let (s, v) = soap_json(&url, &step2).await;
    assert_eq!(s, 200, "{v}");
    // Next login: the client asks for a code with the stage token (Zimbra's
    // SendTwoFactorAuthCodeRequest); the code finishes the login once.
    let stage = password_step(&gw, BOB).await;
    let send = format!(
        r#"{{"Body":{{"SendTwoFactorAuthCodeRequest":{{"_jsns":"urn:zimbraAccount","action":{{"_content":"email"}},"authToken":{{"_content":"{stage}"}}}}}}}}"#
    );
    let (s, v) = soap_json(&url, &send).await;
    assert_eq!(s, 200, "{v}");
    let code = common::smtp::extract_code(
        &smtp
            .wait_for_count(contact, 2, Duration::from_secs(10))
            .await,
    );
    let (s, v) = soap_json(&url, &auth_code(&stage, &code)).await;
    assert_eq!(s, 200, "{v}");
    let token = json_text(&v["Body"]["AuthResponse"]["authToken"]).unwrap();
    assert_eq!(whoami(&gw, &token).await.as_deref(), Ok(BOB));
    let stage = password_step(&gw, BOB).await;
    let (_, v) = soap_json(&url, &auth_code(&stage, &code)).await;
    assert!(
        fault_code(&v).starts_with("account."),
        "emailed code reused: {v}"
    );
}

#[tokio::test]
async fn a_session_whose_store_token_died_ends_at_the_gateway() {
    let sb = start_sandbox();
    let addr = sb.addr.to_string();
    let gw = start_gateway(&sb.url(""), "");
    let token = gateway_token(&gw, ALICE).await;
    assert_eq!(whoami(&gw, &token).await.as_deref(), Ok(ALICE));
    // The store restarts and forgets every token it issued.
    drop(sb);
    let (_store, _) = spawn_and_wait(
        &["sandbox", "--listen", &addr],
        &[],
        &["sandbox listening on http://"],
    );
    // The first SOAP call reaches the new store, which refuses the old token…
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (status, v) = soap_json(&gw.url("/service/soap"), &with_token(&token, GET_INFO)).await;
        // (502 while the gateway's pooled connections to the old store are found dead)
        if status == 500 && fault_code(&v).starts_with("service.AUTH_") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "store never refused: {status} {v}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // …and the gateway ended its session: a page load now goes to the login page.
    let r = client()
        .get(gw.url("/"))
        .header("Cookie", format!("ZM_AUTH_TOKEN={token}"))
        .header("Accept", "text/html")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 302);
    assert!(gw.proc.stderr().contains("session.ended_by_store"));
}
