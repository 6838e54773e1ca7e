//! The audit trail: security events every feature writes to.
//!
//! Events go to the `audit` tracing target as one structured line each: with
//! `log.format = "json"` a flat JSON object (`kind`, `user`, `client_ip`, `detail`
//! beside `timestamp`, `level`, `target`), with `text` `kind=… event={…}`. They are
//! counted in `gateway_audit_events_total` (and bans / rate limits in their own
//! series, `telemetry::record_from_audit`). Never put secrets, tokens or codes in an event.

use serde::Serialize;
use std::net::IpAddr;

/// The tracing target of audit lines.
pub const AUDIT_TARGET: &str = "audit";

/// One security-relevant event.
#[derive(Debug, Clone, Serialize)]
pub struct AuditEvent {
    /// Stable machine name, e.g. `login.success`, `policy.denied`, `whitelist.reload_failed`.
    pub kind: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_ip: Option<IpAddr>,
    /// Free-form details (request name, refused addresses…).
    pub detail: serde_json::Value,
}

impl AuditEvent {
    pub fn new(kind: &'static str) -> Self {
        AuditEvent {
            kind,
            user: None,
            client_ip: None,
            detail: serde_json::Value::Null,
        }
    }

    pub fn user(mut self, user: impl Into<String>) -> Self {
        self.user = Some(user.into());
        self
    }

    pub fn client_ip(mut self, ip: IpAddr) -> Self {
        self.client_ip = Some(ip);
        self
    }

    pub fn detail(mut self, detail: serde_json::Value) -> Self {
        self.detail = detail;
        self
    }

    /// Writes the event to the audit trail.
    pub fn emit(self) {
        metrics::counter!("gateway_audit_events_total", "kind" => self.kind).increment(1);
        crate::telemetry::record_from_audit(self.kind, &self.detail);
        let line = serde_json::to_string(&self).unwrap_or_default();
        // The JSON log format lifts `event` to the top level of the line (telemetry::audit_json).
        tracing::info!(target: "audit", kind = self.kind, event = %line);
    }
}
