//! PSC as seen from the gateway: its metadata (discovery document under any name, or
//! endpoints set by hand), its signing keys (refetched on an unknown `kid`), and the
//! HTTP calls (reqwest on rustls + ring, no redirects followed, answers capped; the
//! client certificate, when configured, only towards the token and UserInfo endpoints,
//! through PSC's `mtls_endpoint_aliases`).

use super::config::{check_endpoint_url, PscConfig};
use super::error::PscError;
use super::jose::{self, Alg, JoseError, JwkSet, Jws};
use serde::Deserialize;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::Mutex;

/// Largest discovery, JWKS, token or UserInfo answer read.
const MAX_ANSWER_BYTES: usize = 256 * 1024;
/// An unknown `kid` refetches the keys at most this often (forged tokens cannot make
/// the gateway hammer PSC).
const JWKS_REFRESH_FLOOR: Duration = Duration::from_secs(10);
/// Keys are refetched at least this often anyway (rotation without a new `kid`).
const JWKS_MAX_AGE: Duration = Duration::from_secs(3600);

/// The endpoints and algorithms in force.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoints {
    pub issuer: String,
    pub authorization: String,
    pub token: String,
    pub userinfo: Option<String>,
    pub jwks: String,
    pub end_session: Option<String>,
    /// ID and logout token algorithms: advertised ∩ verifiable, never none, HS* only if allowed.
    pub id_token_algs: Vec<Alg>,
    /// Signed UserInfo algorithms, same rule.
    pub userinfo_algs: Vec<Alg>,
}

#[derive(Debug, Deserialize)]
struct MtlsAliases {
    token_endpoint: Option<String>,
    userinfo_endpoint: Option<String>,
}

/// The discovery fields the gateway uses; PSC's many others are ignored.
#[derive(Debug, Deserialize)]
struct Discovery {
    issuer: String,
    authorization_endpoint: Option<String>,
    token_endpoint: Option<String>,
    userinfo_endpoint: Option<String>,
    jwks_uri: Option<String>,
    end_session_endpoint: Option<String>,
    id_token_signing_alg_values_supported: Option<Vec<String>>,
    userinfo_signing_alg_values_supported: Option<Vec<String>>,
    mtls_endpoint_aliases: Option<MtlsAliases>,
}

/// Verifiable algorithms among `advertised` (`None`: what the gateway can verify).
pub fn allowed_algs(advertised: Option<&[String]>, symmetric: bool) -> Vec<Alg> {
    const ASYMMETRIC: [Alg; 9] = [
        Alg::RS256,
        Alg::RS384,
        Alg::RS512,
        Alg::PS256,
        Alg::PS384,
        Alg::PS512,
        Alg::ES256,
        Alg::ES384,
        Alg::EdDSA,
    ];
    let all: Vec<Alg> = match advertised {
        Some(list) => list.iter().filter_map(|a| Alg::parse(a)).collect(),
        None => ASYMMETRIC.to_vec(),
    };
    all.into_iter()
        .filter(|a| symmetric || !a.is_symmetric())
        .collect()
}

/// A token set from the token endpoint.
pub struct Tokens {
    pub id_token: String,
    pub access_token: String,
}

impl std::fmt::Debug for Tokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Tokens(<redacted>)")
    }
}

#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct TransportError(String);

pub struct Provider {
    cfg: Arc<PscConfig>,
    http: reqwest::Client,
    /// Presents the client certificate (token and UserInfo endpoints only).
    mtls: Option<reqwest::Client>,
    metadata: Mutex<Option<(Instant, Arc<Endpoints>)>>,
    keys: Mutex<Option<(Instant, Arc<JwkSet>)>>,
}

impl std::fmt::Debug for Provider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Provider").finish_non_exhaustive()
    }
}

fn client_builder(cfg: &PscConfig) -> Result<reqwest::ClientBuilder, String> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut b = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(cfg.http_timeout_secs))
        .connect_timeout(Duration::from_secs(cfg.http_timeout_secs))
        .user_agent(concat!("mssante-gateway/", env!("CARGO_PKG_VERSION")));
    if let Some(ca) = &cfg.ca_file {
        let pem = std::fs::read(ca).map_err(|e| format!("auth.psc.ca_file: {e}"))?;
        let certs = reqwest::Certificate::from_pem_bundle(&pem)
            .map_err(|e| format!("auth.psc.ca_file: {e}"))?;
        b = b.tls_certs_merge(certs);
    }
    Ok(b)
}

