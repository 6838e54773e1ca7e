//! The login portal (A1, A5, A6): server-rendered French pages, form parsers,
//! CSRF tokens, redirect validation and the login-flow router. No JavaScript.

pub mod csrf;
pub mod forms;
pub mod html;
pub mod http_util;
pub mod pages;
mod profile_flow;
mod psc_flow;
pub mod psc_pages;
pub mod redirect;
mod reset_flow;
pub mod router;

#[cfg(test)]
mod flow_tests;

pub use html::PageContext;
pub use redirect::{return_path_or_root, safe_return_path};
pub use router::{handle, PortalState};
