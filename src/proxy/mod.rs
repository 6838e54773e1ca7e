//! The reverse proxy: path normalization and surface classification, header
//! hygiene, size limits, the SOAP decision point and the pooled upstream client.

pub mod context;
pub mod directory_hook;
pub mod error;
pub mod forward;
pub mod headers;
pub mod identity;
pub mod limits;
pub mod path;
pub mod patients_setup;
pub mod routes;
pub mod session_gate;
pub mod soap_auth;
pub mod soap_body;
pub mod soap_pipeline;
pub mod store_call;
pub mod uploads;
pub mod upstream;

use bytes::Bytes;
use http_body_util::{combinators::BoxBody, BodyExt, Empty, Full};

pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Body type of every response the gateway writes and every request it forwards.
pub type Body = BoxBody<Bytes, BoxError>;

/// A complete body.
pub fn full(bytes: impl Into<Bytes>) -> Body {
    Full::new(bytes.into())
        .map_err(|never| match never {})
        .boxed()
}

/// An empty body.
pub fn empty() -> Body {
    Empty::new().map_err(|never| match never {}).boxed()
}
