//! Answer cache (D4): fresh answers for `cache_ttl_s`, single-flight loads, and stale
//! answers kept for `cache_stale_s` to be served only while the directory is down.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use moka::future::Cache;

use super::{DirectoryError, SearchOutcome};

#[derive(Clone)]
pub struct AnswerCache {
    fresh: Cache<String, Arc<SearchOutcome>>,
    stale: Cache<String, Arc<SearchOutcome>>,
}

/// Where an answer came from (for tests, metrics and logs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// Fresh from the cache or loaded just now.
    Live,
    /// The backend failed; an older answer was served.
    Stale,
}

impl AnswerCache {
    pub fn new(ttl: Duration, stale: Duration, capacity: u64) -> Self {
        AnswerCache {
            fresh: Cache::builder()
                .max_capacity(capacity)
                .time_to_live(ttl)
                .build(),
            stale: Cache::builder()
                .max_capacity(capacity)
                .time_to_live(stale.max(ttl))
                .build(),
        }
    }

    /// The cached answer for `key`, or `load()` (one load per key at a time; concurrent
    /// callers wait for it). Failures are not cached; a stale answer is served instead.
    pub async fn get_or_load<F>(
        &self,
        key: String,
        load: F,
    ) -> Result<(Arc<SearchOutcome>, Source), DirectoryError>
    where
        F: Future<Output = Result<SearchOutcome, DirectoryError>>,
    {
        let stale = self.stale.clone();
        let k = key.clone();
        let res = self
            .fresh
            .try_get_with(key.clone(), async move {
                let v = Arc::new(load.await?);
                stale.insert(k, v.clone()).await;
                Ok::<_, DirectoryError>(v)
            })
            .await;
        match res {
            Ok(v) => Ok((v, Source::Live)),
            Err(e) => match self.stale.get(&key).await {
                Some(v) => Ok((v, Source::Stale)),
                None => Err((*e).clone()),
            },
        }
    }

    pub fn invalidate_all(&self) {
        self.fresh.invalidate_all();
        self.stale.invalidate_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    fn outcome(n: usize) -> SearchOutcome {
        SearchOutcome {
            entries: vec![Default::default(); n],
            truncated: false,
        }
    }

    #[tokio::test]
    async fn single_flight_and_stale_on_error() {
        let c = AnswerCache::new(Duration::from_millis(50), Duration::from_secs(60), 100);
        let calls = Arc::new(AtomicUsize::new(0));
        let load = |calls: Arc<AtomicUsize>| async move {
            calls.fetch_add(1, Ordering::SeqCst);
            tokio::time::sleep(Duration::from_millis(20)).await;
            Ok(outcome(2))
        };
        let (a, b) = tokio::join!(
            c.get_or_load("k".into(), load(calls.clone())),
            c.get_or_load("k".into(), load(calls.clone()))
        );
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        assert_eq!(a.unwrap().0.entries.len(), 2);
        assert_eq!(b.unwrap().1, Source::Live);
        tokio::time::sleep(Duration::from_millis(80)).await;
        let down = async { Err(DirectoryError::Unavailable("down".into())) };
        let (v, src) = c.get_or_load("k".into(), down).await.unwrap();
        assert_eq!((v.entries.len(), src), (2, Source::Stale));
        let down = async { Err(DirectoryError::Unavailable("down".into())) };
        assert!(c.get_or_load("other".into(), down).await.is_err());
    }
}
