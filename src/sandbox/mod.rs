//! The Zimbra-compatible sandbox store (Z1): the stand-in upstream for tests and the
//! demo. It follows the shapes of `zimbra-api.md` (SOAP XML/JSON, faults, preauth,
//! upload servlet, REST) and records every message that would leave in an outbox.
//! Never used in production.

mod admin;
mod auth;
mod calendar;
mod calendar_send;
mod call;
mod compose;
pub mod data;
mod delivery;
mod dispatch;
mod filters;
mod folders;
mod gal;
mod http_util;
mod ical;
mod identities;
mod info;
mod mail;
mod mailbox;
mod mime;
mod msg_action;
mod multipart;
mod noop;
pub mod preauth;
mod preauth_url;
mod prefs;
pub mod psc;
mod rest;
mod router;
mod signatures;
pub mod state;
mod stored_msgs;
mod tags;
pub mod token;
mod upload;
mod webmail;

#[cfg(test)]
mod http_tests;
#[cfg(test)]
mod tests;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::TcpListener;
use tokio::sync::watch;

pub use data::{SandboxData, FIXTURE_ADMIN_PASSWORD, FIXTURE_PASSWORD};
pub use state::{OutboxEntry, SandboxState, Stats};

/// A running sandbox store.
pub struct SandboxHandle {
    pub addr: SocketAddr,
    pub state: Arc<SandboxState>,
    shutdown: watch::Sender<bool>,
}

impl SandboxHandle {
    /// Every message that would have left the store, oldest first.
    pub fn outbox(&self) -> Vec<OutboxEntry> {
        self.state.outbox()
    }

    /// HTTP requests received (the `/sandbox/*` control endpoints excluded).
    pub fn received_count(&self) -> u64 {
        self.state
            .received
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Counts by surface and by SOAP request name.
    pub fn stats(&self) -> Stats {
        self.state.stats.lock().clone()
    }

    pub fn reset_stats(&self) {
        self.state.reset_stats();
    }

    /// `http://127.0.0.1:port`.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The preauth key of a domain, to configure a client of this sandbox.
    pub fn preauth_key(&self, domain: &str) -> Option<String> {
        self.state.domain(domain).map(|d| d.preauth_key.clone())
    }

    /// Stops accepting connections (open ones finish on their own).
    pub fn shutdown(&self) {
        let _ = self.shutdown.send(true);
    }
}

/// Resolves when `shutdown` is requested; never if the handle is dropped without it.
async fn stopped(mut rx: watch::Receiver<bool>) {
    loop {
        if *rx.borrow() {
            return;
        }
        if rx.changed().await.is_err() {
            std::future::pending::<()>().await;
        }
    }
}

/// Binds `listen`, spawns the server and returns at once.
pub async fn start(listen: SocketAddr, data: SandboxData) -> anyhow::Result<SandboxHandle> {
    start_with_tls(listen, data, None).await
}

/// [`start`], serving HTTPS when `tls` is given (a store behind a private CA).
pub async fn start_with_tls(
    listen: SocketAddr,
    data: SandboxData,
    tls: Option<tokio_rustls::TlsAcceptor>,
) -> anyhow::Result<SandboxHandle> {
    let listener = TcpListener::bind(listen)
        .await
        .map_err(|e| anyhow::anyhow!("sandbox cannot listen on {listen}: {e}"))?;
    let addr = listener.local_addr()?;
    let state = SandboxState::new(data);
    let (tx, rx) = watch::channel(false);

    let accept_state = state.clone();
    let accept_stop = rx.clone();
    tokio::spawn(async move {
        let stop = stopped(accept_stop);
        tokio::pin!(stop);
        loop {
            let conn = tokio::select! {
                _ = &mut stop => break,
                c = listener.accept() => c,
            };
            let Ok((stream, _peer)) = conn else { continue };
            let state = accept_state.clone();
            let tls = tls.clone();
            tokio::spawn(async move {
                let service =
                    hyper::service::service_fn(move |req| router::route(state.clone(), req));
                let builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
                let _ = match tls {
                    Some(acceptor) => match acceptor.accept(stream).await {
                        Ok(s) => builder.serve_connection(TokioIo::new(s), service).await,
                        Err(_) => return,
                    },
                    None => {
                        builder
                            .serve_connection(TokioIo::new(stream), service)
                            .await
                    }
                };
            });
        }
    });

    // Drafts saved with `autoSendTime` go out on their own, like AutoSendDraftTask.
    let tick_state = state.clone();
    tokio::spawn(async move {
        let stop = stopped(rx);
        tokio::pin!(stop);
        let mut every = tokio::time::interval(Duration::from_secs(1));
        loop {
            tokio::select! {
                _ = &mut stop => break,
                _ = every.tick() => delivery::send_due_drafts(&tick_state),
            }
        }
    });

    Ok(SandboxHandle {
        addr,
        state,
        shutdown: tx,
    })
}
