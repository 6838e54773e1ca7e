//! CreateTag / GetTag / TagAction (zimbra-api.md §7.2).

use crate::soap::{Element, Fault, NS_MAIL};

use super::call::{fault, required, required_child, Call};
use super::mailbox::{Mailbox, Tag};

fn tag_element(mb: &Mailbox, t: &Tag) -> Element {
    let tagged: Vec<_> = mb
        .messages
        .values()
        .filter(|m| m.tags.contains(&t.id))
        .collect();
    let mut el = Element::new(NS_MAIL, "tag")
        .with_attr("id", t.id.to_string())
        .with_attr("name", t.name.clone());
    if let Some(c) = &t.color {
        el = el.with_attr("color", c.clone());
    }
    let unread = tagged.iter().filter(|m| m.unread).count();
    if unread > 0 {
        el = el.with_num("u", unread);
    }
    if !tagged.is_empty() {
        el = el.with_num("n", tagged.len());
    }
    if let Some(r) = &t.retention {
        el = el.with_child(r.clone());
    }
    el
}

pub(super) fn check_name(name: &str) -> Result<(), Fault> {
    if name.is_empty() || name.starts_with('\\') || name.len() > 128 {
        return Err(fault("mail.INVALID_NAME", format!("invalid name: {name}")));
    }
    Ok(())
}

pub fn create_tag(call: &mut Call<'_>, req: &Element) -> Result<Element, Fault> {
    let account = call.account()?;
    let spec = required_child(req, "tag")?;
    let name = required(spec, "name")?;
    check_name(name)?;
    let mut store = call.state.store.lock();
    let mb = store
        .mailboxes
        .get_mut(&account.id)
        .ok_or_else(|| Fault::perm_denied("no mailbox"))?;
    if mb.tags.values().any(|t| t.name.eq_ignore_ascii_case(name)) {
        return Err(fault(
            "mail.ALREADY_EXISTS",
            format!("object with that name already exists: {name}"),
        ));
    }
    let id = mb.next_tag;
    mb.next_tag += 1;
    let color = spec.attr("color").or(spec.attr("rgb")).map(str::to_string);
    mb.tags.insert(
        id,
        Tag {
            id,
            name: name.to_string(),
            color,
            retention: None,
        },
    );
    let el = tag_element(mb, &mb.tags[&id]);
    Ok(Element::new(NS_MAIL, "CreateTagResponse").with_child(el))
}

pub fn get_tag(call: &mut Call<'_>, _req: &Element) -> Result<Element, Fault> {
    let account = call.account()?;
    let store = call.state.store.lock();
    let mb = &store.mailboxes[&account.id];
    Ok(Element::new(NS_MAIL, "GetTagResponse")
        .with_children(mb.tags.values().map(|t| tag_element(mb, t))))
}

pub fn tag_action(call: &mut Call<'_>, req: &Element) -> Result<Element, Fault> {
    let account = call.account()?;
    let action = required_child(req, "action")?;
    let op = required(action, "op")?.to_string();
    let mut store = call.state.store.lock();
    let mb = store
        .mailboxes
        .get_mut(&account.id)
        .ok_or_else(|| Fault::perm_denied("no mailbox"))?;
    let ids: Vec<u32> = if let Some(list) = action.attr("id") {
        list.split(',')
            .map(|s| {
                s.trim()
                    .parse::<u32>()
                    .ok()
                    .filter(|id| mb.tags.contains_key(id))
                    .ok_or_else(|| fault("mail.NO_SUCH_TAG", format!("no such tag: {s}")))
            })
            .collect::<Result<_, _>>()?
    } else if let Some(names) = action.attr("tn") {
        names
            .split(',')
            .map(|n| {
                mb.tags
                    .values()
                    .find(|t| t.name == n.trim())
                    .map(|t| t.id)
                    .ok_or_else(|| fault("mail.NO_SUCH_TAG", format!("no such tag: {n}")))
            })
            .collect::<Result<_, _>>()?
    } else {
        return Err(super::call::missing("id"));
    };
    for id in &ids {
        match op.as_str() {
            "rename" => {
                let name = required(action, "name")?;
                check_name(name)?;
                mb.tags.get_mut(id).expect("checked").name = name.to_string();
            }
            "color" => {
                mb.tags.get_mut(id).expect("checked").color = action
                    .attr("color")
                    .or(action.attr("rgb"))
                    .map(str::to_string)
            }
            "delete" => {
                mb.tags.remove(id);
                mb.messages
                    .values_mut()
                    .for_each(|m| m.tags.retain(|t| t != id));
            }
            "read" => mb
                .messages
                .values_mut()
                .filter(|m| m.tags.contains(id))
                .for_each(|m| m.unread = false),
            "retentionpolicy" => {
                mb.tags.get_mut(id).expect("checked").retention =
                    Some(required_child(action, "retentionPolicy")?.clone())
            }
            "update" => {
                let t = mb.tags.get_mut(id).expect("checked");
                if let Some(n) = action.attr("name") {
                    t.name = n.to_string();
                }
                if let Some(c) = action.attr("color") {
                    t.color = Some(c.to_string());
                }
            }
            other => {
                return Err(Fault::invalid_request(&format!(
                    "unknown operation: {other}"
                )))
            }
        }
    }
    let list = ids.iter().map(u32::to_string).collect::<Vec<_>>().join(",");
    Ok(Element::new(NS_MAIL, "TagActionResponse").with_child(
        Element::new(NS_MAIL, "action")
            .with_attr("id", list)
            .with_attr("op", op),
    ))
}
