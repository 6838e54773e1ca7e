//! The auth services the server mounts: the browser portal and the SOAP two-factor
//! protocol, sharing one session manager, one pair of stores and one regulator.

use super::clock::Clock;
use super::otp::{EmailCodes, RecoveryCodes, TotpFactor};
use super::regulation::Regulator;
use super::second_factor::SecondFactor;
use super::session::SessionManager;
use super::soap2fa::SoapTwoFactor;
use super::upstream::UpstreamClient;
use crate::config::Config;
use crate::mail::Mailer;
use crate::portal::PortalState;
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
    /// Builds the services from `[auth]` and `[upstream]`. Fails (the gateway does not
    /// start) without a data key, when the durable store cannot be opened, has a
    /// schema newer than this binary, or holds secrets sealed with another key.
    pub async fn new(config: &Config) -> anyhow::Result<Self> {
        let auth = &config.auth;
        let durable = auth
            .store
            .open_durable()
            .await
            .map_err(|e| anyhow::anyhow!("durable store: {e}"))?;
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
        let upstream = UpstreamClient::new(
            &config.upstream.url,
            config.upstream.admin_url.as_deref(),
            Duration::from_secs(config.upstream.response_timeout_secs),
        )
        .map_err(|e| anyhow::anyhow!("upstream: {e}"))?;
        let mailer = Some(Mailer::new(&auth.mail).map_err(|e| anyhow::anyhow!("auth.mail: {e}"))?);
        let soap = SoapTwoFactor {
            factor: factor.clone(),
            sessions: sessions.clone(),
            short: short.clone(),
            upstream: upstream.clone(),
            regulator: regulator.clone(),
            mailer: mailer.clone(),
            operator: auth.operator.name.clone(),
            login_domain: auth.login_domain.clone(),
            stage_ttl: STAGE_TOKEN_TTL,
            session_lifetime: Duration::from_secs(auth.session.absolute_lifetime_secs),
        };
        let portal = PortalState {
            cfg: auth.clone(),
            sessions,
            factor,
            regulator,
            upstream,
            mailer,
            short,
        };
        Ok(AuthServices { portal, soap })
    }

    pub fn sessions(&self) -> &SessionManager {
        &self.portal.sessions
    }
}
