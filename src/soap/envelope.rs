//! A parsed request: its format, its header context and the one Body child.

use super::{Element, Format, SoapError, SoapReply, NS_ZIMBRA};

/// A parsed SOAP request.
#[derive(Debug, Clone)]
pub struct Envelope {
    pub format: Format,
    /// `{urn:zimbra}context` from the Header, when present.
    pub context: Option<Element>,
    /// The single child of Body (the dispatched request).
    pub body: Element,
}

/// One dispatchable request: the Body child, or one child of a `BatchRequest`.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    /// `requestId` of a batch child (echoed on its response or fault).
    pub request_id: Option<&'a str>,
    pub element: &'a Element,
}

impl Envelope {
    /// Reads a body strictly: XML when the first byte is `<`, JSON otherwise.
    pub fn parse(body: &[u8]) -> Result<Envelope, SoapError> {
        if body.first() == Some(&b'<') {
            super::xml_read::parse(body)
        } else {
            super::json_read::parse(body)
        }
    }

    /// Like `parse`, refusing bodies over `limit` bytes first.
    pub fn parse_capped(body: &[u8], limit: usize) -> Result<Envelope, SoapError> {
        if limit > 0 && body.len() > limit {
            return Err(SoapError::TooLarge { limit });
        }
        Self::parse(body)
    }

    pub fn is_batch(&self) -> bool {
        self.body.is(NS_ZIMBRA, "BatchRequest")
    }

    /// Every request the server would dispatch, in execution order.
    pub fn requests(&self) -> Vec<Request<'_>> {
        if self.is_batch() {
            self.body
                .children
                .iter()
                .map(|c| Request {
                    request_id: c.attr("requestId"),
                    element: c,
                })
                .collect()
        } else {
            vec![Request {
                request_id: None,
                element: &self.body,
            }]
        }
    }

    /// The auth token from the header context (element or attribute form).
    pub fn header_auth_token(&self) -> Option<&str> {
        self.context.as_ref().and_then(|c| c.attr("authToken"))
    }

    /// Writes a successful answer in the request's format.
    pub fn reply(&self, body: Element) -> SoapReply {
        write_reply(self.format, body, 200)
    }
}

/// Writes `body` inside an envelope of `format` with an empty `urn:zimbra` context.
pub fn write_reply(format: Format, body: Element, status: u16) -> SoapReply {
    let bytes = match format {
        Format::Json => super::json_write::envelope(&body),
        Format::Soap12 | Format::Soap11 => super::xml_write::envelope(format, &body),
    };
    SoapReply {
        status,
        content_type: format.content_type(),
        body: bytes,
    }
}
