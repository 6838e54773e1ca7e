//! `serve --config FILE`: run the gateway until SIGTERM/SIGINT.

use crate::config::Config;
use crate::{server, telemetry};
use std::path::Path;

pub async fn run(config_path: &Path) -> anyhow::Result<()> {
    let config = Config::load(config_path)
        .map_err(|e| anyhow::anyhow!("{}:\n{e}", config_path.display()))?;
    telemetry::init_logging(&config.log);
    serve(config).await
}

/// Starts the gateway with a loaded config and waits for a shutdown signal.
pub async fn serve(config: Config) -> anyhow::Result<()> {
    let running = server::start(config).await?;
    tracing::info!(
        listen = %running.addr,
        metrics = ?running.metrics_addr,
        upstream = %running.state.config.upstream.url,
        "gateway ready"
    );
    // Machine-readable lines (tests and scripts read the ports when listening on :0).
    println!("gateway listening on {}", running.addr);
    if let Some(m) = running.metrics_addr {
        println!("metrics listening on {m}");
    }
    server::shutdown_signal().await;
    tracing::info!("shutting down");
    running.shutdown().await;
    Ok(())
}
