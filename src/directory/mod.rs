//! Annuaire (D1-D5): GAL and autocomplete answered from the MSSanté directory.
//!
//! * `Directory::answer` turns an `AutoCompleteGalRequest`, `SearchGalRequest` or
//!   `AutoCompleteRequest` into Zimbra's response element (`render` for the shapes);
//!   `render::merge_autocomplete` merges with the user's own contacts.
//! * Backends (`Backend::Ldap | Backend::Memory`) share one `query::Cond` model, so the
//!   LDIF demo and a real LDAP server match the same way (accent/case folded keys).
//! * An answer cache with single-flight loads serves stale answers while LDAP is down.
//! * `import` converts the national extraction to LDIF for `deploy/ldap/` schema; `cli`
//!   holds the `annuaire import|check` command.

pub mod cache;
pub mod cli;
pub mod config;
pub mod entry;
pub mod filter;
pub mod import;
pub mod ldap;
pub mod ldif;
pub mod memory;
pub mod normalize;
pub mod pool;
pub mod query;
pub mod render;
pub mod schema;

use std::sync::Arc;
use std::time::Duration;

use crate::soap::{Element, Fault, Format, NS_ACCOUNT, NS_MAIL};

pub use cache::Source;
pub use cli::{run_annuaire_cli, AnnuaireArgs};
pub use config::DirectoryConfig;
pub use entry::DirEntry;
pub use import::{import_extraction, ImportOptions, ImportStats};
use query::{Cond, Field, Kind, Op, Query};

/// French reason of the fault returned while the annuaire cannot be reached.
pub const UNAVAILABLE_REASON: &str = "L'annuaire est momentanément indisponible";

#[derive(Debug, Clone, thiserror::Error)]
pub enum DirectoryError {
    /// Cannot reach or bind the server, or it does not answer in time.
    #[error("annuaire injoignable: {0}")]
    Unavailable(String),
    /// The server answered with an error.
    #[error("erreur LDAP: {0}")]
    Ldap(String),
    #[error("configuration de l'annuaire: {0}")]
    Config(String),
}

impl DirectoryError {
    /// The fault a client sees: one French message, no internal detail.
    pub fn to_fault(&self) -> Fault {
        let mut f = Fault::new("service.TEMPORARILY_UNAVAILABLE", UNAVAILABLE_REASON);
        f.receiver = true;
        f
    }
}

/// Entries found by a backend, in backend order.
#[derive(Debug, Clone, Default)]
pub struct SearchOutcome {
    pub entries: Vec<DirEntry>,
    /// The size limit cut the answer.
    pub truncated: bool,
}

/// The one dispatch point over backends.
#[derive(Debug)]
pub enum Backend {
    Ldap(Box<ldap::LdapBackend>),
    Memory(memory::MemoryBackend),
}

impl Backend {
    async fn search(
        &self,
        cond: &Cond,
        size_limit: usize,
    ) -> Result<SearchOutcome, DirectoryError> {
        match self {
            Backend::Ldap(l) => l.search(&l.templates.compile(cond), size_limit).await,
            Backend::Memory(m) => Ok(m.search(cond, size_limit)),
        }
    }
}

/// The annuaire as the gateway uses it: backend + cache + limits.
#[derive(Clone)]
pub struct Directory {
    backend: Arc<Backend>,
    cache: cache::AnswerCache,
    cfg: Arc<DirectoryConfig>,
}

impl std::fmt::Debug for Directory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Directory")
            .field("backend", &self.backend)
            .finish_non_exhaustive()
    }
}

