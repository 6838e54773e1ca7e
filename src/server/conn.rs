//! Per-connection facts, and an HTTP/1 framing watcher.
//!
//! hyper accepts a request carrying both `Content-Length` and `Transfer-Encoding`
//! (it uses chunked, drops Content-Length and closes the connection afterwards), and
//! keeps one of several equal `Content-Length` fields, so the handler sees neither.
//! [`FramingWatch`] reads the same bytes as hyper and parses each request head with
//! hyper's own parser (`httparse`, default configuration: bare-LF line endings
//! accepted, obs-fold refused, at most 100 fields), then follows the body framing
//! with hyper's chunked rules, so it sees every head exactly as hyper does. A
//! request with both framings, several `Content-Length` fields or a `Content-Length`
//! list is flagged and the router answers 400. The watch never changes the bytes. It
//! stops watching only where hyper refuses the input itself (hyper then answers 400
//! and closes) or leaves HTTP/1 (HTTP/2 preface, CONNECT); where its own limit would
//! stop it first (a head over [`MAX_HEAD_BYTES`], hyper's read-buffer limit too) it
//! flags the connection instead: fail closed. Over TLS it sits inside the TLS
//! stream (`listener.rs`), where the HTTP bytes are.

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// What the router knows about the connection a request came on.
#[derive(Debug, Clone)]
pub struct ConnInfo {
    pub peer: SocketAddr,
    pub tls: bool,
    ambiguous_framing: Arc<AtomicBool>,
}

impl ConnInfo {
    pub fn new(peer: SocketAddr, tls: bool, ambiguous_framing: Arc<AtomicBool>) -> Self {
        ConnInfo {
            peer,
            tls,
            ambiguous_framing,
        }
    }

    /// A request on this connection was framed ambiguously (see [`FramingWatch`]).
    pub fn smuggling_suspected(&self) -> bool {
        self.ambiguous_framing.load(Ordering::Relaxed)
    }
}

/// Largest request head; hyper's HTTP/1 read buffer is set to the same size
/// (`listener.rs`), so a head the watch cannot hold whole is one hyper refuses too.
pub const MAX_HEAD_BYTES: usize = 64 * 1024;
/// hyper's default limit on header fields (`DEFAULT_MAX_HEADERS`).
const MAX_HEADERS: usize = 100;

/// Where the watch is in the byte stream; the chunked states are hyper's own.
#[derive(Debug)]
enum State {
    Head(Vec<u8>),
    Body(u64),
    ChunkStart,
    ChunkSize,
    ChunkSizeLws,
    ChunkExtension,
    /// The size line ends; `true` for the last chunk.
    ChunkSizeLf(bool),
    ChunkData(u64),
    ChunkDataCr,
    ChunkDataLf,
    Trailer,
    TrailerLf,
    EndCr,
    EndLf,
    Off,
}

/// Wraps a connection's reader to watch HTTP/1 framing (see module docs).
pub struct FramingWatch<IO> {
    inner: IO,
    state: State,
    /// The chunk size being read (overflow is hyper's error too).
    chunk_size: u64,
    flag: Arc<AtomicBool>,
}

impl<IO> FramingWatch<IO> {
    pub fn new(inner: IO, flag: Arc<AtomicBool>) -> Self {
        FramingWatch {
            inner,
            state: State::Head(Vec::new()),
            chunk_size: 0,
            flag,
        }
    }

    fn flag_and_stop(&self) -> State {
        self.flag.store(true, Ordering::Relaxed);
        State::Off
    }

    fn feed(&mut self, mut data: &[u8]) {
        while !data.is_empty() {
            let state = std::mem::replace(&mut self.state, State::Off);
            self.state = match state {
                State::Off => return,
                State::Head(mut buf) => {
                    // Empty lines before a request line are skipped (hyper too).
                    if buf.is_empty() {
                        let skip = data.iter().take_while(|b| matches!(b, b'\r' | b'\n'));
                        data = &data[skip.count()..];
                        if data.is_empty() {
                            self.state = State::Head(buf);
                            return;
                        }
                    }
                    let before = buf.len();
                    buf.extend_from_slice(data);
                    // A head ends at a LF: parse again only when one arrived.
                    let parsed = if data.contains(&b'\n') {
                        self.parse_head(&buf)
                    } else {
                        None
                    };
                    match parsed {
                        Some(Ok((len, next))) => {
                            data = &data[len - before..];
                            next
                        }
                        Some(Err(stop)) => stop,
                        None if buf.len() > MAX_HEAD_BYTES => self.flag_and_stop(),
                        None => {
                            self.state = State::Head(buf);
                            return;
                        }
                    }
                }
                State::Body(n) => {
                    let k = usize::try_from(n).unwrap_or(usize::MAX).min(data.len());
                    data = &data[k..];
                    match n - k as u64 {
                        0 => State::Head(Vec::new()),
                        left => State::Body(left),
                    }
                }
                State::ChunkData(n) => {
                    let k = usize::try_from(n).unwrap_or(usize::MAX).min(data.len());
                    data = &data[k..];
                    match n - k as u64 {
                        0 => State::ChunkDataCr,
                        left => State::ChunkData(left),
                    }
                }
                byte_state => {
                    let b = data[0];
                    data = &data[1..];
                    self.chunked_byte(byte_state, b)
                }
            };
        }
    }

