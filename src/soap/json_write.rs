//! JSON writer in Zimbra's shapes (`JSONElement.marshal`):
//! `{"Header":{"context":{"_jsns":"urn:zimbra"}},"Body":{"XResponse":{…,"_jsns":…}},"_jsns":"urn:zimbraSoap"}`.
//!
//! Attributes are scalars typed by `ValueKind`, text is `_content`, key/value pairs
//! are `_attrs`, children are grouped by name (an array when `list` or repeated,
//! else an object) and `_jsns` comes last, only where the namespace changes. Keys
//! are never repeated: a scalar whose name is also a child group or a reserved key
//! is left out (the caller's tree is ambiguous there anyway).

use std::collections::HashSet;

use super::element::{Attr, Element, ValueKind};
use super::{NS_JSON_SOAP, NS_ZIMBRA};

/// `{"Header":{"context":{"_jsns":"urn:zimbra"}},"Body":{…},"_jsns":"urn:zimbraSoap"}`
pub fn envelope(body: &Element) -> Vec<u8> {
    envelope_with_context(None, body)
}

/// A full envelope; `context` replaces the empty `urn:zimbra` context.
pub fn envelope_with_context(context: Option<&Element>, body: &Element) -> Vec<u8> {
    let empty = Element::new(NS_ZIMBRA, "context");
    let mut out = String::with_capacity(256);
    out.push_str(r#"{"Header":{"context":"#);
    write_object(&mut out, context.unwrap_or(&empty), NS_JSON_SOAP);
    out.push_str(r#"},"Body":{"#);
    push_str(&mut out, &body.name);
    out.push(':');
    // The Body child is always one object, even for a `list` element such as Fault.
    write_object(&mut out, body, NS_JSON_SOAP);
    out.push_str(r#"},"_jsns":"urn:zimbraSoap"}"#);
    out.into_bytes()
}

/// One element as a JSON object (with `_jsns` unless its namespace is empty).
pub fn element(el: &Element) -> String {
    let mut out = String::new();
    write_object(&mut out, el, "");
    out
}

fn write_object(out: &mut String, el: &Element, parent_ns: &str) {
    // Children grouped by name, in order of first appearance.
    let mut groups: Vec<(&str, Vec<&Element>)> = Vec::new();
    for c in &el.children {
        match groups.iter_mut().find(|(n, _)| *n == c.name) {
            Some((_, g)) => g.push(c),
            None => groups.push((&c.name, vec![c])),
        }
    }
    let mut used: HashSet<&str> = ["_jsns", "_content", "_attrs"].into_iter().collect();
    used.extend(groups.iter().map(|(n, _)| *n));

    out.push('{');
    let mut first = true;
    let mut key = |out: &mut String, k: &str| {
        if !std::mem::replace(&mut first, false) {
            out.push(',');
        }
        push_str(out, k);
        out.push(':');
    };
    for a in &el.attrs {
        if used.insert(&a.name) {
            key(out, &a.name);
            push_scalar(out, a);
        }
    }
    if let Some(text) = &el.text {
        key(out, "_content");
        push_str(out, text);
    }
    for (name, group) in &groups {
        key(out, name);
        if group.len() == 1 && !group[0].list {
            write_object(out, group[0], &el.ns);
        } else {
            out.push('[');
            for (i, c) in group.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_object(out, c, &el.ns);
            }
            out.push(']');
        }
    }
    if !el.kv.is_empty() {
        key(out, "_attrs");
        write_kv(out, &el.kv);
    }
    if el.ns != parent_ns {
        key(out, "_jsns");
        push_str(out, &el.ns);
    }
    out.push('}');
}

/// `_attrs`: `{"k":"v","multi":["v1","v2"]}` in order of first appearance.
fn write_kv(out: &mut String, kv: &[(String, String)]) {
    let mut keys: Vec<(&str, Vec<&str>)> = Vec::new();
    for (k, v) in kv {
        match keys.iter_mut().find(|(n, _)| n == k) {
            Some((_, vs)) => vs.push(v),
            None => keys.push((k, vec![v])),
        }
    }
    out.push('{');
    for (i, (k, vs)) in keys.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        push_str(out, k);
        out.push(':');
        if let [one] = vs.as_slice() {
            push_str(out, one);
        } else {
            out.push('[');
            for (j, v) in vs.iter().enumerate() {
                if j > 0 {
                    out.push(',');
                }
                push_str(out, v);
            }
            out.push(']');
        }
    }
    out.push('}');
}

/// Numbers and booleans as JSON literals when their text is one, else a string.
fn push_scalar(out: &mut String, a: &Attr) {
    match a.kind {
        ValueKind::Num if serde_json::from_str::<serde_json::Number>(&a.value).is_ok() => {
            out.push_str(&a.value)
        }
        ValueKind::Bool if a.value == "1" || a.value.eq_ignore_ascii_case("true") => {
            out.push_str("true")
        }
        ValueKind::Bool if a.value == "0" || a.value.eq_ignore_ascii_case("false") => {
            out.push_str("false")
        }
        _ => push_str(out, &a.value),
    }
}

fn push_str(out: &mut String, s: &str) {
    // serde_json's string escaping cannot fail for a &str.
    out.push_str(&serde_json::to_string(s).unwrap_or_else(|_| "\"\"".into()));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::soap::{NS_ACCOUNT, NS_MAIL};

    #[test]
    fn writes_zimbra_shaped_envelope() {
        let body = Element::new(NS_ACCOUNT, "GetInfoResponse")
            .with_attr("name", "a\"b")
            .with_num("used", 12)
            .with_num("bad", "x")
            .with_bool("on", true)
            .with_content_attr("lifetime", "3600", ValueKind::Num)
            .with_child(Element::new(NS_ACCOUNT, "prefs").unique().with_kv(
                "pref",
                "name",
                [
                    ("k".into(), "v".into()),
                    ("m".into(), "1".into()),
                    ("m".into(), "2".into()),
                ],
            ))
            .with_child(Element::new(NS_MAIL, "m").with_text("t"))
            .with_child(Element::new(NS_MAIL, "m"));
        let out = String::from_utf8(envelope(&body)).unwrap();
        assert_eq!(
            out,
            concat!(
                r#"{"Header":{"context":{"_jsns":"urn:zimbra"}},"Body":{"GetInfoResponse":{"#,
                r#""name":"a\"b","used":12,"bad":"x","on":true,"lifetime":3600,"#,
                r#""prefs":{"_attrs":{"k":"v","m":["1","2"]}},"#,
                r#""m":[{"_content":"t","_jsns":"urn:zimbraMail"},{"_jsns":"urn:zimbraMail"}],"#,
                r#""_jsns":"urn:zimbraAccount"}},"_jsns":"urn:zimbraSoap"}"#
            )
        );
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(v["Body"]["GetInfoResponse"]["used"], 12);
    }

    #[test]
    fn keys_are_never_repeated() {
        let el = Element::new("", "e")
            .with_attr("x", "1")
            .with_attr("x", "2")
            .with_attr("_jsns", "urn:evil")
            .with_child(Element::new("", "x").unique());
        assert_eq!(element(&el), r#"{"x":{}}"#);
    }
}
