//! A5 (forgotten password / first connection) and A6 (profile forms) end to end,
//! against a small fake store (user and admin SOAP) and an SMTP sink.

use super::csrf;
use super::router::{handle, PortalState};
use crate::auth::clock::Clock;
use crate::auth::config::{
    AuthConfig, OperatorConfig, RegulationConfig, ResetConfig, SessionConfig,
};
use crate::auth::identity::AccountResolver;
use crate::auth::otp::{EmailCodes, RecoveryCodes, TotpFactor};
use crate::auth::regulation::Regulator;
use crate::auth::second_factor::SecondFactor;
use crate::auth::secret::UpstreamToken;
use crate::auth::session::{SessionManager, Stage};
use crate::auth::upstream::UpstreamClient;
use crate::mail::{MailConfig, Mailer, SmtpSecurity};
use crate::store::{DataKey, DurableStore, OtpChannel, ShortStore};
use base64::Engine;
use bytes::Bytes;
use http::header::{COOKIE, LOCATION, SET_COOKIE};
use http::{Request, Response, StatusCode};
use serde_json::{json, Value};
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};

const T0: u64 = 1_800_000_000;
const USER: &str = "alice@ms.example";
/// Another name of the same account (`zimbraMailAlias`).
const ALIAS: &str = "a.liddell@ms.example";
const CONTACT: &str = "alice@perso.example";
const SECRET: &str = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP";
const GOOD_NEW: &str = "Nouveau-mot-2-passe";
/// The fake store refuses this one (as if recently used).
const REFUSED_NEW: &str = "Ancien-mot-2-passe";

// ---- fake store ----------------------------------------------------------------

#[derive(Default)]
struct StoreLog {
    password: String,
    calls: Vec<String>,
}

fn fault(code: &str) -> Value {
    json!({"Body": {"Fault": {"Reason": {"Text": code}, "Detail": {"Error": {"Code": code}}}}})
}

fn answer(log: &Mutex<StoreLog>, admin: bool, req: &Value) -> Value {
    let body = req["Body"].as_object().cloned().unwrap_or_default();
    let (name, r) = body.into_iter().next().unwrap();
    let token = req
        .pointer("/Header/context/authToken/_content")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    let mut log = log.lock().unwrap();
    log.calls
        .push(format!("{}{name}", if admin { "admin:" } else { "" }));
    let text = |k: &str| {
        r.get(k)
            .and_then(|v| v.get("_content").or(Some(v)))
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string()
    };
    match (admin, name.as_str()) {
        (false, "AuthRequest") => {
            if text("password") == log.password {
                json!({"Body": {"AuthResponse": {"authToken": [{"_content": "0_user"}], "lifetime": 1000}}})
            } else {
                fault("account.AUTH_FAILED")
            }
        }
        (true, "AuthRequest") => {
            if text("name") == "admin" && text("password") == "admin:pw" {
                json!({"Body": {"AuthResponse": {"authToken": [{"_content": "0_admin"}], "lifetime": 1000}}})
            } else {
                fault("account.AUTH_FAILED")
            }
        }
        (true, "GetAccountRequest") if token == "0_admin" => {
            // The account, by its name, a bare name or its alias (as Zimbra resolves them).
            let named = r["account"]["_content"]
                .as_str()
                .unwrap_or("")
                .to_lowercase();
            if [USER, "alice", ALIAS].contains(&named.as_str()) {
                json!({"Body": {"GetAccountResponse": {"account": [{"id": "acct-1", "name": USER}]}}})
            } else {
                fault("account.NO_SUCH_ACCOUNT")
            }
        }
        (false, "GetInfoRequest") if token == "0_user" => {
            json!({"Body": {"GetInfoResponse": {"id": "acct-1", "name": USER}}})
        }
        (true, "SetPasswordRequest") if token == "0_admin" => {
            assert_eq!(r["id"], "acct-1");
            let new = r["newPassword"].as_str().unwrap().to_string();
            if new == REFUSED_NEW {
                return fault("account.PASSWORD_RECENTLY_USED");
            }
            log.password = new;
            json!({"Body": {"SetPasswordResponse": {}}})
        }
        (false, "ChangePasswordRequest") => {
            if text("oldPassword") != log.password {
                return fault("account.AUTH_FAILED");
            }
            log.password = text("password");
            json!({"Body": {"ChangePasswordResponse": {"authToken": [{"_content": "0_changed"}], "lifetime": 1000}}})
        }
        (_, "EndSessionRequest") => json!({"Body": {"EndSessionResponse": {}}}),
        _ => fault("service.PERM_DENIED"),
    }
}

