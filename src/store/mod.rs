//! State backends (S1): short-lived state (sessions, pending logins, codes,
//! counters) and durable per-user security settings. Each is an enum with one
//! dispatch point so Redis / PostgreSQL variants can be added beside the embedded ones.

pub mod crypto;
pub mod durable;
pub mod redis;
pub mod short;

pub use crypto::{DataKey, SealedBox};
pub use durable::{DurableBackend, DurableStore, OtpChannel, Rekey, UserSecurity};
pub use short::ShortStore;

use crate::auth::clock::Clock;
use crate::config::Secret;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// Where short-lived state lives (`auth.store.short_backend`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ShortBackend {
    /// In this process (moka); lost on restart, one instance only.
    #[default]
    Memory,
    /// A Redis server (6.2 or later) shared by every instance; survives restarts.
    Redis,
}

/// `[auth.store]`: where state lives.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct StoreConfig {
    /// Durable per-user security settings: `sqlite` (a local file, one instance) or
    /// `postgres` (a server shared by several instances).
    pub durable_backend: DurableBackend,
    /// SQLite file holding per-user security settings (created and migrated at start).
    pub sqlite_path: PathBuf,
    /// PostgreSQL server for `durable_backend = "postgres"`:
    /// `postgres://user@host:port/database` (`?host=/run/postgresql` for a unix socket).
    /// TLS with certificate and host-name checks unless `sslmode=disable`, which is
    /// accepted only for a loopback address or a unix socket. No password in the URL.
    pub postgres_url: String,
    /// PostgreSQL password; give it as `postgres_password_file`.
    pub postgres_password: Option<Secret>,
    /// PEM CA certificates for a PostgreSQL server with a private CA; system roots otherwise.
    pub postgres_ca_file: Option<PathBuf>,
    /// Most connections the instance opens to PostgreSQL (each instance has its own pool).
    pub postgres_pool_size: usize,
    /// Milliseconds to open a connection (TCP, TLS and authentication).
    pub postgres_connect_timeout_ms: u64,
    /// Milliseconds a request waits for a free pooled connection; past it the login
    /// is refused (fail closed).
    pub postgres_acquire_timeout_ms: u64,
    /// Milliseconds one statement may run (`statement_timeout`, also enforced by the
    /// gateway when the server does not answer).
    pub postgres_statement_timeout_ms: u64,
    /// The 32-byte data key as 64 hex characters (encrypts TOTP secrets, keys
    /// recovery-code hashes). Required; give it as `data_key_file`, a file made with
    /// `openssl rand -hex 32`.
    pub data_key: Option<Secret>,
    /// Maximum number of short-lived entries kept in memory.
    pub memory_max_entries: u64,
    /// Short-lived state (sessions, pending logins, codes, counters): `memory` (this
    /// process only, lost on restart) or `redis` (shared by several instances,
    /// sessions survive a restart).
    pub short_backend: ShortBackend,
    /// Redis server for `short_backend = "redis"`: `redis://host:port/db`, or
    /// `rediss://host:port/db` for TLS (rustls, system roots or `redis_ca_file`).
    /// No password in the URL: use `redis_password` / `redis_password_file`.
    pub redis_url: String,
    /// Redis user for ACL authentication (Redis 6+); the `default` user when absent.
    pub redis_username: Option<String>,
    /// Redis password (`AUTH`); give it as `redis_password_file`.
    pub redis_password: Option<Secret>,
    /// PEM CA certificates for a `rediss://` server with a private CA.
    pub redis_ca_file: Option<PathBuf>,
    /// Prefix of every key the gateway writes (several deployments may share one server).
    pub redis_key_prefix: String,
    /// Milliseconds allowed to connect and for each command; past it the operation
    /// fails and the login is refused (fail closed).
    pub redis_timeout_ms: u64,
}

impl Default for StoreConfig {
    fn default() -> Self {
        StoreConfig {
            durable_backend: DurableBackend::Sqlite,
            // The systemd unit's StateDirectory=; no relative path (it would depend on
            // the working directory). The demo and tests set their own.
            sqlite_path: PathBuf::from("/var/lib/mssante-gateway/state.sqlite3"),
            postgres_url: "postgres://mssante_gateway@localhost:5432/mssante_gateway".into(),
            postgres_password: None,
            postgres_ca_file: None,
            postgres_pool_size: 16,
            postgres_connect_timeout_ms: 5000,
            postgres_acquire_timeout_ms: 2000,
            postgres_statement_timeout_ms: 5000,
            data_key: None,
            memory_max_entries: 1_000_000,
            short_backend: ShortBackend::Memory,
            redis_url: "redis://127.0.0.1:6379/0".into(),
            redis_username: None,
            redis_password: None,
            redis_ca_file: None,
            redis_key_prefix: "mssante:".into(),
            redis_timeout_ms: 2000,
        }
    }
}

impl StoreConfig {
    /// The data key (`data_key`, usually read from `data_key_file`); a missing setting
    /// is an error (secrets at rest are never stored unencrypted).
    pub fn load_data_key(&self) -> Result<DataKey, StoreError> {
        match &self.data_key {
            Some(k) => DataKey::from_hex(k.expose()),
            None => Err(StoreError::Key(
                "auth.store.data_key_file is required".into(),
            )),
        }
    }

