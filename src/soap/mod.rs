//! The SOAP model: one namespace-resolved tree read from XML or Zimbra JSON,
//! Zimbra-shaped responses and faults written back in the client's format.
//!
//! Format detection follows `SoapEngine.dispatch`: XML when the first byte is `<`,
//! JSON otherwise (Content-Type is ignored).
//!
//! Reading is strict on purpose: whatever Zimbra could read differently from us is
//! refused (`SoapError::Parse` → `service.PARSE_ERROR`, `SoapError::Invalid` →
//! `service.INVALID_REQUEST`): DOCTYPE/entities/PIs, characters XML forbids, mixed
//! content, XHTML, duplicate JSON keys, Zimbra's lenient JSON syntax, several Body
//! children, nested `BatchRequest`, odd namespace names. `Envelope::to_bytes` writes
//! a request back so that it reads to the same tree (checked by `fuzz/`).

pub mod element;
pub mod envelope;
pub mod fault;
pub mod json_read;
mod json_value;
pub mod json_write;
pub mod xml_read;
pub mod xml_write;

#[cfg(test)]
mod golden_tests;

pub use element::{Attr, Disposition, Element, ValueKind};
pub use envelope::{write_batch_reply, write_element, write_reply, Envelope, Request};
pub use fault::{Fault, FaultArg};

pub const NS_ZIMBRA: &str = "urn:zimbra";
pub const NS_ACCOUNT: &str = "urn:zimbraAccount";
pub const NS_MAIL: &str = "urn:zimbraMail";
pub const NS_ADMIN: &str = "urn:zimbraAdmin";
pub const NS_SOAP12: &str = "http://www.w3.org/2003/05/soap-envelope";
pub const NS_SOAP11: &str = "http://schemas.xmlsoap.org/soap/envelope/";
/// The JSON "envelope" namespace (`SoapJSProtocol`).
pub const NS_JSON_SOAP: &str = "urn:zimbraSoap";

/// Zimbra's default `zimbraSoapRequestMaxSize`.
pub const DEFAULT_MAX_SOAP_BYTES: usize = 15_360_000;

/// Deepest element nesting the readers accept (Envelope = 1). Real requests stay
/// far below; the cap bounds recursion in every later walk of the tree.
pub const MAX_DEPTH: usize = 100;
/// Most elements the readers accept in one body (a sanity bound, not a quota).
pub const MAX_ELEMENTS: usize = 200_000;

/// `Cache-Control` of every SOAP answer, as `SoapServlet.sendResponse` sets it:
/// answers carry tokens and mail, and a fault must never be cached.
pub const CACHE_CONTROL: &str = "no-store, no-cache";

/// The wire format of a request, which is also the format of its answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Soap12,
    Soap11,
    Json,
}

impl Format {
    /// `Content-Type` of a response in this format.
    pub fn content_type(self) -> &'static str {
        match self {
            Format::Soap12 | Format::Soap11 => "text/xml; charset=utf-8",
            Format::Json => "text/javascript; charset=utf-8",
        }
    }

    /// Guess the format of a body the parser could not read, so the fault is in a
    /// shape the client understands (`chooseFaultProtocolFromBadXml`).
    pub fn sniff(body: &[u8]) -> Format {
        if body.first() == Some(&b'<') {
            let head = &body[..body.len().min(4096)];
            if head
                .windows(NS_SOAP11.len())
                .any(|w| w == NS_SOAP11.as_bytes())
            {
                Format::Soap11
            } else {
                Format::Soap12
            }
        } else {
            Format::Json
        }
    }
}

/// Why a body could not be read. Each maps to a Zimbra fault (see `fault.rs`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SoapError {
    /// Not well-formed XML or JSON, or not strictly readable (duplicate keys…).
    #[error("parse error: {0}")]
    Parse(String),
    /// Well-formed but not an acceptable request (several Body children, nested
    /// batch, unknown envelope namespace, missing namespace…).
    #[error("invalid request: {0}")]
    Invalid(String),
    /// Body larger than the configured cap.
    #[error("request size exceeded limit {limit}")]
    TooLarge { limit: usize },
}

/// A complete SOAP answer ready for HTTP.
#[derive(Debug, Clone)]
pub struct SoapReply {
    pub status: u16,
    pub content_type: &'static str,
    pub body: Vec<u8>,
}

impl SoapReply {
    /// The HTTP headers a caller must send with this answer
    /// (`Content-Type` and `Cache-Control: no-store, no-cache`).
    pub fn headers(&self) -> [(&'static str, &'static str); 2] {
        [
            ("Content-Type", self.content_type),
            ("Cache-Control", CACHE_CONTROL),
        ]
    }
}
