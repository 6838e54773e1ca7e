//! The durable store's start checks, run without changing anything (no migration,
//! no check value written): `check-config` reports them all at once, `serve` would
//! stop on the first.

use super::key_check::{self, StoredKeyEvidence};
use super::migrations::CURRENT_VERSION;
use super::postgres_config::PostgresSettings;
use super::{sqlite, DurableBackend, PostgresStore};
use crate::store::{DataKey, StoreConfig, StoreError};
use rusqlite::{Connection, OpenFlags};
use std::path::Path;

/// Every problem found, each naming its setting; empty when `serve` would start.
pub async fn preflight(cfg: &StoreConfig) -> Vec<String> {
    let mut problems = cfg.validate_durable();
    let key = match &cfg.data_key {
        None => {
            problems.push(
                "auth.store.data_key_file: required (TOTP secrets are encrypted with it)".into(),
            );
            None
        }
        Some(k) => match DataKey::from_hex(k.expose()) {
            Ok(k) => Some(k),
            Err(e) => {
                problems.push(format!("auth.store.data_key_file: {e}"));
                None
            }
        },
    };
    if !problems
        .iter()
        .all(|p| p.starts_with("auth.store.data_key_file"))
    {
        return problems; // the settings themselves are wrong: nothing to connect to
    }
    let found = match cfg.durable_backend {
        DurableBackend::Sqlite => {
            let path = cfg.sqlite_path.clone();
            tokio::task::spawn_blocking(move || inspect_sqlite(&path))
                .await
                .unwrap_or_else(|e| Err(format!("blocking task: {e}")))
        }
        DurableBackend::Postgres => inspect_postgres(&PostgresSettings::from_config(cfg)).await,
    };
    match found {
        Err(p) => problems.push(p),
        Ok(None) => {}
        Ok(Some((version, evidence, location))) => {
            if version > CURRENT_VERSION {
                problems.push(
                    StoreError::SchemaTooNew {
                        found: version,
                        known: CURRENT_VERSION,
                    }
                    .to_string(),
                );
            }
            if let Some(key) = &key {
                problems.extend(check_key(key, &evidence, &location));
            }
        }
    }
    problems
}

fn check_key(key: &DataKey, evidence: &StoredKeyEvidence, location: &str) -> Option<String> {
    key_check::verify(key, evidence, location)
        .err()
        .map(|e| e.to_string())
}

type Inspection = Option<(i64, StoredKeyEvidence, String)>;

/// The file's version and key evidence; None for a file still to be created (its
/// directory must then exist and be writable).
fn inspect_sqlite(path: &Path) -> Result<Inspection, String> {
    let key = "auth.store.sqlite_path";
    if !path.exists() {
        let dir = match path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d,
            _ => Path::new("."),
        };
        if !dir.is_dir() {
            return Err(format!(
                "{key}: directory {} does not exist (the file {} is created at start; create the directory, owned by the gateway's user: the systemd unit's StateDirectory= does)",
                dir.display(),
                path.display()
            ));
        }
        let probe = dir.join(format!(".mssante-gateway-preflight-{}", std::process::id()));
        return match std::fs::File::create(&probe) {
            Ok(_) => {
                let _ = std::fs::remove_file(&probe);
                Ok(None)
            }
            Err(e) => Err(format!(
                "{key}: cannot create {} in {}: {e}",
                path.display(),
                dir.display()
            )),
        };
    }
    let bad = |e: rusqlite::Error| format!("{key}: {}: {e}", path.display());
    let conn = Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY).map_err(bad)?;
    let version = sqlite::schema_version(&conn).map_err(|e| format!("{key}: {e}"))?;
    // A file that is not SQLite fails here, not at user_version.
    conn.query_row("SELECT COUNT(*) FROM sqlite_master", [], |r| {
        r.get::<_, i64>(0)
    })
    .map_err(bad)?;
    if version > CURRENT_VERSION {
        return Ok(Some((
            version,
            StoredKeyEvidence {
                check: None,
                sample: None,
            },
            String::new(),
        )));
    }
    let evidence = sqlite::key_evidence(&conn).map_err(|e| format!("{key}: {e}"))?;
    Ok(Some((
        version,
        evidence,
        format!("the SQLite file {}", path.display()),
    )))
}

async fn inspect_postgres(s: &PostgresSettings) -> Result<Inspection, String> {
    let store = PostgresStore::connect(s)
        .await
        .map_err(|e| format!("auth.store.postgres_url: {e}"))?;
    let version = store
        .schema_version()
        .await
        .map_err(|e| format!("auth.store.postgres_url: {e}"))?;
    let evidence = if version > CURRENT_VERSION {
        StoredKeyEvidence {
            check: None,
            sample: None,
        }
    } else {
        store
            .key_evidence()
            .await
            .map_err(|e| format!("auth.store.postgres_url: {e}"))?
    };
    Ok(Some((version, evidence, store.location().to_owned())))
}
