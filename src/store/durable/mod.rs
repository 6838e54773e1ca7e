//! Durable per-user security settings (contact email, OTP channel, encrypted TOTP
//! secret, last accepted TOTP step, recovery-code hashes).
//!
//! One type, [`DurableStore`], over two backends chosen by `auth.store.durable_backend`:
//! SQLite (a local file, one instance) and PostgreSQL (shared by several instances).
//! Both run the same versioned migrations at open (`migrations.rs`), seal secrets
//! the same way (`crypto.rs`: the AAD names column and user, never the backend, so
//! `store copy` moves sealed values as they are) and refuse a wrong data key at open
//! (`key_check.rs`).

pub mod config;
pub mod copy;
pub mod key_check;
pub mod migrations;
pub mod postgres;
pub mod postgres_config;
pub mod preflight;
pub mod psc_overrides;
pub mod rows;
pub mod sqlite;

pub use config::DurableBackend;
pub use postgres::PostgresStore;
pub use postgres_config::PostgresSettings;
pub use sqlite::SqliteStore;

use super::crypto::{DataKey, SealedBox};
use super::StoreError;
use serde::{Deserialize, Serialize};
use std::path::Path;

/// The second-factor channel a user chose.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OtpChannel {
    Totp,
    Email,
}

impl OtpChannel {
    pub fn as_str(self) -> &'static str {
        match self {
            OtpChannel::Totp => "totp",
            OtpChannel::Email => "email",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "totp" => Some(OtpChannel::Totp),
            "email" => Some(OtpChannel::Email),
            _ => None,
        }
    }
}

/// What the gateway knows about a user's security set-up (no secrets).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UserSecurity {
    pub contact_email: Option<String>,
    /// `None` until the user completed the channel set-up and its test.
    pub otp_channel: Option<OtpChannel>,
    pub has_totp_secret: bool,
    pub recovery_codes_left: usize,
}

/// What [`DurableStore::rekey_user`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rekey {
    /// The row now belongs to the canonical account.
    Moved,
    /// The canonical account has its own row: the old one is left as it was, never read.
    Conflict,
    /// Nothing was kept under the old key.
    Absent,
}

/// A settings row (email, channel, has a secret) and the recovery codes left.
fn user_security(row: Option<(Option<String>, Option<String>, bool)>, left: i64) -> UserSecurity {
    let recovery_codes_left = left.max(0) as usize;
    match row {
        Some((contact_email, channel, has_totp_secret)) => UserSecurity {
            contact_email,
            otp_channel: channel.as_deref().and_then(OtpChannel::parse),
            has_totp_secret,
            recovery_codes_left,
        },
        None => UserSecurity {
            recovery_codes_left,
            ..Default::default()
        },
    }
}

/// The AAD of a user's sealed TOTP secret.
fn totp_context(user: &str) -> String {
    format!("user_security.totp_secret:{user}")
}

/// Where the rows live (one dispatch point per operation).
#[derive(Clone)]
pub enum Backend {
    Sqlite(SqliteStore),
    Postgres(PostgresStore),
}

/// Durable security settings (cheap to clone: the connection or pool is shared).
#[derive(Clone)]
pub struct DurableStore {
    backend: Backend,
    key: DataKey,
}

impl std::fmt::Debug for DurableStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "DurableStore({})", self.location())
    }
}

impl DurableStore {
    /// Opens (creating if needed) and migrates the SQLite file; refuses a wrong key.
    pub fn open_sqlite(path: &Path, key: DataKey) -> Result<Self, StoreError> {
        Self::with_sqlite(SqliteStore::open(path)?, key)
    }

    /// A private in-memory database (tests).
    pub fn open_sqlite_memory(key: DataKey) -> Result<Self, StoreError> {
        Self::with_sqlite(SqliteStore::memory()?, key)
    }

    fn with_sqlite(store: SqliteStore, key: DataKey) -> Result<Self, StoreError> {
        let location = store.location().to_owned();
        store.with_connection(|c| {
            if key_check::verify(&key, &sqlite::key_evidence(c)?, &location)? {
                let value = key_check::new_check_value(&key)?;
                sqlite::insert_meta_if_absent(c, key_check::CHECK_NAME, &value)?;
                // Another process may have stored its own first: it must open too.
                key_check::verify(&key, &sqlite::key_evidence(c)?, &location)?;
            }
            Ok::<_, StoreError>(())
        })?;
        Ok(DurableStore {
            backend: Backend::Sqlite(store),
            key,
        })
    }

