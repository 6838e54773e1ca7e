//! Body limits: SOAP bodies are read whole up to a cap; uploads are counted while
//! they stream; and the memory of the bodies being read is bounded for everyone
//! together ([`BodyLimits`]): a global budget, a smaller share of it for clients
//! without a session (taken at once or refused, never waited for), and a few reads at
//! once per client address for them.

use super::BoxError;
use crate::config::LimitsConfig;
use bytes::{Bytes, BytesMut};
use http_body::{Body as HttpBody, Frame, SizeHint};
use http_body_util::BodyExt;
use parking_lot::Mutex;
use std::collections::HashMap;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Why a body could not be read whole.
#[derive(Debug, thiserror::Error)]
pub enum CollectError {
    /// Over the limit; carries the first bytes read (to sniff the format).
    #[error("body over the limit")]
    TooLarge(Bytes),
    #[error("client too slow")]
    Timeout,
    #[error("client body error")]
    Client,
}

/// Reads `body` whole, stopping (without reading further) as soon as it exceeds `cap`.
pub async fn collect_capped<B>(
    body: B,
    cap: usize,
    timeout: Duration,
) -> Result<Bytes, CollectError>
where
    B: HttpBody<Data = Bytes> + Unpin,
{
    let read = async move {
        let mut body = body;
        let mut buf = BytesMut::new();
        while let Some(frame) = body.frame().await {
            let frame = frame.map_err(|_| CollectError::Client)?;
            if let Ok(data) = frame.into_data() {
                if buf.len() + data.len() > cap {
                    let mut head = buf;
                    head.extend_from_slice(&data[..data.len().min(4096)]);
                    head.truncate(4096);
                    return Err(CollectError::TooLarge(head.freeze()));
                }
                buf.extend_from_slice(&data);
            }
        }
        Ok(buf.freeze())
    };
    tokio::time::timeout(timeout, read)
        .await
        .map_err(|_| CollectError::Timeout)?
}

/// Why [`read_into`] stopped.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("client body error")]
    Client,
    /// The body memory budget has no room for it.
    #[error("body memory budget exhausted")]
    Busy,
}

/// Budgets are counted in KiB (a semaphore takes at most `u32` permits at once).
fn kib(bytes: usize) -> u32 {
    u32::try_from(bytes.div_ceil(1024)).unwrap_or(u32::MAX)
}

/// The client an address stands for: IPv4 as is, IPv6 by its /64 (one site, one
/// customer line: an attacker holds a whole /64 as easily as one address).
fn client_key(ip: IpAddr) -> IpAddr {
    match ip.to_canonical() {
        IpAddr::V6(v6) => {
            let s = v6.segments();
            IpAddr::from([s[0], s[1], s[2], s[3], 0, 0, 0, 0])
        }
        v4 => v4,
    }
}

/// Memory and concurrency limits on request bodies, shared by all connections.
pub struct BodyLimits {
    all: Arc<Semaphore>,
    preauth: Arc<Semaphore>,
    readers: Mutex<HashMap<IpAddr, usize>>,
    per_client: usize,
}

impl BodyLimits {
    pub fn new(cfg: &LimitsConfig) -> Arc<Self> {
        Arc::new(BodyLimits {
            all: Arc::new(Semaphore::new(kib(cfg.body_memory_bytes) as usize)),
            preauth: Arc::new(Semaphore::new(kib(cfg.preauth_memory_bytes) as usize)),
            readers: Mutex::new(HashMap::new()),
            per_client: cfg.preauth_requests_per_client,
        })
    }

    /// One of the few body reads a client without a session may have at once;
    /// `None` when it already has its share. Released on drop.
    pub fn client_slot(self: &Arc<Self>, ip: IpAddr) -> Option<ClientSlot> {
        let key = client_key(ip);
        let mut readers = self.readers.lock();
        let n = readers.entry(key).or_insert(0);
        if *n >= self.per_client {
            return None;
        }
        *n += 1;
        Some(ClientSlot {
            limits: self.clone(),
            key,
        })
    }

