//! The two login steps both front-ends (the portal's forms, Zimbra's SOAP two-factor
//! protocol) go through, so that what was typed never becomes a key:
//!
//! 1. [`Login::check_password`]: the typed name is resolved to the account it
//!    designates (`identity`), regulated on that account (`regulation`), checked by the
//!    store under that name, then the account the store's token acts as (name and id)
//!    becomes the key of everything that follows — rows an earlier version kept under
//!    another spelling are adopted first, and the durable row is read (an error there
//!    refuses the login: the node cannot tell whether the account has a factor);
//! 2. [`Login::check_code`]: a second-factor code for that account, regulated per
//!    account whatever the address (void, then lock and a notice by email).

use super::identity::{adopt_earlier_rows, AccountResolver, IdentityError};
use super::regulation::{CodeFailure, CodeGate, PasswordGate, Regulator};
use super::second_factor::{FactorUsed, SecondFactor};
use super::secret::{Password, UpstreamToken};
use super::upstream::{StoreAccount, UpstreamClient, UpstreamError};
use crate::audit::AuditEvent;
use crate::mail::{messages, Mailer};
use crate::store::{StoreError, UserSecurity};
use std::net::IpAddr;
use std::time::{Duration, Instant};

/// A password the store accepted, for the account it designates.
#[derive(Debug)]
pub struct PasswordOk {
    /// The canonical account (the store's name and id): the key of everything after.
    pub account: StoreAccount,
    pub token: UpstreamToken,
    /// The account's durable second-factor settings.
    pub security: UserSecurity,
    /// The account's pending-login generation now (kept in the pending login).
    pub epoch: u64,
}

/// Why a password step failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PasswordRefused {
    /// Wrong name or password, or a ban: one answer for all (no enumeration).
    BadCredentials,
    /// The account is being slowed down: try again after this long.
    Slowed(Duration),
    /// The store, the annuaire or the gateway's state cannot answer (fail closed).
    Unavailable,
}

/// The verdict on a second-factor code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CodeVerdict {
    Accepted(FactorUsed),
    Wrong,
    /// Too many wrong codes: this pending login is void, start again.
    Voided,
    /// The account's second factor is locked for a while.
    Locked,
}

/// Everything the login steps need (cheap to clone).
#[derive(Debug, Clone)]
pub struct Login {
    pub resolver: AccountResolver,
    pub upstream: UpstreamClient,
    pub regulator: Regulator,
    pub factor: SecondFactor,
    pub mailer: Option<Mailer>,
    pub operator: String,
    /// `auth.regulation.otp_lock_secs`, for the notice.
    pub otp_lock_secs: u64,
}

