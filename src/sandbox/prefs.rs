//! GetPrefsRequest / ModifyPrefsRequest (zimbra-api.md §7.6): `zimbraPref*` names only,
//! `+name` / `-name` add or remove one value of a multi-valued pref, JSON `_attrs`.

use crate::soap::{Element, Fault, NS_ACCOUNT};

use super::call::Call;

mod schema;

pub use schema::PrefType;

/// Prefs of a new mailbox.
pub fn default_prefs(name: &str, display: &str) -> Vec<(&'static str, String)> {
    vec![
        ("zimbraPrefMailPollingInterval", "120s".into()),
        ("zimbraPrefLocale", "fr".into()),
        ("zimbraPrefTimeZoneId", "Europe/Paris".into()),
        ("zimbraPrefSkin", "harmony".into()),
        ("zimbraPrefComposeFormat", "html".into()),
        ("zimbraPrefGroupMailBy", "message".into()),
        ("zimbraPrefFromAddress", name.to_string()),
        ("zimbraPrefFromDisplay", display.to_string()),
        ("zimbraPrefReplyToEnabled", "FALSE".into()),
        ("zimbraPrefNewMailNotificationEnabled", "FALSE".into()),
        ("zimbraPrefOutOfOfficeReplyEnabled", "FALSE".into()),
        ("zimbraPrefMailLocalDeliveryDisabled", "FALSE".into()),
        ("zimbraPrefSaveToSent", "TRUE".into()),
        ("zimbraPrefGalAutoCompleteEnabled", "TRUE".into()),
        ("zimbraPrefMailSignatureEnabled", "FALSE".into()),
    ]
}

type Prefs = indexmap::IndexMap<String, Vec<String>>;

/// The type and cardinality of a pref name, or the fault that refuses the name. Any
/// well-formed `zimbraPref*` name is a pref a user may set; unknown ones are free text.
fn kind(name: &str) -> Result<(PrefType, bool), Fault> {
    if !name.starts_with("zimbraPref") {
        return Err(Fault::invalid_request(
            "pref name must start with zimbraPref",
        ));
    }
    if !schema::well_formed(name) {
        return Err(Fault::invalid_request(&format!(
            "no such attribute: {name}"
        )));
    }
    Ok(schema::spec(name).map_or((PrefType::Text, false), |s| (s.ty, s.multi)))
}

/// Applies a ModifyPrefs list to `prefs` (all-or-nothing).
pub fn apply(prefs: &mut Prefs, changes: &[(String, String)]) -> Result<(), Fault> {
    let mut next = prefs.clone();
    // Plain names replace: the first occurrence clears the old values.
    let mut replaced: Vec<String> = Vec::new();
    for (raw, value) in changes {
        let (op, name) = match raw.chars().next() {
            Some('+') => ('+', &raw[1..]),
            Some('-') => ('-', &raw[1..]),
            _ => ('=', raw.as_str()),
        };
        let (ty, _) = kind(name)?;
        // An empty value removes (the COS value shows again); "-" needs no valid value.
        if !value.is_empty() && op != '-' {
            if let Some(why) = schema::invalid(name, ty, value) {
                return Err(Fault::new(
                    "account.INVALID_ATTR_VALUE",
                    format!("invalid attr value: {why}"),
                ));
            }
        }
        let values = next.entry(name.to_string()).or_default();
        match op {
            '+' => {
                if !values.contains(value) {
                    values.push(value.clone());
                }
            }
            '-' => values.retain(|v| v != value),
            _ => {
                if !replaced.iter().any(|r| r == name) {
                    values.clear();
                    replaced.push(name.to_string());
                }
                if !value.is_empty() {
                    values.push(value.clone());
                }
            }
        }
    }
    for (name, values) in &next {
        if values.len() > 1 && kind(name).is_ok_and(|(_, multi)| !multi) {
            return Err(Fault::new(
                "account.INVALID_ATTR_VALUE",
                format!("invalid attr value: attribute {name} is single-valued"),
            ));
        }
    }
    next.retain(|_, v| !v.is_empty());
    *prefs = next;
    Ok(())
}

/// Every pref as the account sees it: its own values, then the COS values of the
/// prefs it has not set (what GetPrefs, GetInfo and AuthRequest `<prefs>` answer).
pub fn effective(prefs: &Prefs) -> Vec<(String, String)> {
    let own = prefs
        .iter()
        .flat_map(|(k, vs)| vs.iter().map(move |v| (k.clone(), v.clone())));
    let inherited = schema::SCHEMA
        .iter()
        .filter(|s| !s.cos_default.is_empty() && !prefs.contains_key(s.name))
        .map(|s| (s.name.to_string(), s.cos_default.to_string()));
    own.chain(inherited).collect()
}

/// [`effective`] restricted to `names` (all when empty).
pub fn effective_named(prefs: &Prefs, names: &[&str]) -> Vec<(String, String)> {
    effective(prefs)
        .into_iter()
        .filter(|(k, _)| names.is_empty() || names.contains(&k.as_str()))
        .collect()
}

pub fn get_prefs(call: &mut Call<'_>, req: &Element) -> Result<Element, Fault> {
    let account = call.account()?;
    let names: Vec<String> = req
        .children_named("pref")
        .filter_map(|p| p.attr("name").map(str::to_string))
        .chain(req.kv.iter().map(|(k, _)| k.clone()))
        .collect();
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    let store = call.state.store.lock();
    let mb = &store.mailboxes[&account.id];
    let pairs = effective_named(&mb.prefs, &names);
    Ok(Element::new(NS_ACCOUNT, "GetPrefsResponse").with_kv("pref", "name", pairs))
}

