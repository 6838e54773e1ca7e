//! What a GAL request asks for, independent of the backend: a tree of conditions on the
//! annuaire fields, plus paging. Values are folded here (accents/case), once.
//!
//! `<name>` is free text: every word must start one of Nom, Prénom, Email (or be inside
//! the display name); a word of digits also matches a postal code prefix or an RPPS/ADELI.
//! `<searchFilter>` conditions search one field each (`attr` names in `field_of`).

use crate::soap::{Element, Fault};

use super::config::DirectoryConfig;
use super::entry::{DirEntry, Folded};
use super::normalize::fold;

/// A searchable column (the guide's search dialog, D2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Field {
    LastName,
    FirstName,
    FullName,
    PostalCode,
    City,
    Department,
    Profession,
    Structure,
    Email,
    /// N° RPPS/ADELI, with or without its 8/0 prefix.
    Identifier,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Op {
    Eq,
    Has,
    StartsWith,
    EndsWith,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Cond {
    True,
    False,
    Leaf { field: Field, op: Op, value: String },
    And(Vec<Cond>),
    Or(Vec<Cond>),
    Not(Box<Cond>),
}

/// A complete search: condition, paging and order. Its `Debug` form is the cache key.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Query {
    pub cond: Cond,
    pub offset: usize,
    pub limit: usize,
    pub descending: bool,
}

/// Most leaves in one query: bounds the filter a client can make the server evaluate.
const MAX_LEAVES: usize = 32;

/// Zimbra contact attribute names (and French aliases) accepted in `<cond attr=…>`.
pub fn field_of(attr: &str) -> Option<Field> {
    Some(match attr.to_ascii_lowercase().as_str() {
        "lastname" | "nom" | "sn" => Field::LastName,
        "firstname" | "prenom" | "givenname" => Field::FirstName,
        "fullname" | "cn" | "displayname" => Field::FullName,
        "email" | "mail" | "emailmssante" => Field::Email,
        "workpostalcode" | "postalcode" | "codepostal" => Field::PostalCode,
        "workcity" | "city" | "ville" | "l" => Field::City,
        "workstate" | "departement" | "mssantedepartement" => Field::Department,
        "jobtitle" | "profession" | "mssanteprofession" | "mssantespecialite" | "specialite" => {
            Field::Profession
        }
        "company" | "structure" | "o" | "department" | "ou" => Field::Structure,
        "mssanteidnat" | "mssanteidpp" | "rpps" | "adeli" | "identifiant" => Field::Identifier,
        _ => return None,
    })
}

impl Field {
    /// The value as stored in the field's search key.
    fn normalise(self, v: &str) -> String {
        // Control characters (NUL above all: OpenLDAP reads `\00` in an assertion as the
        // end of the value) never belong in a search value.
        let v: String = v.chars().filter(|c| !c.is_control()).collect();
        let v = v.as_str();
        match self {
            Field::Email => v.trim().to_lowercase(),
            Field::PostalCode | Field::Identifier => {
                v.chars().filter(|c| !c.is_whitespace()).collect()
            }
            _ => fold(v),
        }
    }

    /// The entry's search keys for this field.
    fn keys<'a>(self, e: &'a DirEntry, f: &'a Folded) -> Vec<&'a str> {
        match self {
            Field::LastName => vec![&f.last_name],
            Field::FirstName => vec![&f.first_name],
            Field::FullName => vec![&f.full_name],
            Field::PostalCode => vec![&e.postal_code],
            Field::City => vec![&f.city],
            Field::Department => vec![&f.department],
            Field::Profession => vec![&f.profession],
            Field::Structure => vec![&f.structure],
            Field::Email => vec![&e.mail],
            Field::Identifier => vec![&e.id_nat, &e.id_pp],
        }
    }
}

impl Cond {
    fn leaf(field: Field, op: Op, value: &str) -> Cond {
        Cond::Leaf {
            field,
            op,
            value: field.normalise(value),
        }
    }

    /// One search-dialog field, with the guide's comfort rules: a département given as
    /// digits also matches postal codes starting with them.
    pub fn field(field: Field, op: Op, value: &str) -> Cond {
        let v = value.trim();
        if field == Field::Department && !v.is_empty() && v.chars().all(|c| c.is_ascii_digit()) {
            return Cond::Or(vec![
                Cond::leaf(Field::Department, Op::StartsWith, v),
                Cond::leaf(Field::PostalCode, Op::StartsWith, v),
            ]);
        }
        Cond::leaf(field, op, v)
    }

