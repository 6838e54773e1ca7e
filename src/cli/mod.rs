//! Subcommand implementations; `main.rs` only parses arguments and dispatches here.

pub mod check_config;
pub mod demo;
pub mod sandbox;
pub mod serve;
pub mod store;
pub mod users;
mod users_psc;
