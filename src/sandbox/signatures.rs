//! Create/Modify/Delete/GetSignatures (zimbra-api.md §7.6).

use crate::soap::{Element, Fault, NS_ACCOUNT};

use super::call::{required, required_child, Call};
use super::mailbox::Signature;

/// `zimbraMailSignatureMaxLength` default.
const MAX_LEN: usize = 10240;

/// Content types in the order Zimbra lists them (`SignatureUtil.ATTR_TYPE_MAP`:
/// `zimbraPrefMailSignature` then `zimbraPrefMailSignatureHTML`), whatever the order
/// they were set in.
const TYPES: [&str; 2] = ["text/plain", "text/html"];

pub fn to_element(s: &Signature) -> Element {
    let mut el = Element::new(NS_ACCOUNT, "signature")
        .with_attr("id", s.id.clone())
        .with_attr("name", s.name.clone());
    for ct in TYPES {
        if let Some((_, v)) = s.contents.iter().find(|(t, _)| t == ct) {
            el = el.with_child(
                Element::new(NS_ACCOUNT, "content")
                    .with_attr("type", ct)
                    .with_text(v.clone()),
            );
        }
    }
    if let Some(cid) = &s.cid {
        el = el.with_child(Element::new(NS_ACCOUNT, "cid").with_text(cid.clone()));
    }
    el
}

/// `<content type=…>` children: at most one per type (`INVALID_REQUEST "only one … content
/// is allowed"`), within the length cap. An empty value means "remove this type".
fn contents(spec: &Element) -> Result<Vec<(String, String)>, Fault> {
    let mut out: Vec<(String, String)> = Vec::new();
    for c in spec.children_named("content") {
        let ct = required(c, "type")?.to_string();
        if !TYPES.contains(&ct.as_str()) {
            return Err(Fault::invalid_request(&format!("invalid type {ct}")));
        }
        if out.iter().any(|(t, _)| *t == ct) {
            return Err(Fault::invalid_request(&format!(
                "only one {ct} content is allowed"
            )));
        }
        if c.text().len() > MAX_LEN {
            return Err(Fault::new(
                "account.INVALID_ATTR_VALUE",
                "invalid attr value: signature value is too long",
            ));
        }
        out.push((ct, c.text().to_string()));
    }
    Ok(out)
}

fn exists(name: &str) -> Fault {
    Fault::new(
        "account.SIGNATURE_EXISTS",
        format!("signature already exists: {name}"),
    )
}

fn no_such(what: &str) -> Fault {
    Fault::new(
        "account.NO_SUCH_SIGNATURE",
        format!("no such signature: {what}"),
    )
}

pub fn get(call: &mut Call<'_>, _req: &Element) -> Result<Element, Fault> {
    let account = call.account()?;
    let store = call.state.store.lock();
    let sigs = store.mailboxes[&account.id]
        .signatures
        .iter()
        .map(to_element);
    Ok(Element::new(NS_ACCOUNT, "GetSignaturesResponse").with_children(sigs))
}

pub fn create(call: &mut Call<'_>, req: &Element) -> Result<Element, Fault> {
    let account = call.account()?;
    let spec = required_child(req, "signature")?;
    let name = spec
        .attr("name")
        .ok_or_else(|| super::call::missing("name"))?
        .to_string();
    let contents: Vec<_> = contents(spec)?
        .into_iter()
        .filter(|(_, v)| !v.is_empty())
        .collect();
    let mut store = call.state.store.lock();
    let mb = store
        .mailboxes
        .get_mut(&account.id)
        .ok_or_else(|| Fault::perm_denied("no mailbox"))?;
    if mb
        .signatures
        .iter()
        .any(|s| s.name.eq_ignore_ascii_case(&name))
    {
        return Err(exists(&name));
    }
    let id = spec
        .attr("id")
        .map(str::to_string)
        .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
    let sig = Signature {
        id: id.clone(),
        name: name.clone(),
        contents,
        cid: spec.attr("cid").map(str::to_string),
    };
    mb.signatures.push(sig);
    // The first signature becomes the default one.
    if mb.pref("zimbraPrefDefaultSignatureId").is_none() {
        mb.prefs
            .insert("zimbraPrefDefaultSignatureId".into(), vec![id.clone()]);
    }
    Ok(
        Element::new(NS_ACCOUNT, "CreateSignatureResponse").with_child(
            Element::new(NS_ACCOUNT, "signature")
                .with_attr("id", id)
                .with_attr("name", name),
        ),
    )
}

