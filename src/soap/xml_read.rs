//! Strict XML reader (quick-xml `NsReader`): a SOAP 1.2 or 1.1 envelope with any
//! prefixes, resolved into the namespace-aware `Element` tree.
//!
//! Refused: DOCTYPE (no XXE, no entity bombs), processing instructions, entities
//! other than the five predefined ones, characters XML forbids (Zimbra strips them
//! and parses again, so `<Send\x01MsgRequest>` would reach it as `SendMsgRequest`),
//! mixed content and XHTML elements (Zimbra flattens both into text), non-UTF-8
//! input, trailing data, and trees past `MAX_DEPTH` / `MAX_ELEMENTS`.

use quick_xml::events::{BytesDecl, BytesRef, BytesStart, Event};
use quick_xml::name::ResolveResult;
use quick_xml::{NsReader, XmlVersion};

use super::element::{is_namespace_name, is_xml_name};
use super::element::{Attr, Disposition, Element, ValueKind};
use super::{
    Envelope, Format, SoapError, MAX_DEPTH, MAX_ELEMENTS, NS_SOAP11, NS_SOAP12, NS_ZIMBRA,
};

const NS_XHTML: &str = "http://www.w3.org/1999/xhtml";

pub fn parse(body: &[u8]) -> Result<Envelope, SoapError> {
    envelope(read_document(body)?)
}

/// Reads a whole document into its root element.
pub fn read_document(body: &[u8]) -> Result<Element, SoapError> {
    let text = std::str::from_utf8(body).map_err(|_| parse_err("XML is not UTF-8"))?;
    if !text.chars().all(is_xml_char) {
        return Err(parse_err("character not allowed in XML"));
    }
    let mut reader = NsReader::from_str(text);
    let config = reader.config_mut();
    config.trim_text(false);
    config.expand_empty_elements = true;
    config.check_end_names = true;
    config.check_comments = true;

    let mut stack: Vec<Open> = Vec::new();
    let mut root: Option<Element> = None;
    let mut elements = 0usize;
    let mut first_event = true;
    loop {
        let (resolved, event) = reader.read_resolved_event().map_err(|_| malformed())?;
        let ns = match &event {
            Event::Start(_) => Some(namespace(resolved)?),
            _ => None,
        };
        let was_first = std::mem::replace(&mut first_event, false);
        match event {
            Event::Decl(decl) if was_first => check_decl(&decl)?,
            Event::Decl(_) | Event::PI(_) => {
                return Err(parse_err("processing instructions are not allowed"))
            }
            Event::DocType(_) => return Err(parse_err("DOCTYPE is not allowed")),
            Event::Comment(_) => {}
            Event::Start(start) => {
                if root.is_some() {
                    return Err(parse_err("content after the root element"));
                }
                elements += 1;
                if stack.len() >= MAX_DEPTH || elements > MAX_ELEMENTS {
                    return Err(SoapError::Invalid("XML tree too deep or too large".into()));
                }
                let el = start_element(&reader, &start, ns.unwrap_or_default())?;
                stack.push(Open {
                    el,
                    text: String::new(),
                });
            }
            Event::End(_) => {
                let open = stack.pop().ok_or_else(malformed)?;
                let el = open.finish()?;
                match stack.last_mut() {
                    Some(parent) => parent.el.children.push(el),
                    None => root = Some(el),
                }
            }
            Event::Text(t) => match stack.last_mut() {
                Some(open) => open.text.push_str(&t.xml10_content()),
                None if t.xml10_content().chars().all(is_xml_space) => {}
                None => return Err(parse_err("text outside the root element")),
            },
            Event::CData(c) => {
                let open = stack.last_mut().ok_or_else(malformed)?;
                open.text.push_str(&c.xml10_content());
            }
            Event::GeneralRef(r) => {
                let open = stack.last_mut().ok_or_else(malformed)?;
                open.text.push(resolve_ref(&r)?);
            }
            Event::Empty(_) => return Err(malformed()), // expanded by the config
            Event::Eof => break,
        }
    }
    if !stack.is_empty() {
        return Err(malformed());
    }
    root.ok_or_else(|| parse_err("no root element"))
}

/// An element being read, with its text so far.
struct Open {
    el: Element,
    text: String,
}

impl Open {
    /// Whitespace-only text is dropped (as Zimbra's `toHierarchy` does); real text
    /// next to child elements would be flattened by Zimbra, so it is refused.
    fn finish(self) -> Result<Element, SoapError> {
        let Open { mut el, text } = self;
        if el.ns.eq_ignore_ascii_case(NS_XHTML) {
            return Err(SoapError::Invalid("XHTML elements are not accepted".into()));
        }
        if !text.chars().all(is_xml_space) {
            if !el.children.is_empty() {
                return Err(SoapError::Invalid("mixed content is not accepted".into()));
            }
            el.text = Some(text);
        }
        Ok(el)
    }
}

fn namespace(resolved: ResolveResult<'_>) -> Result<String, SoapError> {
    match resolved {
        ResolveResult::Bound(ns) => Ok(ns.into_inner().to_string()),
        ResolveResult::Unbound => Ok(String::new()),
        ResolveResult::Unknown(_) => Err(parse_err("undeclared namespace prefix")),
    }
}