impl Provider {
    pub fn new(cfg: Arc<PscConfig>) -> Result<Provider, String> {
        let http = client_builder(&cfg)?
            .build()
            .map_err(|e| format!("auth.psc: HTTP client: {e}"))?;
        let mtls = match (&cfg.tls_client_cert_path, &cfg.tls_client_key_path) {
            (Some(cert), Some(key)) => {
                let mut pem = std::fs::read(cert)
                    .map_err(|e| format!("auth.psc.tls_client_cert_path: {e}"))?;
                pem.push(b'\n');
                pem.extend(
                    std::fs::read(key).map_err(|e| format!("auth.psc.tls_client_key_path: {e}"))?,
                );
                let id = reqwest::Identity::from_pem(&pem)
                    .map_err(|e| format!("auth.psc.tls_client_cert_path: {e}"))?;
                Some(
                    client_builder(&cfg)?
                        .identity(id)
                        .build()
                        .map_err(|e| format!("auth.psc: mTLS client: {e}"))?,
                )
            }
            _ => None,
        };
        Ok(Provider {
            cfg,
            http,
            mtls,
            metadata: Mutex::new(None),
            keys: Mutex::new(None),
        })
    }

    pub fn config(&self) -> &PscConfig {
        &self.cfg
    }

    /// The client that talks to the token and UserInfo endpoints.
    fn token_client(&self) -> &reqwest::Client {
        self.mtls.as_ref().unwrap_or(&self.http)
    }

    /// GET `url`, answer capped; returns (content type, body).
    async fn get(
        &self,
        client: &reqwest::Client,
        url: &str,
        accept: &str,
        bearer: Option<&str>,
    ) -> Result<(String, Vec<u8>), PscError> {
        let mut req = client.get(url).header(reqwest::header::ACCEPT, accept);
        if let Some(t) = bearer {
            req = req.bearer_auth(t);
        }
        let resp = req
            .send()
            .await
            .map_err(|e| PscError::Unreachable(format!("{url}: {}", without_url(&e))))?;
        let status = resp.status();
        let ctype = resp
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string();
        let body = read_capped(resp).await?;
        if !status.is_success() {
            return Err(PscError::BadAnswer(format!("{url}: HTTP {status}")));
        }
        Ok((ctype, body))
    }

    /// Metadata in force: cached for `metadata_ttl_secs`; a stale copy is kept while
    /// PSC cannot be reached.
    pub async fn endpoints(&self) -> Result<Arc<Endpoints>, PscError> {
        let mut slot = self.metadata.lock().await;
        let ttl = Duration::from_secs(self.cfg.metadata_ttl_secs);
        if let Some((at, ep)) = slot.as_ref() {
            if at.elapsed() < ttl {
                return Ok(ep.clone());
            }
        }
        match self.load_endpoints().await {
            Ok(ep) => {
                let ep = Arc::new(ep);
                *slot = Some((Instant::now(), ep.clone()));
                Ok(ep)
            }
            Err(e) => match slot.as_ref() {
                Some((_, ep)) if matches!(e, PscError::Unreachable(_)) => {
                    tracing::warn!(error = %e, "PSC discovery: stale metadata kept");
                    Ok(ep.clone())
                }
                _ => Err(e),
            },
        }
    }

