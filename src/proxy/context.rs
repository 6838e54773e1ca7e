//! Per-request facts every stage can read.

use super::path::Surface;
use crate::config::Secret;
use std::net::IpAddr;

/// What the gateway knows about the request being handled.
#[derive(Debug, Clone)]
pub struct RequestContext {
    /// The client's address: the TCP peer, or the address a trusted proxy reported.
    pub client_ip: IpAddr,
    /// Which store surface the path targets.
    pub surface: Surface,
    /// Whether the client reached us over TLS (or through a trusted TLS proxy).
    pub secure: bool,
    /// Upstream auth token held server-side for this client's session, injected on
    /// the way up. Placeholder: filled by the session layer (auth engineer).
    pub upstream_token: Option<Secret>,
}