async fn fake_store(log: Arc<Mutex<StoreLog>>) -> String {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = l.accept().await {
            let log = log.clone();
            tokio::spawn(async move {
                let mut got = Vec::new();
                let mut buf = [0u8; 8192];
                loop {
                    let Ok(n) = s.read(&mut buf).await else {
                        return;
                    };
                    if n == 0 {
                        return;
                    }
                    got.extend_from_slice(&buf[..n]);
                    let text = String::from_utf8_lossy(&got).to_string();
                    let Some(i) = text.find("\r\n\r\n") else {
                        continue;
                    };
                    let len: usize = text[..i]
                        .lines()
                        .find_map(|l| {
                            l.to_ascii_lowercase()
                                .strip_prefix("content-length:")
                                .map(|v| v.trim().parse().unwrap())
                        })
                        .unwrap_or(0);
                    if got.len() < i + 4 + len {
                        continue;
                    }
                    let admin = text.starts_with("POST /service/admin/soap ");
                    let req: Value = serde_json::from_slice(&got[i + 4..i + 4 + len]).unwrap();
                    let body = answer(&log, admin, &req).to_string();
                    let resp = format!(
                        "HTTP/1.1 200 OK\r\ncontent-length: {}\r\n\r\n{body}",
                        body.len()
                    );
                    if s.write_all(resp.as_bytes()).await.is_err() {
                        return;
                    }
                    got.drain(..i + 4 + len);
                }
            });
        }
    });
    format!("http://{addr}")
}

// ---- SMTP sink -------------------------------------------------------------------

/// (recipient, decoded text) of every message received.
type Outbox = Arc<Mutex<Vec<(String, String)>>>;

fn decode(data: &str) -> String {
    let (head, body) = data.split_once("\r\n\r\n").unwrap_or(("", data));
    let head = head.to_ascii_lowercase();
    if head.contains("content-transfer-encoding: base64") {
        let joined: String = body.split_whitespace().collect();
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(joined)
            .unwrap();
        return String::from_utf8(bytes).unwrap();
    }
    if head.contains("content-transfer-encoding: quoted-printable") {
        let soft = body.replace("=\r\n", "");
        let mut out = Vec::new();
        let b = soft.as_bytes();
        let mut i = 0;
        while i < b.len() {
            if b[i] == b'=' && i + 2 < b.len() {
                let hex = std::str::from_utf8(&b[i + 1..i + 3]).unwrap();
                out.push(u8::from_str_radix(hex, 16).unwrap());
                i += 3;
            } else {
                out.push(b[i]);
                i += 1;
            }
        }
        return String::from_utf8(out).unwrap();
    }
    body.to_string()
}

async fn smtp_sink(outbox: Outbox) -> u16 {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = l.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((s, _)) = l.accept().await {
            let outbox = outbox.clone();
            tokio::spawn(async move {
                let (r, mut w) = s.into_split();
                let mut r = BufReader::new(r);
                w.write_all(b"220 sink\r\n").await.unwrap();
                let (mut data, mut rcpt, mut in_data) = (String::new(), String::new(), false);
                loop {
                    let mut line = String::new();
                    if r.read_line(&mut line).await.unwrap_or(0) == 0 {
                        return;
                    }
                    if in_data {
                        if line == ".\r\n" {
                            in_data = false;
                            outbox.lock().unwrap().push((rcpt.clone(), decode(&data)));
                            data.clear();
                            w.write_all(b"250 ok\r\n").await.unwrap();
                        } else {
                            data.push_str(&line);
                        }
                        continue;
                    }
                    let cmd = line.to_ascii_uppercase();
                    if cmd.starts_with("RCPT TO:") {
                        rcpt = line[8..]
                            .trim()
                            .trim_matches(|c| c == '<' || c == '>')
                            .to_string();
                    }
                    let reply: &[u8] = if cmd.starts_with("EHLO") {
                        b"250 sink\r\n"
                    } else if cmd.starts_with("DATA") {
                        in_data = true;
                        b"354 go\r\n"
                    } else if cmd.starts_with("QUIT") {
                        let _ = w.write_all(b"221 bye\r\n").await;
                        return;
                    } else {
                        b"250 ok\r\n"
                    };
                    w.write_all(reply).await.unwrap();
                }
            });
        }
    });
    port
}

