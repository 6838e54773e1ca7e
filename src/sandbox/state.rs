//! The in-memory state shared by every connection of one sandbox server.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use parking_lot::Mutex;
use serde::Serialize;

use super::data::{
    AccountData, AdminData, DomainAlias, DomainData, PasswordHash, SandboxData, ServerSettings,
};
use super::mailbox::Mailbox;
use super::token::TokenSigner;

/// A message that would have left the store (recipients outside the sandbox).
#[derive(Debug, Clone, Serialize)]
pub struct OutboxEntry {
    pub id: u64,
    /// The account that sent it.
    pub account: String,
    /// What made it leave (`SendMsgRequest`, `SaveDraftRequest autoSendTime`…).
    pub via: String,
    pub from: String,
    pub sender: Option<String>,
    pub reply_to: Vec<String>,
    /// Every envelope recipient (To, Cc, Bcc), local ones included.
    pub recipients: Vec<String>,
    /// The recipients outside the sandbox (those that "left").
    pub external: Vec<String>,
    pub subject: String,
    pub identity: Option<String>,
    /// Top-level MIME headers as built.
    pub headers: Vec<(String, String)>,
    pub attachments: Vec<OutboxAttachment>,
    pub size: usize,
    pub time_ms: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct OutboxAttachment {
    pub filename: String,
    pub content_type: String,
    pub size: usize,
}

/// A file kept by the upload servlet until a request consumes its `aid`.
#[derive(Debug, Clone)]
pub struct Upload {
    pub owner: String,
    pub filename: String,
    pub content_type: String,
    pub data: Vec<u8>,
}

/// Everything that changes, behind one lock (a sandbox needs no finer locking).
pub struct Store {
    /// Mailboxes by account id.
    pub mailboxes: HashMap<String, Mailbox>,
    /// Current password hashes by account (or admin) id.
    pub passwords: HashMap<String, PasswordHash>,
    /// Tokens ended by EndSession / ChangePassword.
    pub revoked: HashSet<String>,
    pub uploads: HashMap<String, Upload>,
    pub outbox: Vec<OutboxEntry>,
    /// SendMsg `suid` de-duplication: (account id, suid) -> saved message id.
    pub send_uids: HashMap<(String, String), Option<u32>>,
}

/// Requests received, by surface and by SOAP request name.
#[derive(Debug, Default, Clone, Serialize)]
pub struct Stats {
    pub total: u64,
    pub surfaces: BTreeMap<String, u64>,
    pub soap_requests: BTreeMap<String, u64>,
}

/// State of one running sandbox.
pub struct SandboxState {
    pub accounts: Vec<AccountData>,
    pub domains: Vec<DomainData>,
    pub domain_aliases: Vec<DomainAlias>,
    pub admin: Option<AdminData>,
    pub settings: ServerSettings,
    pub tokens: TokenSigner,
    /// The `{serverId}` part of upload ids.
    pub server_id: String,
    pub store: Mutex<Store>,
    pub stats: Mutex<Stats>,
    pub received: AtomicU64,
    pub noop: super::noop::NoOpHub,
}

pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

impl SandboxState {
    pub fn new(data: SandboxData) -> Arc<Self> {
        let mut mailboxes = HashMap::new();
        let mut passwords = HashMap::new();
        for a in &data.accounts {
            mailboxes.insert(
                a.id.clone(),
                Mailbox::new(&a.id, &a.name, &a.display_name()),
            );
            passwords.insert(a.id.clone(), a.password.clone());
        }
        if let Some(admin) = &data.admin {
            passwords.insert(admin.id.clone(), admin.password.clone());
        }
        Arc::new(SandboxState {
            accounts: data.accounts,
            domains: data.domains,
            domain_aliases: data.domain_aliases,
            admin: data.admin,
            settings: data.settings,
            tokens: TokenSigner::random(),
            server_id: uuid::Uuid::new_v4().to_string(),
            store: Mutex::new(Store {
                mailboxes,
                passwords,
                revoked: HashSet::new(),
                uploads: HashMap::new(),
                outbox: Vec::new(),
                send_uids: HashMap::new(),
            }),
            stats: Mutex::new(Stats::default()),
            received: AtomicU64::new(0),
            noop: super::noop::NoOpHub::default(),
        })
    }

    pub fn account_by_name(&self, name: &str) -> Option<&AccountData> {
        self.accounts
            .iter()
            .find(|a| a.name.eq_ignore_ascii_case(name))
    }

    pub fn account_by_id(&self, id: &str) -> Option<&AccountData> {
        self.accounts.iter().find(|a| a.id == id)
    }

    /// `by=name|id` lookup. By name, as Zimbra's `getAccountByName`: a name without `@`
    /// gets `zimbraDefaultDomainName`; the domain goes through IDNA (`IDNUtil.toAsciiEmail`:
    /// case, full-width forms, composed and decomposed accents all map to one ASCII
    /// domain); the address may be the account's or one of its aliases; failing that, an
    /// alias domain is replaced by its target and the lookup tried again.
    pub fn find_account(&self, by: &str, value: &str) -> Option<&AccountData> {
        match by {
            "id" => self.account_by_id(value),
            "name" => {
                let address = match value.rsplit_once('@') {
                    Some((local, domain)) => {
                        format!("{local}@{}", idna::domain_to_ascii(domain).ok()?)
                    }
                    None => format!("{value}@{}", self.settings.default_domain.as_deref()?),
                };
                self.account_by_address(&address).or_else(|| {
                    let (local, domain) = address.rsplit_once('@')?;
                    let alias = self
                        .domain_aliases
                        .iter()
                        .find(|a| a.name.eq_ignore_ascii_case(domain))?;
                    self.account_by_address(&format!("{local}@{}", alias.target))
                })
            }
            _ => None,
        }
    }

    /// The account whose address or alias is `address` (LDAP compares them case-insensitively).
    fn account_by_address(&self, address: &str) -> Option<&AccountData> {
        self.accounts.iter().find(|a| {
            a.name.eq_ignore_ascii_case(address)
                || a.aliases.iter().any(|x| x.eq_ignore_ascii_case(address))
        })
    }

    pub fn domain(&self, name: &str) -> Option<&DomainData> {
        self.domains
            .iter()
            .find(|d| d.name.eq_ignore_ascii_case(name))
    }

    /// Counts one received HTTP request on `surface`.
    pub fn count(&self, surface: &str) {
        self.received.fetch_add(1, Ordering::Relaxed);
        let mut stats = self.stats.lock();
        stats.total += 1;
        *stats.surfaces.entry(surface.to_string()).or_default() += 1;
    }

    /// Counts one dispatched SOAP request element (batch children included).
    pub fn count_soap(&self, name: &str) {
        *self
            .stats
            .lock()
            .soap_requests
            .entry(name.to_string())
            .or_default() += 1;
    }

    pub fn reset_stats(&self) {
        *self.stats.lock() = Stats::default();
        self.received.store(0, Ordering::Relaxed);
    }

    pub fn outbox(&self) -> Vec<OutboxEntry> {
        self.store.lock().outbox.clone()
    }
}
