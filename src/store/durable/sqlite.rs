//! The SQLite backend (one instance): rusqlite on the blocking pool, one connection
//! in WAL mode. Tables and columns as released first (`user`, not `user_name`).

use super::key_check::{SealedSample, StoredKeyEvidence, CHECK_NAME};
use super::migrations::{pending, MigrationReport, CURRENT_VERSION, HISTORY_TABLE};
use super::rows::{CodeRow, MetaRow, PscOverrideRow, Snapshot, UserRow};
use super::{Rekey, UserSecurity};
use crate::store::StoreError;
use parking_lot::Mutex;
use rusqlite::{params, Connection, OpenFlags, OptionalExtension, TransactionBehavior};
use std::path::Path;
use std::sync::Arc;

#[derive(Clone)]
pub struct SqliteStore {
    conn: Arc<Mutex<Connection>>,
    location: Arc<str>,
}

impl SqliteStore {
    /// Opens (creating if needed) and migrates the file.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        Self::init(
            Connection::open(path)?,
            format!("the SQLite file {}", path.display()),
        )
    }

    /// A private in-memory database (tests).
    pub fn memory() -> Result<Self, StoreError> {
        Self::init(
            Connection::open_in_memory()?,
            "an in-memory SQLite store".into(),
        )
    }

    fn init(mut conn: Connection, location: String) -> Result<Self, StoreError> {
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "busy_timeout", 5000)?;
        migrate(&mut conn)?;
        Ok(SqliteStore {
            conn: Arc::new(Mutex::new(conn)),
            location: location.into(),
        })
    }

    /// Which file this is (messages).
    pub fn location(&self) -> &str {
        &self.location
    }

    /// Runs `f` on the connection in the blocking pool.
    pub async fn run<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Connection) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let started = std::time::Instant::now();
        let conn = self.conn.clone();
        let result = tokio::task::spawn_blocking(move || f(&mut conn.lock()))
            .await
            .map_err(|e| StoreError::Database(format!("blocking task: {e}")))
            .and_then(|r| r);
        // gateway_store_operation_seconds{store="durable",backend="sqlite"} and errors.
        crate::telemetry::record_store_operation(
            "durable",
            "sqlite",
            started.elapsed(),
            result.is_ok(),
        );
        result
    }

    /// The connection, for tests reading raw rows.
    pub fn with_connection<T>(&self, f: impl FnOnce(&Connection) -> T) -> T {
        f(&self.conn.lock())
    }
}

/// The schema version of an open database (`PRAGMA user_version`).
pub fn schema_version(c: &Connection) -> Result<i64, StoreError> {
    Ok(c.pragma_query_value(None, "user_version", |r| r.get(0))?)
}

/// Applies the pending steps in one immediate transaction (a second process
/// migrating at the same time waits, then finds nothing left to do).
pub fn migrate(conn: &mut Connection) -> Result<MigrationReport, StoreError> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let from = schema_version(&tx)?;
    let steps = pending(from)?;
    if !steps.is_empty() {
        tx.execute_batch(HISTORY_TABLE)?;
        for m in steps {
            tx.execute_batch(m.sqlite)?;
            tx.execute(
                "INSERT INTO schema_migrations (version, name, applied_at)
                 VALUES (?1, ?2, strftime('%s','now'))",
                params![m.version, m.name],
            )?;
        }
        tx.pragma_update(None, "user_version", CURRENT_VERSION)?;
    }
    tx.commit()?;
    Ok(MigrationReport {
        from,
        to: from.max(CURRENT_VERSION),
    })
}

/// What the key must open (read only; works on a schema before `store_meta`).
pub fn key_evidence(c: &Connection) -> Result<StoredKeyEvidence, StoreError> {
    let check = if schema_version(c)? >= 2 {
        c.query_row(
            "SELECT value FROM store_meta WHERE name = ?1",
            params![CHECK_NAME],
            |r| r.get(0),
        )
        .optional()?
    } else {
        None
    };
    let sample = if schema_version(c)? >= 1 {
        c.query_row(
            "SELECT user, totp_secret FROM user_security WHERE totp_secret IS NOT NULL LIMIT 1",
            [],
            |r| Ok((r.get::<_, String>(0)?, r.get::<_, Vec<u8>>(1)?)),
        )
        .optional()?
        .map(|(user, sealed)| SealedSample {
            context: super::totp_context(&user),
            sealed,
        })
    } else {
        None
    };
    Ok(StoredKeyEvidence { check, sample })
}

/// Stores the check value unless one is there already.
pub fn insert_meta_if_absent(c: &Connection, name: &str, value: &[u8]) -> Result<(), StoreError> {
    c.execute(
        "INSERT OR IGNORE INTO store_meta (name, value) VALUES (?1, ?2)",
        params![name, value],
    )?;
    Ok(())
}

