//! mssante-gateway: a gateway in front of a Zimbra store that makes it an MSSanté service.
//! See the README's design section for a map of the modules.

pub mod audit;
pub mod auth;
pub mod directory;
pub mod policy;
pub mod sandbox;
pub mod soap;
