//! GetFolder / CreateFolder / FolderAction (zimbra-api.md §7.1, §7.3, §7.4).

use crate::soap::{Element, Fault, NS_MAIL};

use super::call::{fault, required, required_child, Call};
use super::mailbox::{Folder, Grant, Mailbox, ROOT, TRASH};

const ALL_ZID: &str = "00000000-0000-0000-0000-000000000000";
const PUB_ZID: &str = "99999999-9999-9999-9999-999999999999";

pub fn no_such_folder(id: &str) -> Fault {
    fault("mail.NO_SUCH_FOLDER", format!("no such folder id: {id}"))
}

fn grant_element(g: &Grant) -> Element {
    let mut el = Element::new(NS_MAIL, "grant")
        .with_attr("gt", g.gt.clone())
        .with_attr("perm", g.perm.clone())
        .with_attr("zid", g.zid.clone());
    for (k, v) in [("d", &g.d), ("expiry", &g.expiry), ("key", &g.key)] {
        if let Some(v) = v {
            el = el.with_attr(k, v.clone());
        }
    }
    el
}

/// A folder with its subfolders (`<folder id name l absFolderPath view n u s>`).
pub fn folder_element(mb: &Mailbox, f: &Folder) -> Element {
    let msgs: Vec<_> = mb.messages.values().filter(|m| m.folder == f.id).collect();
    let mut el = Element::new(NS_MAIL, "folder")
        .with_attr("id", f.id.to_string())
        .with_attr("name", f.name.clone())
        .with_attr("l", f.parent.to_string())
        .with_attr("absFolderPath", mb.path(f.id))
        .with_attr("view", f.view.clone())
        .with_num("n", msgs.len())
        .with_num("u", msgs.iter().filter(|m| m.unread).count())
        .with_num("s", msgs.iter().map(|m| m.raw.len()).sum::<usize>());
    if let Some(c) = &f.color {
        el = el.with_attr("color", c.clone());
    }
    if let Some(u) = &f.url {
        el = el.with_attr("url", u.clone());
    }
    if !f.grants.is_empty() {
        el = el.with_child(
            Element::new(NS_MAIL, "acl")
                .unique()
                .with_children(f.grants.iter().map(grant_element)),
        );
    }
    if let Some(r) = &f.retention {
        el = el.with_child(r.clone());
    }
    let children = mb
        .folders
        .values()
        .filter(|c| c.parent == f.id && c.id != f.id);
    el.with_children(children.map(|c| folder_element(mb, c)).collect::<Vec<_>>())
}

pub fn get_folder(call: &mut Call<'_>, req: &Element) -> Result<Element, Fault> {
    let account = call.account()?;
    let store = call.state.store.lock();
    let mb = &store.mailboxes[&account.id];
    let mut id = ROOT;
    if let Some(spec) = req.child("folder") {
        if let Some(l) = spec.attr("l") {
            id = l.parse().map_err(|_| no_such_folder(l))?;
        } else if let Some(p) = spec.attr("path") {
            id = mb.folder_by_path(p).ok_or_else(|| no_such_folder(p))?;
        }
    }
    let f = mb
        .folders
        .get(&id)
        .ok_or_else(|| no_such_folder(&id.to_string()))?;
    Ok(Element::new(NS_MAIL, "GetFolderResponse").with_child(folder_element(mb, f)))
}

fn check_name(name: &str) -> Result<(), Fault> {
    let bad = name.is_empty()
        || name.len() > 255
        || name == "."
        || name == ".."
        || name
            .chars()
            .any(|c| matches!(c, ':' | '/' | '"' | '\t' | '\r' | '\n'));
    if bad {
        return Err(fault("mail.INVALID_NAME", format!("invalid name: {name}")));
    }
    Ok(())
}

