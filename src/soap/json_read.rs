//! Strict reader for Zimbra's JSON SOAP (zimbra-api.md §1.3).
//!
//! Only standard JSON is read (Zimbra also takes single quotes, bare keys, `=`,
//! `;`…): a body the two parsers could read differently is refused. Duplicate keys,
//! shapes Zimbra would turn into something else (`_content` objects, nested arrays,
//! arrays in Body) and keys that are not XML names are refused too.

use super::element::{is_namespace_name, is_xml_name, Attr, Disposition, Element, ValueKind};
use super::json_value::{self, JsonValue};
use super::{Envelope, Format, SoapError, MAX_DEPTH, MAX_ELEMENTS, NS_JSON_SOAP, NS_ZIMBRA};

const CONTENT: &str = "_content";
const ATTRS: &str = "_attrs";
const JSNS: &str = "_jsns";

pub fn parse(body: &[u8]) -> Result<Envelope, SoapError> {
    let JsonValue::Obj(top) = json_value::read(body)? else {
        return Err(invalid("a JSON request must be an object"));
    };
    let mut header = None;
    let mut body = None;
    for (key, value) in top {
        match key.as_str() {
            "Header" => header = Some(value),
            "Body" => body = Some(value),
            JSNS if value == JsonValue::Str(NS_JSON_SOAP.into()) => {}
            JSNS => return Err(invalid("unexpected envelope namespace")),
            _ => return Err(invalid("unexpected key in the JSON envelope")),
        }
    }
    let mut budget = Budget::default();
    let body = match body {
        Some(JsonValue::Obj(o)) => element("Body", o, NS_JSON_SOAP, 1, &mut budget)?,
        Some(_) => return Err(invalid("Body must be an object")),
        None => return Err(invalid("no Body")),
    };
    let context = match header {
        None | Some(JsonValue::Null) => None,
        Some(JsonValue::Obj(o)) => context(element("Header", o, NS_JSON_SOAP, 1, &mut budget)?)?,
        Some(_) => return Err(invalid("Header must be an object")),
    };
    let body = single_request(body)?;
    super::envelope::check_body(&body)?;
    Ok(Envelope {
        format: Format::Json,
        context,
        body,
    })
}

/// Body must hold exactly one request object and nothing else.
fn single_request(mut body: Element) -> Result<Element, SoapError> {
    if !body.attrs.is_empty() || body.text.is_some() || !body.kv.is_empty() {
        return Err(invalid("Body may only hold the request"));
    }
    match body.children.len() {
        0 => Err(invalid("no request in Body")),
        1 if !body.children[0].list => Ok(body.children.remove(0)),
        1 => Err(invalid("the request in Body must be an object")),
        _ => Err(invalid("several requests in Body")),
    }
}

/// The header context must be one object in `urn:zimbra`, as `ZimbraSoapContext`
/// requires (a JSON context in another namespace fails there).
fn context(mut header: Element) -> Result<Option<Element>, SoapError> {
    let mut found = header.children.drain(..).filter(|c| c.name == "context");
    let Some(ctx) = found.next() else {
        return Ok(None);
    };
    if ctx.list || found.next().is_some() {
        return Err(invalid("the header context must be one object"));
    }
    if ctx.ns != NS_ZIMBRA {
        return Err(invalid("the header context must be in urn:zimbra"));
    }
    Ok(Some(ctx))
}

#[derive(Default)]
struct Budget {
    elements: usize,
}

/// Builds one element from a JSON object; `_jsns` overrides the inherited namespace.
fn element(
    name: &str,
    obj: Vec<(String, JsonValue)>,
    parent_ns: &str,
    depth: usize,
    budget: &mut Budget,
) -> Result<Element, SoapError> {
    if depth > MAX_DEPTH {
        return Err(invalid("elements nested too deeply"));
    }
    budget.elements += 1;
    if budget.elements > MAX_ELEMENTS {
        return Err(invalid("too many elements"));
    }
    let ns = match obj.iter().find(|(k, _)| k == JSNS) {
        None => parent_ns.to_string(),
        Some((_, JsonValue::Str(ns))) if is_namespace_name(ns) => ns.clone(),
        Some((_, JsonValue::Str(_))) => return Err(invalid("unacceptable _jsns")),
        Some(_) => return Err(invalid("_jsns must be a string")),
    };
    let mut el = Element::new(ns, name);
    for (key, value) in obj {
        match key.as_str() {
            JSNS => {}
            CONTENT => el.text = scalar_text(value)?,
            ATTRS => el.kv = key_values(value)?,
            _ if !is_xml_name(&key) || key == "xmlns" => {
                return Err(invalid("a JSON key is not an XML name"))
            }
            _ => add_field(&mut el, key, value, depth, budget)?,
        }
    }
    Ok(el)
}

