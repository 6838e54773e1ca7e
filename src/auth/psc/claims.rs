//! What PSC's tokens must say (mssante-psc.md §1.5-§1.7): the ID token's standard
//! checks, the eIDAS level, the UserInfo claims and the national identifier.

use serde_json::{Map, Value};

/// Why a token or answer is refused; `reason()` is the audit code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClaimError {
    #[error("issuer {0:?} is not the provider's")]
    Issuer(String),
    #[error("audience does not name this client")]
    Audience,
    #[error("azp {0:?} is not this client")]
    AuthorizedParty(String),
    #[error("token expired")]
    Expired,
    #[error("token issued in the future")]
    IssuedInFuture,
    #[error("nonce does not match this login")]
    Nonce,
    #[error("claim {0} missing")]
    Missing(&'static str),
    #[error("acr {0:?} is below the required eIDAS level")]
    AcrTooLow(String),
    #[error("acr {0:?} is not an eIDAS level")]
    AcrUnknown(String),
    #[error("UserInfo sub differs from the ID token's")]
    SubjectMismatch,
    #[error("not a back-channel logout token (events)")]
    NotLogoutToken,
    #[error("a logout token must not carry a nonce")]
    NoncePresent,
    #[error("logout token already used (jti)")]
    Replayed,
    #[error("logout token too old")]
    Stale,
}

impl ClaimError {
    pub fn reason(&self) -> &'static str {
        match self {
            ClaimError::Issuer(_) => "wrong_issuer",
            ClaimError::Audience => "wrong_audience",
            ClaimError::AuthorizedParty(_) => "wrong_azp",
            ClaimError::Expired => "expired_token",
            ClaimError::IssuedInFuture => "token_from_future",
            ClaimError::Nonce => "nonce_mismatch",
            ClaimError::Missing(_) => "missing_claim",
            ClaimError::AcrTooLow(_) => "acr_too_low",
            ClaimError::AcrUnknown(_) => "acr_missing_or_unknown",
            ClaimError::SubjectMismatch => "userinfo_sub_mismatch",
            ClaimError::NotLogoutToken => "not_a_logout_token",
            ClaimError::NoncePresent => "logout_token_nonce",
            ClaimError::Replayed => "logout_token_replayed",
            ClaimError::Stale => "logout_token_stale",
        }
    }
}

/// eIDAS level of an `acr` value: eidas1 (substantial, e-CPS) … eidas3 (high, CPS card).
/// Anything else is unknown (PSC's discovery mock even advertises `"0"`).
pub fn eidas_level(acr: &str) -> Option<u8> {
    match acr {
        "eidas1" => Some(1),
        "eidas2" => Some(2),
        "eidas3" => Some(3),
        _ => None,
    }
}

fn str_claim<'a>(c: &'a Map<String, Value>, name: &str) -> Option<&'a str> {
    c.get(name).and_then(Value::as_str)
}

fn num_claim(c: &Map<String, Value>, name: &str) -> Option<i64> {
    c.get(name)
        .and_then(|v| v.as_i64().or_else(|| v.as_f64().map(|f| f as i64)))
}

/// `aud` as a list (a string or an array of strings).
fn audiences(c: &Map<String, Value>) -> Vec<&str> {
    match c.get("aud") {
        Some(Value::String(s)) => vec![s.as_str()],
        Some(Value::Array(a)) => a.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    }
}

/// What this login expects of the tokens.
pub struct Expected<'a> {
    pub issuer: &'a str,
    pub client_id: &'a str,
    pub now_secs: i64,
    pub leeway_secs: i64,
}

