//! What `inspect` answers, and what it needs from the caller.

use crate::soap::{Element, Fault};
use bytes::Bytes;

/// The policy's answer for one SOAP envelope.
#[derive(Debug, Clone)]
pub enum Decision {
    /// Forward the request unchanged.
    Allow,
    /// Forward this body instead (the whole Body child, `BatchRequest` included).
    Rewrite(Element),
    /// Answer with this fault (HTTP 500, or the whole batch refused).
    Deny(Fault),
    /// The decision needs these uploads (`aid`s): call `inspect_with` with an `Uploads`
    /// that can produce them. An upload that cannot be produced is refused then.
    NeedsUploads(Vec<String>),
    /// The decision needs these stored items, read through the store with the
    /// session's token (`ItemRef::read_request`): call `inspect_full` with a
    /// `StoredItems` that holds the answers. An item that cannot be read is refused.
    NeedsItems(Vec<super::stored::ItemRef>),
}

/// Who is sending. Built by the caller from the session (never from the request).
#[derive(Debug, Clone, Default)]
pub struct UserContext {
    /// Account name (`prenom.nom@domaine`).
    pub account: String,
    /// The user's MSSanté address (see `sender::mssante_address`).
    pub mssante_address: String,
    /// Identity ids the user may name in `idnt` (include the account id: Zimbra's
    /// default identity has the account's id).
    pub identity_ids: Vec<String>,
    /// Other addresses owned by the account (aliases).
    pub aliases: Vec<String>,
}

impl UserContext {
    /// Is `addr` (a bare address) one of the user's own addresses?
    pub fn is_own(&self, addr: &str) -> bool {
        let a = addr.trim();
        a.eq_ignore_ascii_case(&self.mssante_address)
            || a.eq_ignore_ascii_case(&self.account)
            || self.aliases.iter().any(|x| a.eq_ignore_ascii_case(x))
    }
}

/// An upload held by the proxy (`/service/upload` answer), looked up by `aid`.
#[derive(Debug, Clone)]
pub struct UploadInfo {
    pub size: u64,
    /// The bytes, when the proxy kept them (needed for `m@aid`, a whole uploaded MIME).
    pub content: Option<Bytes>,
}

/// Access to the uploads of the current user.
pub trait Uploads {
    fn get(&self, aid: &str) -> Option<UploadInfo>;
    /// False for `NoUploads`: a missing upload is then asked for, not refused.
    fn available(&self) -> bool {
        true
    }
}

/// No upload access: `inspect` answers `NeedsUploads` when one is referenced.
pub struct NoUploads;

impl Uploads for NoUploads {
    fn get(&self, _aid: &str) -> Option<UploadInfo> {
        None
    }
    fn available(&self) -> bool {
        false
    }
}

impl<F: Fn(&str) -> Option<UploadInfo>> Uploads for F {
    fn get(&self, aid: &str) -> Option<UploadInfo> {
        self(aid)
    }
}
