//! One person, one key. Every piece of second-factor and session state is keyed on the
//! account the store designates, never on what was typed:
//!
//! - before the password is checked, [`AccountResolver::resolve`] turns the typed name
//!   into the account it designates — spelling folded (`user::normalize_login`: case,
//!   Unicode compatibility forms, IDNA domain, `auth.login_domain`), then aliases, alias
//!   domains and the store's default domain resolved by the store's admin
//!   `GetAccountRequest` when `upstream.admin_url` and the admin credentials are
//!   configured, else by the annuaire — so every spelling of one account shares one set
//!   of counters and one ban, and the store is asked about that one name;
//! - after it, the account the store's token acts as (`GetInfoRequest`: name and id) is
//!   the key of the factor, the codes, the sessions ([`confirm`]).
//!
//! The portal and the SOAP two-factor protocol both go through `auth::login`, which
//! calls these two steps.

use super::secret::{Password, UpstreamToken};
use super::upstream::{StoreAccount, UpstreamClient, UpstreamError};
use super::user::{earlier_key, normalize_login};
use crate::audit::AuditEvent;
use crate::directory::Directory;
use crate::store::{DurableStore, Rekey, StoreError};
use moka::future::Cache;
use parking_lot::Mutex;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// How long a resolution is reused (an alias added or removed is seen after this).
const CACHE_TTL: Duration = Duration::from_secs(300);
/// Resolutions kept; names typed by attackers can only evict other resolutions.
const CACHE_CAPACITY: u64 = 50_000;

#[derive(Debug, thiserror::Error)]
pub enum IdentityError {
    /// The name cannot be an account (empty, spaces, control characters…).
    #[error("not an account name")]
    Invalid,
    /// The store or the annuaire could not say which account the name designates:
    /// the login is refused (never keyed on the raw spelling instead).
    #[error("account resolution unavailable: {0}")]
    Unavailable(String),
}

/// What a typed name designates, before any password is checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoginName {
    /// The key of counters and bans, and the name the store is asked about: the
    /// account's primary name when the resolver knows it, else the folded spelling.
    pub key: String,
    /// The account, when the store's admin API told it.
    pub account: Option<StoreAccount>,
    /// The key an earlier version of the gateway used for this spelling (to find rows
    /// it wrote, see [`adopt_earlier_rows`]).
    pub earlier: Option<String>,
}

/// Where aliases are resolved.
#[derive(Clone)]
enum Source {
    /// Admin `GetAccountRequest` on `upstream.admin_url`.
    StoreAdmin {
        credentials: PathBuf,
        token: Arc<Mutex<Option<UpstreamToken>>>,
    },
    /// The annuaire: an address it lists is kept as its entry spells it.
    Annuaire(Directory),
    /// Spelling rules only.
    None,
}

/// Resolves typed names to accounts (cheap to clone).
#[derive(Clone)]
pub struct AccountResolver {
    login_domain: Option<String>,
    upstream: UpstreamClient,
    source: Source,
    cache: Cache<String, Option<StoreAccount>>,
}

impl std::fmt::Debug for AccountResolver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let source = match &self.source {
            Source::StoreAdmin { .. } => "store admin API",
            Source::Annuaire(_) => "annuaire",
            Source::None => "spelling only",
        };
        write!(f, "AccountResolver({source})")
    }
}

/// Reads `name:password` (first line; the password may contain `:`). Errors name the
/// file, never its content.
pub fn read_admin_credentials(path: &Path) -> Result<(String, Password), String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("admin credentials {}: {e}", path.display()))?;
    let line = text.lines().next().unwrap_or("").trim_end_matches('\r');
    match line.split_once(':') {
        Some((name, pw)) if !name.trim().is_empty() && !pw.is_empty() => {
            Ok((name.trim().to_string(), Password::new(pw)))
        }
        _ => Err(format!(
            "admin credentials {}: not name:password",
            path.display()
        )),
    }
}

impl AccountResolver {
    /// Resolves through the store's admin API when `upstream` has an admin URL and
    /// `admin_credentials` is given, else through `directory`, else by spelling only.
    pub fn new(
        login_domain: Option<String>,
        upstream: UpstreamClient,
        admin_credentials: Option<PathBuf>,
        directory: Option<Directory>,
    ) -> Self {
        let source = match (admin_credentials, upstream.has_admin(), directory) {
            (Some(credentials), true, _) => Source::StoreAdmin {
                credentials,
                token: Arc::default(),
            },
            (_, _, Some(d)) => Source::Annuaire(d),
            _ => Source::None,
        };
        AccountResolver {
            login_domain,
            upstream,
            source,
            cache: Cache::builder()
                .max_capacity(CACHE_CAPACITY)
                .time_to_live(CACHE_TTL)
                .build(),
        }
    }

