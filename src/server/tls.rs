//! TLS for the public listener (rustls + ring, ALPN h2 / http/1.1).
//!
//! `acceptor` (used by `serve`) and `check` (used by the pre-flight) read the files
//! the same way, so `check-config` refuses exactly what `serve` would.

use crate::config::{Problem, TlsConfig};
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio_rustls::TlsAcceptor;

/// A certificate this close to its end gets a pre-flight warning (and the alert rule fires).
pub const EXPIRY_WARNING: Duration = Duration::from_secs(14 * 24 * 3600);

/// Why the TLS files cannot be used; each names the key.
#[derive(Debug, thiserror::Error)]
#[error("{key}: {message}")]
pub struct TlsFileError {
    pub key: &'static str,
    pub message: String,
}

fn err(key: &'static str, message: impl Into<String>) -> TlsFileError {
    TlsFileError {
        key,
        message: message.into(),
    }
}

/// The PEM certificate chain and key of `[server.tls]`, checked to belong together.
pub struct LoadedCert {
    pub config: rustls::ServerConfig,
    /// Leaf certificate's validity end, seconds since the epoch.
    pub not_after: i64,
    pub not_before: i64,
}

/// Reads and checks the certificate and key (PEM, present, matching).
pub fn load(cfg: &TlsConfig) -> Result<LoadedCert, TlsFileError> {
    let cert_pem = std::fs::read(&cfg.cert_path).map_err(|e| {
        err(
            "server.tls.cert_path",
            format!("cannot read {}: {e}", cfg.cert_path.display()),
        )
    })?;
    let certs: Vec<CertificateDer<'static>> = rustls_pemfile::certs(&mut cert_pem.as_slice())
        .collect::<Result<_, _>>()
        .map_err(|e| err("server.tls.cert_path", format!("bad PEM: {e}")))?;
    let leaf = certs.first().ok_or_else(|| {
        err(
            "server.tls.cert_path",
            "no CERTIFICATE block found (a PEM file is expected)",
        )
    })?;
    let (_, parsed) = x509_parser::parse_x509_certificate(leaf).map_err(|e| {
        err(
            "server.tls.cert_path",
            format!("the first certificate cannot be parsed: {e}"),
        )
    })?;
    let not_after = parsed.validity().not_after.timestamp();
    let not_before = parsed.validity().not_before.timestamp();
    let key_pem = std::fs::read(&cfg.key_path).map_err(|e| {
        err(
            "server.tls.key_path",
            format!("cannot read {}: {e}", cfg.key_path.display()),
        )
    })?;
    let key: PrivateKeyDer<'static> = rustls_pemfile::private_key(&mut key_pem.as_slice())
        .map_err(|e| err("server.tls.key_path", format!("bad PEM: {e}")))?
        .ok_or_else(|| {
            err(
                "server.tls.key_path",
                "no private key found (PEM PKCS#8, PKCS#1 or SEC1 expected)",
            )
        })?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| err("server.tls", e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| {
            err(
                "server.tls.key_path",
                format!("the key does not match the certificate of server.tls.cert_path ({e})"),
            )
        })?;
    Ok(LoadedCert {
        config,
        not_after,
        not_before,
    })
}

/// Builds an acceptor from the PEM files of `[server.tls]` and publishes the
/// certificate's end of validity as `gateway_tls_certificate_not_after_seconds`.
pub fn acceptor(cfg: &TlsConfig, http2: bool) -> anyhow::Result<TlsAcceptor> {
    let loaded = load(cfg)?;
    crate::telemetry::record_certificate_not_after(loaded.not_after);
    let mut config = loaded.config;
    config.alpn_protocols = if http2 {
        vec![b"h2".to_vec(), b"http/1.1".to_vec()]
    } else {
        vec![b"http/1.1".to_vec()]
    };
    Ok(TlsAcceptor::from(Arc::new(config)))
}

/// The pre-flight's view: what `acceptor` would refuse, plus the validity dates.
pub fn check(cfg: &TlsConfig) -> Vec<Problem> {
    let loaded = match load(cfg) {
        Ok(l) => l,
        Err(e) => return vec![Problem::error(e.key, e.message)],
    };
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    let date = |t: i64| {
        time::OffsetDateTime::from_unix_timestamp(t)
            .ok()
            .and_then(|d| {
                d.format(&time::format_description::well_known::Rfc3339)
                    .ok()
            })
            .unwrap_or_else(|| t.to_string())
    };
    let key = "server.tls.cert_path";
    if loaded.not_after < now {
        vec![Problem::error(
            key,
            format!("the certificate expired on {}", date(loaded.not_after)),
        )]
    } else if loaded.not_before > now {
        vec![Problem::error(
            key,
            format!(
                "the certificate is not valid before {}",
                date(loaded.not_before)
            ),
        )]
    } else if loaded.not_after - now < EXPIRY_WARNING.as_secs() as i64 {
        vec![Problem::warning(
            key,
            format!(
                "the certificate expires on {}: renew it",
                date(loaded.not_after)
            ),
        )]
    } else {
        Vec::new()
    }
}
