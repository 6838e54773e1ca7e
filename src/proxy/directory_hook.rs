//! Step 2 of the SOAP pipeline: GAL lookups answered from the annuaire (D1-D5).
//!
//! * `AutoCompleteGalRequest` / `SearchGalRequest`: answered locally, never sent to the
//!   store's own GAL. The caller must hold a full gateway session.
//! * `AutoCompleteRequest`: sent to the store (the user's contacts, which also checks
//!   the token), then merged with the annuaire.
//! * `BatchRequest`: answered here only when *every* child is one of those requests;
//!   a batch mixing directory and other requests is refused (`service.INVALID_REQUEST`).
//!
//! [`wants`] is the synchronous test used by `soap_pipeline::decide`; [`answer`] runs
//! the (async) lookup from `forward.rs`.

use std::sync::Arc;

use http::HeaderMap;

use super::context::RequestContext;
use super::store_call;
use super::upstream::Upstream;
use crate::directory::{config::BackendKind, memory::MemoryBackend, Backend};
use crate::directory::{Directory, DirectoryConfig, DirectoryError};
use crate::server::state::AppState;
use crate::soap::{Element, Envelope, Fault, SoapReply, NS_ACCOUNT, NS_MAIL};

/// The demo annuaire shipped with the crate (default `ldif_file`), so the default
/// configuration works from any working directory.
const EMBEDDED_SAMPLE: &str = include_str!("../../fixtures/annuaire/sample.ldif");
const DEFAULT_LDIF: &str = "fixtures/annuaire/sample.ldif";

/// French reason of a batch mixing annuaire and store requests.
pub const MIXED_BATCH_REASON: &str =
    "Une requête groupée (BatchRequest) ne peut pas mêler recherches dans l'annuaire et autres requêtes";

/// The annuaire answering GAL lookups.
pub struct DirectoryHook {
    pub directory: Directory,
}

impl std::fmt::Debug for DirectoryHook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DirectoryHook")
            .field("directory", &self.directory)
            .finish_non_exhaustive()
    }
}

impl DirectoryHook {
    /// Builds the configured annuaire. The default LDIF path falls back to the copy
    /// embedded in the binary when the file is not found from the working directory.
    pub fn from_config(cfg: &DirectoryConfig) -> Result<Self, DirectoryError> {
        let directory = if cfg.backend == BackendKind::Ldif
            && cfg.ldif_file == std::path::Path::new(DEFAULT_LDIF)
            && !cfg.ldif_file.exists()
        {
            embedded_sample(cfg)?
        } else {
            Directory::from_config(cfg)?
        };
        Ok(Self::new(directory))
    }

    pub fn new(directory: Directory) -> Self {
        DirectoryHook { directory }
    }
}

/// The demo annuaire from the copy compiled into the binary.
fn embedded_sample(cfg: &DirectoryConfig) -> Result<Directory, DirectoryError> {
    let m = MemoryBackend::from_ldif(EMBEDDED_SAMPLE.as_bytes(), &cfg.attributes)
        .map_err(|e| DirectoryError::Config(e.to_string()))?;
    Ok(Directory::with_backend(Backend::Memory(m), cfg))
}

fn is_gal(e: &Element) -> bool {
    e.is(NS_ACCOUNT, "AutoCompleteGalRequest") || e.is(NS_ACCOUNT, "SearchGalRequest")
}

/// Does step 2 take this envelope (a directory request, or a batch holding one)?
pub fn wants(env: &Envelope) -> bool {
    env.requests().iter().any(|r| Directory::handles(r.element))
}

