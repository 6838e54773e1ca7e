//! A small bounded pool of bound LDAP connections.
//!
//! ldap3 has no pool and no reconnect (by design); an `Ldap` handle is multiplexed over one
//! connection and reports `is_closed()`. This pool keeps at most `pool_size` connections,
//! drops any that closed or failed, and reconnects lazily, so recovery after an outage is
//! automatic. Every step is under a timeout.

use std::io::BufReader;
use std::sync::Arc;
use std::time::Duration;

use ldap3::{Ldap, LdapConnAsync, LdapConnSettings};
use parking_lot::Mutex;
use rustls::{ClientConfig, RootCertStore};
use tokio::sync::{Semaphore, SemaphorePermit};

use super::config::{DirectoryConfig, Secret};
use super::DirectoryError;

pub struct LdapPool {
    url: String,
    bind_dn: Option<String>,
    password: Option<Secret>,
    tls: Option<Arc<ClientConfig>>,
    starttls: bool,
    connect_timeout: Duration,
    op_timeout: Duration,
    idle: Mutex<Vec<Ldap>>,
    permits: Semaphore,
    max: usize,
}

impl std::fmt::Debug for LdapPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LdapPool")
            .field("url", &self.url)
            .field("bind_dn", &self.bind_dn)
            .field("starttls", &self.starttls)
            .finish_non_exhaustive()
    }
}

/// A connection checked out of the pool; goes back on drop unless marked broken.
pub struct PooledLdap<'a> {
    ldap: Option<Ldap>,
    pool: &'a LdapPool,
    broken: bool,
    _permit: SemaphorePermit<'a>,
}

impl PooledLdap<'_> {
    pub fn ldap(&mut self) -> &mut Ldap {
        self.ldap.as_mut().expect("present until drop")
    }
    /// The connection failed or may hold unread results: do not reuse it.
    pub fn discard(&mut self) {
        self.broken = true;
    }
}

impl Drop for PooledLdap<'_> {
    fn drop(&mut self) {
        if let Some(mut l) = self.ldap.take() {
            if !self.broken && !l.is_closed() {
                self.pool.idle.lock().push(l);
            }
        }
        // Our permit is still held here: one connection fewer is busy after this drop.
        self.pool.record_use(1);
    }
}

impl LdapPool {
    pub fn new(cfg: &DirectoryConfig) -> Result<Self, DirectoryError> {
        let password = cfg.bind_password.clone();
        let tls = match &cfg.ca_file {
            Some(path) => Some(tls_config(path)?),
            None => None,
        };
        if !(cfg.url.starts_with("ldap://") || cfg.url.starts_with("ldaps://")) {
            return Err(DirectoryError::Config(format!(
                "url doit commencer par ldap:// ou ldaps:// (reçu {:?})",
                cfg.url
            )));
        }
        Ok(LdapPool {
            url: cfg.url.clone(),
            bind_dn: cfg.bind_dn.clone(),
            password,
            tls,
            starttls: cfg.starttls,
            connect_timeout: Duration::from_millis(cfg.connect_timeout_ms),
            op_timeout: Duration::from_millis(cfg.operation_timeout_ms),
            idle: Mutex::new(Vec::new()),
            permits: Semaphore::new(cfg.pool_size.max(1)),
            max: cfg.pool_size.max(1),
        })
    }

    /// `gateway_ldap_pool_connections` now; `releasing` permits are about to return.
    fn record_use(&self, releasing: usize) {
        let busy = self
            .max
            .saturating_sub(self.permits.available_permits() + releasing);
        crate::telemetry::record_ldap_pool(self.idle.lock().len(), busy, self.max);
    }

    pub fn op_timeout(&self) -> Duration {
        self.op_timeout
    }

