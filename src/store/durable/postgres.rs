//! The PostgreSQL backend (several instances share it): tokio-postgres through a
//! bounded deadpool pool, TLS with rustls/ring. Every operation is one statement or
//! one transaction, bounded by the pool's acquire timeout and the statement timeout;
//! a connection that timed out is thrown away, never reused half-way.

use super::key_check::{SealedSample, StoredKeyEvidence, CHECK_NAME};
use super::migrations::{pending, MigrationReport, HISTORY_TABLE};
use super::postgres_config::{build_pool, PostgresSettings};
use super::{Rekey, UserSecurity};
use crate::store::StoreError;
use deadpool_postgres::{Object, Pool, PoolError, TimeoutType};
use std::sync::Arc;
use std::time::Duration;
use tokio_postgres::error::SqlState;
use tokio_postgres::GenericClient;

/// Key of the advisory lock held while migrating or copying (two instances starting
/// together migrate one after the other).
const SCHEMA_LOCK: i64 = 0x6d73_7361_6e74_6501; // "mssante\x01"

#[derive(Clone)]
pub struct PostgresStore {
    pool: Pool,
    location: Arc<str>,
    op_timeout: Duration,
    acquire_timeout: Duration,
}

/// Runs `$body` with a pooled connection `$c`, bounded by the operation timeout.
macro_rules! guarded {
    ($self:ident, $c:ident, $body:block) => {{
        let started = std::time::Instant::now();
        let result = async {
            #[allow(unused_mut)]
            let mut $c = $self.client().await?;
            let r = tokio::time::timeout($self.op_timeout, async { $body }).await;
            $self.finish($c, r)
        }
        .await;
        // gateway_store_operation_seconds{store="durable",backend="postgres"} and errors.
        crate::telemetry::record_store_operation(
            "durable",
            "postgres",
            started.elapsed(),
            result.is_ok(),
        );
        result
    }};
}

impl PostgresStore {
    /// Builds the pool and opens a first connection, so a wrong URL, password, CA or
    /// an unreachable server is reported at start.
    pub async fn connect(s: &PostgresSettings) -> Result<Self, StoreError> {
        let (pool, location) = build_pool(s)?;
        let store = PostgresStore {
            pool,
            location: location.into(),
            op_timeout: s.operation_timeout(),
            acquire_timeout: s.acquire_timeout,
        };
        store.ping().await?;
        Ok(store)
    }

    /// Which database this is (messages; no credentials).
    pub fn location(&self) -> &str {
        &self.location
    }

    /// The pool (tests: status, exhaustion).
    pub fn pool(&self) -> &Pool {
        &self.pool
    }

    async fn client(&self) -> Result<Object, StoreError> {
        self.pool.get().await.map_err(|e| match e {
            PoolError::Timeout(TimeoutType::Wait) => StoreError::Unavailable(format!(
                "no free connection to {} within {} ms (all {} of auth.store.postgres_pool_size \
                 in use)",
                self.location,
                self.acquire_timeout.as_millis(),
                self.pool.status().max_size
            )),
            PoolError::Timeout(_) => StoreError::Unavailable(format!(
                "{} did not accept a connection in time (auth.store.postgres_connect_timeout_ms)",
                self.location
            )),
            PoolError::Backend(e) => {
                StoreError::Unavailable(format!("cannot reach {}: {}", self.location, describe(&e)))
            }
            other => StoreError::Unavailable(format!("{}: {other}", self.location)),
        })
    }

    fn finish<T>(
        &self,
        client: Object,
        r: Result<Result<T, StoreError>, tokio::time::error::Elapsed>,
    ) -> Result<T, StoreError> {
        match r {
            Ok(v) => v,
            Err(_) => {
                // Its state is unknown (a statement may still run): never reuse it.
                drop(Object::take(client));
                Err(StoreError::Unavailable(format!(
                    "{} did not answer within {} ms",
                    self.location,
                    self.op_timeout.as_millis()
                )))
            }
        }
    }

    /// The schema version, read only (0 for an empty database).
    pub async fn schema_version(&self) -> Result<i64, StoreError> {
        guarded!(self, c, { read_version(&**c).await })
    }

    /// Applies the pending migrations in one transaction under an advisory lock.
    pub async fn migrate(&self) -> Result<MigrationReport, StoreError> {
        guarded!(self, c, {
            let tx = c.transaction().await?;
            lock_schema(&tx).await?;
            let r = migrate_in(&tx).await?;
            tx.commit().await?;
            Ok(r)
        })
    }

