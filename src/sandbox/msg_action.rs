//! MsgActionRequest (`soap.txt` ItemAction; `MsgAction.java`, `ItemAction.java`): the
//! webmail's everyday actions on messages — read/!read, flag/!flag, tag/!tag, move,
//! trash, spam/!spam, copy, update, delete.
//!
//! `<action id="257,258" op="read" [l=] [tn=|tag=] [f=] [t=] [tcon=]/>` →
//! `<MsgActionResponse><action id="{ids acted on}" op="{op as sent}"/>`. Every id is
//! checked before anything changes (a missing one is `mail.NO_SUCH_MSG`), except for
//! `delete`, which ignores ids that are already gone, as Zimbra does.

use crate::soap::{Element, Fault, NS_MAIL};

use super::call::{fault, required, required_child, Call};
use super::folders::no_such_folder;
use super::mailbox::{Mailbox, Tag, DRAFTS, INBOX, JUNK, ROOT, SENT, TRASH};

/// Flags the server owns (attachment, sent by me, draft): `update f=` keeps them.
const SYSTEM_FLAGS: &[char] = &['a', 's', 'd'];

fn no_such_msg(id: u32) -> Fault {
    fault("mail.NO_SUCH_MSG", format!("no such message: {id}"))
}

/// One item id, optionally `{account-id}:{id}`: this account only (nobody holds rights on
/// another mailbox in the sandbox).
fn local_id(own_account: &str, raw: &str) -> Result<u32, Fault> {
    let local = match raw.rsplit_once(':') {
        Some((acct, id)) if acct == own_account => id,
        Some(_) => return Err(Fault::perm_denied("can not access account")),
        None => raw,
    };
    local
        .parse::<u32>()
        .map_err(|_| Fault::invalid_request(&format!("malformed item ID: {raw}")))
}

/// `id="257,258"`; duplicates are acted on once.
fn parse_ids(own_account: &str, list: &str) -> Result<Vec<u32>, Fault> {
    let mut ids = Vec::new();
    for raw in list.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let id = local_id(own_account, raw)?;
        if !ids.contains(&id) {
            ids.push(id);
        }
    }
    Ok(ids)
}

/// `tcon`: which folders the action may touch — `t` trash, `j` junk, `s` sent,
/// `d` drafts, `o` any other; a leading `-` inverts the list.
struct TargetConstraint {
    negated: bool,
    kinds: String,
}

impl TargetConstraint {
    fn parse(tcon: Option<&str>) -> Result<Option<Self>, Fault> {
        let Some(t) = tcon.filter(|t| !t.is_empty()) else {
            return Ok(None);
        };
        let (negated, kinds) = match t.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, t),
        };
        if kinds.is_empty() || !kinds.chars().all(|c| "tjsdo".contains(c)) {
            return Err(Fault::invalid_request(&format!(
                "invalid target constraint: {t}"
            )));
        }
        Ok(Some(TargetConstraint {
            negated,
            kinds: kinds.to_string(),
        }))
    }

    fn allows(&self, mb: &Mailbox, folder: u32) -> bool {
        let kind = if mb.subtree(TRASH).contains(&folder) {
            't'
        } else {
            match folder {
                JUNK => 'j',
                SENT => 's',
                DRAFTS => 'd',
                _ => 'o',
            }
        };
        self.kinds.contains(kind) != self.negated
    }
}

/// A folder of this mailbox messages can be put in (`mail.CANNOT_CONTAIN` otherwise, as
/// for the root).
fn target_folder(mb: &Mailbox, own_account: &str, l: &str) -> Result<u32, Fault> {
    let id = match local_id(own_account, l.trim()) {
        Ok(id) if mb.folders.contains_key(&id) => id,
        Err(f) if f.code == "service.PERM_DENIED" => return Err(f),
        _ => return Err(no_such_folder(l)),
    };
    let view = mb.folders[&id].view.as_str();
    if id == ROOT || !matches!(view, "message" | "conversation") {
        return Err(fault(
            "mail.CANNOT_CONTAIN",
            "cannot put object in that folder",
        ));
    }
    Ok(id)
}

