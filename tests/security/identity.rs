//! See `tests/security.rs`. Classes 1 (one person, one key) and 8 (two instances
//! agree on who has a factor) here; class 5 (regulation) in `identity_regulation.rs`;
//! class 7 (cookies, the short store's content, one store client over TLS) in
//! `identity_transport.rs`.
//!
//! The sandbox resolves names as Zimbra's `getAccountByName` does (default domain,
//! IDNA domain, aliases, an alias domain), so every spelling below logs in to the same
//! store account: the attack has teeth. Through the gateway each one must reach that
//! account's enrolled factor — never a new set-up — and share its counters.

use super::common::*;
use serde_json::Value;
use std::path::{Path, PathBuf};

#[path = "identity_regulation.rs"]
mod regulation;
#[path = "identity_transport.rs"]
mod transport;

pub const ANTOINE: &str = "antoine.lefevre@esantepdl.mssante.fr";
pub const ANTOINE_ID: &str = "03c8e0ad-c9c8-4bb4-9f42-223b9891e075";
pub const ADELE: &str = "adele.alexandre@esantepdl.mssante.fr";
pub const CAMILLE: &str = "camille.bernard@esantepdl.mssante.fr";

/// Spellings the store itself takes for Antoine's account (fixtures/sandbox).
pub const STORE_SPELLINGS: &[&str] = &[
    "antoine.lefevre",
    "Antoine.Lefevre",
    "ANTOINE.LEFEVRE@ESANTEPDL.MSSANTE.FR",
    "antoine.lefevre@ｅｓａｎｔｅｐｄｌ．ｍｓｓａｎｔｅ．ｆｒ",
    "a.lefevre@esantepdl.mssante.fr",
    "antoine.lefevre@chu-exemple.mssante.fr",
    "antoine.lefevre@santé-pdl.mssante.fr",
    "antoine.lefevre@sante\u{301}-pdl.mssante.fr",
    "antoine.lefevre@xn--sant-pdl-e1a.mssante.fr",
];

/// Further spellings the gateway folds to the account (compatibility forms).
pub const FOLDED_SPELLINGS: &[&str] = &[
    "ａｎｔｏｉｎｅ.ｌｅｆｅｖｒｅ",
    "Antoine.Lefevre＠esantepdl.mssante.fr",
];

// ---- SOAP helpers ------------------------------------------------------------------

/// A SOAP call as from `from` (the gateway trusts loopback's `X-Forwarded-For` in
/// these tests); `xml` picks the envelope. Returns the status and the body.
pub async fn soap_from(url: &str, body: &str, from: Option<&str>) -> (u16, String) {
    let mut req = client()
        .post(url)
        .header("Content-Type", "application/soap+xml; charset=utf-8")
        .body(body.to_string());
    if let Some(ip) = from {
        req = req.header("X-Forwarded-For", ip);
    }
    let r = req.send().await.expect("SOAP call");
    let status = r.status().as_u16();
    (status, r.text().await.unwrap_or_default())
}

pub async fn json_from(url: &str, body: &str, from: Option<&str>) -> (u16, Value) {
    let (s, text) = soap_from(url, body, from).await;
    (s, serde_json::from_str(&text).unwrap_or(Value::Null))
}

pub fn esc(s: &str) -> String {
    serde_json::to_string(s).unwrap()
}

pub fn auth_json(name: &str, password: &str) -> String {
    format!(
        r#"{{"Body":{{"AuthRequest":{{"_jsns":"urn:zimbraAccount","account":{{"by":"name","_content":{}}},"password":{{"_content":{}}}}}}}}}"#,
        esc(name),
        esc(password)
    )
}

pub fn auth_xml(name: &str, password: &str) -> String {
    format!(
        r#"<soap:Envelope xmlns:soap="http://www.w3.org/2003/05/soap-envelope"><soap:Body><AuthRequest xmlns="urn:zimbraAccount"><account by="name">{name}</account><password>{password}</password></AuthRequest></soap:Body></soap:Envelope>"#
    )
}

pub fn code_json(stage: &str, code: &str) -> String {
    format!(
        r#"{{"Body":{{"AuthRequest":{{"_jsns":"urn:zimbraAccount","authToken":{{"_content":"{stage}"}},"twoFactorCode":{{"_content":"{code}"}}}}}}}}"#
    )
}

