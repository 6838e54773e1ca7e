//! `[auth.mail]`: the SMTP relay used for codes and links.

use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// How the SMTP connection is protected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SmtpSecurity {
    /// Plain connection upgraded with STARTTLS (required, not opportunistic).
    Starttls,
    /// TLS from the first byte (port 465).
    Tls,
    /// No TLS: only for a relay on loopback (tests, demo).
    None,
}

/// `[auth.mail]`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct MailConfig {
    /// SMTP relay host name.
    pub host: String,
    /// SMTP relay port.
    pub port: u16,
    /// `starttls`, `tls` or `none`.
    pub security: SmtpSecurity,
    /// File holding `username:password` for SMTP AUTH (none: no authentication).
    pub credentials_file: Option<PathBuf>,
    /// PEM CA certificates of a relay with a private CA; when set, only these roots
    /// are trusted (the system roots otherwise).
    pub ca_file: Option<PathBuf>,
    /// Sender address of notification mail.
    pub from: String,
    /// Connection and command timeout, seconds.
    pub timeout_secs: u64,
}

impl Default for MailConfig {
    fn default() -> Self {
        MailConfig {
            host: "localhost".into(),
            port: 587,
            security: SmtpSecurity::Starttls,
            credentials_file: None,
            ca_file: None,
            from: "Messagerie MSSanté <ne-pas-repondre@localhost>".into(),
            timeout_secs: 10,
        }
    }
}
