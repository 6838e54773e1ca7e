//! Create/Modify/Delete/GetIdentities (zimbra-api.md §7.6): `<identity name= id=>`
//! with `<a name="k">v</a>` (JSON `_attrs`).

use indexmap::IndexMap;

use crate::soap::{Element, Fault, NS_ACCOUNT};

use super::call::{required_child, Call};
use super::mailbox::Identity;

/// Identity-class attributes (`LdapProvisioning.validateIdentityAttrs`).
const IDENTITY_ATTRS: &[&str] = &[
    "zimbraPrefIdentityName",
    "zimbraPrefIdentityId",
    "zimbraPrefFromAddress",
    "zimbraPrefFromDisplay",
    "zimbraPrefFromAddressType",
    "zimbraPrefReplyToAddress",
    "zimbraPrefReplyToDisplay",
    "zimbraPrefReplyToEnabled",
    "zimbraPrefBccAddress",
    "zimbraPrefWhenSentToAddresses",
    "zimbraPrefWhenSentToEnabled",
    "zimbraPrefWhenInFoldersEnabled",
    "zimbraPrefWhenInFolderIds",
    "zimbraPrefSentMailFolder",
    "zimbraPrefMailSignature",
    "zimbraPrefMailSignatureStyle",
    "zimbraPrefMailSignatureEnabled",
    "zimbraPrefDefaultSignatureId",
    "zimbraPrefForwardReplySignatureId",
    "zimbraPrefForwardReplyFormat",
    "zimbraPrefForwardReplyPrefixChar",
    "zimbraPrefForwardIncludeOriginalText",
    "zimbraPrefReplyIncludeOriginalText",
    "zimbraPrefSaveToSent",
    "zimbraPrefUseDefaultIdentitySettings",
];

pub fn to_element(i: &Identity) -> Element {
    Element::new(NS_ACCOUNT, "identity")
        .with_attr("name", i.name.clone())
        .with_attr("id", i.id.clone())
        .with_kv(
            "a",
            "name",
            i.attrs.iter().map(|(k, v)| (k.clone(), v.clone())),
        )
}

fn checked_attrs(el: &Element) -> Result<Vec<(String, String)>, Fault> {
    let pairs = el.key_values("a", "name");
    for (k, _) in &pairs {
        if !IDENTITY_ATTRS.contains(&k.as_str()) {
            return Err(Fault::new(
                "account.INVALID_ATTR_NAME",
                format!("invalid attr name: {k}"),
            ));
        }
    }
    Ok(pairs)
}

fn no_such(what: &str) -> Fault {
    Fault::new(
        "account.NO_SUCH_IDENTITY",
        format!("no such identity: {what}"),
    )
}

pub fn get(call: &mut Call<'_>, _req: &Element) -> Result<Element, Fault> {
    let account = call.account()?;
    let store = call.state.store.lock();
    let ids = store.mailboxes[&account.id]
        .identities
        .iter()
        .map(to_element);
    Ok(Element::new(NS_ACCOUNT, "GetIdentitiesResponse").with_children(ids))
}

pub fn create(call: &mut Call<'_>, req: &Element) -> Result<Element, Fault> {
    let account = call.account()?;
    let spec = required_child(req, "identity")?;
    let name = spec
        .attr("name")
        .ok_or_else(|| super::call::missing("name"))?
        .to_string();
    let pairs = checked_attrs(spec)?;
    let mut store = call.state.store.lock();
    let mb = store
        .mailboxes
        .get_mut(&account.id)
        .ok_or_else(|| Fault::perm_denied("no mailbox"))?;
    if mb
        .identities
        .iter()
        .any(|i| i.name.eq_ignore_ascii_case(&name))
    {
        return Err(Fault::new(
            "account.IDENTITY_EXISTS",
            format!("identity already exists: {name}"),
        ));
    }
    let id = uuid::Uuid::new_v4().to_string();
    let mut attrs: IndexMap<String, String> = pairs.into_iter().collect();
    attrs.insert("zimbraPrefIdentityName".into(), name.clone());
    attrs.insert("zimbraPrefIdentityId".into(), id.clone());
    let identity = Identity { id, name, attrs };
    let el = to_element(&identity);
    mb.identities.push(identity);
    Ok(Element::new(NS_ACCOUNT, "CreateIdentityResponse").with_child(el))
}

pub fn modify(call: &mut Call<'_>, req: &Element) -> Result<Element, Fault> {
    let account = call.account()?;
    let spec = required_child(req, "identity")?;
    let pairs = checked_attrs(spec)?;
    let mut store = call.state.store.lock();
    let mb = store
        .mailboxes
        .get_mut(&account.id)
        .ok_or_else(|| Fault::perm_denied("no mailbox"))?;
    let found = find(&mut mb.identities, spec)?;
    for (k, v) in pairs {
        if k != "zimbraPrefIdentityId" {
            found.attrs.insert(k, v);
        }
    }
    if let Some(n) = found.attrs.get("zimbraPrefIdentityName") {
        found.name = n.clone();
    }
    Ok(Element::new(NS_ACCOUNT, "ModifyIdentityResponse"))
}

fn find<'m>(list: &'m mut [Identity], spec: &Element) -> Result<&'m mut Identity, Fault> {
    if let Some(id) = spec.attr("id") {
        return list
            .iter_mut()
            .find(|i| i.id == id)
            .ok_or_else(|| no_such(id));
    }
    let name = spec
        .attr("name")
        .ok_or_else(|| super::call::missing("id"))?;
    list.iter_mut()
        .find(|i| i.name.eq_ignore_ascii_case(name))
        .ok_or_else(|| no_such(name))
}

pub fn delete(call: &mut Call<'_>, req: &Element) -> Result<Element, Fault> {
    let account = call.account()?;
    let spec = required_child(req, "identity")?;
    let mut store = call.state.store.lock();
    let mb = store
        .mailboxes
        .get_mut(&account.id)
        .ok_or_else(|| Fault::perm_denied("no mailbox"))?;
    let id = find(&mut mb.identities, spec)?.id.clone();
    if id == account.id {
        return Err(Fault::invalid_request("cannot delete the default identity"));
    }
    mb.identities.retain(|i| i.id != id);
    Ok(Element::new(NS_ACCOUNT, "DeleteIdentityResponse"))
}
