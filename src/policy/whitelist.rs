//! Parser of the ANS trust-space whitelist (`listeblanchemssante.xml`).
//!
//! Only `{ns}ListeBlancheMSSante/{ns}ListeDomaines/{ns}Domaine/{ns}Nom` is read, by
//! resolved namespace (a prefix or a foreign namespace cannot smuggle a `Nom`). The
//! document must be complete: the public mirror is served truncated (no closing tags),
//! and a truncated list must never replace a good one.

use super::domain::normalize_domain;
use quick_xml::events::Event;
use quick_xml::name::ResolveResult;
use quick_xml::NsReader;
use std::collections::HashSet;
use thiserror::Error;

pub const WHITELIST_NS: &str = "https://listeblanche.mssante.fr/schema";

#[derive(Debug, Error)]
pub enum WhitelistError {
    #[error("liste blanche tronquée : fin de fichier avant la fermeture de <{0}>")]
    Truncated(String),
    #[error("liste blanche illisible : {0}")]
    Xml(String),
    #[error("liste blanche : élément racine inattendu <{0}>")]
    WrongRoot(String),
    #[error("liste blanche : aucun élément ListeDomaines")]
    NoDomainList,
}

/// What a parse produced.
#[derive(Debug, Clone, Default)]
pub struct ParsedWhitelist {
    /// Distinct normalised domain names.
    pub domains: HashSet<String>,
    /// `Domaine` entries read (a domain repeats once per operator certificate).
    pub entries: usize,
    /// `Nom` values that are not valid domain names (skipped, counted).
    pub rejected: Vec<String>,
    pub generated: Option<String>,
}

/// Parses a complete whitelist document.
pub fn parse_whitelist(xml: &str) -> Result<ParsedWhitelist, WhitelistError> {
    let mut r = NsReader::from_str(xml);
    r.config_mut().trim_text(true);
    let mut out = ParsedWhitelist::default();
    // Path of local names for elements in our namespace; foreign elements push "".
    let mut path: Vec<String> = Vec::new();
    let mut text = String::new();
    let mut text_tainted = false;
    let mut saw_list = false;
    loop {
        let (ns, ev) = r
            .read_resolved_event()
            .map_err(|e| WhitelistError::Xml(e.to_string()))?;
        let ours = matches!(ns, ResolveResult::Bound(n) if n.0 == WHITELIST_NS);
        match ev {
            Event::Start(e) => {
                let name = e.local_name().as_ref().to_string();
                if path.is_empty() && !(ours && name == "ListeBlancheMSSante") {
                    return Err(WhitelistError::WrongRoot(name));
                }
                if ours && name == "ListeDomaines" && path.len() == 1 {
                    saw_list = true;
                }
                path.push(if ours { name } else { String::new() });
                text.clear();
                text_tainted = false;
            }
            Event::Empty(e) if path.is_empty() => {
                return Err(WhitelistError::WrongRoot(
                    e.local_name().as_ref().to_string(),
                ));
            }
            Event::Text(t) => text.push_str(&t.xml10_content()),
            Event::CData(t) => text.push_str(&t.xml10_content()),
            // An entity inside a name is never legitimate: the entry is skipped.
            Event::GeneralRef(_) => text_tainted = true,
            Event::End(_) => {
                let at = path.join("/");
                if at == "ListeBlancheMSSante/ListeDomaines/Domaine/Nom" {
                    match (text_tainted, normalize_domain(&text)) {
                        (false, Ok(d)) => {
                            out.domains.insert(d);
                        }
                        _ => out.rejected.push(text.clone()),
                    }
                } else if at == "ListeBlancheMSSante/ListeDomaines/Domaine" {
                    out.entries += 1;
                } else if at == "ListeBlancheMSSante/DateDeGeneration" {
                    out.generated = Some(text.trim().to_string());
                }
                path.pop();
                text.clear();
            }
            Event::Eof => {
                if let Some(open) = path.last() {
                    let open = if open.is_empty() { "?" } else { open };
                    return Err(WhitelistError::Truncated(open.to_string()));
                }
                break;
            }
            _ => {}
        }
    }
    if !saw_list {
        return Err(WhitelistError::NoDomainList);
    }
    Ok(out)
}

