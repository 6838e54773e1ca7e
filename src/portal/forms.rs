//! Form bodies (`application/x-www-form-urlencoded`) and their checks.

use crate::auth::secret::{OtpCode, Password};
use serde::Deserialize;

/// Largest form body the portal reads.
pub const MAX_FORM_BYTES: usize = 16 * 1024;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum FormError {
    #[error("form too large")]
    TooLarge,
    #[error("malformed form: {0}")]
    Malformed(String),
}

/// Parses a form body into `T` (unknown fields ignored, missing ones an error).
pub fn parse<T: for<'de> Deserialize<'de>>(body: &[u8]) -> Result<T, FormError> {
    if body.len() > MAX_FORM_BYTES {
        return Err(FormError::TooLarge);
    }
    serde_urlencoded::from_bytes(body).map_err(|e| FormError::Malformed(e.to_string()))
}

#[derive(Debug, Deserialize)]
pub struct LoginForm {
    pub csrf: String,
    pub username: String,
    pub password: Password,
    #[serde(default)]
    pub return_to: String,
}

#[derive(Debug, Deserialize)]
pub struct OtpForm {
    pub csrf: String,
    pub code: OtpCode,
}

/// Forms that carry only the CSRF token (resend a code, logout).
#[derive(Debug, Deserialize)]
pub struct CsrfOnlyForm {
    pub csrf: String,
}

#[derive(Debug, Deserialize)]
pub struct ForgotForm {
    pub csrf: String,
    pub username: String,
    pub email: String,
}

#[derive(Debug, Deserialize)]
pub struct ChannelForm {
    pub csrf: String,
    pub email: String,
    pub channel: String,
}

#[derive(Debug, Deserialize)]
pub struct NewPasswordForm {
    pub csrf: String,
    pub token: String,
    pub password: Password,
    pub confirmation: Password,
    pub email: String,
    pub channel: String,
}

#[derive(Debug, Deserialize)]
pub struct ChangePasswordForm {
    pub csrf: String,
    pub old_password: Password,
    pub password: Password,
    pub confirmation: Password,
}

#[derive(Debug, Deserialize)]
pub struct ContactEmailForm {
    pub csrf: String,
    pub email: String,
}

/// Checks a new password and its confirmation; the French message to show on failure.
/// The store applies its own password policy afterwards.
pub fn check_new_password(
    password: &Password,
    confirmation: &Password,
) -> Result<(), &'static str> {
    let p = password.expose();
    if p != confirmation.expose() {
        return Err("Le mot de passe et sa confirmation ne correspondent pas.");
    }
    if p.chars().count() < 12 {
        return Err("Le mot de passe doit contenir au moins 12 caractères.");
    }
    if p.chars().count() > 256 {
        return Err("Le mot de passe est trop long.");
    }
    Ok(())
}

/// A plausible email address (the real check is the confirmation mail).
pub fn plausible_email(email: &str) -> bool {
    let e = email.trim();
    match e.split_once('@') {
        Some((local, domain)) => {
            !local.is_empty()
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
                && e.len() <= 254
                && !e
                    .chars()
                    .any(|c| c.is_whitespace() || c.is_control() || "<>,;\"()[]\\".contains(c))
                && !domain.contains('@')
        }
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_login() {
        let f: LoginForm =
            parse(b"csrf=t&username=jean.dupont&password=p%26ss+w&return_to=%2Fzimbra").unwrap();
        assert_eq!(f.username, "jean.dupont");
        assert_eq!(f.password.expose(), "p&ss w");
        assert_eq!(f.return_to, "/zimbra");
        assert!(
            !format!("{f:?}").contains("p&ss"),
            "password redacted in Debug"
        );
        assert!(parse::<LoginForm>(b"csrf=t&username=x").is_err());
        assert_eq!(
            parse::<LoginForm>(&vec![b'a'; MAX_FORM_BYTES + 1]).unwrap_err(),
            FormError::TooLarge
        );
    }

    #[test]
    fn password_rules() {
        let p = |s: &str| Password::new(s);
        assert!(
            check_new_password(&p("correct horse battery"), &p("correct horse battery")).is_ok()
        );
        assert!(
            check_new_password(&p("correct horse battery"), &p("correct horse batterz")).is_err()
        );
        assert!(check_new_password(&p("court"), &p("court")).is_err());
    }

    #[test]
    fn emails() {
        assert!(plausible_email("jean.dupont@perso.fr"));
        for bad in [
            "",
            "jean",
            "@x.fr",
            "a@b",
            "a@b.",
            "a b@c.fr",
            "a@b.fr\r\nBcc: x@y.fr",
            "a@@b.fr",
            "<a@b.fr>",
        ] {
            assert!(!plausible_email(bad), "{bad:?}");
        }
    }
}
