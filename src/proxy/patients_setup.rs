//! "Échanges Patients" (M5) at a user's first session: the folder under Inbox and the
//! filter rule filing mail from patient addresses into it, created through the store
//! with the session's token. Idempotent (`fie="1"`, the rule list is read first), run
//! in the background once per user per hour by each gateway instance, so the first
//! page load is not delayed and a failure is retried later.

use super::store_call;
use super::upstream::Upstream;
use crate::audit::AuditEvent;
use crate::auth::secret::UpstreamToken;
use crate::policy::patients;
use crate::soap::{Element, Envelope, Fault, Format, NS_MAIL};
use http::HeaderMap;
use moka::future::Cache;
use std::net::IpAddr;
use std::time::Duration;

/// Users already set up recently (or being set up) on this instance.
#[derive(Clone)]
pub struct PatientsSetup {
    done: Cache<String, ()>,
}

impl Default for PatientsSetup {
    fn default() -> Self {
        PatientsSetup {
            done: Cache::builder()
                .max_capacity(100_000)
                .time_to_live(Duration::from_secs(3600))
                .build(),
        }
    }
}

impl PatientsSetup {
    /// Starts the set-up for `user` unless it ran recently.
    pub async fn ensure_in_background(
        &self,
        upstream: &Upstream,
        user: &str,
        token: &UpstreamToken,
        client_ip: IpAddr,
    ) {
        // Every request asks: the common answer must not allocate.
        if self.done.contains_key(user) {
            return;
        }
        let entry = self.done.entry(user.to_string()).or_insert(()).await;
        if !entry.is_fresh() {
            return;
        }
        let (done, upstream, user, token) = (
            self.done.clone(),
            upstream.clone(),
            user.to_string(),
            token.clone(),
        );
        tokio::spawn(async move {
            match ensure(&upstream, &token, client_ip).await {
                Ok(changed) => {
                    if changed {
                        AuditEvent::new("patients_folder.created")
                            .user(&user)
                            .emit();
                    }
                }
                Err(f) => {
                    tracing::warn!(code = %f.code, "Échanges Patients set-up failed; retried at next session");
                    done.invalidate(&user).await;
                }
            }
        });
    }
}

async fn call(
    upstream: &Upstream,
    token: &UpstreamToken,
    ip: IpAddr,
    body: Element,
) -> Result<Element, Fault> {
    let env = Envelope {
        format: Format::Json,
        context: None,
        body,
    };
    store_call::send(upstream, env, Some(token), &HeaderMap::new(), ip).await
}

/// Creates what is missing; true when something was created.
pub async fn ensure(upstream: &Upstream, token: &UpstreamToken, ip: IpAddr) -> Result<bool, Fault> {
    let folders = call(
        upstream,
        token,
        ip,
        Element::new(NS_MAIL, "GetFolderRequest").with_child(
            Element::new(NS_MAIL, "folder")
                .unique()
                .with_attr("l", patients::INBOX_ID),
        ),
    )
    .await?;
    let mut changed = false;
    if !patients::folder_exists(&folders) {
        call(upstream, token, ip, patients::create_folder_request()).await?;
        changed = true;
    }
    let rules = call(
        upstream,
        token,
        ip,
        Element::new(NS_MAIL, "GetFilterRulesRequest"),
    )
    .await?;
    if let Some(modify) = patients::modify_filter_rules_request(&rules) {
        call(upstream, token, ip, modify).await?;
        changed = true;
    }
    Ok(changed)
}
