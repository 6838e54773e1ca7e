//! SearchGal / AutoCompleteGal over the sandbox's own accounts, and AutoComplete
//! (sandbox accounts + addresses the user has written to), in the §5 shapes.

use crate::soap::{Element, Fault, NS_ACCOUNT, NS_MAIL};

use super::call::{flag, Call};
use super::data::AccountData;
use super::state::SandboxState;

/// GAL fields of an account (`zimbraGalLdapAttrMap` names).
fn gal_fields(a: &AccountData) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = [
        ("email", a.name.clone()),
        ("firstName", a.first_name.clone()),
        ("lastName", a.last_name.clone()),
        ("fullName", a.display_name()),
        ("jobTitle", a.profession.clone()),
        ("company", a.company.clone()),
        ("workCity", a.city.clone()),
        ("workPostalCode", a.postal_code.clone()),
        ("workState", a.department.clone()),
        ("zimbraId", a.id.clone()),
        ("objectClass", "inetOrgPerson".into()),
        ("objectClass", "zimbraAccount".into()),
    ]
    .into_iter()
    .filter(|(_, v)| !v.is_empty())
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    out.dedup();
    out
}

fn dn(a: &AccountData) -> String {
    let (local, domain) = a.name.split_once('@').unwrap_or((&a.name, ""));
    let dc = domain
        .split('.')
        .map(|p| format!("dc={p}"))
        .collect::<Vec<_>>()
        .join(",");
    format!("uid={local},ou=people,{dc}")
}

fn fold(s: &str) -> String {
    s.to_lowercase()
        .chars()
        .map(|c| match c {
            'é' | 'è' | 'ê' | 'ë' => 'e',
            'à' | 'â' | 'ä' => 'a',
            'î' | 'ï' => 'i',
            'ô' | 'ö' => 'o',
            'ù' | 'û' | 'ü' => 'u',
            'ç' => 'c',
            c => c,
        })
        .collect()
}

/// Accounts whose email, names or city start with (a word of) `query`; `*`/empty = all.
fn search<'s>(state: &'s SandboxState, query: &str) -> Vec<&'s AccountData> {
    let q = fold(query.trim().trim_matches('*'));
    state
        .accounts
        .iter()
        .filter(|a| {
            q.is_empty()
                || [
                    a.name.as_str(),
                    &a.first_name,
                    &a.last_name,
                    &a.display_name(),
                    &a.city,
                    &a.company,
                    &a.profession,
                ]
                .iter()
                .any(|f| {
                    fold(f)
                        .split([' ', '.', '@', '-'])
                        .any(|w| w.starts_with(&q))
                        || fold(f).starts_with(&q)
                })
        })
        .collect()
}

fn cn(a: &AccountData) -> Element {
    Element::new(NS_ACCOUNT, "cn")
        .with_attr("id", dn(a))
        .with_attr("ref", dn(a))
        .with_kv("a", "n", gal_fields(a))
}

pub fn search_gal(call: &mut Call<'_>, req: &Element) -> Result<Element, Fault> {
    call.account()?;
    let name = req.attr("name").unwrap_or("");
    let limit: usize = req
        .attr("limit")
        .and_then(|l| l.parse().ok())
        .filter(|l| *l > 0)
        .unwrap_or(100);
    let offset: usize = req.attr("offset").and_then(|l| l.parse().ok()).unwrap_or(0);
    let mut hits = search(call.state, name);
    hits.sort_by_key(|a| a.display_name().to_lowercase());
    let more = hits.len() > offset + limit;
    Ok(Element::new(NS_ACCOUNT, "SearchGalResponse")
        .with_attr(
            "sortBy",
            req.attr("sortBy").unwrap_or("nameAsc").to_string(),
        )
        .with_num("offset", offset)
        .with_bool("more", more)
        .with_bool("paginationSupported", true)
        .with_children(
            hits.into_iter()
                .skip(offset)
                .take(limit)
                .map(cn)
                .collect::<Vec<_>>(),
        ))
}

pub fn autocomplete_gal(call: &mut Call<'_>, req: &Element) -> Result<Element, Fault> {
    call.account()?;
    let name = req.attr("name").unwrap_or("");
    let limit: usize = req
        .attr("limit")
        .and_then(|l| l.parse().ok())
        .filter(|l| *l > 0)
        .unwrap_or(20);
    let hits = search(call.state, name);
    let more = hits.len() > limit;
    Ok(Element::new(NS_ACCOUNT, "AutoCompleteGalResponse")
        .with_bool("more", more)
        .with_children(hits.into_iter().take(limit).map(cn).collect::<Vec<_>>()))
}

pub fn autocomplete(call: &mut Call<'_>, req: &Element) -> Result<Element, Fault> {
    let account = call.account()?;
    let name = req.attr("name").unwrap_or("").replace(',', " ");
    if name.trim().is_empty() {
        return Err(Fault::invalid_request("name parameter is empty"));
    }
    let include_gal = req.attr("includeGal").is_none() || flag(req, "includeGal")?;
    let q = fold(name.trim());
    let mut matches = Vec::new();
    {
        let store = call.state.store.lock();
        let mb = &store.mailboxes[&account.id];
        for (addr, count) in &mb.ranking {
            if fold(addr).starts_with(&q) && call.state.account_by_name(addr).is_none() {
                matches.push(
                    Element::new(NS_MAIL, "match")
                        .with_attr("email", format!("<{addr}>"))
                        .with_attr("type", "rankingTable")
                        .with_attr("ranking", count.to_string())
                        .with_bool("isGroup", false),
                );
            }
        }
    }
    if include_gal {
        for a in search(call.state, &name) {
            matches.push(
                Element::new(NS_MAIL, "match")
                    .with_attr("email", format!("\"{}\" <{}>", a.display_name(), a.name))
                    .with_attr("type", "gal")
                    .with_attr("ranking", "0")
                    .with_bool("isGroup", false)
                    .with_attr("first", a.first_name.clone())
                    .with_attr("last", a.last_name.clone())
                    .with_attr("full", a.display_name())
                    .with_attr("company", a.company.clone()),
            );
        }
    }
    matches.truncate(20);
    Ok(Element::new(NS_MAIL, "AutoCompleteResponse")
        .with_bool("canBeCached", true)
        .with_children(matches))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sandbox::data::SandboxData;

    #[test]
    fn search_matches_accented_prefixes() {
        let state = SandboxState::new(SandboxData::load(None).unwrap());
        let hits = search(&state, "adele");
        assert_eq!(hits.len(), 1);
        assert_eq!(hits[0].name, "adele.alexandre@esantepdl.mssante.fr");
        assert!(search(&state, "lefev")
            .iter()
            .any(|a| a.first_name == "Antoine"));
        assert_eq!(search(&state, "").len(), state.accounts.len());
        let fields = gal_fields(hits[0]);
        assert_eq!(fields.iter().filter(|(k, _)| k == "objectClass").count(), 2);
        assert_eq!(
            dn(hits[0]),
            "uid=adele.alexandre,ou=people,dc=esantepdl,dc=mssante,dc=fr"
        );
    }
}
