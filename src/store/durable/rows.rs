//! Stored rows as plain values, the same for both backends (`store copy`).

/// One `user_security` row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserRow {
    pub user: String,
    pub contact_email: Option<String>,
    pub otp_channel: Option<String>,
    /// Sealed (its AAD names the user, not the backend: it opens after a copy).
    pub totp_secret: Option<Vec<u8>>,
    pub last_totp_step: Option<i64>,
    pub updated_at: i64,
}

impl UserRow {
    /// Same settings (the modification time aside).
    pub fn same_data(&self, other: &UserRow) -> bool {
        self.user == other.user
            && self.contact_email == other.contact_email
            && self.otp_channel == other.otp_channel
            && self.totp_secret == other.totp_secret
            && self.last_totp_step == other.last_totp_step
    }
}

/// One `recovery_code` row (a keyed hash).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct CodeRow {
    pub user: String,
    pub code_hash: Vec<u8>,
}

/// One `store_meta` row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetaRow {
    pub name: String,
    pub value: Vec<u8>,
}

/// One `psc_overrides` row: a Pro Santé Connect identifier linked to an account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PscOverrideRow {
    pub identifier: String,
    pub account: String,
    pub updated_at: i64,
}

/// Every row of a store.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    pub users: Vec<UserRow>,
    pub codes: Vec<CodeRow>,
    pub meta: Vec<MetaRow>,
    pub psc_overrides: Vec<PscOverrideRow>,
}