    /// Free text (`<name>`): every word must match (see the module comment).
    pub fn free_text(name: &str) -> Cond {
        let mut words = Vec::new();
        for raw in name.split(|c: char| c.is_whitespace() || c == ',') {
            if raw.is_empty() {
                continue;
            }
            if raw.contains('@') {
                words.push(Cond::leaf(Field::Email, Op::StartsWith, raw));
                continue;
            }
            let mut alts = vec![Cond::leaf(Field::Email, Op::StartsWith, raw)];
            if raw.chars().all(|c| c.is_ascii_digit()) {
                alts.push(Cond::leaf(Field::PostalCode, Op::StartsWith, raw));
                alts.push(Cond::leaf(Field::Identifier, Op::Eq, raw));
            }
            for w in fold(raw).split(' ').filter(|w| !w.is_empty()) {
                words.push(Cond::Or(
                    alts.iter()
                        .cloned()
                        .chain([
                            Cond::leaf(Field::LastName, Op::StartsWith, w),
                            Cond::leaf(Field::FirstName, Op::StartsWith, w),
                            Cond::leaf(Field::FullName, Op::Has, w),
                        ])
                        .collect(),
                ));
            }
        }
        match words.len() {
            // Nothing searchable was given: nothing matches (never "everything").
            0 => Cond::False,
            1 => words.pop().unwrap_or(Cond::True),
            _ => Cond::And(words),
        }
    }

    pub fn leaves(&self) -> usize {
        match self {
            Cond::True | Cond::False => 0,
            Cond::Leaf { .. } => 1,
            Cond::And(v) | Cond::Or(v) => v.iter().map(Cond::leaves).sum(),
            Cond::Not(c) => c.leaves(),
        }
    }

    /// In-memory evaluation, same semantics as the LDAP filter `filter::compile` makes.
    pub fn matches(&self, e: &DirEntry, f: &Folded) -> bool {
        match self {
            Cond::True => true,
            Cond::False => false,
            Cond::And(v) => v.iter().all(|c| c.matches(e, f)),
            Cond::Or(v) => v.iter().any(|c| c.matches(e, f)),
            Cond::Not(c) => !c.matches(e, f),
            Cond::Leaf { field, op, value } => field.keys(e, f).iter().any(|k| {
                let k = if *field == Field::Email {
                    k.to_lowercase()
                } else {
                    k.to_string()
                };
                // Same as the LDAP filter: an empty value matches nothing.
                !k.is_empty()
                    && !value.is_empty()
                    && match op {
                        Op::Eq => k == *value,
                        Op::Has => k.contains(value.as_str()),
                        Op::StartsWith => k.starts_with(value.as_str()),
                        Op::EndsWith => k.ends_with(value.as_str()),
                    }
            }),
        }
    }
}

/// Request kinds whose GAL part this module answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    AutoComplete,
    AutoCompleteGal,
    SearchGal,
}