fn upsert_sql(column: &str) -> String {
    format!(
        "INSERT INTO user_security (user, {column}) VALUES (?1, ?2)
         ON CONFLICT(user) DO UPDATE SET {column} = excluded.{column},
         updated_at = strftime('%s','now')"
    )
}

pub fn get(c: &Connection, user: &str) -> Result<UserSecurity, StoreError> {
    let row = c
        .query_row(
            "SELECT contact_email, otp_channel, totp_secret IS NOT NULL FROM user_security WHERE user = ?1",
            params![user],
            |r| Ok((r.get::<_, Option<String>>(0)?, r.get::<_, Option<String>>(1)?, r.get::<_, bool>(2)?)),
        )
        .optional()?;
    let left: i64 = c.query_row(
        "SELECT COUNT(*) FROM recovery_code WHERE user = ?1",
        params![user],
        |r| r.get(0),
    )?;
    Ok(super::user_security(row, left))
}

pub fn set_text(
    c: &Connection,
    column: &'static str,
    user: &str,
    value: Option<&str>,
) -> Result<(), StoreError> {
    c.execute(&upsert_sql(column), params![user, value])?;
    Ok(())
}

pub fn set_totp_secret(
    c: &mut Connection,
    user: &str,
    sealed: Option<&[u8]>,
) -> Result<(), StoreError> {
    let tx = c.transaction()?;
    tx.execute(&upsert_sql("totp_secret"), params![user, sealed])?;
    tx.execute(
        "UPDATE user_security SET last_totp_step = NULL WHERE user = ?1",
        params![user],
    )?;
    tx.commit()?;
    Ok(())
}

pub fn totp_secret(c: &Connection, user: &str) -> Result<Option<Vec<u8>>, StoreError> {
    Ok(c.query_row(
        "SELECT totp_secret FROM user_security WHERE user = ?1",
        params![user],
        |r| r.get(0),
    )
    .optional()?
    .flatten())
}

pub fn accept_totp_step(c: &Connection, user: &str, step: i64) -> Result<bool, StoreError> {
    let n = c.execute(
        "UPDATE user_security SET last_totp_step = ?2
         WHERE user = ?1 AND (last_totp_step IS NULL OR last_totp_step < ?2)",
        params![user, step],
    )?;
    Ok(n == 1)
}

pub fn replace_recovery_codes(
    c: &mut Connection,
    user: &str,
    hashes: &[Vec<u8>],
) -> Result<(), StoreError> {
    let tx = c.transaction()?;
    tx.execute("DELETE FROM recovery_code WHERE user = ?1", params![user])?;
    for h in hashes {
        tx.execute(
            "INSERT OR IGNORE INTO recovery_code (user, code_hash) VALUES (?1, ?2)",
            params![user, h],
        )?;
    }
    tx.commit()?;
    Ok(())
}

pub fn consume_recovery_code(c: &Connection, user: &str, hash: &[u8]) -> Result<bool, StoreError> {
    let n = c.execute(
        "DELETE FROM recovery_code WHERE user = ?1 AND code_hash = ?2",
        params![user, hash],
    )?;
    Ok(n == 1)
}

pub fn clear_second_factor(c: &mut Connection, user: &str) -> Result<(), StoreError> {
    let tx = c.transaction()?;
    tx.execute(
        "UPDATE user_security SET otp_channel = NULL, totp_secret = NULL, last_totp_step = NULL WHERE user = ?1",
        params![user],
    )?;
    tx.execute("DELETE FROM recovery_code WHERE user = ?1", params![user])?;
    tx.commit()?;
    Ok(())
}

/// Every user key with a settings row or recovery codes, in any order.
pub fn user_keys(c: &Connection) -> Result<Vec<String>, StoreError> {
    let mut st =
        c.prepare("SELECT user FROM user_security UNION SELECT user FROM recovery_code")?;
    let keys = st
        .query_map([], |r| r.get::<_, String>(0))?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(keys)
}

fn has_row(c: &Connection, user: &str) -> Result<bool, StoreError> {
    Ok(c.query_row(
        "SELECT EXISTS (SELECT 1 FROM user_security WHERE user = ?1)
             OR EXISTS (SELECT 1 FROM recovery_code WHERE user = ?1)",
        params![user],
        |r| r.get(0),
    )?)
}