    /// Room for `bytes` of a body without a session, from its share and from the
    /// global budget, at once or not at all. Such a reservation never grows.
    pub fn reserve_preauth(self: &Arc<Self>, bytes: usize) -> Option<Reservation> {
        let n = kib(bytes);
        let preauth = self.preauth.clone().try_acquire_many_owned(n).ok()?;
        let all = self.all.clone().try_acquire_many_owned(n).ok()?;
        Some(Reservation {
            limits: self.clone(),
            all: Some(all),
            preauth: Some(preauth),
            kib: n,
            waiting: false,
        })
    }

    /// An empty reservation for a body with a session; it grows as the body is read,
    /// waiting for room in the global budget.
    pub fn reserve(self: &Arc<Self>) -> Reservation {
        Reservation {
            limits: self.clone(),
            all: None,
            preauth: None,
            kib: 0,
            waiting: false,
        }
    }
}

/// A body read counted against its client's share; released on drop.
pub struct ClientSlot {
    limits: Arc<BodyLimits>,
    key: IpAddr,
}

impl Drop for ClientSlot {
    fn drop(&mut self) {
        let mut readers = self.limits.readers.lock();
        if let Some(n) = readers.get_mut(&self.key) {
            *n -= 1;
            if *n == 0 {
                readers.remove(&self.key);
            }
        }
    }
}

/// Room taken in the body budgets for one request; given back on drop, so keep it
/// as long as the bytes it covers are held (until the store has the request).
pub struct Reservation {
    limits: Arc<BodyLimits>,
    all: Option<OwnedSemaphorePermit>,
    preauth: Option<OwnedSemaphorePermit>,
    kib: u32,
    /// Set while waiting for room: a read cut short then was starved, not slow.
    waiting: bool,
}

impl Reservation {
    /// Whether the last growth was still waiting for room (when a timeout ended it).
    pub fn was_waiting(&self) -> bool {
        self.waiting
    }

    /// Makes room for `bytes` in all. A reservation without a session does not grow
    /// ([`ReadError::Busy`]); one with a session waits for room.
    pub async fn grow_to(&mut self, bytes: usize) -> Result<(), ReadError> {
        let want = kib(bytes);
        if want <= self.kib {
            return Ok(());
        }
        if self.preauth.is_some() {
            return Err(ReadError::Busy);
        }
        self.waiting = true;
        let more = self
            .limits
            .all
            .clone()
            .acquire_many_owned(want - self.kib)
            .await
            .map_err(|_| ReadError::Busy)?;
        self.waiting = false;
        match &mut self.all {
            Some(p) => p.merge(more),
            None => self.all = Some(more),
        }
        self.kib = want;
        Ok(())
    }

    /// The request turned out to have a session: its bytes leave the pre-session
    /// share (they stay in the global budget) and it may grow from now on.
    pub fn into_session(mut self) -> Reservation {
        self.preauth = None;
        self
    }
}

/// Reads frames of `body` into `buf` until the body ends (`Ok(true)`) or `buf` holds
/// more than `cap` bytes (`Ok(false)`; the last frame is kept whole), keeping
/// `reservation` as large as `buf`. No timeout here: the caller bounds the whole read.
pub async fn read_into<B>(
    body: &mut B,
    buf: &mut BytesMut,
    cap: usize,
    reservation: &mut Reservation,
) -> Result<bool, ReadError>
where
    B: HttpBody<Data = Bytes> + Unpin,
{
    while buf.len() <= cap {
        let Some(frame) = body.frame().await else {
            return Ok(true);
        };
        let frame = frame.map_err(|_| ReadError::Client)?;
        if let Ok(data) = frame.into_data() {
            reservation.grow_to(buf.len() + data.len()).await?;
            buf.extend_from_slice(&data);
        }
    }
    Ok(false)
}

/// Error a [`LimitedBody`] yields once over its limit.
#[derive(Debug, thiserror::Error)]
#[error("body exceeds {0} bytes")]
pub struct LimitExceeded(pub u64);

