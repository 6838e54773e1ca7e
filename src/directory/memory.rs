//! In-memory backend loaded from an LDIF file (demo, tests): same fields, same folded
//! matching as the LDAP filters.

use std::io::BufRead;

use super::config::AttributeMap;
use super::entry::{DirEntry, Folded};
use super::ldif::{read_entries, LdifError};
use super::query::Cond;
use super::SearchOutcome;

#[derive(Debug, Default)]
pub struct MemoryBackend {
    entries: Vec<(DirEntry, Folded)>,
}

impl MemoryBackend {
    /// Keeps the entries carrying the annuaire object class; unlisted ones are dropped.
    pub fn from_ldif(input: impl BufRead, map: &AttributeMap) -> Result<Self, LdifError> {
        let class = map.object_class.to_ascii_lowercase();
        let entries = read_entries(input)?
            .into_iter()
            .filter(|e| {
                e.attrs
                    .get("objectclass")
                    .is_some_and(|v| v.iter().any(|c| c.eq_ignore_ascii_case(&class)))
            })
            .map(|e| DirEntry::from_attrs(&e.dn, &e.attrs, map))
            .filter(|e| !e.unlisted)
            .map(|e| {
                let f = e.folded();
                (e, f)
            })
            .collect();
        Ok(MemoryBackend { entries })
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// At most `size_limit` matches, in file order (`truncated` when more exist).
    pub fn search(&self, cond: &Cond, size_limit: usize) -> SearchOutcome {
        let mut entries = Vec::new();
        let mut truncated = false;
        for (e, f) in &self.entries {
            if cond.matches(e, f) {
                if entries.len() == size_limit {
                    truncated = true;
                    break;
                }
                entries.push(e.clone());
            }
        }
        SearchOutcome { entries, truncated }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LDIF: &str = "dn: mail=a@x.fr,ou=annuaire\nobjectClass: inetOrgPerson\nobjectClass: mssanteBal\nmail: a@x.fr\nsn: ÉLOI\ngivenName: Zoé\n\ndn: mail=b@x.fr,ou=annuaire\nobjectClass: mssanteBal\nmail: b@x.fr\nsn: B\nmssanteListeRouge: TRUE\n\ndn: ou=annuaire\nobjectClass: organizationalUnit\n";

    #[test]
    fn loads_and_searches_skipping_unlisted() {
        let m = MemoryBackend::from_ldif(LDIF.as_bytes(), &AttributeMap::default()).unwrap();
        assert_eq!(m.len(), 1);
        let r = m.search(&Cond::free_text("zoe eloi"), 10);
        assert_eq!(r.entries.len(), 1);
        assert!(!r.truncated);
        assert!(m.search(&Cond::True, 0).truncated);
    }
}
