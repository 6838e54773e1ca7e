//! Class 5: regulation an attacker cannot turn around. Counters and bans are keyed on
//! the account the name designates (every spelling shares them), wrong passwords ban
//! the (account, address) pair and only slow the account down, wrong codes count per
//! account from every address, exempt ranges escape address bans only, and keys an
//! attacker makes cannot evict a ban.

use super::super::common::smtp::SmtpSink;
use super::super::common::*;
use super::*;
use std::time::{Duration, Instant};

const OWNER: &str = "198.51.100.10";
const ATTACKER: &str = "203.0.113.5";

fn reason(v: &Value) -> String {
    json_text(&v["Body"]["Fault"]["Reason"]["Text"]).unwrap_or_default()
}

/// Three wrong passwords typed three ways from one address ban that address for
/// every spelling of the account (JSON, XML, portal), not the owner elsewhere nor
/// other accounts from it; many attacking addresses slow the account down, never lock
/// it: the owner's usual address goes straight through, a new one waits at most
/// `account_max_delay_secs`.
#[tokio::test]
async fn every_spelling_shares_one_ban_and_the_owner_is_not_locked_out() {
    let sb = start_sandbox();
    let gw = start_gateway_with_addresses(&sb, "[auth.regulation]\naccount_max_delay_secs = 6\n");
    let url = gw.url("/service/soap");
    let (_, _, codes) = enrol_from(&gw, ANTOINE, Some(OWNER)).await;
    for name in &STORE_SPELLINGS[..3] {
        let (_, v) = json_from(&url, &auth_json(name, "mauvais"), Some(ATTACKER)).await;
        assert_eq!(fault_code(&v), "account.AUTH_FAILED", "{v}");
    }
    for name in STORE_SPELLINGS[3..].iter().chain(FOLDED_SPELLINGS) {
        let (_, v) = json_from(&url, &auth_json(name, SANDBOX_PASSWORD), Some(ATTACKER)).await;
        assert_eq!(
            fault_code(&v),
            "account.AUTH_FAILED",
            "{name} shares the ban: {v}"
        );
    }
    let (_, body) = soap_from(&url, &auth_xml(ANTOINE, SANDBOX_PASSWORD), Some(ATTACKER)).await;
    assert_eq!(xml_fault_code(&body), "account.AUTH_FAILED", "{body}");
    let mut web = Web::new(&gw, Some(ATTACKER));
    let (s, _, _) = web
        .login("antoine.lefevre@santé-pdl.mssante.fr", SANDBOX_PASSWORD)
        .await;
    assert_eq!(s, 401, "portal shares the ban");
    // The address is not banned as a whole; the owner elsewhere is not banned at all.
    let (_, v) = json_from(&url, &auth_json(ADELE, SANDBOX_PASSWORD), Some(ATTACKER)).await;
    assert_eq!(fault_code(&v), "account.TWO_FACTOR_SETUP_REQUIRED", "{v}");
    let (_, v) = json_from(&url, &auth_json(ANTOINE, SANDBOX_PASSWORD), Some(OWNER)).await;
    let stage = stage_of(&v).unwrap();
    let (_, v) = json_from(&url, &code_json(&stage, &codes[0]), Some(OWNER)).await;
    assert!(
        json_text(&v["Body"]["AuthResponse"]["authToken"]).is_some(),
        "{v}"
    );

    // Many addresses now: the account is slowed down for unknown addresses only.
    for n in 10..16 {
        let from = format!("203.0.113.{n}");
        for name in &STORE_SPELLINGS[..3] {
            let (_, v) = json_from(&url, &auth_json(name, "mauvais"), Some(&from)).await;
            assert_eq!(fault_code(&v), "account.AUTH_FAILED", "{v}");
        }
    }
    let (_, v) = json_from(&url, &auth_json(ANTOINE, SANDBOX_PASSWORD), Some(OWNER)).await;
    assert!(
        stage_of(&v).is_ok(),
        "the owner's address is not slowed down: {v}"
    );
    let new_place = "192.0.2.77";
    let (_, v) = json_from(&url, &auth_json(ANTOINE, SANDBOX_PASSWORD), Some(new_place)).await;
    assert!(
        reason(&v).contains("réessayez"),
        "slowed down, not refused: {v}"
    );
    let started = Instant::now();
    loop {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let (_, v) = json_from(&url, &auth_json(ANTOINE, SANDBOX_PASSWORD), Some(new_place)).await;
        if stage_of(&v).is_ok() {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(12),
            "the owner stays locked out: {v}"
        );
    }
}

