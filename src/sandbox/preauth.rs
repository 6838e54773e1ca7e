//! Zimbra preauth (zimbra-api.md §2.2): HMAC-SHA1 keyed with the ASCII hex key string
//! over the values of `{account, [admin], by, expires, timestamp}` sorted by key, joined by `|`.

use ring::hmac;

/// Allowed clock difference (`TIMESTAMP_WINDOW`, 5 minutes).
pub const TIMESTAMP_WINDOW_MS: i64 = 5 * 60 * 1000;

/// The lower-case hex preauth value.
pub fn compute(
    key: &str,
    account: &str,
    by: &str,
    timestamp: &str,
    expires: &str,
    admin: bool,
) -> String {
    // Key order account | admin | by | expires | timestamp (alphabetical, as the TreeSet).
    let mut values = vec![account];
    if admin {
        values.push("1");
    }
    values.extend([by, expires, timestamp]);
    let data = values.join("|");
    let key = hmac::Key::new(hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY, key.as_bytes());
    hex::encode(hmac::sign(&key, data.as_bytes()).as_ref())
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PreauthError {
    #[error("invalid timestamp or expires")]
    BadNumber,
    #[error("preauth timestamp is too old or in the future")]
    OutsideWindow,
    #[error("preauth expired")]
    Expired,
    #[error("preauth mismatch")]
    Mismatch,
}

/// A preauth attempt as received (SOAP `<preauth>` or `/service/preauth` query).
pub struct PreauthInput<'a> {
    pub account: &'a str,
    pub by: &'a str,
    pub timestamp: &'a str,
    pub expires: &'a str,
    pub admin: bool,
    pub value: &'a str,
}

/// Checks the HMAC, the ±5 min window and `expires`; returns the token expiry to use
/// (`None` = the default lifetime, for `expires=0`).
pub fn verify(
    key: &str,
    input: &PreauthInput<'_>,
    now_ms: u64,
) -> Result<Option<u64>, PreauthError> {
    let ts: i64 = input
        .timestamp
        .parse()
        .map_err(|_| PreauthError::BadNumber)?;
    let expires: u64 = input.expires.parse().map_err(|_| PreauthError::BadNumber)?;
    let expected = compute(
        key,
        input.account,
        input.by,
        input.timestamp,
        input.expires,
        input.admin,
    );
    // Compare as MACs (constant time, case-insensitive like equalsIgnoreCase).
    let given = input.value.to_ascii_lowercase();
    let check_key = hmac::Key::new(hmac::HMAC_SHA256, &rand::random::<[u8; 16]>());
    let a = hmac::sign(&check_key, expected.as_bytes());
    if hmac::verify(&check_key, given.as_bytes(), a.as_ref()).is_err() {
        return Err(PreauthError::Mismatch);
    }
    if (now_ms as i64 - ts).abs() > TIMESTAMP_WINDOW_MS {
        return Err(PreauthError::OutsideWindow);
    }
    if expires != 0 && now_ms > expires {
        return Err(PreauthError::Expired);
    }
    Ok((expires != 0).then_some(expires))
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "6b7ead4bd425836e8cf0079cd6c1a05acc127acd07c8ee4b61023e19250e929c";

    #[test]
    fn documented_vector() {
        // preauth.md: data john.doe@domain.com|name|0|1135280708088.
        let v = compute(
            KEY,
            "john.doe@domain.com",
            "name",
            "1135280708088",
            "0",
            false,
        );
        assert_eq!(v, "b248f6cfd027edd45c5369f8490125204772f844");
    }

    #[test]
    fn independent_computation_matches() {
        // Recompute with ring directly over the documented data layout.
        let key = hmac::Key::new(hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY, KEY.as_bytes());
        let admin =
            hex::encode(hmac::sign(&key, b"john.doe@domain.com|1|name|0|1135280708088").as_ref());
        assert_eq!(
            compute(
                KEY,
                "john.doe@domain.com",
                "name",
                "1135280708088",
                "0",
                true
            ),
            admin
        );
    }

    #[test]
    fn verify_checks_window_and_expiry() {
        let now = 1_700_000_000_000u64;
        let ts = now.to_string();
        let value = compute(KEY, "a@b.fr", "name", &ts, "0", false);
        let ok = PreauthInput {
            account: "a@b.fr",
            by: "name",
            timestamp: &ts,
            expires: "0",
            admin: false,
            value: &value,
        };
        assert_eq!(verify(KEY, &ok, now), Ok(None));
        assert_eq!(
            verify(KEY, &ok, now + 6 * 60 * 1000),
            Err(PreauthError::OutsideWindow)
        );
        let upper = value.to_ascii_uppercase();
        assert!(verify(
            KEY,
            &PreauthInput {
                value: &upper,
                ..ok
            },
            now
        )
        .is_ok());
        let bad = PreauthInput { value: "00", ..ok };
        assert_eq!(verify(KEY, &bad, now), Err(PreauthError::Mismatch));
        let exp = (now - 1).to_string();
        let v2 = compute(KEY, "a@b.fr", "name", &ts, &exp, false);
        let expired = PreauthInput {
            expires: &exp,
            value: &v2,
            ..ok
        };
        assert_eq!(verify(KEY, &expired, now), Err(PreauthError::Expired));
    }
}
