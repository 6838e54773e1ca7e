//! The auth services the server mounts: the browser portal and the SOAP two-factor
//! protocol, sharing one session manager, one pair of stores and one regulator.

use super::clock::Clock;
use super::identity::{migrate_durable_keys, AccountResolver};
use super::otp::{EmailCodes, RecoveryCodes, TotpFactor};
use super::regulation::Regulator;
use super::second_factor::SecondFactor;
use super::session::SessionManager;
use super::soap2fa::SoapTwoFactor;
use super::upstream::UpstreamClient;
use crate::config::Config;
use crate::directory::Directory;
use crate::mail::Mailer;
use crate::portal::PortalState;
use crate::proxy::upstream::Upstream;
use std::time::Duration;

/// Lifetime of a SOAP two-factor stage token (Zimbra keeps one 1 h; a login needs minutes).
const STAGE_TOKEN_TTL: Duration = Duration::from_secs(300);

/// Everything the gateway needs to authenticate clients.
#[derive(Debug, Clone)]
pub struct AuthServices {
    pub portal: PortalState,
    pub soap: SoapTwoFactor,
}

impl AuthServices {
    /// Builds the services from `[auth]` and `[upstream]`, calling the store through
    /// `upstream` (the proxy's client) and resolving login names with the store's
    /// admin API, else `directory`. Fails (the gateway does not start) without a data
    /// key, when the durable store cannot be opened, has a schema newer than this
    /// binary or holds secrets sealed with another key, or when the state backends
    /// could make two instances disagree on who has a factor.
    pub async fn new(
        config: &Config,
        upstream: &Upstream,
        directory: Option<Directory>,
    ) -> anyhow::Result<Self> {
        let auth = &config.auth;
        crate::store::check_backends_agree(&auth.store).map_err(|e| anyhow::anyhow!(e))?;
        let durable = auth
            .store
            .open_durable()
            .await
            .map_err(|e| anyhow::anyhow!("durable store: {e}"))?;
        // Rows an earlier version kept under another spelling (case, Unicode forms, a
        // bare name) move to their account now; aliases move at their next login, or
        // all at once with `users migrate-keys`.
        migrate_durable_keys(&durable, auth.login_domain.as_deref(), None)
            .await
            .map_err(|e| {
                anyhow::anyhow!(
                    "durable store ({}): identity migration: {e}",
                    durable.location()
                )
            })?;
        let short = auth
            .store
            .open_short(Clock::System)
            .await
            .map_err(|e| anyhow::anyhow!("auth.store (short-lived state): {e}"))?;
        let sessions = SessionManager::new(auth.session.clone(), short.clone());
        let factor = SecondFactor {
            durable,
            totp: TotpFactor::new(auth.totp.clone(), &auth.operator.name),
            email: EmailCodes::new(auth.email_code.clone(), short.clone()),
            recovery: RecoveryCodes::new(auth.recovery.count),
        };
        let regulator = Regulator::new(auth.regulation.clone(), short.clone());
        let upstream = UpstreamClient::new(upstream.clone(), config.upstream.admin_url.as_deref())
            .map_err(|e| anyhow::anyhow!("upstream: {e}"))?;
        let resolver = AccountResolver::new(
            auth.login_domain.clone(),
            upstream.clone(),
            auth.reset.admin_credentials_file.clone(),
            directory,
        );
        let mailer = Some(Mailer::new(&auth.mail).map_err(|e| anyhow::anyhow!("auth.mail: {e}"))?);
        let soap = SoapTwoFactor {
            factor: factor.clone(),
            sessions: sessions.clone(),
            short: short.clone(),
            upstream: upstream.clone(),
            regulator: regulator.clone(),
            mailer: mailer.clone(),
            operator: auth.operator.name.clone(),
            resolver: resolver.clone(),
            otp_lock_secs: auth.regulation.otp_lock_secs,
            stage_ttl: STAGE_TOKEN_TTL,
            session_lifetime: Duration::from_secs(auth.session.absolute_lifetime_secs),
        };
        let mut cfg = auth.clone();
        cfg.operator.psc_enabled = auth.psc.is_some();
        let portal = PortalState {
            cfg,
            sessions,
            factor,
            regulator,
            upstream,
            mailer,
            short,
            resolver,
            // Built by the server once the annuaire is up (`server::state`).
            psc: None,
        };
        Ok(AuthServices { portal, soap })
    }

    pub fn sessions(&self) -> &SessionManager {
        &self.portal.sessions
    }
}
