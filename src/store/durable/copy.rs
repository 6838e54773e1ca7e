//! `store copy`: every row of a SQLite store into a PostgreSQL one, for a region
//! moving from one instance to several.
//!
//! Rules: the source is never written (read from an in-memory snapshot); the target
//! is migrated first and a target schema newer than this binary is refused; the
//! whole copy is one transaction (all or nothing); a user (or a PSC identifier link)
//! already present in the target with other settings is left as it is and reported
//! (never overwritten: the target may be in service), so running the copy again
//! changes nothing and says so. Sealed values move as they are: the data key must be the same on both
//! sides, which is checked with the key when it is given and otherwise by refusing a
//! target that already holds sealed values other than the source's.

use super::key_check::{self, StoredKeyEvidence};
use super::postgres::{key_evidence_in, migrate_in};
use super::postgres_config::PostgresSettings;
use super::rows::{MetaRow, PscOverrideRow, Snapshot, UserRow};
use super::{sqlite, PostgresStore};
use crate::store::{DataKey, StoreError};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::PathBuf;
use std::time::Duration;

/// The longest a copy transaction may take.
const COPY_TIMEOUT: Duration = Duration::from_secs(1800);

/// One side of a copy, as written on the command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Endpoint {
    /// `sqlite:PATH`
    Sqlite(PathBuf),
    /// `postgres:postgres://user@host/db` (or the bare URL)
    Postgres(String),
}

impl std::str::FromStr for Endpoint {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        if let Some(path) = s.strip_prefix("sqlite:") {
            if path.is_empty() {
                return Err("sqlite:PATH needs a file path".into());
            }
            return Ok(Endpoint::Sqlite(PathBuf::from(path)));
        }
        let url = s
            .strip_prefix("postgres:")
            .filter(|u| u.contains("://"))
            .unwrap_or(s);
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            return Ok(Endpoint::Postgres(url.to_owned()));
        }
        Err(format!(
            "{s:?}: expected sqlite:PATH or postgres:postgres://user@host/database"
        ))
    }
}

/// Rows of one table: how many the source had and what became of them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TableCount {
    pub table: &'static str,
    pub source: usize,
    pub copied: usize,
    /// Already in the target with the same content (an earlier copy).
    pub unchanged: usize,
    /// In the target with other content: left as the target has it.
    pub kept_target: usize,
}

impl std::fmt::Display for TableCount {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}: {} in the source, {} copied, {} already there, {} left as in the target",
            self.table, self.source, self.copied, self.unchanged, self.kept_target
        )
    }
}

/// What a copy did.
#[derive(Debug, Clone, Default)]
pub struct CopyReport {
    pub target: String,
    pub schema_from: i64,
    pub schema_to: i64,
    pub tables: Vec<TableCount>,
    /// Users (or metadata names, PSC identifiers) whose target rows differ from the
    /// source's.
    pub conflicts: Vec<String>,
}

/// Copies the SQLite file at `source` into the PostgreSQL database of `target`.
/// `key` (the configured data key) lets the copy prove both sides use it.
pub async fn sqlite_to_postgres(
    source: PathBuf,
    target: &PostgresSettings,
    key: Option<&DataKey>,
) -> Result<CopyReport, StoreError> {
    let label = format!("the SQLite file {}", source.display());
    let snapshot = tokio::task::spawn_blocking(move || sqlite::snapshot_file(&source))
        .await
        .map_err(|e| StoreError::Database(format!("blocking task: {e}")))??;
    let source_evidence = evidence_of(&snapshot);
    if let Some(key) = key {
        key_check::verify(key, &source_evidence, &label)?;
    }
    let store = PostgresStore::connect(target).await?;
    let location = store.location().to_owned();
    store
        .in_locked_transaction(
            async |tx| {
                let migrated = migrate_in(tx).await?;
                let target_evidence = key_evidence_in(&**tx).await?;
                check_same_key(key, &source_evidence, &target_evidence, &location)?;
                let mut report = write_rows(tx, &snapshot).await?;
                report.target = location.clone();
                report.schema_from = migrated.from;
                report.schema_to = migrated.to;
                Ok(report)
            },
            COPY_TIMEOUT,
        )
        .await
}

/// The source's check value and one sealed secret, as the key check reads them.
fn evidence_of(s: &Snapshot) -> StoredKeyEvidence {
    StoredKeyEvidence {
        check: s
            .meta
            .iter()
            .find(|m| m.name == key_check::CHECK_NAME)
            .map(|m| m.value.clone()),
        sample: s.users.iter().find_map(|u| {
            u.totp_secret
                .as_ref()
                .map(|sealed| key_check::SealedSample {
                    context: super::totp_context(&u.user),
                    sealed: sealed.clone(),
                })
        }),
    }
}