    /// What the data key must open (read only).
    pub async fn key_evidence(&self) -> Result<StoredKeyEvidence, StoreError> {
        guarded!(self, c, { key_evidence_in(&**c).await })
    }

    pub async fn insert_meta_if_absent(&self, name: &str, value: &[u8]) -> Result<(), StoreError> {
        guarded!(self, c, {
            c.execute(
                "INSERT INTO store_meta (name, value) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING",
                &[&name, &value],
            )
            .await?;
            Ok(())
        })
    }

    pub async fn get(&self, user: &str) -> Result<UserSecurity, StoreError> {
        guarded!(self, c, {
            let st = c
                .prepare_cached(
                    "SELECT s.contact_email, s.otp_channel, s.totp_secret IS NOT NULL,
                            (SELECT COUNT(*) FROM recovery_code r WHERE r.user_name = $1)
                     FROM (SELECT 1) AS one
                     LEFT JOIN user_security s ON s.user_name = $1",
                )
                .await?;
            let r = c.query_one(&st, &[&user]).await?;
            let known: Option<bool> = r.get(2);
            let row = known.map(|has| (r.get(0), r.get(1), has));
            Ok(super::user_security(row, r.get(3)))
        })
    }

    /// Sets one text column (`contact_email`, `otp_channel`), creating the row.
    pub async fn set_text(
        &self,
        column: &'static str,
        user: &str,
        value: Option<&str>,
    ) -> Result<(), StoreError> {
        let sql = format!(
            "INSERT INTO user_security (user_name, {column}) VALUES ($1, $2)
             ON CONFLICT (user_name) DO UPDATE SET {column} = EXCLUDED.{column},
             updated_at = extract(epoch FROM now())::bigint"
        );
        guarded!(self, c, {
            let st = c.prepare_cached(&sql).await?;
            c.execute(&st, &[&user, &value]).await?;
            Ok(())
        })
    }

    /// A new sealed secret (or none) and no used step, in one statement.
    pub async fn set_totp_secret(
        &self,
        user: &str,
        sealed: Option<&[u8]>,
    ) -> Result<(), StoreError> {
        guarded!(self, c, {
            let st = c
                .prepare_cached(
                    "INSERT INTO user_security (user_name, totp_secret, last_totp_step)
                     VALUES ($1, $2, NULL)
                     ON CONFLICT (user_name) DO UPDATE SET totp_secret = EXCLUDED.totp_secret,
                     last_totp_step = NULL, updated_at = extract(epoch FROM now())::bigint",
                )
                .await?;
            c.execute(&st, &[&user, &sealed]).await?;
            Ok(())
        })
    }

    pub async fn totp_secret(&self, user: &str) -> Result<Option<Vec<u8>>, StoreError> {
        guarded!(self, c, {
            let st = c
                .prepare_cached("SELECT totp_secret FROM user_security WHERE user_name = $1")
                .await?;
            Ok(c.query_opt(&st, &[&user])
                .await?
                .and_then(|r| r.get::<_, Option<Vec<u8>>>(0)))
        })
    }

    /// One conditional UPDATE: under READ COMMITTED a concurrent update of the same
    /// row is waited for and the condition re-checked, so two instances accepting
    /// the same step at once let exactly one through.
    pub async fn accept_totp_step(&self, user: &str, step: i64) -> Result<bool, StoreError> {
        guarded!(self, c, {
            let st = c
                .prepare_cached(
                    "UPDATE user_security SET last_totp_step = $2
                     WHERE user_name = $1 AND (last_totp_step IS NULL OR last_totp_step < $2)",
                )
                .await?;
            Ok(c.execute(&st, &[&user, &step]).await? == 1)
        })
    }

    pub async fn replace_recovery_codes(
        &self,
        user: &str,
        hashes: &[Vec<u8>],
    ) -> Result<(), StoreError> {
        guarded!(self, c, {
            let tx = c.transaction().await?;
            tx.execute("DELETE FROM recovery_code WHERE user_name = $1", &[&user])
                .await?;
            tx.execute(
                "INSERT INTO recovery_code (user_name, code_hash)
                 SELECT $1, h FROM unnest($2::bytea[]) AS h ON CONFLICT DO NOTHING",
                &[&user, &hashes],
            )
            .await?;
            tx.commit().await?;
            Ok(())
        })
    }

