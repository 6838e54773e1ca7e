//! Outgoing notification mail (SMTP via lettre on rustls+ring): OTP codes,
//! first-connection / reset links, contact-change confirmation codes.

pub mod config;
pub mod messages;
pub mod sender;

pub use config::{MailConfig, SmtpSecurity};
pub use messages::Notification;
pub use sender::{MailError, Mailer};
