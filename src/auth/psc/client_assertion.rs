//! `private_key_jwt` (RFC 7523 §2.2): the gateway proves itself to PSC's token endpoint
//! with a short JWT signed by its own key, instead of sending a secret.

use crate::config::Secret;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use ring::rand::SystemRandom;
use ring::signature::{self, EcdsaKeyPair, RsaKeyPair};
use rustls::pki_types::PrivateKeyDer;
use serde_json::json;
use std::sync::Arc;

/// The form parameter value naming the assertion type.
pub const ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

enum KeyPair {
    Rsa(RsaKeyPair, &'static dyn signature::RsaEncoding),
    Ecdsa(EcdsaKeyPair),
}

/// The gateway's signing key for client assertions.
#[derive(Clone)]
pub struct AssertionKey {
    pair: Arc<KeyPair>,
    alg: &'static str,
    kid: Option<String>,
}

impl std::fmt::Debug for AssertionKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "AssertionKey({}, <redacted>)", self.alg)
    }
}

impl AssertionKey {
    /// From a PEM private key (PKCS#8, or PKCS#1 for RSA) and RS256, PS256 or ES256.
    pub fn from_pem(pem: &Secret, alg: &str) -> Result<AssertionKey, String> {
        let der = rustls_pemfile::private_key(&mut pem.expose().as_bytes())
            .map_err(|e| format!("unreadable PEM: {e}"))?
            .ok_or("no private key in the PEM text")?;
        let rng = SystemRandom::new();
        let (pair, alg) = match (alg, &der) {
            ("RS256" | "PS256", PrivateKeyDer::Pkcs8(k)) => (
                rsa_pair(RsaKeyPair::from_pkcs8(k.secret_pkcs8_der()), alg)?,
                alg,
            ),
            ("RS256" | "PS256", PrivateKeyDer::Pkcs1(k)) => (
                rsa_pair(RsaKeyPair::from_der(k.secret_pkcs1_der()), alg)?,
                alg,
            ),
            ("ES256", PrivateKeyDer::Pkcs8(k)) => (
                KeyPair::Ecdsa(
                    EcdsaKeyPair::from_pkcs8(
                        &signature::ECDSA_P256_SHA256_FIXED_SIGNING,
                        k.secret_pkcs8_der(),
                        &rng,
                    )
                    .map_err(|e| format!("not a P-256 PKCS#8 key: {e}"))?,
                ),
                "ES256",
            ),
            ("RS256" | "PS256" | "ES256", _) => {
                return Err("give the key as PKCS#8 (openssl pkcs8 -topk8 -nocrypt)".into())
            }
            _ => return Err(format!("private_key_alg {alg:?}: RS256, PS256 or ES256")),
        };
        let alg = match alg {
            "RS256" => "RS256",
            "PS256" => "PS256",
            _ => "ES256",
        };
        Ok(AssertionKey {
            pair: Arc::new(pair),
            alg,
            kid: None,
        })
    }

    pub fn with_kid(mut self, kid: Option<String>) -> Self {
        self.kid = kid;
        self
    }

    /// A fresh assertion for `client_id` towards `token_endpoint`, valid 60 s.
    pub fn assertion(&self, client_id: &str, token_endpoint: &str, now_secs: u64) -> String {
        let mut header = json!({"alg": self.alg, "typ": "JWT"});
        if let Some(k) = &self.kid {
            header["kid"] = json!(k);
        }
        let jti: [u8; 16] = rand::random();
        let claims = json!({
            "iss": client_id, "sub": client_id, "aud": token_endpoint,
            "jti": hex::encode(jti), "iat": now_secs, "exp": now_secs + 60,
        });
        let input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        let rng = SystemRandom::new();
        let sig = match &*self.pair {
            KeyPair::Rsa(k, enc) => {
                let mut sig = vec![0u8; k.public().modulus_len()];
                k.sign(*enc, &rng, input.as_bytes(), &mut sig)
                    .expect("RSA signing with a valid key");
                sig
            }
            KeyPair::Ecdsa(k) => k
                .sign(&rng, input.as_bytes())
                .expect("ECDSA signing with a valid key")
                .as_ref()
                .to_vec(),
        };
        format!("{input}.{}", URL_SAFE_NO_PAD.encode(sig))
    }
}

fn rsa_pair(
    pair: Result<RsaKeyPair, ring::error::KeyRejected>,
    alg: &str,
) -> Result<KeyPair, String> {
    let pair = pair.map_err(|e| format!("RSA key refused: {e}"))?;
    let enc: &'static dyn signature::RsaEncoding = if alg == "PS256" {
        &signature::RSA_PSS_SHA256
    } else {
        &signature::RSA_PKCS1_SHA256
    };
    Ok(KeyPair::Rsa(pair, enc))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::psc::jose::{self, Alg, JwkSet, Jws};

    #[test]
    fn es256_assertion_verifies_with_its_public_key() {
        let rng = SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&signature::ECDSA_P256_SHA256_FIXED_SIGNING, &rng)
            .unwrap();
        let pem = format!(
            "-----BEGIN PRIVATE KEY-----\n{}\n-----END PRIVATE KEY-----\n",
            base64::engine::general_purpose::STANDARD.encode(pkcs8.as_ref())
        );
        let key = AssertionKey::from_pem(&Secret::new(pem), "ES256")
            .unwrap()
            .with_kid(Some("gw-1".into()));
        let t = key.assertion("client", "https://psc.example/token", 1_700_000_000);
        let jws = Jws::parse(&t).unwrap();
        assert_eq!(jws.header.kid.as_deref(), Some("gw-1"));
        assert_eq!(jws.claims["aud"], "https://psc.example/token");
        assert_eq!(jws.claims["iss"], "client");
        let pair = EcdsaKeyPair::from_pkcs8(
            &signature::ECDSA_P256_SHA256_FIXED_SIGNING,
            pkcs8.as_ref(),
            &rng,
        )
        .unwrap();
        let p = ring::signature::KeyPair::public_key(&pair)
            .as_ref()
            .to_vec();
        let jwk = serde_json::json!({"keys": [{"kty": "EC", "crv": "P-256", "kid": "gw-1",
            "x": URL_SAFE_NO_PAD.encode(&p[1..33]), "y": URL_SAFE_NO_PAD.encode(&p[33..])}]});
        let set = JwkSet::from_json(jwk.to_string().as_bytes()).unwrap();
        assert_eq!(
            jose::verify(&jws, &set, &[Alg::ES256], None),
            Ok(Alg::ES256)
        );
    }

    #[test]
    fn bad_keys_are_explained() {
        assert!(AssertionKey::from_pem(&Secret::new("nope"), "RS256").is_err());
        let e = AssertionKey::from_pem(&Secret::new("x"), "HS256").unwrap_err();
        assert!(e.contains("no private key") || e.contains("RS256"), "{e}");
    }
}