// ---- harness -------------------------------------------------------------------

struct Harness {
    st: PortalState,
    clock: Clock,
    store: Arc<Mutex<StoreLog>>,
    outbox: Outbox,
    _dir: tempfile::TempDir,
}

async fn harness_with(admin_file: bool) -> Harness {
    let clock = Clock::manual(T0 * 1000);
    let short = ShortStore::memory(clock.clone(), 10_000);
    let dir = tempfile::tempdir().unwrap();
    let creds = dir.path().join("admin");
    // The password itself contains a ':' (only the first one separates).
    std::fs::write(&creds, "admin:admin:pw\n").unwrap();
    let cfg = AuthConfig {
        login_domain: Some("ms.example".into()),
        operator: OperatorConfig {
            name: "Op".into(),
            public_url: "https://gw.example/".into(),
            ..OperatorConfig::default()
        },
        regulation: RegulationConfig {
            failure_min_delay_ms: 0,
            ..RegulationConfig::default()
        },
        session: SessionConfig {
            insecure_loopback_demo: true,
            ..SessionConfig::default()
        },
        reset: ResetConfig {
            admin_credentials_file: admin_file.then(|| creds.clone()),
            ..ResetConfig::default()
        },
        ..AuthConfig::default()
    };
    let store = Arc::new(Mutex::new(StoreLog {
        password: "Ancien-mot-de-passe-1".into(),
        calls: Vec::new(),
    }));
    let url = fake_store(store.clone()).await;
    let outbox: Outbox = Arc::default();
    let port = smtp_sink(outbox.clone()).await;
    let mailer = Mailer::new(&MailConfig {
        host: "127.0.0.1".into(),
        port,
        security: SmtpSecurity::None,
        from: "Op <ne-pas-repondre@gw.example>".into(),
        ..MailConfig::default()
    })
    .unwrap();
    let upstream = UpstreamClient::standalone(&url, Some(&url), Duration::from_secs(5)).unwrap();
    let st = PortalState {
        sessions: SessionManager::new(cfg.session.clone(), short.clone()),
        factor: SecondFactor {
            durable: DurableStore::open_sqlite_memory(DataKey::generate()).unwrap(),
            totp: TotpFactor::new(cfg.totp.clone(), "Op"),
            email: EmailCodes::new(cfg.email_code.clone(), short.clone()),
            recovery: RecoveryCodes::new(10),
        },
        regulator: Regulator::new(cfg.regulation.clone(), short.clone()),
        resolver: AccountResolver::new(
            cfg.login_domain.clone(),
            upstream.clone(),
            cfg.reset.admin_credentials_file.clone(),
            None,
        ),
        upstream,
        mailer: Some(mailer),
        short,
        psc: None,
        cfg,
    };
    st.factor
        .durable
        .set_contact_email(USER, Some(CONTACT))
        .await
        .unwrap();
    Harness {
        st,
        clock,
        store,
        outbox,
        _dir: dir,
    }
}

async fn harness() -> Harness {
    harness_with(true).await
}

fn ip() -> IpAddr {
    IpAddr::from([198, 51, 100, 9])
}

fn get(path: &str, cookies: &str) -> Request<Bytes> {
    Request::get(path)
        .header(COOKIE, cookies)
        .body(Bytes::new())
        .unwrap()
}

fn post(path: &str, cookies: &str, body: String) -> Request<Bytes> {
    Request::post(path)
        .header(COOKIE, cookies)
        .body(Bytes::from(body))
        .unwrap()
}

fn set_cookie(r: &Response<Bytes>, name: &str) -> Option<String> {
    r.headers()
        .get_all(SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with(&format!("{name}=")))
        .map(|v| v.split(';').next().unwrap().to_string())
}

fn body(r: &Response<Bytes>) -> String {
    String::from_utf8(r.body().to_vec()).unwrap()
}

fn csrf_of(page: &str) -> String {
    let i = page.find("name=\"csrf\" value=\"").unwrap() + 19;
    page[i..].split('"').next().unwrap().to_string()
}

fn enc(s: &str) -> String {
    serde_urlencoded::to_string([("v", s)]).unwrap()[2..].to_string()
}

impl Harness {
    async fn call(&self, req: Request<Bytes>) -> Response<Bytes> {
        handle(req, ip(), &self.st).await
    }

