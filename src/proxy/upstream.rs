//! The pooled keep-alive client to the Zimbra store (HTTP/1.1, http or https).

use super::Body;
use crate::config::UpstreamConfig;
use anyhow::Context as _;
use http::uri::{Authority, Scheme};
use http::{Request, Response, Uri, Version};
use hyper::body::Incoming;
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use std::sync::Arc;
use std::time::Duration;

/// Why the store gave no response head.
#[derive(Debug, thiserror::Error)]
pub enum UpstreamError {
    #[error("store unreachable: {0}")]
    Unavailable(String),
    #[error("store did not answer in time")]
    Timeout,
}

/// The store client; cheap to clone.
#[derive(Clone)]
pub struct Upstream {
    client: Client<HttpsConnector<HttpConnector>, Body>,
    scheme: Scheme,
    authority: Authority,
    /// Time to the response head for ordinary requests.
    pub response_timeout: Duration,
    /// Time to the response head for long polls.
    pub long_poll_timeout: Duration,
}

impl Upstream {
    pub fn new(cfg: &UpstreamConfig) -> anyhow::Result<Self> {
        let base: Uri = cfg.url.parse().context("upstream.url")?;
        let scheme = base.scheme().cloned().unwrap_or(Scheme::HTTP);
        let authority = base.authority().cloned().context("upstream.url: no host")?;

        let mut http = HttpConnector::new();
        http.enforce_http(false);
        http.set_nodelay(true);
        http.set_connect_timeout(Some(Duration::from_secs(cfg.connect_timeout_secs)));

        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = match &cfg.ca_file {
            Some(path) => {
                let pem = std::fs::read(path)
                    .with_context(|| format!("upstream.ca_file: {}", path.display()))?;
                let mut roots = rustls::RootCertStore::empty();
                for cert in rustls_pemfile::certs(&mut pem.as_slice()) {
                    roots.add(cert.context("upstream.ca_file: bad PEM")?)?;
                }
                let tls = rustls::ClientConfig::builder_with_provider(provider)
                    .with_safe_default_protocol_versions()?
                    .with_root_certificates(roots)
                    .with_no_client_auth();
                hyper_rustls::HttpsConnectorBuilder::new().with_tls_config(tls)
            }
            None => hyper_rustls::HttpsConnectorBuilder::new()
                .with_provider_and_native_roots(provider)
                .context("system CA roots")?,
        };
        let https = builder.https_or_http().enable_http1().wrap_connector(http);

        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(cfg.pool_idle_timeout_secs))
            .pool_max_idle_per_host(cfg.pool_max_idle)
            .pool_timer(TokioTimer::new())
            .timer(TokioTimer::new())
            .build(https);
        Ok(Upstream {
            client,
            scheme,
            authority,
            response_timeout: Duration::from_secs(cfg.response_timeout_secs),
            long_poll_timeout: Duration::from_secs(cfg.long_poll_timeout_secs),
        })
    }

    /// The store URI for a path and query.
    pub fn uri_for(&self, path_and_query: &str) -> Result<Uri, http::Error> {
        Uri::builder()
            .scheme(self.scheme.clone())
            .authority(self.authority.clone())
            .path_and_query(path_and_query)
            .build()
    }

    /// The store's authority (for a `Host` header when the client sent none).
    pub fn authority(&self) -> &Authority {
        &self.authority
    }

    /// Sends a request, waiting at most `timeout` for the response head.
    /// The response body streams afterwards without a deadline.
    pub async fn send(
        &self,
        mut req: Request<Body>,
        timeout: Duration,
    ) -> Result<Response<Incoming>, UpstreamError> {
        *req.version_mut() = Version::HTTP_11;
        match tokio::time::timeout(timeout, self.client.request(req)).await {
            Err(_) => Err(UpstreamError::Timeout),
            Ok(Err(e)) => Err(UpstreamError::Unavailable(error_chain(&e))),
            Ok(Ok(resp)) => Ok(resp),
        }
    }
}

/// The error and its sources on one line (for logs; never sent to clients).
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut src = e.source();
    while let Some(inner) = src {
        s.push_str(": ");
        s.push_str(&inner.to_string());
        src = inner.source();
    }
    s
}