/// A scalar becomes an attribute, an object a child, an array repeated children.
fn add_field(
    el: &mut Element,
    key: String,
    value: JsonValue,
    depth: usize,
    budget: &mut Budget,
) -> Result<(), SoapError> {
    match value {
        JsonValue::Null => {}
        JsonValue::Obj(o) => {
            let child = element(&key, o, &el.ns, depth + 1, budget)?;
            el.children.push(child.unique());
        }
        JsonValue::Arr(items) => {
            for item in items {
                let child = match item {
                    JsonValue::Null => continue,
                    JsonValue::Obj(o) => element(&key, o, &el.ns, depth + 1, budget)?,
                    JsonValue::Arr(_) => return Err(invalid("nested JSON arrays")),
                    scalar => {
                        let mut c = element(&key, Vec::new(), &el.ns, depth + 1, budget)?;
                        c.text = scalar_text(scalar)?;
                        c
                    }
                };
                el.children.push(child);
            }
        }
        scalar => {
            let (value, kind) = scalar_value(scalar)?;
            el.attrs.push(Attr {
                name: key,
                value,
                kind,
                disposition: Disposition::Attribute,
            });
        }
    }
    Ok(())
}

/// `_attrs`: `{"k":"v","multi":["v1","v2"]}` → repeated pairs, in order.
fn key_values(value: JsonValue) -> Result<Vec<(String, String)>, SoapError> {
    let JsonValue::Obj(pairs) = value else {
        return Err(invalid("_attrs must be an object"));
    };
    let mut out = Vec::new();
    for (key, value) in pairs {
        let values = match value {
            JsonValue::Arr(items) => items,
            other => vec![other],
        };
        for v in values {
            match v {
                JsonValue::Null => {}
                JsonValue::Obj(_) | JsonValue::Arr(_) => {
                    return Err(invalid("_attrs values must be scalars"))
                }
                scalar => out.push((key.clone(), scalar_value(scalar)?.0)),
            }
        }
    }
    Ok(out)
}

fn scalar_text(value: JsonValue) -> Result<Option<String>, SoapError> {
    match value {
        JsonValue::Null => Ok(None),
        other => Ok(Some(scalar_value(other)?.0)),
    }
}

/// Numbers and booleans are stringified as Zimbra does, keeping their JSON kind.
fn scalar_value(value: JsonValue) -> Result<(String, ValueKind), SoapError> {
    match value {
        JsonValue::Str(s) => Ok((s, ValueKind::Str)),
        JsonValue::Num(n) => Ok((n.to_string(), ValueKind::Num)),
        JsonValue::Bool(b) => Ok((b.to_string(), ValueKind::Bool)),
        _ => Err(invalid("a scalar was expected")),
    }
}