    /// Connects, migrates and checks the key against a PostgreSQL database.
    pub async fn open_postgres(
        settings: &PostgresSettings,
        key: DataKey,
    ) -> Result<Self, StoreError> {
        let store = PostgresStore::connect(settings).await?;
        store.migrate().await?;
        if key_check::verify(&key, &store.key_evidence().await?, store.location())? {
            let value = key_check::new_check_value(&key)?;
            store
                .insert_meta_if_absent(key_check::CHECK_NAME, &value)
                .await?;
            key_check::verify(&key, &store.key_evidence().await?, store.location())?;
        }
        Ok(DurableStore {
            backend: Backend::Postgres(store),
            key,
        })
    }

    /// The backend (tests read raw rows through it).
    pub fn backend(&self) -> &Backend {
        &self.backend
    }

    /// Which store this is, for messages (no credentials).
    pub fn location(&self) -> &str {
        match &self.backend {
            Backend::Sqlite(s) => s.location(),
            Backend::Postgres(p) => p.location(),
        }
    }

    pub fn data_key(&self) -> &DataKey {
        &self.key
    }

    pub async fn get(&self, user: &str) -> Result<UserSecurity, StoreError> {
        match &self.backend {
            Backend::Sqlite(s) => {
                let user = user.to_owned();
                s.run(move |c| sqlite::get(c, &user)).await
            }
            Backend::Postgres(p) => p.get(user).await,
        }
    }

    async fn set_text(
        &self,
        column: &'static str,
        user: &str,
        value: Option<&str>,
    ) -> Result<(), StoreError> {
        match &self.backend {
            Backend::Sqlite(s) => {
                let (user, value) = (user.to_owned(), value.map(str::to_owned));
                s.run(move |c| sqlite::set_text(c, column, &user, value.as_deref()))
                    .await
            }
            Backend::Postgres(p) => p.set_text(column, user, value).await,
        }
    }

    pub async fn set_contact_email(
        &self,
        user: &str,
        email: Option<&str>,
    ) -> Result<(), StoreError> {
        self.set_text("contact_email", user, email).await
    }

    pub async fn set_otp_channel(
        &self,
        user: &str,
        channel: Option<OtpChannel>,
    ) -> Result<(), StoreError> {
        self.set_text("otp_channel", user, channel.map(OtpChannel::as_str))
            .await
    }

    /// Stores (encrypted) or clears the TOTP secret; a new secret resets the replay step.
    pub async fn set_totp_secret(
        &self,
        user: &str,
        secret_base32: Option<&str>,
    ) -> Result<(), StoreError> {
        let sealed = match secret_base32 {
            Some(s) => Some(self.key.seal(&totp_context(user), s.as_bytes())?.0),
            None => None,
        };
        match &self.backend {
            Backend::Sqlite(s) => {
                let user = user.to_owned();
                s.run(move |c| sqlite::set_totp_secret(c, &user, sealed.as_deref()))
                    .await
            }
            Backend::Postgres(p) => p.set_totp_secret(user, sealed.as_deref()).await,
        }
    }

    /// The decrypted base32 TOTP secret. A tampered or moved ciphertext is an error.
    pub async fn totp_secret(
        &self,
        user: &str,
    ) -> Result<Option<crate::auth::secret::SecretText>, StoreError> {
        let sealed = match &self.backend {
            Backend::Sqlite(s) => {
                let u = user.to_owned();
                s.run(move |c| sqlite::totp_secret(c, &u)).await?
            }
            Backend::Postgres(p) => p.totp_secret(user).await?,
        };
        match sealed {
            None => Ok(None),
            Some(b) => {
                let plain = self.key.open(&totp_context(user), &SealedBox(b))?;
                let text = String::from_utf8(plain)
                    .map_err(|_| StoreError::Corrupt("totp secret".into()))?;
                Ok(Some(crate::auth::secret::SecretText::new(text)))
            }
        }
    }

