//! `sandbox --listen ADDR [--data FILE]`: the Zimbra-compatible test store alone.

use crate::config::LogConfig;
use crate::{sandbox, server, telemetry};
use std::net::SocketAddr;
use std::path::Path;

pub async fn run(listen: SocketAddr, data: Option<&Path>) -> anyhow::Result<()> {
    telemetry::init_logging(&LogConfig::default());
    let data = sandbox::SandboxData::load(data)?;
    let handle = sandbox::start(listen, data).await?;
    // Tests wait for this line to learn the port when listening on port 0.
    println!("sandbox listening on http://{}", handle.addr);
    server::shutdown_signal().await;
    Ok(())
}