    /// One byte of chunked framing, as hyper's decoder reads it; `Off` where hyper
    /// fails the body (it then closes the connection).
    fn chunked_byte(&mut self, state: State, b: u8) -> State {
        let hex = (b as char).to_digit(16).map(u64::from);
        match (state, b, hex) {
            (State::ChunkStart, _, Some(d)) => {
                self.chunk_size = d;
                State::ChunkSize
            }
            (State::ChunkSize, _, Some(d)) => {
                match self
                    .chunk_size
                    .checked_mul(16)
                    .and_then(|s| s.checked_add(d))
                {
                    Some(s) => {
                        self.chunk_size = s;
                        State::ChunkSize
                    }
                    None => State::Off,
                }
            }
            (State::ChunkSize | State::ChunkSizeLws, b'\t' | b' ', _) => State::ChunkSizeLws,
            (State::ChunkSize | State::ChunkSizeLws, b';', _) => State::ChunkExtension,
            (State::ChunkSize | State::ChunkSizeLws | State::ChunkExtension, b'\r', _) => {
                State::ChunkSizeLf(self.chunk_size == 0)
            }
            (State::ChunkExtension, b'\n', _) => State::Off,
            (State::ChunkExtension, _, _) => State::ChunkExtension,
            (State::ChunkSizeLf(true), b'\n', _) => State::EndCr,
            (State::ChunkSizeLf(false), b'\n', _) => State::ChunkData(self.chunk_size),
            (State::ChunkDataCr, b'\r', _) => State::ChunkDataLf,
            (State::ChunkDataLf, b'\n', _) => State::ChunkStart,
            (State::EndCr, b'\r', _) => State::EndLf,
            (State::Trailer, b'\r', _) => State::TrailerLf,
            (State::EndCr | State::Trailer, _, _) => State::Trailer,
            (State::TrailerLf, b'\n', _) => State::EndCr,
            (State::EndLf, b'\n', _) => State::Head(Vec::new()),
            _ => State::Off,
        }
    }

    /// Parses a head with hyper's parser. `None`: incomplete. `Some(Ok((len, next)))`:
    /// the head is `buf[..len]` and `next` follows its body framing. `Some(Err(s))`:
    /// stop watching (hyper refuses the head, or the request was flagged).
    fn parse_head(&self, buf: &[u8]) -> Option<Result<(usize, State), State>> {
        let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
        let mut req = httparse::Request::new(&mut headers);
        let len = match req.parse(buf) {
            Ok(httparse::Status::Complete(len)) => len,
            Ok(httparse::Status::Partial) => return None,
            // hyper answers 400/431 and closes the connection.
            Err(_) => return Some(Err(State::Off)),
        };
        if req.method == Some("CONNECT") {
            return Some(Err(State::Off));
        }
        let field = |name: &'static str| {
            req.headers
                .iter()
                .filter(move |h| h.name.eq_ignore_ascii_case(name))
                .map(|h| h.value)
        };
        let lengths: Vec<&[u8]> = field("content-length").collect();
        let last_te = field("transfer-encoding").next_back();
        if (last_te.is_some() && !lengths.is_empty())
            || lengths.len() > 1
            || lengths.iter().any(|v| v.contains(&b','))
        {
            return Some(Err(self.flag_and_stop()));
        }
        let next = match (last_te, lengths.first()) {
            // hyper: chunked must be the last coding of the last field, else 400.
            (Some(te), _) if ends_in_chunked(te) => State::ChunkStart,
            (Some(_), _) => return Some(Err(State::Off)),
            (None, Some(cl)) => match digits(cl) {
                Some(0) => State::Head(Vec::new()),
                Some(n) => State::Body(n),
                None => return Some(Err(State::Off)),
            },
            (None, None) => State::Head(Vec::new()),
        };
        Some(Ok((len, next)))
    }
}

fn ends_in_chunked(te: &[u8]) -> bool {
    std::str::from_utf8(te).is_ok_and(|te| {
        te.rsplit(',')
            .next()
            .is_some_and(|c| c.trim().eq_ignore_ascii_case("chunked"))
    })
}

/// hyper's `Content-Length` reading: ASCII digits only, no sign, no overflow.
fn digits(v: &[u8]) -> Option<u64> {
    if v.is_empty() {
        return None;
    }
    v.iter().try_fold(0u64, |acc, b| {
        let d = (*b as char).to_digit(10)?;
        acc.checked_mul(10)?.checked_add(u64::from(d))
    })
}

