//! One account's mutable store: folders, tags, messages, prefs, identities,
//! signatures and filter rules.

use std::collections::BTreeMap;

use indexmap::IndexMap;

use crate::soap::Element;

/// Zimbra system folder ids.
pub const ROOT: u32 = 1;
pub const INBOX: u32 = 2;
pub const TRASH: u32 = 3;
pub const JUNK: u32 = 4;
pub const SENT: u32 = 5;
pub const DRAFTS: u32 = 6;
pub const CONTACTS: u32 = 7;
pub const CALENDAR: u32 = 10;
/// First id handed to user items (Zimbra's `FIRST_USER_ID`).
pub const FIRST_USER_ID: u32 = 257;
/// First tag id (Zimbra's `MailItem.TAG_ID_OFFSET`).
pub const FIRST_TAG_ID: u32 = 64;

/// A folder grant as recorded from `FolderActionRequest op=grant` or `CreateFolder <acl>`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Grant {
    pub gt: String,
    pub perm: String,
    pub zid: String,
    pub d: Option<String>,
    pub expiry: Option<String>,
    pub key: Option<String>,
}

#[derive(Debug, Clone)]
pub struct Folder {
    pub id: u32,
    pub name: String,
    pub parent: u32,
    pub view: String,
    pub color: Option<String>,
    pub url: Option<String>,
    pub grants: Vec<Grant>,
    pub retention: Option<Element>,
}

#[derive(Debug, Clone)]
pub struct Tag {
    pub id: u32,
    pub name: String,
    pub color: Option<String>,
    pub retention: Option<Element>,
}

/// An address on a stored message (`<e t= a= p=/>`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Address {
    pub kind: char,
    pub addr: String,
    pub name: Option<String>,
}

#[derive(Debug, Clone)]
pub struct Message {
    pub id: u32,
    pub folder: u32,
    /// ms since the epoch.
    pub date: u64,
    pub subject: String,
    pub addresses: Vec<Address>,
    pub raw: Vec<u8>,
    pub fragment: String,
    pub unread: bool,
    pub flags: String,
    pub tags: Vec<u32>,
    pub message_id: String,
    /// SaveDraft `autoSendTime` (ms since the epoch).
    pub auto_send_time: Option<u64>,
}

#[derive(Debug, Clone)]
pub struct Identity {
    pub id: String,
    pub name: String,
    pub attrs: IndexMap<String, String>,
}

#[derive(Debug, Clone)]
pub struct Signature {
    pub id: String,
    pub name: String,
    /// (content type, value).
    pub contents: Vec<(String, String)>,
    pub cid: Option<String>,
}

#[derive(Debug, Clone)]
pub struct Mailbox {
    pub folders: BTreeMap<u32, Folder>,
    pub tags: BTreeMap<u32, Tag>,
    pub messages: BTreeMap<u32, Message>,
    pub next_id: u32,
    pub next_tag: u32,
    /// `zimbraPref*` values (multi-valued prefs keep several).
    pub prefs: IndexMap<String, Vec<String>>,
    pub identities: Vec<Identity>,
    pub signatures: Vec<Signature>,
    pub filter_rules: Option<Element>,
    pub outgoing_filter_rules: Option<Element>,
    /// Addresses this account has sent to (AutoComplete's ranking table).
    pub ranking: IndexMap<String, u32>,
    /// Appointments and tasks by item id.
    pub calendar: BTreeMap<u32, super::calendar::CalItem>,
}

fn sys_folder(id: u32, name: &str, parent: u32, view: &str) -> Folder {
    Folder {
        id,
        name: name.to_string(),
        parent,
        view: view.to_string(),
        color: None,
        url: None,
        grants: Vec::new(),
        retention: None,
    }
}