    pub async fn consume_recovery_code(&self, user: &str, hash: &[u8]) -> Result<bool, StoreError> {
        guarded!(self, c, {
            let st = c
                .prepare_cached("DELETE FROM recovery_code WHERE user_name = $1 AND code_hash = $2")
                .await?;
            Ok(c.execute(&st, &[&user, &hash]).await? == 1)
        })
    }

    pub async fn clear_second_factor(&self, user: &str) -> Result<(), StoreError> {
        guarded!(self, c, {
            c.execute(
                "WITH gone AS (DELETE FROM recovery_code WHERE user_name = $1)
                 UPDATE user_security SET otp_channel = NULL, totp_secret = NULL,
                 last_totp_step = NULL, updated_at = extract(epoch FROM now())::bigint
                 WHERE user_name = $1",
                &[&user],
            )
            .await?;
            Ok(())
        })
    }

    /// Every user key with a settings row or recovery codes, in any order.
    pub async fn user_keys(&self) -> Result<Vec<String>, StoreError> {
        guarded!(self, c, {
            let rows = c
                .query(
                    "SELECT user_name FROM user_security UNION SELECT user_name FROM recovery_code",
                    &[],
                )
                .await?;
            Ok(rows.iter().map(|r| r.get(0)).collect())
        })
    }

    /// Moves `from`'s row to `to` in one transaction. `from`'s row is locked first,
    /// so an instance moving the same row at the same time waits, then finds it gone
    /// (`Absent`); a row for `to` written after the check makes the move fail on the
    /// key and answer `Conflict`, never overwrite it.
    pub async fn rekey_user(
        &self,
        from: &str,
        to: &str,
        reseal: impl FnOnce(&[u8]) -> Result<Vec<u8>, StoreError>,
    ) -> Result<Rekey, StoreError> {
        const HAS_ROW: &str = "SELECT EXISTS (SELECT 1 FROM user_security WHERE user_name = $1)
                                   OR EXISTS (SELECT 1 FROM recovery_code WHERE user_name = $1)";
        guarded!(self, c, {
            let tx = c.transaction().await?;
            let sealed: Option<Option<Vec<u8>>> = tx
                .query_opt(
                    "SELECT totp_secret FROM user_security WHERE user_name = $1 FOR UPDATE",
                    &[&from],
                )
                .await?
                .map(|r| r.get(0));
            let has_from = sealed.is_some() || tx.query_one(HAS_ROW, &[&from]).await?.get(0);
            if !has_from {
                return Ok(Rekey::Absent);
            }
            if tx.query_one(HAS_ROW, &[&to]).await?.get::<_, bool>(0) {
                return Ok(Rekey::Conflict);
            }
            let resealed = match sealed.flatten() {
                Some(s) => Some(reseal(&s)?),
                None => None,
            };
            let moved = tx
                .execute(
                    "UPDATE user_security SET user_name = $2, totp_secret = $3,
                     updated_at = extract(epoch FROM now())::bigint WHERE user_name = $1",
                    &[&from, &to, &resealed],
                )
                .await;
            match moved {
                Ok(_) => {}
                Err(e) if e.code() == Some(&SqlState::UNIQUE_VIOLATION) => {
                    return Ok(Rekey::Conflict)
                }
                Err(e) => return Err(e.into()),
            }
            tx.execute("DELETE FROM recovery_code WHERE user_name = $1", &[&from])
                .await?;
            tx.commit().await?;
            Ok(Rekey::Moved)
        })
    }

    pub async fn psc_override(&self, identifier: &str) -> Result<Option<String>, StoreError> {
        guarded!(self, c, {
            let st = c
                .prepare_cached("SELECT account FROM psc_overrides WHERE identifier = $1")
                .await?;
            Ok(c.query_opt(&st, &[&identifier]).await?.map(|r| r.get(0)))
        })
    }

    pub async fn set_psc_override(
        &self,
        identifier: &str,
        account: &str,
    ) -> Result<(), StoreError> {
        guarded!(self, c, {
            c.execute(
                "INSERT INTO psc_overrides (identifier, account) VALUES ($1, $2)
                 ON CONFLICT (identifier) DO UPDATE SET account = EXCLUDED.account,
                 updated_at = extract(epoch FROM now())::bigint",
                &[&identifier, &account],
            )
            .await?;
            Ok(())
        })
    }

    pub async fn remove_psc_override(&self, identifier: &str) -> Result<bool, StoreError> {
        guarded!(self, c, {
            Ok(c.execute(
                "DELETE FROM psc_overrides WHERE identifier = $1",
                &[&identifier],
            )
            .await?
                == 1)
        })
    }

