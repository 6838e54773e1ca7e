//! Loading, verifying and atomically reloading the trust space.
//!
//! A reload that fails (download, checksum, truncated or unreadable XML, suspiciously
//! few domains, bad local file) keeps the previous good list, writes the audit event
//! `whitelist.reload_failed` and counts `gateway_whitelist_reload_failures_total`.
//! With no good list at start, `TrustStore::load` fails: the gateway must not run open.

use super::config::PolicyConfig;
use super::trust::TrustSpace;
use super::whitelist::parse_whitelist;
use crate::audit::AuditEvent;
use parking_lot::RwLock;
use std::sync::Arc;
use std::time::Duration;
use thiserror::Error;

#[derive(Debug, Error)]
pub enum LoadError {
    #[error("téléchargement de {0} impossible : {1}")]
    Fetch(String, String),
    #[error("source de liste blanche refusée (fichier ou https:// attendu) : {0}")]
    Scheme(String),
    #[error("somme de contrôle SHA-256 illisible dans {0}")]
    ChecksumFormat(String),
    #[error("somme de contrôle SHA-256 différente (attendue {expected}, obtenue {actual})")]
    ChecksumMismatch { expected: String, actual: String },
    #[error("liste blanche non UTF-8")]
    Encoding,
    #[error(transparent)]
    Parse(#[from] super::whitelist::WhitelistError),
    #[error("liste blanche suspecte : {found} domaines (minimum {min})")]
    TooSmall { found: usize, min: usize },
    #[error(transparent)]
    Local(#[from] super::trust::LocalFileError),
    #[error("fichier local {0} illisible : {1}")]
    LocalRead(String, String),
}

/// Reads a file path or an `https://` URL.
async fn fetch(source: &str, cfg: &PolicyConfig) -> Result<Vec<u8>, LoadError> {
    let fetch_err = |e: &dyn std::fmt::Display| LoadError::Fetch(source.to_string(), e.to_string());
    if let Some(rest) = source.strip_prefix("file://") {
        return tokio::fs::read(rest).await.map_err(|e| fetch_err(&e));
    }
    if source.starts_with("https://") {
        // reqwest with `rustls-no-provider` panics without a process-wide provider.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let mut b = reqwest::Client::builder()
            .timeout(Duration::from_secs(cfg.whitelist_fetch_timeout_secs.max(1)))
            .https_only(true)
            .redirect(reqwest::redirect::Policy::none());
        if let Some(ca) = &cfg.whitelist_ca_file {
            let pem = tokio::fs::read(ca).await.map_err(|e| fetch_err(&e))?;
            let certs = reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| fetch_err(&e))?;
            b = b.tls_certs_only(certs);
        }
        let client = b.build().map_err(|e| fetch_err(&e))?;
        let resp = client.get(source).send().await.map_err(|e| fetch_err(&e))?;
        if !resp.status().is_success() {
            return Err(fetch_err(&resp.status()));
        }
        return Ok(resp.bytes().await.map_err(|e| fetch_err(&e))?.to_vec());
    }
    if source.contains("://") {
        return Err(LoadError::Scheme(source.to_string()));
    }
    tokio::fs::read(source).await.map_err(|e| fetch_err(&e))
}

fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(ring::digest::digest(&ring::digest::SHA256, bytes))
}

/// Checks `bytes` against a checksum file (first token = 64 hex digits).
pub fn verify_checksum(bytes: &[u8], checksum_text: &str, source: &str) -> Result<(), LoadError> {
    let expected = checksum_text
        .split_whitespace()
        .next()
        .filter(|t| t.len() == 64 && t.bytes().all(|b| b.is_ascii_hexdigit()))
        .ok_or_else(|| LoadError::ChecksumFormat(source.to_string()))?
        .to_ascii_lowercase();
    let actual = sha256_hex(bytes);
    if expected != actual {
        return Err(LoadError::ChecksumMismatch { expected, actual });
    }
    Ok(())
}

