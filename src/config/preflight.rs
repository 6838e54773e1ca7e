//! The pre-flight: every check `serve` runs before it starts, run at once and
//! reported together, each problem naming its key. `serve` refuses to start on an
//! error; `check-config` (and the systemd `ExecStartPre`) prints the same list.
//!
//! The checks build what `serve` builds (TLS acceptor, CA bundles, trust space,
//! request table, annuaire, mailer, short-lived store) and throw it away, so that
//! `check-config` cannot pass a file `serve` would refuse. What only runtime can tell
//! (the store answering, the annuaire reachable) is `/readyz`'s job.

use super::{pem, Config, LenientLoad, Problem};
use crate::auth::clock::Clock;
use crate::policy::store::LoadError;
use std::path::Path;

/// What loading and checking a configuration file found.
pub struct Outcome {
    /// `None` when the file could not be read as TOML at all.
    pub config: Option<Config>,
    pub problems: Vec<Problem>,
}

impl Outcome {
    pub fn has_errors(&self) -> bool {
        self.problems.iter().any(Problem::is_error)
    }

    pub fn warnings(&self) -> impl Iterator<Item = &Problem> {
        self.problems.iter().filter(|p| !p.is_error())
    }
}

/// Loads `path` with the environment `env` and runs [`preflight`] on the result;
/// one list for both (`serve` and `check-config` call this).
pub async fn check_file(path: &Path, env: Vec<(String, String)>) -> Outcome {
    let LenientLoad {
        config,
        mut problems,
        replaced,
    } = Config::load_lenient(Some(path), env);
    if let Some(cfg) = &config {
        for p in preflight(cfg).await {
            // A value replaced by its default was reported already; checks of that
            // default would only confuse.
            if !replaced.iter().any(|k| p.is_under(k)) {
                push_unique(&mut problems, p);
            }
        }
    }
    Outcome { config, problems }
}

/// Every start check of `serve` on an already parsed configuration.
pub async fn preflight(config: &Config) -> Vec<Problem> {
    let mut out = Vec::new();
    for p in config.validation_problems() {
        push_unique(&mut out, p);
    }
    let groups: Vec<Vec<Problem>> = vec![
        advice(config),
        listeners(config),
        server_tls(config),
        ca_files(config),
        upstream(config),
        policy(config).await,
        directory(config),
        auth(config).await,
        durable_store(config).await,
    ];
    for p in groups.into_iter().flatten() {
        push_unique(&mut out, p);
    }
    out
}

/// The first problem found for a key wins (a missing file is not also unreadable),
/// and a precise one wins over its section's (`directory.url` over `directory`).
fn push_unique(out: &mut Vec<Problem>, p: Problem) {
    let known = out.iter().any(|q| {
        (q.key == p.key && (q.is_error() || q.message == p.message))
            || (q.is_error() && q.key != p.key && q.is_under(&p.key))
    });
    if !known {
        out.push(p);
    }
}

/// Settings that work but are probably not what the operator wants.
fn advice(c: &Config) -> Vec<Problem> {
    let mut w = Vec::new();
    if c.server.behind_tls_proxy && c.trusted_proxies.cidrs.is_empty() {
        w.push(Problem::warning(
            "trusted_proxies.cidrs",
            "empty while server.behind_tls_proxy = true: every client then has the load \
             balancer's address, so one client's ban (auth.regulation) hits everyone; \
             list the balancer's addresses",
        ));
    }
    if c.upstream.admin_url.is_some() && c.auth.reset.admin_credentials_file.is_none() {
        w.push(Problem::warning(
            "auth.reset.admin_credentials_file",
            "not set: first connection and forgotten-password links are disabled",
        ));
    }
    let public = url::Url::parse(&c.auth.operator.public_url);
    match &public {
        Ok(u) if matches!(u.scheme(), "http" | "https") => {
            if u.host_str() == Some("localhost") && !c.server.listen.ip().is_loopback() {
                w.push(Problem::warning(
                    "auth.operator.public_url",
                    "still https://localhost: links in emails would point there; \
                     give the gateway's public address",
                ));
            }
        }
        _ => w.push(Problem::error(
            "auth.operator.public_url",
            format!(
                "{:?} is not an http(s) URL (links in emails start with it)",
                c.auth.operator.public_url
            ),
        )),
    }
    w
}

fn listeners(c: &Config) -> Vec<Problem> {
    let (s, m) = (c.server.listen, c.metrics.listen);
    if c.metrics.enabled && s.port() != 0 && s == m {
        vec![Problem::error(
            "metrics.listen",
            format!("same address as server.listen ({s}): give the metrics their own port"),
        )]
    } else {
        Vec::new()
    }
}

fn server_tls(c: &Config) -> Vec<Problem> {
    match &c.server.tls {
        Some(t) => crate::server::tls::check(t),
        None => Vec::new(),
    }
}

/// Every CA bundle key: a PEM file with at least one usable certificate.
fn ca_files(c: &Config) -> Vec<Problem> {
    let keys = [
        ("upstream.ca_file", c.upstream.ca_file.as_deref()),
        (
            "policy.whitelist_ca_file",
            c.policy.whitelist_ca_file.as_deref(),
        ),
        ("directory.ca_file", c.directory.ca_file.as_deref()),
        (
            "auth.store.redis_ca_file",
            c.auth.store.redis_ca_file.as_deref(),
        ),
        ("auth.mail.ca_file", c.auth.mail.ca_file.as_deref()),
    ];
    keys.into_iter()
        .filter_map(|(key, path)| {
            let e = pem::read_ca_bundle(path?).err()?;
            Some(Problem::error(key, e))
        })
        .collect()
}

