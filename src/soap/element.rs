//! The one namespace-resolved tree every reader produces and every policy reads.
//!
//! Zimbra lets a scalar field be an XML attribute, a child element's text, a JSON
//! scalar, a JSON `{"_content": …}` object or an `_attrs` entry. The tree keeps what
//! was sent, and the accessors below look in every place the server would, so a
//! policy cannot be dodged by changing the encoding.

/// How a scalar is written back out (Zimbra's `Element.Disposition`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Disposition {
    /// XML attribute; JSON scalar.
    Attribute,
    /// XML child element with text; JSON scalar (e.g. `lifetime`).
    Content,
}

/// JSON type hint for a scalar when the tree is written as JSON.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValueKind {
    Str,
    Num,
    Bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attr {
    pub name: String,
    pub value: String,
    pub kind: ValueKind,
    pub disposition: Disposition,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Element {
    /// Resolved namespace URI ("" when none).
    pub ns: String,
    /// Local name.
    pub name: String,
    pub attrs: Vec<Attr>,
    pub children: Vec<Element>,
    /// Text content (XML text, JSON `_content`).
    pub text: Option<String>,
    /// Key/value pairs: JSON `_attrs` on input; on output written as `_attrs` in JSON
    /// and as `<a n="k">v</a>` children in XML (see `kv_element`).
    pub kv: Vec<(String, String)>,
    /// XML element name used for `kv` pairs when written as XML (`a`, `pref`, `attr`)
    /// and the attribute naming the key (`n`, `name`).
    pub kv_element: Option<(String, String)>,
    /// Written as a JSON array even when alone (Zimbra's non-unique elements).
    pub list: bool,
}

impl Element {
    pub fn new(ns: impl Into<String>, name: impl Into<String>) -> Self {
        Element {
            ns: ns.into(),
            name: name.into(),
            list: true,
            ..Default::default()
        }
    }

    /// Is this `{ns}name`?
    pub fn is(&self, ns: &str, name: &str) -> bool {
        self.ns == ns && self.name == name
    }

    // ---- reading -----------------------------------------------------------

    /// Zimbra's `getAttribute`: the attribute, else the text of the first child with
    /// that local name (any namespace), else a JSON `_attrs` entry.
    pub fn attr(&self, key: &str) -> Option<&str> {
        if let Some(a) = self.attrs.iter().find(|a| a.name == key) {
            return Some(&a.value);
        }
        if let Some(c) = self.child(key) {
            return Some(c.text.as_deref().unwrap_or(""));
        }
        self.kv
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// Every value a server could read for `key`, in any encoding. Policies use this
    /// so that a second spelling of the same field is seen too.
    pub fn attr_all<'a>(&'a self, key: &'a str) -> Vec<&'a str> {
        let mut out: Vec<&str> = self
            .attrs
            .iter()
            .filter(|a| a.name == key)
            .map(|a| a.value.as_str())
            .collect();
        out.extend(
            self.children_named(key)
                .map(|c| c.text.as_deref().unwrap_or("")),
        );
        out.extend(
            self.kv
                .iter()
                .filter(|(k, _)| k == key)
                .map(|(_, v)| v.as_str()),
        );
        out
    }

    /// Zimbra's `getAttributeBool`: `1|0|true|false` (case-insensitive).
    /// `Err(())` for any other value.
    #[allow(clippy::result_unit_err)]
    pub fn attr_bool(&self, key: &str) -> Result<Option<bool>, ()> {
        match self.attr(key) {
            None => Ok(None),
            Some(v) if v == "1" || v.eq_ignore_ascii_case("true") => Ok(Some(true)),
            Some(v) if v == "0" || v.eq_ignore_ascii_case("false") => Ok(Some(false)),
            Some(_) => Err(()),
        }
    }

    /// First child with this local name, any namespace (Zimbra's XML lookup).
    pub fn child(&self, name: &str) -> Option<&Element> {
        self.children.iter().find(|c| c.name == name)
    }

    pub fn child_mut(&mut self, name: &str) -> Option<&mut Element> {
        self.children.iter_mut().find(|c| c.name == name)
    }

    /// All children with this local name, any namespace.
    pub fn children_named<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Element> + 'a {
        self.children.iter().filter(move |c| c.name == name)
    }

    /// Key/value list: XML children `<{elem} {key_attr}="k">v</elem>` and JSON `_attrs`.
    /// Zimbra reads only one of the two depending on the format; the union is returned
    /// so that a policy sees a superset of what the server will apply.
    pub fn key_values(&self, elem: &str, key_attr: &str) -> Vec<(String, String)> {
        let mut out: Vec<(String, String)> = self
            .children_named(elem)
            .filter_map(|c| {
                c.attr(key_attr)
                    .map(|k| (k.to_string(), c.text.clone().unwrap_or_default()))
            })
            .collect();
        out.extend(self.kv.iter().cloned());
        out
    }

    /// Text content, "" when none.
    pub fn text(&self) -> &str {
        self.text.as_deref().unwrap_or("")
    }

    /// Depth-first walk over this element and all descendants.
    pub fn walk(&self) -> Vec<&Element> {
        let mut out = vec![self];
        let mut i = 0;
        while i < out.len() {
            let e = out[i];
            out.extend(e.children.iter());
            i += 1;
        }
        out
    }

    // ---- building ----------------------------------------------------------

    /// Adds a string attribute (XML attribute, JSON string).
    pub fn with_attr(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.set_attr(name, value);
        self
    }

    /// Adds a numeric attribute (JSON number).
    pub fn with_num(mut self, name: impl Into<String>, value: impl ToString) -> Self {
        self.attrs.push(Attr {
            name: name.into(),
            value: value.to_string(),
            kind: ValueKind::Num,
            disposition: Disposition::Attribute,
        });
        self
    }

    /// Adds a boolean attribute (XML "1"/"0" as Zimbra writes them; JSON true/false).
    pub fn with_bool(mut self, name: impl Into<String>, value: bool) -> Self {
        self.attrs.push(Attr {
            name: name.into(),
            value: if value { "1" } else { "0" }.to_string(),
            kind: ValueKind::Bool,
            disposition: Disposition::Attribute,
        });
        self
    }

    /// Adds a scalar written as a child element in XML and a plain key in JSON
    /// (Zimbra's `Disposition.CONTENT`, e.g. `<lifetime>` / `"lifetime":…`).
    pub fn with_content_attr(
        mut self,
        name: impl Into<String>,
        value: impl Into<String>,
        kind: ValueKind,
    ) -> Self {
        self.attrs.push(Attr {
            name: name.into(),
            value: value.into(),
            kind,
            disposition: Disposition::Content,
        });
        self
    }

    pub fn with_text(mut self, text: impl Into<String>) -> Self {
        self.text = Some(text.into());
        self
    }

    pub fn with_child(mut self, child: Element) -> Self {
        self.children.push(child);
        self
    }

    pub fn with_children(mut self, children: impl IntoIterator<Item = Element>) -> Self {
        self.children.extend(children);
        self
    }

    /// Written as a single JSON object rather than an array (Zimbra's unique elements).
    pub fn unique(mut self) -> Self {
        self.list = false;
        self
    }

    /// Key/value pairs written as `_attrs` in JSON and `<{elem} {key}="k">v</elem>` in XML.
    pub fn with_kv(
        mut self,
        elem: &str,
        key_attr: &str,
        pairs: impl IntoIterator<Item = (String, String)>,
    ) -> Self {
        self.kv_element = Some((elem.to_string(), key_attr.to_string()));
        self.kv.extend(pairs);
        self
    }

    /// Sets (replaces) a string attribute.
    pub fn set_attr(&mut self, name: impl Into<String>, value: impl Into<String>) {
        let name = name.into();
        let value = value.into();
        if let Some(a) = self.attrs.iter_mut().find(|a| a.name == name) {
            a.value = value;
            a.kind = ValueKind::Str;
        } else {
            self.attrs.push(Attr {
                name,
                value,
                kind: ValueKind::Str,
                disposition: Disposition::Attribute,
            });
        }
    }

    /// Removes every spelling of a field: attribute, same-named children, `_attrs` entry.
    pub fn remove_field(&mut self, key: &str) {
        self.attrs.retain(|a| a.name != key);
        self.children.retain(|c| c.name != key);
        self.kv.retain(|(k, _)| k != key);
    }
}

/// An XML 1.0 NCName (a name without `:`): every name a Zimbra client sends is
/// one, and anything else could not be written back as XML.
pub(crate) fn is_xml_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(is_name_start) && chars.all(is_name_char)
}

