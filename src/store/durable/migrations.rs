//! Versioned schema migrations, embedded in the binary and shared by both backends.
//!
//! Each step has the SQL for SQLite and for PostgreSQL and runs once, in a
//! transaction with the record of its version, so a crash leaves the schema at the
//! previous version, never half-migrated. To add a step: append a `Migration` with
//! the next version; never edit a released one. Steps stay additive where possible so
//! that the previous release still runs on the new schema (rollback without restore).
//!
//! Where the version lives: SQLite keeps it in `PRAGMA user_version` (the previous
//! release already did), PostgreSQL in `schema_migrations`; both list the steps
//! applied in `schema_migrations` (version, name, time).
//!
//! Column names: `user` is a reserved word in PostgreSQL, so its tables say
//! `user_name` where SQLite's (kept as released) say `user`.

use super::super::StoreError;

/// One schema step.
#[derive(Debug)]
pub struct Migration {
    pub version: i64,
    pub name: &'static str,
    pub sqlite: &'static str,
    pub postgres: &'static str,
}

pub const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        name: "user security settings and recovery codes",
        sqlite: "CREATE TABLE user_security (
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
        postgres: "CREATE TABLE user_security (
            user_name TEXT PRIMARY KEY NOT NULL,
            contact_email TEXT,
            otp_channel TEXT,
            totp_secret BYTEA,
            last_totp_step BIGINT,
            updated_at BIGINT NOT NULL DEFAULT (extract(epoch FROM now())::bigint)
         );
         CREATE TABLE recovery_code (
            user_name TEXT NOT NULL,
            code_hash BYTEA NOT NULL,
            PRIMARY KEY (user_name, code_hash)
         );",
    },
    Migration {
        version: 2,
        name: "store metadata (data-key check value)",
        sqlite: "CREATE TABLE store_meta (
            name TEXT PRIMARY KEY NOT NULL,
            value BLOB NOT NULL
         );",
        postgres: "CREATE TABLE store_meta (
            name TEXT PRIMARY KEY NOT NULL,
            value BYTEA NOT NULL
         );",
    },
    Migration {
        version: 3,
        name: "Pro Santé Connect identifier links (psc_overrides)",
        // `IF NOT EXISTS`: releases before this step created the table on first use
        // (same columns), so a file that already has it keeps its links.
        sqlite: "CREATE TABLE IF NOT EXISTS psc_overrides (
            identifier TEXT PRIMARY KEY NOT NULL,
            account TEXT NOT NULL,
            updated_at INTEGER NOT NULL DEFAULT (strftime('%s','now'))
         );",
        postgres: "CREATE TABLE psc_overrides (
            identifier TEXT PRIMARY KEY NOT NULL,
            account TEXT NOT NULL,
            updated_at BIGINT NOT NULL DEFAULT (extract(epoch FROM now())::bigint)
         );",
    },
];

/// The schema version this binary writes and reads.
pub const CURRENT_VERSION: i64 = MIGRATIONS.len() as i64;

/// The history table, created before the first step (both dialects accept it).
pub const HISTORY_TABLE: &str = "CREATE TABLE IF NOT EXISTS schema_migrations (
    version BIGINT PRIMARY KEY NOT NULL,
    name TEXT NOT NULL,
    applied_at BIGINT NOT NULL
)";

/// The steps still to apply to a schema at `found`; a schema newer than this
/// binary is refused (its data may mean something this version does not know).
pub fn pending(found: i64) -> Result<&'static [Migration], StoreError> {
    if found > CURRENT_VERSION {
        return Err(StoreError::SchemaTooNew {
            found,
            known: CURRENT_VERSION,
        });
    }
    Ok(&MIGRATIONS[found.max(0) as usize..])
}

/// What a migration run did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MigrationReport {
    pub from: i64,
    pub to: i64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_are_contiguous_from_one() {
        for (i, m) in MIGRATIONS.iter().enumerate() {
            assert_eq!(m.version, i as i64 + 1, "{}", m.name);
            assert!(!m.sqlite.trim().is_empty() && !m.postgres.trim().is_empty());
        }
    }

    #[test]
    fn newer_schema_is_refused_and_older_gets_the_rest() {
        assert_eq!(pending(0).unwrap().len(), MIGRATIONS.len());
        assert!(pending(CURRENT_VERSION).unwrap().is_empty());
        let err = pending(CURRENT_VERSION + 1).unwrap_err().to_string();
        assert!(err.contains("newer"), "{err}");
    }
}
