//! Body size limits: SOAP bodies are read whole up to a cap; uploads are counted
//! while they stream.

use super::BoxError;
use bytes::{Bytes, BytesMut};
use http_body::{Body as HttpBody, Frame, SizeHint};
use http_body_util::BodyExt;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

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
}