impl Expected<'_> {
    /// `iss`, `aud` (and `azp`), `exp`, `iat`: common to the ID and logout tokens.
    pub fn check_common(&self, c: &Map<String, Value>) -> Result<(), ClaimError> {
        let iss = str_claim(c, "iss").ok_or(ClaimError::Missing("iss"))?;
        if iss != self.issuer {
            return Err(ClaimError::Issuer(iss.into()));
        }
        let aud = audiences(c);
        if !aud.contains(&self.client_id) {
            return Err(ClaimError::Audience);
        }
        // Several audiences: the token must say it was issued to us (OIDC Core §3.1.3.7).
        match str_claim(c, "azp") {
            Some(azp) if azp != self.client_id => {
                return Err(ClaimError::AuthorizedParty(azp.into()))
            }
            None if aud.len() > 1 => return Err(ClaimError::Missing("azp")),
            _ => {}
        }
        if let Some(iat) = num_claim(c, "iat") {
            if iat > self.now_secs + self.leeway_secs {
                return Err(ClaimError::IssuedInFuture);
            }
        }
        Ok(())
    }

    /// The ID token's claims after every check (OIDC Core §3.1.3.7, PSC's eIDAS rule).
    pub fn check_id_token(
        &self,
        c: &Map<String, Value>,
        nonce: &str,
        min_level: u8,
    ) -> Result<IdTokenInfo, ClaimError> {
        self.check_common(c)?;
        let exp = num_claim(c, "exp").ok_or(ClaimError::Missing("exp"))?;
        if exp + self.leeway_secs <= self.now_secs {
            return Err(ClaimError::Expired);
        }
        num_claim(c, "iat").ok_or(ClaimError::Missing("iat"))?;
        let sub = str_claim(c, "sub")
            .filter(|s| !s.is_empty())
            .ok_or(ClaimError::Missing("sub"))?;
        // Compared as MACs would be overkill: the nonce is not secret once the token is out.
        if str_claim(c, "nonce") != Some(nonce) {
            return Err(ClaimError::Nonce);
        }
        let acr = str_claim(c, "acr").unwrap_or("");
        match eidas_level(acr) {
            None => return Err(ClaimError::AcrUnknown(acr.into())),
            Some(l) if l < min_level => return Err(ClaimError::AcrTooLow(acr.into())),
            Some(_) => {}
        }
        Ok(IdTokenInfo {
            sub: sub.into(),
            acr: acr.into(),
            sid: str_claim(c, "sid").map(str::to_string),
        })
    }
}

/// The back-channel logout event (OpenID Connect Back-Channel Logout 1.0 §2.4).
pub const LOGOUT_EVENT: &str = "http://schemas.openid.net/event/backchannel-logout";

/// Whom a logout token ends: the PSC session (`sid`) and/or the subject (`sub`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogoutInfo {
    pub sid: Option<String>,
    pub sub: Option<String>,
    pub jti: String,
}

impl Expected<'_> {
    /// Back-Channel Logout §2.6: signature checked by the caller, then `iss`, `aud`,
    /// `iat` (at most `max_age_secs` old), `exp` if present, the logout event, `sid`
    /// or `sub`, no `nonce` (an ID token is never a logout token), a `jti`.
    pub fn check_logout_token(
        &self,
        c: &Map<String, Value>,
        max_age_secs: i64,
    ) -> Result<LogoutInfo, ClaimError> {
        self.check_common(c)?;
        let iat = num_claim(c, "iat").ok_or(ClaimError::Missing("iat"))?;
        if iat + max_age_secs + self.leeway_secs < self.now_secs {
            return Err(ClaimError::Stale);
        }
        if let Some(exp) = num_claim(c, "exp") {
            if exp + self.leeway_secs <= self.now_secs {
                return Err(ClaimError::Expired);
            }
        }
        let event_ok = c
            .get("events")
            .and_then(Value::as_object)
            .and_then(|e| e.get(LOGOUT_EVENT))
            .is_some_and(Value::is_object);
        if !event_ok {
            return Err(ClaimError::NotLogoutToken);
        }
        if c.contains_key("nonce") {
            return Err(ClaimError::NoncePresent);
        }
        let non_empty = |k| {
            str_claim(c, k)
                .filter(|s| !s.is_empty())
                .map(str::to_string)
        };
        let (sid, sub) = (non_empty("sid"), non_empty("sub"));
        if sid.is_none() && sub.is_none() {
            return Err(ClaimError::Missing("sid"));
        }
        let jti = non_empty("jti").ok_or(ClaimError::Missing("jti"))?;
        Ok(LogoutInfo { sid, sub, jti })
    }
}

/// The parts of a verified ID token the gateway keeps.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct IdTokenInfo {
    pub sub: String,
    pub acr: String,
    pub sid: Option<String>,
}

/// The national identifier of a health professional (`SubjectNameID`, §1.7).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum NationalId {
    /// `8` + RPPS: the 11-digit RPPS number.
    Rpps(String),
    /// `0` + ADELI: the 9-digit ADELI number.
    Adeli(String),
    /// Anything else (EDIT test identities such as `ANS20231122132732`): never looked
    /// up in the annuaire, only in the gateway's own `psc_overrides` table.
    Opaque,
}

/// The person behind a PSC login.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Person {
    /// `SubjectNameID` exactly as PSC sent it (the key of `psc_overrides`).
    pub id_nat: String,
    pub kind: NationalId,
    pub given_name: String,
    pub family_name: String,
}

impl Person {
    /// Short label of the identifier type for audit events.
    pub fn kind_label(&self) -> &'static str {
        match self.kind {
            NationalId::Rpps(_) => "rpps",
            NationalId::Adeli(_) => "adeli",
            NationalId::Opaque => "opaque",
        }
    }
}

/// Longest identifier accepted (idNat is 10 or 12; EDIT ids ~17).
const MAX_ID_LEN: usize = 64;

