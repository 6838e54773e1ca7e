//! mssante-gateway: a gateway in front of a Zimbra store that makes it an MSSanté service.
//! See the README's design section for a map of the modules.

pub mod audit;
pub mod auth;
pub mod cli;
pub mod config;
pub mod directory;
pub mod mail;
pub mod mta;
pub mod policy;
pub mod portal;
pub mod proxy;
pub mod sandbox;
pub mod server;
pub mod soap;
pub mod store;
pub mod telemetry;