/// Builds a trust space from the list bytes plus the local file (pure, testable).
pub fn build_trust_space(
    xml: &[u8],
    local: Option<&str>,
    cfg: &PolicyConfig,
) -> Result<TrustSpace, LoadError> {
    let text = std::str::from_utf8(xml).map_err(|_| LoadError::Encoding)?;
    let parsed = parse_whitelist(text)?;
    if parsed.domains.len() < cfg.whitelist_min_domains {
        return Err(LoadError::TooSmall {
            found: parsed.domains.len(),
            min: cfg.whitelist_min_domains,
        });
    }
    let mut space = TrustSpace::new(parsed.domains, &cfg.patient_domain);
    space.generated = parsed.generated;
    if let Some(local) = local {
        space.apply_local(local)?;
    }
    Ok(space)
}

/// Downloads/reads, verifies and builds a fresh trust space.
pub async fn load_trust_space(cfg: &PolicyConfig) -> Result<TrustSpace, LoadError> {
    let xml = fetch(&cfg.whitelist_source, cfg).await?;
    if let Some(sum_src) = &cfg.whitelist_checksum {
        let sum = fetch(sum_src, cfg).await?;
        verify_checksum(&xml, &String::from_utf8_lossy(&sum), sum_src)?;
    }
    let local = match &cfg.local_trust_file {
        Some(p) => Some(
            tokio::fs::read_to_string(p)
                .await
                .map_err(|e| LoadError::LocalRead(p.display().to_string(), e.to_string()))?,
        ),
        None => None,
    };
    build_trust_space(&xml, local.as_deref(), cfg)
}

/// The current trust space, swapped atomically on reload. Readers take an `Arc`
/// snapshot and never block a reload for longer than a pointer copy.
pub struct TrustStore {
    current: RwLock<Arc<TrustSpace>>,
    cfg: PolicyConfig,
}

impl TrustStore {
    /// A store around an already-built space (tests, benches, MTA with a fixed file).
    pub fn from_space(space: TrustSpace, cfg: PolicyConfig) -> Arc<Self> {
        metrics::gauge!("gateway_whitelist_domains").set(space.len() as f64);
        Arc::new(TrustStore {
            current: RwLock::new(Arc::new(space)),
            cfg,
        })
    }

    /// Initial load: an error here must stop the gateway.
    pub async fn load(cfg: PolicyConfig) -> Result<Arc<Self>, LoadError> {
        let space = load_trust_space(&cfg).await?;
        Ok(Self::from_space(space, cfg))
    }

    pub fn get(&self) -> Arc<TrustSpace> {
        self.current.read().clone()
    }

    /// Reloads now; on failure the previous list stays in force. Returns the domain count.
    pub async fn reload(&self) -> Result<usize, LoadError> {
        match load_trust_space(&self.cfg).await {
            Ok(space) => {
                let n = space.len();
                *self.current.write() = Arc::new(space);
                metrics::gauge!("gateway_whitelist_domains").set(n as f64);
                metrics::counter!("gateway_whitelist_reloads_total").increment(1);
                tracing::info!(domains = n, "liste blanche MSSanté rechargée");
                Ok(n)
            }
            Err(e) => {
                metrics::counter!("gateway_whitelist_reload_failures_total").increment(1);
                AuditEvent::new("whitelist.reload_failed")
                    .detail(serde_json::json!({
                        "source": self.cfg.whitelist_source,
                        "error": e.to_string(),
                        "kept_domains": self.get().len(),
                    }))
                    .emit();
                tracing::warn!(error = %e, "rechargement de la liste blanche refusé, liste précédente conservée");
                Err(e)
            }
        }
    }