fn is_name_start(c: char) -> bool {
    matches!(c,
        'A'..='Z' | '_' | 'a'..='z' | '\u{C0}'..='\u{D6}' | '\u{D8}'..='\u{F6}'
        | '\u{F8}'..='\u{2FF}' | '\u{370}'..='\u{37D}' | '\u{37F}'..='\u{1FFF}'
        | '\u{200C}'..='\u{200D}' | '\u{2070}'..='\u{218F}' | '\u{2C00}'..='\u{2FEF}'
        | '\u{3001}'..='\u{D7FF}' | '\u{F900}'..='\u{FDCF}' | '\u{FDF0}'..='\u{FFFD}'
        | '\u{10000}'..='\u{EFFFF}')
}

fn is_name_char(c: char) -> bool {
    is_name_start(c)
        || matches!(c, '-' | '.' | '0'..='9' | '\u{B7}' | '\u{300}'..='\u{36F}' | '\u{203F}'..='\u{2040}')
}

/// A namespace name the readers accept: empty, or printable ASCII URI characters
/// without `&`, quotes or angle brackets. Zimbra's are all `urn:…`; anything odder
/// is where two parsers start to disagree.
pub(crate) fn is_namespace_name(ns: &str) -> bool {
    ns.bytes().all(|b| {
        b.is_ascii_graphic()
            && !matches!(
                b,
                b'&' | b'<' | b'>' | b'"' | b'\'' | b'`' | b'{' | b'}' | b'|' | b'\\' | b'^'
            )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attr_reads_attribute_child_and_kv() {
        let a = Element::new("urn:zimbraMail", "e").with_attr("a", "x@y");
        let b = Element::new("urn:zimbraMail", "e")
            .with_child(Element::new("urn:zimbraMail", "a").with_text("x@y"));
        let c = Element::new("urn:zimbraMail", "e").with_kv("a", "n", [("a".into(), "x@y".into())]);
        for e in [a, b, c] {
            assert_eq!(e.attr("a"), Some("x@y"));
        }
    }

    #[test]
    fn attr_all_sees_every_spelling() {
        let e = Element::new("", "e")
            .with_attr("a", "one@x")
            .with_child(Element::new("", "a").with_text("two@x"));
        assert_eq!(e.attr_all("a"), vec!["one@x", "two@x"]);
    }

    #[test]
    fn xml_names() {
        for ok in ["a", "_x", "SendMsgRequest", "a-b.c9", "été"] {
            assert!(is_xml_name(ok), "{ok}");
        }
        for bad in ["", "1a", "-a", "a b", "a:b", "x><y", "a\u{FFFF}", "\u{D7}"] {
            assert!(!is_xml_name(bad), "{bad:?}");
        }
    }

    #[test]
    fn bools_follow_zimbra() {
        let e = Element::new("", "m")
            .with_attr("x", "TRUE")
            .with_attr("y", "0")
            .with_attr("z", "yes");
        assert_eq!(e.attr_bool("x"), Ok(Some(true)));
        assert_eq!(e.attr_bool("y"), Ok(Some(false)));
        assert_eq!(e.attr_bool("z"), Err(()));
        assert_eq!(e.attr_bool("w"), Ok(None));
    }
}