pub fn modify_prefs(call: &mut Call<'_>, req: &Element) -> Result<Element, Fault> {
    let account = call.account()?;
    let changes = req.key_values("pref", "name");
    let mut store = call.state.store.lock();
    let mb = store
        .mailboxes
        .get_mut(&account.id)
        .ok_or_else(|| Fault::perm_denied("no mailbox"))?;
    apply(&mut mb.prefs, &changes)?;
    Ok(Element::new(NS_ACCOUNT, "ModifyPrefsResponse"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kv(k: &str, v: &str) -> (String, String) {
        (k.to_string(), v.to_string())
    }

    #[test]
    fn any_pref_name_a_user_may_set_and_nothing_else() {
        let mut p = Prefs::new();
        let e = apply(&mut p, &[kv("zimbraMailQuota", "1")]).unwrap_err();
        assert_eq!(e.code, "service.INVALID_REQUEST");
        assert!(e.reason.contains("must start with zimbraPref"));
        for bad in ["zimbraPref", "zimbraPref Locale", "+zimbraPref<x>"] {
            let e = apply(&mut p, &[kv(bad, "1")]).unwrap_err();
            assert!(e.reason.contains("no such attribute"), "{bad}: {e:?}");
        }
        apply(
            &mut p,
            &[
                kv("zimbraPrefMailItemsPerPage", "50"),
                kv("zimbraPrefUnlistedByTheSandbox", "x"),
            ],
        )
        .unwrap();
        assert_eq!(p["zimbraPrefMailItemsPerPage"], vec!["50"]);
        assert_eq!(p["zimbraPrefUnlistedByTheSandbox"], vec!["x"]);
        // An unknown pref is single-valued text.
        let two = [
            kv("+zimbraPrefUnlistedByTheSandbox", "y"),
            kv("+zimbraPrefUnlistedByTheSandbox", "z"),
        ];
        assert!(apply(&mut p, &two).is_err());
    }

    #[test]
    fn typed_values_are_checked() {
        let mut p = Prefs::new();
        for (name, bad) in [
            ("zimbraPrefReplyToEnabled", "yes"),
            ("zimbraPrefMailItemsPerPage", "many"),
            ("zimbraPrefMailForwardingAddress", "not an address"),
            ("+zimbraPrefCalendarForwardInvitesTo", "x@y, z@w"),
            ("zimbraPrefNewMailNotificationAddress", "Nom <a@b.fr>"),
            ("zimbraPrefOutOfOfficeFromDate", "2025-01-01"),
        ] {
            let e = apply(&mut p, &[kv(name, bad)]).unwrap_err();
            assert_eq!(e.code, "account.INVALID_ATTR_VALUE", "{name}");
            assert!(e.reason.contains(name.trim_start_matches('+')), "{e:?}");
        }
        assert!(p.is_empty());
        apply(
            &mut p,
            &[
                kv("zimbraPrefMailForwardingAddress", "a@b.fr, c@d.fr"),
                kv("zimbraPrefOutOfOfficeFromDate", "20250101000000Z"),
            ],
        )
        .unwrap();
    }

    #[test]
    fn effective_prefs_fall_back_to_the_cos() {
        let mut p = Prefs::new();
        let page = |p: &Prefs| effective_named(p, &["zimbraPrefMailItemsPerPage"]);
        assert_eq!(page(&p), vec![kv("zimbraPrefMailItemsPerPage", "25")]);
        apply(&mut p, &[kv("zimbraPrefMailItemsPerPage", "100")]).unwrap();
        assert_eq!(page(&p), vec![kv("zimbraPrefMailItemsPerPage", "100")]);
        // Clearing the account value shows the COS one again.
        apply(&mut p, &[kv("zimbraPrefMailItemsPerPage", "")]).unwrap();
        assert_eq!(page(&p), vec![kv("zimbraPrefMailItemsPerPage", "25")]);
        assert!(effective(&p)
            .iter()
            .all(|(k, _)| k.starts_with("zimbraPref")));
    }

    #[test]
    fn plus_minus_on_multi_valued() {
        let mut p = Prefs::new();
        let name = "zimbraPrefCalendarForwardInvitesTo";
        apply(
            &mut p,
            &[
                kv(&format!("+{name}"), "a@x"),
                kv(&format!("+{name}"), "b@x"),
            ],
        )
        .unwrap();
        assert_eq!(p[name], vec!["a@x", "b@x"]);
        apply(&mut p, &[kv(&format!("-{name}"), "a@x")]).unwrap();
        assert_eq!(p[name], vec!["b@x"]);
        apply(&mut p, &[kv(name, "c@x"), kv(name, "d@x")]).unwrap();
        assert_eq!(p[name], vec!["c@x", "d@x"]);
        apply(&mut p, &[kv(name, "")]).unwrap();
        assert!(!p.contains_key(name));
    }

    #[test]
    fn single_valued_refuses_two_values_and_nothing_is_applied() {
        let mut p = Prefs::new();
        let r = apply(
            &mut p,
            &[
                kv("zimbraPrefLocale", "en"),
                kv("+zimbraPrefMailForwardingAddress", "a@x"),
                kv("+zimbraPrefMailForwardingAddress", "b@x"),
            ],
        );
        assert!(r.is_err());
        assert!(p.is_empty());
    }
}