/// A grant from a `<grant>` element, resolving `usr` names to ids like Zimbra
/// (an unknown `usr` name becomes a `guest` grant).
fn parse_grant(call: &Call<'_>, g: &Element) -> Result<Grant, Fault> {
    let mut gt = required(g, "gt")?.to_string();
    let perm = g.attr("perm").unwrap_or("").to_string();
    let d = g.attr("d").map(str::to_string);
    let mut zid = g.attr("zid").map(str::to_string);
    match gt.as_str() {
        "usr" | "grp" => {
            if let Some(name) = &d {
                match call.state.account_by_name(name) {
                    Some(a) => zid = Some(a.id.clone()),
                    None if zid.is_none() => {
                        gt = "guest".into();
                        zid = Some(name.clone());
                    }
                    None => {}
                }
            }
        }
        "all" => zid = Some(ALL_ZID.into()),
        "pub" => zid = Some(PUB_ZID.into()),
        "guest" => {
            let name = d.clone().unwrap_or_default();
            if !name.contains('@') {
                return Err(Fault::invalid_request("invalid guest id or password"));
            }
            zid = Some(name);
        }
        "key" => zid = d.clone(),
        "dom" | "cos" => {}
        other => {
            return Err(Fault::invalid_request(&format!(
                "unknown grantee type: {other}"
            )))
        }
    }
    let key = (gt == "key").then(|| {
        g.attr("key")
            .map(str::to_string)
            .unwrap_or_else(|| hex::encode(rand::random::<[u8; 8]>()))
    });
    Ok(Grant {
        gt,
        perm,
        zid: zid.ok_or_else(|| super::call::missing("zid"))?,
        d,
        expiry: g.attr("expiry").map(str::to_string),
        key,
    })
}

pub fn create_folder(call: &mut Call<'_>, req: &Element) -> Result<Element, Fault> {
    let account = call.account()?;
    let spec = required_child(req, "folder")?;
    let name = required(spec, "name")?;
    let grants = match spec.child("acl") {
        Some(acl) => acl
            .children_named("grant")
            .map(|g| parse_grant(call, g))
            .collect::<Result<Vec<_>, _>>()?,
        None => Vec::new(),
    };
    let fetch_if_exists = super::call::flag(spec, "fie")?;
    let mut store = call.state.store.lock();
    let mb = store
        .mailboxes
        .get_mut(&account.id)
        .ok_or_else(|| Fault::perm_denied("no mailbox"))?;
    // Without `l`, the name is the full path of the new folder.
    let (parent, leaf) = match spec.attr("l") {
        Some(l) => (
            l.parse::<u32>().map_err(|_| no_such_folder(l))?,
            name.to_string(),
        ),
        None => {
            let trimmed = name.trim_matches('/');
            match trimmed.rsplit_once('/') {
                Some((dir, leaf)) => (
                    mb.folder_by_path(dir).ok_or_else(|| no_such_folder(dir))?,
                    leaf.to_string(),
                ),
                None => (ROOT, trimmed.to_string()),
            }
        }
    };
    check_name(&leaf)?;
    if !mb.folders.contains_key(&parent) {
        return Err(no_such_folder(&parent.to_string()));
    }
    if let Some(existing) = mb
        .folders
        .values()
        .find(|f| f.parent == parent && f.name.eq_ignore_ascii_case(&leaf))
    {
        if fetch_if_exists {
            let el = folder_element(mb, existing);
            return Ok(Element::new(NS_MAIL, "CreateFolderResponse").with_child(el));
        }
        return Err(fault(
            "mail.ALREADY_EXISTS",
            format!("object with that name already exists: {leaf}"),
        ));
    }
    let id = mb.alloc_id();
    let folder = Folder {
        id,
        name: leaf,
        parent,
        view: spec.attr("view").unwrap_or("message").to_string(),
        color: spec.attr("color").map(str::to_string),
        url: spec.attr("url").map(str::to_string),
        grants,
        retention: None,
    };
    mb.folders.insert(id, folder);
    let el = folder_element(mb, &mb.folders[&id]);
    Ok(Element::new(NS_MAIL, "CreateFolderResponse").with_child(el))
}

