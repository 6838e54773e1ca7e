//! `serve --config FILE`: run the gateway until SIGTERM/SIGINT.

use crate::config::{preflight, Config};
use crate::{server, telemetry};
use std::path::Path;

pub async fn run(config_path: &Path) -> anyhow::Result<()> {
    // The same checks as `check-config`, all reported at once before anything starts.
    let outcome = preflight::check_file(config_path, std::env::vars().collect()).await;
    let config = match outcome.config {
        Some(c) if !outcome.has_errors() => c,
        _ => {
            let lines: Vec<String> = outcome.problems.iter().map(|p| p.to_string()).collect();
            anyhow::bail!(
                "{}: configuration refused:\n  - {}",
                config_path.display(),
                lines.join("\n  - ")
            );
        }
    };
    telemetry::init_logging(&config.log);
    for w in outcome.problems.iter().filter(|p| !p.is_error()) {
        tracing::warn!(key = %w.key, "{}", w.message);
    }
    serve(config).await
}

/// Starts the gateway with a loaded config and waits for a shutdown signal.
pub async fn serve(config: Config) -> anyhow::Result<()> {
    let running = server::start(config).await?;
    tracing::info!(
        listen = %running.addr,
        metrics = running.metrics_addr.map(tracing::field::display),
        upstream = %running.state.config.upstream.url,
        version = telemetry::VERSION,
        commit = telemetry::COMMIT,
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
