//! XML writer for SOAP 1.2 / 1.1 envelopes, in Zimbra's shapes:
//! `<soap:Envelope xmlns:soap=…><soap:Header><context xmlns="urn:zimbra"/></soap:Header>
//! <soap:Body><XResponse xmlns="urn:zimbraAccount">…</XResponse></soap:Body></soap:Envelope>`.
//!
//! Elements in the envelope namespace (`Fault`, `Code`…) use the `soap:` prefix;
//! every other element is unprefixed with `xmlns` declared where the default
//! namespace changes. Names that are not XML names are skipped, never written raw.

use super::element::is_xml_name;
use super::element::{Disposition, Element};
use super::{Format, NS_SOAP11, NS_SOAP12, NS_ZIMBRA};

/// A full envelope with an empty `urn:zimbra` context header and `body` in Body.
pub fn envelope(format: Format, body: &Element) -> Vec<u8> {
    envelope_with_context(format, None, body)
}

/// A full envelope; `context` (a `{urn:zimbra}context` element) replaces the
/// empty one, e.g. to forward a rewritten request with its header.
pub fn envelope_with_context(format: Format, context: Option<&Element>, body: &Element) -> Vec<u8> {
    let env_ns = envelope_ns(format);
    let empty = Element::new(NS_ZIMBRA, "context");
    let mut out = String::with_capacity(256);
    out.push_str("<soap:Envelope xmlns:soap=\"");
    out.push_str(env_ns);
    out.push_str("\"><soap:Header>");
    write(&mut out, context.unwrap_or(&empty), env_ns, "");
    out.push_str("</soap:Header><soap:Body>");
    write(&mut out, body, env_ns, "");
    out.push_str("</soap:Body></soap:Envelope>");
    out.into_bytes()
}

/// One element as an XML fragment, as if it were a child of `soap:Body`
/// (elements of the envelope namespace keep the `soap:` prefix).
pub fn element(format: Format, el: &Element) -> String {
    let mut out = String::new();
    write(&mut out, el, envelope_ns(format), "");
    out
}

fn envelope_ns(format: Format) -> &'static str {
    match format {
        Format::Soap11 => NS_SOAP11,
        Format::Soap12 | Format::Json => NS_SOAP12,
    }
}

/// `default_ns` is the default namespace in scope where `el` is written.
fn write(out: &mut String, el: &Element, env_ns: &str, default_ns: &str) {
    if !is_xml_name(&el.name) {
        return;
    }
    let soap = el.ns == env_ns;
    let tag = if soap {
        format!("soap:{}", el.name)
    } else {
        el.name.clone()
    };
    let inner_ns = if soap { default_ns } else { el.ns.as_str() };
    out.push('<');
    out.push_str(&tag);
    if !soap && el.ns != default_ns {
        push_attr(out, "xmlns", &el.ns);
    }
    for a in el
        .attrs
        .iter()
        .filter(|a| a.disposition == Disposition::Attribute)
    {
        // A field called `xmlns` would re-declare the namespace: never written.
        if is_xml_name(&a.name) && a.name != "xmlns" {
            push_attr(out, &a.name, &a.value);
        }
    }
    let contents = el
        .attrs
        .iter()
        .filter(|a| a.disposition == Disposition::Content);
    let text = el.text.as_deref().unwrap_or("");
    if text.is_empty()
        && el.children.is_empty()
        && el.kv.is_empty()
        && contents.clone().next().is_none()
    {
        out.push_str("/>");
        return;
    }
    out.push('>');
    escape_into(out, text, false);
    // Disposition::Content scalars are child elements in the element's own namespace.
    for a in contents.filter(|a| is_xml_name(&a.name)) {
        let child = if soap {
            format!("soap:{}", a.name)
        } else {
            a.name.clone()
        };
        out.push('<');
        out.push_str(&child);
        out.push('>');
        escape_into(out, &a.value, false);
        out.push_str("</");
        out.push_str(&child);
        out.push('>');
    }
    for c in &el.children {
        write(out, c, env_ns, inner_ns);
    }
    let (kv_el, kv_key) = match &el.kv_element {
        Some((e, k)) if is_xml_name(e) && is_xml_name(k) => (e.as_str(), k.as_str()),
        _ => ("a", "n"),
    };
    for (k, v) in &el.kv {
        let kv_tag = if soap {
            format!("soap:{kv_el}")
        } else {
            kv_el.to_string()
        };
        out.push('<');
        out.push_str(&kv_tag);
        push_attr(out, kv_key, k);
        out.push('>');
        escape_into(out, v, false);
        out.push_str("</");
        out.push_str(&kv_tag);
        out.push('>');
    }
    out.push_str("</");
    out.push_str(&tag);
    out.push('>');
}

