//! The browser login flow end to end against a fake store.

use super::*;
use crate::auth::clock::Clock;
use crate::auth::config::{RegulationConfig, SessionConfig};
use crate::auth::otp::{EmailCodes, RecoveryCodes, TotpFactor};
use crate::store::{DataKey, DurableStore};
use http::header::{COOKIE, LOCATION, SET_COOKIE};

const SECRET: &str = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP";
const T0: u64 = 1_800_000_000;

async fn state() -> PortalState {
    let clock = Clock::manual(T0 * 1000);
    let short = ShortStore::memory(clock, 10_000);
    let cfg = AuthConfig {
        login_domain: Some("ms.example".into()),
        regulation: RegulationConfig {
            failure_min_delay_ms: 0,
            ..RegulationConfig::default()
        },
        session: SessionConfig {
            insecure_loopback_demo: true,
            ..SessionConfig::default()
        },
        ..AuthConfig::default()
    };
    let upstream = UpstreamClient::standalone(
        &crate::auth::test_support::fake_store().await,
        None,
        Duration::from_secs(5),
    )
    .unwrap();
    PortalState {
        sessions: SessionManager::new(cfg.session.clone(), short.clone()),
        factor: SecondFactor {
            durable: DurableStore::open_sqlite_memory(DataKey::generate()).unwrap(),
            totp: TotpFactor::new(cfg.totp.clone(), "Op"),
            email: EmailCodes::new(cfg.email_code.clone(), short.clone()),
            recovery: RecoveryCodes::new(10),
        },
        regulator: Regulator::new(cfg.regulation.clone(), short.clone()),
        resolver: AccountResolver::new(cfg.login_domain.clone(), upstream.clone(), None, None),
        upstream,
        mailer: None,
        short,
        psc: None,
        cfg,
    }
}

fn ip() -> IpAddr {
    IpAddr::from([198, 51, 100, 7])
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

/// The `csrf` hidden field of a page.
fn csrf_of(page: &str) -> String {
    let i = page.find("name=\"csrf\" value=\"").unwrap() + 19;
    page[i..].split('"').next().unwrap().to_string()
}

async fn login(st: &PortalState, password: &str, return_to: &str) -> Response<Bytes> {
    let page = handle(get("/connexion", ""), ip(), st).await;
    let csrf_cookie = set_cookie(&page, csrf::CSRF_COOKIE_DEMO).unwrap();
    let token = csrf_of(&body(&page));
    let form = format!("csrf={token}&username=Alice&password={password}&return_to={return_to}");
    handle(post("/connexion", &csrf_cookie, form), ip(), st).await
}

#[tokio::test]
async fn login_totp_full_session_redirect() {
    let st = state().await;
    let user = "alice@ms.example";
    st.factor
        .durable
        .set_totp_secret(user, Some(SECRET))
        .await
        .unwrap();
    st.factor
        .durable
        .set_otp_channel(user, Some(OtpChannel::Totp))
        .await
        .unwrap();

    let r = login(&st, "good", "%2Fzimbra%2Fmail").await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(r.headers()[LOCATION], "/otp");
    let pending = set_cookie(&r, "mssante_session").unwrap();
    // A half-logged-in session cannot see the profile.
    let p = handle(get("/profil", &pending), ip(), &st).await;
    assert_eq!(p.status(), StatusCode::SEE_OTHER);

    let otp = handle(get("/otp", &pending), ip(), &st).await;
    let token = csrf_of(&body(&otp));
    let wrong = handle(
        post("/otp", &pending, format!("csrf={token}&code=000000")),
        ip(),
        &st,
    )
    .await;
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    assert!(body(&wrong).contains("Code incorrect"));
    let bad_csrf = handle(
        post("/otp", &pending, "csrf=forged&code=123456".into()),
        ip(),
        &st,
    )
    .await;
    assert_eq!(bad_csrf.status(), StatusCode::FORBIDDEN);

    let code = st.factor.totp.code_at(SECRET, T0).unwrap();
    let done = handle(
        post("/otp", &pending, format!("csrf={token}&code={code}")),
        ip(),
        &st,
    )
    .await;
    assert_eq!(done.status(), StatusCode::SEE_OTHER);
    assert_eq!(done.headers()[LOCATION], "/zimbra/mail");
    let full = set_cookie(&done, "mssante_session").unwrap();
    assert_ne!(full, pending, "rotated after the second factor");
    let id = full.split_once('=').unwrap().1;
    let s = st.sessions.load(id, true).await.unwrap().unwrap();
    assert_eq!(s.stage, Stage::Full);
    assert_eq!(s.upstream_token.unwrap().expose(), "0_upstream");
    let old_id = pending.split_once('=').unwrap().1;
    assert!(st.sessions.load(old_id, true).await.unwrap().is_none());

    let prof = handle(get("/profil", &full), ip(), &st).await;
    assert!(body(&prof).contains("alice@ms.example"));

    let out = handle(get("/deconnexion", &full), ip(), &st).await;
    assert!(set_cookie(&out, "mssante_session").unwrap().ends_with('='));
    assert!(st.sessions.load(id, true).await.unwrap().is_none());
}

#[tokio::test]
async fn bad_password_and_open_redirect_and_csrf() {
    let st = state().await;
    let r = login(&st, "bad", "%2F").await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert!(body(&r).contains("Identifiant ou mot de passe incorrect."));
    assert!(set_cookie(&r, "mssante_session").is_none());

    // Login without the CSRF cookie is refused.
    let page = handle(get("/connexion", ""), ip(), &st).await;
    let token = csrf_of(&body(&page));
    let r = handle(
        post(
            "/connexion",
            "",
            format!("csrf={token}&username=a&password=good"),
        ),
        ip(),
        &st,
    )
    .await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);

    // An off-site return target falls back to "/".
    let page = handle(get("/connexion?retour=%2F%2Fevil.example", ""), ip(), &st).await;
    assert!(body(&page).contains("name=\"return_to\" value=\"/\""));
}

