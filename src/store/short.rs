//! Short-lived state: sessions, pending logins, codes, counters, small sets.
//!
//! Every entry carries its deadline on the gateway's `Clock`, checked on read, so
//! expiry is exact and testable; moka's per-entry TTL only reclaims memory.
//!
//! Two spaces, each bounded on its own: keys starting with [`GUARD_PREFIX`] (bans,
//! failure counters, locks: the regulation) live in a map that never evicts a live
//! entry — when it is full a new key is refused and the caller fails closed — so keys
//! an attacker makes by the million (sessions, codes, stage tokens, or counters of
//! their own) can never push a ban or a counter out. Everything else lives in an
//! evicting cache. The Redis backend must run with `maxmemory-policy noeviction`
//! (checked at connection) for the same guarantee.

use super::redis::RedisShortStore;
use super::StoreError;
use crate::auth::clock::Clock;
use moka::future::Cache;
use moka::ops::compute::Op;
use moka::Expiry;
use parking_lot::Mutex;
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Keys of the regulation space (see the module documentation).
pub const GUARD_PREFIX: &str = "reg:";

/// A full guard space is swept for expired entries at most this often.
const SWEEP_EVERY_MS: u64 = 1000;

#[derive(Clone)]
struct Entry {
    data: Arc<Vec<u8>>,
    expires_at_ms: u64,
    ttl: Duration,
}

struct PerEntryTtl;

impl Expiry<String, Entry> for PerEntryTtl {
    fn expire_after_create(&self, _k: &String, v: &Entry, _at: Instant) -> Option<Duration> {
        Some(v.ttl)
    }
    fn expire_after_update(
        &self,
        _k: &String,
        v: &Entry,
        _at: Instant,
        _left: Option<Duration>,
    ) -> Option<Duration> {
        Some(v.ttl)
    }
}

/// The in-memory backend (one instance; state is lost on restart).
#[derive(Clone)]
pub struct MemoryShortStore {
    cache: Cache<String, Entry>,
    guard: Arc<GuardSpace>,
    clock: Clock,
}

/// The regulation space: bounded, never evicting a live entry.
struct GuardSpace {
    map: Mutex<HashMap<String, Entry>>,
    capacity: usize,
    last_sweep_ms: AtomicU64,
}

impl GuardSpace {
    /// Runs `f` on the live entry at `key` (`None` when absent or expired); `f` returns
    /// the new entry (`None` removes it). A new key in a full space is refused.
    fn update<T>(
        &self,
        key: &str,
        now: u64,
        f: impl FnOnce(Option<&Entry>) -> (Option<Entry>, T),
    ) -> Result<T, StoreError> {
        let mut map = self.map.lock();
        let live = map.get(key).filter(|e| e.expires_at_ms > now);
        let had = live.is_some();
        let (new, out) = f(live);
        match new {
            Some(e) => {
                if !had && !map.contains_key(key) && map.len() >= self.capacity {
                    self.sweep(&mut map, now);
                    if map.len() >= self.capacity {
                        return Err(StoreError::Full(
                            "regulation space (bans, counters) is full".into(),
                        ));
                    }
                }
                map.insert(key.to_string(), e);
            }
            None => {
                map.remove(key);
            }
        }
        Ok(out)
    }

    fn sweep(&self, map: &mut HashMap<String, Entry>, now: u64) {
        let last = self.last_sweep_ms.load(Ordering::Relaxed);
        if now.saturating_sub(last) < SWEEP_EVERY_MS && last != 0 {
            return;
        }
        self.last_sweep_ms.store(now.max(1), Ordering::Relaxed);
        map.retain(|_, e| e.expires_at_ms > now);
    }

    fn get(&self, key: &str, now: u64) -> Option<Entry> {
        self.map
            .lock()
            .get(key)
            .filter(|e| e.expires_at_ms > now)
            .cloned()
    }
}

fn is_guarded(key: &str) -> bool {
    key.starts_with(GUARD_PREFIX)
}

/// Short-lived key/value state with per-entry TTL.
#[derive(Clone)]
pub enum ShortStore {
    Memory(MemoryShortStore),
    /// Shared by several instances, survives a gateway restart (`super::redis`).
    Redis(RedisShortStore),
}