/// Sealed values copied under one key must be opened by the target's key.
fn check_same_key(
    key: Option<&DataKey>,
    source: &StoredKeyEvidence,
    target: &StoredKeyEvidence,
    location: &str,
) -> Result<(), StoreError> {
    if let Some(key) = key {
        key_check::verify(key, target, location)?;
        return Ok(());
    }
    let target_sealed = target.check.is_some() || target.sample.is_some();
    let source_sealed = source.check.is_some() || source.sample.is_some();
    let same_check = source.check.is_some() && source.check == target.check;
    if target_sealed && source_sealed && !same_check {
        return Err(StoreError::DataKeyMismatch(format!(
            "{location} already holds sealed values that this copy cannot compare without \
             the data key: give --config with the gateway's configuration \
             (auth.store.data_key_file) so that the copy checks both sides use the same key"
        )));
    }
    Ok(())
}

type TargetUsers = HashMap<String, UserRow>;

async fn read_target(
    tx: &deadpool_postgres::Transaction<'_>,
) -> Result<
    (
        TargetUsers,
        BTreeMap<String, BTreeSet<Vec<u8>>>,
        HashMap<String, Vec<u8>>,
    ),
    StoreError,
> {
    let mut users = HashMap::new();
    for r in tx
        .query(
            "SELECT user_name, contact_email, otp_channel, totp_secret, last_totp_step, updated_at
             FROM user_security",
            &[],
        )
        .await?
    {
        let row = UserRow {
            user: r.get(0),
            contact_email: r.get(1),
            otp_channel: r.get(2),
            totp_secret: r.get(3),
            last_totp_step: r.get(4),
            updated_at: r.get(5),
        };
        users.insert(row.user.clone(), row);
    }
    let mut codes: BTreeMap<String, BTreeSet<Vec<u8>>> = BTreeMap::new();
    for r in tx
        .query("SELECT user_name, code_hash FROM recovery_code", &[])
        .await?
    {
        codes.entry(r.get(0)).or_default().insert(r.get(1));
    }
    let mut meta = HashMap::new();
    for r in tx.query("SELECT name, value FROM store_meta", &[]).await? {
        meta.insert(r.get(0), r.get(1));
    }
    Ok((users, codes, meta))
}

/// A user is copied as a whole (settings and recovery codes): only into a target
/// that does not know the user, so a code used on the target is never brought back.
async fn write_rows(
    tx: &deadpool_postgres::Transaction<'_>,
    s: &Snapshot,
) -> Result<CopyReport, StoreError> {
    let (target_users, target_codes, target_meta) = read_target(tx).await?;
    let mut users = TableCount {
        table: "user_security",
        source: s.users.len(),
        ..Default::default()
    };
    let mut codes = TableCount {
        table: "recovery_code",
        source: s.codes.len(),
        ..Default::default()
    };
    let mut source_codes: BTreeMap<&str, BTreeSet<Vec<u8>>> = BTreeMap::new();
    for c in &s.codes {
        source_codes
            .entry(c.user.as_str())
            .or_default()
            .insert(c.code_hash.clone());
    }
    let source_users: HashMap<&str, &UserRow> =
        s.users.iter().map(|u| (u.user.as_str(), u)).collect();
    let mut names: BTreeSet<&str> = source_users.keys().copied().collect();
    names.extend(source_codes.keys().copied());
    let empty = BTreeSet::new();
    let insert_user = tx
        .prepare(
            "INSERT INTO user_security (user_name, contact_email, otp_channel, totp_secret,
             last_totp_step, updated_at) VALUES ($1, $2, $3, $4, $5, $6)
             ON CONFLICT (user_name) DO NOTHING",
        )
        .await?;
    let insert_code = tx
        .prepare(
            "INSERT INTO recovery_code (user_name, code_hash) VALUES ($1, $2)
             ON CONFLICT DO NOTHING",
        )
        .await?;
    let mut conflicts = Vec::new();
    for name in names {
        let src_row = source_users.get(name).copied();
        let src_codes = source_codes.get(name).unwrap_or(&empty);
        let tgt_row = target_users.get(name);
        let tgt_codes = target_codes.get(name).unwrap_or(&empty);
        let row_count = usize::from(src_row.is_some());
        if tgt_row.is_none() && tgt_codes.is_empty() {
            if let Some(u) = src_row {
                tx.execute(
                    &insert_user,
                    &[
                        &u.user,
                        &u.contact_email,
                        &u.otp_channel,
                        &u.totp_secret,
                        &u.last_totp_step,
                        &u.updated_at,
                    ],
                )
                .await?;
            }
            for h in src_codes {
                tx.execute(&insert_code, &[&name, h]).await?;
            }
            users.copied += row_count;
            codes.copied += src_codes.len();
            continue;
        }
        let same_row = match (src_row, tgt_row) {
            (Some(a), Some(b)) => a.same_data(b),
            (None, None) => true,
            _ => false,
        };
        if same_row && src_codes == tgt_codes {
            users.unchanged += row_count;
            codes.unchanged += src_codes.len();
        } else {
            users.kept_target += row_count;
            codes.kept_target += src_codes.len();
            conflicts.push(name.to_owned());
        }
    }
    let mut meta = TableCount {
        table: "store_meta",
        source: s.meta.len(),
        ..Default::default()
    };
    for MetaRow { name, value } in &s.meta {
        match target_meta.get(name) {
            None => {
                tx.execute(
                    "INSERT INTO store_meta (name, value) VALUES ($1, $2)",
                    &[name, value],
                )
                .await?;
                meta.copied += 1;
            }
            Some(v) if v == value => meta.unchanged += 1,
            // Another check value sealed with the same key (checked above).
            Some(_) if name == key_check::CHECK_NAME => meta.kept_target += 1,
            Some(_) => {
                meta.kept_target += 1;
                conflicts.push(format!("store_meta {name}"));
            }
        }
    }
    let links = write_psc_overrides(tx, &s.psc_overrides, &mut conflicts).await?;
    Ok(CopyReport {
        tables: vec![users, codes, meta, links],
        conflicts,
        ..Default::default()
    })
}