impl Login {
    /// Step 1. Failures already waited the uniform minimum time.
    pub async fn check_password(
        &self,
        typed: &str,
        password: &Password,
        ip: IpAddr,
    ) -> Result<PasswordOk, PasswordRefused> {
        let started = Instant::now();
        let refuse = |why: PasswordRefused| async move {
            if why != PasswordRefused::Unavailable {
                self.regulator.uniform_delay(started).await;
            }
            why
        };
        let name = match self.resolver.resolve(typed).await {
            Ok(n) => n,
            Err(IdentityError::Invalid) => {
                return Err(refuse(PasswordRefused::BadCredentials).await)
            }
            Err(e @ IdentityError::Unavailable(_)) => {
                tracing::warn!(error = %e, "login: account resolution failed");
                return Err(PasswordRefused::Unavailable);
            }
        };
        match self.regulator.begin_password(&name.key, ip).await {
            Ok(PasswordGate::Open) => {}
            Ok(PasswordGate::Banned) => {
                AuditEvent::new("login.refused_banned")
                    .user(&name.key)
                    .client_ip(ip)
                    .emit();
                return Err(refuse(PasswordRefused::BadCredentials).await);
            }
            Ok(PasswordGate::Slowed(d)) => return Err(refuse(PasswordRefused::Slowed(d)).await),
            Err(e) => {
                tracing::error!(error = %e, "regulation store error");
                return Err(PasswordRefused::Unavailable);
            }
        }
        let token = match self.upstream.auth_by_password(&name.key, password).await {
            Ok(a) => a.token,
            Err(UpstreamError::AuthFailed) => {
                if let Err(e) = self.regulator.password_failed(&name.key, ip).await {
                    tracing::error!(error = %e, "regulation store error");
                }
                return Err(refuse(PasswordRefused::BadCredentials).await);
            }
            Err(e) => {
                tracing::warn!(error = %e, "upstream login failed");
                return Err(PasswordRefused::Unavailable);
            }
        };
        let unavailable = |what: &str, e: &dyn std::fmt::Display| {
            tracing::error!(error = %e, "login: {what}");
            PasswordRefused::Unavailable
        };
        if let Err(e) = self.regulator.password_succeeded(&name.key, ip).await {
            return Err(unavailable("regulation store error", &e));
        }
        let account = match self.resolver.confirm(&name, &token).await {
            Ok(a) => a,
            Err(e) => {
                let _ = self.upstream.end_session(&token).await;
                return Err(unavailable(
                    "the store did not say which account logged in",
                    &e,
                ));
            }
        };
        let durable = &self.factor.durable;
        if let Err(e) = adopt_earlier_rows(durable, &name, &account.name).await {
            return Err(unavailable("durable store error", &e));
        }
        let security = match durable.get(&account.name).await {
            Ok(s) => s,
            Err(e) => return Err(unavailable("durable store error", &e)),
        };
        let epoch = match self.regulator.code_epoch(&account.name).await {
            Ok(e) => e,
            Err(e) => return Err(unavailable("regulation store error", &e)),
        };
        Ok(PasswordOk {
            account,
            token,
            security,
            epoch,
        })
    }

    /// Whether `account` may set up a second factor with its password alone: only when
    /// the node is sure it has none (a read error refuses). Asked again right before
    /// a set-up is stored, so two concurrent set-ups cannot both win.
    pub async fn may_enrol_with_password(&self, account: &str) -> Result<bool, StoreError> {
        Ok(self
            .factor
            .durable
            .get(account)
            .await?
            .otp_channel
            .is_none())
    }

    /// Step 2: `code` for `account`, from a pending login made at `epoch`.
    pub async fn check_code(
        &self,
        account: &str,
        code: &str,
        epoch: u64,
        ip: IpAddr,
    ) -> Result<CodeVerdict, StoreError> {
        match self.regulator.code_gate(account, epoch).await? {
            CodeGate::Open => {}
            CodeGate::Voided => return Ok(CodeVerdict::Voided),
            CodeGate::Locked => {
                AuditEvent::new("otp.refused_locked")
                    .user(account)
                    .client_ip(ip)
                    .emit();
                return Ok(CodeVerdict::Locked);
            }
        }
        let now = self.regulator.now_ms() / 1000;
        if let Some(used) = self.factor.verify(account, code, now).await? {
            self.regulator.login_completed(account, ip).await?;
            return Ok(CodeVerdict::Accepted(used));
        }
        Ok(match self.regulator.code_failed(account, ip).await? {
            CodeFailure::Counted => CodeVerdict::Wrong,
            CodeFailure::Voided => CodeVerdict::Voided,
            CodeFailure::LockedNow => {
                self.notify_locked(account).await;
                CodeVerdict::Locked
            }
        })
    }

    /// A set-up finished with a code (first connection): the login is complete.
    pub async fn enrolment_completed(&self, account: &str, ip: IpAddr) -> Result<(), StoreError> {
        self.regulator.login_completed(account, ip).await
    }

    /// Tells the user their second factor was locked (sent in the background).
    async fn notify_locked(&self, account: &str) {
        let Some(mailer) = self.mailer.clone() else {
            return;
        };
        let to = match self.factor.durable.get(account).await {
            Ok(s) => s.contact_email,
            Err(e) => {
                tracing::warn!(error = %e, "lock notice: contact address unknown");
                None
            }
        };
        let Some(to) = to else { return };
        let n = messages::second_factor_locked(&self.operator, self.otp_lock_secs);
        tokio::spawn(async move {
            if let Err(e) = mailer.send(&to, &n).await {
                tracing::warn!(error = %e, "lock notice not sent");
            }
        });
    }
}
