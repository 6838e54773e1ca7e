//! MTA-level enforcement (M8): a Postfix policy-delegation service applying the same
//! trust-space rule to every message the store's MTA relays (SMTP submission, IMAP,
//! server-side forwards: the paths HTTP cannot see).
//!
//! Postfix: `smtpd_recipient_restrictions = check_policy_service inet:127.0.0.1:10040, …`
//! (see `deploy/postfix/`).
pub mod protocol;
pub mod server;

pub use protocol::{Answer, MtaSettings};
pub use server::{run_cli, run_mta_policy, serve, MtaPolicyArgs};
