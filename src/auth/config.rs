//! Configuration section for this module (`[auth]` in the TOML file).
//!
//! Defaults follow Authelia's (auth-gateways.md §8) where they fit: 3 failures / 2 min
//! → 5 min ban (of the account *from that address*), TOTP SHA1/6/30 s/skew 1, sessions
//! regenerated after each factor.

use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// `[auth]`: login portal, second factor, sessions, regulation, state and mail.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuthConfig {
    /// Mail domain appended to a bare `prénom.nom` so that every login of a user
    /// maps to one key in the stores (e.g. `mssante.example.fr`).
    pub login_domain: Option<String>,
    /// Operator shown on pages, in emails and as the TOTP issuer.
    pub operator: OperatorConfig,
    /// Gateway session cookie and timeouts.
    pub session: SessionConfig,
    /// TOTP application second factor.
    pub totp: TotpConfig,
    /// Codes sent by email (second factor and contact-address confirmation).
    pub email_code: EmailCodeConfig,
    /// Recovery codes for a lost phone.
    pub recovery: RecoveryConfig,
    /// First-connection / forgotten-password links.
    pub reset: ResetConfig,
    /// Brute-force regulation and endpoint rate limits.
    pub regulation: RegulationConfig,
    /// Short-lived and durable state backends.
    pub store: crate::store::StoreConfig,
    /// Outgoing SMTP for codes and links.
    pub mail: crate::mail::MailConfig,
    /// Pro Santé Connect login (A4); the button shows when this section is set.
    pub psc: Option<crate::auth::psc::PscConfig>,
}

/// `[auth.operator]`: who runs the service.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct OperatorConfig {
    /// Operator name (page titles, email signature, TOTP issuer; no `:` allowed).
    pub name: String,
    /// Optional logo URL shown on the portal (same origin or data: URI).
    pub logo_url: Option<String>,
    /// Assistance phone number shown on the portal.
    pub support_phone: Option<String>,
    /// Assistance email address shown on the portal.
    pub support_email: Option<String>,
    /// Public base URL of the gateway (links in emails), e.g. `https://messagerie.example.fr`.
    pub public_url: String,
    /// The Pro Santé Connect button is shown: set at start from `[auth.psc]`, not configurable.
    #[serde(skip)]
    pub psc_enabled: bool,
}

impl Default for OperatorConfig {
    fn default() -> Self {
        OperatorConfig {
            name: "Messagerie MSSanté".into(),
            logo_url: None,
            support_phone: None,
            support_email: None,
            public_url: "https://localhost".into(),
            psc_enabled: false,
        }
    }
}

/// `[auth.session]`: the gateway-owned session.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct SessionConfig {
    /// Absolute lifetime of a session in seconds, whatever the activity (default 10 h, a working day).
    pub absolute_lifetime_secs: u64,
    /// Inactivity timeout in seconds; background polling does not count (default 30 min).
    pub inactivity_timeout_secs: u64,
    /// Lifetime of a half-done login (password checked, OTP pending), seconds (default 5 min).
    pub pending_login_secs: u64,
    /// Activity is written back at most this often, seconds (avoids a store write per request).
    pub touch_interval_secs: u64,
    /// Plain-HTTP loopback demo only: drop `Secure` and the `__Host-` prefix. Never in production.
    pub insecure_loopback_demo: bool,
}

impl Default for SessionConfig {
    fn default() -> Self {
        SessionConfig {
            absolute_lifetime_secs: 10 * 3600,
            inactivity_timeout_secs: 30 * 60,
            pending_login_secs: 5 * 60,
            touch_interval_secs: 30,
            insecure_loopback_demo: false,
        }
    }
}

/// `[auth.totp]`: RFC 6238 parameters (SHA1 only: some apps silently ignore others).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct TotpConfig {
    /// Code length (6 or 8).
    pub digits: u8,
    /// Time step in seconds.
    pub period_secs: u64,
    /// Accepted steps before and after the current one (clock skew).
    pub skew: u8,
}

impl Default for TotpConfig {
    fn default() -> Self {
        TotpConfig {
            digits: 6,
            period_secs: 30,
            skew: 1,
        }
    }
}

/// `[auth.email_code]`: codes sent to the contact address (never the protected mailbox).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct EmailCodeConfig {
    /// Number of digits.
    pub length: u8,
    /// Validity in seconds (default 10 min).
    pub validity_secs: u64,
    /// Wrong attempts before the code is destroyed.
    pub max_attempts: u32,
}

impl Default for EmailCodeConfig {
    fn default() -> Self {
        EmailCodeConfig {
            length: 6,
            validity_secs: 600,
            max_attempts: 5,
        }
    }
}

/// `[auth.recovery]`: single-use recovery codes.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct RecoveryConfig {
    /// How many codes are generated at once.
    pub count: usize,
}

impl Default for RecoveryConfig {
    fn default() -> Self {
        RecoveryConfig { count: 10 }
    }
}

