//! The durable-store part of `[auth.store]`: which backend, its checks, opening it.

use super::postgres_config::{parse_url, PostgresSettings};
use super::DurableStore;
use crate::store::{StoreConfig, StoreError};
use serde::{Deserialize, Serialize};

/// Where durable per-user security settings live (`auth.store.durable_backend`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum DurableBackend {
    /// A local SQLite file: one instance only.
    #[default]
    Sqlite,
    /// A PostgreSQL server shared by every instance.
    Postgres,
}

impl DurableBackend {
    /// True when every instance sees the same rows (PostgreSQL). A shared short-lived
    /// store (Redis) with a local durable store (SQLite) would give each instance its
    /// own enrolments: configuration rules use this to refuse that combination.
    pub fn is_shared(self) -> bool {
        matches!(self, DurableBackend::Postgres)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            DurableBackend::Sqlite => "sqlite",
            DurableBackend::Postgres => "postgres",
        }
    }
}

impl StoreConfig {
    /// Whether the configured durable store is shared by several instances.
    pub fn durable_is_shared(&self) -> bool {
        self.durable_backend.is_shared()
    }

    /// Checks the durable-store settings without touching the store; each error
    /// names its key. Only the keys of the chosen backend are checked.
    pub fn validate_durable(&self) -> Vec<String> {
        let mut e = Vec::new();
        match self.durable_backend {
            DurableBackend::Sqlite => {
                if self.sqlite_path.as_os_str().is_empty() {
                    e.push("auth.store.sqlite_path: must not be empty".into());
                }
            }
            DurableBackend::Postgres => {
                if let Err(err) = parse_url(&self.postgres_url) {
                    e.push(format!("auth.store.postgres_url: {err}"));
                }
                if let Some(ca) = &self.postgres_ca_file {
                    if !ca.is_file() {
                        e.push(format!(
                            "auth.store.postgres_ca_file: file {} not found",
                            ca.display()
                        ));
                    }
                }
                if self.postgres_pool_size == 0 {
                    e.push("auth.store.postgres_pool_size: must be at least 1".into());
                }
                for (key, v) in [
                    (
                        "auth.store.postgres_connect_timeout_ms",
                        self.postgres_connect_timeout_ms,
                    ),
                    (
                        "auth.store.postgres_acquire_timeout_ms",
                        self.postgres_acquire_timeout_ms,
                    ),
                    (
                        "auth.store.postgres_statement_timeout_ms",
                        self.postgres_statement_timeout_ms,
                    ),
                ] {
                    if v == 0 {
                        e.push(format!("{key}: must be at least 1"));
                    }
                }
            }
        }
        e
    }

    /// Opens the durable store chosen by `durable_backend`: creates or migrates the
    /// schema, refuses a schema newer than this binary and a wrong data key. Errors
    /// name the setting to look at.
    pub async fn open_durable(&self) -> Result<DurableStore, StoreError> {
        let errors = self.validate_durable();
        if !errors.is_empty() {
            return Err(StoreError::Config(errors.join("; ")));
        }
        let key = self.load_data_key()?;
        match self.durable_backend {
            DurableBackend::Sqlite => {
                let path = self.sqlite_path.clone();
                tokio::task::spawn_blocking(move || {
                    DurableStore::open_sqlite(&path, key).map_err(|e| match e {
                        StoreError::Database(m) => StoreError::Database(format!(
                            "auth.store.sqlite_path ({}): {m}",
                            path.display()
                        )),
                        other => other,
                    })
                })
                .await
                .map_err(|e| StoreError::Database(format!("blocking task: {e}")))?
            }
            DurableBackend::Postgres => {
                DurableStore::open_postgres(&PostgresSettings::from_config(self), key).await
            }
        }
    }

    /// Every problem the durable store would stop `serve` with, found without
    /// changing the store (see [`super::preflight::preflight`]).
    pub async fn durable_preflight(&self) -> Vec<String> {
        super::preflight::preflight(self).await
    }
}
