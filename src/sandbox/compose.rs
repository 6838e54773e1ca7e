//! Turns a SendMsg / SaveDraft `<m>` (inline parts, an uploaded MIME `aid`, or a stored
//! draft) into a MIME message plus the envelope facts the sandbox records.

use crate::soap::{Element, Fault};

use super::call::{fault, flag};
use super::data::AccountData;
use super::mailbox::{Address, DRAFTS};
use super::mime::{self, Part};
use super::state::{now_ms, OutboxAttachment, Store};

/// A message ready to be stored, delivered or recorded in the outbox.
#[derive(Debug, Clone)]
pub struct Composed {
    pub raw: Vec<u8>,
    pub headers: Vec<(String, String)>,
    pub from: String,
    pub sender: Option<String>,
    pub to: Vec<String>,
    pub cc: Vec<String>,
    pub bcc: Vec<String>,
    pub reply_to: Vec<String>,
    pub subject: String,
    pub addresses: Vec<Address>,
    pub message_id: String,
    pub attachments: Vec<OutboxAttachment>,
    /// Upload ids to drop once the request succeeded.
    pub consumed: Vec<String>,
}

impl Composed {
    pub fn recipients(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for a in self.to.iter().chain(&self.cc).chain(&self.bcc) {
            if !out.iter().any(|o| o.eq_ignore_ascii_case(a)) {
                out.push(a.clone());
            }
        }
        out
    }
}

fn no_upload(aid: &str) -> Fault {
    fault("mail.NO_SUCH_UPLOAD", format!("upload not found: {aid}"))
}

/// Reads back a complete MIME message (upload or stored draft).
pub fn from_raw(raw: Vec<u8>) -> Composed {
    let (headers, _) = mime::parse_headers(&raw);
    let list = |name: &str| {
        headers
            .iter()
            .filter(|(k, _)| k.eq_ignore_ascii_case(name))
            .flat_map(|(_, v)| mime::addresses(v))
            .collect::<Vec<_>>()
    };
    let (to, cc, bcc, reply_to) = (list("To"), list("Cc"), list("Bcc"), list("Reply-To"));
    let from = list("From").pop().unwrap_or_default();
    let sender = list("Sender").pop();
    let mut addresses: Vec<Address> = Vec::new();
    for (kind, v) in [
        ('f', vec![from.clone()]),
        ('t', to.clone()),
        ('c', cc.clone()),
        ('b', bcc.clone()),
        ('r', reply_to.clone()),
    ] {
        addresses.extend(v.into_iter().filter(|a| !a.is_empty()).map(|addr| Address {
            kind,
            addr,
            name: None,
        }));
    }
    let attachments = mime::leaves(&raw)
        .into_iter()
        .filter_map(|l| {
            l.filename.map(|f| OutboxAttachment {
                filename: f,
                content_type: l.content_type,
                size: l.body.len(),
            })
        })
        .collect();
    Composed {
        subject: mime::header(&headers, "Subject").unwrap_or("").to_string(),
        message_id: mime::header(&headers, "Message-ID")
            .unwrap_or("")
            .to_string(),
        headers: headers
            .into_iter()
            .filter(|(k, _)| !k.eq_ignore_ascii_case("Bcc"))
            .collect(),
        raw,
        from,
        sender,
        to,
        cc,
        bcc,
        reply_to,
        addresses,
        attachments,
        consumed: Vec::new(),
    }
}

/// The `<e t= a= p=>` children of an `<m>`, as Zimbra's `MessageAddresses` reads them.
pub fn addresses_of(m: &Element) -> Result<Vec<Address>, Fault> {
    let mut addresses: Vec<Address> = Vec::new();
    for e in m.children_named("e") {
        let t = e.attr("t").ok_or_else(|| super::call::missing("t"))?;
        let a = e.attr("a").ok_or_else(|| super::call::missing("a"))?;
        let Some(kind) = t
            .chars()
            .next()
            .filter(|k| t.len() == 1 && "ftcbrsn".contains(*k))
        else {
            continue; // unknown types are ignored
        };
        let name = e.attr("p").map(str::to_string);
        // An `a` holding a list is treated as several recipients (zimbra-api.md §4.2).
        for addr in mime::addresses(a) {
            if kind == 'f' || kind == 's' {
                addresses.retain(|x| x.kind != kind); // only the last one counts
            }
            addresses.push(Address {
                kind,
                addr,
                name: name.clone(),
            });
        }
    }
    Ok(addresses)
}

