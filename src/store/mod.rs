//! State backends (S1): short-lived state (sessions, pending logins, codes,
//! counters) and durable per-user security settings. Each is an enum with one
//! dispatch point so Redis / PostgreSQL variants can be added beside the embedded ones.

pub mod crypto;
pub mod durable;
pub mod short;

pub use crypto::{DataKey, SealedBox};
pub use durable::{DurableStore, OtpChannel, UserSecurity};
pub use short::ShortStore;

use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// `[auth.store]`: where state lives.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct StoreConfig {
    /// SQLite file holding per-user security settings (created and migrated at start).
    pub sqlite_path: PathBuf,
    /// File holding the 32-byte data key as 64 hex characters (encrypts TOTP secrets,
    /// keys recovery-code hashes). Required; generate with `openssl rand -hex 32`.
    pub data_key_file: Option<PathBuf>,
    /// Maximum number of short-lived entries kept in memory.
    pub memory_max_entries: u64,
}

impl Default for StoreConfig {
    fn default() -> Self {
        StoreConfig {
            sqlite_path: PathBuf::from("gateway-state.sqlite3"),
            data_key_file: None,
            memory_max_entries: 1_000_000,
        }
    }
}

impl StoreConfig {
    /// Loads the data key named by `data_key_file`; a missing setting is an error
    /// (secrets at rest are never stored unencrypted).
    pub fn load_data_key(&self) -> Result<DataKey, StoreError> {
        match &self.data_key_file {
            Some(p) => DataKey::from_file(p),
            None => Err(StoreError::Key(
                "auth.store.data_key_file is required".into(),
            )),
        }
    }
}

/// A store failure. Callers fail closed (login refused), never open.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Database(String),
    #[error("stored value is corrupt: {0}")]
    Corrupt(String),
    #[error("encryption error: {0}")]
    Crypto(String),
    #[error("data key: {0}")]
    Key(String),
}

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        StoreError::Database(e.to_string())
    }
}
