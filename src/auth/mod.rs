//! auth: see the README's design section.
pub mod config;
