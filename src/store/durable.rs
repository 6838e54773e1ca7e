//! Durable per-user security settings (contact email, OTP channel, encrypted TOTP
//! secret, last accepted TOTP step, recovery-code hashes). SQLite through rusqlite,
//! run on the blocking pool; migrations applied at open.

use super::crypto::{DataKey, SealedBox};
use super::StoreError;
use parking_lot::Mutex;
use rusqlite::{params, Connection, OptionalExtension};
use serde::{Deserialize, Serialize};
use std::path::Path;
use std::sync::Arc;

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

const MIGRATIONS: &[&str] = &[
    // v1
    "CREATE TABLE user_security (
        user TEXT PRIMARY KEY NOT NULL,
        contact_email TEXT,
        otp_channel TEXT,
        totp_secret BLOB,
        last_totp_step INTEGER,
        updated_at INTEGER NOT NULL DEFAULT (strftime('%s','now'))
     );
     CREATE TABLE recovery_code (
        user TEXT NOT NULL,
        code_hash BLOB NOT NULL,
        PRIMARY KEY (user, code_hash)
     );",
];

#[derive(Clone)]
pub struct SqliteStore {
    conn: Arc<Mutex<Connection>>,
    key: DataKey,
}

/// Durable security settings (cheap to clone: the connection is shared).
#[derive(Clone)]
pub enum DurableStore {
    Sqlite(SqliteStore),
}

impl std::fmt::Debug for DurableStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DurableStore::Sqlite")
    }
}

fn totp_context(user: &str) -> String {
    format!("user_security.totp_secret:{user}")
}

impl DurableStore {
    /// Opens (creating if needed) and migrates the SQLite file.
    pub fn open_sqlite(path: &Path, key: DataKey) -> Result<Self, StoreError> {
        Self::from_connection(Connection::open(path)?, key)
    }

    /// A private in-memory database (tests).
    pub fn open_sqlite_memory(key: DataKey) -> Result<Self, StoreError> {
        Self::from_connection(Connection::open_in_memory()?, key)
    }

