//! Scenario tests of the SOAP two-factor exchanges against a fake store.

use super::handler::SoapTwoFactor;
use crate::auth::clock::Clock;
use crate::auth::config::{EmailCodeConfig, RegulationConfig, SessionConfig, TotpConfig};
use crate::auth::identity::AccountResolver;
use crate::auth::otp::{EmailCodes, RecoveryCodes, TotpFactor};
use crate::auth::regulation::Regulator;
use crate::auth::second_factor::SecondFactor;
use crate::auth::session::{SessionManager, Stage};
use crate::auth::upstream::UpstreamClient;
use crate::soap::{Element, Envelope, Fault};
use crate::store::{DataKey, DurableStore, OtpChannel, ShortStore};
use std::net::IpAddr;
use std::time::Duration;

const SECRET: &str = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP";
const T0: u64 = 1_800_000_000;

async fn service() -> SoapTwoFactor {
    let clock = Clock::manual(T0 * 1000);
    let short = ShortStore::memory(clock.clone(), 10_000);
    let durable = DurableStore::open_sqlite_memory(DataKey::generate()).unwrap();
    let regulation = RegulationConfig {
        failure_min_delay_ms: 0,
        ..RegulationConfig::default()
    };
    let upstream = UpstreamClient::standalone(
        &crate::auth::test_support::fake_store().await,
        None,
        Duration::from_secs(5),
    )
    .unwrap();
    SoapTwoFactor {
        factor: SecondFactor {
            durable,
            totp: TotpFactor::new(TotpConfig::default(), "Op"),
            email: EmailCodes::new(EmailCodeConfig::default(), short.clone()),
            recovery: RecoveryCodes::new(10),
        },
        sessions: SessionManager::new(SessionConfig::default(), short.clone()),
        short: short.clone(),
        upstream: upstream.clone(),
        regulator: Regulator::new(regulation, short),
        mailer: None,
        operator: "Op".into(),
        resolver: AccountResolver::new(Some("ms.example".into()), upstream, None, None),
        otp_lock_secs: 900,
        stage_ttl: Duration::from_secs(300),
        session_lifetime: Duration::from_secs(3600),
    }
}

fn ip() -> IpAddr {
    IpAddr::from([192, 0, 2, 10])
}

fn parse(json: &str) -> Element {
    Envelope::parse(json.as_bytes()).unwrap().body
}

fn text(e: &Element, name: &str) -> String {
    e.child(name)
        .map(|c| c.text().to_string())
        .unwrap_or_default()
}

fn code_of(f: &Fault) -> &str {
    &f.code
}

async fn enrol_totp(s: &SoapTwoFactor, user: &str) {
    let d = &s.factor.durable;
    d.set_totp_secret(user, Some(SECRET)).await.unwrap();
    d.set_otp_channel(user, Some(OtpChannel::Totp))
        .await
        .unwrap();
}

fn password_request(user: &str, pw: &str) -> Element {
    parse(&format!(
        r#"{{"Body":{{"AuthRequest":{{"_jsns":"urn:zimbraAccount","account":{{"by":"name","_content":"{user}"}},"password":{{"_content":"{pw}"}}}}}}}}"#
    ))
}

fn code_request(stage: &str, code: &str) -> Element {
    parse(&format!(
        r#"{{"Body":{{"AuthRequest":{{"_jsns":"urn:zimbraAccount","authToken":{{"_content":"{stage}"}},"twoFactorCode":{{"_content":"{code}"}}}}}}}}"#
    ))
}

#[tokio::test]
async fn password_then_totp_gives_gateway_session() {
    let s = service().await;
    enrol_totp(&s, "alice@ms.example").await;
    let r = s
        .handle(&password_request("Alice", "good"), None, ip())
        .await
        .unwrap();
    assert_eq!(text(&r, "twoFactorAuthRequired"), "true");
    let stage = text(&r, "authToken");
    assert_ne!(
        stage, "0_upstream",
        "the upstream token never reaches the client"
    );

    let code = s.factor.totp.code_at(SECRET, T0).unwrap();
    let wrong = if code == "000000" { "111111" } else { "000000" };
    let f = s
        .handle(&code_request(&stage, wrong), None, ip())
        .await
        .unwrap_err();
    assert_eq!(code_of(&f), "account.TWO_FACTOR_AUTH_FAILED");

    let done = s
        .handle(&code_request(&stage, &code), None, ip())
        .await
        .unwrap();
    let token = text(&done, "authToken");
    let session = s.sessions.load(&token, true).await.unwrap().unwrap();
    assert_eq!(session.stage, Stage::Full);
    assert_eq!(session.user, "alice@ms.example");
    assert_eq!(session.upstream_token.unwrap().expose(), "0_upstream");

    // The stage token is single-use, and a stage token is not a session.
    let again = s
        .handle(&code_request(&stage, &code), None, ip())
        .await
        .unwrap_err();
    assert_eq!(code_of(&again), "service.AUTH_EXPIRED");
    assert!(s.sessions.load(&stage, true).await.unwrap().is_none());
}

