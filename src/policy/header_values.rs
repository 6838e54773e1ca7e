//! Header injection (issue 9, class 4): a value that the store writes into a MIME
//! header (subject, In-Reply-To, display names, custom headers, file names, calendar
//! names, identity and preference addresses…) must not hold a line break or another
//! control character, or a later rebuild of the message (a delayed draft, an invite)
//! turns it into a header of its own (`Bcc:`).
//!
//! One rule for every request, applied to the whole tree whatever the request name:
//! the fields are known by the element that holds them (`m/su`, `e/@p`, `comp/@name`…),
//! in every encoding the readers accept (attribute, child element, `_content`,
//! `_attrs`; XML character references and JSON escapes are already decoded).

use super::check::Check;
use crate::soap::Element;

/// Element local name → its scalar fields that end up in a header.
const HEADER_FIELDS: &[(&str, &[&str])] = &[
    // Messages (SendMsg, SaveDraft, calendar messages, invite replies…).
    ("m", &["su", "irt", "subject"]),
    ("e", &["a", "p"]),
    ("mp", &["ct", "ci", "cd", "filename"]),
    // Attachments named after stored items (Briefcase documents).
    ("doc", &["path", "name"]),
    // Calendar components: the name is the subject, people are To/From.
    ("comp", &["name", "loc"]),
    ("inv", &["name", "loc"]),
    ("or", &["a", "d", "sentBy"]),
    ("at", &["a", "d", "sentBy"]),
    ("alarm", &["summary"]),
    // Filter actions that write or send headers.
    ("actionNotify", &["su", "a"]),
    ("actionRedirect", &["a"]),
    ("actionRFCCompliantNotify", &["from"]),
    ("actionAddheader", &["headerValue"]),
    ("actionReplaceheader", &["newValue"]),
];

/// Fields that are header *names*: printable ASCII without ':' or spaces.
const HEADER_NAME_FIELDS: &[(&str, &str)] = &[
    ("header", "name"),
    ("actionAddheader", "headerName"),
    ("actionReplaceheader", "newName"),
];

/// Preferences and identity attributes (lowercase, without `+`/`-`) that become
/// From, Reply-To, Bcc or recipient headers.
const HEADER_PREFS: &[&str] = &[
    "zimbrapreffromaddress",
    "zimbrapreffromdisplay",
    "zimbraprefreplytoaddress",
    "zimbraprefreplytodisplay",
    "zimbraprefbccaddress",
    "zimbraprefreadreceiptstoaddress",
    "zimbraprefmailforwardingaddress",
    "zimbraprefnewmailnotificationaddress",
    "zimbraprefcalendarreminderemail",
    "zimbraprefcalendarforwardinvitesto",
    "zimbraprefwhensenttoaddresses",
    "zimbraprefoutofofficedirectaddress",
    "zimbraprefallowaddressfordelegatedsender",
    "zimbraprefidentityname",
];

/// A character that may not appear in a header value: C0 controls except TAB, DEL,
/// C1 controls (NEL U+0085 among them) and the Unicode line and paragraph separators.
pub fn breaks_header(c: char) -> bool {
    (c.is_control() && c != '\t') || c == '\u{2028}' || c == '\u{2029}'
}

/// RFC 5322 field name: printable ASCII except ':'.
fn valid_header_name(name: &str) -> bool {
    !name.is_empty() && name.bytes().all(|b| (33..=126).contains(&b) && b != b':')
}

fn refuse(chk: &mut Check, field: &str) {
    chk.deny(format!(
        "caractère de contrôle ou saut de ligne interdit dans {field} (en-tête de message)"
    ));
}

/// Checks every header-bound value of one request (any request, any depth).
pub(crate) fn check(req: &Element, chk: &mut Check) {
    for el in req.walk() {
        if let Some((_, fields)) = HEADER_FIELDS.iter().find(|(n, _)| *n == el.name) {
            for f in *fields {
                if el.attr_all(f).iter().any(|v| v.chars().any(breaks_header)) {
                    refuse(chk, &format!("{}/{f}", el.name));
                }
            }
        }
        for (elem, field) in HEADER_NAME_FIELDS {
            if el.name == *elem && el.attr_all(field).iter().any(|v| !valid_header_name(v)) {
                chk.deny(format!("nom d'en-tête invalide dans {elem}/{field}"));
            }
        }
        if el.name == "header" && el.text().chars().any(breaks_header) {
            refuse(chk, "header");
        }
        for (k, v) in pref_pairs(el) {
            let key = k.trim().trim_start_matches(['+', '-']).to_ascii_lowercase();
            if HEADER_PREFS.contains(&key.as_str()) && v.chars().any(breaks_header) {
                refuse(chk, k);
            }
        }
    }
}

