use super::*;

fn regulator_with(cfg: RegulationConfig, capacity: u64) -> (Regulator, Clock) {
    let clock = Clock::manual(50_000_000);
    let store = ShortStore::memory(clock.clone(), capacity);
    (Regulator::new(cfg, store), clock)
}

fn regulator() -> (Regulator, Clock) {
    regulator_with(RegulationConfig::default(), 100_000)
}

fn ip(n: u8) -> IpAddr {
    IpAddr::from([192, 0, 2, n])
}

const ALICE: &str = "alice@ms.example";

/// One wrong password, as the login does it: attempt counted, then the failure.
async fn fail(r: &Regulator, account: &str, ip: IpAddr) {
    if r.begin_password(account, ip).await.unwrap() == PasswordGate::Open {
        r.password_failed(account, ip).await.unwrap();
    }
}

#[test]
fn address_groups() {
    assert_eq!(address_group(ip(7)), "192.0.2.7");
    let a: IpAddr = "2001:db8:1:2:aaaa::1".parse().unwrap();
    let b: IpAddr = "2001:db8:1:2:ffff:1:2:3".parse().unwrap();
    let c: IpAddr = "2001:db8:1:3::1".parse().unwrap();
    assert_eq!(address_group(a), address_group(b));
    assert_ne!(address_group(a), address_group(c));
    let mapped: IpAddr = "::ffff:192.0.2.7".parse().unwrap();
    assert_eq!(address_group(mapped), "192.0.2.7");
}

#[tokio::test]
async fn wrong_passwords_ban_the_pair_not_the_owner() {
    let (r, clock) = regulator();
    for _ in 0..3 {
        fail(&r, ALICE, ip(1)).await;
    }
    assert_eq!(
        r.password_gate(ALICE, ip(1)).await.unwrap(),
        PasswordGate::Banned
    );
    assert_eq!(
        r.password_gate(ALICE, ip(9)).await.unwrap(),
        PasswordGate::Open,
        "the owner elsewhere is not locked out"
    );
    clock.advance(Duration::from_secs(300));
    assert_eq!(
        r.password_gate(ALICE, ip(1)).await.unwrap(),
        PasswordGate::Open,
        "ban lifted after 5 min"
    );
}

#[tokio::test]
async fn ipv6_neighbours_share_one_ban() {
    let (r, _) = regulator();
    for host in 1..=3u16 {
        let a = IpAddr::from([0x2001, 0xdb8, 7, 7, 0, 0, 0, host]);
        fail(&r, ALICE, a).await;
    }
    let other_host = IpAddr::from([0x2001, 0xdb8, 7, 7, 9, 9, 9, 9]);
    assert_eq!(
        r.password_gate(ALICE, other_host).await.unwrap(),
        PasswordGate::Banned
    );
}

#[tokio::test]
async fn many_addresses_slow_the_account_down_known_ones_pass() {
    let (r, clock) = regulator();
    r.login_completed(ALICE, ip(200)).await.unwrap();
    for n in 0..5 {
        fail(&r, ALICE, ip(n)).await;
    }
    assert_eq!(
        r.password_gate(ALICE, ip(50)).await.unwrap(),
        PasswordGate::Open
    );
    fail(&r, ALICE, ip(5)).await;
    assert_eq!(
        r.password_gate(ALICE, ip(50)).await.unwrap(),
        PasswordGate::Slowed(Duration::from_secs(1))
    );
    // Each further failure, once its wait is over, doubles the wait, up to the cap.
    for n in 6..20 {
        clock.advance(Duration::from_secs(61));
        fail(&r, ALICE, ip(n)).await;
    }
    assert_eq!(
        r.password_gate(ALICE, ip(50)).await.unwrap(),
        PasswordGate::Slowed(Duration::from_secs(60)),
        "capped"
    );
    assert_eq!(
        r.password_gate(ALICE, ip(200)).await.unwrap(),
        PasswordGate::Open,
        "the owner's usual address is not slowed down"
    );
    clock.advance(Duration::from_secs(60));
    assert_eq!(
        r.password_gate(ALICE, ip(50)).await.unwrap(),
        PasswordGate::Open,
        "a delay, not a lock"
    );
}

#[tokio::test]
async fn address_failing_on_many_accounts_is_banned_unless_exempt() {
    let cfg = RegulationConfig {
        exempt_addresses: vec!["10.0.0.0/8".into()],
        ..RegulationConfig::default()
    };
    let (r, _) = regulator_with(cfg, 100_000);
    let nat = IpAddr::from([10, 1, 2, 3]);
    for n in 0..20 {
        fail(&r, &format!("u{n}@ms.example"), ip(7)).await;
        fail(&r, &format!("u{n}@ms.example"), nat).await;
    }
    assert_eq!(
        r.password_gate("someone@ms.example", ip(7)).await.unwrap(),
        PasswordGate::Banned
    );
    assert_eq!(
        r.password_gate("someone@ms.example", nat).await.unwrap(),
        PasswordGate::Open,
        "a hospital's NAT is not banned as a whole"
    );
    for _ in 0..3 {
        fail(&r, ALICE, nat).await;
    }
    assert_eq!(
        r.password_gate(ALICE, nat).await.unwrap(),
        PasswordGate::Banned,
        "per-account limits apply to exempt addresses"
    );
    for _ in 0..40 {
        assert!(r.allow_from(Endpoint::Otp, nat).await.unwrap());
    }
    r.unban(None, Some(ip(7))).await.unwrap();
    assert_eq!(
        r.password_gate("someone@ms.example", ip(7)).await.unwrap(),
        PasswordGate::Open
    );
}

