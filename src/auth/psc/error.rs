//! Everything that can stop a PSC login, with the reason code its audit event carries.
//! The French page for each is chosen in one place (`portal::psc_flow::error_page`).

use super::claims::ClaimError;
use super::jose::JoseError;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PscError {
    /// PSC's discovery, keys, token or UserInfo endpoint cannot be reached.
    #[error("PSC unreachable: {0}")]
    Unreachable(String),
    /// PSC answered something unusable (discovery, keys, token response).
    #[error("PSC answer unusable: {0}")]
    BadAnswer(String),
    /// The user cancelled at PSC (`error=access_denied`).
    #[error("access denied at PSC")]
    AccessDenied,
    /// Another `error=` on the return.
    #[error("PSC returned error {0}")]
    ProviderError(String),
    /// No login started with this `state` (forged, mismatched or already used).
    #[error("unknown or already used state")]
    UnknownState,
    /// The return came to another browser than the one that started the login.
    #[error("state bound to another browser")]
    OtherBrowser,
    /// The return came after `flow_timeout_secs`.
    #[error("login flow expired")]
    FlowExpired,
    /// The token endpoint refused the code (replayed, expired, PKCE mismatch…).
    #[error("token endpoint refused the code: {0}")]
    CodeRefused(String),
    /// A token's signature or header is not acceptable.
    #[error("token signature: {0}")]
    Signature(JoseError),
    /// A token's claims are not acceptable.
    #[error("token claims: {0}")]
    Claims(ClaimError),
    /// UserInfo unusable (status, type, unsigned while a signature is required).
    #[error("UserInfo: {0}")]
    UserInfo(String),
    /// The annuaire cannot be searched.
    #[error("annuaire: {0}")]
    Directory(String),
    /// The gateway's own state (short-lived or durable store) failed.
    #[error("gateway store: {0}")]
    Store(String),
    /// The mail store refused the preauth or could not be reached.
    #[error("mail store: {0}")]
    MailStore(String),
}

impl PscError {
    /// The audit event's `reason`.
    pub fn reason(&self) -> &'static str {
        match self {
            PscError::Unreachable(_) => "psc_unreachable",
            PscError::BadAnswer(_) => "psc_bad_answer",
            PscError::AccessDenied => "access_denied",
            PscError::ProviderError(_) => "provider_error",
            PscError::UnknownState => "state_unknown_or_replayed",
            PscError::OtherBrowser => "state_other_browser",
            PscError::FlowExpired => "flow_expired",
            PscError::CodeRefused(_) => "code_refused",
            PscError::Signature(JoseError::AlgNone) => "alg_none",
            PscError::Signature(JoseError::AlgNotAllowed(_)) => "alg_not_allowed",
            PscError::Signature(JoseError::BadSignature) => "bad_signature",
            PscError::Signature(JoseError::UnknownKey(_) | JoseError::NoUsableKey(_)) => {
                "unknown_key"
            }
            PscError::Signature(_) => "malformed_token",
            PscError::Claims(c) => c.reason(),
            PscError::UserInfo(_) => "userinfo_refused",
            PscError::Directory(_) => "annuaire_unavailable",
            PscError::Store(_) => "gateway_store_unavailable",
            PscError::MailStore(_) => "mail_store_refused",
        }
    }
}

impl From<JoseError> for PscError {
    fn from(e: JoseError) -> Self {
        PscError::Signature(e)
    }
}

impl From<ClaimError> for PscError {
    fn from(e: ClaimError) -> Self {
        PscError::Claims(e)
    }
}

impl From<crate::store::StoreError> for PscError {
    fn from(e: crate::store::StoreError) -> Self {
        PscError::Store(e.to_string())
    }
}
