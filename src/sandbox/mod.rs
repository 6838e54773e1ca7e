//! The Zimbra-compatible sandbox store (Z1). TODO(sandbox helper).

use std::net::SocketAddr;

/// A running sandbox store.
pub struct SandboxHandle {
    pub addr: SocketAddr,
}

/// Binds `listen` and serves the sandbox until the process ends.
pub async fn start(_listen: SocketAddr) -> anyhow::Result<SandboxHandle> {
    anyhow::bail!("sandbox not written yet")
}