/// The tag named `name`, created when missing if `create` (Zimbra tags by name on demand).
fn tag_named(mb: &mut Mailbox, name: &str, create: bool) -> Result<Option<u32>, Fault> {
    if let Some(t) = mb.tags.values().find(|t| t.name.eq_ignore_ascii_case(name)) {
        return Ok(Some(t.id));
    }
    if !create {
        return Ok(None);
    }
    super::tags::check_name(name)?;
    let id = mb.next_tag;
    mb.next_tag += 1;
    mb.tags.insert(
        id,
        Tag {
            id,
            name: name.to_string(),
            color: None,
            retention: None,
        },
    );
    Ok(Some(id))
}

fn tag_by_id(mb: &Mailbox, id: &str) -> Result<u32, Fault> {
    id.trim()
        .parse::<u32>()
        .ok()
        .filter(|t| mb.tags.contains_key(t))
        .ok_or_else(|| fault("mail.NO_SUCH_TAG", format!("no such tag: {id}")))
}

/// The tag an action names: `tn` (name) or `tag` (id).
fn action_tag(mb: &mut Mailbox, action: &Element, create: bool) -> Result<Option<u32>, Fault> {
    if let Some(name) = action.attr("tn") {
        return tag_named(mb, name.trim(), create);
    }
    match action.attr("tag") {
        Some(id) => tag_by_id(mb, id).map(Some),
        None => Err(super::call::missing("tn")),
    }
}

/// `update t=` / `tn=`: the full tag list of the items (None: leave tags alone).
fn update_tags(mb: &mut Mailbox, action: &Element) -> Result<Option<Vec<u32>>, Fault> {
    if let Some(names) = action.attr("tn") {
        let mut out = Vec::new();
        for n in names.split(',').map(str::trim).filter(|n| !n.is_empty()) {
            out.extend(tag_named(mb, n, true)?);
        }
        return Ok(Some(out));
    }
    match action.attr("t") {
        Some(ids) => ids
            .split(',')
            .filter(|s| !s.trim().is_empty())
            .map(|s| tag_by_id(mb, s))
            .collect::<Result<Vec<_>, _>>()
            .map(Some),
        None => Ok(None),
    }
}

fn set_flag(flags: &mut String, flag: char, on: bool) {
    flags.retain(|c| c != flag);
    if on {
        flags.push(flag);
    }
}