/// Body tree from `<mp ct=…><content>…</content>|<mp>…</mp></mp>`.
fn parse_mp(mp: &Element) -> Part {
    let ct = mp.attr("ct").unwrap_or("text/plain").to_ascii_lowercase();
    if ct.starts_with("multipart/") {
        return Part::Multi {
            ct,
            parts: mp.children_named("mp").map(parse_mp).collect(),
        };
    }
    Part::Text {
        ct,
        content: mp.attr("content").unwrap_or("").to_string(),
        cid: mp.attr("ci").map(|c| format!("<{c}>")),
    }
}

/// Builds the message for `account`. `keep_bcc` keeps a Bcc header (drafts).
pub fn compose(
    store: &Store,
    account: &AccountData,
    m: &Element,
    keep_bcc: bool,
) -> Result<Composed, Fault> {
    let mb = &store.mailboxes[&account.id];
    if let Some(aid) = m
        .attrs
        .iter()
        .find(|a| a.name == "aid")
        .map(|a| a.value.clone())
    {
        // The whole message was uploaded (`<m aid=…/>`).
        let up = store
            .uploads
            .get(&aid)
            .filter(|u| u.owner == account.id)
            .ok_or_else(|| no_upload(&aid))?;
        let mut c = from_raw(up.data.clone());
        c.consumed.push(aid);
        return Ok(c);
    }
    if flag(m, "sfd")? {
        let did = m.attr("did").ok_or_else(|| super::call::missing("did"))?;
        let draft = did
            .parse::<u32>()
            .ok()
            .and_then(|id| mb.messages.get(&id))
            .filter(|d| d.folder == DRAFTS);
        let draft =
            draft.ok_or_else(|| fault("mail.NO_SUCH_MSG", format!("no such message: {did}")))?;
        return Ok(from_raw(draft.raw.clone()));
    }
    if let Some(h) = m.child("header") {
        let name = h.attr("name").unwrap_or("");
        return Err(Fault::invalid_request(&format!(
            "header '{name}' not allowed"
        )));
    }
    let addresses = addresses_of(m)?;
    let subject = m.attr("su").unwrap_or("").to_string();
    let fields = Fields {
        subject: &subject,
        irt: m.attr("irt"),
        flags: m.attr("f").unwrap_or(""),
        keep_bcc,
    };
    let mut body = m.child("mp").map(parse_mp).unwrap_or(Part::Text {
        ct: "text/plain".into(),
        content: String::new(),
        cid: None,
    });
    let mut files = Vec::new();
    let mut consumed = Vec::new();
    if let Some(attach) = m.child("attach") {
        for aid in attach
            .attr("aid")
            .unwrap_or("")
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
        {
            let up = store
                .uploads
                .get(aid)
                .filter(|u| u.owner == account.id)
                .ok_or_else(|| no_upload(aid))?;
            files.push(Part::File {
                filename: up.filename.clone(),
                ct: up.content_type.clone(),
                data: up.data.clone(),
            });
            consumed.push(aid.to_string());
        }
        for am in attach.children_named("m") {
            let id = am.attr("id").unwrap_or("");
            let msg = id.parse::<u32>().ok().and_then(|i| mb.messages.get(&i));
            match msg {
                Some(msg) => files.push(Part::File {
                    filename: format!("{}.eml", msg.subject),
                    ct: "message/rfc822".into(),
                    data: msg.raw.clone(),
                }),
                None if am.attr("optional") == Some("1") => {}
                None => return Err(fault("mail.NO_SUCH_MSG", format!("no such message: {id}"))),
            }
        }
    }
    if !files.is_empty() {
        let mut parts = vec![body];
        parts.extend(files);
        body = Part::Multi {
            ct: "multipart/mixed".into(),
            parts,
        };
    }
    let mut c = build_message(account, addresses, &fields, &body);
    c.consumed = consumed;
    Ok(c)
}