pub fn code_xml(stage: &str, code: &str) -> String {
    format!(
        r#"<soap:Envelope xmlns:soap="http://www.w3.org/2003/05/soap-envelope"><soap:Body><AuthRequest xmlns="urn:zimbraAccount"><authToken>{stage}</authToken><twoFactorCode>{code}</twoFactorCode></AuthRequest></soap:Body></soap:Envelope>"#
    )
}

pub fn enable_json(name: &str, password: &str) -> String {
    format!(
        r#"{{"Body":{{"EnableTwoFactorAuthRequest":{{"_jsns":"urn:zimbraAccount","name":{{"_content":{}}},"password":{{"_content":{}}},"method":{{"_content":"app"}}}}}}}}"#,
        esc(name),
        esc(password)
    )
}

pub fn get_info_json(token: &str) -> String {
    format!(
        r#"{{"Header":{{"context":{{"_jsns":"urn:zimbra","authToken":{{"_content":"{token}"}}}}}},"Body":{{"GetInfoRequest":{{"_jsns":"urn:zimbraAccount","sections":"mbox"}}}}}}"#
    )
}

pub fn fault_code(v: &Value) -> String {
    json_text(&v["Body"]["Fault"]["Detail"]["Error"]["Code"]).unwrap_or_default()
}

/// The `<Code>` of an XML fault.
pub fn xml_fault_code(body: &str) -> String {
    body.split("<Code>")
        .nth(1)
        .and_then(|r| r.split("</Code>").next())
        .unwrap_or("")
        .to_string()
}

/// The text of the first `<name>…</name>` of an XML answer.
pub fn xml_text(body: &str, name: &str) -> Option<String> {
    let open = format!("<{name}>");
    let start = body.find(&open)? + open.len();
    let end = body[start..].find(&format!("</{name}>"))? + start;
    Some(body[start..end].to_string())
}

/// The stage token of a two-factor answer (JSON), or the fault code.
pub fn stage_of(v: &Value) -> Result<String, String> {
    let r = &v["Body"]["AuthResponse"];
    match (
        json_text(&r["twoFactorAuthRequired"]),
        json_text(&r["authToken"]),
    ) {
        (Some(t), Some(stage)) if t == "true" => Ok(stage),
        _ => Err(format!("{} {v}", fault_code(v))),
    }
}

/// Recovery codes (`XXXX-XXXX-XXXX-XXXX`) anywhere in an answer.
pub fn recovery_codes(text: &str) -> Vec<String> {
    text.split(|c: char| !(c.is_ascii_alphanumeric() || c == '-'))
        .filter(|w| {
            w.len() == 19 && w.split('-').count() == 4 && w.split('-').all(|g| g.len() == 4)
        })
        .map(String::from)
        .collect()
}

/// First enrolment of the application factor over SOAP, from `from`: (gateway token,
/// TOTP secret, recovery codes).
pub async fn enrol_from(
    gw: &GatewayProcess,
    user: &str,
    from: Option<&str>,
) -> (String, String, Vec<String>) {
    let url = gw.url("/service/soap");
    let (s, v) = json_from(&url, &enable_json(user, SANDBOX_PASSWORD), from).await;
    assert_eq!(s, 200, "enable step 1 for {user}: {v}");
    let r = &v["Body"]["EnableTwoFactorAuthResponse"];
    let secret = json_text(&r["secret"]).expect("secret");
    let stage = json_text(&r["authToken"]).expect("stage");
    let code = totp_at(&secret, unix_now());
    let step2 = format!(
        r#"{{"Body":{{"EnableTwoFactorAuthRequest":{{"_jsns":"urn:zimbraAccount","name":{{"_content":{}}},"authToken":{{"_content":"{stage}"}},"twoFactorCode":{{"_content":"{code}"}}}}}}}}"#,
        esc(user)
    );
    let (s, text) = soap_from(&url, &step2, from).await;
    assert_eq!(s, 200, "enable step 2 for {user}: {text}");
    let v: Value = serde_json::from_str(&text).unwrap();
    let token = json_text(&v["Body"]["EnableTwoFactorAuthResponse"]["authToken"]).expect("token");
    (token, secret, recovery_codes(&text))
}

