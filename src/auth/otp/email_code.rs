//! Codes sent by email (second factor, contact-address confirmation): random
//! digits, limited validity, a new code replaces the old one, constant-time
//! comparison, destroyed after too many wrong attempts.

use crate::auth::config::EmailCodeConfig;
use crate::auth::secret::OtpCode;
use crate::store::{ShortStore, StoreError};
use rand::Rng;
use serde::{Deserialize, Serialize};
use std::time::Duration;
use subtle::ConstantTimeEq;

#[derive(Serialize, Deserialize)]
struct Pending {
    code: String,
    attempts: u32,
    expires_at_ms: u64,
}

/// Result of a code check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EmailCodeVerdict {
    Accepted,
    /// Wrong code; `left` attempts remain.
    Wrong {
        left: u32,
    },
    /// No code pending (never sent, expired, used, or destroyed after too many attempts).
    NoCode,
}

/// Emailed codes held in the short-lived store.
#[derive(Debug, Clone)]
pub struct EmailCodes {
    cfg: EmailCodeConfig,
    store: ShortStore,
}

fn key(purpose: &str, user: &str) -> String {
    format!("emailcode:{purpose}:{user}")
}

impl EmailCodes {
    pub fn new(cfg: EmailCodeConfig, store: ShortStore) -> Self {
        EmailCodes { cfg, store }
    }

    pub fn validity(&self) -> Duration {
        Duration::from_secs(self.cfg.validity_secs)
    }

    /// Issues a new code for `(purpose, user)`; any previous code stops working.
    pub async fn issue(&self, purpose: &str, user: &str) -> Result<OtpCode, StoreError> {
        let len = self.cfg.length.clamp(4, 10) as usize;
        // The thread-local generator is not `Send`: keep it out of the await below.
        let code: String = {
            let mut rng = rand::rng();
            (0..len)
                .map(|_| char::from(b'0' + rng.random_range(0..10u8)))
                .collect()
        };
        let pending = Pending {
            code: code.clone(),
            attempts: 0,
            expires_at_ms: self.store.clock().now_ms() + self.validity().as_millis() as u64,
        };
        self.store
            .put_json(&key(purpose, user), &pending, self.validity())
            .await?;
        Ok(OtpCode::new(code))
    }

    /// Checks a code; on success the code is consumed.
    pub async fn verify(
        &self,
        purpose: &str,
        user: &str,
        code: &str,
    ) -> Result<EmailCodeVerdict, StoreError> {
        let k = key(purpose, user);
        // Take it out while checking so two parallel guesses cannot both count as one.
        let Some(mut p) = self.store.take_json::<Pending>(&k).await? else {
            return Ok(EmailCodeVerdict::NoCode);
        };
        let now = self.store.clock().now_ms();
        if p.expires_at_ms <= now {
            return Ok(EmailCodeVerdict::NoCode);
        }
        let typed = super::digits_only(code);
        if bool::from(typed.as_bytes().ct_eq(p.code.as_bytes())) {
            return Ok(EmailCodeVerdict::Accepted);
        }
        p.attempts += 1;
        if p.attempts >= self.cfg.max_attempts {
            return Ok(EmailCodeVerdict::NoCode);
        }
        let left = self.cfg.max_attempts - p.attempts;
        let ttl = Duration::from_millis(p.expires_at_ms - now);
        self.store.put_json(&k, &p, ttl).await?;
        Ok(EmailCodeVerdict::Wrong { left })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::clock::Clock;

    fn codes() -> (EmailCodes, Clock) {
        let clock = Clock::manual(5_000_000);
        let store = ShortStore::memory(clock.clone(), 100);
        (EmailCodes::new(EmailCodeConfig::default(), store), clock)
    }

    #[tokio::test]
    async fn accepted_once() {
        let (c, _) = codes();
        let code = c.issue("login", "alice").await.unwrap();
        assert_eq!(code.expose().len(), 6);
        assert!(code.expose().bytes().all(|b| b.is_ascii_digit()));
        assert_eq!(
            c.verify("login", "alice", code.expose()).await.unwrap(),
            EmailCodeVerdict::Accepted
        );
        assert_eq!(
            c.verify("login", "alice", code.expose()).await.unwrap(),
            EmailCodeVerdict::NoCode
        );
    }

    #[tokio::test]
    async fn new_code_invalidates_old() {
        let (c, _) = codes();
        let mut first = c.issue("login", "alice").await.unwrap();
        let mut second = c.issue("login", "alice").await.unwrap();
        while second == first {
            // 1 in a million: draw again so the test is meaningful.
            first = second;
            second = c.issue("login", "alice").await.unwrap();
        }
        assert!(matches!(
            c.verify("login", "alice", first.expose()).await.unwrap(),
            EmailCodeVerdict::Wrong { .. }
        ));
        assert_eq!(
            c.verify("login", "alice", second.expose()).await.unwrap(),
            EmailCodeVerdict::Accepted
        );
    }

    #[tokio::test]
    async fn expires() {
        let (c, clock) = codes();
        let code = c.issue("login", "alice").await.unwrap();
        clock.advance(Duration::from_secs(600));
        assert_eq!(
            c.verify("login", "alice", code.expose()).await.unwrap(),
            EmailCodeVerdict::NoCode
        );
    }

    #[tokio::test]
    async fn attempts_are_limited_and_purposes_separate() {
        let (c, _) = codes();
        let code = c.issue("login", "alice").await.unwrap();
        assert_eq!(
            c.verify("contact", "alice", code.expose()).await.unwrap(),
            EmailCodeVerdict::NoCode
        );
        assert_eq!(
            c.verify("login", "bob", code.expose()).await.unwrap(),
            EmailCodeVerdict::NoCode
        );
        let wrong = if code.expose() == "000000" {
            "111111"
        } else {
            "000000"
        };
        for left in (1..5).rev() {
            assert_eq!(
                c.verify("login", "alice", wrong).await.unwrap(),
                EmailCodeVerdict::Wrong { left }
            );
        }
        assert_eq!(
            c.verify("login", "alice", wrong).await.unwrap(),
            EmailCodeVerdict::NoCode
        );
        // Destroyed: even the right code no longer works.
        assert_eq!(
            c.verify("login", "alice", code.expose()).await.unwrap(),
            EmailCodeVerdict::NoCode
        );
    }
}