impl std::fmt::Debug for ShortStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ShortStore::Memory(_) => f.write_str("ShortStore::Memory"),
            ShortStore::Redis(_) => f.write_str("ShortStore::Redis"),
        }
    }
}

impl ShortStore {
    /// `max_entries` bounds each of the two spaces.
    pub fn memory(clock: Clock, max_entries: u64) -> Self {
        ShortStore::Memory(MemoryShortStore {
            cache: Cache::builder()
                .max_capacity(max_entries)
                .expire_after(PerEntryTtl)
                .build(),
            guard: Arc::new(GuardSpace {
                map: Mutex::new(HashMap::new()),
                capacity: usize::try_from(max_entries).unwrap_or(usize::MAX).max(1),
                last_sweep_ms: AtomicU64::new(0),
            }),
            clock,
        })
    }

    pub fn clock(&self) -> &Clock {
        match self {
            ShortStore::Memory(m) => &m.clock,
            ShortStore::Redis(r) => &r.clock,
        }
    }

    /// Whether state is shared with other instances and kept across restarts.
    pub fn is_shared(&self) -> bool {
        matches!(self, ShortStore::Redis(_))
    }

    /// Liveness probe for readiness checks (always fine in memory).
    pub async fn ping(&self) -> Result<(), StoreError> {
        match self {
            ShortStore::Memory(_) => Ok(()),
            ShortStore::Redis(r) => r.ping().await,
        }
    }

    fn live(entry: Option<Entry>, now: u64) -> Option<Entry> {
        entry.filter(|e| e.expires_at_ms > now)
    }

    fn entry(&self, data: Vec<u8>, ttl: Duration) -> Entry {
        Entry {
            data: Arc::new(data),
            expires_at_ms: self.clock().now_ms() + ttl.as_millis() as u64,
            ttl,
        }
    }

