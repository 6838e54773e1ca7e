//! A parsed request: its format, its header context and the one Body child.

use super::{Element, Fault, Format, SoapError, SoapReply, NS_ZIMBRA};

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

    /// A top-level fault in the request's format (HTTP 500).
    pub fn fault(&self, fault: &Fault) -> SoapReply {
        fault.reply(self.format)
    }

    /// A `BatchResponse` in the request's format (HTTP 200).
    pub fn batch_reply(&self, entries: Vec<Element>) -> SoapReply {
        write_batch_reply(self.format, entries)
    }

    /// The request written back in its own format, header context included: what
    /// the proxy forwards after a policy rewrote the tree or a token was injected.
    /// Reading the output gives back an equal `Envelope`.
    pub fn to_bytes(&self) -> Vec<u8> {
        match self.format {
            Format::Json => {
                super::json_write::envelope_with_context(self.context.as_ref(), &self.body)
            }
            Format::Soap12 | Format::Soap11 => super::xml_write::envelope_with_context(
                self.format,
                self.context.as_ref(),
                &self.body,
            ),
        }
    }

    /// Sets (replaces) `<authToken>` in the header context, creating the context
    /// when absent; every other spelling of the token is removed first.
    pub fn set_auth_token(&mut self, token: &str) {
        let ctx = self
            .context
            .get_or_insert_with(|| Element::new(NS_ZIMBRA, "context").unique());
        ctx.remove_field("authToken");
        let el = Element::new(ctx.ns.clone(), "authToken")
            .unique()
            .with_text(token);
        ctx.children.insert(0, el);
    }
}

