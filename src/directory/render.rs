//! Zimbra-shaped answers (zimbra-api.md §5): `cn` with `<a n=…>` / `_attrs` for the GAL
//! requests, `match` for AutoComplete, and the merge with the user's own contacts.

use crate::soap::{Element, NS_ACCOUNT, NS_MAIL};

use super::entry::DirEntry;

/// One `<cn id ref><a n="…">…</a>+</cn>` (JSON: `{"id","ref","_attrs":{…}}`).
pub fn gal_contact(e: &DirEntry) -> Element {
    Element::new(NS_ACCOUNT, "cn")
        .with_attr("id", e.dn.clone())
        .with_attr("ref", e.dn.clone())
        .with_kv("a", "n", e.gal_attrs())
}

pub fn search_gal_response(
    page: &[DirEntry],
    more: bool,
    offset: usize,
    descending: bool,
) -> Element {
    Element::new(NS_ACCOUNT, "SearchGalResponse")
        .unique()
        .with_attr("sortBy", if descending { "nameDesc" } else { "nameAsc" })
        .with_num("offset", offset)
        .with_bool("more", more)
        .with_bool("paginationSupported", true)
        .with_children(page.iter().map(gal_contact))
}

/// `tokenizeKey="and"` when several words were given: every word had to match.
pub fn autocomplete_gal_response(page: &[DirEntry], more: bool, several_words: bool) -> Element {
    let mut r = Element::new(NS_ACCOUNT, "AutoCompleteGalResponse")
        .unique()
        .with_bool("more", more);
    if several_words {
        r = r.with_attr("tokenizeKey", "and");
    }
    r.with_children(page.iter().map(gal_contact))
}

/// `"Display Name" <addr>` as `ContactEntry.getEmail` formats it.
pub fn formatted_email(e: &DirEntry) -> String {
    let name = e.display_name();
    if name.is_empty() || name == e.mail {
        format!("<{}>", e.mail)
    } else {
        format!("\"{}\" <{}>", name.replace('"', "'"), e.mail)
    }
}

/// One AutoComplete `match` for a GAL entry.
pub fn gal_match(e: &DirEntry) -> Element {
    let mut m = Element::new(NS_MAIL, "match")
        .with_attr("email", formatted_email(e))
        .with_attr("type", "gal")
        .with_attr("ranking", "0")
        .with_bool("isGroup", false);
    for (k, v) in [
        ("first", &e.first_name),
        ("last", &e.last_name),
        ("full", &e.display_name()),
        ("company", &e.structure),
    ] {
        if !v.is_empty() {
            m = m.with_attr(k, v.clone());
        }
    }
    m
}

/// The bare address inside `"Name" <addr>`, lowercased, for de-duplication.
fn address_of(email: &str) -> String {
    let inner = match (email.rfind('<'), email.rfind('>')) {
        (Some(a), Some(b)) if a < b => &email[a + 1..b],
        _ => email,
    };
    inner.trim().to_lowercase()
}

/// Merges the upstream `AutoCompleteResponse` (the user's own contacts and ranking
/// table, kept first and in order) with annuaire matches, dropping annuaire entries whose
/// address the user already has, and capping at `max` matches.
pub fn merge_autocomplete(upstream: Option<&Element>, gal: &[DirEntry], max: usize) -> Element {
    let mut resp = Element::new(NS_MAIL, "AutoCompleteResponse").unique();
    let mut seen = std::collections::HashSet::new();
    let mut can_be_cached = true;
    if let Some(up) = upstream {
        can_be_cached = up.attr_bool("canBeCached").ok().flatten().unwrap_or(true);
        // Only the user's own entries: GAL matches come from the annuaire, not the store.
        for m in up
            .children_named("match")
            .filter(|m| m.attr("type") != Some("gal"))
        {
            if resp.children.len() == max {
                break;
            }
            for a in m.attr("email").unwrap_or("").split(',') {
                seen.insert(address_of(a));
            }
            resp.children.push(m.clone());
        }
    }
    for e in gal {
        if resp.children.len() == max {
            // More annuaire answers exist: the client must ask again as the user types.
            can_be_cached = false;
            break;
        }
        if seen.insert(e.mail.to_lowercase()) {
            resp.children.push(gal_match(e));
        }
    }
    let mut out = Element::new(NS_MAIL, "AutoCompleteResponse")
        .unique()
        .with_bool("canBeCached", can_be_cached);
    out.children = resp.children;
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn e(mail: &str, first: &str, last: &str) -> DirEntry {
        DirEntry {
            dn: format!("mail={mail},ou=annuaire"),
            mail: mail.into(),
            first_name: first.into(),
            last_name: last.into(),
            ..Default::default()
        }
    }

    #[test]
    fn cn_carries_dn_and_attrs() {
        let r = search_gal_response(&[e("a@x.fr", "Zoé", "ÉLOI")], true, 10, false);
        assert_eq!(r.attr("more"), Some("1"));
        assert_eq!(r.attr("offset"), Some("10"));
        let cn = &r.children[0];
        assert_eq!(cn.attr("id"), Some("mail=a@x.fr,ou=annuaire"));
        assert_eq!(cn.kv_element, Some(("a".into(), "n".into())));
        assert!(cn.kv.contains(&("fullName".into(), "Zoé ÉLOI".into())));
    }

    #[test]
    fn match_formats_email_like_zimbra() {
        let m = gal_match(&e("a@x.fr", "Zoé", "ÉLOI"));
        assert_eq!(m.attr("email"), Some("\"Zoé ÉLOI\" <a@x.fr>"));
        assert_eq!(m.attr("type"), Some("gal"));
        assert_eq!(m.attr("isGroup"), Some("0"));
    }

    #[test]
    fn merge_keeps_contacts_first_and_dedups() {
        let up = Element::new(NS_MAIL, "AutoCompleteResponse")
            .with_bool("canBeCached", true)
            .with_child(
                Element::new(NS_MAIL, "match")
                    .with_attr("email", "\"Moi\" <A@x.fr>")
                    .with_attr("type", "contact"),
            )
            .with_child(
                Element::new(NS_MAIL, "match")
                    .with_attr("email", "<g@x.fr>")
                    .with_attr("type", "gal"),
            );
        let gal = [
            e("a@x.fr", "A", "A"),
            e("b@x.fr", "B", "B"),
            e("c@x.fr", "C", "C"),
        ];
        let r = merge_autocomplete(Some(&up), &gal, 2);
        let emails: Vec<_> = r
            .children
            .iter()
            .map(|m| m.attr("email").unwrap())
            .collect();
        assert_eq!(emails, vec!["\"Moi\" <A@x.fr>", "\"B B\" <b@x.fr>"]);
        assert_eq!(r.attr("canBeCached"), Some("0"));
        let r = merge_autocomplete(None, &gal[..1], 20);
        assert_eq!(r.attr("canBeCached"), Some("1"));
    }
}
