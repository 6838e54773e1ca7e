//! The Postfix policy delegation protocol (`check_policy_service`, SMTPD_POLICY_README):
//! `name=value` lines, an empty line ends a request; the answer is one `action=…`
//! line and an empty line.

use crate::policy::address::parse_address_list;
use crate::policy::domain::normalize_domain;
use crate::policy::TrustSpace;
use std::collections::HashMap;

/// Longest request line accepted (Postfix attributes are short).
pub const MAX_LINE: usize = 8192;
/// Most attributes in one request.
pub const MAX_ATTRS: usize = 128;

/// What the MTA checks besides the trust space.
#[derive(Debug, Clone, Default)]
pub struct MtaSettings {
    /// Also check the envelope sender (a null sender `<>` is always allowed: bounces).
    pub check_sender: bool,
    /// The store's own domains: accepted as recipients (inbound mail to local users).
    pub local_domains: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    Dunno,
    Reject(String),
}

impl Answer {
    pub fn to_wire(&self) -> String {
        match self {
            Answer::Dunno => "action=DUNNO\n\n".into(),
            // A 5.7.1 reply: permanent, policy-related.
            Answer::Reject(why) => format!("action=REJECT 5.7.1 {why}\n\n"),
        }
    }
}

/// Splits one `name=value` line (the value may contain `=`).
pub fn parse_line(line: &str) -> Option<(&str, &str)> {
    let (k, v) = line.split_once('=')?;
    (!k.is_empty()).then_some((k, v))
}

fn allowed(addr: &str, trust: &TrustSpace, s: &MtaSettings) -> bool {
    let Ok(list) = parse_address_list(addr) else {
        return false;
    };
    let [m] = list.as_slice() else { return false };
    if trust.check_mailbox(m).is_ok() {
        return true;
    }
    normalize_domain(&m.domain)
        .is_ok_and(|d| s.local_domains.iter().any(|l| l.eq_ignore_ascii_case(&d)))
}

/// Decides one policy request. Requests without a recipient (other protocol states)
/// get DUNNO: the rule is applied at RCPT TO.
pub fn decide(attrs: &HashMap<String, String>, trust: &TrustSpace, s: &MtaSettings) -> Answer {
    if let Some(rcpt) = attrs.get("recipient").filter(|r| !r.is_empty()) {
        if !allowed(rcpt, trust, s) {
            return Answer::Reject(format!(
                "Destinataire hors de l'espace de confiance MSSanté / recipient outside the MSSanté trust space: {}",
                sanitize(rcpt)
            ));
        }
    }
    if s.check_sender {
        if let Some(sender) = attrs.get("sender").filter(|r| !r.is_empty()) {
            if !allowed(sender, trust, s) {
                return Answer::Reject(format!(
                    "Expéditeur hors de l'espace de confiance MSSanté / sender outside the MSSanté trust space: {}",
                    sanitize(sender)
                ));
            }
        }
    }
    Answer::Dunno
}

/// Keeps the echoed address printable and on one line.
fn sanitize(s: &str) -> String {
    s.chars().filter(|c| !c.is_control()).take(256).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn space() -> TrustSpace {
        let mut t = TrustSpace::new(Default::default(), "patient.mssante.fr");
        t.apply_local("+medecin.mssante.fr\n+patient.mssante.fr\n")
            .unwrap();
        t
    }

    #[test]
    fn recipients_are_checked() {
        let s = MtaSettings {
            local_domains: vec!["hopital.local".into()],
            ..Default::default()
        };
        let t = space();
        assert_eq!(
            decide(&req(&[("recipient", "a@medecin.mssante.fr")]), &t, &s),
            Answer::Dunno
        );
        assert_eq!(
            decide(&req(&[("recipient", "a@hopital.local")]), &t, &s),
            Answer::Dunno
        );
        assert_eq!(
            decide(
                &req(&[("recipient", "146026322000196@patient.mssante.fr")]),
                &t,
                &s
            ),
            Answer::Dunno
        );
        for bad in [
            "x@gmail.com",
            "a@medecin.mssante.fr.evil.com",
            "a@b, c@d",
            "12@patient.mssante.fr",
        ] {
            assert!(
                matches!(
                    decide(&req(&[("recipient", bad)]), &t, &s),
                    Answer::Reject(_)
                ),
                "{bad}"
            );
        }
        assert_eq!(
            decide(&req(&[("protocol_state", "DATA")]), &t, &s),
            Answer::Dunno
        );
    }

    #[test]
    fn sender_check_is_optional() {
        let t = space();
        let r = req(&[
            ("sender", "x@gmail.com"),
            ("recipient", "a@medecin.mssante.fr"),
        ]);
        assert_eq!(decide(&r, &t, &MtaSettings::default()), Answer::Dunno);
        let s = MtaSettings {
            check_sender: true,
            ..Default::default()
        };
        assert!(matches!(decide(&r, &t, &s), Answer::Reject(_)));
        assert_eq!(
            decide(
                &req(&[("sender", ""), ("recipient", "a@medecin.mssante.fr")]),
                &t,
                &s
            ),
            Answer::Dunno
        );
    }

    #[test]
    fn wire_format() {
        assert_eq!(Answer::Dunno.to_wire(), "action=DUNNO\n\n");
        assert!(Answer::Reject("x".into())
            .to_wire()
            .starts_with("action=REJECT 5.7.1 x\n\n"));
        assert_eq!(parse_line("a=b=c"), Some(("a", "b=c")));
        assert_eq!(parse_line("=x"), None);
        assert_eq!(parse_line("novalue"), None);
    }
}
