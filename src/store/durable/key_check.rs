//! The data-key check (issue 14): a value sealed with the data key at the first
//! start and kept in `store_meta`. At each start it must open with the configured
//! key, so a wrong key stops the gateway at once instead of failing every enrolled
//! user's login later with a decryption error.

use super::super::crypto::{DataKey, SealedBox};
use super::super::StoreError;

/// `store_meta.name` of the check value.
pub const CHECK_NAME: &str = "data_key_check";
const CHECK_CONTEXT: &str = "store_meta.data_key_check";
const CHECK_PLAINTEXT: &[u8] = b"mssante-gateway data key check v1";

/// A sealed value already in the store, found when there is no check value yet (a
/// store from the release before the check): the key must open it too.
pub struct SealedSample {
    pub context: String,
    pub sealed: Vec<u8>,
}

/// What the store holds that the key must open.
pub struct StoredKeyEvidence {
    pub check: Option<Vec<u8>>,
    pub sample: Option<SealedSample>,
}

/// A new check value sealed with `key`.
pub fn new_check_value(key: &DataKey) -> Result<Vec<u8>, StoreError> {
    Ok(key.seal(CHECK_CONTEXT, CHECK_PLAINTEXT)?.0)
}

/// Ok(true) when the store has no check value yet (the caller stores one), Ok(false)
/// when it has one that `key` opens; an error naming the key setting otherwise.
/// `location` says which store (for the message).
pub fn verify(
    key: &DataKey,
    evidence: &StoredKeyEvidence,
    location: &str,
) -> Result<bool, StoreError> {
    let opens = match (&evidence.check, &evidence.sample) {
        (Some(check), _) => key
            .open(CHECK_CONTEXT, &SealedBox(check.clone()))
            .is_ok_and(|p| p == CHECK_PLAINTEXT),
        (None, Some(s)) => key.open(&s.context, &SealedBox(s.sealed.clone())).is_ok(),
        (None, None) => true,
    };
    if !opens {
        return Err(mismatch(location));
    }
    Ok(evidence.check.is_none())
}

/// The refusal when the key does not open what `location` holds.
pub fn mismatch(location: &str) -> StoreError {
    StoreError::DataKeyMismatch(format!(
        "this key does not open the secrets already sealed in {location} (they were sealed \
         with another key); give the key this store was created with. Without that key \
         every user must enrol their second factor again"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn check_value_opens_only_with_its_key() {
        let k = DataKey::generate();
        let ev = StoredKeyEvidence {
            check: Some(new_check_value(&k).unwrap()),
            sample: None,
        };
        assert!(!verify(&k, &ev, "x").unwrap());
        let err = verify(&DataKey::generate(), &ev, "the SQLite file x").unwrap_err();
        assert!(
            err.to_string().contains("auth.store.data_key_file"),
            "{err}"
        );
        assert!(err.to_string().contains("the SQLite file x"), "{err}");
    }

    #[test]
    fn without_check_value_an_existing_secret_decides() {
        let k = DataKey::generate();
        let sample = SealedSample {
            context: "ctx".into(),
            sealed: k.seal("ctx", b"JBSWY3DP").unwrap().0,
        };
        let ev = StoredKeyEvidence {
            check: None,
            sample: Some(sample),
        };
        assert!(verify(&k, &ev, "x").unwrap());
        assert!(verify(&DataKey::generate(), &ev, "x").is_err());
        let empty = StoredKeyEvidence {
            check: None,
            sample: None,
        };
        assert!(verify(&DataKey::generate(), &empty, "x").unwrap());
    }
}
