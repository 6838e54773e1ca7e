//! The Redis backend of the short-lived store (S2): state shared by several gateway
//! instances that also survives a gateway restart (A7).
//!
//! Same semantics as the memory backend, with expiry kept by the Redis server
//! (`PX` / `PEXPIRE`), so instances whose clocks drift still agree:
//! - `put` is `SET key value PX ttl`; `take` is `GETDEL` (atomic: a one-time value
//!   is taken once, whichever instance asks);
//! - `incr` is one Lua script (`INCR`, and `PEXPIRE` on the first increment): the
//!   window starts at the first increment, as in memory (`incr_sliding`: `PEXPIRE` at
//!   every increment);
//! - sets are Redis sets whose TTL is only ever extended by `set_add` (Lua again);
//!   members come back sorted (the memory backend keeps insertion order; callers
//!   must not rely on either).
//!
//! Every key gets `redis_key_prefix`. Every command has a deadline
//! (`redis_timeout_ms`); a failure is a `StoreError` and callers fail closed.
//! Needs Redis 6.2 or later (GETDEL), checked at connection when `INFO` is allowed,
//! and `maxmemory-policy noeviction`, checked when `CONFIG GET` is allowed: with an
//! evicting policy, keys an attacker makes could push bans and counters out; with
//! `noeviction` a full server refuses writes and logins fail closed.

use super::{StoreConfig, StoreError};
use crate::auth::clock::Clock;
use ::redis::aio::{ConnectionManager, ConnectionManagerConfig};
use ::redis::{Client, Cmd, FromRedisValue, IntoConnectionInfo, RedisError, Script};
use std::future::Future;
use std::sync::{Arc, LazyLock};
use std::time::Duration;

/// `INCR`, setting the window on the first increment (or on a key that lost its TTL).
static INCR_WINDOW: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        "local n = redis.call('INCR', KEYS[1])
         if n == 1 or redis.call('PTTL', KEYS[1]) < 0 then
           redis.call('PEXPIRE', KEYS[1], ARGV[1])
         end
         return n",
    )
});

/// `INCR`, then the key lives `ARGV[1]` ms after this increment (a sliding window).
static INCR_SLIDING: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        "local n = redis.call('INCR', KEYS[1])
         redis.call('PEXPIRE', KEYS[1], ARGV[1])
         return n",
    )
});

/// `SADD`, then extends (never shortens) the set's TTL to `ARGV[2]` ms.
static SET_ADD: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        "redis.call('SADD', KEYS[1], ARGV[1])
         if redis.call('PTTL', KEYS[1]) < tonumber(ARGV[2]) then
           redis.call('PEXPIRE', KEYS[1], ARGV[2])
         end
         return 1",
    )
});

/// Checks a `redis_url` without connecting. The error says what to change.
pub fn check_url(url: &str) -> Result<(), String> {
    let parsed = url::Url::parse(url).map_err(|e| format!("{url:?} is not a URL: {e}"))?;
    match parsed.scheme() {
        "redis" | "rediss" => {
            if parsed.host().is_none() {
                return Err("a host is required (redis://host:port/db)".into());
            }
        }
        "unix" | "redis+unix" => {}
        other => {
            return Err(format!(
                "scheme must be redis, rediss (TLS) or unix, not {other}"
            ))
        }
    }
    if parsed.password().is_some() {
        return Err(
            "no password in the URL (check-config and logs would show it): \
             give it as auth.store.redis_password_file"
                .into(),
        );
    }
    if parsed.fragment() == Some("insecure") {
        return Err("#insecure (TLS without certificate check) is refused; \
             use auth.store.redis_ca_file for a private CA"
            .into());
    }
    url.into_connection_info()
        .map(|_| ())
        .map_err(|e| format!("{url:?}: {e}"))
}

/// The Redis backend (cheap to clone: the connection is shared and multiplexed,
/// and reconnects by itself after a failure).
#[derive(Clone)]
pub struct RedisShortStore {
    conn: ConnectionManager,
    prefix: Arc<str>,
    timeout: Duration,
    pub(super) clock: Clock,
}

fn redis_err(e: RedisError) -> StoreError {
    StoreError::Database(format!("redis: {e}"))
}

/// Whole milliseconds, at least 1 (`PX 0` is an error in Redis).
fn millis(d: Duration) -> u64 {
    (d.as_millis() as u64).max(1)
}

