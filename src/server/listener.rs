//! Accept loop shared by the public and metrics listeners: connection limit,
//! optional TLS, HTTP/1.1 + HTTP/2, graceful shutdown.

use super::conn::{ConnInfo, FramingWatch, MAX_HEAD_BYTES};
use crate::proxy::Body;
use crate::telemetry::ConnectionGauge;
use futures_util::future::BoxFuture;
use http::{Request, Response};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use std::convert::Infallible;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::{watch, Semaphore};
use tokio_rustls::TlsAcceptor;

/// The request handler of a listener.
pub type Handler =
    Arc<dyn Fn(Request<Incoming>, ConnInfo) -> BoxFuture<'static, Response<Body>> + Send + Sync>;

/// How connections of one listener behave.
#[derive(Clone)]
pub struct ListenerOptions {
    pub tls: Option<TlsAcceptor>,
    pub http2: bool,
    pub header_read_timeout: Duration,
    pub http2_keepalive: Option<Duration>,
    pub max_connections: usize,
    pub shutdown_grace: Duration,
}

/// Serves `listener` until `shutdown` turns true, then lets in-flight requests
/// finish for at most `shutdown_grace`.
pub async fn serve(
    listener: TcpListener,
    opts: ListenerOptions,
    handler: Handler,
    mut shutdown: watch::Receiver<bool>,
) {
    let builder = Arc::new(http_builder(&opts));
    let graceful = GracefulShutdown::new();
    let slots = Arc::new(Semaphore::new(opts.max_connections));
    loop {
        let permit = tokio::select! {
            p = slots.clone().acquire_owned() => match p { Ok(p) => p, Err(_) => break },
            _ = shutdown.changed() => break,
        };
        let (tcp, peer) = tokio::select! {
            r = listener.accept() => match r {
                Ok(x) => x,
                Err(e) => {
                    // EMFILE and the like: back off instead of spinning.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            _ = shutdown.changed() => break,
        };
        let _ = tcp.set_nodelay(true);
        let builder = builder.clone();
        let handler = handler.clone();
        let tls = opts.tls.clone();
        let handshake_timeout = opts.header_read_timeout;
        let watcher = graceful.watcher();
        tokio::spawn(async move {
            let _permit = permit;
            let _gauge = ConnectionGauge::open();
            let flag = Arc::new(AtomicBool::new(false));
            let info = ConnInfo::new(peer, tls.is_some(), flag.clone());
            let svc = service_fn(move |req| {
                let fut = handler(req, info.clone());
                async move { Ok::<_, Infallible>(fut.await) }
            });
            // The framing watch reads the HTTP bytes: inside TLS, not the records.
            let result = match tls {
                Some(acceptor) => {
                    let stream =
                        match tokio::time::timeout(handshake_timeout, acceptor.accept(tcp)).await {
                            Ok(Ok(s)) => s,
                            _ => return,
                        };
                    let stream = FramingWatch::new(stream, flag);
                    let conn = builder.serve_connection(TokioIo::new(stream), svc);
                    watcher.watch(conn.into_owned()).await
                }
                None => {
                    let tcp = FramingWatch::new(tcp, flag);
                    let conn = builder.serve_connection(TokioIo::new(tcp), svc);
                    watcher.watch(conn.into_owned()).await
                }
            };
            if let Err(e) = result {
                tracing::debug!(error = %e, "connection ended with an error");
            }
        });
    }
    drop(listener);
    if tokio::time::timeout(opts.shutdown_grace, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("shutdown grace period over; closing remaining connections");
    }
}

fn http_builder(opts: &ListenerOptions) -> auto::Builder<TokioExecutor> {
    let mut b = auto::Builder::new(TokioExecutor::new());
    b.http1()
        .timer(TokioTimer::new())
        .header_read_timeout(opts.header_read_timeout)
        // The framing watch follows heads up to this size; hyper refuses larger ones.
        // It also bounds what one connection buffers while a body is read.
        .max_buf_size(MAX_HEAD_BYTES)
        .keep_alive(true);
    b.http2()
        .timer(TokioTimer::new())
        .keep_alive_interval(opts.http2_keepalive)
        .max_concurrent_streams(250);
    if let Some(ka) = opts.http2_keepalive {
        b.http2().keep_alive_timeout(ka);
    }
    if opts.http2 {
        b
    } else {
        b.http1_only()
    }
}
