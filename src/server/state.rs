//! State shared by every request. Other features add their handles here
//! (sessions, directory, policy …), built in [`AppState::new`].

use super::ops::{AuthStoresReadiness, ReadinessCheck, UpstreamReadiness};
use crate::auth::services::AuthServices;
use crate::config::Config;
use crate::policy::{Policy, TrustStore};
use crate::proxy::directory_hook::DirectoryHook;
use crate::proxy::identity::IdentityResolver;
use crate::proxy::limits::BodyLimits;
use crate::proxy::patients_setup::PatientsSetup;
use crate::proxy::uploads::UploadRecords;
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
    /// MSSanté policies (M1-M8): config, live trust space, request table.
    pub policy: Policy,
    /// Session store token → user (account, identities), cached.
    pub identities: IdentityResolver,
    /// Sizes of the uploads that went through `/service/upload`, by `aid`.
    pub uploads: UploadRecords,
    /// The annuaire answering GAL lookups (D1-D5); `None` never happens today.
    pub directory: Option<Arc<DirectoryHook>>,
    /// Portal, sessions and the SOAP two-factor protocol (A1-A10).
    pub auth: AuthServices,
    /// "Échanges Patients" folder and rule, set up at a user's first session (M5).
    pub patients: PatientsSetup,
    /// Body memory budget and per-client pre-session reads (`[limits]`).
    pub body_limits: Arc<BodyLimits>,
}

impl AppState {
    /// Loads the trust space first: without a good list the gateway must not run open.
    pub async fn new(config: Config) -> anyhow::Result<Self> {
        let upstream = Upstream::new(&config.upstream)?;
        let readiness: Vec<Arc<dyn ReadinessCheck>> = vec![Arc::new(UpstreamReadiness::new(
            upstream.clone(),
            config.upstream.readiness_path.clone(),
        ))];
        let trust = TrustStore::load(config.policy.clone()).await.map_err(|e| {
            anyhow::anyhow!(
                "policy.whitelist_source ({}): liste blanche MSSanté non chargée, \
                 la passerelle ne démarre pas : {e}",
                config.policy.whitelist_source
            )
        })?;
        trust.spawn_reloader();
        let policy = Policy::new(config.policy.clone(), trust)
            .map_err(|e| anyhow::anyhow!("policy.requests_file: {e}"))?;
        let directory = Arc::new(
            DirectoryHook::from_config(&config.directory)
                .map_err(|e| anyhow::anyhow!("directory: {e}"))?,
        );
        let mut auth =
            AuthServices::new(&config, &upstream, Some(directory.directory.clone())).await?;
        if let Some(psc) = &config.auth.psc {
            auth.portal.psc = Some(Arc::new(
                crate::auth::psc::PscService::new(
                    psc.clone(),
                    crate::auth::psc::PscDeps {
                        public_url: config.auth.operator.public_url.clone(),
                        short: auth.portal.short.clone(),
                        durable: auth.portal.factor.durable.clone(),
                        directory: directory.directory.clone(),
                        policy: config.policy.clone(),
                        upstream: auth.portal.upstream.clone(),
                        session_lifetime: std::time::Duration::from_secs(
                            config.auth.session.absolute_lifetime_secs,
                        ),
                    },
                )
                .map_err(|e| anyhow::anyhow!("{e}"))?,
            ));
        }
        let mut readiness = readiness;
        readiness.push(Arc::new(AuthStoresReadiness {
            short: auth.portal.short.clone(),
            durable: auth.portal.factor.durable.clone(),
        }));
        Ok(AppState {
            auth,
            patients: PatientsSetup::default(),
            body_limits: BodyLimits::new(&config.limits),
            trusted_proxies: config.trusted_proxy_nets(),
            config: Arc::new(config),
            upstream,
            readiness,
            policy,
            identities: IdentityResolver::new(),
            uploads: UploadRecords::default(),
            directory: Some(directory),
        })
    }
}
