//! SendMsg, SaveDraft, Search and GetMsg (zimbra-api.md §4).

use crate::soap::{Element, Fault, ValueKind, NS_MAIL};

use super::call::{fault, flag, required, required_child, Call};
use super::compose::compose;
use super::delivery::{send, store_message};
use super::mailbox::{Mailbox, Message, DRAFTS};
use super::mime;

fn no_such_msg(id: &str) -> Fault {
    fault("mail.NO_SUCH_MSG", format!("no such message: {id}"))
}

/// `<m id cid d l s f><e …/><su/><fr/></m>` as in SearchResponse.
pub fn summary(m: &Message) -> Element {
    let mut flags = m.flags.clone();
    if m.unread && !flags.contains('u') {
        flags.push('u');
    }
    if !m.unread {
        flags.retain(|c| c != 'u');
    }
    let mut el = Element::new(NS_MAIL, "m")
        .with_attr("id", m.id.to_string())
        .with_attr("cid", format!("-{}", m.id))
        .with_num("d", m.date)
        .with_attr("l", m.folder.to_string())
        .with_num("s", m.raw.len());
    if !flags.is_empty() {
        el = el.with_attr("f", flags);
    }
    if !m.tags.is_empty() {
        el = el.with_attr(
            "t",
            m.tags
                .iter()
                .map(u32::to_string)
                .collect::<Vec<_>>()
                .join(","),
        );
    }
    if let Some(t) = m.auto_send_time {
        el = el.with_num("autoSendTime", t);
    }
    for a in &m.addresses {
        let mut e = Element::new(NS_MAIL, "e")
            .with_attr("t", a.kind.to_string())
            .with_attr("a", a.addr.clone());
        if let Some(p) = &a.name {
            e = e
                .with_attr("p", p.clone())
                .with_attr("d", p.split(' ').next().unwrap_or("").to_string());
        }
        el = el.with_child(e);
    }
    el.with_content_attr("su", m.subject.clone(), ValueKind::Str)
        .with_content_attr("fr", m.fragment.clone(), ValueKind::Str)
}

fn check_identity(call: &Call<'_>, account_id: &str, idnt: Option<&str>) -> Result<(), Fault> {
    let Some(idnt) = idnt else { return Ok(()) };
    let store = call.state.store.lock();
    if idnt == account_id
        || store.mailboxes[account_id]
            .identities
            .iter()
            .any(|i| i.id == idnt)
    {
        return Ok(());
    }
    if call.state.account_by_id(idnt).is_some() {
        // Another account's id: only with sendAs / sendOnBehalfOf, which nobody has here.
        return Err(Fault::perm_denied(
            "no sendAs or sendOnBehalfOf right on that account",
        ));
    }
    Err(fault(
        "account.NO_SUCH_IDENTITY",
        format!("no such identity: {idnt}"),
    ))
}

pub fn send_msg(call: &mut Call<'_>, req: &Element) -> Result<Element, Fault> {
    let account = call.account()?;
    let m = required_child(req, "m")?;
    let no_save = flag(req, "noSave")?;
    let idnt = m.attr("idnt");
    check_identity(call, &account.id, idnt)?;
    if let Some(ds) = m.attr("dsId") {
        return Err(fault(
            "account.NO_SUCH_DATA_SOURCE",
            format!("no such data source: {ds}"),
        ));
    }
    let mut store = call.state.store.lock();
    let suid = req
        .attr("suid")
        .map(|s| (account.id.clone(), s.to_string()));
    let saved = match suid.as_ref().and_then(|k| store.send_uids.get(k)) {
        Some(done) => *done, // a retry of a send that already went out
        None => {
            let c = compose(&store, account, m, false)?;
            let saved = send(
                call.state,
                &mut store,
                account,
                &c,
                "SendMsgRequest",
                idnt.map(str::to_string),
                no_save,
            )?;
            if let Some(did) = m.attr("did").and_then(|d| d.parse::<u32>().ok()) {
                if let Some(mb) = store.mailboxes.get_mut(&account.id) {
                    mb.messages
                        .retain(|id, msg| !(*id == did && msg.folder == DRAFTS));
                }
            }
            if let Some(k) = suid {
                store.send_uids.insert(k, saved);
            }
            saved
        }
    };
    let mut out = Element::new(NS_MAIL, "m");
    if let Some(id) = saved {
        out = out.with_attr("id", id.to_string());
    }
    Ok(Element::new(NS_MAIL, "SendMsgResponse").with_child(out))
}

