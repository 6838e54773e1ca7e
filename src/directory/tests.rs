//! `Directory::answer` end to end on the in-memory backend.

use super::*;
use crate::soap::Element;

const LDIF: &str = "\
dn: mail=helene.dupre@chu-nantes.mssante.fr,ou=annuaire,dc=mssante,dc=fr
objectClass: inetOrgPerson
objectClass: mssanteBal
mail: helene.dupre@chu-nantes.mssante.fr
sn: DUPRÉ
givenName:: SMOpbMOobmU=
o: CHU DE NANTES
postalCode: 44093
l: NANTES
mssanteDepartement: Loire-Atlantique
mssanteProfession: Infirmier
mssanteIdNat: 810103197363
mssanteIdPP: 10103197363
mssanteTypeBal: PER

dn: mail=secretariat.cardio@chu-nantes.mssante.fr,ou=annuaire,dc=mssante,dc=fr
objectClass: inetOrgPerson
objectClass: mssanteBal
mail: secretariat.cardio@chu-nantes.mssante.fr
sn: Secrétariat cardiologie
o: CHU DE NANTES
ou: Cardiologie
mssanteIdNat: 810103197363
mssanteTypeBal: ORG

dn: mail=alain.martin@medecin.mssante.fr,ou=annuaire,dc=mssante,dc=fr
objectClass: inetOrgPerson
objectClass: mssanteBal
mail: alain.martin@medecin.mssante.fr
sn: MARTIN
givenName: Alain
postalCode: 75009
l: PARIS
mssanteProfession: Médecin
mssanteTypeBal: PER
";

fn dir() -> Directory {
    let cfg = DirectoryConfig::default();
    let m = memory::MemoryBackend::from_ldif(LDIF.as_bytes(), &cfg.attributes).unwrap();
    Directory::with_backend(Backend::Memory(m), &cfg)
}

fn acct(name: &str) -> Element {
    Element::new(NS_ACCOUNT, name)
}

#[tokio::test]
async fn autocomplete_gal_folds_accents() {
    let req = acct("AutoCompleteGalRequest").with_child(acct("name").with_text("HELENE"));
    let r = dir().answer(&req, Format::Json).await.unwrap();
    assert!(r.is(NS_ACCOUNT, "AutoCompleteGalResponse"));
    assert_eq!(r.children.len(), 1);
    assert!(r.children[0]
        .kv
        .contains(&("firstName".into(), "Hélène".into())));
    assert_eq!(r.attr("more"), Some("0"));
}

#[tokio::test]
async fn search_gal_by_field_sorted_and_paged() {
    let req = acct("SearchGalRequest")
        .with_attr("limit", "1")
        .with_child(acct("name").with_text("."))
        .with_child(
            acct("searchFilter").with_child(
                acct("cond")
                    .with_attr("attr", "company")
                    .with_attr("op", "has")
                    .with_attr("value", "chu de nantes"),
            ),
        );
    let r = dir().answer(&req, Format::Soap12).await.unwrap();
    assert_eq!(r.attr("more"), Some("1"));
    assert_eq!(r.attr("paginationSupported"), Some("1"));
    assert_eq!(r.children.len(), 1);
    assert_eq!(
        r.children[0].attr("id"),
        Some("mail=helene.dupre@chu-nantes.mssante.fr,ou=annuaire,dc=mssante,dc=fr")
    );
    let next = req.clone().with_attr("offset", "1");
    let r = dir().answer(&next, Format::Soap12).await.unwrap();
    assert_eq!(r.attr("more"), Some("0"));
    assert!(r.children[0]
        .kv
        .contains(&("department".into(), "Cardiologie".into())));
}

#[tokio::test]
async fn autocomplete_merges_with_contacts() {
    let req = Element::new(NS_MAIL, "AutoCompleteRequest").with_attr("name", "martin");
    let up = Element::new(NS_MAIL, "AutoCompleteResponse").with_child(
        Element::new(NS_MAIL, "match")
            .with_attr("email", "\"Bob\" <bob.martin@x.fr>")
            .with_attr("type", "contact"),
    );
    let r = dir().answer_autocomplete(&req, &up).await.unwrap();
    let emails: Vec<_> = r
        .children
        .iter()
        .map(|m| m.attr("email").unwrap())
        .collect();
    assert_eq!(
        emails,
        vec![
            "\"Bob\" <bob.martin@x.fr>",
            "\"Alain MARTIN\" <alain.martin@medecin.mssante.fr>"
        ]
    );
    let no_gal = req.with_attr("includeGal", "0");
    assert_eq!(dir().answer_autocomplete(&no_gal, &up).await.unwrap(), up);
}

#[tokio::test]
async fn injection_values_match_nothing() {
    for v in ["*", ")(mail=*", "\\00", "*)(objectClass=*"] {
        let req = acct("AutoCompleteGalRequest").with_attr("name", v);
        let r = dir().answer(&req, Format::Json).await.unwrap();
        assert!(r.children.is_empty(), "{v}");
    }
    let long = acct("AutoCompleteGalRequest").with_attr("name", "x".repeat(10_000));
    assert_eq!(
        dir().answer(&long, Format::Json).await.unwrap_err().code,
        "service.INVALID_REQUEST"
    );
}

#[tokio::test]
async fn mailbox_for_identifier_prefers_personal_box() {
    let d = dir();
    for id in ["10103197363", "810103197363"] {
        assert_eq!(
            d.mailbox_for_identifier(id).await.unwrap().as_deref(),
            Some("helene.dupre@chu-nantes.mssante.fr")
        );
    }
    assert_eq!(d.mailbox_for_identifier("99999999999").await.unwrap(), None);
    assert_eq!(d.mailbox_for_identifier("*").await.unwrap(), None);
}

#[test]
fn unavailable_fault_is_french_and_server_side() {
    let f = DirectoryError::Unavailable("x".into()).to_fault();
    assert_eq!(f.code, "service.TEMPORARILY_UNAVAILABLE");
    assert_eq!(f.reason, UNAVAILABLE_REASON);
    assert!(f.receiver);
}
