//! Configuration section for this module (`[directory]` in the TOML file).
//!
//! ```toml
//! [directory]
//! backend = "ldap"
//! url = "ldaps://annuaire.example.fr:636"
//! bind_dn = "cn=gateway,ou=services,dc=mssante,dc=fr"
//! bind_password_file = "/run/secrets/ldap-bind"
//! base_dn = "ou=annuaire,dc=mssante,dc=fr"
//! ca_file = "/etc/mssante/ldap-ca.pem"
//! ```

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// Where the annuaire lives.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum BackendKind {
    /// A real LDAP server (production).
    #[default]
    Ldap,
    /// Entries loaded in memory from an LDIF file (demo, tests). Same matching rules.
    Ldif,
}

/// The bind password uses the configuration's redacted secret type.
pub use crate::config::Secret;

/// `[directory]`: the annuaire backend, LDAP connection, limits, cache and mapping.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct DirectoryConfig {
    /// `ldap` (default) or `ldif` (demo, tests).
    pub backend: BackendKind,
    /// LDIF file loaded by the `ldif` backend; required with it (no default: the demo
    /// annuaire is never served by accident).
    pub ldif_file: PathBuf,
    /// `ldap://host:port` or `ldaps://host:port`; required with the `ldap` backend.
    pub url: String,
    /// Service account DN; none = anonymous bind. Default none.
    pub bind_dn: Option<String>,
    /// Bind password; give it as `bind_password_file` (the configuration loader reads
    /// the file). Default none.
    pub bind_password: Option<Secret>,
    /// Search base. Default `ou=annuaire,dc=mssante,dc=fr` (same as the importer).
    pub base_dn: String,
    /// PEM file of the CA that signed the LDAP server certificate (ldaps/StartTLS).
    /// Default none = the system roots.
    pub ca_file: Option<PathBuf>,
    /// Upgrade an `ldap://` connection with StartTLS. Default false.
    pub starttls: bool,
    /// Maximum open LDAP connections. Default 4.
    pub pool_size: usize,
    /// TCP+TLS connect timeout, milliseconds. Default 3000.
    pub connect_timeout_ms: u64,
    /// Timeout of one LDAP operation (bind, search), milliseconds. Default 5000.
    pub operation_timeout_ms: u64,
    /// Most entries fetched for one search (server size limit too). Default 500.
    pub size_limit: usize,
    /// Server-side time limit of one search, seconds. Default 5.
    pub time_limit_s: u32,
    /// Paged-results page size for large answers. Default 200.
    pub page_size: u32,
    /// Most `cn` in a SearchGal answer (Zimbra's `zimbraGalMaxResults`). Default 100.
    pub max_results: usize,
    /// Most matches in an autocomplete answer (`zimbraContactAutoCompleteMaxResults`). Default 20.
    pub autocomplete_max_results: usize,
    /// Longest accepted search value, characters. Default 128.
    pub max_value_len: usize,
    /// How long an answer is fresh, seconds. Default 300.
    pub cache_ttl_s: u64,
    /// How long a stale answer may still be served while the directory is down, seconds.
    /// Default 3600.
    pub cache_stale_s: u64,
    /// Most cached answers. Default 10000.
    pub cache_capacity: u64,
    /// LDAP attribute names for each annuaire field (defaults = the shipped schema).
    pub attributes: AttributeMap,
}

impl Default for DirectoryConfig {
    fn default() -> Self {
        DirectoryConfig {
            backend: BackendKind::Ldap,
            ldif_file: PathBuf::new(),
            url: String::new(),
            bind_dn: None,
            bind_password: None,
            base_dn: crate::directory::import::DEFAULT_BASE_DN.into(),
            ca_file: None,
            starttls: false,
            pool_size: 4,
            connect_timeout_ms: 3000,
            operation_timeout_ms: 5000,
            size_limit: 500,
            time_limit_s: 5,
            page_size: 200,
            max_results: 100,
            autocomplete_max_results: 20,
            max_value_len: 128,
            cache_ttl_s: 300,
            cache_stale_s: 3600,
            cache_capacity: 10_000,
            attributes: AttributeMap::default(),
        }
    }
}

