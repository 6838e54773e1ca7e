//! THE SOAP DECISION POINT.
//!
//! Every well-formed SOAP body (`/service/soap*`, and `/service/admin/soap*` when
//! opened) passes through [`decide`] exactly once, after strict parsing and before
//! anything reaches the store. Bodies that do not parse never get here: they are
//! answered with a fault by `forward.rs`.
//!
//! Plug-in order (keep it; each step may end the pipeline):
//!   1. session / auth (`soap_auth::step`, run by the caller just before): client
//!      tokens out of the header, `AuthRequest` and two-factor requests answered,
//!      no full session -> `Answer(AUTH_REQUIRED)`; `ctx.session` is set after it;
//!   2. directory (directory engineer): `AutoComplete*`/`SearchGal*` -> `Answer`;
//!   3. policy (policy engineer): outbound catalogue, trust space, sender rewrite,
//!      header values; the uploads and stored items the policy asks for are looked up
//!      (stored items read through the store with the session's token, fail closed)
//!      -> `Answer(fault)` or `ForwardRewritten`;
//!   4. otherwise `Forward` (the original bytes, untouched).
//!
//! Record every decision with `telemetry::record_policy_decision`.

use super::context::RequestContext;
use super::identity::IdentityError;
use crate::policy::config::UnknownRequest;
use crate::policy::requests::Class;
use crate::policy::{self, Decision, ItemRef, StoredItems, UploadInfo, UserContext};
use crate::server::state::AppState;
use crate::soap::{Element, Envelope, Fault, Format, SoapReply, NS_MAIL, NS_ZIMBRA};
use http::HeaderMap;
use std::collections::HashMap;
use std::sync::Arc;

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

/// Decides the fate of one parsed request. `headers` are those going to the store
/// (client tokens stripped, the session's token injected).
pub async fn decide(
    env: &Envelope,
    ctx: &RequestContext,
    headers: &HeaderMap,
    state: &AppState,
) -> SoapAction {
    // ---- 1. auth / session: done before, in `soap_auth::step` (needs `&mut`) ----
    // ---- 2. directory (D1-D5): GAL / autocomplete answered from the annuaire ----
    if let Some(dir) = state
        .directory
        .as_ref()
        .filter(|_| super::directory_hook::wants(env))
    {
        let reply = super::directory_hook::answer(dir, env, headers, ctx, state).await;
        return SoapAction::Answer(reply);
    }
    // ---- 3. policy (M1-M8) ----
    policy_step(env, ctx, headers, state).await
}

/// Outbound catalogue: pass-only envelopes go straight through (no identity lookup)
/// once the rules every request obeys found nothing; anything else is decided by
/// `policy::inspect_full`, default deny, with the uploads and the stored items it
/// asks for (stored items are read through the store with the session's token).
async fn policy_step(
    env: &Envelope,
    ctx: &RequestContext,
    headers: &HeaderMap,
    state: &AppState,
) -> SoapAction {
    let policy = &state.policy;
    let classes: Vec<Option<Class>> = env
        .requests()
        .iter()
        .map(|r| policy.table.class(&r.element.ns, &r.element.name))
        .collect();
    let unknown_allowed = policy.config.unknown_request == UnknownRequest::Allow;
    let passes = |c: &Option<Class>| match c {
        Some(Class::Pass) => true,
        None => unknown_allowed,
        _ => false,
    };
    let pass_only = classes.iter().all(passes);
    if pass_only {
        match policy::inspect(env, &UserContext::default(), policy) {
            Decision::Allow => return SoapAction::Forward,
            Decision::Deny(fault) => return SoapAction::Answer(env.fault(&fault)),
            // A stored item to judge (a request table that made such a request
            // `pass`): decided below with the user's identity.
            _ => {}
        }
    }
    let user = if pass_only || classes.contains(&Some(Class::Inspect)) {
        let Some(session) = &ctx.session else {
            return identity_fault(env, &IdentityError::NoToken);
        };
        match state
            .identities
            .resolve(&session.upstream_token, &state.upstream, &policy.config)
            .await
        {
            Ok(u) => u,
            Err(e) => return identity_fault(env, &e),
        }
    } else {
        // Only refusals left: the verdict does not depend on who asks.
        Arc::new(UserContext::default())
    };
    // Each round answers what the previous one asked for; an upload unknown to the
    // gateway or an item the store does not show is refused (default deny).
    let mut uploads: Option<HashMap<String, UploadInfo>> = None;
    let mut items: Option<HashMap<ItemRef, Result<Element, String>>> = None;
    let decision = loop {
        let d = policy::inspect_full(
            env,
            &user,
            policy,
            &KnownUploads(uploads.as_ref()),
            &KnownItems(items.as_ref()),
        );
        match d {
            Decision::NeedsUploads(aids) if uploads.is_none() => {
                uploads = Some(state.uploads.lookup(&aids).await);
            }
            Decision::NeedsItems(refs) if items.is_none() => {
                items = Some(read_items(&refs, env, ctx, headers, state).await);
            }
            d => break d,
        }
    };
    match decision {
        Decision::Allow => SoapAction::Forward,
        Decision::Rewrite(body) => {
            let mut new = env.clone();
            new.body = body;
            SoapAction::ForwardRewritten(new.to_bytes())
        }
        Decision::Deny(fault) => SoapAction::Answer(env.fault(&fault)),
        Decision::NeedsUploads(_) => SoapAction::Answer(env.fault(&Fault::perm_denied(
            "pièce jointe non vérifiable par la passerelle MSSanté",
        ))),
        Decision::NeedsItems(_) => SoapAction::Answer(env.fault(&Fault::perm_denied(
            "élément enregistré non vérifiable par la passerelle MSSanté",
        ))),
    }
}

