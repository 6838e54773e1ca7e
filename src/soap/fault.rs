//! Zimbra faults in the exact shapes of zimbra-api.md §1.6 (SOAP 1.2, SOAP 1.1
//! with unqualified `faultcode`/`faultstring`/`detail`, JSON).
//!
//! A top-level fault is HTTP 500 with `Cache-Control: no-store, no-cache`
//! (`SoapReply::headers`); inside a batch it is an entry carrying `requestId`.
//! `Trace` is neutral (`gateway:{millis}:{random hex}`): it lets an operator find
//! the audit line, and tells the client nothing about the gateway's insides.

use std::time::{SystemTime, UNIX_EPOCH};

use super::element::ValueKind;
use super::{Element, Format, SoapError, SoapReply, NS_JSON_SOAP, NS_SOAP11, NS_SOAP12, NS_ZIMBRA};

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
    /// `Error/Trace`; a fresh neutral value is made when `None`.
    pub trace: Option<String>,
}

impl Fault {
    pub fn new(code: impl Into<String>, reason: impl Into<String>) -> Self {
        Fault {
            code: code.into(),
            reason: reason.into(),
            receiver: false,
            args: Vec::new(),
            trace: None,
        }
    }

    /// Fixes the `Trace` value (tests, or to reuse the id already audited).
    pub fn with_trace(mut self, trace: impl Into<String>) -> Self {
        self.trace = Some(trace.into());
        self
    }

    /// A server-side fault (`soap:Receiver` / `soap:Server`).
    pub fn receiver(mut self) -> Self {
        self.receiver = true;
        self
    }

    /// The `Trace` this fault is written with.
    pub fn trace_value(&self) -> String {
        self.trace.clone().unwrap_or_else(new_trace)
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
        Fault::new(
            "service.UNKNOWN_DOCUMENT",
            format!("unknown document: {qname}"),
        )
    }

    pub fn auth_failed(name: &str) -> Self {
        Fault::new(
            "account.AUTH_FAILED",
            format!("authentication failed for [{name}]"),
        )
    }

    pub fn failure(msg: &str) -> Self {
        Fault::new("service.FAILURE", format!("system failure: {msg}")).receiver()
    }

    /// `mail.SEND_ABORTED_ADDRESS_FAILURE` with one `invalid` argument per address.
    pub fn send_aborted_address_failure(invalid: &[&str]) -> Self {
        let word = if invalid.len() == 1 {
            "address"
        } else {
            "addresses"
        };
        let reason = format!("Invalid {word}: {}", invalid.join(","));
        invalid.iter().fold(
            Fault::new("mail.SEND_ABORTED_ADDRESS_FAILURE", reason),
            |f, a| f.with_arg("invalid", "STR", *a),
        )
    }

    /// The `Fault` element as it appears in a Body or inside a `BatchResponse`.
    pub fn to_element(&self, format: Format) -> Element {
        let error = self.error_element();
        match format {
            Format::Soap12 | Format::Json => {
                let ns = if format == Format::Json {
                    NS_JSON_SOAP
                } else {
                    NS_SOAP12
                };
                let value = if self.receiver {
                    "soap:Receiver"
                } else {
                    "soap:Sender"
                };
                Element::new(ns, "Fault")
                    .with_child(Element::new(ns, "Code").unique().with_content_attr(
                        "Value",
                        value,
                        ValueKind::Str,
                    ))
                    .with_child(Element::new(ns, "Reason").unique().with_content_attr(
                        "Text",
                        &self.reason,
                        ValueKind::Str,
                    ))
                    .with_child(Element::new(ns, "Detail").unique().with_child(error))
            }
            Format::Soap11 => {
                let code = if self.receiver {
                    "soap:Server"
                } else {
                    "soap:Client"
                };
                Element::new(NS_SOAP11, "Fault")
                    .with_child(Element::new("", "faultcode").unique().with_text(code))
                    .with_child(
                        Element::new("", "faultstring")
                            .unique()
                            .with_text(&self.reason),
                    )
                    .with_child(Element::new("", "detail").unique().with_child(error))
            }
        }
    }