    async fn load_endpoints(&self) -> Result<Endpoints, PscError> {
        let c = &*self.cfg;
        let (issuer, discovery_url) = c.issuer_and_discovery();
        let doc = match &discovery_url {
            Some(url) => {
                let (_, body) = self.get(&self.http, url, "application/json", None).await?;
                let d: Discovery = serde_json::from_slice(&body)
                    .map_err(|e| PscError::BadAnswer(format!("discovery document: {e}")))?;
                Some(d)
            }
            None => None,
        };
        let issuer = match (issuer, &doc) {
            // OIDC Discovery §4.3: the document's issuer is exactly the expected one.
            (Some(want), Some(d)) if d.issuer != want => {
                return Err(PscError::BadAnswer(format!(
                    "discovery issuer {:?} is not the configured {want:?}",
                    d.issuer
                )))
            }
            (Some(want), _) => want,
            (None, Some(d)) => d.issuer.clone(),
            (None, None) => return Err(PscError::BadAnswer("no issuer".into())),
        };
        let mtls = self.mtls.is_some();
        let pick = |manual: &Option<String>,
                    found: Option<&String>,
                    alias: Option<&String>,
                    name: &str|
         -> Result<Option<String>, PscError> {
            let v = manual
                .clone()
                .or_else(|| if mtls { alias.cloned() } else { None })
                .or_else(|| found.cloned());
            match v {
                Some(v) => check_endpoint_url(name, &v)
                    .map(|_| Some(v))
                    .map_err(PscError::BadAnswer),
                None => Ok(None),
            }
        };
        let aliases = doc.as_ref().and_then(|d| d.mtls_endpoint_aliases.as_ref());
        let need = |v: Option<String>, name: &str| {
            v.ok_or_else(|| PscError::BadAnswer(format!("no {name} in metadata or configuration")))
        };
        let authorization = need(
            pick(
                &c.authorization_endpoint,
                doc.as_ref().and_then(|d| d.authorization_endpoint.as_ref()),
                None,
                "authorization_endpoint",
            )?,
            "authorization_endpoint",
        )?;
        let token = need(
            pick(
                &c.token_endpoint,
                doc.as_ref().and_then(|d| d.token_endpoint.as_ref()),
                aliases.and_then(|a| a.token_endpoint.as_ref()),
                "token_endpoint",
            )?,
            "token_endpoint",
        )?;
        let userinfo = pick(
            &c.userinfo_endpoint,
            doc.as_ref().and_then(|d| d.userinfo_endpoint.as_ref()),
            aliases.and_then(|a| a.userinfo_endpoint.as_ref()),
            "userinfo_endpoint",
        )?;
        let jwks = need(
            pick(
                &c.jwks_uri,
                doc.as_ref().and_then(|d| d.jwks_uri.as_ref()),
                None,
                "jwks_uri",
            )?,
            "jwks_uri",
        )?;
        let end_session = pick(
            &c.end_session_endpoint,
            doc.as_ref().and_then(|d| d.end_session_endpoint.as_ref()),
            None,
            "end_session_endpoint",
        )?;
        let sym = c.allow_symmetric_signatures;
        // Discovery §3: a missing id_token list means RS256.
        let rs256 = vec!["RS256".to_string()];
        let id_adv = match &doc {
            Some(d) => Some(
                d.id_token_signing_alg_values_supported
                    .as_ref()
                    .unwrap_or(&rs256),
            ),
            None => None,
        };
        let id_token_algs = allowed_algs(id_adv.map(Vec::as_slice), sym);
        let userinfo_algs = match doc
            .as_ref()
            .and_then(|d| d.userinfo_signing_alg_values_supported.as_ref())
        {
            Some(list) => allowed_algs(Some(list), sym),
            None => id_token_algs.clone(),
        };
        if id_token_algs.is_empty() {
            return Err(PscError::BadAnswer(
                "no acceptable ID token signing algorithm advertised".into(),
            ));
        }
        Ok(Endpoints {
            issuer,
            authorization,
            token,
            userinfo,
            jwks,
            end_session,
            id_token_algs,
            userinfo_algs,
        })
    }

    /// The provider's keys; `refresh` refetches them (rate-limited).
    async fn keys(&self, ep: &Endpoints, refresh: bool) -> Result<Arc<JwkSet>, PscError> {
        let mut slot = self.keys.lock().await;
        if let Some((at, k)) = slot.as_ref() {
            let age = at.elapsed();
            if age < JWKS_MAX_AGE && (!refresh || age < JWKS_REFRESH_FLOOR) {
                return Ok(k.clone());
            }
        }
        let fetched = async {
            let (_, body) = self
                .get(
                    &self.http,
                    &ep.jwks,
                    "application/jwk-set+json, application/json",
                    None,
                )
                .await?;
            JwkSet::from_json(&body).map_err(PscError::BadAnswer)
        }
        .await;
        match fetched {
            Ok(k) => {
                let k = Arc::new(k);
                *slot = Some((Instant::now(), k.clone()));
                Ok(k)
            }
            Err(e) => match slot.as_ref() {
                Some((_, k)) => {
                    tracing::warn!(error = %e, "PSC keys: previous key set kept");
                    Ok(k.clone())
                }
                None => Err(e),
            },
        }
    }