/// Answers a request for which [`wants`] returned true.
pub async fn answer(
    hook: &DirectoryHook,
    env: &Envelope,
    headers: &HeaderMap,
    ctx: &RequestContext,
    state: &AppState,
) -> SoapReply {
    let reqs = env.requests();
    if env.is_batch() && !reqs.iter().all(|r| Directory::handles(r.element)) {
        return env.fault(&Fault::invalid_request(MIXED_BATCH_REASON));
    }
    if reqs.iter().any(|r| is_gal(r.element)) {
        if let Err(f) = check_session(ctx) {
            return env.fault(&f);
        }
    }
    let call = UpstreamCall {
        env,
        headers,
        ctx,
        upstream: &state.upstream,
    };
    if !env.is_batch() {
        return match one(hook, &call, &env.body).await {
            Ok(el) => env.reply(el),
            Err(f) => env.fault(&f),
        };
    }
    let mut entries = Vec::with_capacity(reqs.len());
    for r in &reqs {
        let entry = match one(hook, &call, r.element).await {
            Ok(mut el) => {
                if let Some(id) = r.request_id {
                    el.set_attr("requestId", id);
                }
                el
            }
            Err(f) => f.to_batch_entry(env.format, r.request_id),
        };
        entries.push(entry);
    }
    env.batch_reply(entries)
}

async fn one(
    hook: &DirectoryHook,
    call: &UpstreamCall<'_>,
    req: &Element,
) -> Result<Element, Fault> {
    if req.is(NS_MAIL, "AutoCompleteRequest") {
        let mut single = req.clone();
        single.remove_field("requestId");
        // Only the user's own contacts from the store: its GAL is never consulted.
        single.remove_field("includeGal");
        single.set_attr("includeGal", "0");
        let contacts = call.send(single).await?;
        return hook.directory.answer_autocomplete(req, &contacts).await;
    }
    hook.directory.answer(req, call.env.format).await
}

/// GAL lookups are for signed-in users only: the session layer vouched for them.
fn check_session(ctx: &RequestContext) -> Result<(), Fault> {
    ctx.session
        .as_ref()
        .map(|_| ())
        .ok_or_else(Fault::auth_required)
}

/// One SOAP call to the store on behalf of the client (its token and cookies).
struct UpstreamCall<'a> {
    env: &'a Envelope,
    headers: &'a HeaderMap,
    ctx: &'a RequestContext,
    upstream: &'a Upstream,
}

impl UpstreamCall<'_> {
    /// Sends `body` in the client's format and returns the response element, or the
    /// store's fault.
    async fn send(&self, body: Element) -> Result<Element, Fault> {
        let env = Envelope {
            format: self.env.format,
            context: self.env.context.clone(),
            body,
        };
        let token = self.ctx.session.as_ref().map(|s| &s.upstream_token);
        store_call::send(self.upstream, env, token, self.headers, self.ctx.client_ip).await
    }
}

/// Shared handle stored in `AppState`.
pub type SharedHook = Arc<DirectoryHook>;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::soap::{Format, NS_ZIMBRA};

    fn env(body: Element) -> Envelope {
        Envelope {
            format: Format::Json,
            context: None,
            body,
        }
    }

    #[tokio::test]
    async fn embedded_sample_answers() {
        let dir = embedded_sample(&DirectoryConfig::default()).unwrap();
        let req = Element::new(NS_ACCOUNT, "AutoCompleteGalRequest")
            .with_child(Element::new(NS_ACCOUNT, "name").with_text("sanchez"));
        let r = dir.answer(&req, Format::Json).await.unwrap();
        assert!(!r.children.is_empty());
    }

    #[test]
    fn wants_directory_requests_and_batches_holding_one() {
        let gal = Element::new(NS_ACCOUNT, "SearchGalRequest");
        let info = Element::new(NS_ACCOUNT, "GetInfoRequest");
        assert!(wants(&env(gal.clone())));
        assert!(wants(&env(Element::new(NS_MAIL, "AutoCompleteRequest"))));
        assert!(!wants(&env(info.clone())));
        let batch = Element::new(NS_ZIMBRA, "BatchRequest");
        assert!(wants(&env(batch
            .clone()
            .with_child(info.clone())
            .with_child(gal))));
        assert!(!wants(&env(batch.with_child(info))));
    }

    #[test]
    fn store_faults_are_read_in_every_format() {
        let f = Fault::new("service.AUTH_EXPIRED", "expired");
        for format in [Format::Json, Format::Soap12, Format::Soap11] {
            let reply = f.reply(format);
            let parsed = Envelope::parse(&reply.body).unwrap();
            let back = store_call::fault_from(&parsed.body);
            assert_eq!(
                (back.code.as_str(), back.reason.as_str()),
                ("service.AUTH_EXPIRED", "expired"),
                "{format:?}"
            );
        }
    }
}