fn position(list: &[Signature], spec: &Element) -> Result<usize, Fault> {
    if let Some(id) = spec.attr("id") {
        return list
            .iter()
            .position(|s| s.id == id)
            .ok_or_else(|| no_such(id));
    }
    let name = spec
        .attr("name")
        .ok_or_else(|| super::call::missing("id"))?;
    list.iter()
        .position(|s| s.name.eq_ignore_ascii_case(name))
        .ok_or_else(|| no_such(name))
}

pub fn modify(call: &mut Call<'_>, req: &Element) -> Result<Element, Fault> {
    let account = call.account()?;
    let spec = required_child(req, "signature")?;
    let id = spec.attr("id").ok_or_else(|| super::call::missing("id"))?;
    let new_contents = contents(spec)?;
    let mut store = call.state.store.lock();
    let mb = store
        .mailboxes
        .get_mut(&account.id)
        .ok_or_else(|| Fault::perm_denied("no mailbox"))?;
    let i = mb
        .signatures
        .iter()
        .position(|s| s.id == id)
        .ok_or_else(|| no_such(id))?;
    if let Some(n) = spec.attr("name") {
        let taken = mb
            .signatures
            .iter()
            .enumerate()
            .any(|(j, s)| j != i && s.name.eq_ignore_ascii_case(n));
        if taken {
            return Err(exists(n));
        }
    }
    let sig = &mut mb.signatures[i];
    if let Some(n) = spec.attr("name") {
        sig.name = n.to_string();
    }
    for (ct, v) in new_contents {
        sig.contents.retain(|(t, _)| *t != ct);
        if !v.is_empty() {
            sig.contents.push((ct, v));
        }
    }
    Ok(Element::new(NS_ACCOUNT, "ModifySignatureResponse"))
}

pub fn delete(call: &mut Call<'_>, req: &Element) -> Result<Element, Fault> {
    let account = call.account()?;
    let spec = required_child(req, "signature")?;
    let mut store = call.state.store.lock();
    let mb = store
        .mailboxes
        .get_mut(&account.id)
        .ok_or_else(|| Fault::perm_denied("no mailbox"))?;
    let i = position(&mb.signatures, spec)?;
    let removed = mb.signatures.remove(i);
    if mb.pref("zimbraPrefDefaultSignatureId") == Some(removed.id.as_str()) {
        mb.prefs.shift_remove("zimbraPrefDefaultSignatureId");
    }
    Ok(Element::new(NS_ACCOUNT, "DeleteSignatureResponse"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(contents: &[(&str, &str)]) -> Element {
        let mut el = Element::new(NS_ACCOUNT, "signature").with_attr("name", "s");
        for (ct, v) in contents {
            el = el.with_child(
                Element::new(NS_ACCOUNT, "content")
                    .with_attr("type", *ct)
                    .with_text(*v),
            );
        }
        el
    }

    #[test]
    fn one_content_per_known_type() {
        let e = contents(&spec(&[("text/plain", "a"), ("text/plain", "b")])).unwrap_err();
        assert_eq!(
            e.reason,
            "invalid request: only one text/plain content is allowed"
        );
        let e = contents(&spec(&[("text/enriched", "a")])).unwrap_err();
        assert_eq!(e.reason, "invalid request: invalid type text/enriched");
        let untyped = Element::new(NS_ACCOUNT, "signature")
            .with_child(Element::new(NS_ACCOUNT, "content").with_text("x"));
        let e = contents(&untyped).unwrap_err();
        assert!(
            e.reason.contains("missing required attribute: type"),
            "{e:?}"
        );
    }

    #[test]
    fn contents_are_listed_plain_then_html() {
        let sig = Signature {
            id: "1".into(),
            name: "s".into(),
            contents: vec![
                ("text/html".into(), "<b>x</b>".into()),
                ("text/plain".into(), "x".into()),
            ],
            cid: None,
        };
        let types: Vec<_> = to_element(&sig)
            .children_named("content")
            .map(|c| c.attr("type").unwrap_or("").to_string())
            .collect();
        assert_eq!(types, ["text/plain", "text/html"]);
    }
}
