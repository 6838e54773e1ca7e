//! What rules accumulate while reading one request, and how it becomes a fault.

use super::config::PolicyConfig;
use super::decision::{Uploads, UserContext};
use super::stored::{ItemRef, StoredItems};
use super::trust::TrustSpace;
use crate::soap::Fault;

/// Everything a rule may read.
pub(crate) struct Ctx<'a> {
    pub trust: &'a TrustSpace,
    pub user: &'a UserContext,
    pub cfg: &'a PolicyConfig,
    pub uploads: &'a dyn Uploads,
    pub stored: &'a dyn StoredItems,
}

/// Findings for one request.
#[derive(Debug, Default)]
pub(crate) struct Check {
    /// Addresses outside the trust space.
    pub addrs: Vec<String>,
    /// Other reasons (French, shown to the user).
    pub reasons: Vec<String>,
    /// Uploads the caller must provide.
    pub needs: Vec<String>,
    /// Stored items the caller must read through the store.
    pub items: Vec<ItemRef>,
    /// A send (fault `mail.SEND_ABORTED_ADDRESS_FAILURE`) rather than a setting.
    pub send: bool,
}

impl Check {
    /// Checks one raw address-list value against the trust space.
    pub fn addr(&mut self, ctx: &Ctx, raw: &str) {
        for a in ctx.trust.refused_in(raw) {
            if !self.addrs.contains(&a) {
                self.addrs.push(a);
            }
        }
    }

    pub fn deny(&mut self, reason: impl Into<String>) {
        let r = reason.into();
        if !self.reasons.contains(&r) {
            self.reasons.push(r);
        }
    }

    pub fn denied(&self) -> bool {
        !self.addrs.is_empty() || !self.reasons.is_empty()
    }

    /// The French sentence naming what was refused.
    pub fn reason_text(&self) -> String {
        let mut parts = Vec::new();
        match self.addrs.len() {
            0 => {}
            1 => parts.push(format!(
                "Adresse hors de l'espace de confiance MSSanté : {}",
                self.addrs[0]
            )),
            _ => parts.push(format!(
                "Adresses hors de l'espace de confiance MSSanté : {}",
                self.addrs.join(", ")
            )),
        }
        parts.extend(self.reasons.iter().cloned());
        parts.join(" ; ")
    }

    /// The fault for this request (`prefix` is prepended, e.g. for a batch).
    pub fn fault(&self, prefix: &str) -> Fault {
        let code = if self.send && !self.addrs.is_empty() {
            "mail.SEND_ABORTED_ADDRESS_FAILURE"
        } else {
            "service.PERM_DENIED"
        };
        let mut f = Fault::new(code, format!("{prefix}{}", self.reason_text()));
        for a in &self.addrs {
            f = f.with_arg("invalid", "STR", a.clone());
        }
        f
    }
}
