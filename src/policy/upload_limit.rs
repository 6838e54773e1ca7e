//! Attachment size limit (M4): a byte counter the proxy wraps around
//! `/service/upload` bodies, and the upload servlet's own error answer.
//!
//! The servlet answers errors with HTTP 200 and the status in the body
//! (`413,'client_token'`, zimbra-api §4.3), so the webmail shows its usual message.

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use std::pin::Pin;
use std::task::{Context, Poll};
use thiserror::Error;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
#[error("téléversement trop volumineux (limite {limit} octets)")]
pub struct TooLarge {
    pub limit: u64,
}

/// Counts bytes and fails once `limit` is exceeded.
#[derive(Debug, Clone, Copy)]
pub struct ByteCounter {
    pub limit: u64,
    pub seen: u64,
}

impl ByteCounter {
    pub fn new(limit: u64) -> Self {
        ByteCounter { limit, seen: 0 }
    }

    pub fn add(&mut self, n: usize) -> Result<(), TooLarge> {
        self.seen = self.seen.saturating_add(n as u64);
        if self.seen > self.limit {
            Err(TooLarge { limit: self.limit })
        } else {
            Ok(())
        }
    }

    /// Refuses up front when the declared `Content-Length` is already too big.
    pub fn check_declared(&self, content_length: Option<u64>) -> Result<(), TooLarge> {
        match content_length {
            Some(n) if n > self.limit => Err(TooLarge { limit: self.limit }),
            _ => Ok(()),
        }
    }
}

/// Sum of attachment sizes against the limit (the check at send).
pub fn check_total(sizes: &[u64], limit: u64) -> Result<u64, TooLarge> {
    let total = sizes.iter().fold(0u64, |a, s| a.saturating_add(*s));
    if total > limit {
        Err(TooLarge { limit })
    } else {
        Ok(total)
    }
}

/// Error of a `LimitedBody`: the limit, or the inner body's error.
#[derive(Debug, Error)]
pub enum LimitedBodyError<E> {
    #[error(transparent)]
    TooLarge(TooLarge),
    #[error("corps de requête : {0}")]
    Inner(E),
}

/// A request body that errors as soon as more than `limit` bytes have passed.
pub struct LimitedBody<B> {
    inner: B,
    counter: ByteCounter,
}

impl<B> LimitedBody<B> {
    pub fn new(inner: B, limit: u64) -> Self {
        LimitedBody {
            inner,
            counter: ByteCounter::new(limit),
        }
    }
}

impl<B> Body for LimitedBody<B>
where
    B: Body<Data = Bytes> + Unpin,
{
    type Data = Bytes;
    type Error = LimitedBodyError<B::Error>;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        match Pin::new(&mut self.inner).poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(data) = frame.data_ref() {
                    let n = data.len();
                    if let Err(e) = self.counter.add(n) {
                        return Poll::Ready(Some(Err(LimitedBodyError::TooLarge(e))));
                    }
                }
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Ready(Some(Err(e))) => Poll::Ready(Some(Err(LimitedBodyError::Inner(e)))),
            other => other.map(|o| o.map(|r| r.map_err(LimitedBodyError::Inner))),
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// The servlet's `requestId`, kept only when it matches `[a-zA-Z0-9_.-]+` (as Zimbra).
fn client_token(request_id: Option<&str>) -> String {
    match request_id {
        Some(r)
            if !r.is_empty()
                && r.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b)) =>
        {
            format!("'{r}'")
        }
        _ => "'null'".into(),
    }
}

/// Body of the "413 too large" answer of `/service/upload` for the request's `fmt`
/// (`raw`, `extended`, `raw,extended` or the default HTML page). Send it with HTTP 200
/// and `Content-Type: text/html; charset=utf-8`, like the servlet.
pub fn upload_error_body(status: u16, fmt: Option<&str>, request_id: Option<&str>) -> String {
    let tok = client_token(request_id);
    let raw = fmt.is_some_and(|f| {
        f.split(',')
            .any(|p| p.trim() == "raw" || p.trim() == "extended")
    });
    if raw {
        format!("{status},{tok}\n")
    } else {
        format!(
            "<html><head><script language='javascript'>\nfunction doit() {{ window.parent._uploadManager.loaded({status},{tok}); }}\n</script></head><body onload='doit()'></body></html>\n"
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::{BodyExt, Full, StreamBody};

    #[test]
    fn counter_and_totals() {
        let mut c = ByteCounter::new(10);
        assert!(c.add(10).is_ok());
        assert_eq!(c.add(1), Err(TooLarge { limit: 10 }));
        assert!(c.check_declared(Some(11)).is_err());
        assert!(c.check_declared(None).is_ok());
        assert_eq!(check_total(&[5, 5], 10), Ok(10));
        assert!(check_total(&[5, 6], 10).is_err());
        assert!(check_total(&[u64::MAX, 1], 10).is_err());
    }

    #[tokio::test]
    async fn limited_body_stops_streaming() {
        let chunks: Vec<Result<Frame<Bytes>, std::convert::Infallible>> = (0..4)
            .map(|_| Ok(Frame::data(Bytes::from(vec![0u8; 4]))))
            .collect();
        let body = LimitedBody::new(StreamBody::new(futures_util::stream::iter(chunks)), 10);
        let err = body.collect().await.unwrap_err();
        assert!(matches!(
            err,
            LimitedBodyError::TooLarge(TooLarge { limit: 10 })
        ));
        let ok = LimitedBody::new(Full::new(Bytes::from_static(b"0123456789")), 10);
        assert_eq!(ok.collect().await.unwrap().to_bytes().len(), 10);
    }

    #[test]
    fn servlet_error_formats() {
        assert_eq!(
            upload_error_body(413, Some("raw"), Some("c1")),
            "413,'c1'\n"
        );
        assert_eq!(
            upload_error_body(413, Some("raw,extended"), Some("bad'id")),
            "413,'null'\n"
        );
        let html = upload_error_body(413, None, Some("c1"));
        assert!(
            html.contains("window.parent._uploadManager.loaded(413,'c1');"),
            "{html}"
        );
    }
}
