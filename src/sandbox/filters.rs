//! Get/ModifyFilterRules and the Outgoing variants: the `filterRules` tree is stored as
//! given and returned as is. Incoming rules are applied on local delivery (enough of
//! Sieve for fileinto/discard on address and header tests).

use crate::soap::{Element, Fault, NS_MAIL};

use super::call::Call;

fn names(outgoing: bool) -> (&'static str, &'static str) {
    if outgoing {
        (
            "GetOutgoingFilterRulesResponse",
            "ModifyOutgoingFilterRulesResponse",
        )
    } else {
        ("GetFilterRulesResponse", "ModifyFilterRulesResponse")
    }
}

pub fn get(call: &mut Call<'_>, _req: &Element, outgoing: bool) -> Result<Element, Fault> {
    let account = call.account()?;
    let store = call.state.store.lock();
    let mb = &store.mailboxes[&account.id];
    let stored = if outgoing {
        &mb.outgoing_filter_rules
    } else {
        &mb.filter_rules
    };
    let mut rules = stored
        .clone()
        .unwrap_or_else(|| Element::new(NS_MAIL, "filterRules"));
    rules.list = true;
    Ok(Element::new(NS_MAIL, names(outgoing).0).with_child(rules))
}

pub fn modify(call: &mut Call<'_>, req: &Element, outgoing: bool) -> Result<Element, Fault> {
    let account = call.account()?;
    let rules = req
        .child("filterRules")
        .ok_or_else(|| Fault::invalid_request("missing required element: filterRules"))?;
    for rule in rules.children_named("filterRule") {
        if rule.attr("name").unwrap_or("").is_empty() {
            return Err(super::call::missing("name"));
        }
    }
    let mut store = call.state.store.lock();
    let mb = store
        .mailboxes
        .get_mut(&account.id)
        .ok_or_else(|| Fault::perm_denied("no mailbox"))?;
    let slot = if outgoing {
        &mut mb.outgoing_filter_rules
    } else {
        &mut mb.filter_rules
    };
    *slot = Some(rules.clone());
    Ok(Element::new(NS_MAIL, names(outgoing).1))
}

/// What incoming rules decide for one message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// File into this folder path (None = Inbox).
    Deliver(Option<String>),
    Discard,
}

/// The headers a rule can look at: (lower-case name, value).
pub type Headers<'a> = &'a [(String, String)];

fn glob(pattern: &str, value: &str) -> bool {
    fn go(p: &[char], v: &[char]) -> bool {
        match (p.first(), v.first()) {
            (None, None) => true,
            (Some('*'), _) => go(&p[1..], v) || (!v.is_empty() && go(p, &v[1..])),
            (Some('?'), Some(_)) => go(&p[1..], &v[1..]),
            (Some(a), Some(b)) => a == b && go(&p[1..], &v[1..]),
            _ => false,
        }
    }
    let p: Vec<char> = pattern.to_lowercase().chars().collect();
    let v: Vec<char> = value.to_lowercase().chars().collect();
    go(&p, &v)
}

fn compare(how: &str, value: &str, wanted: &str) -> bool {
    let (v, w) = (value.to_lowercase(), wanted.to_lowercase());
    match how {
        "is" => v == w,
        "contains" => v.contains(&w),
        "matches" => glob(wanted, value),
        _ => false,
    }
}

/// Bare address out of `"Name" <a@b>`.
fn bare(addr: &str) -> &str {
    match (addr.rfind('<'), addr.rfind('>')) {
        (Some(s), Some(e)) if s < e => &addr[s + 1..e],
        _ => addr.trim(),
    }
}

fn test_matches(test: &Element, headers: Headers<'_>) -> bool {
    let negative = test.attr("negative") == Some("1");
    let header_names: Vec<String> = test
        .attr("header")
        .unwrap_or("")
        .split(',')
        .map(|h| h.trim().to_lowercase())
        .collect();
    let how = test.attr("stringComparison").unwrap_or("contains");
    let wanted = test.attr("value").unwrap_or("");
    let values = headers
        .iter()
        .filter(|(k, _)| header_names.contains(k))
        .map(|(_, v)| v.as_str());
    let hit = match test.name.as_str() {
        "addressTest" => {
            let part = test.attr("part").unwrap_or("all");
            values.flat_map(|v| v.split(',')).any(|a| {
                let a = bare(a);
                let piece = match part {
                    "localpart" => a.split('@').next().unwrap_or(""),
                    "domain" => a.rsplit('@').next().unwrap_or(""),
                    _ => a,
                };
                compare(how, piece, wanted)
            })
        }
        "headerTest" => values.into_iter().any(|v| compare(how, v, wanted)),
        "trueTest" => true,
        _ => false,
    };
    hit != negative
}

/// Runs active incoming rules in order.
pub fn apply(rules: Option<&Element>, headers: Headers<'_>) -> Decision {
    let Some(rules) = rules else {
        return Decision::Deliver(None);
    };
    let mut decision = Decision::Deliver(None);
    for rule in rules.children_named("filterRule") {
        if rule.attr("active") == Some("0") || rule.attr("active") == Some("false") {
            continue;
        }
        let Some(tests) = rule.child("filterTests") else {
            continue;
        };
        let any = tests.attr("condition") != Some("allof");
        let mut results = tests.children.iter().map(|t| test_matches(t, headers));
        let matched = if any {
            results.any(|r| r)
        } else {
            results.all(|r| r)
        };
        if !matched {
            continue;
        }
        let mut stop = false;
        for action in rule
            .child("filterActions")
            .map(|a| a.children.as_slice())
            .unwrap_or(&[])
        {
            match action.name.as_str() {
                "actionFileInto" => {
                    decision = Decision::Deliver(action.attr("folderPath").map(str::to_string))
                }
                "actionDiscard" => decision = Decision::Discard,
                "actionStop" => stop = true,
                _ => {}
            }
        }
        if stop {
            break;
        }
    }
    decision
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule() -> Element {
        Element::new(NS_MAIL, "filterRules").with_child(
            Element::new(NS_MAIL, "filterRule")
                .with_attr("name", "patients")
                .with_attr("active", "1")
                .with_child(
                    Element::new(NS_MAIL, "filterTests")
                        .with_attr("condition", "anyof")
                        .with_child(
                            Element::new(NS_MAIL, "addressTest")
                                .with_attr("header", "from")
                                .with_attr("part", "domain")
                                .with_attr("stringComparison", "is")
                                .with_attr("value", "patient.mssante.fr"),
                        ),
                )
                .with_child(
                    Element::new(NS_MAIL, "filterActions").with_child(
                        Element::new(NS_MAIL, "actionFileInto")
                            .with_attr("folderPath", "Échanges Patients"),
                    ),
                ),
        )
    }

    #[test]
    fn file_into_on_domain_match() {
        let r = rule();
        let h = vec![(
            "from".to_string(),
            "\"P\" <1234@patient.mssante.fr>".to_string(),
        )];
        assert_eq!(
            apply(Some(&r), &h),
            Decision::Deliver(Some("Échanges Patients".into()))
        );
        let h = vec![("from".to_string(), "x@esantepdl.mssante.fr".to_string())];
        assert_eq!(apply(Some(&r), &h), Decision::Deliver(None));
    }

    #[test]
    fn glob_matching() {
        assert!(glob("*@patient.*", "a@patient.mssante.fr"));
        assert!(!glob("a?c", "abbc"));
    }
}