/// 42 wrong codes within a minute from two addresses (JSON and XML, the attacker
/// logging in again whenever a pending login is voided), then the right code from a
/// third address: no session, over SOAP or in the portal; the owner is told by email.
#[tokio::test]
async fn wrong_codes_from_many_addresses_then_the_right_one_open_no_session() {
    let smtp = SmtpSink::start();
    let sb = start_sandbox();
    let gw = start_gateway_with_addresses(&sb, &smtp.gateway_config());
    let url = gw.url("/service/soap");
    let (_, secret, _) = enrol_from(&gw, ANTOINE, Some(OWNER)).await;
    let contact = "antoine.perso@example.org";
    let cfg = gw.config_path.to_str().unwrap();
    // The administration command takes any spelling of the account too.
    let out = run_binary(&[
        "users",
        "set-contact",
        "--config",
        cfg,
        "a.lefevre@esantepdl.mssante.fr",
        contact,
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains(ANTOINE));

    let now = unix_now();
    let near: Vec<String> = (0..4)
        .map(|k| totp_at(&secret, now - 30 + 30 * k))
        .collect();
    let wrong = (0..)
        .map(|n: u32| format!("{:06}", 111_111 * (n % 9 + 1)))
        .find(|c| !near.contains(c))
        .unwrap();
    let addresses = [ATTACKER, "2001:db8:5:5::1"];
    let (mut stage, mut voided, mut locked) = (None::<String>, 0, false);
    for i in 0..42 {
        let from = addresses[i % 2];
        if stage.is_none() {
            let (_, v) = json_from(&url, &auth_json(ANTOINE, SANDBOX_PASSWORD), Some(from)).await;
            stage = Some(stage_of(&v).unwrap());
        }
        let s = stage.clone().unwrap();
        let (code, text) = if i % 3 == 0 {
            let (_, body) = soap_from(&url, &code_xml(&s, &wrong), Some(from)).await;
            (xml_fault_code(&body), body)
        } else {
            let (_, v) = json_from(&url, &code_json(&s, &wrong), Some(from)).await;
            (fault_code(&v), v.to_string())
        };
        match code.as_str() {
            "account.TWO_FACTOR_AUTH_FAILED" if text.contains("bloquée") => {
                locked = true;
                stage = None;
            }
            "account.TWO_FACTOR_AUTH_FAILED" => {}
            "service.AUTH_EXPIRED" => {
                voided += 1;
                stage = None;
            }
            other => panic!("code {i}: {other} {text}"),
        }
    }
    assert!(voided >= 1, "a few wrong codes void the pending logins");
    assert!(locked, "more lock the second factor");

    let third = "192.0.2.200";
    let (_, v) = json_from(&url, &auth_json(ANTOINE, SANDBOX_PASSWORD), Some(third)).await;
    let stage = stage_of(&v).unwrap();
    let right = totp_at(&secret, unix_now());
    let (_, v) = json_from(&url, &code_json(&stage, &right), Some(third)).await;
    assert!(v["Body"]["AuthResponse"].is_null(), "a session opened: {v}");
    let mut web = Web::new(&gw, Some(third));
    let (_, loc, _) = web.login(ANTOINE, SANDBOX_PASSWORD).await;
    assert_eq!(loc, "/otp");
    let (s, _, page) = web.code(&right).await;
    assert_eq!(s, 429, "{page}");
    assert!(page.contains("bloquée"), "{page}");
    let (s, loc, _) = web.get("/").await;
    assert_eq!(
        (s, loc.starts_with("/connexion")),
        (302, true),
        "no session"
    );

    let mail = smtp
        .wait_for(contact, |b| b.contains("bloquée"), Duration::from_secs(10))
        .await;
    assert!(mail.contains("mot de passe"), "{mail}");
}

/// A hospital's NAT (`exempt_addresses`) is never banned as a whole, unlike any other
/// address failing on many accounts; per-account limits still apply to it. In memory
/// the bans live in the gateway: `users unban` says it cannot lift them.
#[tokio::test]
async fn exempt_ranges_escape_address_bans_never_account_limits() {
    let sb = start_sandbox();
    let gw = start_gateway_with_addresses(
        &sb,
        "[auth.regulation]\nexempt_addresses = [\"10.0.0.0/8\"]\n",
    );
    let url = gw.url("/service/soap");
    let (nat, other) = ("10.20.30.40", "203.0.113.77");
    for i in 0..21 {
        for from in [nat, other] {
            let name = format!("inconnu{i}@esantepdl.mssante.fr");
            let (_, v) = json_from(&url, &auth_json(&name, "x"), Some(from)).await;
            assert_eq!(fault_code(&v), "account.AUTH_FAILED", "{v}");
        }
    }
    let (_, v) = json_from(&url, &auth_json(ADELE, SANDBOX_PASSWORD), Some(other)).await;
    assert_eq!(
        fault_code(&v),
        "account.AUTH_FAILED",
        "the address is banned: {v}"
    );
    let (_, v) = json_from(&url, &auth_json(ADELE, SANDBOX_PASSWORD), Some(nat)).await;
    assert_eq!(
        fault_code(&v),
        "account.TWO_FACTOR_SETUP_REQUIRED",
        "the NAT is not: {v}"
    );
    for _ in 0..3 {
        json_from(&url, &auth_json("camille.bernard", "x"), Some(nat)).await;
    }
    let (_, v) = json_from(&url, &auth_json(CAMILLE, SANDBOX_PASSWORD), Some(nat)).await;
    assert_eq!(
        fault_code(&v),
        "account.AUTH_FAILED",
        "per-account limits apply: {v}"
    );

    let cfg = gw.config_path.to_str().unwrap();
    let out = run_binary(&["users", "unban", "--config", cfg, "--address", other]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("en mémoire"));
}

/// Keys an attacker can make by the hundred (stage tokens of his own account, counters
/// of unknown names from fresh addresses) never push a ban out: the bounded spaces are
/// separate and a full regulation space refuses new counters (fail closed).
#[tokio::test]
async fn an_eviction_flood_cannot_clear_a_ban() {
    let sb = start_sandbox();
    let gw = start_gateway_with_addresses(&sb, "[auth.store]\nmemory_max_entries = 100\n");
    let url = gw.url("/service/soap");
    for _ in 0..3 {
        json_from(&url, &auth_json(ANTOINE, "mauvais"), Some(ATTACKER)).await;
    }
    enrol_from(&gw, ADELE, Some("198.51.100.99")).await;
    // (Each from its own address: parallel attempts of one pair are capped too.)
    for chunk in 0..6 {
        let calls = (0..25).map(|i| {
            let url = url.clone();
            async move {
                let from = format!("198.51.{}.{}", 100 + chunk, i + 1);
                let (_, v) =
                    json_from(&url, &auth_json(ADELE, SANDBOX_PASSWORD), Some(&from)).await;
                assert!(stage_of(&v).is_ok(), "chunk {chunk}: {v}");
            }
        });
        futures_util::future::join_all(calls).await;
    }
    let mut refused = 0;
    for i in 0..60u32 {
        let from = format!("198.18.{}.{}", i / 200, i % 200 + 1);
        let name = format!("x{i}@esantepdl.mssante.fr");
        let (_, v) = json_from(&url, &auth_json(&name, "x"), Some(&from)).await;
        if fault_code(&v) == "service.FAILURE" {
            refused += 1;
        }
    }
    assert!(refused > 0, "the regulation space never filled up");
    let (_, v) = json_from(&url, &auth_json(ANTOINE, SANDBOX_PASSWORD), Some(ATTACKER)).await;
    assert!(
        v["Body"]["AuthResponse"].is_null(),
        "the ban was evicted: {v}"
    );
}