    /// A `Fault` entry of a `BatchResponse`, echoing the sub-request's `requestId`.
    pub fn to_batch_entry(&self, format: Format, request_id: Option<&str>) -> Element {
        let el = self.to_element(format);
        match request_id {
            Some(id) => el.with_attr("requestId", id),
            None => el,
        }
    }

    /// `<Error xmlns="urn:zimbra"><Code/><Trace/><a n= t=>v</a>*</Error>`.
    fn error_element(&self) -> Element {
        let args = self.args.iter().map(|a| {
            Element::new(NS_ZIMBRA, "a")
                .with_attr("n", &a.name)
                .with_attr("t", &a.kind)
                .with_text(&a.value)
        });
        Element::new(NS_ZIMBRA, "Error")
            .unique()
            .with_content_attr("Code", &self.code, ValueKind::Str)
            .with_content_attr("Trace", self.trace_value(), ValueKind::Str)
            .with_children(args)
    }

    /// A whole fault response (HTTP 500).
    pub fn reply(&self, format: Format) -> SoapReply {
        super::envelope::write_reply(format, self.to_element(format), 500)
    }
}

/// `gateway:{millis}:{16 random hex digits}`.
fn new_trace() -> String {
    let millis = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or(0);
    format!("gateway:{millis}:{:016x}", rand::random::<u64>())
}

impl From<SoapError> for Fault {
    fn from(e: SoapError) -> Self {
        Fault::from(&e)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trace_is_neutral_and_fresh() {
        let t = Fault::perm_denied("x").trace_value();
        let parts: Vec<_> = t.split(':').collect();
        assert_eq!(parts.len(), 3);
        assert_eq!(parts[0], "gateway");
        assert!(parts[1].parse::<u128>().is_ok());
        assert_eq!(parts[2].len(), 16);
        assert_ne!(t, Fault::perm_denied("x").trace_value());
        assert_eq!(Fault::perm_denied("x").with_trace("T").trace_value(), "T");
    }

    #[test]
    fn reply_is_500_and_uncached() {
        let r = Fault::auth_required().reply(Format::Json);
        assert_eq!(r.status, 500);
        assert_eq!(r.content_type, "text/javascript; charset=utf-8");
        assert_eq!(r.headers()[1], ("Cache-Control", "no-store, no-cache"));
        let v: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
        assert_eq!(
            v["Body"]["Fault"]["Detail"]["Error"]["Code"],
            "service.AUTH_REQUIRED"
        );
        assert_eq!(v["Body"]["Fault"]["Code"]["Value"], "soap:Sender");
    }

    #[test]
    fn receiver_faults() {
        let f = Fault::failure("x").with_trace("T");
        let xml = String::from_utf8(f.reply(Format::Soap12).body).unwrap();
        assert!(xml.contains("<soap:Value>soap:Receiver</soap:Value>"));
        let xml = String::from_utf8(f.reply(Format::Soap11).body).unwrap();
        assert!(xml.contains("<faultcode>soap:Server</faultcode>"));
    }

    #[test]
    fn soap_errors_map_to_faults() {
        let f = Fault::from(SoapError::TooLarge { limit: 10 });
        assert_eq!(f.code, "service.INVALID_REQUEST");
        assert_eq!(
            Fault::from(&SoapError::Parse("p".into())).code,
            "service.PARSE_ERROR"
        );
    }

    #[test]
    fn every_code_the_gateway_writes_is_in_the_xsd() {
        let xsd = include_str!("../../wsdl/zimbraGatewayFaults.xsd");
        for f in [
            Fault::perm_denied("x"),
            Fault::invalid_request("x"),
            Fault::parse_error("x"),
            Fault::auth_required(),
            Fault::auth_expired(),
            Fault::unknown_document("x"),
            Fault::auth_failed("x"),
            Fault::failure("x"),
            Fault::send_aborted_address_failure(&["a@b"]),
        ] {
            assert!(xsd.contains(&format!("value=\"{}\"", f.code)), "{}", f.code);
        }
    }
}
