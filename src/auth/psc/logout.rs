//! Logout both ways.
//! * RP-initiated: the gateway's logout also sends the browser to PSC's
//!   `end_session_endpoint` with `id_token_hint`, `post_logout_redirect_uri`, `state`.
//! * Back-channel: PSC posts a logout token; the gateway sessions opened from that
//!   PSC session (`sid`, else every one of that `sub`) end, store tokens included.
//!
//! Index entries hold session ids sealed with the data key (AES-GCM), so a dump of
//! the short-lived store (Redis) yields no usable cookie.

use super::claims::Expected;
use super::error::PscError;
use super::flow::{sha256_hex, Verified};
use super::PscService;
use crate::store::SealedBox;
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// A logout token older than this is refused (its `jti` is remembered longer).
const LOGOUT_TOKEN_MAX_AGE_SECS: i64 = 600;
const JTI_MEMORY: Duration = Duration::from_secs(1200);
const LOGOUT_STATE_TTL: Duration = Duration::from_secs(600);
const SEAL_CONTEXT: &str = "psc.session_id";

/// What a gateway session remembers of its PSC login.
#[derive(Serialize, Deserialize)]
struct SessionLink {
    /// The ID token, sealed (hex).
    id_token: String,
}

fn link_key(session_id: &str) -> String {
    format!("psc_session:{}", sha256_hex(session_id))
}

fn sid_key(issuer: &str, sid: &str) -> String {
    format!("psc_sid:{}", sha256_hex(&format!("{issuer}\n{sid}")))
}

fn sub_key(issuer: &str, sub: &str) -> String {
    format!("psc_sub:{}", sha256_hex(&format!("{issuer}\n{sub}")))
}

fn logout_state_key(state: &str) -> String {
    format!("psc_logout:{}", sha256_hex(state))
}

impl PscService {
    fn seal(&self, context: &str, v: &str) -> Result<String, PscError> {
        let sealed = self.durable.data_key().seal(context, v.as_bytes())?;
        Ok(hex::encode(sealed.0))
    }

    fn unseal(&self, context: &str, v: &str) -> Option<String> {
        let bytes = hex::decode(v).ok()?;
        let clear = self
            .durable
            .data_key()
            .open(context, &SealedBox(bytes))
            .ok()?;
        String::from_utf8(clear).ok()
    }

    /// Records that gateway session `session_id` comes from this PSC login.
    pub async fn remember_session(&self, session_id: &str, v: &Verified) -> Result<(), PscError> {
        let ttl = self.session_lifetime;
        let link = SessionLink {
            id_token: self.seal("psc.id_token", &v.id_token)?,
        };
        self.short
            .put_json(&link_key(session_id), &link, ttl)
            .await?;
        let sealed_id = self.seal(SEAL_CONTEXT, session_id)?;
        if let Some(sid) = &v.id.sid {
            self.short
                .set_add(&sid_key(&v.issuer, sid), &sealed_id, ttl)
                .await?;
        }
        self.short
            .set_add(&sub_key(&v.issuer, &v.id.sub), &sealed_id, ttl)
            .await?;
        Ok(())
    }

    /// At the gateway's logout: where to send the browser to end the PSC session too
    /// (`None`: not a PSC session, or end-session off or not advertised).
    pub async fn end_session_url(&self, session_id: &str) -> Option<String> {
        let link: SessionLink = self
            .short
            .take_json(&link_key(session_id))
            .await
            .ok()
            .flatten()?;
        if !self.cfg.end_session {
            return None;
        }
        let ep = self.provider.endpoints().await.ok()?;
        let end = ep.end_session.as_deref()?;
        let id_token = self.unseal("psc.id_token", &link.id_token)?;
        let state = {
            let b: [u8; 24] = rand::random();
            hex::encode(b)
        };
        self.short
            .put(&logout_state_key(&state), b"1".to_vec(), LOGOUT_STATE_TTL)
            .await
            .ok()?;
        let mut url = url::Url::parse(end).ok()?;
        url.query_pairs_mut()
            .append_pair("id_token_hint", &id_token)
            .append_pair("post_logout_redirect_uri", &self.post_logout_redirect_uri())
            .append_pair("state", &state)
            .append_pair("client_id", &self.cfg.client_id);
        Some(url.to_string())
    }

    /// PSC's return after the end-session: was this `state` ours (single use)?
    pub async fn logged_out_return(&self, state: Option<&str>) -> bool {
        let Some(state) = state.filter(|s| !s.is_empty() && s.len() <= 128) else {
            return false;
        };
        matches!(self.short.take(&logout_state_key(state)).await, Ok(Some(_)))
    }

    /// Verifies a back-channel logout token; returns the gateway session ids to end.
    pub async fn backchannel_logout(&self, logout_token: &str) -> Result<Vec<String>, PscError> {
        let ep = self.provider.endpoints().await?;
        let jws = self
            .provider
            .verify_jws(&ep, logout_token, &ep.id_token_algs)
            .await?;
        if jws
            .header
            .typ
            .as_deref()
            .is_some_and(|t| !matches!(t.to_ascii_lowercase().as_str(), "logout+jwt" | "jwt"))
        {
            return Err(super::claims::ClaimError::NotLogoutToken.into());
        }
        let expected = Expected {
            issuer: &ep.issuer,
            client_id: &self.cfg.client_id,
            now_secs: (self.now_ms() / 1000) as i64,
            leeway_secs: self.cfg.clock_leeway_secs as i64,
        };
        let info = expected.check_logout_token(&jws.claims, LOGOUT_TOKEN_MAX_AGE_SECS)?;
        let seen = self
            .short
            .incr(
                &format!(
                    "psc_jti:{}",
                    sha256_hex(&format!("{}\n{}", ep.issuer, info.jti))
                ),
                JTI_MEMORY,
            )
            .await?;
        if seen > 1 {
            return Err(super::claims::ClaimError::Replayed.into());
        }
        // With a sid, that PSC session's gateway sessions; with only a sub (or a sid
        // the ID token did not carry), every session of the subject.
        let mut keys = Vec::new();
        if let Some(sid) = &info.sid {
            keys.push(sid_key(&ep.issuer, sid));
        }
        if let Some(sub) = &info.sub {
            keys.push(sub_key(&ep.issuer, sub));
        }
        for key in keys {
            let sealed = self.short.set_members(&key).await?;
            if sealed.is_empty() {
                continue;
            }
            self.short.delete(&key).await?;
            return Ok(sealed
                .iter()
                .filter_map(|s| self.unseal(SEAL_CONTEXT, s))
                .collect());
        }
        Ok(Vec::new())
    }

    /// Forgets the PSC link of a session ended by the gateway itself.
    pub async fn forget_session(&self, session_id: &str) {
        let _ = self.short.delete(&link_key(session_id)).await;
    }
}
