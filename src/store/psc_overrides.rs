//! `psc_overrides`: the operator's own links from a Pro Santé Connect national
//! identifier (`SubjectNameID`) to a store account, for mailboxes the annuaire does
//! not list (liste rouge, EDIT test identities, accounts outside the annuaire).
//! Set with `mssante-gateway users psc-link`. The table is created on first use, so
//! it needs no migration step of the shared schema.

use super::durable::DurableStore;
use super::StoreError;
use rusqlite::{params, OptionalExtension};

const CREATE: &str = "CREATE TABLE IF NOT EXISTS psc_overrides (
    identifier TEXT PRIMARY KEY NOT NULL,
    account TEXT NOT NULL,
    updated_at INTEGER NOT NULL DEFAULT (strftime('%s','now'))
)";

impl DurableStore {
    /// The account linked to `identifier`, if any.
    pub async fn psc_override(&self, identifier: &str) -> Result<Option<String>, StoreError> {
        let id = identifier.to_string();
        self.run(move |c| {
            c.execute_batch(CREATE)?;
            Ok(c.query_row(
                "SELECT account FROM psc_overrides WHERE identifier = ?1",
                params![id],
                |r| r.get(0),
            )
            .optional()?)
        })
        .await
    }

    /// Links `identifier` to `account` (replacing an earlier link).
    pub async fn set_psc_override(
        &self,
        identifier: &str,
        account: &str,
    ) -> Result<(), StoreError> {
        let (id, acc) = (identifier.to_string(), account.to_string());
        self.run(move |c| {
            c.execute_batch(CREATE)?;
            c.execute(
                "INSERT INTO psc_overrides (identifier, account) VALUES (?1, ?2)
                 ON CONFLICT(identifier) DO UPDATE SET account = excluded.account,
                 updated_at = strftime('%s','now')",
                params![id, acc],
            )?;
            Ok(())
        })
        .await
    }

    /// Removes the link of `identifier`; false if there was none.
    pub async fn remove_psc_override(&self, identifier: &str) -> Result<bool, StoreError> {
        let id = identifier.to_string();
        self.run(move |c| {
            c.execute_batch(CREATE)?;
            Ok(c.execute(
                "DELETE FROM psc_overrides WHERE identifier = ?1",
                params![id],
            )? == 1)
        })
        .await
    }

    /// Every link, by identifier.
    pub async fn psc_overrides(&self) -> Result<Vec<(String, String)>, StoreError> {
        self.run(move |c| {
            c.execute_batch(CREATE)?;
            let mut st =
                c.prepare("SELECT identifier, account FROM psc_overrides ORDER BY identifier")?;
            let rows = st
                .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
                .collect::<Result<Vec<_>, _>>()?;
            Ok(rows)
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use crate::store::{DataKey, DurableStore};

    #[tokio::test]
    async fn link_relink_unlink() {
        let s = DurableStore::open_sqlite_memory(DataKey::generate()).unwrap();
        assert_eq!(s.psc_override("810101234567").await.unwrap(), None);
        s.set_psc_override("810101234567", "a@x.fr").await.unwrap();
        s.set_psc_override("810101234567", "b@x.fr").await.unwrap();
        s.set_psc_override("ANS20231122132732", "c@x.fr")
            .await
            .unwrap();
        assert_eq!(
            s.psc_override("810101234567").await.unwrap().as_deref(),
            Some("b@x.fr")
        );
        assert_eq!(s.psc_overrides().await.unwrap().len(), 2);
        assert!(s.remove_psc_override("810101234567").await.unwrap());
        assert!(!s.remove_psc_override("810101234567").await.unwrap());
        assert_eq!(s.psc_override("810101234567").await.unwrap(), None);
    }
}