impl RedisShortStore {
    /// Connects with the settings of `[auth.store]` (`redis_url`, `redis_username`,
    /// `redis_password`, `redis_ca_file`, `redis_key_prefix`, `redis_timeout_ms`),
    /// then checks the server answers and is recent enough.
    pub async fn connect(cfg: &StoreConfig, clock: Clock) -> Result<Self, StoreError> {
        let bad = |what: String| StoreError::Database(format!("auth.store.redis_url: {what}"));
        check_url(&cfg.redis_url).map_err(bad)?;
        let info = cfg
            .redis_url
            .as_str()
            .into_connection_info()
            .map_err(|e| bad(e.to_string()))?;
        let mut settings = info.redis_settings().clone();
        if let Some(u) = &cfg.redis_username {
            settings = settings.set_username(u);
        }
        if let Some(p) = &cfg.redis_password {
            settings = settings.set_password(p.expose());
        }
        let info = info.set_redis_settings(settings);
        let client = match &cfg.redis_ca_file {
            Some(ca) => {
                let pem = std::fs::read(ca).map_err(|e| {
                    StoreError::Database(format!(
                        "auth.store.redis_ca_file: cannot read {}: {e}",
                        ca.display()
                    ))
                })?;
                Client::build_with_tls(
                    info,
                    ::redis::TlsCertificates {
                        client_tls: None,
                        root_cert: Some(pem),
                    },
                )
            }
            None => Client::open(info),
        }
        .map_err(|e| bad(e.to_string()))?;
        let timeout = Duration::from_millis(cfg.redis_timeout_ms.max(1));
        let manager_cfg = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(timeout))
            .set_response_timeout(Some(timeout))
            .set_number_of_retries(2)
            .set_max_delay(Duration::from_millis(500));
        let conn = match tokio::time::timeout(
            timeout * 3,
            ConnectionManager::new_with_config(client, manager_cfg),
        )
        .await
        {
            Ok(Ok(c)) => c,
            Ok(Err(e)) => {
                return Err(StoreError::Database(format!(
                    "redis: cannot connect to {}: {e}",
                    cfg.redis_url
                )))
            }
            Err(_) => {
                return Err(StoreError::Database(format!(
                    "redis: no connection to {} within {} ms",
                    cfg.redis_url,
                    timeout.as_millis() * 3
                )))
            }
        };
        let store = RedisShortStore {
            conn,
            prefix: Arc::from(cfg.redis_key_prefix.as_str()),
            timeout,
            clock,
        };
        store.ping().await?;
        // A user restricted by ACL may not run INFO: then the version stays unchecked.
        if let Ok(text) = store
            .query::<String>(::redis::cmd("INFO").arg("server"))
            .await
        {
            if let Some(v) = server_version(&text) {
                if v < (6, 2) {
                    return Err(StoreError::Database(format!(
                        "redis: server version {}.{} is too old, 6.2 or later is needed (GETDEL)",
                        v.0, v.1
                    )));
                }
            }
        }
        match store
            .query::<Vec<String>>(::redis::cmd("CONFIG").arg("GET").arg("maxmemory-policy"))
            .await
        {
            Ok(pair) => {
                if let Some(policy) = pair.get(1) {
                    eviction_policy_ok(policy).map_err(StoreError::Database)?;
                }
            }
            Err(e) => tracing::warn!(
                error = %e,
                "redis: maxmemory-policy unknown (CONFIG GET refused); it must be noeviction"
            ),
        }
        Ok(store)
    }

    fn key(&self, key: &str) -> String {
        format!("{}{key}", self.prefix)
    }

    /// Runs `f` under the store's deadline (a stuck server must not hang a login).
    /// Every command goes through here, so this is where it is timed and its failures
    /// counted (`gateway_store_operation_seconds{store="short",backend="redis"}`).
    async fn deadline<T>(
        &self,
        f: impl Future<Output = Result<T, RedisError>>,
    ) -> Result<T, StoreError> {
        let started = std::time::Instant::now();
        let result = match tokio::time::timeout(self.timeout * 2, f).await {
            Ok(r) => r.map_err(redis_err),
            Err(_) => Err(StoreError::Database(format!(
                "redis: no answer within {} ms",
                self.timeout.as_millis() * 2
            ))),
        };
        crate::telemetry::record_store_operation(
            "short",
            "redis",
            started.elapsed(),
            result.is_ok(),
        );
        result
    }

    async fn query<T: FromRedisValue>(&self, cmd: &Cmd) -> Result<T, StoreError> {
        let mut c = self.conn.clone();
        self.deadline(cmd.query_async(&mut c)).await
    }

    pub async fn ping(&self) -> Result<(), StoreError> {
        let pong: String = self.query(&::redis::cmd("PING")).await?;
        if pong == "PONG" {
            Ok(())
        } else {
            Err(StoreError::Database(format!(
                "redis: unexpected PING answer {pong:?}"
            )))
        }
    }

    pub async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        self.query(::redis::cmd("GET").arg(self.key(key))).await
    }

    pub async fn put(&self, key: &str, value: Vec<u8>, ttl: Duration) -> Result<(), StoreError> {
        if ttl.as_millis() == 0 {
            // Already expired (as in memory, where it could never be read).
            return self.delete(key).await;
        }
        self.query::<()>(
            ::redis::cmd("SET")
                .arg(self.key(key))
                .arg(value)
                .arg("PX")
                .arg(millis(ttl)),
        )
        .await
    }

    pub async fn delete(&self, key: &str) -> Result<(), StoreError> {
        self.query::<()>(::redis::cmd("DEL").arg(self.key(key)))
            .await
    }

    pub async fn take(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        self.query(::redis::cmd("GETDEL").arg(self.key(key))).await
    }

    pub async fn incr(
        &self,
        key: &str,
        window: Duration,
        sliding: bool,
    ) -> Result<u64, StoreError> {
        let mut c = self.conn.clone();
        let script = if sliding { &INCR_SLIDING } else { &INCR_WINDOW };
        self.deadline(
            script
                .key(self.key(key))
                .arg(millis(window))
                .invoke_async(&mut c),
        )
        .await
    }

    pub async fn count(&self, key: &str) -> Result<u64, StoreError> {
        let v: Option<Vec<u8>> = self.get(key).await?;
        match v {
            None => Ok(0),
            Some(d) => std::str::from_utf8(&d)
                .ok()
                .and_then(|s| s.parse::<u64>().ok())
                .ok_or_else(|| StoreError::Corrupt("counter is not a number".into())),
        }
    }

    pub async fn set_add(&self, key: &str, member: &str, ttl: Duration) -> Result<(), StoreError> {
        let mut c = self.conn.clone();
        self.deadline(
            SET_ADD
                .key(self.key(key))
                .arg(member)
                .arg(millis(ttl))
                .invoke_async::<()>(&mut c),
        )
        .await
    }

    pub async fn set_remove(&self, key: &str, member: &str) -> Result<(), StoreError> {
        self.query::<()>(::redis::cmd("SREM").arg(self.key(key)).arg(member))
            .await
    }

    /// Keys under `prefix` (SCAN, 1,000 per round trip): for metrics on a slow timer.
    pub async fn count_prefix(&self, prefix: &str) -> Result<u64, StoreError> {
        let pattern = format!("{}*", self.key(prefix));
        let (mut cursor, mut n) = (0u64, 0u64);
        loop {
            let (next, keys): (u64, Vec<String>) = self
                .query(
                    ::redis::cmd("SCAN")
                        .arg(cursor)
                        .arg("MATCH")
                        .arg(&pattern)
                        .arg("COUNT")
                        .arg(1000),
                )
                .await?;
            n += keys.len() as u64;
            if next == 0 {
                return Ok(n);
            }
            cursor = next;
        }
    }

    pub async fn set_members(&self, key: &str) -> Result<Vec<String>, StoreError> {
        let mut m: Vec<String> = self
            .query(::redis::cmd("SMEMBERS").arg(self.key(key)))
            .await?;
        m.sort();
        Ok(m)
    }
}

