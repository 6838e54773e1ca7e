//! One entry point to check a second-factor code, whatever its kind, shared by
//! the portal and the SOAP two-factor protocol.

use super::otp::{EmailCodeVerdict, EmailCodes, RecoveryCodes, TotpFactor};
use crate::audit::AuditEvent;
use crate::store::{DurableStore, OtpChannel, StoreError};

/// Purpose under which login codes are emailed (see `EmailCodes`).
pub const LOGIN_CODE_PURPOSE: &str = "login";

/// Which kind of code was accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FactorUsed {
    Totp,
    Email,
    Recovery,
}

/// TOTP, emailed codes and recovery codes together.
#[derive(Debug, Clone)]
pub struct SecondFactor {
    pub durable: DurableStore,
    pub totp: TotpFactor,
    pub email: EmailCodes,
    pub recovery: RecoveryCodes,
}

impl SecondFactor {
    /// Checks `code` for `user` against the user's channel, then as a recovery
    /// code. Each accepted code is consumed. `None` means refused.
    pub async fn verify(
        &self,
        user: &str,
        code: &str,
        now_secs: u64,
    ) -> Result<Option<FactorUsed>, StoreError> {
        let used = if RecoveryCodes::looks_like(code) {
            self.recovery
                .redeem(&self.durable, user, code)
                .await?
                .then_some(FactorUsed::Recovery)
        } else {
            match self.durable.get(user).await?.otp_channel {
                Some(OtpChannel::Totp) => self
                    .totp
                    .verify(&self.durable, user, code, now_secs)
                    .await
                    .map_err(|e| StoreError::Database(e.to_string()))?
                    .then_some(FactorUsed::Totp),
                Some(OtpChannel::Email) => {
                    (self.email.verify(LOGIN_CODE_PURPOSE, user, code).await?
                        == EmailCodeVerdict::Accepted)
                        .then_some(FactorUsed::Email)
                }
                None => None,
            }
        };
        let kind = if used.is_some() {
            "otp.success"
        } else {
            "otp.failure"
        };
        let mut ev = AuditEvent::new(kind).user(user);
        if let Some(f) = used {
            ev = ev.detail(serde_json::json!({"factor": format!("{f:?}").to_lowercase()}));
        }
        ev.emit();
        Ok(used)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::clock::Clock;
    use crate::auth::config::{EmailCodeConfig, TotpConfig};
    use crate::store::{DataKey, ShortStore};

    const SECRET: &str = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP";

    fn factor() -> SecondFactor {
        SecondFactor {
            durable: DurableStore::open_sqlite_memory(DataKey::generate()).unwrap(),
            totp: TotpFactor::new(TotpConfig::default(), "Op"),
            email: EmailCodes::new(
                EmailCodeConfig::default(),
                ShortStore::memory(Clock::manual(0), 100),
            ),
            recovery: RecoveryCodes::new(10),
        }
    }

    #[tokio::test]
    async fn per_channel_and_recovery() {
        let f = factor();
        let now = 1_800_000_000;
        f.durable.set_totp_secret("t", Some(SECRET)).await.unwrap();
        f.durable
            .set_otp_channel("t", Some(OtpChannel::Totp))
            .await
            .unwrap();
        let code = f.totp.code_at(SECRET, now).unwrap();
        assert_eq!(
            f.verify("t", &code, now).await.unwrap(),
            Some(FactorUsed::Totp)
        );
        assert_eq!(f.verify("t", &code, now).await.unwrap(), None, "replay");

        f.durable
            .set_otp_channel("e", Some(OtpChannel::Email))
            .await
            .unwrap();
        let ecode = f.email.issue(LOGIN_CODE_PURPOSE, "e").await.unwrap();
        assert_eq!(
            f.verify("e", ecode.expose(), now).await.unwrap(),
            Some(FactorUsed::Email)
        );
        // A TOTP code is not accepted for an email-channel user.
        assert_eq!(f.verify("e", &code, now).await.unwrap(), None);

        let rc = f.recovery.regenerate(&f.durable, "e").await.unwrap();
        assert_eq!(
            f.verify("e", rc[0].expose(), now).await.unwrap(),
            Some(FactorUsed::Recovery)
        );
        assert_eq!(f.verify("e", rc[0].expose(), now).await.unwrap(), None);
        // No channel configured: nothing but recovery codes works.
        assert_eq!(f.verify("nobody", "123456", now).await.unwrap(), None);
    }
}