    /// Checks the `[auth.store]` settings (both stores) without connecting; each
    /// error names its key.
    pub fn validate(&self) -> Vec<String> {
        let mut e = self.validate_short();
        e.extend(self.validate_durable());
        e
    }

    /// Checks the short-store settings; each error names its key. Only the keys of
    /// the chosen `short_backend` are checked.
    pub fn validate_short(&self) -> Vec<String> {
        let mut e = Vec::new();
        if self.short_backend == ShortBackend::Memory {
            if self.memory_max_entries == 0 {
                e.push("auth.store.memory_max_entries: must be at least 1".into());
            }
            return e;
        }
        if let Err(err) = self::redis::check_url(&self.redis_url) {
            e.push(format!("auth.store.redis_url: {err}"));
        }
        if let Some(ca) = &self.redis_ca_file {
            if !self.redis_url.starts_with("rediss://") {
                e.push("auth.store.redis_ca_file: only for a rediss:// (TLS) redis_url".into());
            }
            if !ca.is_file() {
                e.push(format!(
                    "auth.store.redis_ca_file: file {} not found",
                    ca.display()
                ));
            }
        }
        if self.redis_key_prefix.is_empty() {
            e.push("auth.store.redis_key_prefix: must not be empty (keys of other applications could be overwritten)".into());
        }
        if self.redis_timeout_ms == 0 {
            e.push("auth.store.redis_timeout_ms: must be at least 1".into());
        }
        e
    }

    /// Opens the short-lived store chosen by `short_backend`. For Redis this connects,
    /// authenticates and checks the server version (6.2+) before returning, so a
    /// wrong URL, password or an unreachable server is reported at start.
    pub async fn open_short(&self, clock: Clock) -> Result<ShortStore, StoreError> {
        let errors = self.validate_short();
        if !errors.is_empty() {
            return Err(StoreError::Database(errors.join("; ")));
        }
        match self.short_backend {
            ShortBackend::Memory => Ok(ShortStore::memory(clock, self.memory_max_entries)),
            ShortBackend::Redis => Ok(ShortStore::Redis(
                self::redis::RedisShortStore::connect(self, clock).await?,
            )),
        }
    }
}

/// Two instances must not disagree on who has a factor: a short-lived store shared by
/// several instances (Redis) with a durable store each instance keeps to itself
/// (SQLite) lets instance B see no factor — and enrol a new one with the password
/// alone — for an account that enrolled on instance A. `check-config` and `serve`
/// refuse that pair; a shared durable backend (PostgreSQL,
/// [`StoreConfig::durable_is_shared`]) is what makes Redis acceptable.
pub fn check_backends_agree(cfg: &StoreConfig) -> Result<(), String> {
    match cfg.short_backend {
        ShortBackend::Memory => Ok(()),
        ShortBackend::Redis if cfg.durable_is_shared() => Ok(()),
        ShortBackend::Redis => Err(format!(
            "auth.store.short_backend = \"redis\" shares sessions between instances, but \
             second factors stay in each instance's own SQLite file ({}): an instance \
             would not see a factor enrolled on another one and would let the password \
             alone set a new one. Use durable_backend = \"postgres\" (shared by every \
             instance), or short_backend = \"memory\" for a single instance",
            cfg.sqlite_path.display()
        )),
    }
}

/// A store failure. Callers fail closed (login refused), never open.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Database(String),
    #[error("stored value is corrupt: {0}")]
    Corrupt(String),
    /// A bounded space has no room for a new key (callers fail closed).
    #[error("short-lived store full: {0}")]
    Full(String),
    #[error("encryption error: {0}")]
    Crypto(String),
    #[error("data key: {0}")]
    Key(String),
    /// A setting is unusable (the message names it).
    #[error("{0}")]
    Config(String),
    /// The store cannot be reached or did not answer in time; callers fail closed
    /// (503 page, SOAP fault) and the next request tries again.
    #[error("durable store unavailable: {0}")]
    Unavailable(String),
    #[error(
        "auth.store: the database schema is at version {found}, newer than this binary \
         knows ({known}): a newer mssante-gateway upgraded it. Run that version, or restore \
         the backup taken before the upgrade"
    )]
    SchemaTooNew { found: i64, known: i64 },
    /// The data key does not open what the store holds (message names the setting).
    #[error("auth.store.data_key_file: {0}")]
    DataKeyMismatch(String),
}

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        StoreError::Database(e.to_string())
    }
}

impl From<tokio_postgres::Error> for StoreError {
    fn from(e: tokio_postgres::Error) -> Self {
        if e.is_closed() || e.as_db_error().is_none() {
            StoreError::Unavailable(durable::postgres::describe(&e))
        } else {
            StoreError::Database(durable::postgres::describe(&e))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redis_needs_a_shared_durable_store() {
        let mut c = StoreConfig::default();
        assert!(check_backends_agree(&c).is_ok(), "memory + sqlite");
        c.short_backend = ShortBackend::Redis;
        let err = check_backends_agree(&c).unwrap_err();
        assert!(
            err.contains("SQLite") && err.contains("durable_backend"),
            "{err}"
        );
        c.durable_backend = DurableBackend::Postgres;
        assert!(check_backends_agree(&c).is_ok(), "redis + postgres");
        c.short_backend = ShortBackend::Memory;
        assert!(check_backends_agree(&c).is_ok(), "memory + postgres");
    }
}
