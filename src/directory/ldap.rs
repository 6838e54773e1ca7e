//! LDAP backend: searches through the pool with size/time limits and paged results.

use std::collections::HashMap;

use ldap3::adapters::{Adapter, EntriesOnly, PagedResults};
use ldap3::{Scope, SearchEntry, SearchOptions};

use super::config::{AttributeMap, DirectoryConfig};
use super::entry::DirEntry;
use super::filter::FilterTemplates;
use super::pool::LdapPool;
use super::{DirectoryError, SearchOutcome};

#[derive(Debug)]
pub struct LdapBackend {
    pool: LdapPool,
    pub templates: FilterTemplates,
    base_dn: String,
    time_limit_s: u32,
    page_size: u32,
    map: AttributeMap,
}

impl LdapBackend {
    pub fn new(cfg: &DirectoryConfig) -> Result<Self, DirectoryError> {
        Ok(LdapBackend {
            pool: LdapPool::new(cfg)?,
            templates: FilterTemplates::new(&cfg.attributes).map_err(DirectoryError::Config)?,
            base_dn: cfg.base_dn.clone(),
            time_limit_s: cfg.time_limit_s,
            page_size: cfg.page_size.max(1),
            map: cfg.attributes.clone(),
        })
    }

    /// Runs `filter` under the base DN; at most `size_limit` entries (`truncated` if more).
    pub async fn search(
        &self,
        filter: &str,
        size_limit: usize,
    ) -> Result<SearchOutcome, DirectoryError> {
        let mut conn = self.pool.get().await?;
        let op_timeout = self.pool.op_timeout();
        let result = self
            .search_on(conn.ldap(), filter, size_limit, op_timeout)
            .await;
        if result.as_ref().map_or(true, |(_, clean)| !clean) {
            // Timed out, failed or abandoned mid-stream: never hand this connection out again.
            conn.discard();
        }
        result.map(|(o, _)| o)
    }

    async fn search_on(
        &self,
        ldap: &mut ldap3::Ldap,
        filter: &str,
        size_limit: usize,
        op_timeout: std::time::Duration,
    ) -> Result<(SearchOutcome, bool), DirectoryError> {
        let unavailable =
            |e: ldap3::LdapError| DirectoryError::Unavailable(format!("recherche LDAP: {e}"));
        let attrs: Vec<String> = self.templates.wanted.clone();
        let adapters: Vec<Box<dyn Adapter<String, Vec<String>>>> = vec![
            Box::new(EntriesOnly::new()),
            Box::new(PagedResults::new(self.page_size as i32)),
        ];
        let server_limit = i32::try_from(size_limit.saturating_add(1)).unwrap_or(i32::MAX);
        ldap.with_search_options(
            SearchOptions::new()
                .sizelimit(server_limit)
                .timelimit(self.time_limit_s as i32),
        )
        .with_timeout(op_timeout);
        let mut stream = tokio::time::timeout(
            op_timeout,
            ldap.streaming_search_with(adapters, &self.base_dn, Scope::Subtree, filter, attrs),
        )
        .await
        .map_err(|_| DirectoryError::Unavailable("délai de recherche LDAP dépassé".into()))?
        .map_err(unavailable)?;
        let mut out = SearchOutcome::default();
        loop {
            // ldap3 applies `with_timeout` to each read; this bounds the adapter chain too.
            let next = tokio::time::timeout(op_timeout, stream.next())
                .await
                .map_err(|_| DirectoryError::Unavailable("délai de recherche LDAP dépassé".into()))?
                .map_err(unavailable)?;
            let Some(raw) = next else { break };
            if out.entries.len() == size_limit {
                out.truncated = true;
                return Ok((out, false));
            }
            let se = SearchEntry::construct(raw);
            let attrs: HashMap<String, Vec<String>> = se
                .attrs
                .into_iter()
                .map(|(k, v)| (k.to_ascii_lowercase(), v))
                .collect();
            out.entries
                .push(DirEntry::from_attrs(&se.dn, &attrs, &self.map));
        }
        let res = stream.finish().await;
        match res.rc {
            0 => {}
            // sizeLimitExceeded / timeLimitExceeded: partial answer, flagged.
            3 | 4 => out.truncated = true,
            _ => {
                return Err(DirectoryError::Ldap(format!(
                    "LDAP rc={} {}",
                    res.rc, res.text
                )))
            }
        }
        Ok((out, true))
    }

    /// Connectivity and mapping check for `annuaire check`: bind, base DN readable, one
    /// entry carrying the mapped attributes.
    pub async fn check(&self) -> Result<String, DirectoryError> {
        let out = self
            .search(&self.templates.compile(&super::query::Cond::True), 1)
            .await?;
        match out.entries.first() {
            None => Ok(format!(
                "connexion et bind OK; aucune entrée sous {}",
                self.base_dn
            )),
            Some(e) => {
                let missing: Vec<&str> = [("mail", &e.mail), ("sn", &e.last_name)]
                    .iter()
                    .filter(|(_, v)| v.is_empty())
                    .map(|(k, _)| *k)
                    .collect();
                if missing.is_empty() {
                    Ok(format!(
                        "connexion et bind OK; exemple d'entrée: {} <{}>",
                        e.display_name(),
                        e.mail
                    ))
                } else {
                    Err(DirectoryError::Config(format!(
                        "l'entrée {} n'a pas les attributs attendus: {}",
                        e.dn,
                        missing.join(", ")
                    )))
                }
            }
        }
    }
}
