//! From a person to the operator's mailboxes. The key is the national identifier
//! (`SubjectNameID`), never the e-mail: first the operator's own `psc_overrides`
//! table, then the annuaire (RPPS/ADELI attribute of the mapping), keeping only the
//! addresses this operator hosts (`policy.mssante_domains`, or an explicit
//! `policy.sender_overrides` entry).

use super::claims::{NationalId, Person};
use super::error::PscError;
use super::PscService;
use crate::directory::DirEntry;
use crate::policy::config::PolicyConfig;
use serde::{Deserialize, Serialize};

/// A mailbox the person may open.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Mailbox {
    /// The store account to open.
    pub account: String,
    /// The annuaire's MSSanté address it must carry (`None`: a `psc_overrides` link).
    pub address: Option<String>,
    /// What the choice page shows.
    pub label: String,
}

/// The outcome of the lookup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resolution {
    /// One or more personal mailboxes (several: the person chooses).
    Personal(Vec<Mailbox>),
    /// Only organisational (or applicative, cabinet) mailboxes: PSC opens personal ones.
    OrganisationalOnly(Vec<String>),
    /// Nothing hosted here.
    NotFound,
}

/// The store account behind an MSSanté address, if this operator hosts it.
pub fn hosted_account(address: &str, policy: &PolicyConfig) -> Option<String> {
    let addr = address.trim();
    if let Some((account, _)) = policy
        .sender_overrides
        .iter()
        .find(|(_, v)| v.trim().eq_ignore_ascii_case(addr))
    {
        return Some(account.trim().to_ascii_lowercase());
    }
    let (local, domain) = addr.rsplit_once('@')?;
    if local.is_empty() {
        return None;
    }
    policy
        .mssante_domains
        .iter()
        .any(|d| d.eq_ignore_ascii_case(domain))
        .then(|| addr.to_ascii_lowercase())
}

/// Sorts annuaire entries into personal and other mailboxes hosted here.
pub fn resolve_entries(entries: &[DirEntry], policy: &PolicyConfig) -> Resolution {
    let mut personal: Vec<Mailbox> = Vec::new();
    let mut other: Vec<String> = Vec::new();
    for e in entries {
        let Some(account) = hosted_account(&e.mail, policy) else {
            continue;
        };
        if e.mailbox_type.eq_ignore_ascii_case("PER") {
            if !personal.iter().any(|m| m.account == account) {
                let name = e.display_name();
                let label = if e.structure.is_empty() {
                    format!("{name} — {}", e.mail)
                } else {
                    format!("{name}, {} — {}", e.structure, e.mail)
                };
                personal.push(Mailbox {
                    account,
                    address: Some(e.mail.trim().to_ascii_lowercase()),
                    label,
                });
            }
        } else if !other.contains(&account) {
            other.push(account);
        }
    }
    personal.sort_by(|a, b| a.account.cmp(&b.account));
    if !personal.is_empty() {
        Resolution::Personal(personal)
    } else if !other.is_empty() {
        Resolution::OrganisationalOnly(other)
    } else {
        Resolution::NotFound
    }
}

impl PscService {
    /// The mailboxes of `person`.
    pub async fn mailboxes(&self, person: &Person) -> Result<Resolution, PscError> {
        if let Some(account) = self.durable.psc_override(&person.id_nat).await? {
            return Ok(Resolution::Personal(vec![Mailbox {
                label: account.clone(),
                account,
                address: None,
            }]));
        }
        let bare = match &person.kind {
            NationalId::Rpps(n) | NationalId::Adeli(n) => n,
            // EDIT test identities and other forms: only through psc_overrides.
            NationalId::Opaque => return Ok(Resolution::NotFound),
        };
        let mut entries = Vec::new();
        // The annuaire holds idNat (8+RPPS) and the bare RPPS/ADELI; either may be filled.
        for id in [person.id_nat.as_str(), bare.as_str()] {
            let found = self
                .directory
                .entries_for_identifier(id)
                .await
                .map_err(|e| PscError::Directory(e.to_string()))?;
            entries.extend(found);
        }
        Ok(resolve_entries(&entries, &self.policy))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> PolicyConfig {
        let mut p = PolicyConfig {
            mssante_domains: vec!["esantepdl.mssante.fr".into(), "chu.mssante.fr".into()],
            ..PolicyConfig::default()
        };
        p.sender_overrides.insert(
            "jd@hopital.local".into(),
            "jean.dupont@chu.mssante.fr".into(),
        );
        p
    }

    fn entry(mail: &str, kind: &str) -> DirEntry {
        DirEntry {
            mail: mail.into(),
            mailbox_type: kind.into(),
            first_name: "Jean".into(),
            last_name: "Dupont".into(),
            ..DirEntry::default()
        }
    }

    #[test]
    fn hosted_addresses_only() {
        let p = policy();
        assert_eq!(
            hosted_account("Antoine.Lefevre@esantepdl.mssante.fr", &p).as_deref(),
            Some("antoine.lefevre@esantepdl.mssante.fr")
        );
        assert_eq!(
            hosted_account("jean.dupont@chu.mssante.fr", &p).as_deref(),
            Some("jd@hopital.local")
        );
        assert_eq!(hosted_account("x@ailleurs.mssante.fr", &p), None);
        assert_eq!(hosted_account("@esantepdl.mssante.fr", &p), None);
    }

    #[test]
    fn personal_first_then_organisational() {
        let p = policy();
        let one = resolve_entries(&[entry("a@esantepdl.mssante.fr", "PER")], &p);
        assert!(matches!(&one, Resolution::Personal(v) if v.len() == 1));
        let two = resolve_entries(
            &[
                entry("b@chu.mssante.fr", "PER"),
                entry("a@esantepdl.mssante.fr", "PER"),
                entry("a@esantepdl.mssante.fr", "PER"),
                entry("secretariat@chu.mssante.fr", "ORG"),
                entry("z@ailleurs.mssante.fr", "PER"),
            ],
            &p,
        );
        match two {
            Resolution::Personal(v) => {
                assert_eq!(
                    v.iter().map(|m| m.account.as_str()).collect::<Vec<_>>(),
                    ["a@esantepdl.mssante.fr", "b@chu.mssante.fr"]
                );
                assert!(v[0].label.contains("Jean Dupont"));
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(
            resolve_entries(&[entry("secretariat@chu.mssante.fr", "ORG")], &p),
            Resolution::OrganisationalOnly(vec!["secretariat@chu.mssante.fr".into()])
        );
        assert_eq!(
            resolve_entries(&[entry("z@ailleurs.mssante.fr", "PER")], &p),
            Resolution::NotFound
        );
    }
}