pub fn save_draft(call: &mut Call<'_>, req: &Element) -> Result<Element, Fault> {
    let account = call.account()?;
    let m = required_child(req, "m")?;
    let auto_send: Option<u64> = match m.attr("autoSendTime") {
        Some(t) => Some(
            t.parse()
                .map_err(|_| Fault::invalid_request("invalid autoSendTime"))?,
        )
        .filter(|t| *t > 0),
        None => None,
    };
    let mut store = call.state.store.lock();
    let c = compose(&store, account, m, true)?;
    let mb = store
        .mailboxes
        .get_mut(&account.id)
        .ok_or_else(|| Fault::perm_denied("no mailbox"))?;
    let folder = match m.attr("l") {
        Some(l) => l
            .parse::<u32>()
            .ok()
            .filter(|l| mb.folders.contains_key(l))
            .ok_or_else(|| super::folders::no_such_folder(l))?,
        None => DRAFTS,
    };
    if let Some(old) = m.attr("id") {
        let old_id = old
            .parse::<u32>()
            .ok()
            .filter(|id| mb.messages.contains_key(id))
            .ok_or_else(|| no_such_msg(old))?;
        mb.messages.remove(&old_id);
    }
    let id = store_message(mb, &c, folder, "sd", false);
    let msg = mb.messages.get_mut(&id).expect("just stored");
    msg.auto_send_time = auto_send;
    let el = summary(msg);
    for aid in &c.consumed {
        store.uploads.remove(aid);
    }
    Ok(Element::new(NS_MAIL, "SaveDraftResponse").with_child(el))
}

/// Query terms: `in:`, `inid:`, `is:`, `from:`, `to:`, `subject:`, `tag:`, words; `-`/`not` negate.
fn matches(mb: &Mailbox, m: &Message, query: &str) -> bool {
    let mut tokens = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    for ch in query.chars() {
        match ch {
            '"' => quoted = !quoted,
            c if c.is_whitespace() && !quoted => tokens.push(std::mem::take(&mut cur)),
            c => cur.push(c),
        }
    }
    tokens.push(cur);
    let mut negate = false;
    for tok in tokens.into_iter().filter(|t| !t.is_empty()) {
        if tok.eq_ignore_ascii_case("not") {
            negate = true;
            continue;
        }
        let (neg, tok) = match tok.strip_prefix('-') {
            Some(t) => (true, t.to_string()),
            None => (negate, tok),
        };
        negate = false;
        let lower = tok.to_lowercase();
        let addr_has = |kinds: &str, v: &str| {
            m.addresses.iter().any(|a| {
                kinds.contains(a.kind)
                    && (a.addr.to_lowercase().contains(v)
                        || a.name.as_deref().unwrap_or("").to_lowercase().contains(v))
            })
        };
        let hit = match lower.split_once(':') {
            Some(("in", v)) => mb.folder_by_path(v) == Some(m.folder),
            Some(("inid", v)) => v.parse::<u32>().ok() == Some(m.folder),
            Some(("is", "unread")) => m.unread,
            Some(("is", "read")) => !m.unread,
            Some(("is", _)) => true,
            Some(("from", v)) => addr_has("f", v),
            Some(("to", v)) => addr_has("tcb", v),
            Some(("subject", v)) => m.subject.to_lowercase().contains(v),
            Some(("tag", v)) => mb
                .tags
                .values()
                .any(|t| t.name.to_lowercase() == v && m.tags.contains(&t.id)),
            Some(("item", "all")) => true,
            _ => {
                m.subject.to_lowercase().contains(&lower)
                    || m.fragment.to_lowercase().contains(&lower)
                    || addr_has("ftcb", &lower)
            }
        };
        if hit == neg {
            return false;
        }
    }
    true
}

pub fn search(call: &mut Call<'_>, req: &Element) -> Result<Element, Fault> {
    let account = call.account()?;
    let query = req.attr("query").unwrap_or("in:inbox").to_string();
    let limit: usize = req
        .attr("limit")
        .and_then(|l| l.parse().ok())
        .unwrap_or(100)
        .clamp(1, 1000);
    let offset: usize = req.attr("offset").and_then(|l| l.parse().ok()).unwrap_or(0);
    let sort = req.attr("sortBy").unwrap_or("dateDesc").to_string();
    let store = call.state.store.lock();
    let mb = &store.mailboxes[&account.id];
    let mut hits: Vec<&Message> = mb
        .messages
        .values()
        .filter(|m| matches(mb, m, &query))
        .collect();
    hits.sort_by_key(|m| (m.date, m.id));
    if sort != "dateAsc" {
        hits.reverse();
    }
    let more = hits.len() > offset + limit;
    let page = hits.into_iter().skip(offset).take(limit).map(summary);
    Ok(Element::new(NS_MAIL, "SearchResponse")
        .with_attr("sortBy", sort)
        .with_num("offset", offset)
        .with_bool("more", more)
        .with_children(page.collect::<Vec<_>>()))
}

