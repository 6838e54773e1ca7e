//! Brute-force regulation (A9) that an attacker cannot turn against the account owner.
//!
//! Wrong passwords:
//! - an (account, address) pair is banned after `max_retries` failures within
//!   `find_time_secs`, for `ban_time_secs`: the attacker's address, not the owner;
//! - one address (IPv4 address, IPv6 /64) failing on many accounts is banned after
//!   `address_max_failures` within `address_find_time_secs`, for `address_ban_secs` —
//!   except addresses in `exempt_addresses` (a hospital's NAT), which are never banned
//!   as a whole but keep every per-account limit;
//! - an account failing from many addresses is slowed down, never locked: past
//!   `account_free_failures` failures (forgotten `account_window_secs` after the last
//!   one), each failure makes the next password check wait 1, 2, 4… seconds, at most
//!   `account_max_delay_secs`. Addresses the owner completed a login from within
//!   `known_address_days` are not slowed down.
//!
//! Wrong second-factor codes are counted per account, from every address:
//! `otp_void_after` of them void every pending login and stage token of the account
//! (the password must be given again), `otp_lock_after` lock its second factor for
//! `otp_lock_secs` (even the right code is refused) and the caller notifies the user.
//!
//! A banned login gets the same answer as a wrong password (no enumeration). Every key
//! lives in the short store's guard space (`store::short::GUARD_PREFIX`), which keys
//! an attacker makes cannot evict.

use super::clock::Clock;
use super::config::RegulationConfig;
use crate::audit::AuditEvent;
use crate::store::{ShortStore, StoreError};
use ipnet::IpNet;
use std::net::IpAddr;
use std::sync::Arc;
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

/// May a password be checked now?
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PasswordGate {
    Open,
    /// Banned pair or address: answered as a wrong password, the store is not asked.
    Banned,
    /// The account is being slowed down: try again after this long.
    Slowed(Duration),
}

/// May a second-factor code be checked now?
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CodeGate {
    Open,
    /// This pending login was voided by wrong codes: start again with the password.
    Voided,
    /// The account's second factor is locked for a while.
    Locked,
}

/// What one more wrong code did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CodeFailure {
    Counted,
    /// Every pending login of the account is void.
    Voided,
    /// The second factor is now locked (the user is to be told).
    LockedNow,
}

/// The address group regulation counts on: an IPv4 address, or the /64 of an IPv6
/// address (one subscriber gets a whole /64).
pub fn address_group(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(a) => a.to_string(),
        IpAddr::V6(a) => match a.to_ipv4_mapped() {
            Some(v4) => v4.to_string(),
            None => {
                let s = a.segments();
                format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
            }
        },
    }
}

fn canonical_ip(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(a) => a.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
        v4 => v4,
    }
}

/// Parses `exempt_addresses` (CIDR or single addresses); errors name the entry.
pub fn parse_exempt(list: &[String]) -> Result<Vec<IpNet>, String> {
    list.iter()
        .map(|s| {
            let t = s.trim();
            t.parse::<IpNet>()
                .or_else(|_| t.parse::<IpAddr>().map(IpNet::from))
                .map_err(|_| format!("{s:?} is not an address or a CIDR range"))
        })
        .collect()
}

// Keys: one space separates the address group and the account (names hold no spaces).
fn pair(account: &str, group: &str) -> String {
    format!("{group} {account}")
}

#[derive(Debug, Clone)]
pub struct Regulator {
    cfg: RegulationConfig,
    store: ShortStore,
    exempt: Arc<Vec<IpNet>>,
}

impl Regulator {
    /// Invalid `exempt_addresses` entries are refused by the configuration check;
    /// any left here are ignored (never exempt by mistake).
    pub fn new(cfg: RegulationConfig, store: ShortStore) -> Self {
        let exempt = cfg
            .exempt_addresses
            .iter()
            .filter_map(|s| parse_exempt(std::slice::from_ref(s)).ok())
            .flatten()
            .collect();
        Regulator {
            cfg,
            store,
            exempt: Arc::new(exempt),
        }
    }

    fn clock(&self) -> &Clock {
        self.store.clock()
    }

    /// Is `ip` in `exempt_addresses`?
    pub fn is_exempt(&self, ip: IpAddr) -> bool {
        let ip = canonical_ip(ip);
        self.exempt.iter().any(|n| n.contains(&ip))
    }

