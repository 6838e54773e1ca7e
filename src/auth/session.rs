//! Gateway-owned sessions (A7). The browser only holds a random session id; the
//! upstream token and everything else live server-side in the short-lived store,
//! keyed by a hash of the id (a store dump yields no usable cookie).

use super::clock::Clock;
use super::config::SessionConfig;
use super::secret::{BearerToken, UpstreamToken};
use crate::store::{ShortStore, StoreError};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use rand::RngCore;
use serde::{Deserialize, Serialize};
use std::time::Duration;

pub use super::token_strip::{
    filter_upstream_set_cookies, inject_upstream_token, soap_has_client_token, strip_client_tokens,
};

/// Cookie name over HTTPS: `__Host-` pins it to this host, path `/`, Secure.
pub const COOKIE_NAME_SECURE: &str = "__Host-mssante_session";
/// Cookie name in the plain-HTTP loopback demo (browsers refuse `__Host-` without Secure).
pub const COOKIE_NAME_DEMO: &str = "mssante_session";

/// How far a login has gone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    /// Password accepted by the store; second factor pending.
    PasswordOk,
    /// Second factor accepted but set-up still to finish (first connection, channel test).
    OtpOk,
    /// Both factors done: the session may reach the store.
    Full,
}

/// Server-side session state.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Session {
    /// The canonical account (the store's primary name), never what was typed.
    pub user: String,
    /// The pending-login generation of the account when the password was checked
    /// (`Regulator::code_epoch`): wrong codes from anywhere void older pending logins.
    #[serde(default)]
    pub otp_epoch: u64,
    /// The store's token; `None` until the password was checked upstream.
    pub upstream_token: Option<UpstreamToken>,
    pub stage: Stage,
    pub created_ms: u64,
    pub last_activity_ms: u64,
    /// Per-session secret for CSRF tokens of portal forms.
    pub csrf_secret: BearerToken,
    /// Where to go after login (already validated as a local path).
    pub return_to: Option<String>,
}

/// A session together with its id.
#[derive(Debug, Clone)]
pub struct LiveSession {
    pub id: BearerToken,
    pub session: Session,
}

fn random_token() -> String {
    let mut b = [0u8; 32];
    rand::rng().fill_bytes(&mut b);
    URL_SAFE_NO_PAD.encode(b)
}

/// The hash a session is known by in the store: its key, and its entry in the user's
/// index. The raw id exists only in the client's cookie or token.
fn id_hash(id: &str) -> String {
    hex::encode(ring::digest::digest(&ring::digest::SHA256, id.as_bytes()).as_ref())
}

fn store_key(id: &str) -> String {
    format!("session:{}", id_hash(id))
}

fn store_key_of_hash(hash: &str) -> String {
    format!("session:{hash}")
}

/// The user's index of sessions, by hash (a dump of the store yields no usable id).
fn user_index_key(user: &str) -> String {
    format!("user_sessions:{user}")
}

/// An index member: a hash, or a raw id an earlier version stored (hashed on reading).
fn index_member_hash(member: &str) -> String {
    if member.len() == 64 && member.bytes().all(|b| b.is_ascii_hexdigit()) {
        member.to_string()
    } else {
        id_hash(member)
    }
}

/// Creates, loads, rotates and revokes sessions.
#[derive(Debug, Clone)]
pub struct SessionManager {
    cfg: SessionConfig,
    store: ShortStore,
    clock: Clock,
}

impl SessionManager {
    pub fn new(cfg: SessionConfig, store: ShortStore) -> Self {
        let clock = store.clock().clone();
        SessionManager { cfg, store, clock }
    }