pub fn msg_action(call: &mut Call<'_>, req: &Element) -> Result<Element, Fault> {
    let account = call.account()?;
    let action = required_child(req, "action")?;
    let op_sent = required(action, "op")?.to_lowercase();
    let (on, op) = match op_sent.strip_prefix('!') {
        Some(op) => (false, op),
        None => (true, op_sent.as_str()),
    };
    if !matches!(
        op,
        "read"
            | "flag"
            | "priority"
            | "tag"
            | "move"
            | "trash"
            | "spam"
            | "copy"
            | "update"
            | "delete"
    ) {
        return Err(Fault::invalid_request(&format!("unknown operation: {op}")));
    }
    let ids = parse_ids(&account.id, required(action, "id")?)?;
    let tcon = TargetConstraint::parse(action.attr("tcon"))?;
    let mut store = call.state.store.lock();
    let mb = store
        .mailboxes
        .get_mut(&account.id)
        .ok_or_else(|| Fault::perm_denied("no mailbox"))?;

    // Which items the action touches: all must exist (delete skips the missing ones),
    // the target constraint silently leaves some out.
    let mut targets = Vec::new();
    for &id in &ids {
        match mb.messages.get(&id) {
            None if op == "delete" => {}
            None => return Err(no_such_msg(id)),
            Some(m) if tcon.as_ref().is_some_and(|t| !t.allows(mb, m.folder)) => {}
            Some(_) => targets.push(id),
        }
    }

    // Everything that can fail is resolved before the first change.
    let folder = match op {
        "move" | "copy" => Some(target_folder(mb, &account.id, required(action, "l")?)?),
        "trash" => Some(TRASH),
        "spam" => Some(match action.attr("l") {
            Some(l) => target_folder(mb, &account.id, l)?,
            None if on => JUNK,
            None => INBOX,
        }),
        "update" => action
            .attr("l")
            .map(|l| target_folder(mb, &account.id, l))
            .transpose()?,
        _ => None,
    };
    let tag = match op {
        "tag" => action_tag(mb, action, on)?,
        _ => None,
    };
    let new_tags = match op {
        "update" => update_tags(mb, action)?,
        _ => None,
    };

    for &id in &targets {
        if op == "delete" {
            mb.messages.remove(&id);
            continue;
        }
        if op == "copy" {
            let mut copy = mb.messages[&id].clone();
            copy.id = mb.alloc_id();
            copy.folder = folder.expect("copy has a folder");
            mb.messages.insert(copy.id, copy);
            continue;
        }
        let m = mb.messages.get_mut(&id).expect("checked above");
        match op {
            "read" => m.unread = !on,
            "flag" => set_flag(&mut m.flags, 'f', on),
            "priority" => set_flag(&mut m.flags, '!', on),
            "tag" => {
                if let Some(t) = tag {
                    m.tags.retain(|x| *x != t);
                    if on {
                        m.tags.push(t);
                    }
                }
            }
            "update" => {
                if let Some(f) = action.attr("f") {
                    m.unread = f.contains('u');
                    let kept: String = m
                        .flags
                        .chars()
                        .filter(|c| SYSTEM_FLAGS.contains(c))
                        .collect();
                    let given = f.chars().filter(|c| *c != 'u' && !SYSTEM_FLAGS.contains(c));
                    m.flags = kept.chars().chain(given).collect();
                }
                if let Some(t) = &new_tags {
                    m.tags = t.clone();
                }
            }
            _ => {}
        }
        if let Some(l) = folder {
            m.folder = l;
        }
    }

    let done = targets
        .iter()
        .map(u32::to_string)
        .collect::<Vec<_>>()
        .join(",");
    Ok(Element::new(NS_MAIL, "MsgActionResponse").with_child(
        Element::new(NS_MAIL, "action")
            .unique()
            .with_attr("id", done)
            .with_attr("op", op_sent.clone()),
    ))
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::sandbox::data::{SandboxData, FIXTURE_PASSWORD};
    use crate::sandbox::state::SandboxState;
    use crate::soap::{Format, NS_ACCOUNT};

    const ME: &str = "antoine.lefevre@esantepdl.mssante.fr";

    async fn run(st: &SandboxState, token: &str, req: Element) -> Result<Element, Fault> {
        let mut call = Call {
            state: st,
            format: Format::Soap12,
            admin_port: false,
            context: None,
            token: (!token.is_empty()).then(|| token.to_string()),
            csrf_header: None,
            host: "sandbox.test".into(),
            set_cookies: Vec::new(),
            headers: Vec::new(),
        };
        super::super::dispatch::dispatch(&mut call, &req).await
    }

    /// A sandbox, a token for ME and the ids of two messages ME sent to itself (Inbox).
    async fn setup() -> (Arc<SandboxState>, String, String, Vec<u32>) {
        let st = SandboxState::new(SandboxData::load(None).expect("fixture"));
        let auth = Element::new(NS_ACCOUNT, "AuthRequest")
            .with_child(
                Element::new(NS_ACCOUNT, "account")
                    .with_attr("by", "name")
                    .with_text(ME),
            )
            .with_child(Element::new(NS_ACCOUNT, "password").with_text(FIXTURE_PASSWORD));
        let token = run(&st, "", auth)
            .await
            .unwrap()
            .child("authToken")
            .unwrap()
            .text()
            .to_string();
        for subject in ["un", "deux"] {
            let m = Element::new(NS_MAIL, "m")
                .with_child(
                    Element::new(NS_MAIL, "e")
                        .with_attr("t", "t")
                        .with_attr("a", ME),
                )
                .with_child(Element::new(NS_MAIL, "su").with_text(subject))
                .with_child(
                    Element::new(NS_MAIL, "mp")
                        .with_attr("ct", "text/plain")
                        .with_child(Element::new(NS_MAIL, "content").with_text("corps")),
                );
            let send = Element::new(NS_MAIL, "SendMsgRequest").with_child(m);
            run(&st, &token, send).await.unwrap();
        }
        let account = st.account_by_name(ME).unwrap().id.clone();
        let inbox = st.store.lock().mailboxes[&account]
            .messages
            .values()
            .filter(|m| m.folder == INBOX)
            .map(|m| m.id)
            .collect();
        (st, token, account, inbox)
    }

    fn act(op: &str, ids: &str, extra: &[(&str, &str)]) -> Element {
        let mut a = Element::new(NS_MAIL, "action")
            .with_attr("op", op)
            .with_attr("id", ids);
        for (k, v) in extra {
            a = a.with_attr(*k, *v);
        }
        Element::new(NS_MAIL, "MsgActionRequest").with_child(a)
    }

    fn with_msg<T>(
        st: &SandboxState,
        account: &str,
        id: u32,
        f: impl Fn(&super::super::mailbox::Message) -> T,
    ) -> T {
        f(&st.store.lock().mailboxes[account].messages[&id])
    }

    #[tokio::test]
    async fn read_flag_and_tag_answer_the_ids_and_op() {
        let (st, token, account, ids) = setup().await;
        let both = format!("{},{}", ids[0], ids[1]);
        assert!(with_msg(&st, &account, ids[0], |m| m.unread));
        let r = run(&st, &token, act("read", &both, &[])).await.unwrap();
        let a = r.child("action").unwrap();
        assert_eq!(
            (a.attr("id"), a.attr("op")),
            (Some(both.as_str()), Some("read"))
        );
        assert!(!with_msg(&st, &account, ids[1], |m| m.unread));
        run(&st, &token, act("!read", &both, &[])).await.unwrap();
        assert!(with_msg(&st, &account, ids[1], |m| m.unread));

        run(&st, &token, act("flag", &both, &[])).await.unwrap();
        assert!(with_msg(&st, &account, ids[0], |m| m.flags.contains('f')));
        let r = run(&st, &token, act("!flag", &ids[0].to_string(), &[]))
            .await
            .unwrap();
        assert_eq!(r.child("action").unwrap().attr("op"), Some("!flag"));
        assert!(!with_msg(&st, &account, ids[0], |m| m.flags.contains('f')));
        assert!(with_msg(&st, &account, ids[1], |m| m.flags.contains('f')));

        // Tagging by a new name creates the tag; !tag removes it.
        run(&st, &token, act("tag", &both, &[("tn", "Urgent")]))
            .await
            .unwrap();
        let tag = st.store.lock().mailboxes[&account]
            .tags
            .values()
            .find(|t| t.name == "Urgent")
            .map(|t| t.id)
            .expect("tag created");
        assert!(with_msg(&st, &account, ids[1], |m| m.tags == vec![tag]));
        run(
            &st,
            &token,
            act("!tag", &ids[1].to_string(), &[("tag", &tag.to_string())]),
        )
        .await
        .unwrap();
        assert!(with_msg(&st, &account, ids[1], |m| m.tags.is_empty()));
        assert!(with_msg(&st, &account, ids[0], |m| m.tags == vec![tag]));
        let e = run(&st, &token, act("tag", &both, &[("tag", "999")]))
            .await
            .unwrap_err();
        assert_eq!(e.code, "mail.NO_SUCH_TAG");
        let e = run(&st, &token, act("tag", &both, &[])).await.unwrap_err();
        assert_eq!(e.code, "service.INVALID_REQUEST");
    }

    #[tokio::test]
    async fn move_trash_spam_copy_and_delete() {
        let (st, token, account, ids) = setup().await;
        let one = ids[0].to_string();
        let folder = |id| with_msg(&st, &account, id, |m| m.folder);
        run(&st, &token, act("move", &one, &[("l", "6")]))
            .await
            .unwrap();
        assert_eq!(folder(ids[0]), DRAFTS);
        for (l, code) in [
            ("1", "mail.CANNOT_CONTAIN"),
            ("7", "mail.CANNOT_CONTAIN"),
            ("999", "mail.NO_SUCH_FOLDER"),
        ] {
            let e = run(&st, &token, act("move", &one, &[("l", l)]))
                .await
                .unwrap_err();
            assert_eq!(e.code, code, "l={l}");
        }
        run(&st, &token, act("trash", &one, &[])).await.unwrap();
        assert_eq!(folder(ids[0]), TRASH);
        run(&st, &token, act("spam", &one, &[])).await.unwrap();
        assert_eq!(folder(ids[0]), JUNK);
        run(&st, &token, act("!spam", &one, &[])).await.unwrap();
        assert_eq!(folder(ids[0]), INBOX);

        let before = st.store.lock().mailboxes[&account].messages.len();
        run(&st, &token, act("copy", &one, &[("l", "3")]))
            .await
            .unwrap();
        let copies: Vec<u32> = st.store.lock().mailboxes[&account]
            .messages
            .values()
            .filter(|m| m.folder == TRASH)
            .map(|m| m.id)
            .collect();
        assert_eq!(copies.len(), 1);
        assert_ne!(copies[0], ids[0]);
        assert_eq!(
            st.store.lock().mailboxes[&account].messages.len(),
            before + 1
        );

        // delete ignores ids already gone and answers only what it deleted.
        let r = run(&st, &token, act("delete", &format!("{},4242", ids[0]), &[]))
            .await
            .unwrap();
        assert_eq!(r.child("action").unwrap().attr("id"), Some(one.as_str()));
        assert!(!st.store.lock().mailboxes[&account]
            .messages
            .contains_key(&ids[0]));
    }

    #[tokio::test]
    async fn all_or_nothing_and_refusals() {
        let (st, token, account, ids) = setup().await;
        // One missing id: nothing is read.
        let e = run(&st, &token, act("read", &format!("{},4242", ids[0]), &[]))
            .await
            .unwrap_err();
        assert_eq!(
            (e.code.as_str(), e.reason.as_str()),
            ("mail.NO_SUCH_MSG", "no such message: 4242")
        );
        assert!(with_msg(&st, &account, ids[0], |m| m.unread));
        let e = run(&st, &token, act("read", "abc", &[])).await.unwrap_err();
        assert_eq!(e.code, "service.INVALID_REQUEST");
        let other = st
            .account_by_name("adele.alexandre@esantepdl.mssante.fr")
            .unwrap()
            .id
            .clone();
        let e = run(
            &st,
            &token,
            act("read", &format!("{other}:{}", ids[0]), &[]),
        )
        .await
        .unwrap_err();
        assert_eq!(e.code, "service.PERM_DENIED");
        let elsewhere = format!("{other}:2");
        let e = run(
            &st,
            &token,
            act("move", &ids[0].to_string(), &[("l", &elsewhere)]),
        )
        .await
        .unwrap_err();
        assert_eq!(e.code, "service.PERM_DENIED");
        run(
            &st,
            &token,
            act("read", &format!("{account}:{}", ids[0]), &[]),
        )
        .await
        .unwrap();
        assert!(!with_msg(&st, &account, ids[0], |m| m.unread));
        let e = run(&st, &token, act("explode", &ids[0].to_string(), &[]))
            .await
            .unwrap_err();
        assert_eq!(e.reason, "invalid request: unknown operation: explode");
        let e = run(&st, "", act("read", &ids[0].to_string(), &[]))
            .await
            .unwrap_err();
        assert_eq!(e.code, "service.AUTH_REQUIRED");
    }

    #[tokio::test]
    async fn target_constraint_and_update() {
        let (st, token, account, ids) = setup().await;
        run(&st, &token, act("trash", &ids[0].to_string(), &[]))
            .await
            .unwrap();
        let both = format!("{},{}", ids[0], ids[1]);
        // "-t": items in the trash are left alone and not reported.
        let r = run(&st, &token, act("flag", &both, &[("tcon", "-t")]))
            .await
            .unwrap();
        assert_eq!(
            r.child("action").unwrap().attr("id"),
            Some(ids[1].to_string().as_str())
        );
        assert!(!with_msg(&st, &account, ids[0], |m| m.flags.contains('f')));
        let e = run(&st, &token, act("flag", &both, &[("tcon", "-x")]))
            .await
            .unwrap_err();
        assert_eq!(e.code, "service.INVALID_REQUEST");

        // update: user flags replaced, system ones kept, tags by name, folder.
        st.store
            .lock()
            .mailboxes
            .get_mut(&account)
            .unwrap()
            .messages
            .get_mut(&ids[1])
            .unwrap()
            .flags = "sf".into();
        run(
            &st,
            &token,
            act(
                "update",
                &ids[1].to_string(),
                &[("f", "u!"), ("tn", "a,b"), ("l", "2")],
            ),
        )
        .await
        .unwrap();
        let (flags, unread, tags) = with_msg(&st, &account, ids[1], |m| {
            (m.flags.clone(), m.unread, m.tags.len())
        });
        assert_eq!((flags.as_str(), unread, tags), ("s!", true, 2));
    }
}
