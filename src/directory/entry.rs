//! One annuaire entry (a mailbox), independent of where it was read from.

use std::collections::HashMap;

use super::config::AttributeMap;
use super::normalize::fold;

/// A mailbox of the annuaire with the columns the guide's search dialog shows.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DirEntry {
    pub dn: String,
    pub mail: String,
    pub last_name: String,
    pub first_name: String,
    pub full_name: String,
    pub civility: String,
    pub structure: String,
    pub structure_id: String,
    pub service: String,
    pub street: String,
    pub postal_code: String,
    pub city: String,
    pub department: String,
    pub country: String,
    pub phone: String,
    /// 8+RPPS or 0+ADELI, as the guide's "N° RPPS ou ADELI" column shows it.
    pub id_nat: String,
    /// RPPS (11 digits) or ADELI (9 digits).
    pub id_pp: String,
    pub profession_code: String,
    pub profession: String,
    pub specialty_code: String,
    pub specialty: String,
    /// PER | ORG | APP | CAB.
    pub mailbox_type: String,
    pub unlisted: bool,
}

/// Folded search keys of an entry (what the `mssanteNorm*` attributes hold).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Folded {
    pub last_name: String,
    pub first_name: String,
    pub full_name: String,
    pub city: String,
    pub department: String,
    pub profession: String,
    pub structure: String,
}

impl DirEntry {
    /// Display name: `Prénom Nom`, else the structure/service for organisational boxes.
    pub fn display_name(&self) -> String {
        if !self.full_name.is_empty() {
            return self.full_name.clone();
        }
        let person = [self.first_name.as_str(), self.last_name.as_str()]
            .iter()
            .filter(|s| !s.is_empty())
            .copied()
            .collect::<Vec<_>>()
            .join(" ");
        if !person.is_empty() {
            person
        } else if !self.service.is_empty() {
            self.service.clone()
        } else if !self.structure.is_empty() {
            self.structure.clone()
        } else {
            self.mail.clone()
        }
    }

    pub fn folded(&self) -> Folded {
        let join = |a: &str, b: &str| fold(&format!("{a} {b}"));
        Folded {
            last_name: fold(&self.last_name),
            first_name: fold(&self.first_name),
            full_name: fold(&self.display_name()),
            city: fold(&self.city),
            department: fold(&self.department),
            profession: join(&self.profession, &self.specialty),
            structure: join(&self.structure, &self.service),
        }
    }

