//! Recovery codes (A10): 10 codes of 16 base32 characters (80 bits) shown once,
//! stored as keyed SHA-256 hashes (see `DataKey::code_hash`), each usable once.

use crate::auth::secret::OtpCode;
use crate::store::{DurableStore, StoreError};
use rand::Rng;

/// Unambiguous RFC 4648 base32 alphabet (no 0/1/8/9).
const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
const CODE_CHARS: usize = 16;

#[derive(Debug, Clone)]
pub struct RecoveryCodes {
    count: usize,
}

fn context(user: &str) -> String {
    format!("recovery_code:{user}")
}

/// Upper-case, without spaces and dashes; `None` if not a well-formed code.
fn normalise(code: &str) -> Option<String> {
    let c: String = code
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '-')
        .map(|c| c.to_ascii_uppercase())
        .collect();
    (c.len() == CODE_CHARS && c.bytes().all(|b| ALPHABET.contains(&b))).then_some(c)
}

impl RecoveryCodes {
    pub fn new(count: usize) -> Self {
        RecoveryCodes {
            count: count.clamp(1, 50),
        }
    }

    /// Generates a fresh set (replacing any old one) and returns the codes to show
    /// once, formatted `XXXX-XXXX-XXXX-XXXX`.
    pub async fn regenerate(
        &self,
        store: &DurableStore,
        user: &str,
    ) -> Result<Vec<OtpCode>, StoreError> {
        let mut shown = Vec::with_capacity(self.count);
        let mut hashes = Vec::with_capacity(self.count);
        // The thread-local generator is not `Send`: it must be gone before the await.
        {
            let mut rng = rand::rng();
            for _ in 0..self.count {
                let raw: String = (0..CODE_CHARS)
                    .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char)
                    .collect();
                hashes.push(store.data_key().code_hash(&context(user), &raw));
                let grouped = raw
                    .as_bytes()
                    .chunks(4)
                    .map(|c| std::str::from_utf8(c).unwrap_or(""))
                    .collect::<Vec<_>>()
                    .join("-");
                shown.push(OtpCode::new(grouped));
            }
        }
        store.replace_recovery_codes(user, hashes).await?;
        Ok(shown)
    }

    /// Consumes a code: true once per code.
    pub async fn redeem(
        &self,
        store: &DurableStore,
        user: &str,
        code: &str,
    ) -> Result<bool, StoreError> {
        let Some(c) = normalise(code) else {
            return Ok(false);
        };
        let hash = store.data_key().code_hash(&context(user), &c);
        store.consume_recovery_code(user, hash).await
    }

    /// Does this look like a recovery code (rather than a TOTP or emailed code)?
    pub fn looks_like(code: &str) -> bool {
        normalise(code).is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::DataKey;

    #[tokio::test]
    async fn single_use_and_per_user() {
        let store = DurableStore::open_sqlite_memory(DataKey::generate()).unwrap();
        let r = RecoveryCodes::new(10);
        let codes = r.regenerate(&store, "alice").await.unwrap();
        assert_eq!(codes.len(), 10);
        assert_eq!(codes[0].expose().len(), 19);
        assert!(!r.redeem(&store, "bob", codes[0].expose()).await.unwrap());
        // Lower case and spaces are accepted.
        let sloppy = codes[0].expose().to_lowercase().replace('-', " ");
        assert!(r.redeem(&store, "alice", &sloppy).await.unwrap());
        assert!(!r.redeem(&store, "alice", codes[0].expose()).await.unwrap());
        assert!(r.redeem(&store, "alice", codes[1].expose()).await.unwrap());
        assert_eq!(store.get("alice").await.unwrap().recovery_codes_left, 8);
        // Regenerating invalidates the old set.
        let fresh = r.regenerate(&store, "alice").await.unwrap();
        assert!(!r.redeem(&store, "alice", codes[2].expose()).await.unwrap());
        assert!(r.redeem(&store, "alice", fresh[2].expose()).await.unwrap());
        assert!(!r.redeem(&store, "alice", "123456").await.unwrap());
    }

    #[test]
    fn shape() {
        assert!(RecoveryCodes::looks_like("ABCD-EFGH-2345-67AB"));
        assert!(!RecoveryCodes::looks_like("123456"));
        assert!(!RecoveryCodes::looks_like("ABCD-EFGH-2345-67A1"));
    }
}