fn start_element(
    reader: &NsReader<&[u8]>,
    start: &BytesStart<'_>,
    ns: String,
) -> Result<Element, SoapError> {
    let name = start.local_name();
    if !is_xml_name(name.as_ref()) {
        return Err(parse_err("invalid element name"));
    }
    let mut el = Element::new(ns, name.as_ref());
    for attr in start.attributes() {
        let attr = attr.map_err(|_| parse_err("malformed or duplicate attribute"))?;
        if attr.key.as_namespace_binding().is_some() {
            // quick-xml binds the raw text: `urn:zimbra&#77;ail` would be one name
            // to us and `urn:zimbraMail` to Zimbra. Namespace names need no escapes.
            if !is_namespace_name(&attr.value) {
                return Err(parse_err("unacceptable namespace name"));
            }
            continue;
        }
        match reader.resolver().resolve_attribute(attr.key).0 {
            ResolveResult::Unbound => {}
            // Zimbra keys a prefixed attribute as "p:name", which no handler reads.
            ResolveResult::Bound(_) => continue,
            ResolveResult::Unknown(_) => return Err(parse_err("undeclared namespace prefix")),
        }
        if !is_xml_name(attr.key.local_name().as_ref()) {
            return Err(parse_err("invalid attribute name"));
        }
        if attr.value.contains('<') {
            return Err(parse_err("'<' in an attribute value"));
        }
        let value = attr
            .normalized_value(XmlVersion::Implicit1_0)
            .map_err(|_| parse_err("entity reference not allowed"))?;
        if !value.chars().all(is_xml_char) {
            return Err(parse_err("character not allowed in XML"));
        }
        el.attrs.push(Attr {
            name: attr.key.local_name().as_ref().to_string(),
            value: value.into_owned(),
            kind: ValueKind::Str,
            disposition: Disposition::Attribute,
        });
    }
    Ok(el)
}

/// Only the XML declaration of a UTF-8, XML 1.0 document is accepted.
fn check_decl(decl: &BytesDecl<'_>) -> Result<(), SoapError> {
    let version = decl.version().map_err(|_| malformed())?;
    if version.as_ref() != "1.0" {
        return Err(parse_err("only XML 1.0 is accepted"));
    }
    if let Some(enc) = decl.encoding() {
        let enc = enc.map_err(|_| malformed())?;
        if !enc.eq_ignore_ascii_case("utf-8") {
            return Err(parse_err("only UTF-8 is accepted"));
        }
    }
    Ok(())
}

/// The five predefined entities and character references; nothing else.
fn resolve_ref(r: &BytesRef<'_>) -> Result<char, SoapError> {
    if r.is_char_ref() {
        return match r.resolve_char_ref() {
            Ok(Some(c)) if is_xml_char(c) => Ok(c),
            _ => Err(parse_err("invalid character reference")),
        };
    }
    match r.xml10_content().as_ref() {
        "lt" => Ok('<'),
        "gt" => Ok('>'),
        "amp" => Ok('&'),
        "apos" => Ok('\''),
        "quot" => Ok('"'),
        _ => Err(parse_err("entity reference not allowed")),
    }
}

/// The SOAP frame: root `Envelope` in the 1.2 or 1.1 namespace, an optional
/// `Header` then `Body`, exactly one request in Body.
fn envelope(root: Element) -> Result<Envelope, SoapError> {
    let format = match root.ns.as_str() {
        NS_SOAP12 => Format::Soap12,
        NS_SOAP11 => Format::Soap11,
        _ => return Err(invalid("unknown SOAP envelope namespace")),
    };
    if root.name != "Envelope" {
        return Err(invalid("the root element is not a SOAP Envelope"));
    }
    let mut header: Option<Element> = None;
    let mut body: Option<Element> = None;
    for child in root.children {
        match (child.ns == root.ns, child.name.as_str()) {
            (true, "Header") if header.is_none() && body.is_none() => header = Some(child),
            (true, "Body") if body.is_none() => body = Some(child),
            _ => return Err(invalid("unexpected element in the SOAP Envelope")),
        }
    }
    let mut body = body.ok_or_else(|| invalid("no SOAP Body"))?;
    if body.children.len() != 1 {
        return Err(invalid("the SOAP Body must hold exactly one request"));
    }
    let request = body.children.remove(0);
    super::envelope::check_body(&request)?;
    Ok(Envelope {
        format,
        context: header.map(header_context).transpose()?.flatten(),
        body: request,
    })
}

/// `{urn:zimbra}context`; a context in another namespace is not Zimbra's and is
/// ignored, as the server does. Two of them would be ambiguous.
fn header_context(header: Element) -> Result<Option<Element>, SoapError> {
    let mut found = header
        .children
        .into_iter()
        .filter(|c| c.is(NS_ZIMBRA, "context"));
    let ctx = found.next();
    if found.next().is_some() {
        return Err(invalid("several contexts in the SOAP Header"));
    }
    Ok(ctx)
}

/// XML 1.0 `Char` production.
pub(crate) fn is_xml_char(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..)
}

fn is_xml_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\n' | '\r')
}

fn malformed() -> SoapError {
    parse_err("malformed XML")
}

fn parse_err(msg: &str) -> SoapError {
    SoapError::Parse(msg.into())
}

fn invalid(msg: &str) -> SoapError {
    SoapError::Invalid(msg.into())
}

#[cfg(test)]
#[path = "xml_read_tests.rs"]
mod tests;