fn invalid(msg: &str) -> SoapError {
    SoapError::Invalid(msg.into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::soap::{NS_ACCOUNT, NS_MAIL};

    fn ok(body: &str) -> Envelope {
        parse(body.as_bytes()).unwrap_or_else(|e| panic!("{body}: {e}"))
    }

    fn invalid_err(body: &str) {
        assert!(
            matches!(parse(body.as_bytes()), Err(SoapError::Invalid(_))),
            "{body}: {:?}",
            parse(body.as_bytes())
        );
    }

    fn parse_err(body: &str) {
        assert!(
            matches!(parse(body.as_bytes()), Err(SoapError::Parse(_))),
            "{body}: {:?}",
            parse(body.as_bytes())
        );
    }

    #[test]
    fn reads_the_documented_request() {
        let env = ok(
            r#"{"Header":{"context":{"_jsns":"urn:zimbra","authToken":{"_content":"0_tok"}}},
            "Body":{"AuthRequest":{"_jsns":"urn:zimbraAccount","account":{"by":"name","_content":"a@b"},
            "password":{"_content":"pw"},"csrfTokenSecured":1,"persist":true}}}"#,
        );
        assert_eq!(env.format, Format::Json);
        assert_eq!(env.header_auth_token(), Some("0_tok"));
        let b = &env.body;
        assert!(b.is(NS_ACCOUNT, "AuthRequest"));
        assert_eq!(b.child("account").unwrap().attr("by"), Some("name"));
        assert_eq!(b.child("account").unwrap().ns, NS_ACCOUNT, "inherited");
        assert_eq!(b.attr("password"), Some("pw"));
        let c = b
            .attrs
            .iter()
            .find(|a| a.name == "csrfTokenSecured")
            .unwrap();
        assert_eq!((c.value.as_str(), c.kind), ("1", ValueKind::Num));
        let p = b.attrs.iter().find(|a| a.name == "persist").unwrap();
        assert_eq!((p.value.as_str(), p.kind), ("true", ValueKind::Bool));
    }

    #[test]
    fn namespace_is_inherited_from_body() {
        let env = ok(r#"{"Body":{"GetInfoRequest":{}}}"#);
        assert!(env.body.is(NS_JSON_SOAP, "GetInfoRequest"));
        let env = ok(
            r#"{"Body":{"_jsns":"urn:zimbraMail","SearchRequest":{"m":{}}},"_jsns":"urn:zimbraSoap"}"#,
        );
        assert!(env.body.is(NS_MAIL, "SearchRequest"));
        assert_eq!(env.body.child("m").unwrap().ns, NS_MAIL);
        let env = ok(r#"{"Body":{"X":{"_jsns":"urn:zimbraMail","c":{"_jsns":"urn:other"}}}}"#);
        assert_eq!(env.body.child("c").unwrap().ns, "urn:other");
    }

    #[test]
    fn attrs_content_and_arrays() {
        let env = ok(
            r#"{"Body":{"ModifyPrefsRequest":{"_jsns":"urn:zimbraAccount",
            "_attrs":{"zimbraPrefA":"x","multi":["v1","v2"],"n":3,"gone":null},
            "e":[{"t":"t","a":"x@y"},{"t":"c","a":"z@y"}],"tag":["a","b"],"_content":"text"}}}"#,
        );
        let b = &env.body;
        assert_eq!(
            b.kv,
            [
                ("zimbraPrefA", "x"),
                ("multi", "v1"),
                ("multi", "v2"),
                ("n", "3")
            ]
            .map(|(k, v)| (k.to_string(), v.to_string()))
        );
        let es: Vec<_> = b
            .children_named("e")
            .map(|e| e.attr("a").unwrap())
            .collect();
        assert_eq!(es, ["x@y", "z@y"]);
        assert!(b.children_named("e").all(|e| e.list));
        let tags: Vec<_> = b.children_named("tag").map(|e| e.text()).collect();
        assert_eq!(tags, ["a", "b"]);
        assert_eq!(b.text(), "text");
        assert_eq!(b.attr("zimbraPrefA"), Some("x"));
    }

    #[test]
    fn duality_content_object_equals_scalar() {
        let a = ok(r#"{"Body":{"X":{"_jsns":"urn:zimbraMail","a":"x@y"}}}"#);
        let b = ok(r#"{"Body":{"X":{"_jsns":"urn:zimbraMail","a":{"_content":"x@y"}}}}"#);
        let c = ok(r#"{"Body":{"X":{"_jsns":"urn:zimbraMail","_attrs":{"a":"x@y"}}}}"#);
        for e in [a, b, c] {
            assert_eq!(e.body.attr("a"), Some("x@y"));
            assert_eq!(e.body.attr_all("a"), ["x@y"]);
        }
    }

    #[test]
    fn batch_children_expand_in_key_then_array_order() {
        let env = ok(
            r#"{"Body":{"BatchRequest":{"_jsns":"urn:zimbra","onerror":"continue",
            "GetFolderRequest":[{"_jsns":"urn:zimbraMail","requestId":0}],
            "SendMsgRequest":[{"_jsns":"urn:zimbraMail","requestId":1,"m":{}},{"_jsns":"urn:zimbraMail","requestId":"2"}],
            "NoOpRequest":{"_jsns":"urn:zimbraMail","requestId":3}}}}"#,
        );
        assert!(env.is_batch());
        let reqs = env.requests();
        let seen: Vec<_> = reqs
            .iter()
            .map(|r| (r.element.name.as_str(), r.request_id.unwrap()))
            .collect();
        assert_eq!(
            seen,
            [
                ("GetFolderRequest", "0"),
                ("SendMsgRequest", "1"),
                ("SendMsgRequest", "2"),
                ("NoOpRequest", "3")
            ]
        );
        assert!(reqs.iter().all(|r| r.element.ns == NS_MAIL));
        assert_eq!(env.body.attr("onerror"), Some("continue"));
    }

    #[test]
    fn refusals() {
        // several Body keys, nested batch, context outside urn:zimbra, odd shapes
        invalid_err(r#"{"Body":{"A":{},"B":{}}}"#);
        invalid_err(r#"{"Body":{}}"#);
        invalid_err(r#"{"Header":{}}"#);
        invalid_err(r#"{"Body":{"A":[{}]}}"#);
        invalid_err(r#"{"Body":{"A":"x"}}"#);
        invalid_err(r#"{"Body":[]}"#);
        invalid_err(r#"[]"#);
        invalid_err(r#"{"Body":{"A":{}},"Extra":1}"#);
        invalid_err(r#"{"Body":{"A":{}},"_jsns":"urn:other"}"#);
        invalid_err(
            r#"{"Body":{"BatchRequest":{"_jsns":"urn:zimbra","BatchRequest":[{"_jsns":"urn:zimbra"}]}}}"#,
        );
        invalid_err(r#"{"Body":{"BatchRequest":{"_jsns":"urn:zimbra","BatchRequest":{}}}}"#);
        invalid_err(r#"{"Header":{"context":{"authToken":"t"}},"Body":{"A":{}}}"#);
        invalid_err(r#"{"Header":{"context":{"_jsns":"urn:zimbraAccount"}},"Body":{"A":{}}}"#);
        invalid_err(r#"{"Header":{"context":[{"_jsns":"urn:zimbra"}]},"Body":{"A":{}}}"#);
        invalid_err(r#"{"Body":{"A":{"_content":{"x":1}}}}"#);
        invalid_err(r#"{"Body":{"A":{"_attrs":{"x":{"y":1}}}}}"#);
        invalid_err(r#"{"Body":{"A":{"_attrs":["x"]}}}"#);
        invalid_err(r#"{"Body":{"A":{"_jsns":1}}}"#);
        invalid_err(r#"{"Body":{"A":{"_jsns":"urn:a&b"}}}"#);
        invalid_err(r#"{"Body":{"A":{"_jsns":"urn:a b"}}}"#);
        invalid_err(r#"{"Body":{"A":{"e":[[{}]]}}}"#);
        invalid_err(r#"{"Body":{"A":{"bad key":1}}}"#);
        invalid_err(r#"{"Body":{"A":{"":1}}}"#);
        invalid_err(r#"{"Body":{"A":{"xmlns":"urn:evil"}}}"#);
        invalid_err(r#"{"Body":{"A":{"x><y":{}}}}"#);
        // duplicates, nested too, and Zimbra's lenient syntax
        parse_err(r#"{"Body":{"A":{}},"Body":{"B":{}}}"#);
        parse_err(r#"{"Body":{"A":{"m":{"e":[{"a":"1","a":"2"}]}}}}"#);
        parse_err(r#"{"Body":{"A":{"_attrs":{"k":"1","k":"2"}}}}"#);
        parse_err("{'Body':{'A':{}}}");
        parse_err("{Body:{A:{}}}");
        parse_err(r#"{"Body"={"A"=>{}}}"#);
        parse_err(r#"{"Body":{"A":{"x":"1";"y":"2"}}}"#);
        parse_err("\u{feff}{\"Body\":{\"A\":{}}}");
        parse_err("{\"Body\":{\"A\":{}}} trailing");
    }

    #[test]
    fn whitespace_before_json_is_fine_and_nulls_are_dropped() {
        let env = ok(" \n{\"Header\":null,\"Body\":{\"A\":{\"x\":null,\"e\":[null]}}}");
        assert!(env.body.attrs.is_empty() && env.body.children.is_empty());
        assert!(env.context.is_none());
    }

    #[test]
    fn depth_is_capped() {
        let mut body = String::from(r#"{"Body":{"A":"#);
        body.push_str(&"{\"e\":".repeat(MAX_DEPTH));
        body.push_str("{}");
        body.push_str(&"}".repeat(MAX_DEPTH));
        body.push_str("}}");
        assert!(parse(body.as_bytes()).is_err());
    }
}