    /// A live connection: an idle one, else a new one (connect + bind).
    pub async fn get(&self) -> Result<PooledLdap<'_>, DirectoryError> {
        let permit = tokio::time::timeout(
            self.connect_timeout + self.op_timeout,
            self.permits.acquire(),
        )
        .await
        .map_err(|_| DirectoryError::Unavailable("pool LDAP saturé".into()))?
        .map_err(|_| DirectoryError::Unavailable("pool LDAP fermé".into()))?;
        let reused = loop {
            let next = self.idle.lock().pop();
            match next {
                Some(mut l) => {
                    if !l.is_closed() {
                        break Some(l);
                    }
                }
                None => break None,
            }
        };
        let ldap = match reused {
            Some(l) => l,
            None => {
                let started = std::time::Instant::now();
                let result = self.connect().await;
                let outcome = match &result {
                    Ok(_) => crate::telemetry::LdapOutcome::Ok,
                    Err(DirectoryError::Unavailable(_)) => {
                        crate::telemetry::LdapOutcome::Unavailable
                    }
                    Err(_) => crate::telemetry::LdapOutcome::Refused,
                };
                crate::telemetry::record_ldap("connect", started.elapsed(), outcome);
                result?
            }
        };
        self.record_use(0);
        Ok(PooledLdap {
            ldap: Some(ldap),
            pool: self,
            broken: false,
            _permit: permit,
        })
    }

    async fn connect(&self) -> Result<Ldap, DirectoryError> {
        let mut settings = LdapConnSettings::new()
            .set_conn_timeout(self.connect_timeout)
            .set_starttls(self.starttls);
        if let Some(tls) = &self.tls {
            settings = settings.set_config(tls.clone());
        }
        // The whole handshake (TCP, TLS, StartTLS) is bounded, not only the TCP connect.
        let (conn, mut ldap) = tokio::time::timeout(
            self.connect_timeout + self.op_timeout,
            LdapConnAsync::with_settings(settings, &self.url),
        )
        .await
        .map_err(|_| DirectoryError::Unavailable("délai de connexion LDAP dépassé".into()))?
        .map_err(|e| DirectoryError::Unavailable(format!("connexion LDAP: {e}")))?;
        ldap3::drive!(conn);
        if let Some(dn) = &self.bind_dn {
            let pw = self.password.as_ref().map(Secret::expose).unwrap_or("");
            ldap.with_timeout(self.op_timeout)
                .simple_bind(dn, pw)
                .await
                .map_err(|e| DirectoryError::Unavailable(format!("bind LDAP: {e}")))?
                .success()
                .map_err(|e| DirectoryError::Ldap(format!("bind LDAP refusé: {e}")))?;
        }
        Ok(ldap)
    }
}

/// rustls client config trusting only the CA(s) in `path` (ring provider, explicit so it
/// does not depend on a process-wide default).
pub fn tls_config(path: &std::path::Path) -> Result<Arc<ClientConfig>, DirectoryError> {
    let bad = |m: String| DirectoryError::Config(format!("ca_file {}: {m}", path.display()));
    let file = std::fs::File::open(path).map_err(|e| bad(e.to_string()))?;
    let mut roots = RootCertStore::empty();
    for cert in rustls_pemfile::certs(&mut BufReader::new(file)) {
        roots
            .add(cert.map_err(|e| bad(e.to_string()))?)
            .map_err(|e| bad(e.to_string()))?;
    }
    if roots.is_empty() {
        return Err(bad("aucun certificat PEM".into()));
    }
    let config =
        ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .map_err(|e| bad(e.to_string()))?
            .with_root_certificates(roots)
            .with_no_client_auth();
    Ok(Arc::new(config))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_bad_url_and_missing_ca() {
        let cfg = DirectoryConfig {
            url: "http://x".into(),
            ..Default::default()
        };
        assert!(LdapPool::new(&cfg).is_err());
        let cfg = DirectoryConfig {
            ca_file: Some("/nonexistent/ca.pem".into()),
            ..Default::default()
        };
        assert!(matches!(
            LdapPool::new(&cfg),
            Err(DirectoryError::Config(_))
        ));
    }

    #[tokio::test]
    async fn unreachable_server_is_unavailable_quickly() {
        let cfg = DirectoryConfig {
            url: "ldap://127.0.0.1:1".into(),
            connect_timeout_ms: 500,
            ..Default::default()
        };
        let pool = LdapPool::new(&cfg).unwrap();
        let t = std::time::Instant::now();
        assert!(matches!(
            pool.get().await,
            Err(DirectoryError::Unavailable(_))
        ));
        assert!(t.elapsed() < Duration::from_secs(3));
    }
}
