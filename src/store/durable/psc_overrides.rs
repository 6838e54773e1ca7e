//! `psc_overrides`: the operator's own links from a Pro Santé Connect national
//! identifier (`SubjectNameID`) to a store account, for mailboxes the annuaire does
//! not list (liste rouge, EDIT test identities, accounts outside the annuaire).
//! Set with `mssante-gateway users psc-link`. The table is created by migration 3
//! (`migrations.rs`) on both backends and moved by `store copy`.

use super::{sqlite, Backend, DurableStore};
use crate::store::StoreError;

impl DurableStore {
    /// The account linked to `identifier`, if any.
    pub async fn psc_override(&self, identifier: &str) -> Result<Option<String>, StoreError> {
        match &self.backend {
            Backend::Sqlite(s) => {
                let id = identifier.to_owned();
                s.run(move |c| sqlite::psc_override(c, &id)).await
            }
            Backend::Postgres(p) => p.psc_override(identifier).await,
        }
    }

    /// Links `identifier` to `account` (replacing an earlier link).
    pub async fn set_psc_override(
        &self,
        identifier: &str,
        account: &str,
    ) -> Result<(), StoreError> {
        match &self.backend {
            Backend::Sqlite(s) => {
                let (id, account) = (identifier.to_owned(), account.to_owned());
                s.run(move |c| sqlite::set_psc_override(c, &id, &account))
                    .await
            }
            Backend::Postgres(p) => p.set_psc_override(identifier, account).await,
        }
    }

    /// Removes the link of `identifier`; false if there was none.
    pub async fn remove_psc_override(&self, identifier: &str) -> Result<bool, StoreError> {
        match &self.backend {
            Backend::Sqlite(s) => {
                let id = identifier.to_owned();
                s.run(move |c| sqlite::remove_psc_override(c, &id)).await
            }
            Backend::Postgres(p) => p.remove_psc_override(identifier).await,
        }
    }

    /// Every link, by identifier.
    pub async fn psc_overrides(&self) -> Result<Vec<(String, String)>, StoreError> {
        match &self.backend {
            Backend::Sqlite(s) => s.run(|c| sqlite::psc_overrides(c)).await,
            Backend::Postgres(p) => p.psc_overrides().await,
        }
    }
}
