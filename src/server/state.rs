//! State shared by every request. Other features add their handles here
//! (sessions, directory, policy …), built in [`AppState::new`].

use super::ops::{ReadinessCheck, UpstreamReadiness};
use crate::config::Config;
use crate::proxy::upstream::Upstream;
use ipnet::IpNet;
use std::sync::Arc;

pub struct AppState {
    pub config: Arc<Config>,
    pub upstream: Upstream,
    /// Parsed `trusted_proxies.cidrs`.
    pub trusted_proxies: Vec<IpNet>,
    /// Checks behind `/readyz`; add yours (directory, stores) in `new`.
    pub readiness: Vec<Arc<dyn ReadinessCheck>>,
}

impl AppState {
    pub fn new(config: Config) -> anyhow::Result<Self> {
        let upstream = Upstream::new(&config.upstream)?;
        let readiness: Vec<Arc<dyn ReadinessCheck>> = vec![Arc::new(UpstreamReadiness::new(
            upstream.clone(),
            config.upstream.readiness_path.clone(),
        ))];
        Ok(AppState {
            trusted_proxies: config.trusted_proxy_nets(),
            config: Arc::new(config),
            upstream,
            readiness,
        })
    }
}