/// Checks shared by both readers: a `BatchRequest` may not contain another one
/// (Zimbra has no handler for it; refusing keeps one level of requests to police).
pub(crate) fn check_body(body: &Element) -> Result<(), SoapError> {
    if body.name == "BatchRequest" && body.children.iter().any(|c| c.name == "BatchRequest") {
        return Err(SoapError::Invalid("nested BatchRequest".into()));
    }
    Ok(())
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

/// Writes a `BatchResponse` (HTTP 200 even when entries are faults, as Zimbra does).
/// Each entry is a response element or a `Fault` element carrying its `requestId`.
pub fn write_batch_reply(format: Format, entries: Vec<Element>) -> SoapReply {
    let body = Element::new(NS_ZIMBRA, "BatchResponse").with_children(entries);
    write_reply(format, body, 200)
}

/// Writes one element alone (an XML fragment, or a JSON object) for rewriting.
pub fn write_element(format: Format, element: &Element) -> Vec<u8> {
    match format {
        Format::Json => super::json_write::element(element).into_bytes(),
        Format::Soap12 | Format::Soap11 => super::xml_write::element(format, element).into_bytes(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::soap::{NS_ACCOUNT, NS_MAIL, NS_SOAP11};

    const XML12: &str = r#"<?xml version="1.0"?><s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"><s:Header><context xmlns="urn:zimbra"><authToken>old</authToken><account by="name">x@y</account></context></s:Header><s:Body><SendMsgRequest xmlns="urn:zimbraMail"><m su="a &amp; b&#10;c"><e t="t" a="x@y"/><mp ct="text/plain"><content>line1
line2 &lt;ok&gt;</content></mp><a n="k">v</a></m></SendMsgRequest></s:Body></s:Envelope>"#;

    const JSON: &str = r#"{"Header":{"context":{"_jsns":"urn:zimbra","authToken":"old"}},"Body":{"BatchRequest":{"_jsns":"urn:zimbra","onerror":"continue","SendMsgRequest":[{"_jsns":"urn:zimbraMail","requestId":1,"m":{"e":[{"t":"t","a":"x@y"}],"su":{"_content":"S"},"f":true,"n":1.5}}],"ModifyPrefsRequest":{"_jsns":"urn:zimbraAccount","requestId":"2","_attrs":{"k":["1","2"],"z":"\u00e9"}}}}}"#;

    fn same(a: &Envelope, b: &Envelope) {
        assert_eq!(a.format, b.format);
        assert_eq!(a.context, b.context);
        assert_eq!(a.body, b.body);
    }

    #[test]
    fn xml_round_trips_through_to_bytes() {
        let env = Envelope::parse(XML12.as_bytes()).unwrap();
        let again = Envelope::parse(&env.to_bytes()).unwrap();
        same(&env, &again);
        assert_eq!(again.body.child("m").unwrap().attr("su"), Some("a & b\nc"));
        let soap11 = XML12.replace("http://www.w3.org/2003/05/soap-envelope", NS_SOAP11);
        let env = Envelope::parse(soap11.as_bytes()).unwrap();
        assert_eq!(env.format, Format::Soap11);
        same(&env, &Envelope::parse(&env.to_bytes()).unwrap());
    }

    #[test]
    fn json_round_trips_through_to_bytes() {
        let env = Envelope::parse(JSON.as_bytes()).unwrap();
        let bytes = env.to_bytes();
        let again = Envelope::parse(&bytes).unwrap();
        same(&env, &again);
        let reqs = again.requests();
        assert_eq!(reqs.len(), 2);
        assert!(reqs[1].element.is(NS_ACCOUNT, "ModifyPrefsRequest"));
        assert_eq!(reqs[1].element.key_values("pref", "name").len(), 3);
    }

    #[test]
    fn json_tree_written_as_xml_reads_back_with_same_fields() {
        let env = Envelope::parse(JSON.as_bytes()).unwrap();
        let xml = super::super::xml_write::envelope_with_context(
            Format::Soap12,
            env.context.as_ref(),
            &env.body,
        );
        let back = Envelope::parse(&xml).unwrap();
        assert_eq!(back.header_auth_token(), Some("old"));
        let send = back.requests()[0].element;
        assert!(send.is(NS_MAIL, "SendMsgRequest"));
        assert_eq!(send.child("m").unwrap().attr("n"), Some("1.5"));
        // `_attrs` became <a n="k"> children, which Zimbra's XML side reads.
        let prefs = back.requests()[1].element;
        assert_eq!(prefs.key_values("a", "n").len(), 3);
    }

    #[test]
    fn set_auth_token_replaces_every_spelling() {
        let mut env = Envelope::parse(XML12.as_bytes()).unwrap();
        env.context
            .as_mut()
            .unwrap()
            .set_attr("authToken", "attr-spelling");
        env.set_auth_token("new");
        assert_eq!(env.context.as_ref().unwrap().attr_all("authToken"), ["new"]);
        let again = Envelope::parse(&env.to_bytes()).unwrap();
        assert_eq!(again.header_auth_token(), Some("new"));
        assert_eq!(
            again
                .context
                .as_ref()
                .unwrap()
                .child("account")
                .unwrap()
                .text(),
            "x@y"
        );

        let mut env =
            Envelope::parse(br#"{"Body":{"NoOpRequest":{"_jsns":"urn:zimbraMail"}}}"#).unwrap();
        env.set_auth_token("t");
        let again = Envelope::parse(&env.to_bytes()).unwrap();
        assert_eq!(again.header_auth_token(), Some("t"));
    }

    #[test]
    fn caps_and_dispatch_by_first_byte() {
        assert_eq!(
            Envelope::parse_capped(XML12.as_bytes(), 10).unwrap_err(),
            SoapError::TooLarge { limit: 10 }
        );
        assert!(
            Envelope::parse_capped(XML12.as_bytes(), 0).is_ok(),
            "0 = unlimited"
        );
        // leading whitespace means "not <": the JSON reader refuses XML
        let spaced = format!(" {XML12}");
        assert!(matches!(
            Envelope::parse(spaced.as_bytes()),
            Err(SoapError::Parse(_))
        ));
        assert!(matches!(Envelope::parse(b""), Err(SoapError::Parse(_))));
    }

    #[test]
    fn write_element_fragments() {
        let el = Element::new(NS_MAIL, "m").with_attr("id", "1");
        assert_eq!(
            write_element(Format::Soap12, &el),
            br#"<m xmlns="urn:zimbraMail" id="1"/>"#
        );
        assert_eq!(
            write_element(Format::Json, &el),
            br#"{"id":"1","_jsns":"urn:zimbraMail"}"#
        );
    }
}
