//! Per-request facts every stage can read.

use super::path::Surface;
use crate::auth::secret::{BearerToken, UpstreamToken};
use crate::auth::session::{Session, Stage};
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
    /// The gateway session this request belongs to (both factors done), if any.
    pub session: Option<GatewaySession>,
}

/// A full gateway session (both factors done, store token held).
#[derive(Debug, Clone)]
pub struct GatewaySession {
    /// The session id the client presented (cookie, SOAP header or `zauthtoken`).
    pub id: BearerToken,
    pub session: Session,
    /// The store's token, injected upstream; never shown to the client.
    pub upstream_token: UpstreamToken,
}

impl GatewaySession {
    /// Keeps only sessions that may reach the store.
    pub fn full(id: &str, session: Session) -> Option<Self> {
        if session.stage != Stage::Full {
            return None;
        }
        let upstream_token = session.upstream_token.clone()?;
        Some(GatewaySession {
            id: BearerToken::new(id),
            session,
            upstream_token,
        })
    }

    /// Canonical account name.
    pub fn user(&self) -> &str {
        &self.session.user
    }
}
