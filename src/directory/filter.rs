//! LDAP filters from a `Cond` tree (RFC 4515). Attribute names come from the validated
//! configuration (compiled once at start in `FilterTemplates`); every user value goes
//! through `ldap3::ldap_escape`.

use super::config::AttributeMap;
use super::query::{Cond, Field, Op};

/// Attribute names per field and the fixed part of every filter, built once at start.
#[derive(Debug, Clone)]
pub struct FilterTemplates {
    /// `(&(objectClass=mssanteBal)(!(mssanteListeRouge=TRUE))` — left open for the
    /// request's own condition.
    prefix: String,
    attrs: Vec<(Field, Vec<String>)>,
    /// Attributes requested from the server.
    pub wanted: Vec<String>,
    /// `(&(objectClass=…)(|(idNat=…)(idPP=…)))` for `mailbox_for_identifier`.
    id_attrs: Vec<String>,
}

impl FilterTemplates {
    pub fn new(map: &AttributeMap) -> Result<Self, String> {
        map.validate()?;
        let one = |a: &str| vec![a.to_string()];
        let attrs = vec![
            (Field::LastName, one(&map.norm_last_name)),
            (Field::FirstName, one(&map.norm_first_name)),
            (Field::FullName, one(&map.norm_full_name)),
            (Field::PostalCode, one(&map.postal_code)),
            (Field::City, one(&map.norm_city)),
            (Field::Department, one(&map.norm_department)),
            (Field::Profession, one(&map.norm_profession)),
            (Field::Structure, one(&map.norm_structure)),
            (Field::Email, one(&map.mail)),
            (
                Field::Identifier,
                vec![map.id_nat.clone(), map.id_pp.clone()],
            ),
        ];
        Ok(FilterTemplates {
            prefix: format!(
                "(&(objectClass={})(!({}=TRUE))",
                map.object_class, map.unlisted
            ),
            attrs,
            wanted: map
                .all()
                .into_iter()
                .filter(|a| !a.starts_with("mssanteNorm"))
                .map(String::from)
                .collect(),
            id_attrs: vec![map.id_nat.clone(), map.id_pp.clone()],
        })
    }

    /// The complete filter for a condition.
    pub fn compile(&self, cond: &Cond) -> String {
        let mut out = self.prefix.clone();
        self.push(cond, &mut out);
        out.push(')');
        out
    }

    /// Filter for one RPPS/ADELI identifier (with or without its 8/0 prefix).
    pub fn identifier(&self, id: &str) -> String {
        let v = ldap3::ldap_escape(id);
        let mut out = self.prefix.clone();
        out.push_str("(|");
        for a in &self.id_attrs {
            out.push_str(&format!("({a}={v})"));
        }
        out.push_str("))");
        out
    }

    fn push(&self, cond: &Cond, out: &mut String) {
        match cond {
            // Absolute true/false filters (RFC 4526), understood by OpenLDAP.
            Cond::True => out.push_str("(&)"),
            Cond::False => out.push_str("(|)"),
            Cond::And(v) | Cond::Or(v) => {
                out.push_str(if matches!(cond, Cond::And(_)) {
                    "(&"
                } else {
                    "(|"
                });
                for c in v {
                    self.push(c, out);
                }
                out.push(')');
            }
            Cond::Not(c) => {
                out.push_str("(!");
                self.push(c, out);
                out.push(')');
            }
            Cond::Leaf { field, op, value } => {
                let names = self
                    .attrs
                    .iter()
                    .find(|(f, _)| f == field)
                    .map(|(_, a)| a.as_slice())
                    .unwrap_or(&[]);
                let v = ldap3::ldap_escape(value.as_str());
                // An empty value would turn `has` into a presence test: match nothing
                // rather than everything.
                if value.is_empty() && *op != Op::Eq {
                    out.push_str("(|)");
                    return;
                }
                if names.len() != 1 {
                    out.push_str("(|");
                }
                for a in names {
                    let term = match op {
                        Op::Eq => format!("({a}={v})"),
                        Op::Has => format!("({a}=*{v}*)"),
                        Op::StartsWith => format!("({a}={v}*)"),
                        Op::EndsWith => format!("({a}=*{v})"),
                    };
                    out.push_str(&term);
                }
                if names.len() != 1 {
                    out.push(')');
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t() -> FilterTemplates {
        FilterTemplates::new(&AttributeMap::default()).unwrap()
    }

    #[test]
    fn compiles_free_text_with_folded_attrs() {
        let f = t().compile(&Cond::free_text("Hélène"));
        assert_eq!(
            f,
            "(&(objectClass=mssanteBal)(!(mssanteListeRouge=TRUE))(|(mail=hélène*)(mssanteNormSn=helene*)(mssanteNormGivenName=helene*)(mssanteNormCn=*helene*)))"
        );
    }

    #[test]
    fn escapes_injection_attempts() {
        let f = t().compile(&Cond::field(Field::Email, Op::Eq, "*)(objectClass=*"));
        assert!(f.contains("(mail=\\2a\\29\\28objectclass=\\2a)"), "{f}");
        // NUL is dropped before escaping (OpenLDAP would end the value there).
        let f = t().compile(&Cond::field(Field::City, Op::Has, "a\0b\\c"));
        assert!(f.contains("(mssanteNormVille=*ab\\5cc*)"), "{f}");
        let f = t().compile(&Cond::field(Field::City, Op::Has, "a(b)*"));
        assert!(f.contains("(mssanteNormVille=*a\\28b\\29\\2a*)"), "{f}");
        let f = t().identifier("1)(uid=*");
        assert!(f.contains("(mssanteIdNat=1\\29\\28uid=\\2a)"), "{f}");
    }

    #[test]
    fn true_false_not_and_empty() {
        let c = Cond::And(vec![Cond::True, Cond::Not(Box::new(Cond::False))]);
        assert!(t().compile(&c).ends_with("(&(&)(!(|))))"));
        let f = t().compile(&Cond::field(Field::City, Op::Has, ""));
        assert!(f.ends_with("(|))"));
    }
}