#[tokio::test]
async fn first_login_sets_up_totp_with_test_then_full() {
    let st = state().await;
    let r = login(&st, "good", "%2F").await;
    assert_eq!(r.headers()[LOCATION], "/otp/parametrage");
    let pending = set_cookie(&r, "mssante_session").unwrap();
    let page = handle(get("/otp/parametrage", &pending), ip(), &st).await;
    assert!(body(&page).contains("Veuillez configurer le canal de télécommunication"));
    let token = csrf_of(&body(&page));
    let r = handle(
        post(
            "/otp/parametrage",
            &pending,
            format!("csrf={token}&email=alice%40perso.example&channel=totp"),
        ),
        ip(),
        &st,
    )
    .await;
    let html = body(&r);
    assert!(html.contains("Tester la saisie d'un OTP") && html.contains("data:image/png;base64,"));
    let i = html.find("class=\"secret\">").unwrap() + 15;
    let secret = html[i..].split('<').next().unwrap().to_string();
    let code = st.factor.totp.code_at(&secret, T0).unwrap();
    let r = handle(
        post("/otp/test", &pending, format!("csrf={token}&code={code}")),
        ip(),
        &st,
    )
    .await;
    assert_eq!(r.status(), StatusCode::OK);
    assert!(body(&r).contains("Codes de secours"));
    assert!(set_cookie(&r, "mssante_session").is_some());
    let sec = st.factor.durable.get("alice@ms.example").await.unwrap();
    assert_eq!(sec.otp_channel, Some(OtpChannel::Totp));
    assert_eq!(sec.recovery_codes_left, 10);

    // Next login: the password alone cannot replace the second factor.
    let r = login(&st, "good", "%2F").await;
    let pending = set_cookie(&r, "mssante_session").unwrap();
    let r = handle(get("/otp/parametrage", &pending), ip(), &st).await;
    assert_eq!(r.headers()[LOCATION], "/otp");
}