/// Links absent from the target are copied; a link the target has to another account
/// is left as it is (the operator may have changed it there) and reported.
async fn write_psc_overrides(
    tx: &deadpool_postgres::Transaction<'_>,
    rows: &[PscOverrideRow],
    conflicts: &mut Vec<String>,
) -> Result<TableCount, StoreError> {
    let mut target: HashMap<String, String> = HashMap::new();
    for r in tx
        .query("SELECT identifier, account FROM psc_overrides", &[])
        .await?
    {
        target.insert(r.get(0), r.get(1));
    }
    let insert = tx
        .prepare(
            "INSERT INTO psc_overrides (identifier, account, updated_at) VALUES ($1, $2, $3)
             ON CONFLICT (identifier) DO NOTHING",
        )
        .await?;
    let mut count = TableCount {
        table: "psc_overrides",
        source: rows.len(),
        ..Default::default()
    };
    for row in rows {
        match target.get(&row.identifier) {
            None => {
                tx.execute(&insert, &[&row.identifier, &row.account, &row.updated_at])
                    .await?;
                count.copied += 1;
            }
            Some(account) if *account == row.account => count.unchanged += 1,
            Some(_) => {
                count.kept_target += 1;
                conflicts.push(format!("psc_overrides {}", row.identifier));
            }
        }
    }
    Ok(count)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints() {
        assert_eq!(
            "sqlite:/var/lib/gw/state.sqlite3".parse::<Endpoint>(),
            Ok(Endpoint::Sqlite("/var/lib/gw/state.sqlite3".into()))
        );
        for s in [
            "postgres:postgres://gw@db/mssante",
            "postgres://gw@db/mssante",
        ] {
            assert_eq!(
                s.parse::<Endpoint>(),
                Ok(Endpoint::Postgres("postgres://gw@db/mssante".into()))
            );
        }
        assert!("mysql://x".parse::<Endpoint>().is_err());
        assert!("sqlite:".parse::<Endpoint>().is_err());
    }

    #[test]
    fn without_the_key_a_foreign_target_is_refused() {
        let k = DataKey::generate();
        let ev = |check: Option<Vec<u8>>| StoredKeyEvidence {
            check,
            sample: None,
        };
        let a = key_check::new_check_value(&k).unwrap();
        let b = key_check::new_check_value(&k).unwrap();
        // Same bytes (an earlier copy) or an empty side: fine.
        check_same_key(None, &ev(Some(a.clone())), &ev(Some(a.clone())), "t").unwrap();
        check_same_key(None, &ev(Some(a.clone())), &ev(None), "t").unwrap();
        check_same_key(None, &ev(None), &ev(Some(a.clone())), "t").unwrap();
        // Other bytes: only the key can tell.
        assert!(check_same_key(None, &ev(Some(a.clone())), &ev(Some(b.clone())), "t").is_err());
        check_same_key(Some(&k), &ev(Some(a)), &ev(Some(b.clone())), "t").unwrap();
        assert!(check_same_key(Some(&DataKey::generate()), &ev(None), &ev(Some(b)), "t").is_err());
    }
}