    /// Zimbra GAL contact attributes (`<a n=…>` / `_attrs`), empty values left out.
    ///
    /// Standard Zimbra names where one fits: `email`, `firstName`, `lastName`, `fullName`,
    /// `company` (structure), `department` (service), `workStreet`, `workPostalCode`,
    /// `workCity`, `workState` (département), `workCountry`, `workPhone`, `jobTitle`
    /// (profession label). MSSanté columns: `mssanteIdNat` (N° RPPS/ADELI as 8…/0…),
    /// `mssanteIdPP`, `mssanteProfessionCode`, `mssanteProfession`, `mssanteSpecialite`,
    /// `mssanteSpecialiteCode`, `mssanteTypeBal`, `mssanteStructureId`, `mssanteCivilite`.
    pub fn gal_attrs(&self) -> Vec<(String, String)> {
        let pairs = [
            ("email", self.mail.as_str()),
            ("firstName", &self.first_name),
            ("lastName", &self.last_name),
            ("fullName", &self.display_name()),
            ("company", &self.structure),
            ("department", &self.service),
            ("workStreet", &self.street),
            ("workPostalCode", &self.postal_code),
            ("workCity", &self.city),
            ("workState", &self.department),
            ("workCountry", &self.country),
            ("workPhone", &self.phone),
            ("jobTitle", &self.profession),
            ("mssanteIdNat", &self.id_nat),
            ("mssanteIdPP", &self.id_pp),
            ("mssanteProfessionCode", &self.profession_code),
            ("mssanteProfession", &self.profession),
            ("mssanteSpecialite", &self.specialty),
            ("mssanteSpecialiteCode", &self.specialty_code),
            ("mssanteTypeBal", &self.mailbox_type),
            ("mssanteStructureId", &self.structure_id),
            ("mssanteCivilite", &self.civility),
        ];
        pairs
            .into_iter()
            .filter(|(_, v)| !v.is_empty())
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    /// Builds an entry from LDAP-style attributes (names compared case-insensitively).
    pub fn from_attrs(dn: &str, attrs: &HashMap<String, Vec<String>>, map: &AttributeMap) -> Self {
        let get = |name: &str| -> String {
            attrs
                .get(&name.to_ascii_lowercase())
                .and_then(|v| v.first())
                .cloned()
                .unwrap_or_default()
        };
        DirEntry {
            dn: dn.to_string(),
            mail: get(&map.mail),
            last_name: get(&map.last_name),
            first_name: get(&map.first_name),
            full_name: get(&map.full_name),
            civility: get(&map.civility),
            structure: get(&map.structure),
            structure_id: get(&map.structure_id),
            service: get(&map.service),
            street: get(&map.street),
            postal_code: get(&map.postal_code),
            city: get(&map.city),
            department: get(&map.department),
            country: get(&map.country),
            phone: get(&map.phone),
            id_nat: get(&map.id_nat),
            id_pp: get(&map.id_pp),
            profession_code: get(&map.profession_code),
            profession: get(&map.profession),
            specialty_code: get(&map.specialty_code),
            specialty: get(&map.specialty),
            mailbox_type: get(&map.mailbox_type),
            unlisted: get(&map.unlisted).eq_ignore_ascii_case("TRUE"),
        }
    }

    /// LDAP attributes of this entry for the shipped schema (object classes, values and
    /// folded copies), in a stable order. Used by the importer's LDIF writer.
    pub fn to_ldap_attrs(&self, map: &AttributeMap) -> Vec<(String, String)> {
        let f = self.folded();
        let mut out: Vec<(String, String)> = vec![
            ("objectClass".into(), "inetOrgPerson".into()),
            ("objectClass".into(), map.object_class.clone()),
        ];
        // inetOrgPerson requires sn and cn: organisational boxes use their display name.
        let display = self.display_name();
        let sn = if self.last_name.is_empty() {
            &display
        } else {
            &self.last_name
        };
        let pairs = [
            (&map.mail, self.mail.as_str()),
            (&map.full_name, &display),
            (&map.last_name, sn),
            (&map.first_name, &self.first_name),
            (&map.civility, &self.civility),
            (&map.structure, &self.structure),
            (&map.structure_id, &self.structure_id),
            (&map.service, &self.service),
            (&map.street, &self.street),
            (&map.postal_code, &self.postal_code),
            (&map.city, &self.city),
            (&map.department, &self.department),
            (&map.country, &self.country),
            (&map.phone, &self.phone),
            (&map.id_nat, &self.id_nat),
            (&map.id_pp, &self.id_pp),
            (&map.profession_code, &self.profession_code),
            (&map.profession, &self.profession),
            (&map.specialty_code, &self.specialty_code),
            (&map.specialty, &self.specialty),
            (&map.mailbox_type, &self.mailbox_type),
            (&map.norm_last_name, &fold(sn)),
            (&map.norm_first_name, &f.first_name),
            (&map.norm_full_name, &f.full_name),
            (&map.norm_city, &f.city),
            (&map.norm_department, &f.department),
            (&map.norm_profession, &f.profession),
            (&map.norm_structure, &f.structure),
        ];
        out.extend(
            pairs
                .into_iter()
                .filter(|(_, v)| !v.is_empty())
                .map(|(k, v)| (k.clone(), v.to_string())),
        );
        if self.unlisted {
            out.push((map.unlisted.clone(), "TRUE".into()));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> DirEntry {
        DirEntry {
            mail: "helene.dupre@chu-nantes.mssante.fr".into(),
            first_name: "Hélène".into(),
            last_name: "DUPRÉ".into(),
            city: "Nantes".into(),
            mailbox_type: "PER".into(),
            ..Default::default()
        }
    }

    #[test]
    fn gal_attrs_use_zimbra_names_and_skip_empty() {
        let a = sample().gal_attrs();
        assert!(a.contains(&("email".into(), "helene.dupre@chu-nantes.mssante.fr".into())));
        assert!(a.contains(&("fullName".into(), "Hélène DUPRÉ".into())));
        assert!(a.contains(&("workCity".into(), "Nantes".into())));
        assert!(!a.iter().any(|(k, _)| k == "company"));
    }

    #[test]
    fn ldap_attrs_roundtrip_through_from_attrs() {
        let map = AttributeMap::default();
        let e = sample();
        let mut attrs: HashMap<String, Vec<String>> = HashMap::new();
        for (k, v) in e.to_ldap_attrs(&map) {
            attrs.entry(k.to_ascii_lowercase()).or_default().push(v);
        }
        assert_eq!(attrs["mssantenormsn"], vec!["dupre"]);
        let back = DirEntry::from_attrs("mail=x", &attrs, &map);
        assert_eq!(back.first_name, "Hélène");
        assert_eq!(back.full_name, "Hélène DUPRÉ");
    }
}