impl Directory {
    /// Builds the configured backend (loads the LDIF file for `ldif`; LDAP connects lazily).
    pub fn from_config(cfg: &DirectoryConfig) -> Result<Self, DirectoryError> {
        cfg.attributes.validate().map_err(DirectoryError::Config)?;
        let backend = match cfg.backend {
            config::BackendKind::Ldap => Backend::Ldap(Box::new(ldap::LdapBackend::new(cfg)?)),
            config::BackendKind::Ldif => {
                let f = std::fs::File::open(&cfg.ldif_file).map_err(|e| {
                    DirectoryError::Config(format!("ldif_file {}: {e}", cfg.ldif_file.display()))
                })?;
                let m =
                    memory::MemoryBackend::from_ldif(std::io::BufReader::new(f), &cfg.attributes)
                        .map_err(|e| DirectoryError::Config(e.to_string()))?;
                Backend::Memory(m)
            }
        };
        Ok(Self::with_backend(backend, cfg))
    }

    pub fn with_backend(backend: Backend, cfg: &DirectoryConfig) -> Self {
        Directory {
            backend: Arc::new(backend),
            cache: cache::AnswerCache::new(
                Duration::from_secs(cfg.cache_ttl_s),
                Duration::from_secs(cfg.cache_stale_s),
                cfg.cache_capacity,
            ),
            cfg: Arc::new(cfg.clone()),
        }
    }

    pub fn backend(&self) -> &Backend {
        &self.backend
    }

    /// Does this module answer (the GAL part of) this request?
    pub fn handles(req: &Element) -> bool {
        req.is(NS_ACCOUNT, "AutoCompleteGalRequest")
            || req.is(NS_ACCOUNT, "SearchGalRequest")
            || req.is(NS_MAIL, "AutoCompleteRequest")
    }

    /// The Zimbra response to an `AutoCompleteGalRequest`, `SearchGalRequest` or
    /// `AutoCompleteRequest` (annuaire matches only; see `answer_autocomplete` to merge
    /// the user's contacts). The element is format-neutral: the SOAP writer renders it
    /// in `_format`.
    pub async fn answer(&self, req: &Element, _format: Format) -> Result<Element, Fault> {
        self.answer_with_source(req).await.map(|(e, _)| e)
    }

    /// Like `answer`, also telling whether a stale cached answer was used.
    pub async fn answer_with_source(&self, req: &Element) -> Result<(Element, Source), Fault> {
        let kind = if req.is(NS_ACCOUNT, "AutoCompleteGalRequest") {
            Kind::AutoCompleteGal
        } else if req.is(NS_ACCOUNT, "SearchGalRequest") {
            Kind::SearchGal
        } else if req.is(NS_MAIL, "AutoCompleteRequest") {
            Kind::AutoComplete
        } else {
            return Err(Fault::unknown_document(&format!(
                "{{{}}}{}",
                req.ns, req.name
            )));
        };
        let q = Query::from_request(kind, req, &self.cfg)?;
        let (page, more, src) = self.run(&q).await?;
        let several = req.attr("name").unwrap_or("").split_whitespace().count() > 1;
        let el = match kind {
            Kind::SearchGal => render::search_gal_response(&page, more, q.offset, q.descending),
            Kind::AutoCompleteGal => render::autocomplete_gal_response(&page, more, several),
            Kind::AutoComplete => render::merge_autocomplete(None, &page, q.limit),
        };
        Ok((el, src))
    }

    /// `AutoCompleteRequest`: the upstream answer (the user's contacts) merged with the
    /// annuaire. With `includeGal="0"` the upstream answer is returned unchanged.
    pub async fn answer_autocomplete(
        &self,
        req: &Element,
        upstream: &Element,
    ) -> Result<Element, Fault> {
        if req.attr_bool("includeGal").ok().flatten() == Some(false) {
            return Ok(upstream.clone());
        }
        let q = Query::from_request(Kind::AutoComplete, req, &self.cfg)?;
        let (page, _, _) = self.run(&q).await?;
        Ok(render::merge_autocomplete(Some(upstream), &page, q.limit))
    }