#[tokio::test]
async fn wrong_passwords_ban_and_same_answer() {
    let s = service().await;
    enrol_totp(&s, "bob@ms.example").await;
    for _ in 0..3 {
        let f = s
            .handle(&password_request("bob", "bad"), None, ip())
            .await
            .unwrap_err();
        assert_eq!(code_of(&f), "account.AUTH_FAILED");
    }
    // Banned: the right password gets the very same fault.
    let f = s
        .handle(&password_request("bob", "good"), None, ip())
        .await
        .unwrap_err();
    assert_eq!(code_of(&f), "account.AUTH_FAILED");
}

#[tokio::test]
async fn setup_required_then_enable_app_in_two_steps() {
    let s = service().await;
    let f = s
        .handle(&password_request("carol", "good"), None, ip())
        .await
        .unwrap_err();
    assert_eq!(code_of(&f), "account.TWO_FACTOR_SETUP_REQUIRED");

    let step1 = parse(
        r#"{"Body":{"EnableTwoFactorAuthRequest":{"_jsns":"urn:zimbraAccount","name":{"_content":"carol"},"password":{"_content":"good"},"method":{"_content":"app"}}}}"#,
    );
    let r = s.handle(&step1, None, ip()).await.unwrap();
    let secret = text(&r, "secret");
    let etfa = text(&r, "authToken");
    let code = s.factor.totp.code_at(&secret, T0).unwrap();
    let step2 = parse(&format!(
        r#"{{"Body":{{"EnableTwoFactorAuthRequest":{{"_jsns":"urn:zimbraAccount","name":{{"_content":"carol"}},"authToken":{{"_content":"{etfa}"}},"twoFactorCode":{{"_content":"{code}"}}}}}}}}"#
    ));
    let r = s.handle(&step2, None, ip()).await.unwrap();
    let codes: Vec<String> = r
        .child("scratchCodes")
        .unwrap()
        .children
        .iter()
        .map(|c| c.text().to_string())
        .collect();
    assert_eq!(codes.len(), 10);
    assert!(s
        .sessions
        .load(&text(&r, "authToken"), true)
        .await
        .unwrap()
        .is_some());
    let sec = s.factor.durable.get("carol@ms.example").await.unwrap();
    assert_eq!(sec.otp_channel, Some(OtpChannel::Totp));

    // The enrolment code cannot be replayed to log in; a recovery code works once.
    let r = s
        .handle(&password_request("carol", "good"), None, ip())
        .await
        .unwrap();
    let stage = text(&r, "authToken");
    assert!(s
        .handle(&code_request(&stage, &code), None, ip())
        .await
        .is_err());
    assert!(s
        .handle(&code_request(&stage, &codes[0]), None, ip())
        .await
        .is_ok());

    // Enabling again with the password alone is refused.
    assert!(s.handle(&step1, None, ip()).await.is_err());
}

#[tokio::test]
async fn scratch_codes_need_a_session_and_disable_is_refused() {
    let s = service().await;
    let gen = parse(r#"{"Body":{"GenerateScratchCodesRequest":{"_jsns":"urn:zimbraAccount"}}}"#);
    assert_eq!(
        code_of(&s.handle(&gen, None, ip()).await.unwrap_err()),
        "service.AUTH_REQUIRED"
    );
    let r = s.handle(&gen, Some("dave@ms.example"), ip()).await.unwrap();
    assert_eq!(r.child("scratchCodes").unwrap().children.len(), 10);
    let get = parse(r#"{"Body":{"GetScratchCodesRequest":{"_jsns":"urn:zimbraAccount"}}}"#);
    assert!(s
        .handle(&get, Some("dave@ms.example"), ip())
        .await
        .unwrap()
        .child("scratchCodes")
        .unwrap()
        .children
        .is_empty());
    let dis = parse(r#"{"Body":{"DisableTwoFactorAuthRequest":{"_jsns":"urn:zimbraAccount"}}}"#);
    assert_eq!(
        code_of(
            &s.handle(&dis, Some("dave@ms.example"), ip())
                .await
                .unwrap_err()
        ),
        "service.PERM_DENIED"
    );
}

#[tokio::test]
async fn preauth_and_send_code_edge_cases() {
    let s = service().await;
    let pre = parse(
        r#"{"Body":{"AuthRequest":{"_jsns":"urn:zimbraAccount","account":{"by":"name","_content":"a"},"preauth":{"timestamp":"1","expires":"0","_content":"x"}}}}"#,
    );
    assert_eq!(
        code_of(&s.handle(&pre, None, ip()).await.unwrap_err()),
        "service.PERM_DENIED"
    );
    let send = parse(
        r#"{"Body":{"SendTwoFactorAuthCodeRequest":{"_jsns":"urn:zimbraAccount","action":{"_content":"email"},"authToken":{"_content":"nope"}}}}"#,
    );
    assert_eq!(
        code_of(&s.handle(&send, None, ip()).await.unwrap_err()),
        "service.AUTH_EXPIRED"
    );
}