/// Uploads looked up so far (`None`: not yet asked).
struct KnownUploads<'a>(Option<&'a HashMap<String, UploadInfo>>);

impl policy::Uploads for KnownUploads<'_> {
    fn get(&self, aid: &str) -> Option<UploadInfo> {
        self.0.and_then(|m| m.get(aid).cloned())
    }
    fn available(&self) -> bool {
        self.0.is_some()
    }
}

/// Stored items read so far (`None`: not yet asked).
struct KnownItems<'a>(Option<&'a HashMap<ItemRef, Result<Element, String>>>);

impl StoredItems for KnownItems<'_> {
    fn get(&self, item: &ItemRef) -> Option<Result<Element, String>> {
        self.0.and_then(|m| m.get(item).cloned())
    }
    fn available(&self) -> bool {
        self.0.is_some()
    }
}

/// Most stored items read for one envelope; further ones are refused.
const MAX_ITEM_READS: usize = 20;

/// Reads each item through the store as the user (the session's store token, the
/// client's delegated-account context kept, nothing else of its header): the answer
/// element, or the reason the item could not be read.
async fn read_items(
    refs: &[ItemRef],
    env: &Envelope,
    ctx: &RequestContext,
    headers: &HeaderMap,
    state: &AppState,
) -> HashMap<ItemRef, Result<Element, String>> {
    let mut out = HashMap::new();
    let token = ctx.session.as_ref().map(|s| &s.upstream_token);
    for (i, item) in refs.iter().enumerate() {
        let answer = match token {
            _ if i >= MAX_ITEM_READS => Err("trop d'éléments enregistrés dans une requête".into()),
            None => Err("aucune session".into()),
            Some(t) => {
                let mut context = Element::new(NS_ZIMBRA, "context").unique();
                if let Some(account) = env.context.as_ref().and_then(|c| c.child("account")) {
                    context = context.with_child(account.clone());
                }
                let read = Envelope {
                    format: Format::Json,
                    context: Some(context),
                    body: item.read_request(),
                };
                super::store_call::send(&state.upstream, read, Some(t), headers, ctx.client_ip)
                    .await
                    .map_err(|f| format!("{} ({})", f.reason, f.code))
            }
        };
        out.insert(item.clone(), answer);
    }
    out
}

/// No usable identity for a request that needs one: never forward it uninspected.
fn identity_fault(env: &Envelope, e: &IdentityError) -> SoapAction {
    let fault = match e {
        IdentityError::NoToken | IdentityError::Refused => Fault::auth_required(),
        IdentityError::Unavailable => Fault::failure("serveur de messagerie indisponible"),
        IdentityError::NoMapping(m) => Fault::perm_denied(&m.to_string()),
    };
    tracing::info!(error = %e, "SOAP request refused: no identity");
    SoapAction::Answer(env.fault(&fault))
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
