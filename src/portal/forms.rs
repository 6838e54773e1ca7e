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

/// New password chosen through an emailed link (the link token rides in a hidden field).
#[derive(Debug, Deserialize)]
pub struct NewPasswordForm {
    pub csrf: String,
    pub token: String,
    pub password: Password,
    pub confirmation: Password,
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

/// The code confirming a new contact address, or the current second factor.
#[derive(Debug, Deserialize)]
pub struct CodeForm {
    pub csrf: String,
    pub code: OtpCode,
}

/// The password rules, as shown next to every new-password field.
pub const PASSWORD_RULES: &str =
    "Le mot de passe doit contenir au moins 12 caractères, dont au moins \
     une lettre majuscule, une lettre minuscule, un chiffre et un caractère spécial.";

/// Checks a new password against the policy (at least 12 characters, an upper-case
/// and a lower-case letter, a digit, a character that is neither), then its
/// confirmation. The French message names the first rule that failed. The store
/// applies its own password policy afterwards.
pub fn check_new_password(
    password: &Password,
    confirmation: &Password,
) -> Result<(), &'static str> {
    let p = password.expose();
    let n = p.chars().count();
    if n < 12 {
        return Err("Le mot de passe doit contenir au moins 12 caractères.");
    }
    if n > 256 {
        return Err("Le mot de passe est trop long (256 caractères au plus).");
    }
    if p.chars().any(char::is_control) {
        return Err("Le mot de passe ne doit pas contenir de caractère de contrôle.");
    }
    if !p.chars().any(char::is_uppercase) {
        return Err("Le mot de passe doit contenir au moins une lettre majuscule.");
    }
    if !p.chars().any(char::is_lowercase) {
        return Err("Le mot de passe doit contenir au moins une lettre minuscule.");
    }
    if !p.chars().any(|c| c.is_ascii_digit()) {
        return Err("Le mot de passe doit contenir au moins un chiffre.");
    }
    if p.chars().all(char::is_alphanumeric) {
        return Err(
            "Le mot de passe doit contenir au moins un caractère spécial (ni lettre ni chiffre).",
        );
    }
    if p != confirmation.expose() {
        return Err("Le mot de passe et sa confirmation ne correspondent pas.");
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
        let check = |s: &str| check_new_password(&p(s), &p(s));
        assert!(check("Correct horse 4 battery").is_ok());
        assert!(check("Éléphant-rosé-9").is_ok(), "accented letters count");
        let err = |s: &str| check(s).unwrap_err();
        assert!(err("Court-1a").contains("au moins 12 caractères"));
        assert!(err("correct horse 4 battery").contains("majuscule"));
        assert!(err("CORRECT HORSE 4 BATTERY").contains("minuscule"));
        assert!(err("Correct horse battery!").contains("chiffre"));
        assert!(err("Correcthorse4battery").contains("caractère spécial"));
        assert!(err(&format!("Aa1!{}", "x".repeat(260))).contains("trop long"));
        assert!(err("Correct\u{7}horse 4 battery").contains("contrôle"));
        assert_eq!(
            check_new_password(&p("Correct horse 4 battery"), &p("Correct horse 4 batterz")),
            Err("Le mot de passe et sa confirmation ne correspondent pas.")
        );
        assert!(PASSWORD_RULES.contains("12 caractères"));
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
