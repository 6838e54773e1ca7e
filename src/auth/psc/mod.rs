//! Pro Santé Connect (A4): the OpenID Connect relying party that lets a health
//! professional open their MSSanté mailbox with a CPS card or e-CPS.
//!
//! * `config`: `[auth.psc]`, presets for production and the « bac à sable ».
//! * `provider`: discovery (PSC's `wallet-openid-configuration`), keys, HTTP calls.
//! * `flow`: PKCE + state + nonce, code exchange (openidconnect), token checks.
//! * `jose`: every JWS (ID token, signed UserInfo, logout token) verified with *ring*.
//! * `claims`: iss/aud/azp/exp/nonce, eIDAS level ≥ eidas1, `SubjectNameID`.
//! * `mapping`: national identifier → the operator's mailboxes (annuaire, `psc_overrides`).
//! * `mailbox`: the store session by domain preauth, checked against the annuaire.
//! * `logout`: end-session redirect and back-channel logout.
//!
//! The portal routes (`/connexion/psc…`) and French pages are in `portal::psc_flow`.

pub mod claims;
pub mod client_assertion;
pub mod config;
pub mod error;
pub mod flow;
pub mod jose;
pub mod logout;
pub mod mailbox;
pub mod mapping;
pub mod preauth;
pub mod provider;

pub use config::{ClientAuthMethod, PscConfig, PscEnvironment};
pub use error::PscError;

use crate::auth::upstream::UpstreamClient;
use crate::directory::Directory;
use crate::policy::config::PolicyConfig;
use crate::store::{DurableStore, ShortStore};
use std::sync::Arc;
use std::time::Duration;

/// The relying party and what it needs from the rest of the gateway.
pub struct PscService {
    cfg: Arc<PscConfig>,
    public_url: String,
    provider: provider::Provider,
    short: ShortStore,
    durable: DurableStore,
    directory: Directory,
    policy: PolicyConfig,
    upstream: UpstreamClient,
    assertion_key: Option<client_assertion::AssertionKey>,
    session_lifetime: Duration,
}

impl std::fmt::Debug for PscService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PscService")
            .field("client_id", &self.cfg.client_id)
            .finish_non_exhaustive()
    }
}

/// Everything `PscService::new` takes from the gateway.
pub struct PscDeps {
    pub public_url: String,
    pub short: ShortStore,
    pub durable: DurableStore,
    pub directory: Directory,
    pub policy: PolicyConfig,
    pub upstream: UpstreamClient,
    pub session_lifetime: Duration,
}

impl PscService {
    pub fn new(cfg: PscConfig, deps: PscDeps) -> Result<PscService, String> {
        let assertion_key = match (cfg.client_auth, &cfg.private_key) {
            (ClientAuthMethod::PrivateKeyJwt, Some(k)) => Some(
                client_assertion::AssertionKey::from_pem(k, &cfg.private_key_alg)
                    .map_err(|e| format!("auth.psc.private_key_file: {e}"))?
                    .with_kid(cfg.private_key_id.clone()),
            ),
            _ => None,
        };
        let cfg = Arc::new(cfg);
        Ok(PscService {
            provider: provider::Provider::new(cfg.clone())?,
            cfg,
            public_url: deps.public_url,
            short: deps.short,
            durable: deps.durable,
            directory: deps.directory,
            policy: deps.policy,
            upstream: deps.upstream,
            assertion_key,
            session_lifetime: deps.session_lifetime,
        })
    }

    pub fn config(&self) -> &PscConfig {
        &self.cfg
    }

    pub fn redirect_uri(&self) -> String {
        self.cfg.redirect_uri(&self.public_url)
    }

    pub fn post_logout_redirect_uri(&self) -> String {
        self.cfg.post_logout_redirect_uri(&self.public_url)
    }

    /// Time of the short-lived store's clock, ms.
    pub fn now_ms(&self) -> u64 {
        self.short.clock().now_ms()
    }
}