/// Streams an inner body, failing once more than `limit` bytes went through.
/// `exceeded` is set so the handler can answer 413 instead of 502.
pub struct LimitedBody<B> {
    inner: B,
    seen: u64,
    limit: u64,
    exceeded: Arc<AtomicBool>,
}

impl<B> LimitedBody<B> {
    pub fn new(inner: B, limit: u64, exceeded: Arc<AtomicBool>) -> Self {
        LimitedBody {
            inner,
            seen: 0,
            limit,
            exceeded,
        }
    }
}

impl<B> HttpBody for LimitedBody<B>
where
    B: HttpBody<Data = Bytes> + Unpin,
    B::Error: Into<BoxError>,
{
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = &mut *self;
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(d) = frame.data_ref() {
                    this.seen += d.len() as u64;
                    if this.seen > this.limit {
                        this.exceeded.store(true, Ordering::Relaxed);
                        return Poll::Ready(Some(Err(Box::new(LimitExceeded(this.limit)))));
                    }
                }
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Ready(Some(Err(e))) => Poll::Ready(Some(Err(e.into()))),
            other => other.map(|_| None),
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::Full;

    #[tokio::test]
    async fn cap_is_enforced() {
        let body = Full::new(Bytes::from(vec![b'x'; 10]));
        let ok = collect_capped(body.clone(), 10, Duration::from_secs(1)).await;
        assert_eq!(ok.unwrap().len(), 10);
        let err = collect_capped(body, 9, Duration::from_secs(1)).await;
        assert!(matches!(err, Err(CollectError::TooLarge(_))));
    }

    #[tokio::test]
    async fn limited_body_flags() {
        let flag = Arc::new(AtomicBool::new(false));
        let body = LimitedBody::new(Full::new(Bytes::from(vec![0u8; 5])), 4, flag.clone());
        assert!(body.collect().await.is_err());
        assert!(flag.load(Ordering::Relaxed));
    }

    #[tokio::test]
    async fn preauth_reads_take_their_share_at_once_or_not_at_all() {
        let cfg = LimitsConfig {
            body_memory_bytes: 64 * 1024,
            preauth_memory_bytes: 16 * 1024,
            preauth_requests_per_client: 2,
            ..LimitsConfig::default()
        };
        let limits = BodyLimits::new(&cfg);
        let a = limits.reserve_preauth(10 * 1024).expect("room");
        assert!(
            limits.reserve_preauth(10 * 1024).is_none(),
            "share exhausted"
        );
        let mut a = a;
        assert!(matches!(a.grow_to(11 * 1024).await, Err(ReadError::Busy)));
        drop(a);
        let b = limits
            .reserve_preauth(16 * 1024)
            .expect("given back on drop");
        // With a session the bytes leave the pre-session share and may grow.
        let mut b = b.into_session();
        assert!(limits.reserve_preauth(16 * 1024).is_some());
        b.grow_to(40 * 1024).await.unwrap();
        let mut c = limits.reserve();
        let waiting = tokio::time::timeout(Duration::from_millis(50), c.grow_to(40 * 1024));
        assert!(
            waiting.await.is_err(),
            "waits for room in the global budget"
        );
        drop(b);
        c.grow_to(40 * 1024).await.unwrap();
    }

    #[test]
    fn a_few_reads_per_client_an_ipv6_64_is_one_client() {
        let limits = BodyLimits::new(&LimitsConfig {
            preauth_requests_per_client: 2,
            ..LimitsConfig::default()
        });
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        let one = limits.client_slot(ip("2001:db8:1:2::1")).unwrap();
        let _two = limits.client_slot(ip("2001:db8:1:2:ffff::9")).unwrap();
        assert!(limits.client_slot(ip("2001:db8:1:2::3")).is_none());
        assert!(limits.client_slot(ip("2001:db8:1:3::1")).is_some());
        let _v4 = limits.client_slot(ip("192.0.2.1")).unwrap();
        drop(one);
        assert!(limits.client_slot(ip("2001:db8:1:2::3")).is_some());
    }
}
