//! Encryption at rest (AES-256-GCM, ring) and keyed hashing for the durable store.
//!
//! Layout of a sealed value: `0x01 | nonce (12 bytes) | ciphertext | tag (16 bytes)`.
//! The AAD names the column and the user, so a ciphertext copied to another row
//! or column fails to open (Authelia does the same with per-row AAD).

use super::StoreError;
use ring::aead::{self, Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM, NONCE_LEN};
use ring::hmac;
use ring::rand::{SecureRandom, SystemRandom};
use std::fmt;
use std::path::Path;

const VERSION: u8 = 1;

/// The 32-byte master data key. Sub-keys are derived per purpose.
#[derive(Clone)]
pub struct DataKey {
    aead_key: [u8; 32],
    hash_key: hmac::Key,
}

impl fmt::Debug for DataKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("DataKey(<redacted>)")
    }
}

impl Drop for DataKey {
    fn drop(&mut self) {
        zeroize::Zeroize::zeroize(&mut self.aead_key);
    }
}

impl DataKey {
    /// From 64 hex characters (surrounding whitespace ignored).
    pub fn from_hex(hex_key: &str) -> Result<Self, StoreError> {
        let bytes = hex::decode(hex_key.trim())
            .map_err(|_| StoreError::Key("expected 64 hexadecimal characters".into()))?;
        let master: [u8; 32] = bytes
            .try_into()
            .map_err(|_| StoreError::Key("expected 32 bytes (64 hex characters)".into()))?;
        Ok(Self::from_bytes(master))
    }

    /// Reads the key file named in the config.
    pub fn from_file(path: &Path) -> Result<Self, StoreError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| StoreError::Key(format!("cannot read {}: {e}", path.display())))?;
        Self::from_hex(&text)
    }

    /// A random key (tests and the demo).
    pub fn generate() -> Self {
        let mut master = [0u8; 32];
        SystemRandom::new()
            .fill(&mut master)
            .expect("system random generator");
        Self::from_bytes(master)
    }

    fn from_bytes(mut master: [u8; 32]) -> Self {
        // Domain-separated sub-keys: HMAC(master, purpose).
        let root = hmac::Key::new(hmac::HMAC_SHA256, &master);
        let mut aead_key = [0u8; 32];
        aead_key.copy_from_slice(hmac::sign(&root, b"mssante-gateway aead v1").as_ref());
        let hash_key = hmac::Key::new(
            hmac::HMAC_SHA256,
            hmac::sign(&root, b"mssante-gateway code-hash v1").as_ref(),
        );
        zeroize::Zeroize::zeroize(&mut master);
        DataKey { aead_key, hash_key }
    }

    fn aead(&self) -> LessSafeKey {
        LessSafeKey::new(UnboundKey::new(&AES_256_GCM, &self.aead_key).expect("32-byte key"))
    }

    /// Encrypts `plaintext` bound to `context` (column + user).
    pub fn seal(&self, context: &str, plaintext: &[u8]) -> Result<SealedBox, StoreError> {
        let mut nonce = [0u8; NONCE_LEN];
        SystemRandom::new()
            .fill(&mut nonce)
            .map_err(|_| StoreError::Crypto("random generator failed".into()))?;
        let mut buf = plaintext.to_vec();
        self.aead()
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(context.as_bytes()),
                &mut buf,
            )
            .map_err(|_| StoreError::Crypto("seal failed".into()))?;
        let mut out = Vec::with_capacity(1 + NONCE_LEN + buf.len());
        out.push(VERSION);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&buf);
        Ok(SealedBox(out))
    }

    /// Decrypts and authenticates; any tampering or a wrong context fails.
    pub fn open(&self, context: &str, sealed: &SealedBox) -> Result<Vec<u8>, StoreError> {
        let data = &sealed.0;
        if data.len() < 1 + NONCE_LEN + aead::AES_256_GCM.tag_len() || data[0] != VERSION {
            return Err(StoreError::Crypto("sealed value malformed".into()));
        }
        let nonce: [u8; NONCE_LEN] = data[1..1 + NONCE_LEN].try_into().expect("length checked");
        let mut buf = data[1 + NONCE_LEN..].to_vec();
        let plain = self
            .aead()
            .open_in_place(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(context.as_bytes()),
                &mut buf,
            )
            .map_err(|_| StoreError::Crypto("authentication failed".into()))?;
        Ok(plain.to_vec())
    }

    /// Keyed hash of a high-entropy code (recovery codes). A slow hash adds nothing
    /// for 80-bit random codes; the key means a stolen database alone cannot test guesses.
    pub fn code_hash(&self, context: &str, code: &str) -> Vec<u8> {
        let mut ctx = hmac::Context::with_key(&self.hash_key);
        ctx.update(context.as_bytes());
        ctx.update(&[0]);
        ctx.update(code.as_bytes());
        ctx.sign().as_ref().to_vec()
    }

    /// HMAC-SHA256 of `data` under the derived hash key (CSRF tokens, signed values).
    pub fn mac(&self, data: &[u8]) -> Vec<u8> {
        hmac::sign(&self.hash_key, data).as_ref().to_vec()
    }
}

/// An encrypted value as stored.
#[derive(Clone, PartialEq, Eq)]
pub struct SealedBox(pub Vec<u8>);

impl fmt::Debug for SealedBox {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SealedBox({} bytes)", self.0.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let k = DataKey::generate();
        let s = k.seal("totp:alice", b"JBSWY3DPEHPK3PXP").unwrap();
        assert_eq!(k.open("totp:alice", &s).unwrap(), b"JBSWY3DPEHPK3PXP");
        // Random nonce: same plaintext, different ciphertext.
        assert_ne!(k.seal("totp:alice", b"JBSWY3DPEHPK3PXP").unwrap(), s);
    }

    #[test]
    fn tampering_and_wrong_context_or_key_fail() {
        let k = DataKey::generate();
        let s = k.seal("totp:alice", b"secret").unwrap();
        for i in 0..s.0.len() {
            let mut t = s.clone();
            t.0[i] ^= 0x01;
            assert!(k.open("totp:alice", &t).is_err(), "byte {i}");
        }
        assert!(k.open("totp:bob", &s).is_err());
        assert!(DataKey::generate().open("totp:alice", &s).is_err());
        assert!(k.open("totp:alice", &SealedBox(vec![1, 2, 3])).is_err());
    }

    #[test]
    fn key_parsing() {
        let hex = "00".repeat(32);
        assert!(DataKey::from_hex(&format!("{hex}\n")).is_ok());
        assert!(DataKey::from_hex("abcd").is_err());
        assert!(DataKey::from_hex(&"zz".repeat(32)).is_err());
        assert!(!format!("{:?}", DataKey::from_hex(&hex).unwrap()).contains("00"));
    }

    #[test]
    fn code_hash_is_keyed_and_contextual() {
        let k = DataKey::generate();
        assert_eq!(k.code_hash("a", "X"), k.code_hash("a", "X"));
        assert_ne!(k.code_hash("a", "X"), k.code_hash("b", "X"));
        assert_ne!(
            k.code_hash("a", "X"),
            DataKey::generate().code_hash("a", "X")
        );
    }
}
