//! "Échanges Patients" (M5): the folder under Inbox and the filter rule that files
//! mail from patient addresses into it, as requests the caller sends on the user's
//! behalf, with idempotence checks on GetFolder / GetFilterRules answers.

use crate::soap::{Element, NS_MAIL};

pub const FOLDER_NAME: &str = "Échanges Patients";
pub const RULE_NAME: &str = "Échanges Patients";
/// Inbox folder id.
pub const INBOX_ID: &str = "2";
const PATIENT_MARKER: &str = "@patient.mssante.fr";

/// `CreateFolderRequest` for the folder (`fie="1"`: answers the existing folder
/// instead of `mail.ALREADY_EXISTS`, so a race is harmless).
pub fn create_folder_request() -> Element {
    Element::new(NS_MAIL, "CreateFolderRequest")
        .unique()
        .with_child(
            Element::new(NS_MAIL, "folder")
                .unique()
                .with_attr("name", FOLDER_NAME)
                .with_attr("l", INBOX_ID)
                .with_attr("view", "message")
                .with_bool("fie", true),
        )
}

/// Does a `GetFolderResponse` contain the folder directly under Inbox?
pub fn folder_exists(get_folder_response: &Element) -> bool {
    get_folder_response.walk().into_iter().any(|f| {
        f.name == "folder"
            && f.attr("id") == Some(INBOX_ID)
            && f.children_named("folder").any(|c| {
                c.attr("name")
                    .is_some_and(|n| n.eq_ignore_ascii_case(FOLDER_NAME))
            })
    })
}

/// The filter rule: `From` contains `@patient.mssante.fr` → file into the folder.
pub fn filter_rule() -> Element {
    Element::new(NS_MAIL, "filterRule")
        .with_attr("name", RULE_NAME)
        .with_bool("active", true)
        .with_child(
            Element::new(NS_MAIL, "filterTests")
                .unique()
                .with_attr("condition", "anyof")
                .with_child(
                    Element::new(NS_MAIL, "headerTest")
                        .with_num("index", 0)
                        .with_attr("header", "from")
                        .with_attr("stringComparison", "contains")
                        .with_attr("value", PATIENT_MARKER),
                ),
        )
        .with_child(
            Element::new(NS_MAIL, "filterActions").unique().with_child(
                Element::new(NS_MAIL, "actionFileInto")
                    .with_num("index", 0)
                    .with_attr("folderPath", format!("Inbox/{FOLDER_NAME}")),
            ),
        )
}

/// Is the rule already in a `GetFilterRulesResponse` (by name, or any rule filing
/// patient mail into the folder)?
pub fn rule_exists(get_filter_rules_response: &Element) -> bool {
    get_filter_rules_response
        .walk()
        .into_iter()
        .filter(|e| e.name == "filterRule")
        .any(|r| {
            r.attr("name") == Some(RULE_NAME)
                || (r
                    .walk()
                    .iter()
                    .any(|e| e.name == "headerTest" && e.attr("value") == Some(PATIENT_MARKER))
                    && r.walk().iter().any(|e| {
                        e.name == "actionFileInto"
                            && e.attr("folderPath")
                                .is_some_and(|p| p.trim_start_matches('/').ends_with(FOLDER_NAME))
                    }))
        })
}

/// `ModifyFilterRulesRequest` replacing the whole rule list: the existing rules (from
/// `GetFilterRulesResponse`) followed by ours; `None` when already present.
pub fn modify_filter_rules_request(get_filter_rules_response: &Element) -> Option<Element> {
    if rule_exists(get_filter_rules_response) {
        return None;
    }
    let mut rules: Vec<Element> = get_filter_rules_response
        .children_named("filterRules")
        .flat_map(|fr| fr.children_named("filterRule").cloned())
        .collect();
    rules.push(filter_rule());
    Some(
        Element::new(NS_MAIL, "ModifyFilterRulesRequest")
            .unique()
            .with_child(
                Element::new(NS_MAIL, "filterRules")
                    .unique()
                    .with_children(rules),
            ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folder_request_and_idempotence() {
        let req = create_folder_request();
        let f = req.child("folder").unwrap();
        assert_eq!(f.attr("name"), Some(FOLDER_NAME));
        assert_eq!(f.attr("l"), Some("2"));
        let mut inbox = Element::new(NS_MAIL, "folder")
            .with_attr("id", "2")
            .with_attr("name", "Inbox");
        let resp = |inbox: Element| {
            Element::new(NS_MAIL, "GetFolderResponse").with_child(
                Element::new(NS_MAIL, "folder")
                    .with_attr("id", "1")
                    .with_child(inbox),
            )
        };
        assert!(!folder_exists(&resp(inbox.clone())));
        inbox = inbox.with_child(
            Element::new(NS_MAIL, "folder")
                .with_attr("id", "300")
                .with_attr("name", FOLDER_NAME),
        );
        assert!(folder_exists(&resp(inbox)));
    }

    #[test]
    fn filter_rule_is_appended_once() {
        let other = Element::new(NS_MAIL, "filterRule").with_attr("name", "perso");
        let resp = Element::new(NS_MAIL, "GetFilterRulesResponse")
            .with_child(Element::new(NS_MAIL, "filterRules").with_child(other));
        let req = modify_filter_rules_request(&resp).unwrap();
        let rules: Vec<_> = req
            .child("filterRules")
            .unwrap()
            .children_named("filterRule")
            .collect();
        assert_eq!(rules.len(), 2);
        assert_eq!(rules[0].attr("name"), Some("perso"));
        let test = rules[1]
            .walk()
            .into_iter()
            .find(|e| e.name == "headerTest")
            .unwrap();
        assert_eq!(test.attr("value"), Some("@patient.mssante.fr"));
        // Feeding the new list back: nothing more to do.
        let again = Element::new(NS_MAIL, "GetFilterRulesResponse")
            .with_child(req.child("filterRules").unwrap().clone());
        assert!(modify_filter_rules_request(&again).is_none());
    }
}
