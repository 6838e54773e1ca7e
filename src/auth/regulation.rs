//! Brute-force regulation (A9): bans per account and per client address after
//! repeated first-factor failures, fixed-window rate limits per endpoint, a
//! minimum answer time for failures, and the matching audit events.
//! A banned login gets the same answer as a wrong password (no enumeration).

use super::clock::Clock;
use super::config::RegulationConfig;
use crate::audit::AuditEvent;
use crate::store::{ShortStore, StoreError};
use std::net::IpAddr;
use std::time::{Duration, Instant};

/// Rate-limited endpoints.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    /// Second-factor submissions, per client address.
    Otp,
    /// Sending an email code, per account.
    EmailCode,
    /// First connection / forgotten password, per client address.
    Reset,
}

impl Endpoint {
    fn name(self) -> &'static str {
        match self {
            Endpoint::Otp => "otp",
            Endpoint::EmailCode => "email_code",
            Endpoint::Reset => "reset",
        }
    }
}

#[derive(Debug, Clone)]
pub struct Regulator {
    cfg: RegulationConfig,
    store: ShortStore,
}

fn user_key(user: &str) -> String {
    user.trim().to_lowercase()
}

impl Regulator {
    pub fn new(cfg: RegulationConfig, store: ShortStore) -> Self {
        Regulator { cfg, store }
    }

    fn clock(&self) -> &Clock {
        self.store.clock()
    }

    /// Is this account or this address banned right now?
    pub async fn is_banned(&self, user: &str, ip: IpAddr) -> Result<bool, StoreError> {
        if self.cfg.max_retries == 0 {
            return Ok(false);
        }
        Ok(self
            .store
            .get(&format!("ban:user:{}", user_key(user)))
            .await?
            .is_some()
            || self.store.get(&format!("ban:ip:{ip}")).await?.is_some())
    }

    /// Counts a first-factor failure; bans the account and/or the address when
    /// the threshold is reached within the window. Returns true if a ban started.
    pub async fn record_failure(&self, user: &str, ip: IpAddr) -> Result<bool, StoreError> {
        AuditEvent::new("login.failure")
            .user(user)
            .client_ip(ip)
            .emit();
        if self.cfg.max_retries == 0 {
            return Ok(false);
        }
        let window = Duration::from_secs(self.cfg.find_time_secs);
        let ban = Duration::from_secs(self.cfg.ban_time_secs);
        let mut banned = false;
        let user = user_key(user);
        if self
            .store
            .incr(&format!("fail:user:{user}"), window)
            .await?
            >= self.cfg.max_retries
        {
            self.store
                .put(&format!("ban:user:{user}"), vec![1], ban)
                .await?;
            self.store.delete(&format!("fail:user:{user}")).await?;
            AuditEvent::new("login.banned")
                .user(user.clone())
                .detail(serde_json::json!({"scope": "user", "secs": self.cfg.ban_time_secs}))
                .emit();
            banned = true;
        }
        if self.store.incr(&format!("fail:ip:{ip}"), window).await? >= self.cfg.max_retries {
            self.store
                .put(&format!("ban:ip:{ip}"), vec![1], ban)
                .await?;
            self.store.delete(&format!("fail:ip:{ip}")).await?;
            AuditEvent::new("login.banned")
                .client_ip(ip)
                .detail(serde_json::json!({"scope": "ip", "secs": self.cfg.ban_time_secs}))
                .emit();
            banned = true;
        }
        Ok(banned)
    }

    /// A successful first factor clears the account's failure count.
    pub async fn record_success(&self, user: &str, ip: IpAddr) -> Result<(), StoreError> {
        self.store
            .delete(&format!("fail:user:{}", user_key(user)))
            .await?;
        AuditEvent::new("login.password_ok")
            .user(user)
            .client_ip(ip)
            .emit();
        Ok(())
    }

    /// Lifts a ban (admin command).
    pub async fn unban(&self, user: Option<&str>, ip: Option<IpAddr>) -> Result<(), StoreError> {
        if let Some(u) = user {
            self.store
                .delete(&format!("ban:user:{}", user_key(u)))
                .await?;
        }
        if let Some(ip) = ip {
            self.store.delete(&format!("ban:ip:{ip}")).await?;
        }
        Ok(())
    }