    pub async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        match self {
            ShortStore::Memory(m) => {
                let now = m.clock.now_ms();
                let entry = if is_guarded(key) {
                    m.guard.get(key, now)
                } else {
                    Self::live(m.cache.get(key).await, now)
                };
                Ok(entry.map(|e| e.data.as_ref().clone()))
            }
            ShortStore::Redis(r) => r.get(key).await,
        }
    }

    pub async fn put(&self, key: &str, value: Vec<u8>, ttl: Duration) -> Result<(), StoreError> {
        match self {
            ShortStore::Memory(m) => {
                let entry = self.entry(value, ttl);
                if is_guarded(key) {
                    return m.guard.update(key, m.clock.now_ms(), |_| (Some(entry), ()));
                }
                m.cache.insert(key.to_string(), entry).await;
                Ok(())
            }
            ShortStore::Redis(r) => r.put(key, value, ttl).await,
        }
    }

    pub async fn delete(&self, key: &str) -> Result<(), StoreError> {
        match self {
            ShortStore::Memory(m) => {
                if is_guarded(key) {
                    m.guard.map.lock().remove(key);
                } else {
                    m.cache.invalidate(key).await;
                }
                Ok(())
            }
            ShortStore::Redis(r) => r.delete(key).await,
        }
    }

    /// Reads and deletes in one step: a one-time value can be taken only once.
    pub async fn take(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        match self {
            ShortStore::Memory(m) => {
                let now = m.clock.now_ms();
                let entry = if is_guarded(key) {
                    m.guard
                        .map
                        .lock()
                        .remove(key)
                        .filter(|e| e.expires_at_ms > now)
                } else {
                    Self::live(m.cache.remove(key).await, now)
                };
                Ok(entry.map(|e| e.data.as_ref().clone()))
            }
            ShortStore::Redis(r) => r.take(key).await,
        }
    }

    /// Increments a counter whose window starts at its first increment and lasts
    /// `window`; returns the new count. Atomic per key.
    pub async fn incr(&self, key: &str, window: Duration) -> Result<u64, StoreError> {
        self.incr_with(key, window, false).await
    }

    /// Increments a counter that lives until `idle` after its last increment (failures
    /// that keep coming keep it alive); returns the new count. Atomic per key.
    pub async fn incr_sliding(&self, key: &str, idle: Duration) -> Result<u64, StoreError> {
        self.incr_with(key, idle, true).await
    }

    async fn incr_with(
        &self,
        key: &str,
        window: Duration,
        sliding: bool,
    ) -> Result<u64, StoreError> {
        match self {
            ShortStore::Memory(m) if is_guarded(key) => {
                let now = m.clock.now_ms();
                let fresh = self.entry(1u64.to_be_bytes().to_vec(), window);
                m.guard.update(key, now, |old| {
                    let e = match old {
                        Some(old) => {
                            let n = counter_value(&old.data) + 1;
                            let mut e = if sliding { fresh } else { old.clone() };
                            e.data = Arc::new(n.to_be_bytes().to_vec());
                            e
                        }
                        None => fresh,
                    };
                    let n = counter_value(&e.data);
                    (Some(e), n)
                })
            }
            ShortStore::Memory(m) => {
                let now = m.clock.now_ms();
                let fresh = self.entry(1u64.to_be_bytes().to_vec(), window);
                let e = m
                    .cache
                    .entry(key.to_string())
                    .and_upsert_with(|old| async move {
                        match Self::live(old.map(|e| e.into_value()), now) {
                            Some(old) => {
                                let n = counter_value(&old.data) + 1;
                                let base = if sliding { fresh } else { old };
                                Entry {
                                    data: Arc::new(n.to_be_bytes().to_vec()),
                                    ..base
                                }
                            }
                            None => fresh,
                        }
                    })
                    .await;
                Ok(counter_value(&e.into_value().data))
            }
            ShortStore::Redis(r) => r.incr(key, window, sliding).await,
        }
    }

    /// Current value of a counter (0 when absent or expired).
    pub async fn count(&self, key: &str) -> Result<u64, StoreError> {
        match self {
            ShortStore::Memory(_) => {
                Ok(self.get(key).await?.map(|d| counter_value(&d)).unwrap_or(0))
            }
            ShortStore::Redis(r) => r.count(key).await,
        }
    }

    /// Adds `member` to the set at `key` and extends the set's TTL to `ttl`
    /// (never shortens it).
    pub async fn set_add(&self, key: &str, member: &str, ttl: Duration) -> Result<(), StoreError> {
        if let ShortStore::Redis(r) = self {
            return r.set_add(key, member, ttl).await;
        }
        self.set_update(key, ttl, |set| {
            if !set.iter().any(|m| m == member) {
                set.push(member.to_string());
            }
        })
        .await
    }

    /// Removes `member` from the set at `key`.
    pub async fn set_remove(&self, key: &str, member: &str) -> Result<(), StoreError> {
        if let ShortStore::Redis(r) = self {
            return r.set_remove(key, member).await;
        }
        self.set_update(key, Duration::ZERO, |set| set.retain(|m| m != member))
            .await
    }

    /// Members of the set at `key` (insertion order in memory, sorted in Redis).
    pub async fn set_members(&self, key: &str) -> Result<Vec<String>, StoreError> {
        if let ShortStore::Redis(r) = self {
            return r.set_members(key).await;
        }
        Ok(match self.get(key).await? {
            Some(d) => {
                serde_json::from_slice(&d).map_err(|e| StoreError::Corrupt(e.to_string()))?
            }
            None => Vec::new(),
        })
    }

    /// `ttl` zero keeps the current deadline.
    async fn set_update(
        &self,
        key: &str,
        ttl: Duration,
        f: impl FnOnce(&mut Vec<String>),
    ) -> Result<(), StoreError> {
        match self {
            ShortStore::Memory(m) => {
                let now = m.clock.now_ms();
                let clock = m.clock.clone();
                m.cache
                    .entry(key.to_string())
                    .and_compute_with(|old| async move {
                        let old = Self::live(old.map(|e| e.into_value()), now);
                        let mut set: Vec<String> = old
                            .as_ref()
                            .and_then(|e| serde_json::from_slice(&e.data).ok())
                            .unwrap_or_default();
                        f(&mut set);
                        if set.is_empty() {
                            return Op::Remove;
                        }
                        let data = Arc::new(serde_json::to_vec(&set).unwrap_or_default());
                        let (expires_at_ms, ttl) = match old {
                            Some(o)
                                if ttl.is_zero()
                                    || o.expires_at_ms > now + ttl.as_millis() as u64 =>
                            {
                                (o.expires_at_ms, o.ttl)
                            }
                            _ => (clock.now_ms() + ttl.as_millis() as u64, ttl),
                        };
                        Op::Put(Entry {
                            data,
                            expires_at_ms,
                            ttl,
                        })
                    })
                    .await;
                Ok(())
            }
            // Redis sets are handled by `set_add` / `set_remove` before reaching here.
            ShortStore::Redis(_) => Err(StoreError::Database(
                "internal: set_update is memory-only".into(),
            )),
        }
    }

    /// Live entries whose key starts with `prefix` (metrics: one scan of the store,
    /// so call it on a slow timer, never per request).
    pub async fn count_prefix(&self, prefix: &str) -> Result<u64, StoreError> {
        match self {
            ShortStore::Memory(m) => {
                let now = m.clock.now_ms();
                Ok(m.cache
                    .iter()
                    .filter(|(k, e)| k.starts_with(prefix) && e.expires_at_ms > now)
                    .count() as u64)
            }
            ShortStore::Redis(r) => r.count_prefix(prefix).await,
        }
    }

    pub async fn get_json<T: DeserializeOwned>(&self, key: &str) -> Result<Option<T>, StoreError> {
        match self.get(key).await? {
            Some(d) => serde_json::from_slice(&d)
                .map(Some)
                .map_err(|e| StoreError::Corrupt(e.to_string())),
            None => Ok(None),
        }
    }

    pub async fn put_json<T: Serialize>(
        &self,
        key: &str,
        value: &T,
        ttl: Duration,
    ) -> Result<(), StoreError> {
        let data = serde_json::to_vec(value).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        self.put(key, data, ttl).await
    }

    pub async fn take_json<T: DeserializeOwned>(&self, key: &str) -> Result<Option<T>, StoreError> {
        match self.take(key).await? {
            Some(d) => serde_json::from_slice(&d)
                .map(Some)
                .map_err(|e| StoreError::Corrupt(e.to_string())),
            None => Ok(None),
        }
    }
}

