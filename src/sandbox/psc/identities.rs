//! The stand-in's test identities. Each personal one has its national identifier in
//! the demo annuaire (`fixtures/annuaire/sample.ldif`, demo mailboxes block, generated from `demo-accounts.txt`),
//! on a demo account of the sandbox; the EDIT one (a PSC test identity, not an RPPS
//! number) is mapped to no mailbox, to show that refusal.

use serde_json::{json, Value};

pub struct TestIdentity {
    /// `SubjectNameID`: 8+RPPS, 0+ADELI, or an EDIT test identifier.
    pub id_nat: &'static str,
    /// `otherIds[].origine`.
    pub origin: &'static str,
    pub given_name: &'static str,
    pub family_name: &'static str,
    pub profession_code: &'static str,
    pub profession: &'static str,
    /// The demo account the annuaire maps it to (shown on the page; `None`: none).
    pub mailbox: Option<&'static str>,
}

pub const IDENTITIES: &[TestIdentity] = &[
    TestIdentity {
        id_nat: "810900000001",
        origin: "RPPS",
        given_name: "Antoine",
        family_name: "LEFEVRE",
        profession_code: "10",
        profession: "Médecin",
        mailbox: Some("antoine.lefevre@esantepdl.mssante.fr"),
    },
    TestIdentity {
        id_nat: "810900000003",
        origin: "RPPS",
        given_name: "Adèle",
        family_name: "ALEXANDRE",
        profession_code: "21",
        profession: "Pharmacien",
        mailbox: Some("adele.alexandre@esantepdl.mssante.fr"),
    },
    TestIdentity {
        id_nat: "0049123456",
        origin: "ADELI",
        given_name: "Adrien",
        family_name: "MALOSSE",
        profession_code: "60",
        profession: "Infirmier",
        mailbox: Some("adrien.malosse27@esantepdl.mssante.fr"),
    },
    TestIdentity {
        id_nat: "810900000006",
        origin: "RPPS",
        given_name: "Sophie",
        family_name: "MARTIN",
        profession_code: "10",
        profession: "Médecin",
        mailbox: Some("sophie.martin@chu-exemple.mssante.fr"),
    },
    TestIdentity {
        id_nat: "ANS20231122132732",
        origin: "EDIT",
        given_name: "Test",
        family_name: "EDIT",
        profession_code: "10",
        profession: "Identité de test",
        mailbox: None,
    },
];

impl TestIdentity {
    /// Keycloak's federated subject form `f:<uuid>:<idNat>` (stable, opaque).
    pub fn sub(&self) -> String {
        let d = ring::digest::digest(&ring::digest::SHA256, self.id_nat.as_bytes());
        let h = hex::encode(&d.as_ref()[..16]);
        format!(
            "f:{}-{}-{}-{}-{}:{}",
            &h[..8],
            &h[8..12],
            &h[12..16],
            &h[16..20],
            &h[20..32],
            self.id_nat
        )
    }

    /// UserInfo claims shaped like PSC's (mssante-psc.md §1.6).
    pub fn userinfo(&self, card: bool) -> Value {
        json!({
            "sub": self.sub(),
            "SubjectNameID": self.id_nat,
            "preferred_username": self.id_nat,
            "given_name": self.given_name,
            "family_name": self.family_name,
            "email_verified": false,
            "otherIds": [{"identifiant": self.id_nat, "origine": self.origin, "qualite": 1}],
            "SubjectRefPro": {"codeCivilite": "", "exercices": [{
                "codeProfession": self.profession_code, "codeCategorieProfessionnelle": "C",
                "nomDexercice": self.family_name, "prenomDexercice": self.given_name,
                "activities": [{"codeModeExercice": "L", "codeSecteurDactivite": "SA07"}]}]},
            "SubjectRole": [format!("{}^1.2.250.1.213.1.1.5.5", self.profession_code)],
            "Secteur_Activite": "SA07^1.2.250.1.71.4.2.4",
            "UITVersion": "1.0",
            "authMode": if card { "CARD" } else { "MOBILE" },
        })
    }
}