impl Query {
    /// Reads an `AutoCompleteRequest`, `AutoCompleteGalRequest` or `SearchGalRequest`.
    pub fn from_request(kind: Kind, req: &Element, cfg: &DirectoryConfig) -> Result<Query, Fault> {
        let name = req.attr("name").unwrap_or("").replace(',', " ");
        check_len(&name, cfg)?;
        let type_attr = if kind == Kind::AutoComplete {
            "t"
        } else {
            "type"
        };
        let only_other_types = matches!(req.attr(type_attr), Some("resource" | "group"));
        let filter = match req.child("searchFilter") {
            Some(sf) if kind == Kind::SearchGal => Some(search_filter(sf, cfg)?),
            _ => None,
        };
        let name_cond = if kind == Kind::SearchGal && matches!(name.trim(), "." | "") {
            Cond::True
        } else if name.trim().is_empty() {
            return Err(Fault::invalid_request("name parameter is empty"));
        } else {
            Cond::free_text(&name)
        };
        let cond = match (only_other_types, filter) {
            // The annuaire holds mailboxes only: no calendar resources, no groups.
            (true, _) => Cond::False,
            (false, Some(f)) if name_cond == Cond::True => f,
            (false, Some(f)) => Cond::And(vec![name_cond, f]),
            (false, None) => name_cond,
        };
        if cond.leaves() > MAX_LEAVES {
            return Err(Fault::invalid_request("trop de critères de recherche"));
        }
        let (default_limit, max) = match kind {
            Kind::SearchGal => (cfg.max_results, cfg.max_results),
            _ => (
                cfg.autocomplete_max_results,
                cfg.autocomplete_max_results.max(1),
            ),
        };
        let num = |k: &str| -> Result<Option<usize>, Fault> {
            match req.attr(k) {
                None | Some("") => Ok(None),
                Some(v) => v
                    .parse::<usize>()
                    .map(Some)
                    .map_err(|_| Fault::invalid_request(&format!("{k} must be a number"))),
            }
        };
        let limit = match num("limit")? {
            Some(0) | None => default_limit,
            Some(n) => n,
        }
        .min(max);
        let offset = if kind == Kind::SearchGal {
            num("offset")?.unwrap_or(0)
        } else {
            0
        };
        Ok(Query {
            cond,
            offset,
            limit,
            descending: req
                .attr("sortBy")
                .is_some_and(|s| s.eq_ignore_ascii_case("nameDesc")),
        })
    }
}

fn check_len(v: &str, cfg: &DirectoryConfig) -> Result<(), Fault> {
    if v.chars().count() > cfg.max_value_len {
        return Err(Fault::invalid_request(&format!(
            "valeur de recherche trop longue (au plus {} caractères)",
            cfg.max_value_len
        )));
    }
    Ok(())
}

/// `<searchFilter>` holds one `<conds>` or one `<cond>`.
fn search_filter(sf: &Element, cfg: &DirectoryConfig) -> Result<Cond, Fault> {
    let mut parts = Vec::new();
    for c in &sf.children {
        match c.name.as_str() {
            "conds" => parts.push(conds(c, cfg, 0)?),
            "cond" => parts.push(one_cond(c, cfg)?),
            _ => {}
        }
    }
    Ok(match parts.len() {
        0 => Cond::True,
        1 => parts.pop().unwrap_or(Cond::True),
        _ => Cond::And(parts),
    })
}

fn conds(e: &Element, cfg: &DirectoryConfig, depth: usize) -> Result<Cond, Fault> {
    if depth > 4 {
        return Err(Fault::invalid_request("searchFilter trop imbriqué"));
    }
    let mut parts = Vec::new();
    for c in &e.children {
        match c.name.as_str() {
            "conds" => parts.push(conds(c, cfg, depth + 1)?),
            "cond" => parts.push(one_cond(c, cfg)?),
            _ => {}
        }
    }
    let or = e.attr_bool("or").unwrap_or(None).unwrap_or(false);
    let inner = if or {
        Cond::Or(parts)
    } else {
        Cond::And(parts)
    };
    Ok(negate_if(e, inner))
}

fn one_cond(c: &Element, cfg: &DirectoryConfig) -> Result<Cond, Fault> {
    let attr = c.attr("attr").unwrap_or("");
    let value = c.attr("value").unwrap_or("");
    check_len(value, cfg)?;
    let op = match c.attr("op").unwrap_or("has").to_ascii_lowercase().as_str() {
        "eq" => Op::Eq,
        "has" => Op::Has,
        "startswith" => Op::StartsWith,
        "endswith" => Op::EndsWith,
        other => {
            return Err(Fault::invalid_request(&format!(
                "opération de recherche non prise en charge: {other}"
            )))
        }
    };
    // An attribute the annuaire does not have matches nothing, like an LDAP filter on an
    // unknown attribute would; it never widens the search.
    let leaf = match field_of(attr) {
        Some(f) => Cond::field(f, op, value),
        None => Cond::False,
    };
    Ok(negate_if(c, leaf))
}

