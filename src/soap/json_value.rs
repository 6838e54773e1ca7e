//! A JSON value that keeps key order and refuses duplicate keys.
//!
//! `serde_json::Value` silently keeps the last of two equal keys, while Zimbra keeps
//! the last scalar but fails on a repeated object: a proxy that reads either way
//! can be shown one value while the server acts on another. Duplicates are refused.

use std::collections::HashSet;
use std::fmt;

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};

use super::SoapError;

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum JsonValue {
    Null,
    Bool(bool),
    Num(serde_json::Number),
    Str(String),
    Arr(Vec<JsonValue>),
    Obj(Vec<(String, JsonValue)>),
}

/// Reads one standard JSON value (RFC 8259, no BOM, no trailing data).
pub(crate) fn read(body: &[u8]) -> Result<JsonValue, SoapError> {
    let mut de = serde_json::Deserializer::from_slice(body);
    let value = JsonValue::deserialize(&mut de).map_err(parse_err)?;
    de.end().map_err(parse_err)?;
    Ok(value)
}

// The message names the problem class only: the body itself is never echoed.
fn parse_err(e: serde_json::Error) -> SoapError {
    let what = if e.to_string().starts_with("duplicate key") {
        "duplicate key in JSON object"
    } else {
        "malformed JSON"
    };
    SoapError::Parse(what.into())
}

impl<'de> Deserialize<'de> for JsonValue {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(ValueVisitor)
    }
}

struct ValueVisitor;

impl<'de> Visitor<'de> for ValueVisitor {
    type Value = JsonValue;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<JsonValue, E> {
        Ok(JsonValue::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<JsonValue, E> {
        Ok(JsonValue::Num(v.into()))
    }

    fn visit_u64<E>(self, v: u64) -> Result<JsonValue, E> {
        Ok(JsonValue::Num(v.into()))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<JsonValue, E> {
        serde_json::Number::from_f64(v)
            .map(JsonValue::Num)
            .ok_or_else(|| E::custom("non-finite number"))
    }

    fn visit_str<E>(self, v: &str) -> Result<JsonValue, E> {
        Ok(JsonValue::Str(v.to_owned()))
    }

    fn visit_string<E>(self, v: String) -> Result<JsonValue, E> {
        Ok(JsonValue::Str(v))
    }

    fn visit_unit<E>(self) -> Result<JsonValue, E> {
        Ok(JsonValue::Null)
    }

    fn visit_none<E>(self) -> Result<JsonValue, E> {
        Ok(JsonValue::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<JsonValue, A::Error> {
        let mut items = Vec::new();
        while let Some(v) = seq.next_element()? {
            items.push(v);
        }
        Ok(JsonValue::Arr(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<JsonValue, A::Error> {
        let mut pairs: Vec<(String, JsonValue)> = Vec::new();
        let mut seen: HashSet<String> = HashSet::new();
        while let Some(key) = map.next_key::<String>()? {
            // Keys are compared after JSON unescaping (`"\u0061"` equals `"a"`).
            if !seen.insert(key.clone()) {
                return Err(de::Error::custom("duplicate key"));
            }
            let value = map.next_value()?;
            pairs.push((key, value));
        }
        Ok(JsonValue::Obj(pairs))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_key_order() {
        let v = read(br#"{"b":1,"a":"x","c":[true,null]}"#).unwrap();
        let JsonValue::Obj(pairs) = v else { panic!() };
        let keys: Vec<_> = pairs.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(keys, ["b", "a", "c"]);
    }

    #[test]
    fn refuses_duplicates_at_any_depth_and_after_unescaping() {
        for body in [
            r#"{"a":1,"a":2}"#,
            r#"{"x":{"y":[{"k":1,"k":{}}]}}"#,
            r#"{"a":1,"\u0061":2}"#,
        ] {
            assert_eq!(
                read(body.as_bytes()),
                Err(SoapError::Parse("duplicate key in JSON object".into())),
                "{body}"
            );
        }
    }

    #[test]
    fn refuses_non_standard_json() {
        for body in [
            "{ 'a':'b'}",
            "{foo:\"bar\"}",
            "{\"a\"=\"b\"}",
            "{\"a\"=>\"b\"}",
            "{\"a\":\"b\";\"c\":\"d\"}",
            "{\"a\":\"\\x25\"}",
            "\u{feff}{}",
            "{} {}",
            "{\"a\":1,}",
            "{\"a\":\"\\ud800\"}",
            "",
        ] {
            assert!(
                matches!(read(body.as_bytes()), Err(SoapError::Parse(_))),
                "{body:?}"
            );
        }
    }

    #[test]
    fn numbers_keep_their_text_form() {
        let v = read(b"[1,-2,1.5,18446744073709551615]").unwrap();
        let JsonValue::Arr(items) = v else { panic!() };
        let s: Vec<String> = items
            .iter()
            .map(|v| match v {
                JsonValue::Num(n) => n.to_string(),
                _ => panic!(),
            })
            .collect();
        assert_eq!(s, ["1", "-2", "1.5", "18446744073709551615"]);
    }
}