    /// Every link, by identifier (byte order, as SQLite sorts).
    pub async fn psc_overrides(&self) -> Result<Vec<(String, String)>, StoreError> {
        guarded!(self, c, {
            let rows = c
                .query(
                    "SELECT identifier, account FROM psc_overrides ORDER BY identifier COLLATE \"C\"",
                    &[],
                )
                .await?;
            Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
        })
    }

    pub async fn ping(&self) -> Result<(), StoreError> {
        guarded!(self, c, {
            c.simple_query("SELECT 1").await?;
            Ok(())
        })
    }

    /// Runs `f` in one transaction holding the schema lock (`store copy`).
    pub(super) async fn in_locked_transaction<T>(
        &self,
        f: impl AsyncFnOnce(&deadpool_postgres::Transaction<'_>) -> Result<T, StoreError>,
        timeout: Duration,
    ) -> Result<T, StoreError> {
        let mut c = self.client().await?;
        let r = tokio::time::timeout(timeout, async {
            let tx = c.transaction().await?;
            lock_schema(&tx).await?;
            let v = f(&tx).await?;
            tx.commit().await?;
            Ok(v)
        })
        .await;
        self.finish(c, r)
    }
}

async fn lock_schema(tx: &deadpool_postgres::Transaction<'_>) -> Result<(), StoreError> {
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&SCHEMA_LOCK])
        .await?;
    Ok(())
}

/// The version in `schema_migrations` (0 when the table is not there yet).
pub(super) async fn read_version(c: &(impl GenericClient + Sync)) -> Result<i64, StoreError> {
    let exists: bool = c
        .query_one("SELECT to_regclass('schema_migrations') IS NOT NULL", &[])
        .await?
        .get(0);
    if !exists {
        return Ok(0);
    }
    Ok(c.query_one(
        "SELECT COALESCE(MAX(version), 0) FROM schema_migrations",
        &[],
    )
    .await?
    .get(0))
}

/// Applies the pending steps inside `tx` (which holds the schema lock).
pub(super) async fn migrate_in(
    tx: &deadpool_postgres::Transaction<'_>,
) -> Result<MigrationReport, StoreError> {
    let from = read_version(&**tx).await?;
    let steps = pending(from)?;
    if !steps.is_empty() {
        tx.batch_execute(HISTORY_TABLE).await?;
    }
    for m in steps {
        tx.batch_execute(m.postgres).await?;
        tx.execute(
            "INSERT INTO schema_migrations (version, name, applied_at)
             VALUES ($1, $2, extract(epoch FROM now())::bigint)",
            &[&m.version, &m.name],
        )
        .await?;
    }
    Ok(MigrationReport {
        from,
        to: from.max(super::migrations::CURRENT_VERSION),
    })
}

pub(super) async fn key_evidence_in(
    c: &(impl GenericClient + Sync),
) -> Result<StoredKeyEvidence, StoreError> {
    let version = read_version(c).await?;
    let check = if version >= 2 {
        c.query_opt(
            "SELECT value FROM store_meta WHERE name = $1",
            &[&CHECK_NAME],
        )
        .await?
        .map(|r| r.get::<_, Vec<u8>>(0))
    } else {
        None
    };
    let sample = if version >= 1 {
        c.query_opt(
            "SELECT user_name, totp_secret FROM user_security WHERE totp_secret IS NOT NULL LIMIT 1",
            &[],
        )
        .await?
        .map(|r| SealedSample {
            context: super::totp_context(r.get(0)),
            sealed: r.get(1),
        })
    } else {
        None
    };
    Ok(StoredKeyEvidence { check, sample })
}

/// A readable reason (the server's message, or what failed on the way).
pub fn describe(e: &tokio_postgres::Error) -> String {
    if let Some(db) = e.as_db_error() {
        if *db.code() == tokio_postgres::error::SqlState::QUERY_CANCELED {
            return "statement cancelled after auth.store.postgres_statement_timeout_ms".into();
        }
        return format!("{}: {}", db.severity(), db.message());
    }
    // tokio-postgres' Display names only the kind ("error performing TLS handshake"):
    // the reason is in the source chain.
    let mut text = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        let part = s.to_string();
        if !text.contains(&part) {
            text.push_str(": ");
            text.push_str(&part);
        }
        source = s.source();
    }
    text
}