/// The account a gateway token acts as in the store (GetInfo through the gateway).
pub async fn account_behind(gw: &GatewayProcess, token: &str) -> String {
    let (s, v) = soap_json(&gw.url("/service/soap"), &get_info_json(token)).await;
    assert_eq!(s, 200, "{v}");
    json_text(&v["Body"]["GetInfoResponse"]["name"]).expect("name")
}

/// A gateway whose client addresses come from `X-Forwarded-For` (sent by the tests).
pub fn start_gateway_with_addresses(sb: &SandboxProcess, extra: &str) -> GatewayProcess {
    start_gateway(
        &sb.url(""),
        &format!("[trusted_proxies]\ncidrs = [\"127.0.0.0/8\"]\n{extra}"),
    )
}

/// The gateway's SQLite file.
pub fn state_file(gw: &GatewayProcess) -> PathBuf {
    gw.config_path.parent().unwrap().join("state.sqlite3")
}

/// Keys of the gateway's durable rows.
pub fn durable_keys(path: &Path) -> Vec<String> {
    let c = rusqlite::Connection::open(path).unwrap();
    let mut st = c
        .prepare("SELECT user FROM user_security ORDER BY user")
        .unwrap();
    st.query_map([], |r| r.get::<_, String>(0))
        .unwrap()
        .map(Result::unwrap)
        .collect()
}

// ---- portal helpers ----------------------------------------------------------------

/// A cookie-keeping browser (no redirects followed), optionally behind an address.
pub struct Web {
    base: String,
    from: Option<String>,
    pub jar: Vec<(String, String)>,
}

impl Web {
    pub fn new(gw: &GatewayProcess, from: Option<&str>) -> Web {
        Web {
            base: gw.url(""),
            from: from.map(String::from),
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
            let (k, val) = text.split(';').next().unwrap().split_once('=').unwrap();
            self.jar.retain(|(n, _)| n != k);
            if !val.is_empty() && !text.contains("Max-Age=0") {
                self.jar.push((k.to_string(), val.to_string()));
            }
        }
    }

    /// (status, Location, body)
    pub async fn get(&mut self, path: &str) -> (u16, String, String) {
        let mut req = client()
            .get(format!("{}{path}", self.base))
            .header("Cookie", self.cookie_header())
            .header("Accept", "text/html")
            .header("Sec-Fetch-Mode", "navigate");
        if let Some(ip) = &self.from {
            req = req.header("X-Forwarded-For", ip);
        }
        let r = req.send().await.unwrap();
        self.finish(r).await
    }

    pub async fn post(&mut self, path: &str, form: &[(&str, &str)]) -> (u16, String, String) {
        let mut req = client()
            .post(format!("{}{path}", self.base))
            .header("Cookie", self.cookie_header())
            .header("Content-Type", "application/x-www-form-urlencoded")
            .body(serde_urlencoded::to_string(form).unwrap());
        if let Some(ip) = &self.from {
            req = req.header("X-Forwarded-For", ip);
        }
        let r = req.send().await.unwrap();
        self.finish(r).await
    }

    async fn finish(&mut self, r: reqwest::Response) -> (u16, String, String) {
        self.keep(&r);
        let loc = r
            .headers()
            .get("location")
            .map(|v| v.to_str().unwrap().to_string())
            .unwrap_or_default();
        (r.status().as_u16(), loc, r.text().await.unwrap())
    }

    /// The portal login form up to the password: (status, Location, page).
    pub async fn login(&mut self, user: &str, password: &str) -> (u16, String, String) {
        let (s, _, page) = self.get("/connexion").await;
        assert_eq!(s, 200, "{page}");
        let csrf = hidden(&page, "csrf");
        self.post(
            "/connexion",
            &[
                ("csrf", &csrf),
                ("username", user),
                ("password", password),
                ("return_to", "/"),
            ],
        )
        .await
    }

    /// The code page's form: (status, Location, page).
    pub async fn code(&mut self, code: &str) -> (u16, String, String) {
        let (s, _, page) = self.get("/otp").await;
        assert_eq!(s, 200, "{page}");
        let csrf = hidden(&page, "csrf");
        self.post("/otp", &[("csrf", &csrf), ("code", code)]).await
    }
}

pub fn hidden(page: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    let i = page
        .find(&marker)
        .unwrap_or_else(|| panic!("no {name} in {page}"))
        + marker.len();
    page[i..].split('"').next().unwrap().to_string()
}

