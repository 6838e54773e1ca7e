//! The authorization code flow with PKCE (S256), `state` and `nonce` kept server-side
//! in the short-lived store (single use, `flow_timeout_secs`), bound to the browser
//! that pressed the button by a cookie (its hash is in the record).

use super::claims::{eidas_level, person_from_userinfo, Expected, IdTokenInfo, Person};
use super::error::PscError;
use super::provider::Endpoints;
use super::PscService;
use openidconnect::core::{CoreAuthenticationFlow, CoreClient, CoreJsonWebKeySet};
use openidconnect::{
    AuthType, AuthUrl, AuthenticationContextClass, ClientId, ClientSecret, CsrfToken,
    EndpointNotSet, EndpointSet, IssuerUrl, Nonce, PkceCodeChallenge, RedirectUrl, Scope, TokenUrl,
};
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// openidconnect's client with an authorization and a token endpoint.
pub type OidcClient = CoreClient<
    EndpointSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointSet,
    EndpointNotSet,
>;

/// What is kept between the button and the return.
#[derive(Serialize, Deserialize)]
struct FlowRecord {
    nonce: String,
    pkce_verifier: String,
    return_to: String,
    created_ms: u64,
    /// SHA-256 (hex) of the browser-binding cookie.
    browser: String,
}

/// A login sent to PSC.
#[derive(Debug)]
pub struct Started {
    /// The authorization URL (PSC's « wallet » host).
    pub location: String,
    /// Value of the browser-binding cookie to set.
    pub browser_binding: String,
}

/// What the return brings (query parameters).
#[derive(Debug, Default, Deserialize)]
pub struct ReturnParams {
    pub code: Option<String>,
    pub state: Option<String>,
    pub error: Option<String>,
}

/// A verified PSC login.
#[derive(Debug, Serialize, Deserialize)]
pub struct Verified {
    pub person: Person,
    pub id: IdTokenInfo,
    /// The raw ID token (for `id_token_hint` at logout).
    pub id_token: String,
    pub issuer: String,
    pub return_to: String,
    pub signed_userinfo: bool,
}

pub(super) fn sha256_hex(s: &str) -> String {
    hex::encode(ring::digest::digest(&ring::digest::SHA256, s.as_bytes()))
}

fn flow_key(state: &str) -> String {
    format!("psc_flow:{}", sha256_hex(state))
}

fn random_b64(n: usize) -> String {
    use base64::Engine;
    let mut b = vec![0u8; n];
    rand::RngCore::fill_bytes(&mut rand::rng(), &mut b);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b)
}

fn bad_url(e: impl std::fmt::Display) -> PscError {
    PscError::BadAnswer(format!("endpoint URL: {e}"))
}

impl PscService {
    pub(super) fn oidc_client(&self, ep: &Endpoints) -> Result<OidcClient, PscError> {
        let cfg = self.config();
        let client = CoreClient::new(
            ClientId::new(cfg.client_id.clone()),
            IssuerUrl::new(ep.issuer.clone()).map_err(bad_url)?,
            CoreJsonWebKeySet::new(Vec::new()),
        )
        .set_auth_uri(AuthUrl::new(ep.authorization.clone()).map_err(bad_url)?)
        .set_token_uri(TokenUrl::new(ep.token.clone()).map_err(bad_url)?)
        .set_redirect_uri(RedirectUrl::new(self.redirect_uri()).map_err(bad_url)?);
        let secret = cfg
            .client_secret
            .as_ref()
            .map(|s| ClientSecret::new(s.expose().to_string()));
        Ok(match (cfg.client_auth, secret) {
            (super::ClientAuthMethod::ClientSecretBasic, Some(s)) => client
                .set_auth_type(AuthType::BasicAuth)
                .set_client_secret(s),
            (super::ClientAuthMethod::ClientSecretPost, Some(s)) => client
                .set_auth_type(AuthType::RequestBody)
                .set_client_secret(s),
            // private_key_jwt: client_id in the body, the assertion added per request.
            _ => client.set_auth_type(AuthType::RequestBody),
        })
    }