    /// Whether aliases are resolved before the password check.
    pub fn resolves_aliases(&self) -> bool {
        !matches!(self.source, Source::None)
    }

    /// The spelling rules alone (no alias resolution).
    pub fn normalize(&self, typed: &str) -> Option<String> {
        normalize_login(typed, self.login_domain.as_deref())
    }

    /// The account `typed` designates (see the module documentation).
    pub async fn resolve(&self, typed: &str) -> Result<LoginName, IdentityError> {
        let folded = self.normalize(typed).ok_or(IdentityError::Invalid)?;
        let earlier = earlier_key(typed, self.login_domain.as_deref());
        let account = match self.cache.get(&folded).await {
            Some(hit) => hit,
            None => {
                let found = self.lookup(&folded).await?;
                self.cache.insert(folded.clone(), found.clone()).await;
                found
            }
        };
        let key = match &account {
            Some(a) => a.name.clone(),
            None => folded,
        };
        Ok(LoginName {
            key,
            account: account.filter(|a| !a.id.is_empty()),
            earlier,
        })
    }

    async fn lookup(&self, folded: &str) -> Result<Option<StoreAccount>, IdentityError> {
        match &self.source {
            Source::StoreAdmin { credentials, token } => {
                self.admin_lookup(credentials, token, folded).await
            }
            Source::Annuaire(d) if folded.contains('@') => {
                let found = d
                    .mailbox_for_address(folded)
                    .await
                    .map_err(|e| IdentityError::Unavailable(e.to_string()))?;
                // The annuaire knows no store id: only the spelling is taken.
                Ok(found
                    .and_then(|m| normalize_login(&m, None))
                    .map(|name| StoreAccount {
                        name,
                        id: String::new(),
                    }))
            }
            Source::Annuaire(_) | Source::None => Ok(None),
        }
    }

    /// `GetAccountRequest` with a cached admin token, logging in again once when the
    /// store no longer takes it.
    async fn admin_lookup(
        &self,
        credentials: &Path,
        token: &Mutex<Option<UpstreamToken>>,
        name: &str,
    ) -> Result<Option<StoreAccount>, IdentityError> {
        let unavailable = |e: UpstreamError| IdentityError::Unavailable(e.to_string());
        for attempt in 0..2 {
            let current = token.lock().clone();
            let t = match current {
                Some(t) if attempt == 0 => t,
                _ => {
                    let (admin, pw) =
                        read_admin_credentials(credentials).map_err(IdentityError::Unavailable)?;
                    let fresh = self
                        .upstream
                        .admin_auth(&admin, &pw)
                        .await
                        .map_err(unavailable)?;
                    *token.lock() = Some(fresh.clone());
                    fresh
                }
            };
            match self.upstream.admin_find_account(&t, name).await {
                Ok(found) => return Ok(found),
                Err(UpstreamError::AuthFailed) => {}
                Err(UpstreamError::Fault { code, .. })
                    if code == "service.AUTH_EXPIRED" || code == "service.AUTH_REQUIRED" => {}
                Err(e) => return Err(unavailable(e)),
            }
            *token.lock() = None;
        }
        Err(IdentityError::Unavailable(
            "the store refused the admin token".into(),
        ))
    }

    /// The account a store token acts as: the key of everything after the password.
    /// Refused when the store's answer contradicts what the name was resolved to.
    pub async fn confirm(
        &self,
        name: &LoginName,
        token: &UpstreamToken,
    ) -> Result<StoreAccount, UpstreamError> {
        let account = self.upstream.account_of(token).await?;
        if let Some(expected) = &name.account {
            if expected.id != account.id {
                return Err(UpstreamError::Protocol(
                    "the store logged in another account than the one resolved".into(),
                ));
            }
        }
        Ok(account)
    }
}

/// Rows an earlier version keyed on another spelling of `account` (the typed key,
/// the resolved one) move to it, unless it has its own row: then they are refused
/// (left as they are, never read again). Called after each password check, before the
/// durable row is read.
pub async fn adopt_earlier_rows(
    durable: &DurableStore,
    name: &LoginName,
    account: &str,
) -> Result<(), StoreError> {
    let mut candidates: Vec<&str> = name.earlier.iter().map(String::as_str).collect();
    candidates.push(&name.key);
    candidates.dedup();
    for from in candidates.into_iter().filter(|k| *k != account) {
        let outcome = durable.rekey_user(from, account).await?;
        if outcome != Rekey::Absent {
            AuditEvent::new("identity.row_migrated")
                .user(account)
                .detail(serde_json::json!({"moved": outcome == Rekey::Moved}))
                .emit();
        }
    }
    Ok(())
}

