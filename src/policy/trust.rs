//! The trust space: ANS whitelist domains, local additions/removals, patient addresses.

use super::address::{parse_address_list, Mailbox};
use super::domain::normalize_domain;
use std::collections::HashSet;
use thiserror::Error;

/// Why one address is outside the trust space.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum Refusal {
    #[error("domaine hors de l'espace de confiance")]
    Domain,
    #[error("adresse patient invalide (15 chiffres attendus)")]
    Patient,
    #[error("adresse invalide")]
    Syntax,
}

/// One immutable snapshot of the trust space (swapped whole on reload).
#[derive(Debug, Clone, Default)]
pub struct TrustSpace {
    domains: HashSet<String>,
    /// Exact addresses added locally (`+user@domain`), lowercased.
    addresses: HashSet<String>,
    patient_domain: String,
    /// Domains in the ANS list before local changes (for reports/metrics).
    pub ans_domains: usize,
    pub generated: Option<String>,
}

/// Errors in the local additions/removals file.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("fichier local de l'espace de confiance, ligne {line} : {what}")]
pub struct LocalFileError {
    pub line: usize,
    pub what: String,
}

impl TrustSpace {
    pub fn new(domains: HashSet<String>, patient_domain: &str) -> Self {
        let patient_domain = normalize_domain(patient_domain).unwrap_or_default();
        TrustSpace {
            ans_domains: domains.len(),
            domains,
            addresses: HashSet::new(),
            patient_domain,
            generated: None,
        }
    }

    /// Applies `+domain` / `-domain` / `+user@domain` lines.
    pub fn apply_local(&mut self, text: &str) -> Result<(), LocalFileError> {
        for (n, raw) in text.lines().enumerate() {
            let line = raw.split('#').next().unwrap_or("").trim();
            if line.is_empty() {
                continue;
            }
            let err = |what: &str| LocalFileError {
                line: n + 1,
                what: what.into(),
            };
            let (add, item) = match line.split_at(1) {
                ("+", rest) => (true, rest.trim()),
                ("-", rest) => (false, rest.trim()),
                _ => return Err(err("'+' ou '-' attendu")),
            };
            if let Some((local, dom)) = item.rsplit_once('@') {
                let dom = normalize_domain(dom).map_err(|e| err(&e.to_string()))?;
                let addr = format!("{}@{dom}", local.to_lowercase());
                if add {
                    self.addresses.insert(addr);
                } else {
                    self.addresses.remove(&addr);
                }
            } else {
                let dom = normalize_domain(item).map_err(|e| err(&e.to_string()))?;
                if add {
                    self.domains.insert(dom);
                } else {
                    self.domains.remove(&dom);
                }
            }
        }
        Ok(())
    }

    pub fn len(&self) -> usize {
        self.domains.len()
    }

    pub fn is_empty(&self) -> bool {
        self.domains.is_empty()
    }

    /// Exact (normalised) domain membership.
    pub fn contains_domain(&self, domain: &str) -> bool {
        match normalize_domain(domain) {
            Ok(d) => self.domains.contains(&d),
            Err(_) => false,
        }
    }

    /// Checks one parsed mailbox.
    pub fn check_mailbox(&self, m: &Mailbox) -> Result<(), Refusal> {
        let domain = normalize_domain(&m.domain).map_err(|_| Refusal::Domain)?;
        // Routing characters in the local part could re-route at the next hop.
        if m.local.is_empty()
            || m.local.contains(['%', '!', '@'])
            || m.local.chars().any(char::is_control)
        {
            return Err(Refusal::Syntax);
        }
        if self
            .addresses
            .contains(&format!("{}@{domain}", m.local.to_lowercase()))
        {
            return Ok(());
        }
        if domain == self.patient_domain {
            let ok = m.local.len() == 15 && m.local.bytes().all(|b| b.is_ascii_digit());
            return if ok { Ok(()) } else { Err(Refusal::Patient) };
        }
        if self.domains.contains(&domain) {
            Ok(())
        } else {
            Err(Refusal::Domain)
        }
    }