    /// Parses and verifies a JWS from PSC with `algs`; an unknown `kid` refetches the
    /// keys once (key rotation).
    pub async fn verify_jws(
        &self,
        ep: &Endpoints,
        token: &str,
        algs: &[Alg],
    ) -> Result<Jws, PscError> {
        let jws = Jws::parse(token)?;
        let secret = self
            .cfg
            .client_secret
            .as_ref()
            .filter(|_| self.cfg.allow_symmetric_signatures)
            .map(|s| s.expose().as_bytes());
        let keys = self.keys(ep, false).await?;
        match jose::verify(&jws, &keys, algs, secret) {
            Ok(_) => Ok(jws),
            Err(JoseError::UnknownKey(_)) => {
                let keys = self.keys(ep, true).await?;
                jose::verify(&jws, &keys, algs, secret)?;
                Ok(jws)
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Code → tokens at the token endpoint (openidconnect's request, our HTTP client).
    pub async fn exchange_code(
        &self,
        ep: &Endpoints,
        client: &super::flow::OidcClient,
        code: String,
        pkce_verifier: String,
        assertion: Option<String>,
    ) -> Result<Tokens, PscError> {
        use openidconnect::{AuthorizationCode, OAuth2TokenResponse, PkceCodeVerifier};
        let send = OidcHttp(self.token_client());
        let mut request = client
            .exchange_code(AuthorizationCode::new(code))
            .set_pkce_verifier(PkceCodeVerifier::new(pkce_verifier));
        if let Some(a) = assertion {
            request = request
                .add_extra_param(
                    "client_assertion_type",
                    super::client_assertion::ASSERTION_TYPE,
                )
                .add_extra_param("client_assertion", a);
        }
        let resp = request.request_async(&send).await.map_err(|e| match e {
            openidconnect::RequestTokenError::ServerResponse(r) => {
                PscError::CodeRefused(r.error().as_ref().to_string())
            }
            openidconnect::RequestTokenError::Request(t) => {
                PscError::Unreachable(format!("{}: {t}", ep.token))
            }
            // Only the field path: serde's message could quote a token.
            openidconnect::RequestTokenError::Parse(e, _) => {
                PscError::BadAnswer(format!("token response unreadable at {}", e.path()))
            }
            openidconnect::RequestTokenError::Other(m) => PscError::BadAnswer(m),
        })?;
        let id_token = openidconnect::TokenResponse::id_token(&resp)
            .map(|t| t.to_string())
            .ok_or_else(|| PscError::BadAnswer("no id_token in the token response".into()))?;
        Ok(Tokens {
            id_token,
            access_token: resp.access_token().secret().clone(),
        })
    }

    /// UserInfo claims, read by Content-Type: `application/json` as is, `application/jwt`
    /// verified like the ID token (any advertised algorithm, not only RS256).
    /// Returns (claims, signed).
    pub async fn userinfo(
        &self,
        ep: &Endpoints,
        access_token: &str,
    ) -> Result<(serde_json::Map<String, serde_json::Value>, bool), PscError> {
        let url = ep
            .userinfo
            .as_deref()
            .ok_or_else(|| PscError::UserInfo("no userinfo_endpoint".into()))?;
        let (ctype, body) = self
            .get(
                self.token_client(),
                url,
                "application/jwt, application/json",
                Some(access_token),
            )
            .await
            .map_err(|e| match e {
                PscError::BadAnswer(m) => PscError::UserInfo(m),
                other => other,
            })?;
        let mime = ctype
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase();
        match mime.as_str() {
            "application/jwt" => {
                let text = std::str::from_utf8(&body)
                    .map_err(|_| PscError::UserInfo("JWT not UTF-8".into()))?;
                let jws = self.verify_jws(ep, text, &ep.userinfo_algs).await?;
                // A signed answer names its issuer and audience when it carries them.
                if let Some(iss) = jws.claims.get("iss") {
                    if iss.as_str() != Some(ep.issuer.as_str()) {
                        return Err(super::claims::ClaimError::Issuer(iss.to_string()).into());
                    }
                }
                if let Some(aud) = jws.claims.get("aud") {
                    let ok = match aud {
                        serde_json::Value::String(s) => s == &self.cfg.client_id,
                        serde_json::Value::Array(a) => a
                            .iter()
                            .any(|v| v.as_str() == Some(self.cfg.client_id.as_str())),
                        _ => false,
                    };
                    if !ok {
                        return Err(super::claims::ClaimError::Audience.into());
                    }
                }
                Ok((jws.claims, true))
            }
            "application/json" | "" => {
                if self.cfg.require_signed_userinfo {
                    return Err(PscError::UserInfo(
                        "plain JSON while auth.psc.require_signed_userinfo is on".into(),
                    ));
                }
                match serde_json::from_slice(&body) {
                    Ok(serde_json::Value::Object(m)) => Ok((m, false)),
                    _ => Err(PscError::UserInfo("not a JSON object".into())),
                }
            }
            other => Err(PscError::UserInfo(format!("content type {other:?}"))),
        }
    }
}

/// A reqwest error without its URL (which may carry a code or token in a query).
fn without_url(e: &reqwest::Error) -> String {
    let mut s = e.to_string();
    if let Some(u) = e.url() {
        s = s.replace(u.as_str(), "");
    }
    if e.is_timeout() {
        "timeout".into()
    } else if e.is_connect() {
        "connection refused or unreachable".into()
    } else {
        s
    }
}

async fn read_capped(mut resp: reqwest::Response) -> Result<Vec<u8>, PscError> {
    let mut body = Vec::new();
    while let Some(chunk) = resp
        .chunk()
        .await
        .map_err(|e| PscError::Unreachable(without_url(&e)))?
    {
        if body.len() + chunk.len() > MAX_ANSWER_BYTES {
            return Err(PscError::BadAnswer("answer too large".into()));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// The reqwest 0.13 adapter openidconnect needs (its own targets reqwest 0.12).
/// A named type with a boxed `Send` future: a closure here makes the whole request
/// future lose `Send` (higher-ranked lifetime inference).
struct OidcHttp<'a>(&'a reqwest::Client);

type SendFuture<'c> = std::pin::Pin<
    Box<
        dyn std::future::Future<Output = Result<openidconnect::HttpResponse, TransportError>>
            + Send
            + 'c,
    >,
>;

impl<'c> openidconnect::AsyncHttpClient<'c> for OidcHttp<'_> {
    type Error = TransportError;
    type Future = SendFuture<'c>;

    fn call(&'c self, request: openidconnect::HttpRequest) -> Self::Future {
        Box::pin(send_request(self.0, request))
    }
}

async fn send_request(
    client: &reqwest::Client,
    req: openidconnect::HttpRequest,
) -> Result<openidconnect::HttpResponse, TransportError> {
    let (parts, body) = req.into_parts();
    let mut r = client
        .request(parts.method, parts.uri.to_string())
        .body(body);
    for (k, v) in parts.headers.iter() {
        r = r.header(k, v);
    }
    let resp = r
        .send()
        .await
        .map_err(|e| TransportError(without_url(&e)))?;
    let status = resp.status();
    let headers = resp.headers().clone();
    let body = read_capped(resp)
        .await
        .map_err(|e| TransportError(e.to_string()))?;
    let mut out = http::Response::new(body);
    *out.status_mut() = status;
    *out.headers_mut() = headers;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn algorithms_from_psc_discovery() {
        // §1.2: PS/RS/ES 256/384/512, EdDSA, HS256/384/512 and, for UserInfo, none.
        let adv: Vec<String> = [
            "PS384", "ES384", "RS384", "HS256", "HS512", "ES256", "RS256", "HS384", "ES512",
            "PS256", "PS512", "RS512", "EdDSA", "none",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let a = allowed_algs(Some(&adv), false);
        assert!(a.contains(&Alg::PS256) && a.contains(&Alg::ES256) && a.contains(&Alg::EdDSA));
        assert!(!a.iter().any(|x| x.is_symmetric()));
        assert_eq!(a.len(), 9, "ES512 and none dropped: {a:?}");
        assert!(allowed_algs(Some(&adv), true).contains(&Alg::HS256));
        assert!(allowed_algs(Some(&["none".to_string()]), true).is_empty());
    }
}
