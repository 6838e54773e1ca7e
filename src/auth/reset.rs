//! First-connection / forgotten-password links (A5): a one-time token valid one
//! hour, issued only when the user name and the contact email match — and the
//! caller answers the same way either way (no account enumeration).

use crate::auth::secret::BearerToken;
use crate::store::{DurableStore, ShortStore, StoreError};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use rand::RngCore;
use serde::{Deserialize, Serialize};
use std::time::Duration;
use subtle::ConstantTimeEq;

fn key(token: &str) -> String {
    let d = ring::digest::digest(&ring::digest::SHA256, token.as_bytes());
    format!("reset_link:{}", hex::encode(d.as_ref()))
}

/// What the store keeps for a link (never the token itself).
#[derive(Serialize, Deserialize)]
struct Link {
    user: String,
    expires_at_ms: u64,
}

/// A link that was just used: its user, and enough to put it back if the
/// password could not be set (the link then keeps its original expiry).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedeemedLink {
    pub user: String,
    expires_at_ms: u64,
}

/// Reset links held in the short-lived store (by hash of the token).
#[derive(Debug, Clone)]
pub struct ResetLinks {
    store: ShortStore,
    validity: Duration,
}

impl ResetLinks {
    pub fn new(store: ShortStore, validity: Duration) -> Self {
        ResetLinks { store, validity }
    }

    /// A link token for `user` if `email` is the user's contact address
    /// (case-insensitive, constant-time); `None` otherwise.
    pub async fn issue(
        &self,
        durable: &DurableStore,
        user: &str,
        email: &str,
    ) -> Result<Option<BearerToken>, StoreError> {
        let known = durable
            .get(user)
            .await?
            .contact_email
            .unwrap_or_default()
            .to_lowercase();
        let typed = email.trim().to_lowercase();
        let matches = !known.is_empty() && bool::from(known.as_bytes().ct_eq(typed.as_bytes()));
        if !matches {
            return Ok(None);
        }
        let mut b = [0u8; 32];
        rand::rng().fill_bytes(&mut b);
        let token = URL_SAFE_NO_PAD.encode(b);
        let link = Link {
            user: user.to_string(),
            expires_at_ms: self.store.clock().now_ms() + self.validity.as_millis() as u64,
        };
        self.store
            .put_json(&key(&token), &link, self.validity)
            .await?;
        Ok(Some(BearerToken::new(token)))
    }

    /// The user of a link without using it up (to show the new-password page).
    pub async fn peek(&self, token: &str) -> Result<Option<String>, StoreError> {
        Ok(self
            .store
            .get_json::<Link>(&key(token))
            .await?
            .map(|l| l.user))
    }

    /// Uses the link: returns its user once, then never again.
    pub async fn redeem(&self, token: &str) -> Result<Option<RedeemedLink>, StoreError> {
        Ok(self
            .store
            .take_json::<Link>(&key(token))
            .await?
            .map(|l| RedeemedLink {
                user: l.user,
                expires_at_ms: l.expires_at_ms,
            }))
    }

    /// Puts back a link redeemed a moment ago (the store refused the new password,
    /// or was unreachable), until its original expiry. Returns false if it has
    /// expired meanwhile.
    pub async fn restore(&self, token: &str, link: &RedeemedLink) -> Result<bool, StoreError> {
        let left = link
            .expires_at_ms
            .saturating_sub(self.store.clock().now_ms());
        if left == 0 {
            return Ok(false);
        }
        let stored = Link {
            user: link.user.clone(),
            expires_at_ms: link.expires_at_ms,
        };
        self.store
            .put_json(&key(token), &stored, Duration::from_millis(left))
            .await?;
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::clock::Clock;
    use crate::store::DataKey;

    #[tokio::test]
    async fn one_hour_single_use_and_email_must_match() {
        let clock = Clock::manual(1_000_000);
        let links = ResetLinks::new(
            ShortStore::memory(clock.clone(), 100),
            Duration::from_secs(3600),
        );
        let d = DurableStore::open_sqlite_memory(DataKey::generate()).unwrap();
        d.set_contact_email("a@ms.example", Some("Alice@Perso.example"))
            .await
            .unwrap();
        assert!(links
            .issue(&d, "a@ms.example", "other@perso.example")
            .await
            .unwrap()
            .is_none());
        assert!(links
            .issue(&d, "nobody@ms.example", "")
            .await
            .unwrap()
            .is_none());
        let t = links
            .issue(&d, "a@ms.example", " alice@perso.example ")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            links.peek(t.expose()).await.unwrap().as_deref(),
            Some("a@ms.example")
        );
        let used = links.redeem(t.expose()).await.unwrap().unwrap();
        assert_eq!(used.user, "a@ms.example");
        assert_eq!(links.redeem(t.expose()).await.unwrap(), None);
        // Put back (store refused the password): usable once more, same expiry.
        clock.advance(Duration::from_secs(1800));
        assert!(links.restore(t.expose(), &used).await.unwrap());
        assert_eq!(
            links.peek(t.expose()).await.unwrap().as_deref(),
            Some("a@ms.example")
        );
        clock.advance(Duration::from_secs(1800));
        assert_eq!(
            links.peek(t.expose()).await.unwrap(),
            None,
            "original expiry kept"
        );
        assert!(!links.restore(t.expose(), &used).await.unwrap());
        let t2 = links
            .issue(&d, "a@ms.example", "alice@perso.example")
            .await
            .unwrap()
            .unwrap();
        clock.advance(Duration::from_secs(3600));
        assert_eq!(
            links.redeem(t2.expose()).await.unwrap(),
            None,
            "expired after 1 h"
        );
    }
}
