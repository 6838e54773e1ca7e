//! Opening the chosen mailbox: the store session by domain preauth (no password),
//! then the account name the store reports (aliases resolved: sessions are keyed on
//! the canonical account), checked against the annuaire's address.

use super::error::PscError;
use super::mapping::Mailbox;
use super::preauth;
use super::PscService;
use crate::auth::secret::UpstreamToken;
use crate::auth::upstream::UpstreamError;
use crate::policy::sender::mssante_address;

impl PscService {
    /// Opens `mb` at the store; returns (canonical account, store token).
    pub async fn open_mailbox(&self, mb: &Mailbox) -> Result<(String, UpstreamToken), PscError> {
        let domain =
            mb.account.rsplit_once('@').map(|(_, d)| d).ok_or_else(|| {
                PscError::MailStore(format!("{:?} is not an account", mb.account))
            })?;
        let key = self
            .cfg
            .preauth_key_for(domain)
            .ok_or_else(|| PscError::MailStore(format!("no preauth key for domain {domain}")))?;
        let body = preauth::auth_request_body(key.expose(), &mb.account, self.now_ms());
        let auth = self
            .upstream
            .auth_by_preauth(body)
            .await
            .map_err(|e| match e {
                UpstreamError::AuthFailed => {
                    PscError::MailStore(format!("preauth refused for {}", mb.account))
                }
                other => PscError::MailStore(other.to_string()),
            })?;
        let canonical = match self.upstream.account_of(&auth.token).await {
            Ok(account) => account.name.trim().to_ascii_lowercase(),
            Err(e) => {
                let _ = self.upstream.end_session(&auth.token).await;
                return Err(PscError::MailStore(e.to_string()));
            }
        };
        // The store may resolve an alias to another account: the mailbox opened must be
        // the one whose MSSanté address the annuaire lists for this person.
        if let Some(addr) = &mb.address {
            let carries = mssante_address(&canonical, &self.policy)
                .is_ok_and(|a| a.eq_ignore_ascii_case(addr));
            if !carries {
                let _ = self.upstream.end_session(&auth.token).await;
                return Err(PscError::MailStore(format!(
                    "account {canonical} does not carry the annuaire address {addr}"
                )));
            }
        }
        Ok((canonical, auth.token))
    }
}