pub fn folder_action(call: &mut Call<'_>, req: &Element) -> Result<Element, Fault> {
    let account = call.account()?;
    let action = required_child(req, "action")?;
    let op = required(action, "op")?.to_string();
    let ids_attr = required(action, "id")?.to_string();
    let grant = match (op.as_str(), action.child("grant")) {
        ("grant", Some(g)) => Some(parse_grant(call, g)?),
        ("grant", None) => return Err(Fault::invalid_request("missing required element: grant")),
        _ => None,
    };
    let mut store = call.state.store.lock();
    let mb = store
        .mailboxes
        .get_mut(&account.id)
        .ok_or_else(|| Fault::perm_denied("no mailbox"))?;
    let mut ids = Vec::new();
    for s in ids_attr.split(',') {
        let id: u32 = s
            .trim()
            .parse()
            .map_err(|_| fault("mail.INVALID_ID", format!("invalid id: {s}")))?;
        if !mb.folders.contains_key(&id) {
            return Err(no_such_folder(s));
        }
        ids.push(id);
    }
    let mut resp = Element::new(NS_MAIL, "action")
        .with_attr("id", ids_attr.clone())
        .with_attr("op", op.clone());
    for id in ids {
        let system = id < super::mailbox::FIRST_USER_ID;
        let immutable = || {
            fault(
                "mail.IMMUTABLE_OBJECT",
                format!("cannot modify immutable object: {id}"),
            )
        };
        match op.as_str() {
            "rename" => {
                let name = required(action, "name")?;
                check_name(name)?;
                if system {
                    return Err(immutable());
                }
                mb.folders.get_mut(&id).expect("checked").name = name.to_string();
            }
            "move" | "trash" => {
                let target: u32 = if op == "trash" {
                    TRASH
                } else {
                    let l = required(action, "l")?;
                    l.parse().map_err(|_| no_such_folder(l))?
                };
                if system {
                    return Err(immutable());
                }
                if !mb.folders.contains_key(&target) || mb.subtree(id).contains(&target) {
                    return Err(fault(
                        "mail.CANNOT_CONTAIN",
                        "cannot put object in that folder",
                    ));
                }
                mb.folders.get_mut(&id).expect("checked").parent = target;
            }
            "delete" => {
                if system {
                    return Err(immutable());
                }
                let tree = mb.subtree(id);
                mb.messages.retain(|_, m| !tree.contains(&m.folder));
                mb.folders.retain(|fid, _| !tree.contains(fid));
            }
            "empty" => {
                let tree = mb.subtree(id);
                mb.messages.retain(|_, m| !tree.contains(&m.folder));
                mb.folders.retain(|fid, _| {
                    *fid == id || !tree.contains(fid) || *fid < super::mailbox::FIRST_USER_ID
                });
            }
            "read" => mb
                .messages
                .values_mut()
                .filter(|m| m.folder == id)
                .for_each(|m| m.unread = false),
            "color" => {
                mb.folders.get_mut(&id).expect("checked").color =
                    action.attr("color").map(str::to_string)
            }
            "grant" => {
                let g = grant.clone().expect("parsed above");
                resp.set_attr("zid", g.zid.clone());
                if let Some(d) = &g.d {
                    resp.set_attr("d", d.clone());
                }
                if let Some(k) = &g.key {
                    resp.set_attr("key", k.clone());
                }
                let f = mb.folders.get_mut(&id).expect("checked");
                f.grants.retain(|x| x.zid != g.zid);
                f.grants.push(g);
            }
            "!grant" => {
                let zid = required(action, "zid")?;
                resp.set_attr("zid", zid.to_string());
                mb.folders
                    .get_mut(&id)
                    .expect("checked")
                    .grants
                    .retain(|g| g.zid != zid);
            }
            "retentionpolicy" => {
                let policy = required_child(action, "retentionPolicy")?;
                for p in policy.walk().into_iter().filter(|e| e.name == "policy") {
                    if p.attr("type") == Some("user") && p.attr("lifetime").unwrap_or("").is_empty()
                    {
                        return Err(Fault::invalid_request("lifetime is required"));
                    }
                }
                mb.folders.get_mut(&id).expect("checked").retention = Some(policy.clone());
            }
            "update" => {
                let f = mb.folders.get_mut(&id).expect("checked");
                if let Some(c) = action.attr("color") {
                    f.color = Some(c.to_string());
                }
                if let Some(n) = action.attr("name") {
                    f.name = n.to_string();
                }
            }
            other => {
                return Err(Fault::invalid_request(&format!(
                    "unknown operation: {other}"
                )))
            }
        }
    }
    Ok(Element::new(NS_MAIL, "FolderActionResponse").with_child(resp))
}