/// Moves `from`'s row to `to` in one immediate transaction (another process
/// writing waits): the checks, the re-sealed secret (`reseal`, from the value read
/// inside the transaction) and the move see the same rows.
pub fn rekey_user(
    c: &mut Connection,
    from: &str,
    to: &str,
    reseal: impl FnOnce(&[u8]) -> Result<Vec<u8>, StoreError>,
) -> Result<Rekey, StoreError> {
    let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
    if !has_row(&tx, from)? {
        return Ok(Rekey::Absent);
    }
    if has_row(&tx, to)? {
        return Ok(Rekey::Conflict);
    }
    let resealed = match totp_secret(&tx, from)? {
        Some(sealed) => Some(reseal(&sealed)?),
        None => None,
    };
    tx.execute(
        "UPDATE user_security SET user = ?2, totp_secret = ?3,
         updated_at = strftime('%s','now') WHERE user = ?1",
        params![from, to, resealed],
    )?;
    tx.execute("DELETE FROM recovery_code WHERE user = ?1", params![from])?;
    tx.commit()?;
    Ok(Rekey::Moved)
}

pub fn psc_override(c: &Connection, identifier: &str) -> Result<Option<String>, StoreError> {
    Ok(c.query_row(
        "SELECT account FROM psc_overrides WHERE identifier = ?1",
        params![identifier],
        |r| r.get(0),
    )
    .optional()?)
}

pub fn set_psc_override(c: &Connection, identifier: &str, account: &str) -> Result<(), StoreError> {
    c.execute(
        "INSERT INTO psc_overrides (identifier, account) VALUES (?1, ?2)
         ON CONFLICT(identifier) DO UPDATE SET account = excluded.account,
         updated_at = strftime('%s','now')",
        params![identifier, account],
    )?;
    Ok(())
}

pub fn remove_psc_override(c: &Connection, identifier: &str) -> Result<bool, StoreError> {
    Ok(c.execute(
        "DELETE FROM psc_overrides WHERE identifier = ?1",
        params![identifier],
    )? == 1)
}

pub fn psc_overrides(c: &Connection) -> Result<Vec<(String, String)>, StoreError> {
    let mut st = c.prepare("SELECT identifier, account FROM psc_overrides ORDER BY identifier")?;
    let rows = st
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(rows)
}

pub fn ping(c: &Connection) -> Result<(), StoreError> {
    c.query_row("SELECT 1", [], |r| r.get::<_, i64>(0))?;
    Ok(())
}

/// Every row of a SQLite file, read without writing to it: the file is copied into
/// memory with SQLite's online backup (a consistent snapshot even while a gateway
/// writes to it) and migrated there when it comes from an older release.
pub fn snapshot_file(path: &Path) -> Result<Snapshot, StoreError> {
    if !path.is_file() {
        return Err(StoreError::Database(format!(
            "{} does not exist or is not a file",
            path.display()
        )));
    }
    let src = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    src.pragma_update(None, "busy_timeout", 5000)?;
    pending(schema_version(&src)?)?;
    let mut mem = Connection::open_in_memory()?;
    {
        let backup = rusqlite::backup::Backup::new(&src, &mut mem)?;
        backup.run_to_completion(256, std::time::Duration::ZERO, None)?;
    }
    migrate(&mut mem)?;
    read_all(&mem)
}

fn read_all(c: &Connection) -> Result<Snapshot, StoreError> {
    let mut users = Vec::new();
    let mut stmt = c.prepare(
        "SELECT user, contact_email, otp_channel, totp_secret, last_totp_step, updated_at
         FROM user_security ORDER BY user",
    )?;
    let mut rows = stmt.query([])?;
    while let Some(r) = rows.next()? {
        users.push(UserRow {
            user: r.get(0)?,
            contact_email: r.get(1)?,
            otp_channel: r.get(2)?,
            totp_secret: r.get(3)?,
            last_totp_step: r.get(4)?,
            updated_at: r.get(5)?,
        });
    }
    let mut codes = Vec::new();
    let mut stmt =
        c.prepare("SELECT user, code_hash FROM recovery_code ORDER BY user, code_hash")?;
    let mut rows = stmt.query([])?;
    while let Some(r) = rows.next()? {
        codes.push(CodeRow {
            user: r.get(0)?,
            code_hash: r.get(1)?,
        });
    }
    let mut meta = Vec::new();
    let mut stmt = c.prepare("SELECT name, value FROM store_meta ORDER BY name")?;
    let mut rows = stmt.query([])?;
    while let Some(r) = rows.next()? {
        meta.push(MetaRow {
            name: r.get(0)?,
            value: r.get(1)?,
        });
    }
    let mut psc_overrides = Vec::new();
    let mut stmt =
        c.prepare("SELECT identifier, account, updated_at FROM psc_overrides ORDER BY identifier")?;
    let mut rows = stmt.query([])?;
    while let Some(r) = rows.next()? {
        psc_overrides.push(PscOverrideRow {
            identifier: r.get(0)?,
            account: r.get(1)?,
            updated_at: r.get(2)?,
        });
    }
    Ok(Snapshot {
        users,
        codes,
        meta,
        psc_overrides,
    })
}
