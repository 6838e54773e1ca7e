//! The series of the backends and of the gateway's own state, off the proxy's
//! per-request path. One function per thing recorded, so that names and labels are
//! written once.
//!
//! | name | type | labels | meaning |
//! |---|---|---|---|
//! | `gateway_tls_certificate_not_after_seconds` | gauge | | end of validity of the served certificate (Unix time) |
//! | `gateway_ldap_operation_seconds` | histogram | operation (`connect`, `search`) | annuaire latency |
//! | `gateway_ldap_errors_total` | counter | operation, kind (`unavailable`, `refused`) | annuaire failures |
//! | `gateway_ldap_pool_connections` | gauge | state (`idle`, `busy`) | LDAP pool use |
//! | `gateway_ldap_pool_max` | gauge | | `directory.pool_size` |
//! | `gateway_store_operation_seconds` | histogram | store (`short`, `durable`), backend | state store latency |
//! | `gateway_store_errors_total` | counter | store, backend | state store failures |
//! | `gateway_mail_sent_total` | counter | kind | notification mail accepted by the relay |
//! | `gateway_mail_failures_total` | counter | kind | notification mail the relay did not take |
//! | `gateway_mail_send_seconds` | histogram | | SMTP time per mail |
//! | `gateway_mail_relay_up` | gauge | | 1 when the last relay probe (connect, TLS, NOOP) worked |
//! | `gateway_sessions_created_total` | counter | stage (`password_ok`, `otp_ok`, `full`) | sessions started |
//! | `gateway_sessions_ended_total` | counter | reason (`expired`, `revoked`, `ended_all`) | sessions ended |
//! | `gateway_sessions_active` | gauge | | live sessions in the short-lived store (shared: every instance shows the same total) |
//! | `gateway_regulation_bans_total` | counter | scope (`user`, `ip`) | bans started |
//! | `gateway_regulation_rate_limited_total` | counter | | requests refused by a rate limit |
//! | `gateway_mta_policy_requests_total` | counter | action (`dunno`, `reject`) | MTA policy answers |
//! | `gateway_mta_policy_connections` | gauge | | open Postfix policy connections |

use std::time::Duration;

pub mod names {
    pub const TLS_NOT_AFTER: &str = "gateway_tls_certificate_not_after_seconds";
    pub const LDAP_SECONDS: &str = "gateway_ldap_operation_seconds";
    pub const LDAP_ERRORS: &str = "gateway_ldap_errors_total";
    pub const LDAP_POOL: &str = "gateway_ldap_pool_connections";
    pub const LDAP_POOL_MAX: &str = "gateway_ldap_pool_max";
    pub const STORE_SECONDS: &str = "gateway_store_operation_seconds";
    pub const STORE_ERRORS: &str = "gateway_store_errors_total";
    pub const MAIL_SENT: &str = "gateway_mail_sent_total";
    pub const MAIL_FAILURES: &str = "gateway_mail_failures_total";
    pub const MAIL_SECONDS: &str = "gateway_mail_send_seconds";
    pub const MAIL_RELAY_UP: &str = "gateway_mail_relay_up";
    pub const SESSIONS_CREATED: &str = "gateway_sessions_created_total";
    pub const SESSIONS_ENDED: &str = "gateway_sessions_ended_total";
    pub const SESSIONS_ACTIVE: &str = "gateway_sessions_active";
    pub const BANS: &str = "gateway_regulation_bans_total";
    pub const RATE_LIMITED: &str = "gateway_regulation_rate_limited_total";
    pub const MTA_REQUESTS: &str = "gateway_mta_policy_requests_total";
    pub const MTA_CONNECTIONS: &str = "gateway_mta_policy_connections";
}

pub(super) fn describe() {
    use metrics::{describe_counter, describe_gauge, describe_histogram, Unit};
    describe_gauge!(
        names::TLS_NOT_AFTER,
        Unit::Seconds,
        "End of validity of the served TLS certificate, Unix time"
    );
    describe_histogram!(
        names::LDAP_SECONDS,
        Unit::Seconds,
        "Annuaire (LDAP) latency"
    );
    describe_counter!(names::LDAP_ERRORS, "Annuaire (LDAP) failures");
    describe_gauge!(names::LDAP_POOL, "LDAP pool connections, idle or busy");
    describe_gauge!(
        names::LDAP_POOL_MAX,
        "Most LDAP connections (directory.pool_size)"
    );
    describe_histogram!(names::STORE_SECONDS, Unit::Seconds, "State store latency");
    describe_counter!(names::STORE_ERRORS, "State store failures");
    describe_counter!(names::MAIL_SENT, "Notification mail accepted by the relay");
    describe_counter!(
        names::MAIL_FAILURES,
        "Notification mail not accepted by the relay"
    );
    describe_histogram!(names::MAIL_SECONDS, Unit::Seconds, "SMTP time per mail");
    describe_gauge!(
        names::MAIL_RELAY_UP,
        "1 when the last SMTP relay probe worked"
    );
    describe_counter!(names::SESSIONS_CREATED, "Gateway sessions started");
    describe_counter!(names::SESSIONS_ENDED, "Gateway sessions ended, by reason");
    describe_gauge!(
        names::SESSIONS_ACTIVE,
        "Live gateway sessions in the short-lived store"
    );
    describe_counter!(names::BANS, "Regulation bans started, by scope");
    describe_counter!(names::RATE_LIMITED, "Requests refused by a rate limit");
    describe_counter!(names::MTA_REQUESTS, "MTA policy answers, by action");
    describe_gauge!(names::MTA_CONNECTIONS, "Open Postfix policy connections");
}

