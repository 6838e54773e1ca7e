//! Zimbra faults. TODO(soap helper): exact shapes of zimbra-api.md §1.6.

use super::{Element, Format, SoapError, SoapReply};

/// An `Error/a` argument (`<a n="invalid" t="STR">bad@x</a>`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FaultArg {
    pub name: String,
    pub kind: String,
    pub value: String,
}

/// A Zimbra service fault.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fault {
    /// e.g. `service.PERM_DENIED`.
    pub code: String,
    /// `soap:Reason/soap:Text`.
    pub reason: String,
    /// `soap:Receiver` (server fault) rather than `soap:Sender`.
    pub receiver: bool,
    pub args: Vec<FaultArg>,
}

impl Fault {
    pub fn new(code: impl Into<String>, reason: impl Into<String>) -> Self {
        Fault {
            code: code.into(),
            reason: reason.into(),
            receiver: false,
            args: Vec::new(),
        }
    }

    pub fn with_arg(mut self, name: &str, kind: &str, value: impl Into<String>) -> Self {
        self.args.push(FaultArg {
            name: name.into(),
            kind: kind.into(),
            value: value.into(),
        });
        self
    }

    pub fn perm_denied(msg: &str) -> Self {
        Fault::new("service.PERM_DENIED", format!("permission denied: {msg}"))
    }

    pub fn invalid_request(msg: &str) -> Self {
        Fault::new("service.INVALID_REQUEST", format!("invalid request: {msg}"))
    }

    pub fn parse_error(msg: &str) -> Self {
        Fault::new("service.PARSE_ERROR", format!("parse error: {msg}"))
    }

    pub fn auth_required() -> Self {
        Fault::new("service.AUTH_REQUIRED", "no valid authtoken present")
    }

    pub fn auth_expired() -> Self {
        Fault::new("service.AUTH_EXPIRED", "auth credentials have expired")
    }

    pub fn unknown_document(qname: &str) -> Self {
        Fault::new("service.UNKNOWN_DOCUMENT", format!("unknown document: {qname}"))
    }

    pub fn auth_failed(name: &str) -> Self {
        Fault::new("account.AUTH_FAILED", format!("authentication failed for [{name}]"))
    }

    /// The `Fault` element as it appears in a Body or inside a `BatchResponse`.
    pub fn to_element(&self, _format: Format) -> Element {
        Element::new("", "Fault")
    }

    /// A whole fault response (HTTP 500).
    pub fn reply(&self, format: Format) -> SoapReply {
        super::envelope::write_reply(format, self.to_element(format), 500)
    }
}

impl From<&SoapError> for Fault {
    fn from(e: &SoapError) -> Self {
        match e {
            SoapError::Parse(m) => Fault::parse_error(m),
            SoapError::Invalid(m) => Fault::invalid_request(m),
            SoapError::TooLarge { limit } => {
                Fault::invalid_request(&format!("Request size exceeded limit of {limit} bytes"))
            }
        }
    }
}