    /// Searches (cached), sorts by name and cuts the requested page.
    async fn run(&self, q: &Query) -> Result<(Vec<DirEntry>, bool, Source), Fault> {
        let (all, src) = self.search_cached(&q.cond).await.map_err(|e| {
            tracing::warn!(error = %e, "annuaire: recherche impossible");
            e.to_fault()
        })?;
        // Entries are cached already sorted by name (see `search_cached`).
        let total = all.entries.len();
        let page: Vec<DirEntry> = if q.descending {
            all.entries
                .iter()
                .rev()
                .skip(q.offset)
                .take(q.limit)
                .cloned()
                .collect()
        } else {
            all.entries
                .iter()
                .skip(q.offset)
                .take(q.limit)
                .cloned()
                .collect()
        };
        let more = all.truncated || total > q.offset + page.len();
        Ok((page, more, src))
    }

    async fn search_cached(
        &self,
        cond: &Cond,
    ) -> Result<(Arc<SearchOutcome>, Source), DirectoryError> {
        let key = format!("{cond:?}");
        let backend = self.backend.clone();
        let limit = self.cfg.size_limit;
        let cond = cond.clone();
        self.cache
            .get_or_load(key, async move {
                let mut out = backend.search(&cond, limit).await?;
                // Sorted once per load, not per cache hit.
                out.entries.sort_by_cached_key(|e| {
                    let f = e.folded();
                    (f.last_name, f.first_name, e.mail.to_lowercase())
                });
                Ok(out)
            })
            .await
    }

    /// The MSSanté address of a practitioner (Pro Santé Connect login), from an RPPS
    /// (11 digits), ADELI (9 digits) or national id (8+RPPS / 0+ADELI). A personal (PER)
    /// mailbox is preferred; ties go to the smallest address.
    pub async fn mailbox_for_identifier(
        &self,
        rpps_or_adeli: &str,
    ) -> Result<Option<String>, DirectoryError> {
        let id = rpps_or_adeli.trim();
        if id.is_empty() || id.len() > 16 || !id.chars().all(|c| c.is_ascii_alphanumeric()) {
            return Ok(None);
        }
        let cond = Cond::field(Field::Identifier, Op::Eq, id);
        let (out, _) = self.search_cached(&cond).await?;
        let best = out
            .entries
            .iter()
            .min_by_key(|e| (e.mailbox_type != "PER", e.mail.to_lowercase()));
        Ok(best.map(|e| e.mail.clone()))
    }

    /// The address as the annuaire lists it when it lists `address` (exact, case
    /// folded): used to resolve a login name to its account when the store's admin API
    /// is not configured.
    pub async fn mailbox_for_address(
        &self,
        address: &str,
    ) -> Result<Option<String>, DirectoryError> {
        let a = address.trim();
        if a.is_empty() || a.len() > 254 || !a.contains('@') {
            return Ok(None);
        }
        let cond = Cond::field(Field::Email, Op::Eq, a);
        let (out, _) = self.search_cached(&cond).await?;
        Ok(out
            .entries
            .iter()
            .find(|e| e.mail.eq_ignore_ascii_case(a))
            .or_else(|| out.entries.first())
            .map(|e| e.mail.clone()))
    }

    /// Every entry whose national id (8+RPPS / 0+ADELI) or RPPS/ADELI number is `id`
    /// (Pro Santé Connect: a person's mailboxes, personal and organisational).
    pub async fn entries_for_identifier(&self, id: &str) -> Result<Vec<DirEntry>, DirectoryError> {
        let id = id.trim();
        if id.is_empty() || id.len() > 16 || !id.chars().all(|c| c.is_ascii_alphanumeric()) {
            return Ok(Vec::new());
        }
        let cond = Cond::field(Field::Identifier, Op::Eq, id);
        Ok(self.search_cached(&cond).await?.0.entries.clone())
    }

    /// Drops every cached answer (after an import, for instance).
    pub fn clear_cache(&self) {
        self.cache.invalidate_all();
    }
}

#[cfg(test)]
mod tests;