// ---- class 1: one person, one key --------------------------------------------------

/// Open against the store: every spelling logs in to Antoine's account (one id), in
/// JSON and in XML — so a gateway keying on what was typed has many keys for him.
#[tokio::test]
async fn the_store_takes_every_spelling_as_one_account() {
    let sb = start_sandbox();
    let url = sb.url("/service/soap");
    for name in STORE_SPELLINGS {
        let (s, v) = json_from(&url, &auth_json(name, SANDBOX_PASSWORD), None).await;
        assert_eq!(s, 200, "{name}: {v}");
        let token = json_text(&v["Body"]["AuthResponse"]["authToken"]).expect("token");
        let (_, info) = soap_json(&url, &get_info_json(&token)).await;
        assert_eq!(
            json_text(&info["Body"]["GetInfoResponse"]["id"]).as_deref(),
            Some(ANTOINE_ID),
            "{name}"
        );
        assert_eq!(
            json_text(&info["Body"]["GetInfoResponse"]["name"]).as_deref(),
            Some(ANTOINE)
        );
    }
    let (s, body) = soap_from(
        &url,
        &auth_xml("A.Lefevre@santé-pdl.mssante.fr", SANDBOX_PASSWORD),
        None,
    )
    .await;
    assert_eq!(s, 200, "{body}");
    assert!(xml_text(&body, "authToken").is_some(), "{body}");
}

/// Closed over SOAP: after Antoine enrolled, every spelling (the store's and the
/// compatibility forms) gets the two-factor step of his factor, never a set-up, and
/// EnableTwoFactorAuth with the password alone is refused; a code completes a session
/// on his account whatever the spelling; the gateway keeps one row for him.
#[tokio::test]
async fn every_spelling_reaches_the_enrolled_factor_over_soap() {
    let sb = start_sandbox();
    let gw = start_gateway(&sb.url(""), "");
    let url = gw.url("/service/soap");
    let (_, secret, _) = enrol_from(&gw, ANTOINE, None).await;
    for (i, name) in STORE_SPELLINGS.iter().chain(FOLDED_SPELLINGS).enumerate() {
        if i % 2 == 0 {
            let (_, v) = json_from(&url, &auth_json(name, SANDBOX_PASSWORD), None).await;
            assert!(stage_of(&v).is_ok(), "{name}: {v}");
            assert!(
                json_text(&v["Body"]["AuthResponse"]["zimbraTwoFactorAuthMethodEnabled"]["method"])
                    .is_some_and(|m| m == "app"),
                "{name}: his factor, not a set-up: {v}"
            );
        } else {
            let (_, body) = soap_from(&url, &auth_xml(name, SANDBOX_PASSWORD), None).await;
            assert_eq!(
                xml_text(&body, "twoFactorAuthRequired").as_deref(),
                Some("true"),
                "{name}: {body}"
            );
            assert!(
                !body.contains("TWO_FACTOR_SETUP_REQUIRED"),
                "{name}: {body}"
            );
        }
        let (_, v) = json_from(&url, &enable_json(name, SANDBOX_PASSWORD), None).await;
        assert_eq!(fault_code(&v), "service.PERM_DENIED", "{name}: {v}");
    }
    // The next TOTP step (the enrolment used this one) through an alias domain spelling.
    let (_, v) = json_from(
        &url,
        &auth_json(
            "antoine.lefevre@sante\u{301}-pdl.mssante.fr",
            SANDBOX_PASSWORD,
        ),
        None,
    )
    .await;
    let stage = stage_of(&v).unwrap();
    let code = totp_at(&secret, unix_now() + 30);
    let (_, body) = soap_from(&url, &code_xml(&stage, &code), None).await;
    let token = xml_text(&body, "authToken").unwrap_or_else(|| panic!("{body}"));
    assert_eq!(account_behind(&gw, &token).await, ANTOINE);
    assert_eq!(durable_keys(&state_file(&gw)), vec![ANTOINE.to_string()]);
}