    /// Reloads on schedule (`whitelist_reload_secs`) and on SIGHUP, forever.
    pub fn spawn_reloader(self: &Arc<Self>) -> tokio::task::JoinHandle<()> {
        let me = self.clone();
        tokio::spawn(async move {
            let secs = me.cfg.whitelist_reload_secs;
            let mut tick = tokio::time::interval(Duration::from_secs(secs.max(1)));
            tick.tick().await; // the first tick is immediate
            #[cfg(unix)]
            let mut hup =
                tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()).ok();
            loop {
                #[cfg(unix)]
                let sighup = async {
                    match hup.as_mut() {
                        Some(s) => {
                            s.recv().await;
                        }
                        None => std::future::pending::<()>().await,
                    }
                };
                #[cfg(not(unix))]
                let sighup = std::future::pending::<()>();
                tokio::select! {
                    _ = tick.tick(), if secs > 0 => {}
                    _ = sighup => tracing::info!("SIGHUP : rechargement de la liste blanche"),
                }
                let _ = me.reload().await;
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::super::whitelist::sample;
    use super::*;

    fn cfg(path: &std::path::Path, min: usize) -> PolicyConfig {
        PolicyConfig {
            whitelist_source: path.display().to_string(),
            whitelist_min_domains: min,
            ..Default::default()
        }
    }

    #[tokio::test]
    async fn reload_failure_keeps_previous_list() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("l.xml");
        std::fs::write(&f, sample(&["a.mssante.fr", "b.mssante.fr"])).unwrap();
        let store = TrustStore::load(cfg(&f, 2)).await.unwrap();
        assert!(store.get().allows("x@a.mssante.fr"));

        // Truncated, too small, missing: every failure keeps the good list.
        let full = sample(&["a.mssante.fr", "c.mssante.fr"]);
        std::fs::write(&f, &full[..full.len() - 25]).unwrap();
        assert!(matches!(store.reload().await, Err(LoadError::Parse(_))));
        std::fs::write(&f, sample(&["c.mssante.fr"])).unwrap();
        assert!(matches!(
            store.reload().await,
            Err(LoadError::TooSmall { found: 1, min: 2 })
        ));
        std::fs::remove_file(&f).unwrap();
        assert!(matches!(store.reload().await, Err(LoadError::Fetch(..))));
        assert!(store.get().allows("x@b.mssante.fr"));

        std::fs::write(&f, full).unwrap();
        assert_eq!(store.reload().await.unwrap(), 2);
        assert!(store.get().allows("x@c.mssante.fr"));
        assert!(!store.get().allows("x@b.mssante.fr"));
    }

    #[tokio::test]
    async fn no_good_list_at_start_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        assert!(TrustStore::load(cfg(&dir.path().join("none.xml"), 1))
            .await
            .is_err());
        let mut c = cfg(&dir.path().join("none.xml"), 1);
        c.whitelist_source = "http://example.invalid/l.xml".into();
        assert!(matches!(
            TrustStore::load(c).await,
            Err(LoadError::Scheme(_))
        ));
    }

    #[tokio::test]
    async fn checksum_and_local_file() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("l.xml");
        let xml = sample(&["a.mssante.fr"]);
        std::fs::write(&f, &xml).unwrap();
        let sum = dir.path().join("checksum");
        std::fs::write(
            &sum,
            format!("{}  listeblanchemssante.xml\n", sha256_hex(xml.as_bytes())),
        )
        .unwrap();
        let local = dir.path().join("local.txt");
        std::fs::write(&local, "+local.mssante.fr\n").unwrap();
        let mut c = cfg(&f, 1);
        c.whitelist_checksum = Some(sum.display().to_string());
        c.local_trust_file = Some(local);
        let store = TrustStore::load(c.clone()).await.unwrap();
        assert!(store.get().allows("x@local.mssante.fr"));
        std::fs::write(&sum, "0".repeat(64)).unwrap();
        assert!(matches!(
            store.reload().await,
            Err(LoadError::ChecksumMismatch { .. })
        ));
        std::fs::write(&sum, "not a checksum").unwrap();
        assert!(matches!(
            store.reload().await,
            Err(LoadError::ChecksumFormat(_))
        ));
    }
}
