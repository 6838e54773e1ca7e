//! Configuration section for this module (`[policy]` in the TOML file).

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::PathBuf;

/// What to do with a SOAP request whose name is not in the classification table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum UnknownRequest {
    Deny,
    Allow,
}

/// What to do with REST archive exports (`?fmt=tgz|tar|zip`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ExportPolicy {
    /// Let it through and write an audit event.
    Audit,
    /// Refuse it (and write an audit event).
    Refuse,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct PolicyConfig {
    /// ANS whitelist: a file path or an `https://` URL
    /// (official: `https://espacedeconfiance.mssante.fr/listeblanchemssante.xml`).
    pub whitelist_source: String,
    /// PEM bundle trusted for an HTTPS source (the IGC-Santé chain); when set, only these
    /// roots are trusted.
    pub whitelist_ca_file: Option<PathBuf>,
    /// Optional SHA-256 checksum of the list (file path or https URL; the mirror's
    /// `checksum` file: hex digest, optionally followed by a file name).
    pub whitelist_checksum: Option<String>,
    /// Seconds between scheduled reloads (0 = only at start, on SIGHUP and on demand).
    pub whitelist_reload_secs: u64,
    /// A list with fewer distinct domains than this is considered broken and not used.
    pub whitelist_min_domains: usize,
    /// Timeout of one download, seconds.
    pub whitelist_fetch_timeout_secs: u64,
    /// Local additions/removals (`+domain`, `-domain`, `+user@domain` lines, `#` comments).
    pub local_trust_file: Option<PathBuf>,
    /// Domain of patient addresses (`<15 digits>@patient.mssante.fr`).
    pub patient_domain: String,
    /// Total size of the attachments of one message, bytes (15 MiB).
    pub attachment_limit_bytes: u64,
    /// Request names missing from the classification table: `deny` (default) or `allow`.
    pub unknown_request: UnknownRequest,
    /// Override of the embedded request classification table (`policies/requests.toml`).
    pub requests_file: Option<PathBuf>,
    /// MSSanté domain given to accounts that are not on one of `mssante_domains`
    /// (`jean.dupont@hopital.local` → `jean.dupont@<sender_domain>`).
    pub sender_domain: Option<String>,
    /// The operator's own MSSanté domains: an account already there keeps its address.
    pub mssante_domains: Vec<String>,
    /// Explicit account → MSSanté address mapping (wins over the rules above).
    pub sender_overrides: BTreeMap<String, String>,
    /// Domains of the store itself: the only ones a share grant (`d=`) may name.
    pub local_domains: Vec<String>,
    /// REST archive exports: `audit` (default) or `refuse`.
    pub exports: ExportPolicy,
    /// Filter actions that answer the sender (`actionReply`, `actionReject`,
    /// `actionEreject`): allowed by default, since the sender reached us from the trust space.
    pub allow_filter_reply: bool,
    /// MTA policy service: also check the envelope sender against the trust space.
    pub mta_check_sender: bool,
}

impl Default for PolicyConfig {
    fn default() -> Self {
        PolicyConfig {
            whitelist_source: "/var/lib/mssante-gateway/listeblanchemssante.xml".into(),
            whitelist_ca_file: None,
            whitelist_checksum: None,
            whitelist_reload_secs: 6 * 3600,
            whitelist_min_domains: 1000,
            whitelist_fetch_timeout_secs: 60,
            local_trust_file: None,
            patient_domain: "patient.mssante.fr".into(),
            attachment_limit_bytes: 15 * 1024 * 1024,
            unknown_request: UnknownRequest::Deny,
            requests_file: None,
            sender_domain: None,
            mssante_domains: Vec::new(),
            sender_overrides: BTreeMap::new(),
            local_domains: Vec::new(),
            exports: ExportPolicy::Audit,
            allow_filter_reply: true,
            mta_check_sender: false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_unknown_fields() {
        let c: PolicyConfig = toml::from_str("unknown_request = \"allow\"").unwrap();
        assert_eq!(c.unknown_request, UnknownRequest::Allow);
        assert_eq!(c.attachment_limit_bytes, 15 * 1024 * 1024);
        assert!(toml::from_str::<PolicyConfig>("typo = 1").is_err());
    }
}
