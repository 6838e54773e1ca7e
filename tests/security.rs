//! Issue 9: the second factor and the trust space hold whatever the login form, the
//! route or the stored item. Each class is shown open against the sandbox alone (the
//! sandbox behaves like Zimbra, so the attack has teeth) and closed through the
//! gateway. Run alone with `cargo test --test security`.
//!
//! One file per class, each owning its helpers:
//! - `identity`: one person, one key (spellings, aliases, counters, enrolment);
//!   regulation an attacker cannot turn around; cookies; two instances.
//! - `routes`: the (method, path) allow-list; pre-authentication limits; framing.
//! - `stored`: requests judged on what the store will act on; header injection;
//!   calendar shapes.

mod common;

#[path = "security/identity.rs"]
mod identity;
#[path = "security/routes.rs"]
mod routes;
#[path = "security/stored.rs"]
mod stored;