/// Closed in the portal: every spelling is sent to the code page of his factor,
/// never to a set-up page.
#[tokio::test]
async fn every_spelling_reaches_the_enrolled_factor_in_the_portal() {
    let sb = start_sandbox();
    let gw = start_gateway(&sb.url(""), "");
    let (_, _, codes) = enrol_from(&gw, ANTOINE, None).await;
    for name in STORE_SPELLINGS.iter().chain(FOLDED_SPELLINGS) {
        let mut web = Web::new(&gw, None);
        let (s, loc, page) = web.login(name, SANDBOX_PASSWORD).await;
        assert_eq!((s, loc.as_str()), (303, "/otp"), "{name}: {page}");
        let (s, loc, _) = web.get("/otp/parametrage").await;
        assert_eq!(
            (s, loc.as_str()),
            (303, "/otp"),
            "{name}: no set-up with the password alone"
        );
    }
    // A recovery code of his completes a portal login typed with an alias.
    let mut web = Web::new(&gw, None);
    web.login("a.lefevre@esantepdl.mssante.fr", SANDBOX_PASSWORD)
        .await;
    let (s, loc, page) = web.code(&codes[0]).await;
    assert_eq!((s, loc.as_str()), (303, "/"), "{page}");
    let session = web
        .jar
        .iter()
        .find(|(k, _)| k == "mssante_session")
        .map(|(_, v)| v.clone())
        .expect("session");
    assert_eq!(account_behind(&gw, &session).await, ANTOINE);
}

/// Rows an earlier version kept under another spelling: moved to the account at start
/// (spelling rules) or at the next login with that spelling; refused when the account
/// has its own (`users migrate-keys` resolves aliases through the store and reports).
#[tokio::test]
async fn rows_under_other_spellings_are_migrated_or_refused() {
    let sb = start_sandbox();
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("gateway.toml");
    std::fs::write(&config, gateway_config_in(&sb.url(""), "", dir.path())).unwrap();
    let key = std::fs::read_to_string(dir.path().join("data.key")).unwrap();
    let owner = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP";
    let planted = "KRSXG5CTMVRXEZLUKRSXG5CTMVRXEZLU";
    {
        use mssante_gateway::store::{DataKey, DurableStore, OtpChannel};
        let d = DurableStore::open_sqlite(
            &dir.path().join("state.sqlite3"),
            DataKey::from_hex(key.trim()).unwrap(),
        )
        .unwrap();
        // The owner enrolled typing his bare name; someone else through an alias; a
        // third account was stored with capitals.
        for (k, s) in [
            ("antoine.lefevre", owner),
            ("a.lefevre@esantepdl.mssante.fr", planted),
        ] {
            d.set_totp_secret(k, Some(s)).await.unwrap();
            d.set_otp_channel(k, Some(OtpChannel::Totp)).await.unwrap();
        }
        d.set_otp_channel(
            "Camille.Bernard@EsantePDL.mssante.fr",
            Some(OtpChannel::Email),
        )
        .await
        .unwrap();
    }
    let (proc, found) = spawn_and_wait(
        &["serve", "--config", config.to_str().unwrap()],
        &[],
        &["gateway listening on "],
    );
    let url = format!("http://{}/service/soap", found[0]);
    let keys = durable_keys(&dir.path().join("state.sqlite3"));
    assert!(
        keys.contains(&CAMILLE.to_string()),
        "moved at start: {keys:?}"
    );
    // Camille's row counts: a second factor, no set-up.
    let (_, v) = json_from(&url, &auth_json("camille.bernard", SANDBOX_PASSWORD), None).await;
    assert!(stage_of(&v).is_ok(), "{v}");
    // The bare spelling's row becomes Antoine's at his next login with it.
    let (_, v) = json_from(&url, &auth_json("antoine.lefevre", SANDBOX_PASSWORD), None).await;
    let stage = stage_of(&v).unwrap();
    let (_, v) = json_from(&url, &code_json(&stage, &totp_at(owner, unix_now())), None).await;
    assert!(
        json_text(&v["Body"]["AuthResponse"]["authToken"]).is_some(),
        "{v}"
    );
    // The alias row conflicts with his own now: refused, never used.
    let out = run_binary(&[
        "users",
        "migrate-keys",
        "--config",
        config.to_str().unwrap(),
    ]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains(&format!(
            "a.lefevre@esantepdl.mssante.fr → {ANTOINE} : refusé"
        )),
        "{stdout}"
    );
    let (_, v) = json_from(
        &url,
        &auth_json("a.lefevre@esantepdl.mssante.fr", SANDBOX_PASSWORD),
        None,
    )
    .await;
    let stage = stage_of(&v).unwrap();
    let (_, v) = json_from(
        &url,
        &code_json(&stage, &totp_at(planted, unix_now())),
        None,
    )
    .await;
    assert_eq!(fault_code(&v), "account.TWO_FACTOR_AUTH_FAILED", "{v}");
    drop(proc);
}

