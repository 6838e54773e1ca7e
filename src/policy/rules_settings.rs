//! Rules for standing configuration that makes mail leave later or changes the
//! sender (zimbra-api §6.2: preferences, filters, identities).

use super::check::{Check, Ctx};
use crate::soap::Element;

/// Preference names (lowercase: Zimbra attribute names are case-insensitive) whose
/// value is an address list that will receive mail.
const TRUSTED_ADDRESS_PREFS: &[&str] = &[
    "zimbraprefmailforwardingaddress",
    "zimbraprefcalendarforwardinvitesto",
    "zimbraprefcalendarreminderemail",
    "zimbraprefreplytoaddress",
    "zimbraprefreadreceiptstoaddress",
    "zimbraprefbccaddress",
];
/// Preferences that must name one of the user's own addresses.
const OWN_ADDRESS_PREFS: &[&str] = &[
    "zimbrapreffromaddress",
    "zimbraprefallowaddressfordelegatedsender",
];
/// Preferences never settable through the gateway: the recovery address is set only
/// through SetRecoveryAccount, whose code goes to a checked address (§6.2 #20).
const REFUSED_PREFS: &[&str] = &[
    "zimbraprefpasswordrecoveryaddress",
    "zimbraprefpasswordrecoveryaddressstatus",
];

/// Checks one `name = value` preference or identity attribute.
fn check_pref(name: &str, value: &str, ctx: &Ctx, chk: &mut Check) {
    let key = name
        .trim()
        .trim_start_matches(['+', '-'])
        .to_ascii_lowercase();
    if value.trim().is_empty() && !REFUSED_PREFS.contains(&key.as_str()) {
        return; // clearing a value sends nothing
    }
    if REFUSED_PREFS.contains(&key.as_str()) {
        chk.deny(format!("préférence {name} non modifiable"));
    } else if TRUSTED_ADDRESS_PREFS.contains(&key.as_str()) {
        chk.addr(ctx, value);
    } else if OWN_ADDRESS_PREFS
        .iter()
        .any(|p| p.eq_ignore_ascii_case(&key))
    {
        match super::address::parse_address_list(value) {
            Ok(list) if !list.is_empty() && list.iter().all(|m| ctx.user.is_own(&m.addr())) => {}
            _ => chk.deny(format!("{name} doit être une de vos adresses")),
        }
    }
}

/// ModifyPrefsRequest: XML `<pref name>` children and JSON `_attrs` (§6.2 #20). The
/// new-mail notification address is allowed (it carries no content).
pub(crate) fn modify_prefs(req: &Element, ctx: &Ctx, chk: &mut Check) -> Option<Element> {
    for (k, v) in req.key_values("pref", "name") {
        check_pref(&k, &v, ctx, chk);
    }
    // A `pref` child with a value but no readable name is refused (default deny).
    for p in req.children_named("pref") {
        if p.attr_all("name").len() != 1 {
            chk.deny("préférence sans nom unique");
        }
    }
    None
}

/// CreateIdentityRequest / ModifyIdentityRequest: `identity/a[@name]`, JSON `_attrs`,
/// and attributes written directly on `identity` (§6.2 #25).
pub(crate) fn identity(req: &Element, ctx: &Ctx, chk: &mut Check) -> Option<Element> {
    for id in req.children_named("identity") {
        for (k, v) in id.key_values("a", "name") {
            check_pref(&k, &v, ctx, chk);
        }
        for a in &id.attrs {
            check_pref(&a.name, &a.value, ctx, chk);
        }
    }
    None
}

/// Addresses of a `mailto:` URL (`actionRFCCompliantNotify/@method`).
fn mailto_addresses(url: &str) -> Option<String> {
    let rest = url
        .trim()
        .strip_prefix("mailto:")
        .or_else(|| url.trim().strip_prefix("MAILTO:"))?;
    let to = rest.split('?').next().unwrap_or("");
    Some(
        percent_encoding::percent_decode_str(to)
            .decode_utf8_lossy()
            .into_owned(),
    )
}

/// ModifyFilterRulesRequest / ModifyOutgoingFilterRulesRequest (§6.2 #21, #22):
/// redirect and notify targets must be trusted; reply/reject per `allow_filter_reply`.
pub(crate) fn filter_rules(
    outgoing: bool,
) -> impl Fn(&Element, &Ctx, &mut Check) -> Option<Element> {
    move |req, ctx, chk| {
        for el in req.walk() {
            match el.name.as_str() {
                "actionRedirect" | "actionNotify" => {
                    let v = el.attr_all("a");
                    if v.is_empty() {
                        chk.deny(format!("{} sans adresse", el.name));
                    }
                    v.iter().for_each(|a| chk.addr(ctx, a));
                }
                "actionRFCCompliantNotify" => {
                    for m in el.attr_all("method") {
                        match mailto_addresses(m) {
                            Some(a) => chk.addr(ctx, &a),
                            None => chk.deny("méthode de notification non mailto refusée"),
                        }
                    }
                    for f in el.attr_all("from") {
                        if !ctx.user.is_own(f) {
                            chk.addr(ctx, f);
                        }
                    }
                }
                // Ignored by the server for outgoing filters (OutgoingMessageHandler).
                "actionReply" | "actionReject" | "actionEreject"
                    if !outgoing && !ctx.cfg.allow_filter_reply =>
                {
                    chk.deny(format!("action de filtre {} refusée", el.name));
                }
                _ => {}
            }
        }
        None
    }
}