    pub fn cookie_name(&self) -> &'static str {
        if self.cfg.insecure_loopback_demo {
            COOKIE_NAME_DEMO
        } else {
            COOKIE_NAME_SECURE
        }
    }

    /// Time left before the store may forget it: the shorter of both timeouts
    /// (pending logins get their own short lifetime).
    fn ttl(&self, s: &Session) -> Duration {
        let now = self.clock.now_ms();
        let absolute_end = s.created_ms + self.cfg.absolute_lifetime_secs * 1000;
        let idle_secs = if s.stage == Stage::Full {
            self.cfg.inactivity_timeout_secs
        } else {
            self.cfg.pending_login_secs
        };
        let idle_end = s.last_activity_ms + idle_secs * 1000;
        Duration::from_millis(absolute_end.min(idle_end).saturating_sub(now).max(1))
    }

    async fn save(&self, id: &str, s: &Session) -> Result<(), StoreError> {
        self.store.put_json(&store_key(id), s, self.ttl(s)).await?;
        let index_ttl = Duration::from_secs(self.cfg.absolute_lifetime_secs);
        self.store
            .set_add(&user_index_key(&s.user), &id_hash(id), index_ttl)
            .await
    }

    /// Starts a session for `user` at `stage`.
    pub async fn create(
        &self,
        user: &str,
        stage: Stage,
        upstream_token: Option<UpstreamToken>,
    ) -> Result<LiveSession, StoreError> {
        let now = self.clock.now_ms();
        let session = Session {
            user: user.to_string(),
            otp_epoch: 0,
            upstream_token,
            stage,
            created_ms: now,
            last_activity_ms: now,
            csrf_secret: BearerToken::new(random_token()),
            return_to: None,
        };
        let id = BearerToken::new(random_token());
        self.save(id.expose(), &session).await?;
        crate::telemetry::record_session_created(match stage {
            Stage::PasswordOk => "password_ok",
            Stage::OtpOk => "otp_ok",
            Stage::Full => "full",
        });
        Ok(LiveSession { id, session })
    }

    fn expired(&self, s: &Session, now: u64) -> bool {
        let idle = if s.stage == Stage::Full {
            self.cfg.inactivity_timeout_secs
        } else {
            self.cfg.pending_login_secs
        };
        now >= s.created_ms + self.cfg.absolute_lifetime_secs * 1000
            || now >= s.last_activity_ms + idle * 1000
    }

    /// Loads a session. `is_activity` is false for background polling
    /// (NoOpRequest, WaitSetRequest…), which must not keep a session alive.
    pub async fn load(&self, id: &str, is_activity: bool) -> Result<Option<Session>, StoreError> {
        if id.len() != 43
            || !id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return Ok(None);
        }
        let Some(mut s) = self.store.get_json::<Session>(&store_key(id)).await? else {
            return Ok(None);
        };
        let now = self.clock.now_ms();
        if self.expired(&s, now) {
            self.end(id, "expired").await?;
            return Ok(None);
        }
        // Write back at most every touch_interval (no store write per request).
        if is_activity
            && now.saturating_sub(s.last_activity_ms) >= self.cfg.touch_interval_secs * 1000
        {
            s.last_activity_ms = now;
            self.store
                .put_json(&store_key(id), &s, self.ttl(&s))
                .await?;
        }
        Ok(Some(s))
    }

    /// Records activity on a session already loaded with `is_activity = false`
    /// (the request turned out not to be background polling).
    pub async fn touch(&self, id: &str, s: &Session) -> Result<(), StoreError> {
        let now = self.clock.now_ms();
        if now.saturating_sub(s.last_activity_ms) < self.cfg.touch_interval_secs * 1000 {
            return Ok(());
        }
        let mut s = s.clone();
        s.last_activity_ms = now;
        self.store.put_json(&store_key(id), &s, self.ttl(&s)).await
    }

    /// Replaces the session id (after each factor, against fixation) and applies
    /// `update`. The old id stops working at once.
    pub async fn rotate(
        &self,
        old_id: &str,
        update: impl FnOnce(&mut Session),
    ) -> Result<Option<LiveSession>, StoreError> {
        let Some(mut s) = self.store.take_json::<Session>(&store_key(old_id)).await? else {
            return Ok(None);
        };
        self.remove_from_index(&s.user, old_id).await?;
        let now = self.clock.now_ms();
        if self.expired(&s, now) {
            crate::telemetry::record_sessions_ended("expired", 1);
            return Ok(None);
        }
        update(&mut s);
        s.last_activity_ms = now;
        s.csrf_secret = BearerToken::new(random_token());
        let id = BearerToken::new(random_token());
        self.save(id.expose(), &s).await?;
        Ok(Some(LiveSession { id, session: s }))
    }

    /// Saves changes to a session without changing its id (e.g. `return_to`).
    pub async fn update(&self, id: &str, s: &Session) -> Result<(), StoreError> {
        self.save(id, s).await
    }

    /// Ends one session; returns it so the caller can end the upstream session too.
    pub async fn revoke(&self, id: &str) -> Result<Option<Session>, StoreError> {
        self.end(id, "revoked").await
    }

    /// `revoke`, counted in `gateway_sessions_ended_total{reason}`.
    async fn end(&self, id: &str, reason: &'static str) -> Result<Option<Session>, StoreError> {
        let s = self.store.take_json::<Session>(&store_key(id)).await?;
        if let Some(s) = &s {
            self.remove_from_index(&s.user, id).await?;
            crate::telemetry::record_sessions_ended(reason, 1);
        }
        Ok(s)
    }

    async fn remove_from_index(&self, user: &str, id: &str) -> Result<(), StoreError> {
        let key = user_index_key(user);
        self.store.set_remove(&key, &id_hash(id)).await?;
        // An entry an earlier version wrote with the raw id.
        self.store.set_remove(&key, id).await
    }

    /// Sessions in the store now (metrics, on a slow timer: it scans the store).
    pub async fn count_live(&self) -> Result<u64, StoreError> {
        self.store.count_prefix("session:").await
    }

    /// Ends every session of `user`; returns how many were live.
    pub async fn revoke_all(&self, user: &str) -> Result<usize, StoreError> {
        Ok(self.end_all(user).await?.len())
    }

    /// Ends every session of `user` and returns them, so the caller can end their
    /// store tokens too.
    pub async fn end_all(&self, user: &str) -> Result<Vec<Session>, StoreError> {
        let members = self.store.set_members(&user_index_key(user)).await?;
        let mut ended = Vec::new();
        for m in members {
            let key = store_key_of_hash(&index_member_hash(&m));
            if let Some(s) = self.store.take_json::<Session>(&key).await? {
                ended.push(s);
            }
        }
        self.store.delete(&user_index_key(user)).await?;
        crate::telemetry::record_sessions_ended("ended_all", ended.len());
        Ok(ended)
    }

    /// `Set-Cookie` value for a session id.
    pub fn cookie(&self, id: &BearerToken) -> String {
        self.cookie_value(id.expose(), None)
    }

    /// `Set-Cookie` value that deletes the cookie.
    pub fn clear_cookie(&self) -> String {
        self.cookie_value("", Some(0))
    }

    fn cookie_value(&self, value: &str, max_age: Option<u64>) -> String {
        // No Max-Age on the live cookie: a browser-session cookie; the server enforces timeouts.
        let mut c = format!(
            "{}={value}; Path=/; HttpOnly; SameSite=Lax",
            self.cookie_name()
        );
        if !self.cfg.insecure_loopback_demo {
            c.push_str("; Secure");
        }
        if let Some(age) = max_age {
            c.push_str(&format!("; Max-Age={age}"));
        }
        c
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn manager(cfg: SessionConfig) -> (SessionManager, Clock) {
        let clock = Clock::manual(10_000_000);
        (
            SessionManager::new(cfg, ShortStore::memory(clock.clone(), 1000)),
            clock,
        )
    }

    fn cfg() -> SessionConfig {
        SessionConfig {
            absolute_lifetime_secs: 3600,
            inactivity_timeout_secs: 600,
            pending_login_secs: 300,
            touch_interval_secs: 30,
            insecure_loopback_demo: false,
        }
    }

    #[tokio::test]
    async fn ids_are_256_bit_base64url() {
        let (m, _) = manager(cfg());
        let a = m.create("alice", Stage::Full, None).await.unwrap();
        let b = m.create("alice", Stage::Full, None).await.unwrap();
        assert_eq!(a.id.expose().len(), 43);
        assert_ne!(a.id, b.id);
        assert!(m.load(a.id.expose(), true).await.unwrap().is_some());
        assert!(m.load("short", true).await.unwrap().is_none());
        assert!(m.load(&"A".repeat(43), true).await.unwrap().is_none());
    }

    #[tokio::test]
    async fn rotation_kills_old_id() {
        let (m, _) = manager(cfg());
        let s = m
            .create("alice", Stage::PasswordOk, Some(UpstreamToken::new("tok")))
            .await
            .unwrap();
        let r = m
            .rotate(s.id.expose(), |s| s.stage = Stage::Full)
            .await
            .unwrap()
            .unwrap();
        assert_ne!(r.id, s.id);
        assert_ne!(r.session.csrf_secret, s.session.csrf_secret);
        assert!(m.load(s.id.expose(), true).await.unwrap().is_none());
        let loaded = m.load(r.id.expose(), true).await.unwrap().unwrap();
        assert_eq!(loaded.stage, Stage::Full);
        assert_eq!(loaded.upstream_token.unwrap().expose(), "tok");
        assert!(m.rotate(s.id.expose(), |_| {}).await.unwrap().is_none());
    }

    #[tokio::test]
    async fn inactivity_ignores_polling() {
        let (m, clock) = manager(cfg());
        let s = m.create("alice", Stage::Full, None).await.unwrap();
        let id = s.id.expose();
        clock.advance(Duration::from_secs(500));
        assert!(m.load(id, false).await.unwrap().is_some(), "polling");
        clock.advance(Duration::from_secs(101));
        assert!(
            m.load(id, false).await.unwrap().is_none(),
            "polling does not extend"
        );

        let s = m.create("alice", Stage::Full, None).await.unwrap();
        let id = s.id.expose();
        for _ in 0..5 {
            clock.advance(Duration::from_secs(500));
            assert!(
                m.load(id, true).await.unwrap().is_some(),
                "real activity extends"
            );
        }
    }

    #[tokio::test]
    async fn absolute_lifetime_and_pending_timeout() {
        let (m, clock) = manager(cfg());
        let full = m.create("alice", Stage::Full, None).await.unwrap();
        let pending = m.create("alice", Stage::PasswordOk, None).await.unwrap();
        clock.advance(Duration::from_secs(300));
        assert!(m.load(pending.id.expose(), true).await.unwrap().is_none());
        for _ in 0..6 {
            assert!(m.load(full.id.expose(), true).await.unwrap().is_some());
            clock.advance(Duration::from_secs(550));
        }
        assert!(
            m.load(full.id.expose(), true).await.unwrap().is_none(),
            "3600 s absolute"
        );
    }

    #[tokio::test]
    async fn revoke_one_and_all() {
        let (m, _) = manager(cfg());
        let a = m.create("alice", Stage::Full, None).await.unwrap();
        let b = m.create("alice", Stage::Full, None).await.unwrap();
        let c = m.create("alice", Stage::Full, None).await.unwrap();
        let bob = m.create("bob", Stage::Full, None).await.unwrap();
        assert!(m.revoke(a.id.expose()).await.unwrap().is_some());
        assert!(m.load(a.id.expose(), true).await.unwrap().is_none());
        assert_eq!(m.revoke_all("alice").await.unwrap(), 2);
        assert!(m.load(b.id.expose(), true).await.unwrap().is_none());
        assert!(m.load(c.id.expose(), true).await.unwrap().is_none());
        assert!(m.load(bob.id.expose(), true).await.unwrap().is_some());
    }

    /// What the short store holds (a Redis dump: keys, values, index members) names
    /// no session a client could present.
    #[tokio::test]
    async fn store_holds_no_usable_id() {
        let (m, _) = manager(cfg());
        let a = m.create("alice", Stage::Full, None).await.unwrap();
        let members = m.store.set_members(&user_index_key("alice")).await.unwrap();
        assert_eq!(members.len(), 1);
        assert_ne!(members[0], a.id.expose());
        assert!(m.load(&members[0], true).await.unwrap().is_none());
        assert_eq!(store_key_of_hash(&members[0]), store_key(a.id.expose()));
        // An index written by an earlier version (raw ids) still ends its sessions.
        let b = m.create("bob", Stage::Full, None).await.unwrap();
        m.store
            .set_add(
                &user_index_key("bob"),
                b.id.expose(),
                Duration::from_secs(60),
            )
            .await
            .unwrap();
        assert_eq!(m.revoke_all("bob").await.unwrap(), 1);
        assert!(m.load(b.id.expose(), true).await.unwrap().is_none());
    }

    #[tokio::test]
    async fn cookie_flags() {
        let (m, _) = manager(cfg());
        let id = BearerToken::new("abc");
        assert_eq!(
            m.cookie(&id),
            "__Host-mssante_session=abc; Path=/; HttpOnly; SameSite=Lax; Secure"
        );
        assert!(m.clear_cookie().ends_with("Max-Age=0"));
        let (demo, _) = manager(SessionConfig {
            insecure_loopback_demo: true,
            ..cfg()
        });
        assert_eq!(
            demo.cookie(&id),
            "mssante_session=abc; Path=/; HttpOnly; SameSite=Lax"
        );
    }
}
