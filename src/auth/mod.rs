//! auth: sessions, second factor (TOTP, emailed codes, recovery codes), regulation,
//! upstream login calls and Zimbra's SOAP two-factor protocol.
pub mod clock;
pub mod config;
pub mod identity;
pub mod login;
pub mod otp;
pub mod psc;
pub mod regulation;
pub mod reset;
pub mod second_factor;
pub mod secret;
pub mod services;
pub mod session;
pub mod soap2fa;
pub mod token_strip;
pub mod upstream;
pub mod user;

#[cfg(test)]
pub mod test_support;