    async fn started_at(&self, key: &str) -> Result<Option<u64>, StoreError> {
        Ok(self.store.get(key).await?.map(|d| {
            d.as_slice()
                .try_into()
                .map(u64::from_be_bytes)
                .unwrap_or(u64::MAX)
        }))
    }

    async fn put_time(&self, key: &str, at_ms: u64, ttl: Duration) -> Result<(), StoreError> {
        self.store.put(key, at_ms.to_be_bytes().to_vec(), ttl).await
    }

    /// A ban is void when an administrator lifted bans of its account or address since.
    async fn live_ban(&self, ban_key: &str, amnesties: &[String]) -> Result<bool, StoreError> {
        let Some(start) = self.started_at(ban_key).await? else {
            return Ok(false);
        };
        for a in amnesties {
            if self.started_at(a).await?.is_some_and(|at| at >= start) {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// Checks, before the store is asked, whether `account`'s password may be tried
    /// from `ip` now.
    pub async fn password_gate(
        &self,
        account: &str,
        ip: IpAddr,
    ) -> Result<PasswordGate, StoreError> {
        let group = address_group(ip);
        let amnesty_account = format!("reg:amnesty:acct:{account}");
        let amnesty_address = format!("reg:amnesty:addr:{group}");
        if self.cfg.max_retries > 0
            && self
                .live_ban(
                    &format!("reg:ban:pair:{}", pair(account, &group)),
                    &[amnesty_account, amnesty_address.clone()],
                )
                .await?
        {
            return Ok(PasswordGate::Banned);
        }
        if self.cfg.address_max_failures > 0
            && !self.is_exempt(ip)
            && self
                .live_ban(&format!("reg:ban:addr:{group}"), &[amnesty_address])
                .await?
        {
            return Ok(PasswordGate::Banned);
        }
        if self.cfg.account_max_delay_secs > 0 && !self.is_known(account, &group).await? {
            if let Some(next) = self.started_at(&format!("reg:pw:next:{account}")).await? {
                let now = self.clock().now_ms();
                if next > now {
                    return Ok(PasswordGate::Slowed(Duration::from_millis(next - now)));
                }
            }
        }
        Ok(PasswordGate::Open)
    }

    /// [`password_gate`](Self::password_gate), and when open, counts the attempt on
    /// its (account, address) pair before the store is asked: parallel attempts cannot
    /// all slip through, and a counter that cannot be written (full regulation space,
    /// store down) refuses the attempt (fail closed). A right password clears it.
    pub async fn begin_password(
        &self,
        account: &str,
        ip: IpAddr,
    ) -> Result<PasswordGate, StoreError> {
        let gate = self.password_gate(account, ip).await?;
        if gate != PasswordGate::Open || self.cfg.max_retries == 0 {
            return Ok(gate);
        }
        let counter = format!("reg:pw:pair:{}", pair(account, &address_group(ip)));
        let window = Duration::from_secs(self.cfg.find_time_secs);
        if self.store.incr(&counter, window).await? > self.cfg.max_retries {
            return Ok(PasswordGate::Banned);
        }
        Ok(PasswordGate::Open)
    }

    async fn is_known(&self, account: &str, group: &str) -> Result<bool, StoreError> {
        Ok(self
            .store
            .get(&format!("reg:known:{}", pair(account, group)))
            .await?
            .is_some())
    }

    /// The delay after the `n`-th failure of an account in its window.
    fn account_delay(&self, n: u64) -> Option<Duration> {
        let free = self.cfg.account_free_failures;
        if self.cfg.account_max_delay_secs == 0 || n <= free {
            return None;
        }
        let doublings = (n - free - 1).min(20) as u32;
        Some(Duration::from_secs(
            (1u64 << doublings).min(self.cfg.account_max_delay_secs),
        ))
    }

    /// Counts a wrong password of `account` from `ip` (after
    /// [`begin_password`](Self::begin_password) counted the attempt).
    pub async fn password_failed(&self, account: &str, ip: IpAddr) -> Result<(), StoreError> {
        AuditEvent::new("login.failure")
            .user(account)
            .client_ip(ip)
            .emit();
        let now = self.clock().now_ms();
        let group = address_group(ip);
        if self.cfg.max_retries > 0 {
            let counter = format!("reg:pw:pair:{}", pair(account, &group));
            if self.store.count(&counter).await? >= self.cfg.max_retries {
                let ban = format!("reg:ban:pair:{}", pair(account, &group));
                self.put_time(&ban, now, Duration::from_secs(self.cfg.ban_time_secs))
                    .await?;
                self.store.delete(&counter).await?;
                AuditEvent::new("login.banned")
                    .user(account)
                    .client_ip(ip)
                    .detail(serde_json::json!({"scope": "account_address", "secs": self.cfg.ban_time_secs}))
                    .emit();
            }
        }
        if self.cfg.address_max_failures > 0 && !self.is_exempt(ip) {
            let counter = format!("reg:pw:addr:{group}");
            let window = Duration::from_secs(self.cfg.address_find_time_secs);
            if self.store.incr(&counter, window).await? >= self.cfg.address_max_failures {
                let ban = format!("reg:ban:addr:{group}");
                self.put_time(&ban, now, Duration::from_secs(self.cfg.address_ban_secs))
                    .await?;
                self.store.delete(&counter).await?;
                AuditEvent::new("login.banned")
                    .client_ip(ip)
                    .detail(
                        serde_json::json!({"scope": "address", "secs": self.cfg.address_ban_secs}),
                    )
                    .emit();
            }
        }
        let idle = Duration::from_secs(self.cfg.account_window_secs.max(1));
        let n = self
            .store
            .incr_sliding(&format!("reg:pw:acct:{account}"), idle)
            .await?;
        if let Some(delay) = self.account_delay(n) {
            self.put_time(
                &format!("reg:pw:next:{account}"),
                now + delay.as_millis() as u64,
                delay,
            )
            .await?;
            AuditEvent::new("login.slowed")
                .user(account)
                .detail(serde_json::json!({"failures": n, "delay_secs": delay.as_secs()}))
                .emit();
        }
        Ok(())
    }

    /// A right password: the pair's failure count starts again.
    pub async fn password_succeeded(&self, account: &str, ip: IpAddr) -> Result<(), StoreError> {
        let group = address_group(ip);
        self.store
            .delete(&format!("reg:pw:pair:{}", pair(account, &group)))
            .await?;
        AuditEvent::new("login.password_ok")
            .user(account)
            .client_ip(ip)
            .emit();
        Ok(())
    }

    /// Both factors done: the address becomes known for the account, and the account's
    /// password and code failure counts start again.
    pub async fn login_completed(&self, account: &str, ip: IpAddr) -> Result<(), StoreError> {
        let group = address_group(ip);
        let keep = Duration::from_secs(self.cfg.known_address_days.max(1) * 86_400);
        self.store
            .put(
                &format!("reg:known:{}", pair(account, &group)),
                vec![1],
                keep,
            )
            .await?;
        for k in [
            format!("reg:pw:acct:{account}"),
            format!("reg:pw:next:{account}"),
            format!("reg:otp:fail:{account}"),
        ] {
            self.store.delete(&k).await?;
        }
        Ok(())
    }

    /// The account's current pending-login generation (kept in each pending login and
    /// stage token; voiding bumps it).
    pub async fn code_epoch(&self, account: &str) -> Result<u64, StoreError> {
        self.store.count(&format!("reg:otp:epoch:{account}")).await
    }

    /// Checks, before a code is looked at, that the account's second factor is not
    /// locked and that this pending login (made at `epoch`) was not voided.
    pub async fn code_gate(&self, account: &str, epoch: u64) -> Result<CodeGate, StoreError> {
        if self
            .store
            .get(&format!("reg:otp:lock:{account}"))
            .await?
            .is_some()
        {
            return Ok(CodeGate::Locked);
        }
        if self.code_epoch(account).await? != epoch {
            return Ok(CodeGate::Voided);
        }
        Ok(CodeGate::Open)
    }

    async fn void_pending(&self, account: &str) -> Result<(), StoreError> {
        // A day outlives any pending login; if it expired the epoch is 0 again, which
        // voids pending logins made at a later epoch (fail closed).
        self.store
            .incr_sliding(
                &format!("reg:otp:epoch:{account}"),
                Duration::from_secs(86_400),
            )
            .await?;
        Ok(())
    }

    /// Counts a wrong second-factor code of `account` (whatever the address).
    pub async fn code_failed(&self, account: &str, ip: IpAddr) -> Result<CodeFailure, StoreError> {
        let idle = Duration::from_secs(self.cfg.otp_window_secs.max(1));
        let n = self
            .store
            .incr_sliding(&format!("reg:otp:fail:{account}"), idle)
            .await?;
        if self.cfg.otp_lock_after > 0 && n >= self.cfg.otp_lock_after {
            let fresh = self
                .store
                .get(&format!("reg:otp:lock:{account}"))
                .await?
                .is_none();
            let lock = Duration::from_secs(self.cfg.otp_lock_secs.max(1));
            self.store
                .put(&format!("reg:otp:lock:{account}"), vec![1], lock)
                .await?;
            self.void_pending(account).await?;
            AuditEvent::new("otp.locked")
                .user(account)
                .client_ip(ip)
                .detail(serde_json::json!({"failures": n, "secs": self.cfg.otp_lock_secs}))
                .emit();
            return Ok(if fresh {
                CodeFailure::LockedNow
            } else {
                CodeFailure::Voided
            });
        }
        if self.cfg.otp_void_after > 0 && n % self.cfg.otp_void_after == 0 {
            self.void_pending(account).await?;
            AuditEvent::new("otp.pending_voided")
                .user(account)
                .client_ip(ip)
                .detail(serde_json::json!({"failures": n}))
                .emit();
            return Ok(CodeFailure::Voided);
        }
        Ok(CodeFailure::Counted)
    }

    /// Lifts regulation (admin command, a completed password reset): with an account,
    /// its bans from every address, its slow-down and its second-factor lock; with an
    /// address, its address ban and its bans on every account; with both, that pair.
    pub async fn unban(&self, account: Option<&str>, ip: Option<IpAddr>) -> Result<(), StoreError> {
        let now = self.clock().now_ms();
        let amnesty =
            Duration::from_secs(self.cfg.ban_time_secs.max(self.cfg.address_ban_secs).max(1));
        match (account, ip) {
            (Some(a), Some(ip)) => {
                let p = pair(a, &address_group(ip));
                self.store.delete(&format!("reg:ban:pair:{p}")).await?;
                self.store.delete(&format!("reg:pw:pair:{p}")).await?;
            }
            (Some(a), None) => {
                self.put_time(&format!("reg:amnesty:acct:{a}"), now, amnesty)
                    .await?;
                for k in [
                    format!("reg:pw:acct:{a}"),
                    format!("reg:pw:next:{a}"),
                    format!("reg:otp:fail:{a}"),
                    format!("reg:otp:lock:{a}"),
                ] {
                    self.store.delete(&k).await?;
                }
            }
            (None, Some(ip)) => {
                let g = address_group(ip);
                self.put_time(&format!("reg:amnesty:addr:{g}"), now, amnesty)
                    .await?;
                self.store.delete(&format!("reg:ban:addr:{g}")).await?;
                self.store.delete(&format!("reg:pw:addr:{g}")).await?;
            }
            (None, None) => {}
        }
        AuditEvent::new("regulation.lifted")
            .detail(serde_json::json!({
                "account": account,
                "address": ip.map(address_group),
            }))
            .emit();
        Ok(())
    }

    async fn allow_key(&self, endpoint: Endpoint, subject: &str) -> Result<bool, StoreError> {
        let (limit, window) = match endpoint {
            Endpoint::Otp => (self.cfg.otp_per_minute, 60),
            Endpoint::EmailCode => (self.cfg.email_code_per_10min, 600),
            Endpoint::Reset => (self.cfg.reset_per_10min, 600),
        };
        if limit == 0 {
            return Ok(true);
        }
        let key = format!("reg:rate:{}:{subject}", endpoint.name());
        let n = self.store.incr(&key, Duration::from_secs(window)).await?;
        if n == limit + 1 {
            AuditEvent::new("rate.limited")
                .detail(serde_json::json!({"endpoint": endpoint.name()}))
                .emit();
        }
        Ok(n <= limit)
    }

    /// Fixed-window rate limit per client address (IPv6 by /64); exempt addresses
    /// are not limited as a whole.
    pub async fn allow_from(&self, endpoint: Endpoint, ip: IpAddr) -> Result<bool, StoreError> {
        if self.is_exempt(ip) {
            return Ok(true);
        }
        self.allow_key(endpoint, &address_group(ip)).await
    }

    /// Fixed-window rate limit per account.
    pub async fn allow_account(
        &self,
        endpoint: Endpoint,
        account: &str,
    ) -> Result<bool, StoreError> {
        self.allow_key(endpoint, &format!("account {account}"))
            .await
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
#[path = "regulation_tests.rs"]
mod tests;