fn counter_value(data: &[u8]) -> u64 {
    data.try_into().map(u64::from_be_bytes).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store() -> (ShortStore, Clock) {
        let clock = Clock::manual(1_000_000);
        (ShortStore::memory(clock.clone(), 1000), clock)
    }

    #[tokio::test]
    async fn put_get_expire_delete() {
        let (s, clock) = store();
        s.put("k", b"v".to_vec(), Duration::from_secs(10))
            .await
            .unwrap();
        assert_eq!(s.get("k").await.unwrap(), Some(b"v".to_vec()));
        clock.advance(Duration::from_secs(10));
        assert_eq!(s.get("k").await.unwrap(), None);
        s.put("k", b"v".to_vec(), Duration::from_secs(10))
            .await
            .unwrap();
        s.delete("k").await.unwrap();
        assert_eq!(s.get("k").await.unwrap(), None);
    }

    #[tokio::test]
    async fn take_is_single_use() {
        let (s, _) = store();
        s.put_json("t", &"x", Duration::from_secs(10))
            .await
            .unwrap();
        assert_eq!(
            s.take_json::<String>("t").await.unwrap().as_deref(),
            Some("x")
        );
        assert_eq!(s.take_json::<String>("t").await.unwrap(), None);
    }

    #[tokio::test]
    async fn counter_window() {
        let (s, clock) = store();
        let w = Duration::from_secs(120);
        assert_eq!(s.incr("c", w).await.unwrap(), 1);
        clock.advance(Duration::from_secs(60));
        assert_eq!(s.incr("c", w).await.unwrap(), 2);
        assert_eq!(s.count("c").await.unwrap(), 2);
        // The window started at the first increment.
        clock.advance(Duration::from_secs(60));
        assert_eq!(s.count("c").await.unwrap(), 0);
        assert_eq!(s.incr("c", w).await.unwrap(), 1);
    }

    #[tokio::test]
    async fn sets() {
        let (s, clock) = store();
        let ttl = Duration::from_secs(100);
        s.set_add("u", "a", ttl).await.unwrap();
        s.set_add("u", "b", ttl).await.unwrap();
        s.set_add("u", "a", ttl).await.unwrap();
        assert_eq!(s.set_members("u").await.unwrap(), vec!["a", "b"]);
        s.set_remove("u", "a").await.unwrap();
        assert_eq!(s.set_members("u").await.unwrap(), vec!["b"]);
        clock.advance(ttl);
        assert!(s.set_members("u").await.unwrap().is_empty());
    }
}