fn push_attr(out: &mut String, name: &str, value: &str) {
    out.push(' ');
    out.push_str(name);
    out.push_str("=\"");
    escape_into(out, value, true);
    out.push('"');
}

/// Escapes text or an attribute value. In attributes, tabs and newlines become
/// character references so that attribute normalization cannot change them.
fn escape_into(out: &mut String, s: &str, attr: bool) {
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' if attr => out.push_str("&quot;"),
            '\t' if attr => out.push_str("&#9;"),
            '\n' if attr => out.push_str("&#10;"),
            '\r' => out.push_str("&#13;"),
            // A character XML cannot carry at all is dropped rather than emitted.
            c if !super::xml_read::is_xml_char(c) => {}
            c => out.push(c),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::soap::{ValueKind, NS_ACCOUNT, NS_MAIL};

    fn s(b: Vec<u8>) -> String {
        String::from_utf8(b).unwrap()
    }

    #[test]
    fn writes_zimbra_shaped_envelope() {
        let body = Element::new(NS_ACCOUNT, "GetInfoResponse")
            .with_attr("name", "a&b\"<c>")
            .with_num("used", 12)
            .with_content_attr("lifetime", "3600", ValueKind::Num)
            .with_child(Element::new(NS_ACCOUNT, "prefs").with_kv(
                "pref",
                "name",
                [("k".into(), "v<".into())],
            ))
            .with_child(Element::new(NS_MAIL, "m").with_child(Element::new("", "e")))
            .with_child(Element::new(NS_ACCOUNT, "attrs").with_kv(
                "a",
                "n",
                [("x".into(), "1".into())],
            ));
        let out = s(envelope(Format::Soap12, &body));
        assert_eq!(
            out,
            concat!(
                r#"<soap:Envelope xmlns:soap="http://www.w3.org/2003/05/soap-envelope"><soap:Header><context xmlns="urn:zimbra"/></soap:Header><soap:Body>"#,
                r#"<GetInfoResponse xmlns="urn:zimbraAccount" name="a&amp;b&quot;&lt;c&gt;" used="12"><lifetime>3600</lifetime>"#,
                r#"<prefs><pref name="k">v&lt;</pref></prefs><m xmlns="urn:zimbraMail"><e xmlns=""/></m><attrs><a n="x">1</a></attrs>"#,
                r#"</GetInfoResponse></soap:Body></soap:Envelope>"#
            )
        );
        let out11 = s(envelope(Format::Soap11, &Element::new(NS_ACCOUNT, "X")));
        assert!(out11.starts_with(
            r#"<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/">"#
        ));
    }

    #[test]
    fn bad_names_are_never_written_raw() {
        let el = Element::new("", "ok")
            .with_attr("x><evil", "1")
            .with_attr("xmlns", "urn:evil")
            .with_child(Element::new("", "a b"));
        assert_eq!(element(Format::Soap12, &el), "<ok></ok>");
    }

    #[test]
    fn attribute_whitespace_survives() {
        let el = Element::new("", "e").with_attr("a", "1\t2\n3\r");
        assert_eq!(
            element(Format::Soap12, &el),
            r#"<e a="1&#9;2&#10;3&#13;"/>"#
        );
    }
}