    /// Checks a raw address-list value; returns the refused addresses (the whole value
    /// when it cannot be parsed). An empty list is refused too: a field that names no
    /// one is not what a client sends, so it is treated as an evasion attempt.
    pub fn refused_in(&self, raw: &str) -> Vec<String> {
        match parse_address_list(raw) {
            Ok(list) if !list.is_empty() => list
                .iter()
                .filter(|m| self.check_mailbox(m).is_err())
                .map(Mailbox::addr)
                .collect(),
            _ => vec![raw.to_string()],
        }
    }

    /// True when every address of `raw` is trusted.
    pub fn allows(&self, raw: &str) -> bool {
        self.refused_in(raw).is_empty()
    }
}

#[cfg(test)]
pub(crate) fn test_space() -> TrustSpace {
    let d: HashSet<String> = [
        "medecin.mssante.fr",
        "patient.mssante.fr",
        "ght.mssante.fr",
        "mssante.apicrypt.org",
        "x.aura.mssante.fr",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    TrustSpace::new(d, "patient.mssante.fr")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_domains_only() {
        let t = test_space();
        for ok in [
            "a@medecin.mssante.fr",
            "A.B@MEDECIN.MSSANTE.FR",
            "x@mssante.apicrypt.org",
            "y@x.aura.mssante.fr",
        ] {
            assert!(t.allows(ok), "{ok}");
        }
        for bad in [
            "a@evil-mssante.fr",
            "a@mssante.fr",
            "a@x.medecin.mssante.fr",
            "a@medecin.mssante.fr.evil.com",
            "a@medecin.mssante.fr.",
            "a@aura.mssante.fr",
            "a@m\u{0435}decin.mssante.fr",
            "a@[10.0.0.1]",
            "x%gmail.com@medecin.mssante.fr",
            "\"x@gmail.com\"@medecin.mssante.fr",
            "",
            "nobody",
        ] {
            assert!(!t.allows(bad), "{bad:?} allowed");
        }
    }

    #[test]
    fn patient_addresses_need_exactly_15_digits() {
        let t = test_space();
        assert!(t.allows("146026322000196@patient.mssante.fr"));
        for bad in [
            "14602632200019@patient.mssante.fr",
            "1460263220001961@patient.mssante.fr",
            "reponse.automatique-test@patient.mssante.fr",
            "14602632200019a@patient.mssante.fr",
            "１４６０２６３２２０００１９６@patient.mssante.fr",
        ] {
            assert!(!t.allows(bad), "{bad}");
        }
    }

    #[test]
    fn every_address_of_a_list_is_checked() {
        let t = test_space();
        assert_eq!(
            t.refused_in("a@medecin.mssante.fr, b <x@gmail.com>"),
            ["x@gmail.com"]
        );
        assert_eq!(t.refused_in("g: x@gmail.com;"), ["x@gmail.com"]);
        assert!(t.allows("Dr A <a@medecin.mssante.fr>, (c) b@ght.mssante.fr"));
    }

    #[test]
    fn local_additions_and_removals() {
        let mut t = test_space();
        t.apply_local("# local\n+ clinique.local-mssante.fr\n-ght.mssante.fr\n+reponse.automatique-test@patient.mssante.fr\n")
            .unwrap();
        assert!(t.allows("a@clinique.local-mssante.fr"));
        assert!(!t.allows("a@ght.mssante.fr"));
        assert!(t.allows("reponse.automatique-test@patient.mssante.fr"));
        assert!(t.apply_local("medecin.fr").is_err());
        assert!(t.apply_local("+bad..domain").is_err());
    }
}

#[cfg(test)]
mod shipped_file_tests {
    #[test]
    fn shipped_local_file_parses() {
        let text = include_str!("../../policies/trust-local.txt");
        super::test_space().apply_local(text).unwrap();
    }
}