    /// Records `step` as used if it is newer than the last accepted one. Returns
    /// false for a replay (same or older step). Atomic: one conditional UPDATE.
    pub async fn accept_totp_step(&self, user: &str, step: u64) -> Result<bool, StoreError> {
        let step = i64::try_from(step).map_err(|_| StoreError::Corrupt("totp step".into()))?;
        match &self.backend {
            Backend::Sqlite(s) => {
                let user = user.to_owned();
                s.run(move |c| sqlite::accept_totp_step(c, &user, step))
                    .await
            }
            Backend::Postgres(p) => p.accept_totp_step(user, step).await,
        }
    }

    /// Replaces all recovery codes by these hashes.
    pub async fn replace_recovery_codes(
        &self,
        user: &str,
        hashes: Vec<Vec<u8>>,
    ) -> Result<(), StoreError> {
        match &self.backend {
            Backend::Sqlite(s) => {
                let user = user.to_owned();
                s.run(move |c| sqlite::replace_recovery_codes(c, &user, &hashes))
                    .await
            }
            Backend::Postgres(p) => p.replace_recovery_codes(user, &hashes).await,
        }
    }

    /// Deletes the code with this hash; true if it existed (so each code works once).
    pub async fn consume_recovery_code(
        &self,
        user: &str,
        hash: Vec<u8>,
    ) -> Result<bool, StoreError> {
        match &self.backend {
            Backend::Sqlite(s) => {
                let user = user.to_owned();
                s.run(move |c| sqlite::consume_recovery_code(c, &user, &hash))
                    .await
            }
            Backend::Postgres(p) => p.consume_recovery_code(user, &hash).await,
        }
    }

    /// Forgets everything about a user's second factor (admin reset).
    pub async fn clear_second_factor(&self, user: &str) -> Result<(), StoreError> {
        match &self.backend {
            Backend::Sqlite(s) => {
                let user = user.to_owned();
                s.run(move |c| sqlite::clear_second_factor(c, &user)).await
            }
            Backend::Postgres(p) => p.clear_second_factor(user).await,
        }
    }

    /// Every user key that has a row (identity migration, administration), sorted
    /// byte-wise whatever the backend's collation.
    pub async fn user_keys(&self) -> Result<Vec<String>, StoreError> {
        let mut keys = match &self.backend {
            Backend::Sqlite(s) => s.run(|c| sqlite::user_keys(c)).await?,
            Backend::Postgres(p) => p.user_keys().await?,
        };
        keys.sort_unstable();
        keys.dedup();
        Ok(keys)
    }

    /// Identity migration: moves the row kept under `from` (a spelling an earlier
    /// version keyed on) to the canonical account `to`, in one transaction. Refused
    /// (`Conflict`, nothing changes) when `to` has a row already: the canonical row is
    /// the one that counts. The TOTP secret is sealed again for its new key (its AAD
    /// names the user); recovery codes, hashed for the old key, cannot follow and are
    /// dropped (the user makes new ones in « Mon profil »).
    pub async fn rekey_user(&self, from: &str, to: &str) -> Result<Rekey, StoreError> {
        if from == to {
            return Ok(Rekey::Absent);
        }
        let key = self.key.clone();
        let (old_context, new_context) = (totp_context(from), totp_context(to));
        let reseal = move |sealed: &[u8]| -> Result<Vec<u8>, StoreError> {
            let plain =
                zeroize::Zeroizing::new(key.open(&old_context, &SealedBox(sealed.to_vec()))?);
            Ok(key.seal(&new_context, &plain)?.0)
        };
        match &self.backend {
            Backend::Sqlite(s) => {
                let (from, to) = (from.to_owned(), to.to_owned());
                s.run(move |c| sqlite::rekey_user(c, &from, &to, reseal))
                    .await
            }
            Backend::Postgres(p) => p.rekey_user(from, to, reseal).await,
        }
    }

    /// Liveness probe for readiness checks.
    pub async fn ping(&self) -> Result<(), StoreError> {
        match &self.backend {
            Backend::Sqlite(s) => s.run(|c| sqlite::ping(c)).await,
            Backend::Postgres(p) => p.ping().await,
        }
    }
}

#[cfg(test)]
mod tests;