#[cfg(test)]
pub(crate) fn sample(domains: &[&str]) -> String {
    let mut s = String::from(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<ListeBlancheMSSante xmlns=\"https://listeblanche.mssante.fr/schema\">\
         <DateDeGeneration>2025-03-13T14:54:10Z</DateDeGeneration><ListeDomaines>",
    );
    for d in domains {
        s.push_str(&format!(
            "<Domaine><Nom>{d}</Nom><Description>x</Description>\
             <DNCertificatOperateur>CN=smtp.{d},O=X,C=FR</DNCertificatOperateur></Domaine>"
        ));
    }
    s.push_str("</ListeDomaines></ListeBlancheMSSante>");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_names_lowercased_and_deduplicated() {
        let xml = sample(&[
            "medecin.mssante.fr",
            "UC-CMP.mssante.fr",
            "medecin.mssante.fr",
        ]);
        let p = parse_whitelist(&xml).unwrap();
        assert_eq!(p.entries, 3);
        assert_eq!(p.domains.len(), 2);
        assert!(p.domains.contains("uc-cmp.mssante.fr"));
        assert_eq!(p.generated.as_deref(), Some("2025-03-13T14:54:10Z"));
    }

    #[test]
    fn truncated_file_is_an_error() {
        let xml = sample(&["a.mssante.fr"]);
        let cut = xml.trim_end_matches("</ListeDomaines></ListeBlancheMSSante>");
        let e = parse_whitelist(cut).unwrap_err();
        assert!(
            matches!(e, WhitelistError::Truncated(ref t) if t == "ListeDomaines"),
            "{e}"
        );
    }

    #[test]
    fn foreign_namespace_and_entities_are_not_names() {
        let xml = "<ListeBlancheMSSante xmlns=\"https://listeblanche.mssante.fr/schema\" xmlns:x=\"urn:x\">\
            <ListeDomaines><Domaine><x:Nom>evil.com</x:Nom><Nom>ok.mssante.fr</Nom></Domaine>\
            <Domaine><Nom>a&amp;b.fr</Nom></Domaine></ListeDomaines></ListeBlancheMSSante>";
        let p = parse_whitelist(xml).unwrap();
        assert_eq!(p.domains.len(), 1);
        assert!(p.domains.contains("ok.mssante.fr"));
        assert_eq!(p.rejected.len(), 1);
    }

    #[test]
    fn wrong_root_is_refused() {
        assert!(parse_whitelist("<html><body/></html>").is_err());
        let no_ns = "<ListeBlancheMSSante><ListeDomaines/></ListeBlancheMSSante>";
        assert!(parse_whitelist(no_ns).is_err());
        assert!(parse_whitelist("").is_err());
    }

    #[test]
    fn real_mirror_copy_is_reported_truncated() {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../shared/data/listeblanchemssante-2025-03-13.xml"
        );
        let Ok(xml) = std::fs::read_to_string(path) else {
            eprintln!("reference data absent: {path}");
            return;
        };
        assert!(matches!(
            parse_whitelist(&xml),
            Err(WhitelistError::Truncated(_))
        ));
        // The mirror copy stops after `</ListeDomaines>`: close what is open.
        let mut repaired = xml.clone();
        if !repaired.contains("</ListeDomaines>") {
            repaired.push_str("</ListeDomaines>");
        }
        repaired.push_str("</ListeBlancheMSSante>");
        let p = parse_whitelist(&repaired).unwrap();
        assert_eq!(p.entries, 6554);
        // 5,002 distinct `Nom` values, one of which is an address, not a domain.
        assert_eq!(p.domains.len(), 5001);
        assert_eq!(p.rejected, ["sessad@ase.ditepbeziers.mssante.fr"]);
        assert!(p.domains.contains("uc-cmp.mssante.fr"));
        assert!(p.domains.contains("mssante.apicrypt.org"));
    }
}