/// `[auth.reset]`: first connection and forgotten password.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct ResetConfig {
    /// Validity of the emailed link in seconds (default 1 h).
    pub link_validity_secs: u64,
    /// Path of the admin credentials file (`user:password`) used for SetPasswordRequest.
    pub admin_credentials_file: Option<PathBuf>,
}

impl Default for ResetConfig {
    fn default() -> Self {
        ResetConfig {
            link_validity_secs: 3600,
            admin_credentials_file: None,
        }
    }
}

/// `[auth.regulation]`: regulation an attacker cannot turn against the owner (the
/// model is in `auth::regulation` and the README's security section).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct RegulationConfig {
    /// Wrong passwords for one account from one address within `find_time_secs` that
    /// ban that (account, address) pair; 0 disables these bans.
    pub max_retries: u64,
    /// Window in which an (account, address) pair's failures are counted, seconds.
    pub find_time_secs: u64,
    /// Ban of an (account, address) pair, seconds.
    pub ban_time_secs: u64,
    /// Wrong passwords from one address (IPv6: its /64), whatever the accounts, within
    /// `address_find_time_secs` that ban the address; 0 disables address bans.
    pub address_max_failures: u64,
    /// Window in which an address's failures are counted, seconds.
    pub address_find_time_secs: u64,
    /// Ban of an address, seconds.
    pub address_ban_secs: u64,
    /// Wrong passwords for one account, from any address, before its password checks
    /// are slowed down (never locked).
    pub account_free_failures: u64,
    /// An account's failures are forgotten this long after the last one, seconds.
    pub account_window_secs: u64,
    /// Longest wait imposed between password checks of a slowed-down account (1, 2,
    /// 4… seconds up to this); 0 disables the slow-down.
    pub account_max_delay_secs: u64,
    /// Days an address the owner completed a login from is exempt from the slow-down.
    pub known_address_days: u64,
    /// Wrong second-factor codes for one account, from any address, that void its
    /// pending logins (the password must be given again); 0 disables.
    pub otp_void_after: u64,
    /// Wrong second-factor codes for one account that lock its second factor and
    /// notify the user by email; 0 disables.
    pub otp_lock_after: u64,
    /// Second-factor lock, seconds.
    pub otp_lock_secs: u64,
    /// An account's wrong codes are forgotten this long after the last one, seconds.
    pub otp_window_secs: u64,
    /// Second-factor submissions allowed per client address (IPv6: its /64) per minute.
    pub otp_per_minute: u64,
    /// Emailed codes allowed per account per 10 minutes (resend throttle).
    pub email_code_per_10min: u64,
    /// Reset / first-connection requests allowed per client address per 10 minutes.
    pub reset_per_10min: u64,
    /// Minimum answer time of a failed login, milliseconds (hides timing differences).
    pub failure_min_delay_ms: u64,
    /// Addresses or CIDR ranges (a hospital's NAT) never banned or rate-limited as a
    /// whole; every per-account limit still applies to them.
    pub exempt_addresses: Vec<String>,
}

impl Default for RegulationConfig {
    fn default() -> Self {
        RegulationConfig {
            max_retries: 3,
            find_time_secs: 120,
            ban_time_secs: 300,
            address_max_failures: 20,
            address_find_time_secs: 600,
            address_ban_secs: 900,
            account_free_failures: 5,
            account_window_secs: 900,
            account_max_delay_secs: 60,
            known_address_days: 30,
            otp_void_after: 5,
            otp_lock_after: 10,
            otp_lock_secs: 900,
            otp_window_secs: 900,
            otp_per_minute: 30,
            email_code_per_10min: 5,
            reset_per_10min: 5,
            failure_min_delay_ms: 500,
            exempt_addresses: Vec::new(),
        }
    }
}

impl RegulationConfig {
    /// Errors, each naming its key.
    pub fn validate(&self) -> Vec<String> {
        let mut e = Vec::new();
        if let Err(err) = super::regulation::parse_exempt(&self.exempt_addresses) {
            e.push(format!("auth.regulation.exempt_addresses: {err}"));
        }
        if self.otp_void_after > 0
            && self.otp_lock_after > 0
            && self.otp_lock_after < self.otp_void_after
        {
            e.push("auth.regulation.otp_lock_after: must not be below otp_void_after".into());
        }
        e
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_unknown_keys() {
        let c: AuthConfig = toml::from_str("").unwrap();
        assert_eq!(c.regulation.max_retries, 3);
        assert_eq!(c.totp.skew, 1);
        let c: AuthConfig = toml::from_str("[session]\ninactivity_timeout_secs = 60\n").unwrap();
        assert_eq!(c.session.inactivity_timeout_secs, 60);
        assert!(toml::from_str::<AuthConfig>("[session]\nbogus = 1\n").is_err());
        assert!(toml::from_str::<AuthConfig>("bogus = 1\n").is_err());
        assert!(c.regulation.validate().is_empty());
        let bad = RegulationConfig {
            exempt_addresses: vec!["10.0.0.0/8".into(), "2001:db8::1".into(), "nope".into()],
            ..RegulationConfig::default()
        };
        assert_eq!(bad.validate().len(), 1);
        assert!(bad.validate()[0].contains("\"nope\""));
    }
}
