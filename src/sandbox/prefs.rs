//! GetPrefsRequest / ModifyPrefsRequest (zimbra-api.md §7.6): `zimbraPref*` names only,
//! `+name` / `-name` add or remove one value of a multi-valued pref, JSON `_attrs`.

use crate::soap::{Element, Fault, NS_ACCOUNT};

use super::call::Call;

/// Known prefs: (name, multi-valued, boolean).
const KNOWN: &[(&str, bool, bool)] = &[
    ("zimbraPrefMailForwardingAddress", false, false),
    ("zimbraPrefMailLocalDeliveryDisabled", false, true),
    ("zimbraPrefNewMailNotificationEnabled", false, true),
    ("zimbraPrefNewMailNotificationAddress", false, false),
    ("zimbraPrefOutOfOfficeReplyEnabled", false, true),
    ("zimbraPrefOutOfOfficeReply", false, false),
    ("zimbraPrefOutOfOfficeExternalReplyEnabled", false, true),
    ("zimbraPrefOutOfOfficeExternalReply", false, false),
    ("zimbraPrefOutOfOfficeFromDate", false, false),
    ("zimbraPrefOutOfOfficeUntilDate", false, false),
    ("zimbraPrefOutOfOfficeSuppressExternalReply", false, true),
    ("zimbraPrefOutOfOfficeSpecificDomains", true, false),
    ("zimbraPrefOutOfOfficeCacheDuration", false, false),
    ("zimbraPrefOutOfOfficeDirectAddress", false, true),
    ("zimbraPrefExternalSendersType", false, false),
    ("zimbraPrefCalendarForwardInvitesTo", true, false),
    ("zimbraPrefCalendarReminderEmail", false, false),
    ("zimbraPrefCalendarReminderSendEmail", false, true),
    ("zimbraPrefFromAddress", false, false),
    ("zimbraPrefFromDisplay", false, false),
    ("zimbraPrefFromAddressType", false, false),
    ("zimbraPrefReplyToAddress", false, false),
    ("zimbraPrefReplyToDisplay", false, false),
    ("zimbraPrefReplyToEnabled", false, true),
    ("zimbraPrefReadReceiptsToAddress", false, false),
    ("zimbraPrefAllowAddressForDelegatedSender", true, false),
    ("zimbraPrefPasswordRecoveryAddress", false, false),
    ("zimbraPrefPasswordRecoveryAddressStatus", false, false),
    ("zimbraPrefAccountProfileImage", false, false),
    ("zimbraPrefMailPollingInterval", false, false),
    ("zimbraPrefLocale", false, false),
    ("zimbraPrefTimeZoneId", false, false),
    ("zimbraPrefSkin", false, false),
    ("zimbraPrefComposeFormat", false, false),
    ("zimbraPrefGroupMailBy", false, false),
    ("zimbraPrefMailSignatureEnabled", false, true),
    ("zimbraPrefDefaultSignatureId", false, false),
    ("zimbraPrefForwardReplySignatureId", false, false),
    ("zimbraPrefSaveToSent", false, true),
    ("zimbraPrefMailTrustedSenderList", true, false),
    ("zimbraPrefMailBlacklist", true, false),
    ("zimbraPrefMailWhitelist", true, false),
    ("zimbraPrefShowFragments", false, true),
    ("zimbraPrefMessageViewHtmlPreferred", false, true),
    ("zimbraPrefGalAutoCompleteEnabled", false, true),
    ("zimbraPrefAutoAddAddressEnabled", false, true),
    ("zimbraPrefIncludeSpamInSearch", false, true),
    ("zimbraPrefZimletTreeOpen", false, true),
    ("zimbraPrefDelegatedSendSaveTarget", false, false),
    ("zimbraPrefMailSendReadReceipts", false, false),
];

fn known(name: &str) -> Option<(bool, bool)> {
    KNOWN
        .iter()
        .find(|(n, _, _)| *n == name)
        .map(|(_, m, b)| (*m, *b))
}

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
        if !name.starts_with("zimbraPref") {
            return Err(Fault::invalid_request(
                "pref name must start with zimbraPref",
            ));
        }
        let Some((_, boolean)) = known(name) else {
            return Err(Fault::invalid_request(&format!(
                "no such attribute: {name}"
            )));
        };
        if boolean && !value.is_empty() && value != "TRUE" && value != "FALSE" {
            return Err(Fault::new(
                "account.INVALID_ATTR_VALUE",
                format!("invalid attr value: {name} must be TRUE or FALSE"),
            ));
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
        if values.len() > 1 && known(name).is_some_and(|(multi, _)| !multi) {
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

pub fn get_prefs(call: &mut Call<'_>, req: &Element) -> Result<Element, Fault> {
    let account = call.account()?;
    let names: Vec<String> = req
        .children_named("pref")
        .filter_map(|p| p.attr("name").map(str::to_string))
        .chain(req.kv.iter().map(|(k, _)| k.clone()))
        .collect();
    let store = call.state.store.lock();
    let mb = &store.mailboxes[&account.id];
    let pairs = mb
        .prefs
        .iter()
        .filter(|(k, _)| names.is_empty() || names.contains(k))
        .flat_map(|(k, vs)| vs.iter().map(move |v| (k.clone(), v.clone())))
        .collect::<Vec<_>>();
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
    fn names_must_be_known_prefs() {
        let mut p = Prefs::new();
        let e = apply(&mut p, &[kv("zimbraMailQuota", "1")]).unwrap_err();
        assert_eq!(e.code, "service.INVALID_REQUEST");
        assert!(e.reason.contains("must start with zimbraPref"));
        let e = apply(&mut p, &[kv("zimbraPrefNope", "1")]).unwrap_err();
        assert!(e.reason.contains("no such attribute: zimbraPrefNope"));
        let e = apply(&mut p, &[kv("zimbraPrefReplyToEnabled", "yes")]).unwrap_err();
        assert_eq!(e.code, "account.INVALID_ATTR_VALUE");
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