/// LDAP attribute name of each field. `norm_*` hold the folded copies the importer writes.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct AttributeMap {
    /// Structural + auxiliary class every annuaire entry has. Default `mssanteBal`.
    pub object_class: String,
    /// MSSanté address. Default `mail`.
    pub mail: String,
    /// Nom d'exercice. Default `sn`.
    pub last_name: String,
    /// Prénom d'exercice. Default `givenName`.
    pub first_name: String,
    /// Display name. Default `cn`.
    pub full_name: String,
    /// Civilité d'exercice. Default `mssanteCivilite`.
    pub civility: String,
    /// Structure (raison sociale). Default `o`.
    pub structure: String,
    /// Structure identifier (FINESS/SIRET…). Default `mssanteStructureId`.
    pub structure_id: String,
    /// Service de rattachement. Default `ou`.
    pub service: String,
    /// Street line. Default `street`.
    pub street: String,
    /// Code postal. Default `postalCode`.
    pub postal_code: String,
    /// Ville. Default `l`.
    pub city: String,
    /// Département. Default `mssanteDepartement`.
    pub department: String,
    /// Pays. Default `c`… free text, so `mssantePays`.
    pub country: String,
    /// Telephone. Default `telephoneNumber`.
    pub phone: String,
    /// National id of the person (8+RPPS or 0+ADELI). Default `mssanteIdNat`.
    pub id_nat: String,
    /// RPPS (11 digits) or ADELI (9 digits). Default `mssanteIdPP`.
    pub id_pp: String,
    /// Profession code. Default `mssanteProfessionCode`.
    pub profession_code: String,
    /// Profession label. Default `mssanteProfession`.
    pub profession: String,
    /// Specialty (savoir-faire) code. Default `mssanteSpecialiteCode`.
    pub specialty_code: String,
    /// Specialty label. Default `mssanteSpecialite`.
    pub specialty: String,
    /// PER | ORG | APP | CAB. Default `mssanteTypeBal`.
    pub mailbox_type: String,
    /// Liste rouge flag (TRUE = never returned). Default `mssanteListeRouge`.
    pub unlisted: String,
    /// Folded last name. Default `mssanteNormSn`.
    pub norm_last_name: String,
    /// Folded first name. Default `mssanteNormGivenName`.
    pub norm_first_name: String,
    /// Folded display name. Default `mssanteNormCn`.
    pub norm_full_name: String,
    /// Folded city. Default `mssanteNormVille`.
    pub norm_city: String,
    /// Folded department. Default `mssanteNormDepartement`.
    pub norm_department: String,
    /// Folded profession + specialty labels. Default `mssanteNormProfession`.
    pub norm_profession: String,
    /// Folded structure + service. Default `mssanteNormStructure`.
    pub norm_structure: String,
}

impl Default for AttributeMap {
    fn default() -> Self {
        let s = |v: &str| v.to_string();
        AttributeMap {
            object_class: s("mssanteBal"),
            mail: s("mail"),
            last_name: s("sn"),
            first_name: s("givenName"),
            full_name: s("cn"),
            civility: s("mssanteCivilite"),
            structure: s("o"),
            structure_id: s("mssanteStructureId"),
            service: s("ou"),
            street: s("street"),
            postal_code: s("postalCode"),
            city: s("l"),
            department: s("mssanteDepartement"),
            country: s("mssantePays"),
            phone: s("telephoneNumber"),
            id_nat: s("mssanteIdNat"),
            id_pp: s("mssanteIdPP"),
            profession_code: s("mssanteProfessionCode"),
            profession: s("mssanteProfession"),
            specialty_code: s("mssanteSpecialiteCode"),
            specialty: s("mssanteSpecialite"),
            mailbox_type: s("mssanteTypeBal"),
            unlisted: s("mssanteListeRouge"),
            norm_last_name: s("mssanteNormSn"),
            norm_first_name: s("mssanteNormGivenName"),
            norm_full_name: s("mssanteNormCn"),
            norm_city: s("mssanteNormVille"),
            norm_department: s("mssanteNormDepartement"),
            norm_profession: s("mssanteNormProfession"),
            norm_structure: s("mssanteNormStructure"),
        }
    }
}

