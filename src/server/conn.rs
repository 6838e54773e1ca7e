//! Per-connection facts, and an HTTP/1 framing watcher.
//!
//! hyper accepts a request carrying both `Content-Length` and `Transfer-Encoding`
//! (it uses chunked, drops Content-Length and closes the connection afterwards), so
//! the handler cannot see it. [`FramingWatch`] reads the same bytes as hyper,
//! follows HTTP/1 message framing, and flags such a request so the router answers
//! 400. It never changes the bytes; on anything it does not understand (HTTP/2
//! preface, malformed input) it stops watching and hyper's own checks apply.

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

    /// A request on this connection had both Content-Length and Transfer-Encoding.
    pub fn smuggling_suspected(&self) -> bool {
        self.ambiguous_framing.load(Ordering::Relaxed)
    }
}

const MAX_HEAD: usize = 64 * 1024;

#[derive(Debug)]
enum State {
    Head(Vec<u8>),
    Body(u64),
    ChunkSize(Vec<u8>),
    ChunkData(u64),
    ChunkCrlf(u8),
    Trailers(Vec<u8>),
    Off,
}

/// Wraps a connection's reader to watch HTTP/1 framing (see module docs).
pub struct FramingWatch<IO> {
    inner: IO,
    state: State,
    flag: Arc<AtomicBool>,
}

impl<IO> FramingWatch<IO> {
    pub fn new(inner: IO, flag: Arc<AtomicBool>) -> Self {
        FramingWatch {
            inner,
            state: State::Head(Vec::new()),
            flag,
        }
    }

    fn feed(&mut self, mut data: &[u8]) {
        while !data.is_empty() {
            let state = std::mem::replace(&mut self.state, State::Off);
            self.state = match state {
                State::Off => return,
                State::Head(mut buf) => {
                    // Blank lines before a request line are allowed.
                    if buf.is_empty() {
                        let skip = data
                            .iter()
                            .take_while(|b| **b == b'\r' || **b == b'\n')
                            .count();
                        data = &data[skip..];
                        if data.is_empty() {
                            self.state = State::Head(buf);
                            return;
                        }
                    }
                    let (taken, done) = take_until(&mut buf, data, b"\r\n\r\n");
                    data = &data[taken..];
                    if !done {
                        if buf.len() > MAX_HEAD {
                            State::Off
                        } else {
                            State::Head(buf)
                        }
                    } else {
                        self.after_head(&buf)
                    }
                }
                State::Body(n) => {
                    let k = (n as usize).min(data.len());
                    data = &data[k..];
                    match n - k as u64 {
                        0 => State::Head(Vec::new()),
                        left => State::Body(left),
                    }
                }
                State::ChunkSize(mut buf) => {
                    let (taken, done) = take_until(&mut buf, data, b"\r\n");
                    data = &data[taken..];
                    if !done {
                        if buf.len() > 4096 {
                            State::Off
                        } else {
                            State::ChunkSize(buf)
                        }
                    } else {
                        let line = String::from_utf8_lossy(&buf[..buf.len() - 2]).into_owned();
                        let hex = line.split(';').next().unwrap_or("").trim();
                        match u64::from_str_radix(hex, 16) {
                            Ok(0) => State::Trailers(Vec::new()),
                            Ok(n) => State::ChunkData(n),
                            Err(_) => State::Off,
                        }
                    }
                }
                State::ChunkData(n) => {
                    let k = (n as usize).min(data.len());
                    data = &data[k..];
                    match n - k as u64 {
                        0 => State::ChunkCrlf(2),
                        left => State::ChunkData(left),
                    }
                }
                State::ChunkCrlf(n) => {
                    let k = (n as usize).min(data.len());
                    data = &data[k..];
                    match n - k as u8 {
                        0 => State::ChunkSize(Vec::new()),
                        left => State::ChunkCrlf(left),
                    }
                }
                State::Trailers(mut buf) => {
                    // Ends at an empty line: "\r\n" alone, or "\r\n\r\n" after fields.
                    if buf.is_empty() && data.starts_with(b"\r\n") {
                        data = &data[2..];
                        State::Head(Vec::new())
                    } else {
                        let (taken, done) = take_until(&mut buf, data, b"\r\n\r\n");
                        data = &data[taken..];
                        if done {
                            State::Head(Vec::new())
                        } else if buf.len() > MAX_HEAD {
                            State::Off
                        } else {
                            State::Trailers(buf)
                        }
                    }
                }
            };
        }
    }

    /// Reads the framing headers of a complete head and picks the body state.
    fn after_head(&self, head: &[u8]) -> State {
        if head.starts_with(b"PRI * HTTP/2.0") {
            return State::Off;
        }
        let text = String::from_utf8_lossy(head);
        let mut lines = text.split("\r\n");
        let request_line = lines.next().unwrap_or("");
        let (mut cl, mut te) = (None::<String>, None::<String>);
        for line in lines {
            let Some((name, value)) = line.split_once(':') else {
                continue;
            };
            let name = name.trim().to_ascii_lowercase();
            let value = value.trim().to_ascii_lowercase();
            match name.as_str() {
                "content-length" => cl = Some(value),
                "transfer-encoding" => te = Some(value),
                _ => {}
            }
        }
        if cl.is_some() && te.is_some() {
            self.flag.store(true, Ordering::Relaxed);
            return State::Off; // hyper closes the connection after this request
        }
        if request_line.starts_with("CONNECT ") {
            return State::Off;
        }
        match (te, cl) {
            (Some(te), _) if te.ends_with("chunked") => State::ChunkSize(Vec::new()),
            (Some(_), _) => State::Off,
            (None, Some(cl)) => match cl.parse::<u64>() {
                Ok(0) => State::Head(Vec::new()),
                Ok(n) => State::Body(n),
                Err(_) => State::Off,
            },
            (None, None) => State::Head(Vec::new()),
        }
    }
}

/// Appends bytes of `data` to `buf` up to and including `pat`; returns
/// (bytes taken, whether `pat` was found).
fn take_until(buf: &mut Vec<u8>, data: &[u8], pat: &[u8]) -> (usize, bool) {
    for (i, b) in data.iter().enumerate() {
        buf.push(*b);
        if buf.ends_with(pat) {
            return (i + 1, true);
        }
    }
    (data.len(), false)
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
}
