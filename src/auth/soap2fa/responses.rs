//! Zimbra-shaped answers of the two-factor protocol, as `Element` trees the SOAP
//! writers turn into XML or JSON (`authToken` and friends are non-unique elements,
//! so JSON arrays, as the real server writes them).

use super::method_name;
use crate::soap::{Element, Fault, ValueKind, NS_ACCOUNT};
use crate::store::OtpChannel;

fn text(name: &str, value: &str) -> Element {
    Element::new(NS_ACCOUNT, name).with_text(value)
}

fn methods(name: &str, list: &[OtpChannel]) -> Element {
    Element::new(NS_ACCOUNT, name)
        .unique()
        .with_children(list.iter().map(|m| text("method", method_name(*m))))
}

/// Step 1 answer to a password-only AuthRequest when a second factor is due.
pub fn two_factor_required(
    stage_token: &str,
    lifetime_ms: u64,
    allowed: &[OtpChannel],
    enabled: Option<OtpChannel>,
    masked_email: Option<&str>,
) -> Element {
    let mut e = Element::new(NS_ACCOUNT, "AuthResponse")
        .with_child(text("authToken", stage_token))
        .with_content_attr("lifetime", lifetime_ms.to_string(), ValueKind::Num)
        .with_child(text("twoFactorAuthRequired", "true").unique())
        .with_child(text("trustedDevicesEnabled", "false").unique())
        .with_child(methods("zimbraTwoFactorAuthMethodAllowed", allowed));
    if let Some(m) = enabled {
        e = e
            .with_child(methods("zimbraTwoFactorAuthMethodEnabled", &[m]))
            .with_child(text("zimbraPrefPrimaryTwoFactorAuthMethod", method_name(m)).unique());
    }
    if let Some(addr) = masked_email {
        e = e.with_child(text("zimbraPrefPasswordRecoveryAddress", addr).unique());
    }
    e
}

/// A completed login: the gateway-issued token (a gateway session id).
pub fn auth_complete(token: &str, lifetime_ms: u64) -> Element {
    Element::new(NS_ACCOUNT, "AuthResponse")
        .with_child(text("authToken", token))
        .with_content_attr("lifetime", lifetime_ms.to_string(), ValueKind::Num)
}

/// EnableTwoFactorAuthResponse, step 1 (`secret` only for method app).
pub fn enable_step1(secret_base32: Option<&str>, enable_token: &str) -> Element {
    let mut e = Element::new(NS_ACCOUNT, "EnableTwoFactorAuthResponse");
    if let Some(s) = secret_base32 {
        e = e.with_child(text("secret", s));
    }
    e.with_child(text("authToken", enable_token))
}

fn scratch_codes(codes: &[&str]) -> Element {
    Element::new(NS_ACCOUNT, "scratchCodes")
        .with_children(codes.iter().map(|c| text("scratchCode", c)))
}

/// EnableTwoFactorAuthResponse, step 2: full token and recovery codes.
pub fn enable_step2(token: &str, codes: &[&str]) -> Element {
    Element::new(NS_ACCOUNT, "EnableTwoFactorAuthResponse")
        .with_child(text("authToken", token))
        .with_child(scratch_codes(codes))
}

pub fn generate_scratch_codes(codes: &[&str]) -> Element {
    Element::new(NS_ACCOUNT, "GenerateScratchCodesResponse").with_child(scratch_codes(codes))
}

/// Codes are stored hashed and shown once, so this list is always empty.
pub fn get_scratch_codes() -> Element {
    Element::new(NS_ACCOUNT, "GetScratchCodesResponse").with_child(scratch_codes(&[]))
}

/// `status` ∈ `sent`, `not sent`, `reset succeeded`, `reset failed`.
pub fn send_code(status: &str) -> Element {
    Element::new(NS_ACCOUNT, "SendTwoFactorAuthCodeResponse")
        .with_child(text("status", status).unique())
}

pub fn two_factor_failed() -> Fault {
    Fault::new(
        "account.TWO_FACTOR_AUTH_FAILED",
        "two-factor authentication failed",
    )
}

pub fn setup_required(allowed: &[OtpChannel]) -> Fault {
    let list: Vec<&str> = allowed.iter().map(|m| method_name(*m)).collect();
    Fault::new(
        "account.TWO_FACTOR_SETUP_REQUIRED",
        format!(
            "two-factor authentication setup required. Allowed method:[{}]",
            list.join(", ")
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::soap::envelope::write_reply;
    use crate::soap::Format;

    fn json(e: Element) -> serde_json::Value {
        serde_json::from_slice(&write_reply(Format::Json, e, 200).body).unwrap()
    }

    #[test]
    fn required_response_reads_like_zimbra() {
        let e = two_factor_required(
            "stage",
            300_000,
            &[OtpChannel::Totp, OtpChannel::Email],
            Some(OtpChannel::Email),
            Some("j***@p***.fr"),
        );
        let v = json(e.clone());
        let r = &v["Body"]["AuthResponse"];
        // What the web client reads (ZmTwoFactorAuth.js).
        assert_eq!(r["twoFactorAuthRequired"]["_content"], "true");
        assert_eq!(
            r["zimbraTwoFactorAuthMethodAllowed"]["method"][0]["_content"],
            "app"
        );
        assert_eq!(
            r["zimbraTwoFactorAuthMethodAllowed"]["method"][1]["_content"],
            "email"
        );
        assert_eq!(r["authToken"][0]["_content"], "stage");
        assert_eq!(r["lifetime"], 300000);
        assert_eq!(r["_jsns"], "urn:zimbraAccount");
        let xml = String::from_utf8(write_reply(Format::Soap12, e, 200).body).unwrap();
        assert!(
            xml.contains("<twoFactorAuthRequired>true</twoFactorAuthRequired>"),
            "{xml}"
        );
        assert!(xml.contains("<lifetime>300000</lifetime>"), "{xml}");
    }

    #[test]
    fn enable_and_scratch_shapes() {
        let v = json(enable_step1(Some("SECRET"), "etfa"));
        let r = &v["Body"]["EnableTwoFactorAuthResponse"];
        assert_eq!(r["secret"][0]["_content"], "SECRET");
        assert_eq!(r["authToken"][0]["_content"], "etfa");
        let v = json(enable_step2("full", &["A", "B"]));
        assert_eq!(
            v["Body"]["EnableTwoFactorAuthResponse"]["scratchCodes"][0]["scratchCode"][1]
                ["_content"],
            "B"
        );
        let v = json(send_code("sent"));
        assert_eq!(
            v["Body"]["SendTwoFactorAuthCodeResponse"]["status"]["_content"],
            "sent"
        );
        let xml = String::from_utf8(
            write_reply(Format::Soap12, generate_scratch_codes(&["X"]), 200).body,
        )
        .unwrap();
        assert!(
            xml.contains("<scratchCodes><scratchCode>X</scratchCode></scratchCodes>"),
            "{xml}"
        );
        assert!(setup_required(&[OtpChannel::Totp])
            .reason
            .ends_with("[app]"));
    }
}
