//! TLS for the public listener (rustls + ring, ALPN h2 / http/1.1).

use crate::config::TlsConfig;
use anyhow::Context as _;
use std::sync::Arc;
use tokio_rustls::TlsAcceptor;

/// Builds an acceptor from the PEM files of `[server.tls]`.
pub fn acceptor(cfg: &TlsConfig, http2: bool) -> anyhow::Result<TlsAcceptor> {
    let cert_pem = std::fs::read(&cfg.cert_path)
        .with_context(|| format!("server.tls.cert_path: {}", cfg.cert_path.display()))?;
    let certs = rustls_pemfile::certs(&mut cert_pem.as_slice())
        .collect::<Result<Vec<_>, _>>()
        .context("server.tls.cert_path: bad PEM")?;
    anyhow::ensure!(
        !certs.is_empty(),
        "server.tls.cert_path: no certificate found"
    );
    let key_pem = std::fs::read(&cfg.key_path)
        .with_context(|| format!("server.tls.key_path: {}", cfg.key_path.display()))?;
    let key = rustls_pemfile::private_key(&mut key_pem.as_slice())
        .context("server.tls.key_path: bad PEM")?
        .context("server.tls.key_path: no private key found")?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .context("server.tls: certificate and key do not match")?;
    config.alpn_protocols = if http2 {
        vec![b"h2".to_vec(), b"http/1.1".to_vec()]
    } else {
        vec![b"http/1.1".to_vec()]
    };
    Ok(TlsAcceptor::from(Arc::new(config)))
}
