//! Auth tokens shaped like Zimbra's (`ZimbraAuthToken.getEncoded`):
//! `{keyVersion}_{hex HMAC}_{hex data}` where data is `key=len:value;` pairs
//! (`id`, `exp`, `type`, `u`, `tid`, optionally `admin` and `csrf`).

use ring::hmac;

/// What a token says once its signature has been checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenClaims {
    /// Account id (or admin id for admin tokens).
    pub id: String,
    /// Expiry, ms since the epoch.
    pub exp: u64,
    /// `u`: `a` (normal auth) …
    pub usage: String,
    pub admin: bool,
    /// The token is CSRF-enabled (`csrf=1:1`).
    pub csrf: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("malformed auth token")]
    Malformed,
    #[error("auth token signature mismatch")]
    BadSignature,
    #[error("auth token expired")]
    Expired,
}

const KEY_VERSION: &str = "0";

/// Serialises `key=len:value;` pairs the way Zimbra's `BlobMetaData` does.
fn encode_kv(pairs: &[(&str, String)]) -> String {
    pairs
        .iter()
        .map(|(k, v)| format!("{k}={}:{v};", v.len()))
        .collect()
}

fn decode_kv(data: &str) -> Option<Vec<(String, String)>> {
    let mut out = Vec::new();
    let mut rest = data;
    while !rest.is_empty() {
        let (key, after) = rest.split_once('=')?;
        let (len, after) = after.split_once(':')?;
        let len: usize = len.parse().ok()?;
        let value = after.get(..len)?;
        let after = after.get(len..)?.strip_prefix(';')?;
        out.push((key.to_string(), value.to_string()));
        rest = after;
    }
    Some(out)
}

/// Signs and verifies tokens with the server's secret key.
pub struct TokenSigner {
    key: hmac::Key,
}

impl TokenSigner {
    pub fn new(secret: &[u8]) -> Self {
        TokenSigner {
            key: hmac::Key::new(hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY, secret),
        }
    }

    pub fn random() -> Self {
        Self::new(&rand::random::<[u8; 32]>())
    }

    pub fn encode(&self, claims: &TokenClaims) -> String {
        let mut pairs = vec![
            ("id", claims.id.clone()),
            ("exp", claims.exp.to_string()),
            ("type", "zimbra".to_string()),
            ("u", claims.usage.clone()),
            ("tid", rand::random::<u32>().to_string()),
            ("version", "8.8.15_GA_sandbox".to_string()),
        ];
        if claims.admin {
            pairs.push(("admin", "1".to_string()));
        }
        if claims.csrf {
            pairs.push(("csrf", "1".to_string()));
        }
        let data = encode_kv(&pairs);
        let tag = hmac::sign(&self.key, data.as_bytes());
        format!(
            "{KEY_VERSION}_{}_{}",
            hex::encode(tag.as_ref()),
            hex::encode(data.as_bytes())
        )
    }

    /// Checks the signature and expiry (`now_ms`).
    pub fn decode(&self, token: &str, now_ms: u64) -> Result<TokenClaims, TokenError> {
        let mut parts = token.splitn(3, '_');
        let (Some(_kv), Some(mac), Some(data)) = (parts.next(), parts.next(), parts.next()) else {
            return Err(TokenError::Malformed);
        };
        let mac = hex::decode(mac).map_err(|_| TokenError::Malformed)?;
        let data = hex::decode(data).map_err(|_| TokenError::Malformed)?;
        hmac::verify(&self.key, &data, &mac).map_err(|_| TokenError::BadSignature)?;
        let data = String::from_utf8(data).map_err(|_| TokenError::Malformed)?;
        let pairs = decode_kv(&data).ok_or(TokenError::Malformed)?;
        let get = |k: &str| {
            pairs
                .iter()
                .find(|(key, _)| key == k)
                .map(|(_, v)| v.clone())
        };
        let claims = TokenClaims {
            id: get("id").ok_or(TokenError::Malformed)?,
            exp: get("exp")
                .and_then(|v| v.parse().ok())
                .ok_or(TokenError::Malformed)?,
            usage: get("u").unwrap_or_else(|| "a".to_string()),
            admin: get("admin").as_deref() == Some("1"),
            csrf: get("csrf").as_deref() == Some("1"),
        };
        if claims.exp <= now_ms {
            return Err(TokenError::Expired);
        }
        Ok(claims)
    }

    /// The CSRF token bound to an auth token (`0_{hex hmac}`), so no state is kept.
    pub fn csrf_for(&self, auth_token: &str) -> String {
        let tag = hmac::sign(&self.key, format!("csrf:{auth_token}").as_bytes());
        format!("{KEY_VERSION}_{}", hex::encode(tag.as_ref()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims(exp: u64) -> TokenClaims {
        TokenClaims {
            id: "09770b65-1111-2222-3333-444455556666".into(),
            exp,
            usage: "a".into(),
            admin: false,
            csrf: false,
        }
    }

    #[test]
    fn token_has_zimbra_shape() {
        let s = TokenSigner::new(b"k");
        let t = s.encode(&claims(1_618_517_255_700));
        let parts: Vec<&str> = t.splitn(3, '_').collect();
        assert_eq!(parts[0], "0");
        assert_eq!(parts[1].len(), 40, "hex HMAC-SHA1");
        let data = String::from_utf8(hex::decode(parts[2]).unwrap()).unwrap();
        assert!(data.starts_with(
            "id=36:09770b65-1111-2222-3333-444455556666;exp=13:1618517255700;type=6:zimbra;u=1:a;"
        ));
    }

    #[test]
    fn roundtrip_expiry_and_tampering() {
        let s = TokenSigner::new(b"k");
        let t = s.encode(&claims(2_000));
        assert_eq!(s.decode(&t, 1_000).unwrap().id, claims(0).id);
        assert_eq!(s.decode(&t, 2_000), Err(TokenError::Expired));
        assert_eq!(
            TokenSigner::new(b"other").decode(&t, 1_000),
            Err(TokenError::BadSignature)
        );
        let mut forged = t.clone();
        forged.push_str("00");
        assert!(s.decode(&forged, 1_000).is_err());
        assert_eq!(s.decode("garbage", 0), Err(TokenError::Malformed));
    }

    #[test]
    fn kv_decoding_handles_separators_inside_values() {
        let pairs = decode_kv("a=3:x;y;b=0:;").unwrap();
        assert_eq!(
            pairs,
            vec![("a".into(), "x;y".into()), ("b".into(), "".into())]
        );
        assert!(decode_kv("a=9:x;").is_none());
    }
}