    /// Starts a login: the record is saved, the browser goes to PSC.
    pub async fn start(&self, return_to: &str) -> Result<Started, PscError> {
        let ep = self.provider.endpoints().await?;
        let client = self.oidc_client(&ep)?;
        let cfg = self.config();
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        // openidconnect sends `openid` itself: the other scopes are added.
        let scopes = cfg
            .scope
            .split_whitespace()
            .filter(|s| *s != "openid")
            .map(|s| Scope::new(s.to_string()));
        let (url, state, nonce) = client
            .authorize_url(
                CoreAuthenticationFlow::AuthorizationCode,
                CsrfToken::new_random,
                Nonce::new_random,
            )
            .add_scopes(scopes)
            .add_auth_context_value(AuthenticationContextClass::new(
                cfg.acr_values.trim().to_string(),
            ))
            .set_pkce_challenge(challenge)
            .url();
        let binding = random_b64(32);
        let record = FlowRecord {
            nonce: nonce.secret().clone(),
            pkce_verifier: verifier.secret().clone(),
            return_to: return_to.to_string(),
            created_ms: self.short.clock().now_ms(),
            browser: sha256_hex(&binding),
        };
        // Kept a little past the timeout so a late return is told « expired ».
        let ttl = Duration::from_secs(cfg.flow_timeout_secs + 300);
        self.short
            .put_json(&flow_key(state.secret()), &record, ttl)
            .await?;
        Ok(Started {
            location: url.to_string(),
            browser_binding: binding,
        })
    }

    /// The return from PSC: state, code, tokens, UserInfo — all checked.
    pub async fn finish(
        &self,
        params: &ReturnParams,
        browser_binding: Option<&str>,
    ) -> Result<Verified, PscError> {
        let state = params.state.as_deref().ok_or(PscError::UnknownState)?;
        if state.is_empty() || state.len() > 512 {
            return Err(PscError::UnknownState);
        }
        // Taken, not read: a second return with this state finds nothing.
        let record: FlowRecord = self
            .short
            .take_json(&flow_key(state))
            .await?
            .ok_or(PscError::UnknownState)?;
        let same_browser = browser_binding.is_some_and(|b| {
            let h = sha256_hex(b);
            bool::from(subtle::ConstantTimeEq::ct_eq(
                h.as_bytes(),
                record.browser.as_bytes(),
            ))
        });
        if !same_browser {
            return Err(PscError::OtherBrowser);
        }
        let cfg = self.config();
        let now_ms = self.short.clock().now_ms();
        if now_ms.saturating_sub(record.created_ms) > cfg.flow_timeout_secs * 1000 {
            return Err(PscError::FlowExpired);
        }
        if let Some(err) = &params.error {
            return Err(if err == "access_denied" {
                PscError::AccessDenied
            } else {
                // Only a short, printable code goes to the audit trail.
                PscError::ProviderError(
                    err.chars()
                        .filter(|c| c.is_ascii_alphanumeric() || *c == '_')
                        .take(64)
                        .collect(),
                )
            });
        }
        let code = params
            .code
            .clone()
            .filter(|c| !c.is_empty() && c.len() <= 4096)
            .ok_or_else(|| PscError::BadAnswer("no code on the return".into()))?;
        let ep = self.provider.endpoints().await?;
        let client = self.oidc_client(&ep)?;
        let assertion = self
            .assertion_key
            .as_ref()
            .map(|k| k.assertion(&cfg.client_id, &ep.token, now_ms / 1000));
        let tokens = self
            .provider
            .exchange_code(&ep, &client, code, record.pkce_verifier, assertion)
            .await?;
        let jws = self
            .provider
            .verify_jws(&ep, &tokens.id_token, &ep.id_token_algs)
            .await?;
        let expected = Expected {
            issuer: &ep.issuer,
            client_id: &cfg.client_id,
            now_secs: (now_ms / 1000) as i64,
            leeway_secs: cfg.clock_leeway_secs as i64,
        };
        let min_level = eidas_level(cfg.acr_values.trim()).unwrap_or(1);
        let id = expected.check_id_token(&jws.claims, &record.nonce, min_level)?;
        let (userinfo, signed) = self.provider.userinfo(&ep, &tokens.access_token).await?;
        let person = person_from_userinfo(&userinfo, &id.sub)?;
        Ok(Verified {
            person,
            id,
            id_token: tokens.id_token,
            issuer: ep.issuer.clone(),
            return_to: record.return_to,
            signed_userinfo: signed,
        })
    }
}