/// `<inv type="appt"><comp …/></inv>` as GetMsg shows an invitation.
fn invite_element(comp: Element) -> Element {
    Element::new(NS_MAIL, "inv")
        .with_attr("type", "appt")
        .with_child(comp)
}

pub fn get_msg(call: &mut Call<'_>, req: &Element) -> Result<Element, Fault> {
    let account = call.account()?;
    let spec = required_child(req, "m")?;
    let id_s = required(spec, "id")?;
    let raw = flag(spec, "raw")?;
    let mark_read = flag(spec, "read")?;
    let mut store = call.state.store.lock();
    let mb = store
        .mailboxes
        .get_mut(&account.id)
        .ok_or_else(|| Fault::perm_denied("no mailbox"))?;
    if id_s.contains('-') {
        // `{item}-{invite}`: the invite of a calendar item, as a message.
        let inv = super::calendar::invite(mb, id_s)?;
        let m = Element::new(NS_MAIL, "m")
            .with_attr("id", id_s.to_string())
            .with_child(invite_element(inv.comp.clone()));
        return Ok(Element::new(NS_MAIL, "GetMsgResponse").with_child(m));
    }
    let id = id_s.parse::<u32>().map_err(|_| no_such_msg(id_s))?;
    let msg = mb.messages.get_mut(&id).ok_or_else(|| no_such_msg(id_s))?;
    if mark_read {
        msg.unread = false;
    }
    let mut el = summary(msg).with_content_attr("mid", msg.message_id.clone(), ValueKind::Str);
    // `<header n="…"/>` asks for raw header values (several occurrences joined by ",").
    let (stored_headers, _) = mime::parse_headers(&msg.raw);
    for h in spec.children_named("header") {
        let Some(n) = h.attr("n") else { continue };
        let values: Vec<&str> = stored_headers
            .iter()
            .filter(|(k, _)| k.eq_ignore_ascii_case(n))
            .map(|(_, v)| v.as_str())
            .collect();
        if !values.is_empty() {
            el = el.with_child(
                Element::new(NS_MAIL, "header")
                    .with_attr("n", n.to_string())
                    .with_text(values.join(",")),
            );
        }
    }
    for comp in super::ical::components_in_message(&msg.raw) {
        el = el.with_child(invite_element(comp));
    }
    if raw {
        el = el.with_content_attr(
            "content",
            String::from_utf8_lossy(&msg.raw).to_string(),
            ValueKind::Str,
        );
    } else {
        let (headers, _) = mime::parse_headers(&msg.raw);
        let top_ct = mime::header(&headers, "Content-Type")
            .unwrap_or("text/plain")
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_string();
        let text = mime::text_body(&msg.raw);
        let mut parts = Vec::new();
        let mut body_marked = false;
        for leaf in mime::leaves(&msg.raw) {
            let mut mp = Element::new(NS_MAIL, "mp")
                .with_attr("part", leaf.part.clone())
                .with_attr("ct", leaf.content_type.clone())
                .with_num("s", leaf.body.len());
            if let Some(f) = &leaf.filename {
                mp = mp
                    .with_attr("cd", "attachment")
                    .with_attr("filename", f.clone());
            } else if leaf.content_type.starts_with("text/") && !body_marked {
                body_marked = true;
                mp = mp.with_bool("body", true).with_content_attr(
                    "content",
                    text.clone(),
                    ValueKind::Str,
                );
            }
            parts.push(mp);
        }
        let wrapped = if top_ct.starts_with("multipart/") {
            vec![Element::new(NS_MAIL, "mp")
                .with_attr("part", "TEXT")
                .with_attr("ct", top_ct)
                .with_children(parts)]
        } else {
            parts
        };
        el = el.with_children(wrapped);
    }
    Ok(Element::new(NS_MAIL, "GetMsgResponse").with_child(el))
}
