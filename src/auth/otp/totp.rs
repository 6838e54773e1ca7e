//! TOTP (RFC 6238) with totp-rs 6: SHA1, 6 digits, 30 s, ±1 step; a step once
//! accepted is refused afterwards for that user (last accepted step in the durable store).

use crate::auth::config::TotpConfig;
use crate::auth::secret::SecretText;
use crate::store::{DurableStore, StoreError};
use totp_rs::{Algorithm, Builder, Secret, Totp};

/// What the enrolment page shows once (then the secret lives only encrypted at rest).
pub struct TotpEnrolment {
    /// Base32 secret for manual entry.
    pub secret_base32: SecretText,
    /// `otpauth://totp/...` URI (contains the secret).
    pub uri: SecretText,
    /// QR code of the URI as base64 PNG (for `<img src="data:image/png;base64,…">`).
    pub qr_png_base64: String,
}

impl std::fmt::Debug for TotpEnrolment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TotpEnrolment(<redacted>)")
    }
}

#[derive(Debug, thiserror::Error)]
pub enum TotpError {
    #[error("invalid TOTP parameters: {0}")]
    Params(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// TOTP checks bound to the durable store.
#[derive(Debug, Clone)]
pub struct TotpFactor {
    cfg: TotpConfig,
    issuer: String,
}

impl TotpFactor {
    /// `issuer` is the operator name (`:` is not allowed by the otpauth format and is replaced).
    pub fn new(cfg: TotpConfig, issuer: &str) -> Self {
        TotpFactor {
            cfg,
            issuer: issuer.replace(':', " "),
        }
    }

    fn totp(&self, secret_base32: &str, account: &str) -> Result<Totp, TotpError> {
        let secret =
            Secret::try_from_base32(secret_base32).map_err(|e| TotpError::Params(e.to_string()))?;
        Builder::new()
            .with_algorithm(Algorithm::SHA1)
            .with_digits(self.cfg.digits)
            .with_step_duration(self.cfg.period_secs)
            .with_skew(self.cfg.skew as u16)
            .with_secret(secret)
            .with_account_name(account.replace(':', " "))
            .with_issuer(Some(self.issuer.clone()))
            .build()
            .map_err(|e| TotpError::Params(e.to_string()))
    }

    /// A new random 160-bit secret with its otpauth URI and QR code.
    pub fn new_enrolment(&self, account: &str) -> Result<TotpEnrolment, TotpError> {
        let secret = Secret::generate().to_base32();
        let totp = self.totp(&secret, account)?;
        let uri = totp
            .to_url()
            .map_err(|e| TotpError::Params(e.to_string()))?;
        let qr = totp
            .to_qr_base64()
            .map_err(|e| TotpError::Params(e.to_string()))?;
        Ok(TotpEnrolment {
            secret_base32: SecretText::new(secret),
            uri: SecretText::new(uri),
            qr_png_base64: qr,
        })
    }

    /// The matching step of `code` at `now_secs`, without replay bookkeeping.
    pub fn matching_step(
        &self,
        secret_base32: &str,
        code: &str,
        now_secs: u64,
    ) -> Result<Option<u64>, TotpError> {
        let code = super::digits_only(code);
        if code.len() != self.cfg.digits as usize || !code.bytes().all(|b| b.is_ascii_digit()) {
            return Ok(None);
        }
        Ok(self.totp(secret_base32, "x")?.check(&code, now_secs))
    }

    /// The code for `now_secs` (tests, demo).
    pub fn code_at(&self, secret_base32: &str, now_secs: u64) -> Result<String, TotpError> {
        Ok(self
            .totp(secret_base32, "x")?
            .generate(now_secs)
            .to_string())
    }

    /// Checks `code` against the user's stored secret and consumes its step:
    /// true only once per step, and never for a step older than one already used.
    pub async fn verify(
        &self,
        store: &DurableStore,
        user: &str,
        code: &str,
        now_secs: u64,
    ) -> Result<bool, TotpError> {
        let Some(secret) = store.totp_secret(user).await? else {
            return Ok(false);
        };
        match self.matching_step(secret.expose(), code, now_secs)? {
            Some(step) => Ok(store.accept_totp_step(user, step).await?),
            None => Ok(false),
        }
    }

    /// Checks a code against a secret not yet stored (the "Tester la saisie d'un OTP" step).
    pub fn verify_candidate(&self, secret_base32: &str, code: &str, now_secs: u64) -> bool {
        matches!(
            self.matching_step(secret_base32, code, now_secs),
            Ok(Some(_))
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::DataKey;

    const SECRET: &str = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP";
    const T0: u64 = 1_800_000_000; // multiple of 30

    fn factor() -> TotpFactor {
        TotpFactor::new(TotpConfig::default(), "ARS: Santé")
    }

    #[test]
    fn enrolment_uri_and_qr() {
        let e = factor()
            .new_enrolment("jean.dupont@mssante.example.fr")
            .unwrap();
        let uri = e.uri.expose();
        assert!(uri.starts_with("otpauth://totp/"), "{uri}");
        assert!(uri.contains("issuer=ARS%20%20Sant"), "{uri}");
        assert!(uri.contains(e.secret_base32.expose()));
        assert!(!e.qr_png_base64.is_empty());
        assert!(!format!("{e:?}").contains(e.secret_base32.expose()));
    }

    #[test]
    fn skew_of_one_step() {
        let f = factor();
        let code = f.code_at(SECRET, T0).unwrap();
        assert!(f.verify_candidate(SECRET, &code, T0));
        assert!(f.verify_candidate(SECRET, &code, T0 + 30));
        assert!(f.verify_candidate(SECRET, &code, T0 - 30));
        assert!(!f.verify_candidate(SECRET, &code, T0 + 60));
        assert!(!f.verify_candidate(SECRET, &code, T0 - 31));
        assert!(!f.verify_candidate(SECRET, "abcdef", T0));
        assert!(!f.verify_candidate(SECRET, "", T0));
        let spaced = format!("{} {}", &code[..3], &code[3..]);
        assert!(f.verify_candidate(SECRET, &spaced, T0));
    }

    #[tokio::test]
    async fn replay_refused() {
        let f = factor();
        let store = DurableStore::open_sqlite_memory(DataKey::generate()).unwrap();
        store.set_totp_secret("alice", Some(SECRET)).await.unwrap();
        let code = f.code_at(SECRET, T0).unwrap();
        assert!(f.verify(&store, "alice", &code, T0).await.unwrap());
        assert!(
            !f.verify(&store, "alice", &code, T0).await.unwrap(),
            "same code twice"
        );
        assert!(
            !f.verify(&store, "alice", &code, T0 + 20).await.unwrap(),
            "within skew"
        );
        // An older step, still in the skew window, is refused after a newer one.
        let prev = f.code_at(SECRET, T0 + 30).unwrap();
        assert!(f.verify(&store, "alice", &prev, T0 + 30).await.unwrap());
        let older = f.code_at(SECRET, T0).unwrap();
        assert!(!f.verify(&store, "alice", &older, T0 + 30).await.unwrap());
        // No secret: refused.
        assert!(!f.verify(&store, "bob", &code, T0).await.unwrap());
    }
}