impl<IO: AsyncRead + Unpin> AsyncRead for FramingWatch<IO> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let res = Pin::new(&mut self.inner).poll_read(cx, buf);
        if let Poll::Ready(Ok(())) = res {
            let this = &mut *self;
            if !matches!(this.state, State::Off) {
                this.feed(&buf.filled()[before..]);
            }
        }
        res
    }
}

impl<IO: AsyncWrite + Unpin> AsyncWrite for FramingWatch<IO> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn watch(chunks: &[&[u8]]) -> bool {
        let flag = Arc::new(AtomicBool::new(false));
        let mut w = FramingWatch::new((), flag.clone());
        for c in chunks {
            w.feed(c);
        }
        flag.load(Ordering::Relaxed)
    }

    #[test]
    fn flags_cl_and_te_on_any_request() {
        assert!(watch(&[
            b"POST / HTTP/1.1\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n"
        ]));
        let second = b"GET / HTTP/1.1\r\nHost: a\r\n\r\nPOST / HTTP/1.1\r\nContent-Length: 4\r\n\r\nabcdPOST /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nabcd\r\n0\r\n\r\nPOST / HTTP/1.1\r\ntransfer-encoding: chunked\r\ncontent-length: 1\r\n\r\n";
        for split in [1, 7, 40, 80, 120] {
            let (a, b) = second.split_at(split.min(second.len()));
            assert!(watch(&[a, b]), "split {split}");
        }
    }

    #[test]
    fn bodies_do_not_confuse_it() {
        let body = b"Content-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n";
        let mut req =
            format!("POST / HTTP/1.1\r\nContent-Length: {}\r\n\r\n", body.len()).into_bytes();
        req.extend_from_slice(body);
        req.extend_from_slice(b"GET / HTTP/1.1\r\n\r\n");
        assert!(!watch(&[&req]));
        let chunked = b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n31\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n\r\n0\r\n\r\n";
        assert!(!watch(&[chunked]));
    }

    #[test]
    fn heads_are_read_as_hyper_reads_them() {
        // Bare LF, mixed endings, case and whitespace variants, leading blank lines.
        for head in [
            &b"POST / HTTP/1.1\nHost: a\nContent-Length: 3\nTransfer-Encoding: chunked\n\n"[..],
            b"POST / HTTP/1.1\r\nHost: a\nContent-Length: 3\r\nTransfer-Encoding: chunked\n\r\n",
            b"\r\n\nPOST / HTTP/1.1\nTRANSFER-ENCODING: CHUNKED\ncontent-LENGTH:3\n\n",
            b"POST / HTTP/1.1\nContent-Length: 3\nTransfer-Encoding:\tgzip, Chunked \n\n",
            b"POST / HTTP/1.1\nContent-Length: 3\nContent-Length: 3\n\nabc",
            b"POST / HTTP/1.1\nContent-Length: 3, 3\n\nabc",
        ] {
            for split in [1, 9, 30, head.len() - 1] {
                let (a, b) = head.split_at(split.min(head.len()));
                assert!(
                    watch(&[a, b]),
                    "{:?} split {split}",
                    String::from_utf8_lossy(head)
                );
            }
        }
        // After a bare-LF request with a body, on the same connection.
        let pipelined = b"POST /x HTTP/1.1\nContent-Length: 3\n\nabcPOST / HTTP/1.1\nTransfer-Encoding: chunked\nContent-Length: 5\n\n";
        assert!(watch(&[pipelined]));
    }

    #[test]
    fn large_heads_are_followed_whole_and_larger_ones_flagged() {
        let mut head = b"POST / HTTP/1.1\n".to_vec();
        for i in 0..90 {
            head.extend_from_slice(format!("X-Pad-{i}: {}\n", "p".repeat(600)).as_bytes());
        }
        head.extend_from_slice(b"Content-Length: 1\nTransfer-Encoding: chunked\n\n");
        assert!(head.len() > 50_000 && head.len() < MAX_HEAD_BYTES);
        let chunks: Vec<&[u8]> = head.chunks(1000).collect();
        assert!(watch(&chunks));
        let mut huge = b"GET / HTTP/1.1\nX: ".to_vec();
        huge.extend(std::iter::repeat_n(b'a', MAX_HEAD_BYTES + 10));
        assert!(watch(&[&huge]), "a head the watch cannot hold is flagged");
    }

    #[test]
    fn chunked_bodies_with_trailers_keep_the_watch_in_step() {
        let req = b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3;ext=1\r\nab\n\r\n0\r\nX-T: 1\r\n\r\nGET / HTTP/1.1\nContent-Length: 1\nTransfer-Encoding: chunked\n\n";
        assert!(watch(&[req]));
        let clean = b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n\n\n\r\n0\r\n\r\nGET / HTTP/1.1\nHost: a\n\n";
        assert!(!watch(&[clean]));
        // Refused by hyper itself (obs-fold, bad length): not flagged, hyper says 400.
        assert!(!watch(&[b"GET / HTTP/1.1\nX: a\n b\n\n"]));
        assert!(!watch(&[b"POST / HTTP/1.1\nContent-Length: +3\n\nabc"]));
    }
}
