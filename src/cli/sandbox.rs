//! `sandbox --listen ADDR [--data FILE] [--tls-cert PEM --tls-key PEM]`: the
//! Zimbra-compatible test store alone, over HTTP or HTTPS.

use crate::config::{LogConfig, TlsConfig};
use crate::{sandbox, server, telemetry};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

pub async fn run(
    listen: SocketAddr,
    data: Option<&Path>,
    tls: Option<(PathBuf, PathBuf)>,
) -> anyhow::Result<()> {
    telemetry::init_logging(&LogConfig::default());
    let data = sandbox::SandboxData::load(data)?;
    let acceptor = match &tls {
        Some((cert_path, key_path)) => Some(server::tls::acceptor(
            &TlsConfig {
                cert_path: cert_path.clone(),
                key_path: key_path.clone(),
            },
            false,
        )?),
        None => None,
    };
    let scheme = if acceptor.is_some() { "https" } else { "http" };
    let handle = sandbox::start_with_tls(listen, data, acceptor).await?;
    // Tests wait for this line to learn the port when listening on port 0.
    println!("sandbox listening on {scheme}://{}", handle.addr);
    server::shutdown_signal().await;
    Ok(())
}
