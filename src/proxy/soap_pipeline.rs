//! THE SOAP DECISION POINT.
//!
//! Every well-formed SOAP body (`/service/soap*`, and `/service/admin/soap*` when
//! opened) passes through [`decide`] exactly once, after strict parsing and before
//! anything reaches the store. Bodies that do not parse never get here: they are
//! answered with a fault by `forward.rs`.
//!
//! Plug-in order (keep it; each step may end the pipeline):
//!   1. session / auth (auth engineer): `AuthRequest` 2FA, token injection via
//!      `ctx.upstream_token`, gateway-served 2FA requests -> `Answer`;
//!   2. directory (directory engineer): `AutoComplete*`/`SearchGal*` -> `Answer`;
//!   3. policy (policy engineer): outbound catalogue, trust space, sender rewrite
//!      -> `Answer(fault)` or `ForwardRewritten`;
//!   4. otherwise `Forward` (the original bytes, untouched).
//!
//! Record every decision with `telemetry::record_policy_decision`.

use super::context::RequestContext;
use crate::server::state::AppState;
use crate::soap::{Element, Envelope, SoapReply, NS_MAIL, NS_ZIMBRA};

/// What to do with a parsed SOAP request.
#[derive(Debug)]
pub enum SoapAction {
    /// Send the client's original bytes to the store, byte for byte.
    Forward,
    /// Send these bytes instead (a rewritten envelope in the client's format).
    ForwardRewritten(Vec<u8>),
    /// Do not contact the store; answer this (response or fault).
    Answer(SoapReply),
}

impl SoapAction {
    /// Label for `gateway_policy_decisions_total`.
    pub fn label(&self) -> &'static str {
        match self {
            SoapAction::Forward => "forward",
            SoapAction::ForwardRewritten(_) => "rewrite",
            SoapAction::Answer(r) if r.status >= 400 => "refuse",
            SoapAction::Answer(_) => "answer",
        }
    }
}

/// Decides the fate of one parsed request. Today: forward everything well-formed.
pub fn decide(env: &Envelope, ctx: &RequestContext, state: &AppState) -> SoapAction {
    // ---- 1. auth / session hooks go here ----
    // ---- 2. directory hooks go here ----
    // ---- 3. policy hooks go here ----
    let _ = (env, ctx, state);
    SoapAction::Forward
}

/// Whether the store may hold this request open (NoOpRequest `wait`, WaitSetRequest
/// `block`), alone or inside a BatchRequest: such requests get the long-poll timeout.
pub fn is_long_poll(env: &Envelope) -> bool {
    env.requests().iter().any(|r| waits(r.element))
}

fn waits(e: &Element) -> bool {
    let flag = |name: &str| matches!(e.attr_bool(name), Ok(Some(true)));
    (e.is(NS_MAIL, "NoOpRequest") && flag("wait"))
        || (e.is(NS_MAIL, "WaitSetRequest") && (flag("block") || flag("wait")))
        || (e.is(NS_ZIMBRA, "NoOpRequest") && flag("wait"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::soap::Format;

    fn env(body: Element) -> Envelope {
        Envelope {
            format: Format::Json,
            context: None,
            body,
        }
    }

    #[test]
    fn long_polls() {
        let noop = Element::new(NS_MAIL, "NoOpRequest").with_attr("wait", "1");
        assert!(is_long_poll(&env(noop.clone())));
        assert!(!is_long_poll(&env(Element::new(NS_MAIL, "NoOpRequest"))));
        let ws = Element::new(NS_MAIL, "WaitSetRequest").with_attr("block", "true");
        assert!(is_long_poll(&env(ws)));
        let batch = Element::new(NS_ZIMBRA, "BatchRequest").with_child(noop);
        assert!(is_long_poll(&env(batch)));
        let info = Element::new(crate::soap::NS_ACCOUNT, "GetInfoRequest");
        assert!(!is_long_poll(&env(info)));
    }
}