impl AttributeMap {
    /// Every configured name, for validation and the LDAP attribute list.
    pub fn all(&self) -> Vec<&str> {
        vec![
            &self.mail,
            &self.last_name,
            &self.first_name,
            &self.full_name,
            &self.civility,
            &self.structure,
            &self.structure_id,
            &self.service,
            &self.street,
            &self.postal_code,
            &self.city,
            &self.department,
            &self.country,
            &self.phone,
            &self.id_nat,
            &self.id_pp,
            &self.profession_code,
            &self.profession,
            &self.specialty_code,
            &self.specialty,
            &self.mailbox_type,
            &self.unlisted,
            &self.norm_last_name,
            &self.norm_first_name,
            &self.norm_full_name,
            &self.norm_city,
            &self.norm_department,
            &self.norm_profession,
            &self.norm_structure,
        ]
        .into_iter()
        .map(String::as_str)
        .collect()
    }

    /// Each mapped attribute with its configuration key (`city` for `directory.attributes.city`).
    pub fn named(&self) -> Vec<(&'static str, &str)> {
        vec![
            ("mail", &self.mail),
            ("last_name", &self.last_name),
            ("first_name", &self.first_name),
            ("full_name", &self.full_name),
            ("civility", &self.civility),
            ("structure", &self.structure),
            ("structure_id", &self.structure_id),
            ("service", &self.service),
            ("street", &self.street),
            ("postal_code", &self.postal_code),
            ("city", &self.city),
            ("department", &self.department),
            ("country", &self.country),
            ("phone", &self.phone),
            ("id_nat", &self.id_nat),
            ("id_pp", &self.id_pp),
            ("profession_code", &self.profession_code),
            ("profession", &self.profession),
            ("specialty_code", &self.specialty_code),
            ("specialty", &self.specialty),
            ("mailbox_type", &self.mailbox_type),
            ("unlisted", &self.unlisted),
            ("norm_last_name", &self.norm_last_name),
            ("norm_first_name", &self.norm_first_name),
            ("norm_full_name", &self.norm_full_name),
            ("norm_city", &self.norm_city),
            ("norm_department", &self.norm_department),
            ("norm_profession", &self.norm_profession),
            ("norm_structure", &self.norm_structure),
        ]
        .into_iter()
        .map(|(k, v): (&'static str, &String)| (k, v.as_str()))
        .collect()
    }

    /// Attribute names go into filters unescaped, so only RFC 4512 descriptors are allowed.
    pub fn validate(&self) -> Result<(), String> {
        let ok = |n: &str| {
            !n.is_empty()
                && n.starts_with(|c: char| c.is_ascii_alphabetic())
                && n.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        };
        match std::iter::once(self.object_class.as_str())
            .chain(self.all())
            .find(|n| !ok(n))
        {
            Some(bad) => Err(format!("nom d'attribut LDAP invalide: {bad:?}")),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_secret_is_redacted() {
        let c = DirectoryConfig {
            bind_password: Some(Secret::new("hunter2")),
            ..Default::default()
        };
        assert!(c.attributes.validate().is_ok());
        assert!(!format!("{c:?}").contains("hunter2"));
        assert!(!toml::to_string(&c).unwrap().contains("hunter2"));
    }

    #[test]
    fn rejects_injected_attribute_names() {
        let m = AttributeMap {
            city: "l)(uid=*".into(),
            ..Default::default()
        };
        assert!(m.validate().is_err());
    }

    #[test]
    fn unknown_fields_are_refused() {
        let r: Result<DirectoryConfig, _> = toml::from_str("urll = \"x\"");
        assert!(r.is_err());
        let c: DirectoryConfig = toml::from_str("backend = \"ldap\"\npool_size = 2").unwrap();
        assert_eq!(c.backend, BackendKind::Ldap);
        assert_eq!(c.pool_size, 2);
    }
}