impl Mailbox {
    /// A new mailbox with Zimbra's system folders and default prefs and identity.
    pub fn new(account_id: &str, name: &str, display: &str) -> Self {
        let folders = [
            sys_folder(ROOT, "USER_ROOT", 11, "conversation"),
            sys_folder(INBOX, "Inbox", ROOT, "message"),
            sys_folder(TRASH, "Trash", ROOT, "conversation"),
            sys_folder(JUNK, "Junk", ROOT, "message"),
            sys_folder(SENT, "Sent", ROOT, "message"),
            sys_folder(DRAFTS, "Drafts", ROOT, "message"),
            sys_folder(CONTACTS, "Contacts", ROOT, "contact"),
            sys_folder(CALENDAR, "Calendar", ROOT, "appointment"),
        ]
        .into_iter()
        .map(|f| (f.id, f))
        .collect();
        let mut mb = Mailbox {
            folders,
            tags: BTreeMap::new(),
            messages: BTreeMap::new(),
            next_id: FIRST_USER_ID,
            next_tag: FIRST_TAG_ID,
            prefs: IndexMap::new(),
            identities: Vec::new(),
            signatures: Vec::new(),
            filter_rules: None,
            outgoing_filter_rules: None,
            ranking: IndexMap::new(),
            calendar: BTreeMap::new(),
        };
        for (k, v) in super::prefs::default_prefs(name, display) {
            mb.prefs.insert(k.to_string(), vec![v]);
        }
        let mut attrs = IndexMap::new();
        for (k, v) in [
            ("zimbraPrefIdentityName", "DEFAULT"),
            ("zimbraPrefIdentityId", account_id),
            ("zimbraPrefFromAddress", name),
            ("zimbraPrefFromDisplay", display),
            ("zimbraPrefReplyToEnabled", "FALSE"),
        ] {
            attrs.insert(k.to_string(), v.to_string());
        }
        mb.identities.push(Identity {
            id: account_id.to_string(),
            name: "DEFAULT".to_string(),
            attrs,
        });
        mb
    }

    pub fn alloc_id(&mut self) -> u32 {
        let id = self.next_id;
        self.next_id += 1;
        id
    }

    /// `/Inbox/Sub` style path of a folder ("/" for the root).
    pub fn path(&self, id: u32) -> String {
        let mut parts = Vec::new();
        let mut cur = id;
        while cur != ROOT {
            let Some(f) = self.folders.get(&cur) else {
                break;
            };
            parts.push(f.name.clone());
            cur = f.parent;
        }
        parts.reverse();
        format!("/{}", parts.join("/"))
    }

    /// Folder by path, case-insensitive, with or without the leading `/`.
    pub fn folder_by_path(&self, path: &str) -> Option<u32> {
        let want = format!("/{}", path.trim_matches('/'));
        if want == "/" {
            return Some(ROOT);
        }
        self.folders
            .keys()
            .find(|id| self.path(**id).eq_ignore_ascii_case(&want))
            .copied()
    }

    /// The folder and all its descendants.
    pub fn subtree(&self, id: u32) -> Vec<u32> {
        let mut out = vec![id];
        let mut i = 0;
        while i < out.len() {
            let cur = out[i];
            out.extend(
                self.folders
                    .values()
                    .filter(|f| f.parent == cur && f.id != cur)
                    .map(|f| f.id),
            );
            i += 1;
        }
        out
    }

    /// Quota used: the sum of stored message sizes.
    pub fn used(&self) -> u64 {
        self.messages.values().map(|m| m.raw.len() as u64).sum()
    }

    pub fn pref(&self, name: &str) -> Option<&str> {
        self.prefs
            .get(name)
            .and_then(|v| v.first())
            .map(String::as_str)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn system_folder_tree() {
        let mb = Mailbox::new("id", "a@b.fr", "A B");
        let ids: Vec<u32> = mb.folders.keys().copied().collect();
        assert_eq!(ids, vec![1, 2, 3, 4, 5, 6, 7, 10]);
        assert_eq!(mb.path(INBOX), "/Inbox");
        assert_eq!(mb.path(ROOT), "/");
        assert_eq!(mb.folder_by_path("inbox"), Some(INBOX));
        assert_eq!(mb.folder_by_path("/Sent"), Some(SENT));
        assert_eq!(mb.subtree(ROOT).len(), 8);
        assert_eq!(mb.identities[0].name, "DEFAULT");
    }
}