fn upstream(c: &Config) -> Vec<Problem> {
    match crate::proxy::upstream::Upstream::new(&c.upstream) {
        Ok(_) => Vec::new(),
        Err(e) => vec![Problem::from_line(&format!("{e:#}"))],
    }
}

/// The trust space as `serve` loads it (download included) and the request table.
async fn policy(c: &Config) -> Vec<Problem> {
    let p = &c.policy;
    let mut out = Vec::new();
    if let Err(e) = crate::policy::store::load_trust_space(p).await {
        let key = match &e {
            LoadError::Fetch(src, _) if Some(src) == p.whitelist_checksum.as_ref() => {
                "policy.whitelist_checksum"
            }
            LoadError::ChecksumFormat(_) | LoadError::ChecksumMismatch { .. } => {
                "policy.whitelist_checksum"
            }
            LoadError::Local(_) | LoadError::LocalRead(..) => "policy.local_trust_file",
            _ => "policy.whitelist_source",
        };
        out.push(Problem::error(
            key,
            format!("the MSSanté whitelist cannot be used: {e}"),
        ));
    }
    if let Some(path) = &p.requests_file {
        let table = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read {}: {e}", path.display()))
            .and_then(|t| {
                crate::policy::requests::RequestTable::parse(&t).map_err(|e| e.to_string())
            });
        if let Err(e) = table {
            out.push(Problem::error("policy.requests_file", e));
        }
    }
    out
}

/// The annuaire as `serve` builds it (LDAP pool set up, no connection; an LDIF file
/// readable).
/// Its location has no default, so that a configuration without `[directory]` never
/// serves the demo annuaire.
fn directory(c: &Config) -> Vec<Problem> {
    use crate::directory::config::BackendKind;
    let d = &c.directory;
    match d.backend {
        BackendKind::Ldap if d.url.trim().is_empty() => {
            return vec![Problem::error(
                "directory.url",
                "required: the annuaire's ldap://host:port or ldaps://host:port \
                 (for a demo: backend = \"ldif\" with ldif_file)",
            )]
        }
        BackendKind::Ldif if d.ldif_file.as_os_str().is_empty() => {
            return vec![Problem::error(
                "directory.ldif_file",
                "required with backend = \"ldif\" (the entries to load)",
            )]
        }
        // The demo/test backend: the file must be readable; its entries are parsed once,
        // by `serve` (a large test LDIF would otherwise be loaded twice at every start).
        BackendKind::Ldif => {
            return match std::fs::File::open(&d.ldif_file) {
                Ok(_) => Vec::new(),
                Err(e) => vec![Problem::error(
                    "directory.ldif_file",
                    format!("cannot read {}: {e}", d.ldif_file.display()),
                )],
            }
        }
        BackendKind::Ldap => {}
    }
    match crate::proxy::directory_hook::DirectoryHook::from_config(d) {
        Ok(_) => Vec::new(),
        Err(e) => vec![Problem::error("directory", e.to_string())],
    }
}

/// Admin credentials, mail relay, short-lived store.
async fn auth(c: &Config) -> Vec<Problem> {
    let a = &c.auth;
    let mut out = Vec::new();
    if let Some(path) = &a.reset.admin_credentials_file {
        if let Err(e) = check_user_password_file(path) {
            out.push(Problem::error("auth.reset.admin_credentials_file", e));
        }
    }
    if let Some(path) = &a.mail.credentials_file {
        if let Err(e) = check_user_password_file(path) {
            out.push(Problem::error("auth.mail.credentials_file", e));
        }
    }
    if a.mail.from.parse::<lettre::message::Mailbox>().is_err() {
        out.push(Problem::error(
            "auth.mail.from",
            format!(
                "{:?} is not a mail address (e.g. \"Messagerie <ne-pas-repondre@example.fr>\")",
                a.mail.from
            ),
        ));
    }
    // The mailer as `serve` builds it, once its own keys are known to be sound.
    if !out.iter().any(|p| p.is_under("auth.mail")) {
        if let Err(e) = crate::mail::Mailer::new(&a.mail) {
            out.push(Problem::error("auth.mail", e.to_string()));
        }
    }
    if let Err(e) = crate::store::check_backends_agree(&a.store) {
        out.push(Problem::error("auth.store.short_backend", e));
    }
    if a.store.short_backend == crate::store::ShortBackend::Redis && a.store.validate().is_empty() {
        if let Err(e) = a.store.open_short(Clock::System).await {
            out.push(Problem::error("auth.store.redis_url", e.to_string()));
        }
    }
    out
}

/// A `name:password` file (first line; the password may contain `:`), as the reset
/// flow and the mailer read them.
fn check_user_password_file(path: &Path) -> Result<(), String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let line = text.lines().next().unwrap_or("").trim_end_matches('\r');
    match line.split_once(':') {
        Some((name, pw)) if !name.trim().is_empty() && !pw.is_empty() => Ok(()),
        _ => Err(format!(
            "{}: the first line must be name:password",
            path.display()
        )),
    }
}

/// The durable store's start checks, as `serve` meets them: SQLite directory or
/// PostgreSQL server reachable, schema not newer than the binary, data key matching the
/// stored check value (`store::durable::preflight`; nothing is written).
async fn durable_store(c: &Config) -> Vec<Problem> {
    c.auth
        .store
        .durable_preflight()
        .await
        .iter()
        .map(|l| Problem::from_line(l))
        .collect()
}
