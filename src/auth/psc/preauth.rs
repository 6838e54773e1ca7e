//! Zimbra preauth (zimbra-api.md §2.2): after PSC, the gateway opens the store session
//! itself with the domain's `zimbraPreAuthKey`. HMAC-SHA1 keyed with the ASCII hex key
//! string (not hex-decoded) over `account|by|expires|timestamp`.

use ring::hmac;
use serde_json::{json, Value};

/// The lower-case hex preauth value for `by=name`, `expires=0` (the store's default lifetime).
pub fn preauth_value(key: &str, account: &str, timestamp_ms: u64) -> String {
    let data = format!("{account}|name|0|{timestamp_ms}");
    let key = hmac::Key::new(hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY, key.as_bytes());
    hex::encode(hmac::sign(&key, data.as_bytes()).as_ref())
}

/// The JSON SOAP `AuthRequest` with `<preauth>`.
pub fn auth_request_body(key: &str, account: &str, timestamp_ms: u64) -> Value {
    json!({
        "Header": {"context": {"_jsns": "urn:zimbra", "nosession": {}}},
        "Body": {"AuthRequest": {
            "_jsns": "urn:zimbraAccount",
            "account": {"by": "name", "_content": account},
            "preauth": {"timestamp": timestamp_ms.to_string(), "expires": "0",
                        "_content": preauth_value(key, account, timestamp_ms)},
        }}
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_vector_of_preauth_md() {
        assert_eq!(
            preauth_value(
                "6b7ead4bd425836e8cf0079cd6c1a05acc127acd07c8ee4b61023e19250e929c",
                "john.doe@domain.com",
                1135280708088
            ),
            "b248f6cfd027edd45c5369f8490125204772f844"
        );
    }
}
