//! The request classification table (`policies/requests.toml`).

use crate::soap::{NS_ACCOUNT, NS_ADMIN, NS_MAIL, NS_ZIMBRA};
use serde::Deserialize;
use std::collections::HashMap;
use thiserror::Error;

/// The table shipped with the gateway.
pub const DEFAULT_REQUESTS_TOML: &str = include_str!("../../policies/requests.toml");

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    Pass,
    Inspect,
    Refuse,
}

#[derive(Debug, Error)]
pub enum TableError {
    #[error("table des requêtes illisible : {0}")]
    Toml(#[from] toml::de::Error),
    #[error("table des requêtes : {0} classée deux fois")]
    Duplicate(String),
    #[error("table des requêtes : section inconnue [{0}]")]
    Section(String),
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Section {
    #[serde(default)]
    pass: Vec<String>,
    #[serde(default)]
    inspect: Vec<String>,
    #[serde(default)]
    refuse: Vec<String>,
}

/// `(namespace URI, local name) → class`.
#[derive(Debug, Clone)]
pub struct RequestTable {
    map: HashMap<(String, String), Class>,
}

fn section_ns(name: &str) -> Option<&'static str> {
    Some(match name {
        "mail" => NS_MAIL,
        "account" => NS_ACCOUNT,
        "admin" => NS_ADMIN,
        "zimbra" => NS_ZIMBRA,
        _ => return None,
    })
}

impl RequestTable {
    pub fn parse(text: &str) -> Result<Self, TableError> {
        let sections: HashMap<String, Section> = toml::from_str(text)?;
        let mut map = HashMap::new();
        for (sec, body) in sections {
            let ns = section_ns(&sec).ok_or_else(|| TableError::Section(sec.clone()))?;
            for (class, names) in [
                (Class::Pass, body.pass),
                (Class::Inspect, body.inspect),
                (Class::Refuse, body.refuse),
            ] {
                for n in names {
                    if map.insert((ns.to_string(), n.clone()), class).is_some() {
                        return Err(TableError::Duplicate(format!("{sec}:{n}")));
                    }
                }
            }
        }
        Ok(RequestTable { map })
    }

    pub fn builtin() -> Self {
        Self::parse(DEFAULT_REQUESTS_TOML).expect("embedded policies/requests.toml is valid")
    }

    pub fn class(&self, ns: &str, name: &str) -> Option<Class> {
        self.map.get(&(ns.to_string(), name.to_string())).copied()
    }

    /// Every `(ns, name)` of one class (used by the completeness test).
    pub fn names(&self, class: Class) -> Vec<(String, String)> {
        let mut v: Vec<_> = self
            .map
            .iter()
            .filter(|(_, c)| **c == class)
            .map(|(k, _)| k.clone())
            .collect();
        v.sort();
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_table_loads() {
        let t = RequestTable::builtin();
        assert_eq!(t.class(NS_MAIL, "SendMsgRequest"), Some(Class::Inspect));
        assert_eq!(
            t.class(NS_MAIL, "CreateDataSourceRequest"),
            Some(Class::Refuse)
        );
        assert_eq!(t.class(NS_ACCOUNT, "GetInfoRequest"), Some(Class::Pass));
        // The namespace is part of the key: a mail request in the admin namespace is unknown.
        assert_eq!(t.class(NS_ADMIN, "SendMsgRequest"), None);
    }

    #[test]
    fn duplicates_and_unknown_sections_are_errors() {
        assert!(RequestTable::parse("[mail]\npass=[\"A\"]\nrefuse=[\"A\"]").is_err());
        assert!(RequestTable::parse("[voice]\npass=[\"A\"]").is_err());
    }
}