fn negate_if(e: &Element, c: Cond) -> Cond {
    if e.attr_bool("not").unwrap_or(None).unwrap_or(false) {
        Cond::Not(Box::new(c))
    } else {
        c
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry() -> DirEntry {
        DirEntry {
            mail: "Helene.Dupre@chu-nantes.mssante.fr".into(),
            first_name: "HÉLÈNE".into(),
            last_name: "DUPRÉ-LAFONT".into(),
            postal_code: "44093".into(),
            city: "Nantes".into(),
            department: "Loire-Atlantique".into(),
            profession: "Médecin".into(),
            structure: "CHU de Nantes".into(),
            id_nat: "810103197363".into(),
            id_pp: "10103197363".into(),
            ..Default::default()
        }
    }

    fn hit(c: &Cond) -> bool {
        let e = entry();
        c.matches(&e, &e.folded())
    }

    #[test]
    fn free_text_ignores_accents_and_case() {
        assert!(hit(&Cond::free_text("hélène")));
        assert!(hit(&Cond::free_text("HELENE dupre")));
        assert!(hit(&Cond::free_text("lafont")));
        assert!(hit(&Cond::free_text("helene.dupre@chu")));
        assert!(hit(&Cond::free_text("44")));
        assert!(hit(&Cond::free_text("10103197363")));
        assert!(!hit(&Cond::free_text("helene martin")));
        assert!(!hit(&Cond::free_text("*")));
        assert!(!hit(&Cond::free_text(")(mail=*")));
        assert!(!hit(&Cond::free_text("\0")));
        assert!(!hit(&Cond::field(Field::Email, Op::Has, "\0")));
    }

    #[test]
    fn fields_search_one_column() {
        assert!(hit(&Cond::field(Field::City, Op::Eq, "NANTES")));
        assert!(hit(&Cond::field(
            Field::Department,
            Op::Has,
            "loire atlantique"
        )));
        assert!(hit(&Cond::field(Field::Department, Op::Eq, "44")));
        assert!(hit(&Cond::field(
            Field::Profession,
            Op::StartsWith,
            "medecin"
        )));
        assert!(hit(&Cond::field(Field::Identifier, Op::Eq, "810103197363")));
        assert!(!hit(&Cond::field(Field::City, Op::Eq, "Nant")));
    }

    fn req(xml_like: Element) -> Result<Query, Fault> {
        Query::from_request(Kind::SearchGal, &xml_like, &DirectoryConfig::default())
    }

    #[test]
    fn search_gal_reads_filter_limit_offset_sort() {
        let r = Element::new("urn:zimbraAccount", "SearchGalRequest")
            .with_attr("limit", "10")
            .with_attr("offset", "20")
            .with_attr("sortBy", "nameDesc")
            .with_child(Element::new("urn:zimbraAccount", "name").with_text("."))
            .with_child(
                Element::new("urn:zimbraAccount", "searchFilter").with_child(
                    Element::new("urn:zimbraAccount", "conds")
                        .with_attr("or", "1")
                        .with_child(
                            Element::new("urn:zimbraAccount", "cond")
                                .with_attr("attr", "workCity")
                                .with_attr("op", "eq")
                                .with_attr("value", "Nantes"),
                        )
                        .with_child(
                            Element::new("urn:zimbraAccount", "cond")
                                .with_attr("attr", "nope")
                                .with_attr("op", "has")
                                .with_attr("value", "x"),
                        ),
                ),
            );
        let q = req(r).unwrap();
        assert_eq!((q.limit, q.offset, q.descending), (10, 20, true));
        assert!(hit(&q.cond));
    }

    #[test]
    fn refuses_long_values_bad_ops_and_empty_names() {
        let long = Element::new("", "SearchGalRequest").with_attr("name", "a".repeat(500));
        assert_eq!(req(long).unwrap_err().code, "service.INVALID_REQUEST");
        let ge = Element::new("", "SearchGalRequest").with_child(
            Element::new("", "searchFilter").with_child(
                Element::new("", "cond")
                    .with_attr("attr", "lastName")
                    .with_attr("op", "ge")
                    .with_attr("value", "a"),
            ),
        );
        assert!(req(ge).is_err());
        let cfg = DirectoryConfig::default();
        let empty = Element::new("", "AutoCompleteGalRequest").with_attr("name", " ");
        assert!(Query::from_request(Kind::AutoCompleteGal, &empty, &cfg).is_err());
        let res = Element::new("", "AutoCompleteGalRequest")
            .with_attr("name", "x")
            .with_attr("type", "resource");
        assert_eq!(
            Query::from_request(Kind::AutoCompleteGal, &res, &cfg)
                .unwrap()
                .cond,
            Cond::False
        );
    }
}