    fn from_connection(conn: Connection, key: DataKey) -> Result<Self, StoreError> {
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "busy_timeout", 5000)?;
        let version: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
        for (i, sql) in MIGRATIONS.iter().enumerate().skip(version.max(0) as usize) {
            conn.execute_batch(&format!(
                "BEGIN; {sql} PRAGMA user_version = {}; COMMIT;",
                i + 1
            ))?;
        }
        Ok(DurableStore::Sqlite(SqliteStore {
            conn: Arc::new(Mutex::new(conn)),
            key,
        }))
    }

    pub fn data_key(&self) -> &DataKey {
        match self {
            DurableStore::Sqlite(s) => &s.key,
        }
    }

    pub(super) async fn run<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Connection) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let started = std::time::Instant::now();
        let result = match self {
            DurableStore::Sqlite(s) => {
                let conn = s.conn.clone();
                tokio::task::spawn_blocking(move || f(&mut conn.lock()))
                    .await
                    .map_err(|e| StoreError::Database(format!("blocking task: {e}")))
                    .and_then(|r| r)
            }
        };
        // gateway_store_operation_seconds{store="durable",backend="sqlite"} and errors.
        crate::telemetry::record_store_operation(
            "durable",
            "sqlite",
            started.elapsed(),
            result.is_ok(),
        );
        result
    }

    fn upsert_sql(column: &str) -> String {
        format!(
            "INSERT INTO user_security (user, {column}) VALUES (?1, ?2)
             ON CONFLICT(user) DO UPDATE SET {column} = excluded.{column},
             updated_at = strftime('%s','now')"
        )
    }

    pub async fn get(&self, user: &str) -> Result<UserSecurity, StoreError> {
        let user = user.to_string();
        self.run(move |c| {
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
            let left = left.max(0) as usize;
            Ok(match row {
                Some((email, channel, has_secret)) => UserSecurity {
                    contact_email: email,
                    otp_channel: channel.as_deref().and_then(OtpChannel::parse),
                    has_totp_secret: has_secret,
                    recovery_codes_left: left,
                },
                None => UserSecurity {
                    recovery_codes_left: left,
                    ..Default::default()
                },
            })
        })
        .await
    }

    pub async fn set_contact_email(
        &self,
        user: &str,
        email: Option<&str>,
    ) -> Result<(), StoreError> {
        let (user, email) = (user.to_string(), email.map(str::to_string));
        self.run(move |c| {
            c.execute(&Self::upsert_sql("contact_email"), params![user, email])?;
            Ok(())
        })
        .await
    }

    pub async fn set_otp_channel(
        &self,
        user: &str,
        channel: Option<OtpChannel>,
    ) -> Result<(), StoreError> {
        let (user, channel) = (user.to_string(), channel.map(OtpChannel::as_str));
        self.run(move |c| {
            c.execute(&Self::upsert_sql("otp_channel"), params![user, channel])?;
            Ok(())
        })
        .await
    }

    /// Stores (encrypted) or clears the TOTP secret; a new secret resets the replay step.
    pub async fn set_totp_secret(
        &self,
        user: &str,
        secret_base32: Option<&str>,
    ) -> Result<(), StoreError> {
        let sealed = match secret_base32 {
            Some(s) => Some(self.data_key().seal(&totp_context(user), s.as_bytes())?.0),
            None => None,
        };
        let user = user.to_string();
        self.run(move |c| {
            let tx = c.transaction()?;
            tx.execute(&Self::upsert_sql("totp_secret"), params![user, sealed])?;
            tx.execute(
                "UPDATE user_security SET last_totp_step = NULL WHERE user = ?1",
                params![user],
            )?;
            tx.commit()?;
            Ok(())
        })
        .await
    }

    /// The decrypted base32 TOTP secret. A tampered or moved ciphertext is an error.
    pub async fn totp_secret(
        &self,
        user: &str,
    ) -> Result<Option<crate::auth::secret::SecretText>, StoreError> {
        let u = user.to_string();
        let sealed: Option<Vec<u8>> = self
            .run(move |c| {
                Ok(c.query_row(
                    "SELECT totp_secret FROM user_security WHERE user = ?1",
                    params![u],
                    |r| r.get(0),
                )
                .optional()?
                .flatten())
            })
            .await?;
        match sealed {
            None => Ok(None),
            Some(b) => {
                let plain = self.data_key().open(&totp_context(user), &SealedBox(b))?;
                let text = String::from_utf8(plain)
                    .map_err(|_| StoreError::Corrupt("totp secret".into()))?;
                Ok(Some(crate::auth::secret::SecretText::new(text)))
            }
        }
    }

    /// Records `step` as used if it is newer than the last accepted one. Returns
    /// false for a replay (same or older step). Atomic: one conditional UPDATE.
    pub async fn accept_totp_step(&self, user: &str, step: u64) -> Result<bool, StoreError> {
        let user = user.to_string();
        let step = step as i64;
        self.run(move |c| {
            let n = c.execute(
                "UPDATE user_security SET last_totp_step = ?2
                 WHERE user = ?1 AND (last_totp_step IS NULL OR last_totp_step < ?2)",
                params![user, step],
            )?;
            Ok(n == 1)
        })
        .await
    }

    /// Replaces all recovery codes by these hashes.
    pub async fn replace_recovery_codes(
        &self,
        user: &str,
        hashes: Vec<Vec<u8>>,
    ) -> Result<(), StoreError> {
        let user = user.to_string();
        self.run(move |c| {
            let tx = c.transaction()?;
            tx.execute("DELETE FROM recovery_code WHERE user = ?1", params![user])?;
            for h in &hashes {
                tx.execute(
                    "INSERT OR IGNORE INTO recovery_code (user, code_hash) VALUES (?1, ?2)",
                    params![user, h],
                )?;
            }
            tx.commit()?;
            Ok(())
        })
        .await
    }

    /// Deletes the code with this hash; true if it existed (so each code works once).
    pub async fn consume_recovery_code(
        &self,
        user: &str,
        hash: Vec<u8>,
    ) -> Result<bool, StoreError> {
        let user = user.to_string();
        self.run(move |c| {
            let n = c.execute(
                "DELETE FROM recovery_code WHERE user = ?1 AND code_hash = ?2",
                params![user, hash],
            )?;
            Ok(n == 1)
        })
        .await
    }

    /// Forgets everything about a user's second factor (admin reset).
    pub async fn clear_second_factor(&self, user: &str) -> Result<(), StoreError> {
        let user = user.to_string();
        self.run(move |c| {
            let tx = c.transaction()?;
            tx.execute(
                "UPDATE user_security SET otp_channel = NULL, totp_secret = NULL, last_totp_step = NULL WHERE user = ?1",
                params![user],
            )?;
            tx.execute("DELETE FROM recovery_code WHERE user = ?1", params![user])?;
            tx.commit()?;
            Ok(())
        })
        .await
    }

    /// Every user key that has a row (identity migration, administration).
    pub async fn user_keys(&self) -> Result<Vec<String>, StoreError> {
        self.run(|c| {
            let mut st = c.prepare(
                "SELECT user FROM user_security UNION SELECT user FROM recovery_code ORDER BY 1",
            )?;
            let keys = st
                .query_map([], |r| r.get::<_, String>(0))?
                .collect::<Result<Vec<_>, _>>()?;
            Ok(keys)
        })
        .await
    }

    /// Identity migration: moves the row kept under `from` (a spelling an earlier
    /// version keyed on) to the canonical account `to`. Refused (`Conflict`, nothing
    /// changes) when `to` has a row already: the canonical row is the one that counts.
    /// The TOTP secret is sealed again for its new key; recovery codes, hashed for the
    /// old key, cannot follow and are dropped (the user makes new ones in « Mon profil »).
    pub async fn rekey_user(&self, from: &str, to: &str) -> Result<Rekey, StoreError> {
        if from == to {
            return Ok(Rekey::Absent);
        }
        let secret = self.totp_secret(from).await?;
        let resealed = match &secret {
            Some(s) => Some(
                self.data_key()
                    .seal(&totp_context(to), s.expose().as_bytes())?
                    .0,
            ),
            None => None,
        };
        let (from, to) = (from.to_string(), to.to_string());
        self.run(move |c| {
            let tx = c.transaction()?;
            let has = |user: &str| -> Result<bool, rusqlite::Error> {
                tx.query_row(
                    "SELECT EXISTS (SELECT 1 FROM user_security WHERE user = ?1)
                         OR EXISTS (SELECT 1 FROM recovery_code WHERE user = ?1)",
                    params![user],
                    |r| r.get(0),
                )
            };
            if !has(&from)? {
                return Ok(Rekey::Absent);
            }
            if has(&to)? {
                return Ok(Rekey::Conflict);
            }
            tx.execute(
                "UPDATE user_security SET user = ?2, totp_secret = ?3,
                 updated_at = strftime('%s','now') WHERE user = ?1",
                params![from, to, resealed],
            )?;
            tx.execute("DELETE FROM recovery_code WHERE user = ?1", params![from])?;
            tx.commit()?;
            Ok(Rekey::Moved)
        })
        .await
    }

    /// Liveness probe for readiness checks.
    pub async fn ping(&self) -> Result<(), StoreError> {
        self.run(|c| {
            Ok(c.query_row("SELECT 1", [], |r| r.get::<_, i64>(0))
                .map(|_| ())?)
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store() -> DurableStore {
        DurableStore::open_sqlite_memory(DataKey::generate()).unwrap()
    }

    #[tokio::test]
    async fn settings_round_trip() {
        let s = store();
        assert_eq!(s.get("alice").await.unwrap(), UserSecurity::default());
        s.set_contact_email("alice", Some("a@perso.fr"))
            .await
            .unwrap();
        s.set_otp_channel("alice", Some(OtpChannel::Email))
            .await
            .unwrap();
        let u = s.get("alice").await.unwrap();
        assert_eq!(u.contact_email.as_deref(), Some("a@perso.fr"));
        assert_eq!(u.otp_channel, Some(OtpChannel::Email));
        assert!(!u.has_totp_secret);
        s.ping().await.unwrap();
    }

    #[tokio::test]
    async fn totp_secret_encrypted_at_rest() {
        let s = store();
        s.set_totp_secret("alice", Some("JBSWY3DPEHPK3PXPJBSWY3DP"))
            .await
            .unwrap();
        assert_eq!(
            s.totp_secret("alice").await.unwrap().unwrap().expose(),
            "JBSWY3DPEHPK3PXPJBSWY3DP"
        );
        let DurableStore::Sqlite(inner) = &s;
        let raw: Vec<u8> = inner
            .conn
            .lock()
            .query_row(
                "SELECT totp_secret FROM user_security WHERE user='alice'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert!(!raw.windows(8).any(|w| w == b"JBSWY3DP"));
        // A row copied to another user does not decrypt.
        inner
            .conn
            .lock()
            .execute(
                "INSERT INTO user_security (user, totp_secret) VALUES ('mallory', ?1)",
                params![raw],
            )
            .unwrap();
        assert!(s.totp_secret("mallory").await.is_err());
    }

    #[tokio::test]
    async fn totp_step_replay_refused() {
        let s = store();
        s.set_totp_secret("alice", Some("JBSWY3DPEHPK3PXP"))
            .await
            .unwrap();
        assert!(s.accept_totp_step("alice", 100).await.unwrap());
        assert!(!s.accept_totp_step("alice", 100).await.unwrap());
        assert!(!s.accept_totp_step("alice", 99).await.unwrap());
        assert!(s.accept_totp_step("alice", 101).await.unwrap());
        // Unknown user: no row, nothing accepted.
        assert!(!s.accept_totp_step("nobody", 5).await.unwrap());
    }

    #[tokio::test]
    async fn recovery_codes_single_use() {
        let s = store();
        s.replace_recovery_codes("alice", vec![vec![1], vec![2]])
            .await
            .unwrap();
        assert_eq!(s.get("alice").await.unwrap().recovery_codes_left, 2);
        assert!(s.consume_recovery_code("alice", vec![1]).await.unwrap());
        assert!(!s.consume_recovery_code("alice", vec![1]).await.unwrap());
        assert!(!s.consume_recovery_code("bob", vec![2]).await.unwrap());
        s.clear_second_factor("alice").await.unwrap();
        assert_eq!(s.get("alice").await.unwrap().recovery_codes_left, 0);
    }

    #[tokio::test]
    async fn rekey_moves_a_row_or_refuses() {
        let s = store();
        s.set_totp_secret("Alice", Some("JBSWY3DPEHPK3PXP"))
            .await
            .unwrap();
        s.set_otp_channel("Alice", Some(OtpChannel::Totp))
            .await
            .unwrap();
        s.replace_recovery_codes("Alice", vec![vec![1]])
            .await
            .unwrap();
        assert_eq!(s.user_keys().await.unwrap(), vec!["Alice"]);
        assert_eq!(s.rekey_user("Alice", "alice").await.unwrap(), Rekey::Moved);
        let u = s.get("alice").await.unwrap();
        assert_eq!(u.otp_channel, Some(OtpChannel::Totp));
        assert_eq!(u.recovery_codes_left, 0, "hashed for the old key: dropped");
        assert_eq!(
            s.totp_secret("alice").await.unwrap().unwrap().expose(),
            "JBSWY3DPEHPK3PXP",
            "sealed again for the new key"
        );
        assert_eq!(s.get("Alice").await.unwrap(), UserSecurity::default());
        assert_eq!(s.rekey_user("Alice", "alice").await.unwrap(), Rekey::Absent);
        s.set_otp_channel("mallory", Some(OtpChannel::Email))
            .await
            .unwrap();
        assert_eq!(
            s.rekey_user("mallory", "alice").await.unwrap(),
            Rekey::Conflict
        );
        assert_eq!(
            s.get("alice").await.unwrap().otp_channel,
            Some(OtpChannel::Totp),
            "the canonical row is kept"
        );
        assert_eq!(s.user_keys().await.unwrap(), vec!["alice", "mallory"]);
    }

    #[tokio::test]
    async fn migrations_are_idempotent_on_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("s.sqlite3");
        let key_hex = "11".repeat(32);
        {
            let s = DurableStore::open_sqlite(&p, DataKey::from_hex(&key_hex).unwrap()).unwrap();
            s.set_totp_secret("a", Some("JBSWY3DPEHPK3PXP"))
                .await
                .unwrap();
        }
        let s = DurableStore::open_sqlite(&p, DataKey::from_hex(&key_hex).unwrap()).unwrap();
        assert!(s.get("a").await.unwrap().has_totp_secret);
        assert!(s.totp_secret("a").await.unwrap().is_some());
    }
}