// ---- class 8: two instances agree on who has a factor ------------------------------

/// A shared short-lived store (Redis) with each instance's own SQLite file is refused
/// by `check-config` and `serve`: instance B would not see A's enrolments. With a
/// shared durable store (PostgreSQL) the pair is accepted.
#[tokio::test]
async fn two_gateways_sharing_redis_with_their_own_sqlite_are_refused_at_start() {
    let redis = transport::Redis::start();
    let sb = start_sandbox();
    for n in 0..2 {
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("gateway.toml");
        let extra = format!(
            "[auth.store]\nshort_backend = \"redis\"\nredis_url = \"{}\"\n",
            redis.url()
        );
        std::fs::write(&config, gateway_config_in(&sb.url(""), &extra, dir.path())).unwrap();
        let check = run_binary(&["check-config", config.to_str().unwrap()]);
        let err = String::from_utf8_lossy(&check.stderr);
        assert!(
            !check.status.success(),
            "instance {n}: check-config accepted it"
        );
        assert!(
            err.contains("short_backend") && err.contains("SQLite"),
            "{err}"
        );
        let serve = run_binary(&["serve", "--config", config.to_str().unwrap()]);
        let err = String::from_utf8_lossy(&serve.stderr);
        assert!(!serve.status.success(), "instance {n}: serve started");
        assert!(err.contains("short_backend"), "{err}");
    }
    // A durable store every instance shares (PostgreSQL) is what makes Redis safe: the
    // pair passes the rule (the pre-flight still reports the server it cannot reach).
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("gateway.toml");
    let extra = format!(
        "[auth.store]\nshort_backend = \"redis\"\nredis_url = \"{}\"\n\
         durable_backend = \"postgres\"\n\
         postgres_url = \"postgres://gw@127.0.0.1:5432/gw?sslmode=disable\"\n",
        redis.url()
    );
    std::fs::write(&config, gateway_config_in(&sb.url(""), &extra, dir.path())).unwrap();
    let check = run_binary(&["check-config", config.to_str().unwrap()]);
    let err = String::from_utf8_lossy(&check.stderr);
    assert!(
        !err.contains("short_backend"),
        "Redis with PostgreSQL refused by the rule: {err}"
    );
    assert!(err.contains("auth.store.postgres_url"), "{err}");
}

/// In every configuration: when the node cannot read the durable store it cannot be
/// sure the account has no factor, so neither the portal nor SOAP offers a set-up with
/// the password alone.
#[tokio::test]
async fn no_password_only_enrolment_when_the_durable_store_cannot_be_read() {
    let sb = start_sandbox();
    let gw = start_gateway(&sb.url(""), "");
    let url = gw.url("/service/soap");
    let state = state_file(&gw);
    // The file exists once the gateway started; its table goes away under it.
    let c = rusqlite::Connection::open(&state).unwrap();
    c.execute_batch("ALTER TABLE user_security RENAME TO unreadable")
        .unwrap();
    let (_, v) = json_from(&url, &auth_json(ADELE, SANDBOX_PASSWORD), None).await;
    assert_ne!(fault_code(&v), "account.TWO_FACTOR_SETUP_REQUIRED", "{v}");
    assert_eq!(fault_code(&v), "service.FAILURE", "{v}");
    let (_, v) = json_from(&url, &enable_json(ADELE, SANDBOX_PASSWORD), None).await;
    assert!(v["Body"]["EnableTwoFactorAuthResponse"].is_null(), "{v}");
    let mut web = Web::new(&gw, None);
    let (s, loc, _) = web.login(ADELE, SANDBOX_PASSWORD).await;
    assert_eq!(s, 503, "portal: {loc}");
    c.execute_batch("ALTER TABLE unreadable RENAME TO user_security")
        .unwrap();
    let (_, v) = json_from(&url, &auth_json(ADELE, SANDBOX_PASSWORD), None).await;
    assert_eq!(fault_code(&v), "account.TWO_FACTOR_SETUP_REQUIRED", "{v}");
}
