//! What happens to a composed message: copies to sandbox recipients (through their
//! incoming filters), a record in the outbox for every other recipient, a Sent copy.

use crate::soap::Fault;

use super::call::fault;
use super::compose::Composed;
use super::data::AccountData;
use super::filters::{self, Decision};
use super::mailbox::{Folder, Mailbox, Message, INBOX, ROOT, SENT};
use super::mime;
use super::state::{now_ms, OutboxEntry, SandboxState, Store};

/// Stores a message in `mb` and returns its id.
pub fn store_message(
    mb: &mut Mailbox,
    c: &Composed,
    folder: u32,
    flags: &str,
    unread: bool,
) -> u32 {
    let id = mb.alloc_id();
    let fragment: String = mime::text_body(&c.raw).chars().take(100).collect();
    mb.messages.insert(
        id,
        Message {
            id,
            folder,
            date: now_ms(),
            subject: c.subject.clone(),
            addresses: c.addresses.clone(),
            raw: c.raw.clone(),
            fragment,
            unread,
            flags: flags.to_string(),
            tags: Vec::new(),
            message_id: c.message_id.clone(),
            auto_send_time: None,
        },
    );
    id
}

/// Folder id for a `fileinto` path, created under the root when missing (as Sieve does).
fn folder_for(mb: &mut Mailbox, path: &str) -> u32 {
    if let Some(id) = mb.folder_by_path(path) {
        return id;
    }
    let id = mb.alloc_id();
    let name = path
        .trim_matches('/')
        .rsplit('/')
        .next()
        .unwrap_or(path)
        .to_string();
    mb.folders.insert(
        id,
        Folder {
            id,
            name,
            parent: ROOT,
            view: "message".into(),
            color: None,
            url: None,
            grants: Vec::new(),
            retention: None,
        },
    );
    id
}

/// Sends `c` from `account`: local delivery, outbox record, Sent copy unless `no_save`.
/// Returns the id of the Sent copy. The caller holds the store lock.
pub fn send(
    state: &SandboxState,
    store: &mut Store,
    account: &AccountData,
    c: &Composed,
    via: &str,
    identity: Option<String>,
    no_save: bool,
) -> Result<Option<u32>, Fault> {
    let recipients = c.recipients();
    if recipients.is_empty() {
        return Err(fault(
            "mail.SEND_ABORTED_ADDRESS_FAILURE",
            "Invalid address: . No recipient addresses",
        ));
    }
    let sender_mb = store
        .mailboxes
        .get(&account.id)
        .ok_or_else(|| Fault::perm_denied("no mailbox"))?;
    if sender_mb.used() + c.raw.len() as u64 > state.settings.mail_quota && !no_save {
        return Err(fault(
            "mail.QUOTA_EXCEEDED",
            format!("mailbox exceeded quota: {}", state.settings.mail_quota),
        ));
    }
    let filter_headers: Vec<(String, String)> = c
        .headers
        .iter()
        .map(|(k, v)| (k.to_ascii_lowercase(), v.clone()))
        .collect();
    let mut external = Vec::new();
    for rcpt in &recipients {
        let Some(target) = state.account_by_name(rcpt) else {
            external.push(rcpt.clone());
            continue;
        };
        let Some(mb) = store.mailboxes.get_mut(&target.id) else {
            continue;
        };
        match filters::apply(mb.filter_rules.as_ref(), &filter_headers) {
            Decision::Discard => {}
            Decision::Deliver(path) => {
                let folder = path.map(|p| folder_for(mb, &p)).unwrap_or(INBOX);
                store_message(mb, c, folder, "u", true);
                state.noop.wake(&target.id);
            }
        }
    }
    if !external.is_empty() {
        let id = store.outbox.len() as u64 + 1;
        store.outbox.push(OutboxEntry {
            id,
            account: account.name.clone(),
            via: via.to_string(),
            from: c.from.clone(),
            sender: c.sender.clone(),
            reply_to: c.reply_to.clone(),
            recipients: recipients.clone(),
            external,
            subject: c.subject.clone(),
            identity,
            headers: c.headers.clone(),
            attachments: c.attachments.clone(),
            size: c.raw.len(),
            time_ms: now_ms(),
        });
    }
    let mb = store
        .mailboxes
        .get_mut(&account.id)
        .ok_or_else(|| Fault::perm_denied("no mailbox"))?;
    for r in &recipients {
        *mb.ranking.entry(r.to_ascii_lowercase()).or_default() += 1;
    }
    let saved = (!no_save).then(|| store_message(mb, c, SENT, "s", false));
    for aid in &c.consumed {
        store.uploads.remove(aid);
    }
    Ok(saved)
}

/// Sends every draft whose `autoSendTime` has come (`AutoSendDraftTask`).
pub fn send_due_drafts(state: &SandboxState) {
    let now = now_ms();
    let mut store = state.store.lock();
    let due: Vec<(String, u32)> = store
        .mailboxes
        .iter()
        .flat_map(|(acct, mb)| {
            mb.messages
                .values()
                .filter(|m| m.auto_send_time.is_some_and(|t| t <= now))
                .map(|m| (acct.clone(), m.id))
                .collect::<Vec<_>>()
        })
        .collect();
    for (acct, id) in due {
        let Some(account) = state.account_by_id(&acct) else {
            continue;
        };
        let Some(raw) = store
            .mailboxes
            .get_mut(&acct)
            .and_then(|mb| mb.messages.remove(&id))
            .map(|m| m.raw)
        else {
            continue;
        };
        let c = super::compose::from_raw(raw);
        // A draft that cannot be sent is dropped, as the server task gives up too.
        let _ = send(
            state,
            &mut store,
            account,
            &c,
            "SaveDraftRequest autoSendTime",
            None,
            false,
        );
    }
}