#[tokio::test]
async fn unban_lifts_an_accounts_bans_from_every_address() {
    let (r, _) = regulator();
    for a in [1, 2] {
        for _ in 0..3 {
            fail(&r, ALICE, ip(a)).await;
        }
    }
    r.unban(Some(ALICE), None).await.unwrap();
    for a in [1, 2] {
        assert_eq!(
            r.password_gate(ALICE, ip(a)).await.unwrap(),
            PasswordGate::Open
        );
    }
    // A ban started after the amnesty holds.
    for _ in 0..3 {
        fail(&r, ALICE, ip(1)).await;
    }
    // (same clock instant: the amnesty covers bans started at or before it)
    r.store.clock().advance(Duration::from_millis(1));
    for _ in 0..3 {
        fail(&r, ALICE, ip(3)).await;
    }
    assert_eq!(
        r.password_gate(ALICE, ip(3)).await.unwrap(),
        PasswordGate::Banned
    );
}

#[tokio::test]
async fn wrong_codes_void_then_lock_across_addresses() {
    let (r, clock) = regulator();
    let epoch = r.code_epoch(ALICE).await.unwrap();
    for n in 0..4 {
        assert_eq!(
            r.code_failed(ALICE, ip(n)).await.unwrap(),
            CodeFailure::Counted
        );
    }
    assert_eq!(r.code_gate(ALICE, epoch).await.unwrap(), CodeGate::Open);
    assert_eq!(
        r.code_failed(ALICE, ip(4)).await.unwrap(),
        CodeFailure::Voided
    );
    assert_eq!(
        r.code_gate(ALICE, epoch).await.unwrap(),
        CodeGate::Voided,
        "every pending login made before is void"
    );
    let epoch = r.code_epoch(ALICE).await.unwrap();
    for n in 5..9 {
        r.code_failed(ALICE, ip(n)).await.unwrap();
    }
    assert_eq!(
        r.code_failed(ALICE, ip(9)).await.unwrap(),
        CodeFailure::LockedNow
    );
    let epoch_after = r.code_epoch(ALICE).await.unwrap();
    assert_ne!(epoch, epoch_after);
    assert_eq!(
        r.code_gate(ALICE, epoch_after).await.unwrap(),
        CodeGate::Locked
    );
    clock.advance(Duration::from_secs(900));
    assert_eq!(
        r.code_gate(ALICE, epoch_after).await.unwrap(),
        CodeGate::Open
    );
}

#[tokio::test]
async fn completed_login_resets_counts() {
    let (r, _) = regulator();
    for n in 0..7 {
        fail(&r, ALICE, ip(n)).await;
    }
    r.login_completed(ALICE, ip(100)).await.unwrap();
    assert_eq!(
        r.password_gate(ALICE, ip(50)).await.unwrap(),
        PasswordGate::Open
    );
}

/// Keys an attacker makes by the million (sessions, stage tokens, codes) never evict
/// a ban; when the regulation space itself is full, new counters fail closed.
#[tokio::test]
async fn attacker_keys_cannot_evict_a_ban() {
    let (r, _) = regulator_with(RegulationConfig::default(), 50);
    for _ in 0..3 {
        fail(&r, ALICE, ip(1)).await;
    }
    for n in 0..5_000 {
        r.store
            .put(
                &format!("session:{n}"),
                vec![0; 64],
                Duration::from_secs(600),
            )
            .await
            .unwrap();
    }
    assert_eq!(
        r.password_gate(ALICE, ip(1)).await.unwrap(),
        PasswordGate::Banned
    );
    let mut refused = false;
    for n in 0..200u32 {
        let who = format!("x{n}@ms.example");
        if r.begin_password(&who, IpAddr::from([203, 0, 113, (n % 250) as u8]))
            .await
            .is_err()
        {
            refused = true;
            break;
        }
    }
    assert!(refused, "a full regulation space refuses new counters");
    assert_eq!(
        r.password_gate(ALICE, ip(1)).await.unwrap(),
        PasswordGate::Banned,
        "and keeps the ban"
    );
}

#[tokio::test]
async fn rate_limits() {
    let (r, clock) = regulator();
    for _ in 0..5 {
        assert!(r.allow_from(Endpoint::Reset, ip(1)).await.unwrap());
    }
    assert!(!r.allow_from(Endpoint::Reset, ip(1)).await.unwrap());
    assert!(r.allow_from(Endpoint::Reset, ip(2)).await.unwrap());
    clock.advance(Duration::from_secs(600));
    assert!(r.allow_from(Endpoint::Reset, ip(1)).await.unwrap());
    for _ in 0..30 {
        assert!(r.allow_from(Endpoint::Otp, ip(1)).await.unwrap());
    }
    assert!(!r.allow_from(Endpoint::Otp, ip(1)).await.unwrap());
    for _ in 0..5 {
        assert!(r.allow_account(Endpoint::EmailCode, ALICE).await.unwrap());
    }
    assert!(!r.allow_account(Endpoint::EmailCode, ALICE).await.unwrap());
}

#[tokio::test]
async fn uniform_delay_pads_fast_failures() {
    let (r, _) = regulator();
    let started = Instant::now();
    let d = r.failure_delay(started);
    assert!(
        d >= Duration::from_millis(400) && d < Duration::from_millis(600),
        "{d:?}"
    );
    let long_ago = Instant::now() - Duration::from_secs(2);
    assert!(r.failure_delay(long_ago) < Duration::from_millis(85));
}