/// Only `noeviction` keeps bans and counters whatever other keys are written.
fn eviction_policy_ok(policy: &str) -> Result<(), String> {
    if policy.eq_ignore_ascii_case("noeviction") {
        Ok(())
    } else {
        Err(format!(
            "redis: maxmemory-policy is {policy}: keys an attacker makes could evict bans and \
             failure counters; set `maxmemory-policy noeviction` (a full server then refuses \
             logins instead of forgetting bans)"
        ))
    }
}

/// `(major, minor)` from the `redis_version:` line of `INFO server`.
fn server_version(info: &str) -> Option<(u32, u32)> {
    let v = info
        .lines()
        .find_map(|l| l.trim().strip_prefix("redis_version:"))?;
    let mut parts = v.split('.').map(|p| p.parse::<u32>().ok());
    Some((parts.next()??, parts.next()??))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        assert!(check_url("redis://127.0.0.1:6379/0").is_ok());
        assert!(check_url("rediss://redis.example.fr:6380/2").is_ok());
        assert!(check_url("redis://:pw@127.0.0.1/0")
            .unwrap_err()
            .contains("redis_password_file"));
        assert!(check_url("redis://u:pw@127.0.0.1/0").is_err());
        assert!(check_url("rediss://h/0#insecure")
            .unwrap_err()
            .contains("refused"));
        assert!(check_url("http://h/").unwrap_err().contains("scheme"));
        assert!(check_url("nonsense").is_err());
    }

    #[test]
    fn only_noeviction_is_accepted() {
        assert!(eviction_policy_ok("noeviction").is_ok());
        for p in ["allkeys-lru", "volatile-lru", "volatile-ttl", "allkeys-lfu"] {
            assert!(
                eviction_policy_ok(p).unwrap_err().contains("noeviction"),
                "{p}"
            );
        }
    }

    #[test]
    fn version_line() {
        assert_eq!(
            server_version("# Server\r\nredis_version:7.0.15\r\nredis_git_sha1:0\r\n"),
            Some((7, 0))
        );
        assert_eq!(server_version("x"), None);
    }
}