/// The served certificate's `notAfter` (set when the certificate is loaded).
pub fn record_certificate_not_after(unix_secs: i64) {
    metrics::gauge!(names::TLS_NOT_AFTER).set(unix_secs as f64);
}

/// One LDAP step (`connect` = TCP, TLS and bind; `search`). `refused` distinguishes a
/// server that answered no (bind refused, bad base) from one that did not answer.
pub fn record_ldap(operation: &'static str, elapsed: Duration, outcome: LdapOutcome) {
    metrics::histogram!(names::LDAP_SECONDS, "operation" => operation)
        .record(elapsed.as_secs_f64());
    let kind = match outcome {
        LdapOutcome::Ok => return,
        LdapOutcome::Unavailable => "unavailable",
        LdapOutcome::Refused => "refused",
    };
    metrics::counter!(names::LDAP_ERRORS, "operation" => operation, "kind" => kind).increment(1);
}

/// How an LDAP step ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LdapOutcome {
    Ok,
    Unavailable,
    Refused,
}

/// The LDAP pool's state after a checkout or a return.
pub fn record_ldap_pool(idle: usize, busy: usize, max: usize) {
    metrics::gauge!(names::LDAP_POOL, "state" => "idle").set(idle as f64);
    metrics::gauge!(names::LDAP_POOL, "state" => "busy").set(busy as f64);
    metrics::gauge!(names::LDAP_POOL_MAX).set(max as f64);
}

/// One state-store operation (`store`: `short` or `durable`; `backend`: `redis`,
/// `sqlite`, `postgres`…).
pub fn record_store_operation(
    store: &'static str,
    backend: &'static str,
    elapsed: Duration,
    ok: bool,
) {
    metrics::histogram!(names::STORE_SECONDS, "store" => store, "backend" => backend)
        .record(elapsed.as_secs_f64());
    if !ok {
        metrics::counter!(names::STORE_ERRORS, "store" => store, "backend" => backend).increment(1);
    }
}

/// One notification mail handed to the relay (`kind`: `otp_code`, `reset_link`…).
pub fn record_mail(kind: &'static str, ok: bool, elapsed: Duration) {
    metrics::histogram!(names::MAIL_SECONDS).record(elapsed.as_secs_f64());
    let name = if ok {
        names::MAIL_SENT
    } else {
        names::MAIL_FAILURES
    };
    metrics::counter!(name, "kind" => kind).increment(1);
}

/// The last relay probe's outcome.
pub fn record_mail_relay_up(up: bool) {
    metrics::gauge!(names::MAIL_RELAY_UP).set(if up { 1.0 } else { 0.0 });
}

/// A session started at `stage` (`password_ok`, `otp_ok`, `full`).
pub fn record_session_created(stage: &'static str) {
    metrics::counter!(names::SESSIONS_CREATED, "stage" => stage).increment(1);
}

/// `count` sessions ended for `reason` (`expired`, `revoked`, `ended_all`).
pub fn record_sessions_ended(reason: &'static str, count: usize) {
    if count > 0 {
        metrics::counter!(names::SESSIONS_ENDED, "reason" => reason).increment(count as u64);
    }
}

/// Live sessions counted in the short-lived store.
pub fn record_sessions_active(count: u64) {
    metrics::gauge!(names::SESSIONS_ACTIVE).set(count as f64);
}

/// Series derived from audit events (`audit.rs` calls it for every event), so that
/// the features writing those events need no metrics code of their own.
pub fn record_from_audit(kind: &str, detail: &serde_json::Value) {
    match kind {
        "login.banned" => {
            let scope = match detail.get("scope").and_then(|s| s.as_str()) {
                Some("ip") => "ip",
                _ => "user",
            };
            metrics::counter!(names::BANS, "scope" => scope).increment(1);
        }
        "rate.limited" => metrics::counter!(names::RATE_LIMITED).increment(1),
        _ => {}
    }
}

/// One MTA policy answer.
pub fn record_mta_answer(reject: bool) {
    let action = if reject { "reject" } else { "dunno" };
    metrics::counter!(names::MTA_REQUESTS, "action" => action).increment(1);
}

/// Keeps `gateway_mta_policy_connections` right while a Postfix connection lives.
pub struct MtaConnectionGauge;

impl MtaConnectionGauge {
    pub fn open() -> Self {
        metrics::gauge!(names::MTA_CONNECTIONS).increment(1.0);
        MtaConnectionGauge
    }
}

impl Drop for MtaConnectionGauge {
    fn drop(&mut self) {
        metrics::gauge!(names::MTA_CONNECTIONS).decrement(1.0);
    }
}
