//! JWS compact tokens verified with *ring* against a provider's JWK set: the ID
//! token, a signed UserInfo answer and the back-channel logout token all go through
//! [`verify`], so one allow-list of algorithms and one key-selection rule hold for
//! every token PSC sends (openidconnect only checks RS256 for signed UserInfo).
//!
//! Never accepted: `alg: none`, JWE (5 parts), nested JWTs (`cty: JWT`), `crit`
//! headers, RSA keys under 2048 bits (ring's floor), HS* unless the caller passes
//! the client secret.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use ring::signature::{self, RsaPublicKeyComponents, UnparsedPublicKey};
use serde::Deserialize;
use serde_json::Value;

/// Signature algorithms the gateway can verify.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Alg {
    RS256,
    RS384,
    RS512,
    PS256,
    PS384,
    PS512,
    ES256,
    ES384,
    EdDSA,
    HS256,
    HS384,
    HS512,
}

impl Alg {
    /// `None` for `none` and anything unknown (ES512 included: not in ring).
    pub fn parse(name: &str) -> Option<Alg> {
        Some(match name {
            "RS256" => Alg::RS256,
            "RS384" => Alg::RS384,
            "RS512" => Alg::RS512,
            "PS256" => Alg::PS256,
            "PS384" => Alg::PS384,
            "PS512" => Alg::PS512,
            "ES256" => Alg::ES256,
            "ES384" => Alg::ES384,
            "EdDSA" => Alg::EdDSA,
            "HS256" => Alg::HS256,
            "HS384" => Alg::HS384,
            "HS512" => Alg::HS512,
            _ => return None,
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            Alg::RS256 => "RS256",
            Alg::RS384 => "RS384",
            Alg::RS512 => "RS512",
            Alg::PS256 => "PS256",
            Alg::PS384 => "PS384",
            Alg::PS512 => "PS512",
            Alg::ES256 => "ES256",
            Alg::ES384 => "ES384",
            Alg::EdDSA => "EdDSA",
            Alg::HS256 => "HS256",
            Alg::HS384 => "HS384",
            Alg::HS512 => "HS512",
        }
    }

    pub fn is_symmetric(self) -> bool {
        matches!(self, Alg::HS256 | Alg::HS384 | Alg::HS512)
    }

    /// The JWK `kty` that can verify this algorithm.
    fn kty(self) -> &'static str {
        match self {
            Alg::RS256 | Alg::RS384 | Alg::RS512 | Alg::PS256 | Alg::PS384 | Alg::PS512 => "RSA",
            Alg::ES256 | Alg::ES384 => "EC",
            Alg::EdDSA => "OKP",
            Alg::HS256 | Alg::HS384 | Alg::HS512 => "oct",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JoseError {
    #[error("not a JWS compact token")]
    Malformed,
    #[error("encrypted token (JWE) not supported")]
    Encrypted,
    #[error("unsigned token (alg none)")]
    AlgNone,
    #[error("algorithm {0} not allowed")]
    AlgNotAllowed(String),
    #[error("unsupported header ({0})")]
    UnsupportedHeader(&'static str),
    #[error("no key with id {0:?} in the provider's key set")]
    UnknownKey(String),
    #[error("no key of the provider's key set fits {0}")]
    NoUsableKey(&'static str),
    #[error("bad signature")]
    BadSignature,
    #[error("claims are not a JSON object")]
    BadClaims,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Header {
    pub alg: String,
    #[serde(default)]
    pub kid: Option<String>,
    #[serde(default)]
    pub typ: Option<String>,
    #[serde(default)]
    pub cty: Option<String>,
    #[serde(default)]
    pub crit: Option<Value>,
}

/// A parsed (not yet verified) JWS.
#[derive(Debug, Clone)]
pub struct Jws {
    pub header: Header,
    pub claims: serde_json::Map<String, Value>,
    signing_input: String,
    signature: Vec<u8>,
}

/// Largest token accepted (PSC's are a few KiB).
const MAX_TOKEN_BYTES: usize = 64 * 1024;

impl Jws {
    pub fn parse(token: &str) -> Result<Jws, JoseError> {
        let token = token.trim();
        if token.len() > MAX_TOKEN_BYTES {
            return Err(JoseError::Malformed);
        }
        let parts: Vec<&str> = token.split('.').collect();
        match parts.len() {
            3 => {}
            5 => return Err(JoseError::Encrypted),
            _ => return Err(JoseError::Malformed),
        }
        let decode = |p: &str| URL_SAFE_NO_PAD.decode(p).map_err(|_| JoseError::Malformed);
        let header: Header =
            serde_json::from_slice(&decode(parts[0])?).map_err(|_| JoseError::Malformed)?;
        if header.crit.is_some() {
            return Err(JoseError::UnsupportedHeader("crit"));
        }
        if header
            .cty
            .as_deref()
            .is_some_and(|c| c.eq_ignore_ascii_case("JWT"))
        {
            return Err(JoseError::UnsupportedHeader("nested JWT"));
        }
        let claims = match serde_json::from_slice::<Value>(&decode(parts[1])?) {
            Ok(Value::Object(m)) => m,
            _ => return Err(JoseError::BadClaims),
        };
        Ok(Jws {
            header,
            claims,
            signing_input: format!("{}.{}", parts[0], parts[1]),
            signature: decode(parts[2])?,
        })
    }

    /// The algorithm, if it is one the gateway may use at all.
    pub fn alg(&self) -> Result<Alg, JoseError> {
        if self.header.alg.eq_ignore_ascii_case("none") {
            return Err(JoseError::AlgNone);
        }
        Alg::parse(&self.header.alg)
            .ok_or_else(|| JoseError::AlgNotAllowed(self.header.alg.clone()))
    }
}

/// One public key of a JWK set (other members ignored).
#[derive(Debug, Clone, Deserialize)]
pub struct Jwk {
    pub kty: String,
    #[serde(default)]
    pub kid: Option<String>,
    #[serde(default, rename = "use")]
    pub use_: Option<String>,
    #[serde(default)]
    pub alg: Option<String>,
    #[serde(default)]
    pub crv: Option<String>,
    #[serde(default)]
    n: Option<String>,
    #[serde(default)]
    e: Option<String>,
    #[serde(default)]
    x: Option<String>,
    #[serde(default)]
    y: Option<String>,
}

/// A provider's keys. Keys that do not parse are skipped, not fatal (PSC publishes
/// encryption keys next to the signing ones).
#[derive(Debug, Clone, Default)]
pub struct JwkSet {
    pub keys: Vec<Jwk>,
}

impl JwkSet {
    pub fn from_json(body: &[u8]) -> Result<JwkSet, String> {
        #[derive(Deserialize)]
        struct Raw {
            keys: Vec<Value>,
        }
        let raw: Raw = serde_json::from_slice(body).map_err(|e| format!("JWKS: {e}"))?;
        Ok(JwkSet {
            keys: raw
                .keys
                .into_iter()
                .filter_map(|k| serde_json::from_value(k).ok())
                .collect(),
        })
    }

    pub fn has_kid(&self, kid: &str) -> bool {
        self.keys.iter().any(|k| k.kid.as_deref() == Some(kid))
    }
}

fn b64(v: &Option<String>) -> Option<Vec<u8>> {
    v.as_deref().and_then(|s| URL_SAFE_NO_PAD.decode(s).ok())
}

impl Jwk {
    /// May this key verify `alg` (type, curve, declared use and algorithm)?
    fn fits(&self, alg: Alg) -> bool {
        if self.kty != alg.kty() {
            return false;
        }
        if self.use_.as_deref().is_some_and(|u| u != "sig") {
            return false;
        }
        if self.alg.as_deref().is_some_and(|a| a != alg.name()) {
            return false;
        }
        match alg {
            Alg::ES256 => self.crv.as_deref() == Some("P-256"),
            Alg::ES384 => self.crv.as_deref() == Some("P-384"),
            Alg::EdDSA => self.crv.as_deref() == Some("Ed25519"),
            _ => true,
        }
    }

    fn verify(&self, alg: Alg, msg: &[u8], sig: &[u8]) -> bool {
        match alg {
            Alg::RS256 | Alg::RS384 | Alg::RS512 | Alg::PS256 | Alg::PS384 | Alg::PS512 => {
                let (Some(n), Some(e)) = (b64(&self.n), b64(&self.e)) else {
                    return false;
                };
                let params: &signature::RsaParameters = match alg {
                    Alg::RS256 => &signature::RSA_PKCS1_2048_8192_SHA256,
                    Alg::RS384 => &signature::RSA_PKCS1_2048_8192_SHA384,
                    Alg::RS512 => &signature::RSA_PKCS1_2048_8192_SHA512,
                    Alg::PS256 => &signature::RSA_PSS_2048_8192_SHA256,
                    Alg::PS384 => &signature::RSA_PSS_2048_8192_SHA384,
                    _ => &signature::RSA_PSS_2048_8192_SHA512,
                };
                RsaPublicKeyComponents { n: &n, e: &e }
                    .verify(params, msg, sig)
                    .is_ok()
            }
            Alg::ES256 | Alg::ES384 => {
                let (Some(x), Some(y)) = (b64(&self.x), b64(&self.y)) else {
                    return false;
                };
                let (len, params) = if alg == Alg::ES256 {
                    (32, &signature::ECDSA_P256_SHA256_FIXED)
                } else {
                    (48, &signature::ECDSA_P384_SHA384_FIXED)
                };
                if x.len() != len || y.len() != len {
                    return false;
                }
                let mut point = Vec::with_capacity(1 + 2 * len);
                point.push(0x04);
                point.extend_from_slice(&x);
                point.extend_from_slice(&y);
                UnparsedPublicKey::new(params, point)
                    .verify(msg, sig)
                    .is_ok()
            }
            Alg::EdDSA => b64(&self.x).is_some_and(|x| {
                UnparsedPublicKey::new(&signature::ED25519, x)
                    .verify(msg, sig)
                    .is_ok()
            }),
            Alg::HS256 | Alg::HS384 | Alg::HS512 => false,
        }
    }
}

/// Verifies `jws` with an algorithm from `allowed`: HS* with `mac_secret` (the client
/// secret), others with the key named by `kid` (or, without `kid`, any key that fits).
/// [`JoseError::UnknownKey`] tells the caller to refresh the key set and try again.
pub fn verify(
    jws: &Jws,
    keys: &JwkSet,
    allowed: &[Alg],
    mac_secret: Option<&[u8]>,
) -> Result<Alg, JoseError> {
    let alg = jws.alg()?;
    if !allowed.contains(&alg) {
        return Err(JoseError::AlgNotAllowed(alg.name().into()));
    }
    let msg = jws.signing_input.as_bytes();
    if alg.is_symmetric() {
        let secret = mac_secret.ok_or_else(|| JoseError::AlgNotAllowed(alg.name().into()))?;
        let h = match alg {
            Alg::HS256 => ring::hmac::HMAC_SHA256,
            Alg::HS384 => ring::hmac::HMAC_SHA384,
            _ => ring::hmac::HMAC_SHA512,
        };
        let key = ring::hmac::Key::new(h, secret);
        return ring::hmac::verify(&key, msg, &jws.signature)
            .map(|_| alg)
            .map_err(|_| JoseError::BadSignature);
    }
    let candidates: Vec<&Jwk> = match &jws.header.kid {
        Some(kid) => {
            let named: Vec<&Jwk> = keys
                .keys
                .iter()
                .filter(|k| k.kid.as_deref() == Some(kid.as_str()))
                .collect();
            if named.is_empty() {
                return Err(JoseError::UnknownKey(kid.clone()));
            }
            named.into_iter().filter(|k| k.fits(alg)).collect()
        }
        None => keys.keys.iter().filter(|k| k.fits(alg)).collect(),
    };
    if candidates.is_empty() {
        return Err(JoseError::NoUsableKey(alg.name()));
    }
    if candidates
        .iter()
        .any(|k| k.verify(alg, msg, &jws.signature))
    {
        Ok(alg)
    } else {
        Err(JoseError::BadSignature)
    }
}

#[cfg(test)]
pub(crate) mod test_keys {
    //! ES256 signing for unit tests (ring cannot generate RSA keys).
    use super::*;
    use ring::rand::SystemRandom;
    use ring::signature::{EcdsaKeyPair, KeyPair, ECDSA_P256_SHA256_FIXED_SIGNING};

    pub struct TestKey {
        pair: EcdsaKeyPair,
        pub kid: String,
    }

    impl TestKey {
        pub fn new(kid: &str) -> TestKey {
            let rng = SystemRandom::new();
            let pkcs8 =
                EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).unwrap();
            TestKey {
                pair: EcdsaKeyPair::from_pkcs8(
                    &ECDSA_P256_SHA256_FIXED_SIGNING,
                    pkcs8.as_ref(),
                    &rng,
                )
                .unwrap(),
                kid: kid.into(),
            }
        }

        pub fn jwk(&self) -> Value {
            let p = self.pair.public_key().as_ref();
            serde_json::json!({"kty": "EC", "crv": "P-256", "kid": self.kid, "use": "sig",
                "x": URL_SAFE_NO_PAD.encode(&p[1..33]), "y": URL_SAFE_NO_PAD.encode(&p[33..65])})
        }

        pub fn sign(&self, header: Value, claims: &Value) -> String {
            let input = format!(
                "{}.{}",
                URL_SAFE_NO_PAD.encode(header.to_string()),
                URL_SAFE_NO_PAD.encode(claims.to_string())
            );
            let sig = self
                .pair
                .sign(&SystemRandom::new(), input.as_bytes())
                .unwrap();
            format!("{input}.{}", URL_SAFE_NO_PAD.encode(sig.as_ref()))
        }

        pub fn sign_es256(&self, claims: &Value) -> String {
            self.sign(serde_json::json!({"alg": "ES256", "kid": self.kid}), claims)
        }
    }

    pub fn set(keys: &[&TestKey]) -> JwkSet {
        let v = serde_json::json!({"keys": keys.iter().map(|k| k.jwk()).collect::<Vec<_>>()});
        JwkSet::from_json(v.to_string().as_bytes()).unwrap()
    }
}

#[cfg(test)]
mod tests {
    use super::test_keys::*;
    use super::*;
    use serde_json::json;

    #[test]
    fn es256_verifies_and_tampering_fails() {
        let k = TestKey::new("k1");
        let keys = set(&[&k]);
        let t = k.sign_es256(&json!({"sub": "x"}));
        let jws = Jws::parse(&t).unwrap();
        assert_eq!(verify(&jws, &keys, &[Alg::ES256], None), Ok(Alg::ES256));
        assert_eq!(
            verify(&jws, &keys, &[Alg::RS256], None),
            Err(JoseError::AlgNotAllowed("ES256".into()))
        );
        // Payload swapped, signature kept.
        let mut parts: Vec<&str> = t.split('.').collect();
        let other = URL_SAFE_NO_PAD.encode(json!({"sub": "y"}).to_string());
        parts[1] = &other;
        let forged = Jws::parse(&parts.join(".")).unwrap();
        assert_eq!(
            verify(&forged, &keys, &[Alg::ES256], None),
            Err(JoseError::BadSignature)
        );
        // Another key with the same kid is not ours.
        let other_key = TestKey::new("k1");
        let t2 = other_key.sign_es256(&json!({"sub": "x"}));
        assert_eq!(
            verify(&Jws::parse(&t2).unwrap(), &keys, &[Alg::ES256], None),
            Err(JoseError::BadSignature)
        );
    }

    #[test]
    fn unknown_kid_asks_for_a_refresh() {
        let k = TestKey::new("k1");
        let t = TestKey::new("k2").sign_es256(&json!({}));
        assert_eq!(
            verify(&Jws::parse(&t).unwrap(), &set(&[&k]), &[Alg::ES256], None),
            Err(JoseError::UnknownKey("k2".into()))
        );
    }

    #[test]
    fn none_jwe_crit_and_nested_are_refused() {
        let claims = URL_SAFE_NO_PAD.encode(b"{}");
        let none = format!("{}.{claims}.", URL_SAFE_NO_PAD.encode(br#"{"alg":"none"}"#));
        let jws = Jws::parse(&none).unwrap();
        assert_eq!(
            verify(&jws, &JwkSet::default(), &[Alg::RS256], None),
            Err(JoseError::AlgNone)
        );
        assert_eq!(Jws::parse("a.b.c.d.e").unwrap_err(), JoseError::Encrypted);
        let crit = format!(
            "{}.{claims}.AA",
            URL_SAFE_NO_PAD.encode(br#"{"alg":"RS256","crit":["exp"]}"#)
        );
        assert!(matches!(
            Jws::parse(&crit),
            Err(JoseError::UnsupportedHeader(_))
        ));
        let nested = format!(
            "{}.{claims}.AA",
            URL_SAFE_NO_PAD.encode(br#"{"alg":"RS256","cty":"JWT"}"#)
        );
        assert!(Jws::parse(&nested).is_err());
        assert_eq!(Jws::parse("only.two").unwrap_err(), JoseError::Malformed);
    }

    #[test]
    fn hs256_needs_the_secret_and_the_allow_list() {
        let input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(br#"{"alg":"HS256"}"#),
            URL_SAFE_NO_PAD.encode(br#"{"sub":"x"}"#)
        );
        let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, b"client-secret");
        let sig = ring::hmac::sign(&key, input.as_bytes());
        let t = format!("{input}.{}", URL_SAFE_NO_PAD.encode(sig.as_ref()));
        let jws = Jws::parse(&t).unwrap();
        let keys = JwkSet::default();
        assert!(verify(&jws, &keys, &[Alg::RS256], Some(b"client-secret")).is_err());
        assert!(verify(&jws, &keys, &[Alg::HS256], None).is_err());
        assert_eq!(
            verify(&jws, &keys, &[Alg::HS256], Some(b"client-secret")),
            Ok(Alg::HS256)
        );
        assert_eq!(
            verify(&jws, &keys, &[Alg::HS256], Some(b"other")),
            Err(JoseError::BadSignature)
        );
    }

    #[test]
    fn key_use_and_alg_must_fit() {
        let k = TestKey::new("k1");
        let mut jwk = k.jwk();
        jwk["use"] = json!("enc");
        let keys = JwkSet::from_json(
            json!({"keys": [jwk, {"kty": "weird"}]})
                .to_string()
                .as_bytes(),
        )
        .unwrap();
        let t = k.sign_es256(&json!({}));
        assert_eq!(
            verify(&Jws::parse(&t).unwrap(), &keys, &[Alg::ES256], None),
            Err(JoseError::NoUsableKey("ES256"))
        );
    }
}