    /// Fixed-window rate limit: true if this call is allowed. `subject` is the
    /// client address or the account, depending on the endpoint.
    pub async fn allow(&self, endpoint: Endpoint, subject: &str) -> Result<bool, StoreError> {
        let (limit, window) = match endpoint {
            Endpoint::Otp => (self.cfg.otp_per_minute, 60),
            Endpoint::EmailCode => (self.cfg.email_code_per_10min, 600),
            Endpoint::Reset => (self.cfg.reset_per_10min, 600),
        };
        if limit == 0 {
            return Ok(true);
        }
        let key = format!("rate:{}:{}", endpoint.name(), user_key(subject));
        let n = self.store.incr(&key, Duration::from_secs(window)).await?;
        if n == limit + 1 {
            AuditEvent::new("rate.limited")
                .detail(serde_json::json!({"endpoint": endpoint.name()}))
                .emit();
        }
        Ok(n <= limit)
    }

    /// How long a failure answer must still wait so every failure takes at least
    /// the configured minimum (plus a little jitter), started at `started`.
    pub fn failure_delay(&self, started: Instant) -> Duration {
        let jitter = Duration::from_millis(rand::random_range(0..85));
        Duration::from_millis(self.cfg.failure_min_delay_ms).saturating_sub(started.elapsed())
            + jitter
    }

    /// Sleeps until the minimum failure answer time is reached.
    pub async fn uniform_delay(&self, started: Instant) {
        tokio::time::sleep(self.failure_delay(started)).await;
    }

    /// Current time on the regulator's clock, ms (for audit details).
    pub fn now_ms(&self) -> u64 {
        self.clock().now_ms()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn regulator() -> (Regulator, Clock) {
        let clock = Clock::manual(50_000_000);
        let store = ShortStore::memory(clock.clone(), 1000);
        (Regulator::new(RegulationConfig::default(), store), clock)
    }

    fn ip(n: u8) -> IpAddr {
        IpAddr::from([192, 0, 2, n])
    }

    #[tokio::test]
    async fn three_failures_ban_for_five_minutes() {
        let (r, clock) = regulator();
        assert!(!r.record_failure("Alice", ip(1)).await.unwrap());
        assert!(!r.record_failure("alice", ip(2)).await.unwrap());
        assert!(!r.is_banned("alice", ip(9)).await.unwrap());
        assert!(r.record_failure("ALICE ", ip(3)).await.unwrap());
        assert!(
            r.is_banned("alice", ip(9)).await.unwrap(),
            "account banned whatever the address"
        );
        clock.advance(Duration::from_secs(299));
        assert!(r.is_banned("alice", ip(9)).await.unwrap());
        clock.advance(Duration::from_secs(1));
        assert!(
            !r.is_banned("alice", ip(9)).await.unwrap(),
            "ban lifted after 5 min"
        );
    }

    #[tokio::test]
    async fn failures_outside_window_do_not_add_up() {
        let (r, clock) = regulator();
        r.record_failure("bob", ip(1)).await.unwrap();
        r.record_failure("bob", ip(2)).await.unwrap();
        clock.advance(Duration::from_secs(121));
        assert!(!r.record_failure("bob", ip(3)).await.unwrap());
        assert!(!r.is_banned("bob", ip(4)).await.unwrap());
    }

    #[tokio::test]
    async fn address_ban_across_accounts_and_unban() {
        let (r, _) = regulator();
        r.record_failure("u1", ip(7)).await.unwrap();
        r.record_failure("u2", ip(7)).await.unwrap();
        assert!(r.record_failure("u3", ip(7)).await.unwrap());
        assert!(r.is_banned("someone-else", ip(7)).await.unwrap());
        assert!(!r.is_banned("someone-else", ip(8)).await.unwrap());
        r.unban(None, Some(ip(7))).await.unwrap();
        assert!(!r.is_banned("someone-else", ip(7)).await.unwrap());
    }

    #[tokio::test]
    async fn success_resets_account_counter() {
        let (r, _) = regulator();
        r.record_failure("carol", ip(1)).await.unwrap();
        r.record_failure("carol", ip(2)).await.unwrap();
        r.record_success("carol", ip(3)).await.unwrap();
        assert!(!r.record_failure("carol", ip(4)).await.unwrap());
    }

    #[tokio::test]
    async fn rate_limits() {
        let (r, clock) = regulator();
        for _ in 0..5 {
            assert!(r.allow(Endpoint::Reset, "192.0.2.1").await.unwrap());
        }
        assert!(!r.allow(Endpoint::Reset, "192.0.2.1").await.unwrap());
        assert!(r.allow(Endpoint::Reset, "192.0.2.2").await.unwrap());
        clock.advance(Duration::from_secs(600));
        assert!(r.allow(Endpoint::Reset, "192.0.2.1").await.unwrap());
        for _ in 0..30 {
            assert!(r.allow(Endpoint::Otp, "192.0.2.1").await.unwrap());
        }
        assert!(!r.allow(Endpoint::Otp, "192.0.2.1").await.unwrap());
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
}
