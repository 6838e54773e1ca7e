//! Second factor (A3, A10): TOTP application, codes sent by email, recovery codes.

pub mod email_code;
pub mod recovery;
pub mod totp;

pub use email_code::{EmailCodeVerdict, EmailCodes};
pub use recovery::RecoveryCodes;
pub use totp::{TotpEnrolment, TotpFactor};

/// Keeps digits only: users paste codes with spaces (`123 456`).
pub(crate) fn digits_only(code: &str) -> String {
    code.chars().filter(|c| !c.is_whitespace()).collect()
}
