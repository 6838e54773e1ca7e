//! Zimbra's SOAP two-factor protocol (A8, zimbra-api.md §3) served by the gateway
//! for clients that log in without a browser: `responses` builds the Zimbra-shaped
//! answers, `handler` runs the exchanges against the stores and the upstream.

pub mod handler;
pub mod responses;

pub use handler::SoapTwoFactor;

use crate::store::OtpChannel;

/// Zimbra's method names: `app` (TOTP application) and `email`.
pub fn method_name(c: OtpChannel) -> &'static str {
    match c {
        OtpChannel::Totp => "app",
        OtpChannel::Email => "email",
    }
}

pub fn parse_method(s: &str) -> Option<OtpChannel> {
    match s {
        "app" => Some(OtpChannel::Totp),
        "email" => Some(OtpChannel::Email),
        _ => None,
    }
}

/// `jean.dupont@perso.fr` → `j***@p***.fr` (shown to a half-logged-in client).
pub fn mask_email(email: &str) -> String {
    let Some((local, domain)) = email.split_once('@') else {
        return "***".into();
    };
    let first = |s: &str| s.chars().next().map(String::from).unwrap_or_default();
    let (host, tld) = domain.rsplit_once('.').unwrap_or((domain, ""));
    let tld = if tld.is_empty() {
        String::new()
    } else {
        format!(".{tld}")
    };
    format!("{}***@{}***{tld}", first(local), first(host))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masking_and_methods() {
        assert_eq!(mask_email("jean.dupont@perso.fr"), "j***@p***.fr");
        assert_eq!(mask_email("x@localhost"), "x***@l***");
        assert_eq!(mask_email("nope"), "***");
        assert_eq!(
            parse_method(method_name(OtpChannel::Totp)),
            Some(OtpChannel::Totp)
        );
        assert_eq!(parse_method("sms"), None);
    }
}

#[cfg(test)]
mod handler_tests;