/// Key/value pairs an element carries: JSON `_attrs`, and its own name/text when it
/// is an XML `<pref name>`, `<a name|n>` or `<attr name>` entry.
fn pref_pairs(el: &Element) -> Vec<(&str, &str)> {
    let mut out: Vec<(&str, &str)> = el
        .kv
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    if matches!(el.name.as_str(), "pref" | "a" | "attr") {
        for key in ["name", "n"] {
            for k in el.attr_all(key) {
                out.push((k, el.text()));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::soap::Envelope;

    fn reasons(body: &str) -> Vec<String> {
        let env = Envelope::parse(body.as_bytes()).unwrap();
        let mut chk = Check::default();
        for r in env.requests() {
            check(r.element, &mut chk);
        }
        chk.reasons
    }

    fn xml(inner: &str) -> String {
        format!(
            "<soap:Envelope xmlns:soap=\"http://www.w3.org/2003/05/soap-envelope\"><soap:Body>{inner}</soap:Body></soap:Envelope>"
        )
    }

    #[test]
    fn line_breaks_in_headers_are_refused_in_every_encoding() {
        for body in [
            xml(r#"<SaveDraftRequest xmlns="urn:zimbraMail"><m><su>x&#13;&#10;Bcc: a@gmail.com</su></m></SaveDraftRequest>"#),
            xml(r#"<SaveDraftRequest xmlns="urn:zimbraMail"><m su="x&#10;Bcc: a@gmail.com"/></SaveDraftRequest>"#),
            xml(r#"<SendMsgRequest xmlns="urn:zimbraMail"><m><irt>&lt;a@b&gt;&#13;Bcc: a@gmail.com</irt></m></SendMsgRequest>"#),
            xml(r#"<SendMsgRequest xmlns="urn:zimbraMail"><m><e t="t" a="a@b.fr" p="Dr&#10;Bcc: x"/></m></SendMsgRequest>"#),
            xml(r#"<SendMsgRequest xmlns="urn:zimbraMail"><m><header name="X-Test">a&#13;&#10;Bcc: x</header></m></SendMsgRequest>"#),
            xml(r#"<CreateAppointmentRequest xmlns="urn:zimbraMail"><m><inv><comp name="R&#x2028;Bcc: x"/></inv></m></CreateAppointmentRequest>"#),
            xml(r#"<ModifyIdentityRequest xmlns="urn:zimbraAccount"><identity id="1"><a name="zimbraPrefFromDisplay">Dr&#10;Bcc: x</a></identity></ModifyIdentityRequest>"#),
            r#"{"Body":{"SaveDraftRequest":{"_jsns":"urn:zimbraMail","m":{"su":{"_content":"x\r\nBcc: a@gmail.com"}}}}}"#.into(),
            r#"{"Body":{"SaveDraftRequest":{"_jsns":"urn:zimbraMail","m":{"su":"x\u000aBcc: a@gmail.com"}}}}"#.into(),
            r#"{"Body":{"SendMsgRequest":{"_jsns":"urn:zimbraMail","m":{"irt":"<a@b>\u0085Bcc: x"}}}}"#.into(),
            r#"{"Body":{"ModifyPrefsRequest":{"_jsns":"urn:zimbraAccount","_attrs":{"zimbraPrefReplyToDisplay":"a\u0000b"}}}}"#.into(),
            r#"{"Body":{"BatchRequest":{"_jsns":"urn:zimbra","CreateAppointmentRequest":[{"_jsns":"urn:zimbraMail","m":{"inv":{"comp":[{"name":"a\u2029b","or":{"a":"x@y.fr","d":"n"}}]}}}]}}}"#.into(),
            r#"{"Body":{"ModifyFilterRulesRequest":{"_jsns":"urn:zimbraMail","filterRules":[{"filterRule":[{"filterActions":[{"actionAddheader":[{"headerName":"X-A","headerValue":"v\r\nBcc: x"}]}]}]}]}}}"#.into(),
        ] {
            assert!(!reasons(&body).is_empty(), "accepted: {body}");
        }
    }

    #[test]
    fn header_names_must_be_field_names() {
        let body = xml(
            r#"<SendMsgRequest xmlns="urn:zimbraMail"><m><header name="Bcc: x&#10;X">v</header></m></SendMsgRequest>"#,
        );
        assert!(reasons(&body)[0].contains("nom d'en-tête"));
    }

    #[test]
    fn tabs_bodies_and_dates_are_left_alone() {
        for body in [
            xml(r#"<SendMsgRequest xmlns="urn:zimbraMail"><m><su>a&#9;b</su><mp ct="text/plain"><content>l1&#13;&#10;l2</content></mp></m></SendMsgRequest>"#),
            xml(r#"<CreateAppointmentRequest xmlns="urn:zimbraMail"><m><inv><comp name="R"><s d="20250101T100000Z"/><e d="20250101T110000Z"/><desc>l1&#10;l2</desc></comp></inv></m></CreateAppointmentRequest>"#),
            r#"{"Body":{"ModifyPrefsRequest":{"_jsns":"urn:zimbraAccount","_attrs":{"zimbraPrefOutOfOfficeReply":"Absent\r\nRetour lundi"}}}}"#.into(),
            r#"{"Body":{"CreateSignatureRequest":{"_jsns":"urn:zimbraAccount","signature":{"name":"s","content":[{"type":"text/plain","_content":"Dr A\nCHU"}]}}}}"#.into(),
        ] {
            assert!(reasons(&body).is_empty(), "refused: {body}");
        }
    }
}