/// The header fields of a message other than its addresses.
pub struct Fields<'a> {
    pub subject: &'a str,
    pub irt: Option<&'a str>,
    /// `m/@f`: `!` high, `?` low importance.
    pub flags: &'a str,
    /// Keep a Bcc header in the bytes (drafts).
    pub keep_bcc: bool,
}

/// Builds a message the way Zimbra's MIME builder does: the headers are rebuilt from
/// the given fields (From defaults to the account, a From it does not own gets
/// `Sender:` self), written as they are, then the body.
pub fn build_message(
    account: &AccountData,
    mut addresses: Vec<Address>,
    fields: &Fields<'_>,
    body: &Part,
) -> Composed {
    let of = |addresses: &[Address], k: char| {
        addresses
            .iter()
            .filter(|a| a.kind == k)
            .cloned()
            .collect::<Vec<_>>()
    };
    let fmt = |list: &[Address]| {
        list.iter()
            .map(|a| mime::format_address(a.name.as_deref(), &a.addr))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let own = Address {
        kind: 'f',
        addr: account.name.clone(),
        name: Some(account.display_name()),
    };
    let from = of(&addresses, 'f').pop().unwrap_or_else(|| own.clone());
    // A From the account does not own is kept, with Sender: self (MailSender.getSenderHeaders).
    let sender = of(&addresses, 's').pop().or_else(|| {
        (!from.addr.eq_ignore_ascii_case(&account.name)).then(|| Address {
            kind: 's',
            ..own.clone()
        })
    });
    if from.kind == 'f' && !addresses.iter().any(|a| a.kind == 'f') {
        addresses.insert(0, from.clone());
    }
    let message_id = format!("<{}@sandbox.mssante>", uuid::Uuid::new_v4());
    let mut headers = vec![("From".to_string(), fmt(std::slice::from_ref(&from)))];
    if let Some(s) = &sender {
        headers.push(("Sender".into(), fmt(std::slice::from_ref(s))));
    }
    for (k, name) in [
        ('r', "Reply-To"),
        ('t', "To"),
        ('c', "Cc"),
        ('b', "Bcc"),
        ('n', "Disposition-Notification-To"),
    ] {
        let list = of(&addresses, k);
        if !list.is_empty() && (k != 'b' || fields.keep_bcc) {
            headers.push((name.to_string(), fmt(&list)));
        }
    }
    headers.push(("Subject".into(), mime::encode_word(fields.subject)));
    headers.push(("Date".into(), mime::rfc2822_date(now_ms())));
    headers.push(("Message-ID".into(), message_id.clone()));
    if let Some(irt) = fields.irt {
        headers.push(("In-Reply-To".into(), irt.to_string()));
    }
    match fields.flags {
        f if f.contains('!') => headers.push(("Importance".into(), "high".into())),
        f if f.contains('?') => headers.push(("Importance".into(), "low".into())),
        _ => {}
    }
    let attachments = attachments_of(body);
    let raw = mime::build(&headers, body);
    headers.retain(|(k, _)| k != "Bcc");
    Composed {
        raw,
        headers,
        from: from.addr.clone(),
        sender: sender.map(|s| s.addr),
        to: of(&addresses, 't').into_iter().map(|a| a.addr).collect(),
        cc: of(&addresses, 'c').into_iter().map(|a| a.addr).collect(),
        bcc: of(&addresses, 'b').into_iter().map(|a| a.addr).collect(),
        reply_to: of(&addresses, 'r').into_iter().map(|a| a.addr).collect(),
        subject: fields.subject.to_string(),
        addresses,
        message_id,
        attachments,
        consumed: Vec::new(),
    }
}

/// The file parts of a body, for the outbox record.
fn attachments_of(body: &Part) -> Vec<OutboxAttachment> {
    match body {
        Part::File { filename, ct, data } => vec![OutboxAttachment {
            filename: filename.clone(),
            content_type: ct.clone(),
            size: data.len(),
        }],
        Part::Multi { parts, .. } => parts.iter().flat_map(attachments_of).collect(),
        Part::Text { .. } => Vec::new(),
    }
}