/// Classifies `SubjectNameID`, cross-checked with `otherIds[].origine`: an entry for
/// the same value whose origin contradicts the prefix (EDIT, or ADELI for an 8…)
/// makes it opaque, so a test identity is never mapped through the annuaire.
pub fn classify(id: &str, other_ids: Option<&Value>) -> NationalId {
    let digits = id.bytes().all(|b| b.is_ascii_digit());
    let by_prefix = match (id.len(), id.as_bytes().first()) {
        (12, Some(b'8')) if digits => NationalId::Rpps(id[1..].to_string()),
        (10, Some(b'0')) if digits => NationalId::Adeli(id[1..].to_string()),
        _ => NationalId::Opaque,
    };
    let expected_origin = match by_prefix {
        NationalId::Rpps(_) => "RPPS",
        NationalId::Adeli(_) => "ADELI",
        NationalId::Opaque => return NationalId::Opaque,
    };
    let contradicted = other_ids
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter(|o| o.get("identifiant").and_then(Value::as_str) == Some(id))
        .filter_map(|o| o.get("origine").and_then(Value::as_str))
        .any(|origin| !origin.eq_ignore_ascii_case(expected_origin));
    if contradicted {
        NationalId::Opaque
    } else {
        by_prefix
    }
}

/// The person from UserInfo claims (unknown claims ignored). The e-mail is never used.
pub fn person_from_userinfo(
    c: &Map<String, Value>,
    id_token_sub: &str,
) -> Result<Person, ClaimError> {
    if str_claim(c, "sub") != Some(id_token_sub) {
        return Err(ClaimError::SubjectMismatch);
    }
    let id = str_claim(c, "SubjectNameID")
        .map(str::trim)
        .filter(|s| {
            !s.is_empty()
                && s.len() <= MAX_ID_LEN
                && s.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
        .ok_or(ClaimError::Missing("SubjectNameID"))?;
    Ok(Person {
        id_nat: id.to_string(),
        kind: classify(id, c.get("otherIds")),
        given_name: str_claim(c, "given_name").unwrap_or("").to_string(),
        family_name: str_claim(c, "family_name").unwrap_or("").to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn obj(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    fn expected() -> Expected<'static> {
        Expected {
            issuer: "https://auth.bas.psc.esante.gouv.fr/auth/realms/esante-wallet",
            client_id: "gw",
            now_secs: 1_000_000,
            leeway_secs: 30,
        }
    }

    fn id_token() -> Value {
        json!({"iss": "https://auth.bas.psc.esante.gouv.fr/auth/realms/esante-wallet",
               "aud": "gw", "sub": "f:550dc1c8:899700366240", "exp": 1_000_100, "iat": 999_990,
               "nonce": "n1", "acr": "eidas1", "sid": "s1", "idp": "PSC", "amr": ["pwd"]})
    }

    #[test]
    fn a_good_token_passes_and_eidas3_is_above_eidas1() {
        let info = expected()
            .check_id_token(&obj(id_token()), "n1", 1)
            .unwrap();
        assert_eq!(info.sub, "f:550dc1c8:899700366240");
        assert_eq!(info.sid.as_deref(), Some("s1"));
        let mut card = id_token();
        card["acr"] = json!("eidas3");
        assert!(expected().check_id_token(&obj(card), "n1", 1).is_ok());
    }

    #[test]
    fn each_check_refuses() {
        let cases: Vec<(&str, Value, &str)> = vec![
            ("iss", json!("https://evil.example"), "wrong_issuer"),
            ("aud", json!("other"), "wrong_audience"),
            ("aud", json!(["gw", "other"]), "missing_claim"),
            ("exp", json!(999_960), "expired_token"),
            ("iat", json!(1_000_100), "token_from_future"),
            ("nonce", json!("n0"), "nonce_mismatch"),
            ("acr", json!("eidas0"), "acr_missing_or_unknown"),
            ("acr", json!("EIDAS1"), "acr_missing_or_unknown"),
            ("sub", json!(""), "missing_claim"),
        ];
        for (k, v, reason) in cases {
            let mut t = id_token();
            t[k] = v.clone();
            let e = expected().check_id_token(&obj(t), "n1", 1).unwrap_err();
            assert_eq!(e.reason(), reason, "{k}={v}");
        }
        for k in ["acr", "nonce", "exp", "iat", "iss"] {
            let mut t = id_token();
            t.as_object_mut().unwrap().remove(k);
            assert!(expected().check_id_token(&obj(t), "n1", 1).is_err(), "{k}");
        }
        let mut t = id_token();
        t["aud"] = json!(["gw", "other"]);
        t["azp"] = json!("other");
        assert_eq!(
            expected()
                .check_id_token(&obj(t), "n1", 1)
                .unwrap_err()
                .reason(),
            "wrong_azp"
        );
        assert_eq!(
            expected()
                .check_id_token(&obj(id_token()), "n1", 2)
                .unwrap_err()
                .reason(),
            "acr_too_low"
        );
        // Within the leeway.
        let mut t = id_token();
        t["exp"] = json!(999_990);
        assert!(expected().check_id_token(&obj(t), "n1", 1).is_ok());
    }

    #[test]
    fn national_ids() {
        assert_eq!(
            classify("810101234567", None),
            NationalId::Rpps("10101234567".into())
        );
        assert_eq!(
            classify("0099999999", None),
            NationalId::Adeli("099999999".into())
        );
        assert_eq!(classify("ANS20231122132732", None), NationalId::Opaque);
        assert_eq!(classify("81010123456", None), NationalId::Opaque);
        assert_eq!(classify("8101012345a7", None), NationalId::Opaque);
        let rpps = json!([{"identifiant": "899700366240", "origine": "RPPS", "qualite": 1}]);
        assert_eq!(
            classify("899700366240", Some(&rpps)),
            NationalId::Rpps("99700366240".into())
        );
        let edit = json!([{"identifiant": "899700366240", "origine": "EDIT", "qualite": 1}]);
        assert_eq!(classify("899700366240", Some(&edit)), NationalId::Opaque);
    }

    #[test]
    fn userinfo_sample_from_psc() {
        // mssante-psc.md §1.6, shortened; unknown claims are ignored.
        let ui = obj(json!({
            "Secteur_Activite": "SA07^1.2.250.1.71.4.2.4",
            "sub": "f:550dc1c8-d97b-4b1e-ac8c-8eb4471cf9dd:899700366240",
            "email_verified": false, "SubjectOrganization": "CABINET M DOC0036624",
            "preferred_username": "899700366240", "given_name": "KIT",
            "SubjectRefPro": {"codeCivilite": "M", "exercices": [{"codeProfession": "10"}]},
            "otherIds": [{"identifiant": "899700366240", "origine": "RPPS", "qualite": 1}],
            "SubjectNameID": "899700366240", "family_name": "DOC0036624",
            "email": "kit.doc@example.fr"
        }));
        let p = person_from_userinfo(&ui, "f:550dc1c8-d97b-4b1e-ac8c-8eb4471cf9dd:899700366240")
            .unwrap();
        assert_eq!(p.id_nat, "899700366240");
        assert_eq!(p.kind, NationalId::Rpps("99700366240".into()));
        assert_eq!(p.family_name, "DOC0036624");
        assert_eq!(
            person_from_userinfo(&ui, "someone-else").unwrap_err(),
            ClaimError::SubjectMismatch
        );
        let mut no_id = ui.clone();
        no_id.remove("SubjectNameID");
        assert_eq!(
            person_from_userinfo(&no_id, &p_sub()).unwrap_err(),
            ClaimError::Missing("SubjectNameID")
        );
    }

    #[test]
    fn logout_tokens() {
        let good = json!({"iss": "https://auth.bas.psc.esante.gouv.fr/auth/realms/esante-wallet",
            "aud": "gw", "iat": 999_990, "jti": "j1", "sid": "s1", "sub": "u1",
            "events": {LOGOUT_EVENT: {}}});
        let info = expected()
            .check_logout_token(&obj(good.clone()), 600)
            .unwrap();
        assert_eq!(info.sid.as_deref(), Some("s1"));
        let cases: Vec<(&str, Option<Value>, &str)> = vec![
            ("nonce", Some(json!("n")), "logout_token_nonce"),
            ("events", None, "not_a_logout_token"),
            ("events", Some(json!({"other": {}})), "not_a_logout_token"),
            ("jti", None, "missing_claim"),
            ("aud", Some(json!("x")), "wrong_audience"),
            ("iss", Some(json!("x")), "wrong_issuer"),
            ("iat", Some(json!(900_000)), "logout_token_stale"),
            ("exp", Some(json!(999_000)), "expired_token"),
        ];
        for (k, v, reason) in cases {
            let mut t = good.clone();
            match v {
                Some(v) => t[k] = v,
                None => {
                    t.as_object_mut().unwrap().remove(k);
                }
            }
            let e = expected().check_logout_token(&obj(t), 600).unwrap_err();
            assert_eq!(e.reason(), reason, "{k}");
        }
        let mut t = good;
        t.as_object_mut().unwrap().remove("sid");
        t.as_object_mut().unwrap().remove("sub");
        assert!(expected().check_logout_token(&obj(t), 600).is_err());
    }

    fn p_sub() -> String {
        "f:550dc1c8-d97b-4b1e-ac8c-8eb4471cf9dd:899700366240".into()
    }
}
