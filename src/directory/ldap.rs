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
        let started = std::time::Instant::now();
        let result = self
            .search_on(conn.ldap(), filter, size_limit, op_timeout)
            .await;
        let outcome = match &result {
            Ok(_) => crate::telemetry::LdapOutcome::Ok,
            Err(DirectoryError::Unavailable(_)) => crate::telemetry::LdapOutcome::Unavailable,
            Err(_) => crate::telemetry::LdapOutcome::Refused,
        };
        crate::telemetry::record_ldap("search", started.elapsed(), outcome);
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

    /// Connectivity and mapping check for `annuaire check`: bind, base DN present,
    /// every mapped attribute and the object class known to the server's schema, one
    /// entry carrying the mapped attributes.
    pub async fn check(&self) -> Result<String, DirectoryError> {
        let schema_note = {
            let mut conn = self.pool.get().await?;
            self.check_base(conn.ldap()).await?;
            self.check_schema(conn.ldap()).await?
        };
        let out = self
            .search(&self.templates.compile(&super::query::Cond::True), 1)
            .await?;
        match out.entries.first() {
            None => Ok(format!(
                "connexion et bind OK; {schema_note}; aucune entrée sous {}",
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
                        "connexion et bind OK; {schema_note}; exemple d'entrée: {} <{}>",
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

    /// One base-scope read (`annuaire check` only).
    async fn read_base(
        &self,
        ldap: &mut ldap3::Ldap,
        dn: &str,
        filter: &str,
        attrs: Vec<&str>,
    ) -> Result<(Vec<SearchEntry>, ldap3::LdapResult), DirectoryError> {
        let ldap3::SearchResult(entries, res) = ldap
            .with_timeout(self.pool.op_timeout())
            .search(dn, Scope::Base, filter, attrs)
            .await
            .map_err(|e| DirectoryError::Unavailable(format!("lecture de {dn:?}: {e}")))?;
        Ok((
            entries.into_iter().map(SearchEntry::construct).collect(),
            res,
        ))
    }

    /// `directory.base_dn` must exist: a search under a missing base fails with
    /// noSuchObject (rc=32) on every lookup.
    async fn check_base(&self, ldap: &mut ldap3::Ldap) -> Result<(), DirectoryError> {
        let (_, res) = self
            .read_base(ldap, &self.base_dn, "(objectClass=*)", vec!["1.1"])
            .await?;
        match res.rc {
            0 => Ok(()),
            32 => Err(DirectoryError::Config(format!(
                "directory.base_dn: la base {:?} n'existe pas sur le serveur (noSuchObject); \
                 vérifiez base_dn ou chargez l'annuaire (deploy/ldap/README.md)",
                self.base_dn
            ))),
            rc => Err(DirectoryError::Ldap(format!(
                "directory.base_dn: lecture de {:?} refusée (rc={rc} {})",
                self.base_dn, res.text
            ))),
        }
    }

    /// Every mapped attribute and the object class must be defined in the server's
    /// schema (subschema subentry). Returns a note for the report; an unreadable schema
    /// is said, not guessed.
    async fn check_schema(&self, ldap: &mut ldap3::Ldap) -> Result<String, DirectoryError> {
        let attr = |e: &SearchEntry, name: &str| -> Vec<String> {
            e.attrs
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.clone())
                .unwrap_or_default()
        };
        let (root, _) = self
            .read_base(ldap, "", "(objectClass=*)", vec!["subschemaSubentry"])
            .await?;
        let Some(dn) = root
            .first()
            .and_then(|e| attr(e, "subschemaSubentry").into_iter().next())
        else {
            return Ok("schéma non vérifié (subschemaSubentry illisible)".into());
        };
        let (sub, _) = self
            .read_base(
                ldap,
                &dn,
                "(objectClass=subschema)",
                vec!["attributeTypes", "objectClasses"],
            )
            .await?;
        let Some(sub) = sub.first() else {
            return Ok(format!("schéma non vérifié ({dn} illisible)"));
        };
        let types = super::schema::names(&attr(sub, "attributeTypes"));
        let classes = super::schema::names(&attr(sub, "objectClasses"));
        let mut missing: Vec<String> = self
            .map
            .named()
            .into_iter()
            .filter(|(_, name)| !types.contains(&name.to_ascii_lowercase()))
            .map(|(key, name)| format!("directory.attributes.{key} = {name:?}"))
            .collect();
        if !classes.contains(&self.map.object_class.to_ascii_lowercase()) {
            missing.push(format!(
                "directory.attributes.object_class = {:?} (classe d'objet)",
                self.map.object_class
            ));
        }
        if missing.is_empty() {
            Ok(format!(
                "schéma OK ({} attributs associés définis)",
                self.map.named().len()
            ))
        } else {
            Err(DirectoryError::Config(format!(
                "absents du schéma du serveur: {} (chargez deploy/ldap/mssante-annuaire.schema \
                 ou corrigez [directory.attributes])",
                missing.join(", ")
            )))
        }
    }
}