/// What [`migrate_durable_keys`] did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct MigrationReport {
    /// (old key, account) moved.
    pub moved: Vec<(String, String)>,
    /// (old key, account) left aside: the account has its own row.
    pub refused: Vec<(String, String)>,
    /// Keys the resolver could not check now (store or annuaire unavailable).
    pub unchecked: Vec<String>,
}

/// Moves every durable row whose key is not the canonical name of the account it
/// designates. With `resolver = None` only spelling rules apply (run at every start,
/// no network); with a resolver aliases are resolved too (`users migrate-keys`).
pub async fn migrate_durable_keys(
    durable: &DurableStore,
    login_domain: Option<&str>,
    resolver: Option<&AccountResolver>,
) -> Result<MigrationReport, StoreError> {
    let mut report = MigrationReport::default();
    for key in durable.user_keys().await? {
        let target = match resolver {
            Some(r) => match r.resolve(&key).await {
                Ok(n) => Some(n.key),
                Err(IdentityError::Invalid) => None,
                Err(IdentityError::Unavailable(_)) => {
                    report.unchecked.push(key.clone());
                    normalize_login(&key, login_domain)
                }
            },
            None => normalize_login(&key, login_domain),
        };
        let Some(target) = target.filter(|t| *t != key) else {
            continue;
        };
        match durable.rekey_user(&key, &target).await? {
            Rekey::Moved => report.moved.push((key, target)),
            Rekey::Conflict => report.refused.push((key, target)),
            Rekey::Absent => {}
        }
    }
    for (from, to) in &report.moved {
        tracing::info!(from = %from, to = %to, "identity: durable row moved to its account");
    }
    for (from, to) in &report.refused {
        tracing::warn!(from = %from, to = %to, "identity: durable row refused, the account has its own");
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{DataKey, OtpChannel};

    #[tokio::test]
    async fn spelling_rules_migrate_rows_at_start() {
        let d = DurableStore::open_sqlite_memory(DataKey::generate()).unwrap();
        d.set_otp_channel("Jean.Dupont", Some(OtpChannel::Email))
            .await
            .unwrap();
        d.set_otp_channel("ｍａｒｉｅ@ms.example", Some(OtpChannel::Email))
            .await
            .unwrap();
        d.set_otp_channel("marie@ms.example", Some(OtpChannel::Totp))
            .await
            .unwrap();
        let r = migrate_durable_keys(&d, Some("ms.example"), None)
            .await
            .unwrap();
        assert_eq!(
            r.moved,
            vec![(
                "Jean.Dupont".to_string(),
                "jean.dupont@ms.example".to_string()
            )]
        );
        assert_eq!(
            r.refused,
            vec![(
                "ｍａｒｉｅ@ms.example".to_string(),
                "marie@ms.example".to_string()
            )]
        );
        assert_eq!(
            d.get("marie@ms.example").await.unwrap().otp_channel,
            Some(OtpChannel::Totp)
        );
        assert!(d
            .get("jean.dupont@ms.example")
            .await
            .unwrap()
            .otp_channel
            .is_some());
        // A second pass finds nothing more to move.
        let again = migrate_durable_keys(&d, Some("ms.example"), None)
            .await
            .unwrap();
        assert!(again.moved.is_empty());
    }

    #[tokio::test]
    async fn earlier_rows_are_adopted_once() {
        let d = DurableStore::open_sqlite_memory(DataKey::generate()).unwrap();
        d.set_otp_channel("a.alias@ms.example", Some(OtpChannel::Email))
            .await
            .unwrap();
        let name = LoginName {
            key: "a.alias@ms.example".into(),
            account: None,
            earlier: Some("a.alias@ms.example".into()),
        };
        adopt_earlier_rows(&d, &name, "anne@ms.example")
            .await
            .unwrap();
        assert!(d
            .get("anne@ms.example")
            .await
            .unwrap()
            .otp_channel
            .is_some());
        assert!(d
            .get("a.alias@ms.example")
            .await
            .unwrap()
            .otp_channel
            .is_none());
    }

    #[test]
    fn admin_credentials_file() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("admin");
        std::fs::write(&p, "admin@x.fr:pa:ss\n").unwrap();
        let (n, pw) = read_admin_credentials(&p).unwrap();
        assert_eq!((n.as_str(), pw.expose()), ("admin@x.fr", "pa:ss"));
        std::fs::write(&p, "nope\n").unwrap();
        let e = read_admin_credentials(&p).unwrap_err();
        assert!(!e.contains("nope"), "{e}");
    }
}