    /// GETs a pre-session page; returns (CSRF cookie, form token, page).
    async fn ds_page(&self, path: &str) -> (String, String, Response<Bytes>) {
        let page = self.call(get(path, "")).await;
        let cookie = set_cookie(&page, csrf::CSRF_COOKIE_DEMO).unwrap();
        let token = csrf_of(&body(&page));
        (cookie, token, page)
    }

    async fn forgot(&self, username: &str, email: &str) -> Response<Bytes> {
        let (cookie, token, _) = self.ds_page("/mot-de-passe-oublie").await;
        let form = format!(
            "csrf={token}&username={}&email={}",
            enc(username),
            enc(email)
        );
        self.call(post("/mot-de-passe-oublie", &cookie, form)).await
    }

    /// Waits for the `n`-th mail (1-based).
    async fn mail(&self, n: usize) -> (String, String) {
        for _ in 0..200 {
            if let Some(m) = self.outbox.lock().unwrap().get(n - 1) {
                return m.clone();
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("mail {n} never arrived");
    }

    fn mails(&self) -> usize {
        self.outbox.lock().unwrap().len()
    }

    async fn reset_link(&self) -> String {
        let before = self.mails();
        let r = self.forgot("Alice", "ALICE@perso.example").await;
        assert_eq!(r.status(), StatusCode::OK);
        let (to, text) = self.mail(before + 1).await;
        assert_eq!(to, CONTACT);
        let i = text.find("jeton=").expect("link in mail") + 6;
        let token: String = text[i..]
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
            .collect();
        assert!(text.contains(&format!(
            "https://gw.example/nouveau-mot-de-passe?jeton={token}"
        )));
        token
    }

    async fn new_password(&self, token: &str, pw: &str, confirm: &str) -> Response<Bytes> {
        let (cookie, csrf_token, page) = self
            .ds_page(&format!("/nouveau-mot-de-passe?jeton={token}"))
            .await;
        assert_eq!(page.status(), StatusCode::OK, "{}", body(&page));
        let form = format!(
            "csrf={csrf_token}&token={token}&password={}&confirmation={}",
            enc(pw),
            enc(confirm)
        );
        self.call(post("/nouveau-mot-de-passe", &cookie, form))
            .await
    }

    async fn full_session(&self) -> String {
        let live = self
            .st
            .sessions
            .create(USER, Stage::Full, Some(UpstreamToken::new("0_user")))
            .await
            .unwrap();
        format!("mssante_session={}", live.id.expose())
    }

    async fn alive(&self, cookie: &str) -> bool {
        let id = cookie.split_once('=').unwrap().1;
        self.st.sessions.load(id, false).await.unwrap().is_some()
    }

    async fn profile_csrf(&self, cookie: &str) -> String {
        let p = self.call(get("/profil", cookie)).await;
        assert_eq!(p.status(), StatusCode::OK);
        csrf_of(&body(&p))
    }

    fn store_calls(&self) -> Vec<String> {
        self.store.lock().unwrap().calls.clone()
    }

    fn store_password(&self) -> String {
        self.store.lock().unwrap().password.clone()
    }
}

/// The page without its (random) CSRF values.
fn without_csrf(page: &str) -> String {
    page.replace(&csrf_of(page), "CSRF")
}

// ---- A5 ------------------------------------------------------------------------

#[tokio::test]
async fn reset_answer_is_the_same_for_known_and_unknown_users() {
    let h = harness().await;
    let known = h.forgot("alice", "Alice@Perso.example").await;
    let wrong_email = h.forgot("alice", "mallory@evil.example").await;
    let unknown = h.forgot("nobody", "nobody@perso.example").await;
    let garbage = h.forgot("a b/c", "x").await;
    for r in [&known, &wrong_email, &unknown, &garbage] {
        assert_eq!(r.status(), StatusCode::OK);
        assert!(body(r).contains(super::pages::FORGOT_SENT));
        assert!(set_cookie(r, csrf::CSRF_COOKIE_DEMO).is_some());
    }
    let reference = without_csrf(&body(&known));
    for r in [&wrong_email, &unknown, &garbage] {
        assert_eq!(without_csrf(&body(r)), reference, "identical answers");
    }
    // Only the matching request sent something, to the contact address.
    let (to, text) = h.mail(1).await;
    assert_eq!(to, CONTACT);
    assert!(text.contains("première connexion ou de réinitialisation"));
    assert!(text.contains("valable 1 heure"));
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(h.mails(), 1);

    // Rate limit per client address (5 per 10 minutes by default, 4 used above).
    assert_eq!(h.forgot("x", "y@z.fr").await.status(), StatusCode::OK);
    let limited = h.forgot("alice", CONTACT).await;
    assert_eq!(limited.status(), StatusCode::TOO_MANY_REQUESTS);
    h.clock.advance(Duration::from_secs(600));
    assert_eq!(h.forgot("x", "y@z.fr").await.status(), StatusCode::OK);
}

#[tokio::test]
async fn reset_link_is_single_use_and_sets_the_password() {
    let h = harness().await;
    let old_session = h.full_session().await;
    let token = h.reset_link().await;

    let page = h
        .call(get(&format!("/nouveau-mot-de-passe?jeton={token}"), ""))
        .await;
    let html = body(&page);
    assert!(html.contains("Identifiant : <strong>alice@ms.example</strong>"));
    assert!(html.contains("autocomplete=\"new-password\""));

    // Policy: each rule named, the link still usable afterwards.
    for (pw, msg) in [
        ("Court-1a", "au moins 12 caractères"),
        ("nouveau-mot-2-passe", "majuscule"),
        ("NOUVEAU-MOT-2-PASSE", "minuscule"),
        ("Nouveau-mot-de-passe", "chiffre"),
        ("Nouveaumot2passe", "caractère spécial"),
    ] {
        let r = h.new_password(&token, pw, pw).await;
        assert_eq!(r.status(), StatusCode::BAD_REQUEST);
        assert!(body(&r).contains(msg), "{pw}: {}", body(&r));
    }
    let r = h
        .new_password(&token, GOOD_NEW, "Nouveau-mot-2-passf")
        .await;
    assert!(body(&r).contains("ne correspondent pas"));
    assert!(!h
        .store_calls()
        .iter()
        .any(|c| c == "admin:SetPasswordRequest"));

    // The store refuses it: the link is put back.
    let r = h.new_password(&token, REFUSED_NEW, REFUSED_NEW).await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert!(body(&r).contains("La messagerie a refusé ce mot de passe"));

    let r = h.new_password(&token, GOOD_NEW, GOOD_NEW).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        r.headers()[LOCATION],
        "/connexion?info=mot-de-passe-modifie"
    );
    assert_eq!(h.store_password(), GOOD_NEW);
    let calls = h.store_calls();
    // The password is set, then every old session's store token is ended.
    let set = calls
        .iter()
        .rposition(|c| c == "admin:SetPasswordRequest")
        .expect("SetPasswordRequest");
    assert_eq!(
        calls[set - 2..set],
        [
            "admin:AuthRequest".to_string(),
            "admin:GetAccountRequest".to_string()
        ],
        "{calls:?}"
    );
    let after = &calls[set + 1..];
    assert!(
        !after.is_empty() && after.iter().all(|c| c == "EndSessionRequest"),
        "{calls:?}"
    );
    assert!(!h.alive(&old_session).await, "old sessions end");
    // The second factor is kept.
    let sec = h.st.factor.durable.get(USER).await.unwrap();
    assert_eq!(sec.contact_email.as_deref(), Some(CONTACT));
    // A notice goes to the contact address.
    let (to, text) = h.mail(2).await;
    assert_eq!(to, CONTACT);
    assert!(text.contains("vient d'être modifié"));

    // Used once: gone, on GET and on POST.
    let again = h
        .call(get(&format!("/nouveau-mot-de-passe?jeton={token}"), ""))
        .await;
    assert_eq!(again.status(), StatusCode::GONE);
    assert!(body(&again).contains("déjà été utilisé"));
    let (cookie, csrf_token, _) = h.ds_page("/connexion").await;
    let replay = h
        .call(post(
            "/nouveau-mot-de-passe",
            &cookie,
            format!("csrf={csrf_token}&token={token}&password={GOOD_NEW}&confirmation={GOOD_NEW}"),
        ))
        .await;
    assert_eq!(replay.status(), StatusCode::GONE);

    // The login page says so; the new password logs in.
    let login = h
        .call(get("/connexion?info=mot-de-passe-modifie", ""))
        .await;
    assert!(body(&login).contains("Votre mot de passe a été modifié."));
    let odd = h.call(get("/connexion?info=%3Cscript%3E", "")).await;
    assert!(!body(&odd).contains("role=\"status\""), "no reflected text");
}

#[tokio::test]
async fn expired_and_malformed_links() {
    let h = harness().await;
    let token = h.reset_link().await;
    h.clock.advance(Duration::from_secs(3600));
    let r = h
        .call(get(&format!("/nouveau-mot-de-passe?jeton={token}"), ""))
        .await;
    assert_eq!(r.status(), StatusCode::GONE);
    assert!(body(&r).contains("Lien expiré ou déjà utilisé"));
    for q in ["", "?jeton=", "?jeton=abc", "?jeton=%3Cscript%3E"] {
        let r = h.call(get(&format!("/nouveau-mot-de-passe{q}"), "")).await;
        assert_eq!(r.status(), StatusCode::BAD_REQUEST, "{q}");
    }
}

#[tokio::test]
async fn reset_unavailable_without_admin_credentials() {
    let h = harness_with(false).await;
    let r = h.call(get("/mot-de-passe-oublie", "")).await;
    assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(body(&r).contains("momentanément indisponible"));
    let r = h
        .call(post(
            "/mot-de-passe-oublie",
            "",
            "csrf=x&username=a&email=b".into(),
        ))
        .await;
    assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
}

#[tokio::test]
async fn reset_forms_refuse_bad_csrf() {
    let h = harness().await;
    // No cookie, or a cookie that does not match the form.
    let (cookie, token, _) = h.ds_page("/mot-de-passe-oublie").await;
    let form = format!("csrf={token}&username=alice&email={CONTACT}");
    let r = h.call(post("/mot-de-passe-oublie", "", form.clone())).await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let (other_cookie, _, _) = h.ds_page("/mot-de-passe-oublie").await;
    let r = h
        .call(post("/mot-de-passe-oublie", &other_cookie, form.clone()))
        .await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(h.mails(), 0, "nothing sent");
    assert_eq!(
        h.call(post("/mot-de-passe-oublie", &cookie, form))
            .await
            .status(),
        StatusCode::OK
    );

    let link = h.reset_link().await;
    let form = format!("csrf=forged&token={link}&password={GOOD_NEW}&confirmation={GOOD_NEW}");
    let r = h.call(post("/nouveau-mot-de-passe", &cookie, form)).await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert_ne!(h.store_password(), GOOD_NEW);
    let r = h
        .call(get(&format!("/nouveau-mot-de-passe?jeton={link}"), ""))
        .await;
    assert_eq!(r.status(), StatusCode::OK, "link not used up");
}

// ---- A6 ------------------------------------------------------------------------

#[tokio::test]
async fn profile_requires_a_full_session() {
    let h = harness().await;
    let pending =
        h.st.sessions
            .create(USER, Stage::PasswordOk, Some(UpstreamToken::new("0_user")))
            .await
            .unwrap();
    let pending = format!("mssante_session={}", pending.id.expose());
    // A valid profile token of that half-done session would not help either.
    let token =
        h.st.sessions
            .load(pending.split_once('=').unwrap().1, false)
            .await
            .unwrap()
            .unwrap()
            .csrf_secret;
    let t = csrf::session_token(&token, "profile");
    for cookie in ["", pending.as_str()] {
        let r = h.call(get("/profil", cookie)).await;
        assert_eq!(r.status(), StatusCode::SEE_OTHER);
        assert_eq!(r.headers()[LOCATION], "/connexion?retour=%2Fprofil");
        for path in [
            "/profil/email",
            "/profil/email/confirmation",
            "/profil/mot-de-passe",
            "/profil/otp",
            "/profil/otp/envoyer",
            "/deconnexion/partout",
        ] {
            let body = format!(
                "csrf={t}&email=n%40perso.example&code=123456&old_password=Ancien-mot-de-passe-1&password={GOOD_NEW}&confirmation={GOOD_NEW}"
            );
            let r = h.call(post(path, cookie, body)).await;
            assert_eq!(r.status(), StatusCode::SEE_OTHER, "{path}");
        }
    }
    assert!(h.alive(&pending).await);
    assert_eq!(h.store_password(), "Ancien-mot-de-passe-1");
}

#[tokio::test]
async fn profile_forms_refuse_bad_csrf() {
    let h = harness().await;
    let cookie = h.full_session().await;
    let other = h.full_session().await;
    let other_token = h.profile_csrf(&other).await;
    let id = other.split_once('=').unwrap().1;
    let secret =
        h.st.sessions
            .load(id, false)
            .await
            .unwrap()
            .unwrap()
            .csrf_secret;
    let wrong_purpose = csrf::session_token(&secret, "otp");
    let (stolen, purpose) = (
        format!("csrf={other_token}"),
        format!("csrf={wrong_purpose}"),
    );
    let bads: [&str; 5] = ["", "csrf=", "csrf=forged", &stolen, &purpose];
    for bad in bads {
        for path in [
            "/profil/email",
            "/profil/email/confirmation",
            "/profil/mot-de-passe",
            "/profil/otp",
            "/profil/otp/envoyer",
            "/deconnexion/partout",
        ] {
            let body = format!(
                "{bad}&email=n%40perso.example&code=123456&old_password=Ancien-mot-de-passe-1&password={GOOD_NEW}&confirmation={GOOD_NEW}"
            );
            let r = h.call(post(path, &cookie, body)).await;
            assert_eq!(r.status(), StatusCode::FORBIDDEN, "{path} {bad}");
        }
    }
    assert!(h.alive(&cookie).await && h.alive(&other).await);
    assert_eq!(h.store_password(), "Ancien-mot-de-passe-1");
    assert!(h.store_calls().is_empty());
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(h.mails(), 0);
}

#[tokio::test]
async fn contact_change_needs_the_code_sent_to_the_new_address() {
    let h = harness().await;
    let cookie = h.full_session().await;
    let t = h.profile_csrf(&cookie).await;
    let r = h
        .call(post(
            "/profil/email",
            &cookie,
            format!("csrf={t}&email=pas-une-adresse"),
        ))
        .await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert!(body(&r).contains("Adresse e-mail invalide."));

    let r = h
        .call(post(
            "/profil/email",
            &cookie,
            format!("csrf={t}&email=Alice.Nouvelle%40perso.example"),
        ))
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let html = body(&r);
    assert!(html.contains("Alice.Nouvelle@perso.example") && html.contains("Code de confirmation"));
    let (to, text) = h.mail(1).await;
    assert_eq!(
        to, "Alice.Nouvelle@perso.example",
        "sent to the NEW address"
    );
    let i = text.find("    ").unwrap() + 4;
    let code: String = text[i..].chars().take(6).collect();
    assert!(code.chars().all(|c| c.is_ascii_digit()), "{text}");
    // Not changed before the code.
    let contact = || async { h.st.factor.durable.get(USER).await.unwrap().contact_email };
    assert_eq!(contact().await.as_deref(), Some(CONTACT));

    let wrong = if code == "000000" { "111111" } else { "000000" };
    let r = h
        .call(post(
            "/profil/email/confirmation",
            &cookie,
            format!("csrf={t}&code={wrong}"),
        ))
        .await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert!(body(&r).contains("Code incorrect"));
    assert_eq!(contact().await.as_deref(), Some(CONTACT));

    let r = h
        .call(post(
            "/profil/email/confirmation",
            &cookie,
            format!("csrf={t}&code={code}"),
        ))
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    assert!(body(&r).contains("Votre adresse de contact a été modifiée."));
    assert_eq!(
        contact().await.as_deref(),
        Some("Alice.Nouvelle@perso.example")
    );
    // The previous address is told.
    let (to, text) = h.mail(2).await;
    assert_eq!(to, CONTACT);
    assert!(text.contains("Alice.Nouvelle@perso.example"));
    // The code is used up.
    let r = h
        .call(post(
            "/profil/email/confirmation",
            &cookie,
            format!("csrf={t}&code={code}"),
        ))
        .await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn password_change_keeps_this_session_with_the_new_token() {
    let h = harness().await;
    let cookie = h.full_session().await;
    let other = h.full_session().await;
    let t = h.profile_csrf(&cookie).await;
    let change = |old: &str, new: &str, confirm: &str| {
        format!(
            "csrf={t}&username=alice&old_password={}&password={}&confirmation={}",
            enc(old),
            enc(new),
            enc(confirm)
        )
    };
    let r = h
        .call(post(
            "/profil/mot-de-passe",
            &cookie,
            change("Ancien-mot-de-passe-1", "faible", "faible"),
        ))
        .await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert!(body(&r).contains("au moins 12 caractères"));
    assert!(
        h.store_calls().is_empty(),
        "policy checked before the store"
    );

    let r = h
        .call(post(
            "/profil/mot-de-passe",
            &cookie,
            change("faux", GOOD_NEW, GOOD_NEW),
        ))
        .await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert!(body(&r).contains("L'ancien mot de passe est incorrect."));

    let r = h
        .call(post(
            "/profil/mot-de-passe",
            &cookie,
            change("Ancien-mot-de-passe-1", GOOD_NEW, GOOD_NEW),
        ))
        .await;
    assert_eq!(r.status(), StatusCode::OK, "{}", body(&r));
    assert!(body(&r).contains("Votre mot de passe a été modifié."));
    assert_eq!(h.store_password(), GOOD_NEW);
    let id = cookie.split_once('=').unwrap().1;
    let s = h.st.sessions.load(id, false).await.unwrap().unwrap();
    assert_eq!(s.upstream_token.unwrap().expose(), "0_changed");
    assert!(!h.alive(&other).await, "other sessions end");

    // Wrong old passwords count as failures of this (account, address) pair (the right
    // one above started the count again): after three, the pair is banned.
    for _ in 0..3 {
        let r = h
            .call(post(
                "/profil/mot-de-passe",
                &cookie,
                change("faux", GOOD_NEW, GOOD_NEW),
            ))
            .await;
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    }
    let r = h
        .call(post(
            "/profil/mot-de-passe",
            &cookie,
            change(GOOD_NEW, "Encore-1-autre", "Encore-1-autre"),
        ))
        .await;
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(h.store_password(), GOOD_NEW);
}

#[tokio::test]
async fn otp_channel_change_needs_a_current_code() {
    let h = harness().await;
    let d = &h.st.factor.durable;
    d.set_totp_secret(USER, Some(SECRET)).await.unwrap();
    d.set_otp_channel(USER, Some(OtpChannel::Totp))
        .await
        .unwrap();
    let cookie = h.full_session().await;
    // A full session alone does not reach the set-up of an existing channel.
    let r = h.call(get("/otp/parametrage", &cookie)).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(r.headers()[LOCATION], "/profil");

    let t = h.profile_csrf(&cookie).await;
    let r = h
        .call(post(
            "/profil/otp",
            &cookie,
            format!("csrf={t}&code=000000"),
        ))
        .await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert!(body(&r).contains("Code incorrect"));
    assert_eq!(
        h.call(get("/otp/parametrage", &cookie)).await.status(),
        StatusCode::SEE_OTHER
    );

    let code = h.st.factor.totp.code_at(SECRET, T0).unwrap();
    let r = h
        .call(post(
            "/profil/otp",
            &cookie,
            format!("csrf={t}&code={code}"),
        ))
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(r.headers()[LOCATION], "/otp/parametrage");
    let r = h.call(get("/otp/parametrage", &cookie)).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert!(body(&r).contains("Paramétrage du mot de passe unique"));
    // Bound to this session: another full session of the same user gets nothing.
    let other = h.full_session().await;
    assert_eq!(
        h.call(get("/otp/parametrage", &other)).await.status(),
        StatusCode::SEE_OTHER
    );

    // Email channel: "Recevoir un code par email" sends a login code to the contact.
    d.set_otp_channel(USER, Some(OtpChannel::Email))
        .await
        .unwrap();
    let t2 = h.profile_csrf(&other).await;
    let r = h
        .call(post("/profil/otp/envoyer", &other, format!("csrf={t2}")))
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    assert!(body(&r).contains("Un code vous a été envoyé"));
    let (to, _) = h.mail(1).await;
    assert_eq!(to, CONTACT);
}

#[tokio::test]
async fn logout_everywhere_ends_every_session() {
    let h = harness().await;
    let a = h.full_session().await;
    let b = h.full_session().await;
    let t = h.profile_csrf(&a).await;
    let r = h
        .call(post("/deconnexion/partout", &a, format!("csrf={t}")))
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(r.headers()[LOCATION], "/connexion?info=deconnecte-partout");
    assert!(set_cookie(&r, "mssante_session").unwrap().ends_with('='));
    assert!(!h.alive(&a).await && !h.alive(&b).await);
    // Both sessions' store tokens are ended too.
    assert_eq!(h.store_calls(), vec!["EndSessionRequest".to_string(); 2]);
    let login = h.call(get("/connexion?info=deconnecte-partout", "")).await;
    assert!(body(&login).contains("Toutes vos sessions ont été fermées."));

    // GET /deconnexion (the webmail's link) still works.
    let c = h.full_session().await;
    let r = h.call(get("/deconnexion", &c)).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert!(!h.alive(&c).await);
}
