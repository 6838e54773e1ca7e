//! MSSanté mail policies (M1-M8), as pure functions over parsed SOAP trees.
//!
//! The proxy calls `inspect` (or `inspect_with`) for each SOAP envelope; the rest is
//! data (trust space, request table) or small helpers the proxy wraps around HTTP:
//! `upload_limit` (M4), `patients` (M5), `exports` (M7). The MTA side is `crate::mta`.
pub mod address;
mod check;
pub mod config;
pub mod decision;
pub mod domain;
pub mod exports;
pub mod header_values;
pub mod inspect;
pub mod mime_headers;
pub mod patients;
pub mod planted;
pub mod requests;
mod rules_grants;
mod rules_message;
mod rules_planted;
mod rules_settings;
pub mod sender;
pub mod store;
pub mod stored;
#[cfg(test)]
mod tests_catalogue;
#[cfg(test)]
mod tests_catalogue_rows;
#[cfg(test)]
mod tests_stored;
pub mod trust;
pub mod upload_limit;
pub mod whitelist;

pub use decision::{Decision, NoUploads, UploadInfo, Uploads, UserContext};
pub use inspect::{inspect, inspect_full, inspect_with};
pub use store::TrustStore;
pub use stored::{ItemKind, ItemRef, NoStoredItems, StoredItems};
pub use trust::TrustSpace;

use config::PolicyConfig;
use requests::{RequestTable, TableError};
use std::sync::Arc;

/// Everything `inspect` reads: configuration, the live trust space, the request table.
pub struct Policy {
    pub config: PolicyConfig,
    pub trust: Arc<TrustStore>,
    pub table: RequestTable,
}

impl Policy {
    /// Uses `config.requests_file` when set, else the embedded table.
    pub fn new(config: PolicyConfig, trust: Arc<TrustStore>) -> Result<Self, PolicyError> {
        let table = match &config.requests_file {
            Some(p) => {
                let text = std::fs::read_to_string(p)
                    .map_err(|e| PolicyError::Read(p.display().to_string(), e.to_string()))?;
                RequestTable::parse(&text)?
            }
            None => RequestTable::builtin(),
        };
        Ok(Policy {
            config,
            trust,
            table,
        })
    }
}

#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    #[error("fichier {0} illisible : {1}")]
    Read(String, String),
    #[error(transparent)]
    Table(#[from] TableError),
}
