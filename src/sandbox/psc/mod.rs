//! A small Pro Santé Connect stand-in for the demo (never for production, never in
//! the tests, which use a real provider). It keeps PSC's quirks so the gateway's
//! handling shows: the discovery document named `wallet-openid-configuration` under
//! the Keycloak realm path, the authorization endpoint on another origin (the
//! « wallet »), a signed UserInfo (`application/jwt`, ES256), `acr=eidas3` for a CPS
//! card and `eidas1` for e-CPS, the `f:<uuid>:<idNat>` subject. One client, PKCE S256.

mod identities;
mod pages;

pub use identities::{TestIdentity, IDENTITIES};

use super::http_util::{full, query_get, query_pairs, read_body, respond, Body};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use http::{header, Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioExecutor, TokioIo};
use parking_lot::Mutex;
use ring::rand::SystemRandom;
use ring::signature::{EcdsaKeyPair, KeyPair, ECDSA_P256_SHA256_FIXED_SIGNING};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::net::TcpListener;

const REALM: &str = "/auth/realms/esante-wallet";
const KID: &str = "demo-psc-es256";

/// The one client the stand-in knows.
#[derive(Clone)]
pub struct StandInClient {
    pub client_id: String,
    pub client_secret: String,
    pub redirect_uri: String,
    pub post_logout_redirect_uri: String,
}

struct Pending {
    redirect_uri: String,
    state: String,
    nonce: String,
    challenge: String,
}

struct Issued {
    identity: usize,
    card: bool,
    nonce: String,
    challenge: String,
    redirect_uri: String,
}

struct Inner {
    client: StandInClient,
    issuer: String,
    wallet: String,
    key: EcdsaKeyPair,
    pending: Mutex<HashMap<String, Pending>>,
    codes: Mutex<HashMap<String, Issued>>,
    access: Mutex<HashMap<String, (usize, bool)>>,
}

/// The running stand-in.
pub struct PscStandIn {
    /// Issuer (the realm URL on the « auth » origin).
    pub issuer: String,
    /// The « wallet » origin (authorization endpoint, identity page).
    pub wallet: String,
}

impl PscStandIn {
    pub fn discovery_url(&self) -> String {
        format!("{}/.well-known/wallet-openid-configuration", self.issuer)
    }
}

fn random_id() -> String {
    URL_SAFE_NO_PAD.encode(rand::random::<[u8; 24]>())
}

/// Starts both origins on loopback ports.
pub async fn start(client: StandInClient) -> anyhow::Result<PscStandIn> {
    let any = SocketAddr::from(([127, 0, 0, 1], 0));
    let auth = TcpListener::bind(any).await?;
    let wallet = TcpListener::bind(any).await?;
    let issuer = format!("http://{}{REALM}", auth.local_addr()?);
    let wallet_base = format!("http://{}", wallet.local_addr()?);
    let rng = SystemRandom::new();
    let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng)
        .map_err(|_| anyhow::anyhow!("PSC stand-in: key generation"))?;
    let key = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref(), &rng)
        .map_err(|_| anyhow::anyhow!("PSC stand-in: key"))?;
    let inner = Arc::new(Inner {
        client,
        issuer: issuer.clone(),
        wallet: wallet_base.clone(),
        key,
        pending: Mutex::new(HashMap::new()),
        codes: Mutex::new(HashMap::new()),
        access: Mutex::new(HashMap::new()),
    });
    for listener in [auth, wallet] {
        let inner = inner.clone();
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let inner = inner.clone();
                tokio::spawn(async move {
                    let svc = hyper::service::service_fn(move |req| {
                        let inner = inner.clone();
                        async move { Ok::<_, Infallible>(route(&inner, req).await) }
                    });
                    let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                        .serve_connection(TokioIo::new(stream), svc)
                        .await;
                });
            }
        });
    }
    Ok(PscStandIn {
        issuer,
        wallet: wallet_base,
    })
}

fn redirect(location: &str) -> Response<Body> {
    let mut r = Response::new(full(""));
    *r.status_mut() = StatusCode::SEE_OTHER;
    if let Ok(v) = header::HeaderValue::from_str(location) {
        r.headers_mut().insert(header::LOCATION, v);
    }
    r
}

fn oauth_error(status: StatusCode, code: &str) -> Response<Body> {
    respond(
        status,
        "application/json",
        json!({"error": code}).to_string(),
    )
}

fn with_query(base: &str, pairs: &[(&str, &str)]) -> String {
    let q: String = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs)
        .finish();
    format!("{base}?{q}")
}

impl Inner {
    fn sign(&self, claims: &Value) -> String {
        let header = json!({"alg": "ES256", "typ": "JWT", "kid": KID});
        let input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        let sig = self
            .key
            .sign(&SystemRandom::new(), input.as_bytes())
            .map(|s| s.as_ref().to_vec())
            .unwrap_or_default();
        format!("{input}.{}", URL_SAFE_NO_PAD.encode(sig))
    }

    fn discovery(&self) -> Value {
        let oidc = format!("{}/protocol/openid-connect", self.issuer);
        json!({
            "issuer": self.issuer,
            "authorization_endpoint": format!("{}/auth", self.wallet),
            "token_endpoint": format!("{oidc}/token"),
            "userinfo_endpoint": format!("{oidc}/userinfo"),
            "end_session_endpoint": format!("{oidc}/logout"),
            "jwks_uri": format!("{oidc}/certs"),
            "response_types_supported": ["code"],
            "scopes_supported": ["openid", "scope_all", "eidas1"],
            "acr_values_supported": ["eidas1", "eidas3"],
            "code_challenge_methods_supported": ["S256"],
            "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
            "id_token_signing_alg_values_supported": ["ES256"],
            "userinfo_signing_alg_values_supported": ["ES256", "none"],
            "backchannel_logout_supported": false,
        })
    }

    fn jwks(&self) -> Value {
        let p = self.key.public_key().as_ref();
        json!({"keys": [{"kty": "EC", "crv": "P-256", "use": "sig", "alg": "ES256", "kid": KID,
            "x": URL_SAFE_NO_PAD.encode(&p[1..33]), "y": URL_SAFE_NO_PAD.encode(&p[33..65])}]})
    }

    /// GET /auth on the wallet origin: checks the request, shows the identities.
    fn authorize(&self, q: &[(String, String)]) -> Response<Body> {
        let get = |k| query_get(q, k).unwrap_or("");
        if get("client_id") != self.client.client_id
            || get("redirect_uri") != self.client.redirect_uri
        {
            return respond(
                StatusCode::BAD_REQUEST,
                "text/plain; charset=utf-8",
                "client_id ou redirect_uri inconnu",
            );
        }
        if get("response_type") != "code"
            || get("code_challenge_method") != "S256"
            || get("code_challenge").is_empty()
            || get("state").is_empty()
            || get("nonce").is_empty()
            || !get("scope").split(' ').any(|s| s == "openid")
        {
            return redirect(&with_query(
                get("redirect_uri"),
                &[("error", "invalid_request"), ("state", get("state"))],
            ));
        }
        let id = random_id();
        self.pending.lock().insert(
            id.clone(),
            Pending {
                redirect_uri: get("redirect_uri").into(),
                state: get("state").into(),
                nonce: get("nonce").into(),
                challenge: get("code_challenge").into(),
            },
        );
        respond(
            StatusCode::OK,
            "text/html; charset=utf-8",
            pages::choose(&id),
        )
    }

    /// POST /auth/connexion: the identity and means chosen → code.
    fn login(&self, form: &[(String, String)]) -> Response<Body> {
        let get = |k| query_get(form, k).unwrap_or("");
        let Some(p) = self.pending.lock().remove(get("req")) else {
            return respond(
                StatusCode::BAD_REQUEST,
                "text/plain; charset=utf-8",
                "demande inconnue ou déjà utilisée",
            );
        };
        let means = get("moyen");
        let identity = get("id")
            .parse::<usize>()
            .ok()
            .filter(|i| *i < IDENTITIES.len());
        let (Some(identity), "carte" | "ecps") = (identity, means) else {
            return redirect(&with_query(
                &p.redirect_uri,
                &[("error", "access_denied"), ("state", &p.state)],
            ));
        };
        let code = random_id();
        self.codes.lock().insert(
            code.clone(),
            Issued {
                identity,
                card: means == "carte",
                nonce: p.nonce,
                challenge: p.challenge,
                redirect_uri: p.redirect_uri.clone(),
            },
        );
        redirect(&with_query(
            &p.redirect_uri,
            &[("code", &code), ("state", &p.state)],
        ))
    }

    /// POST token: client authentication, PKCE, single-use code.
    fn token(&self, authz: Option<&str>, form: &[(String, String)]) -> Response<Body> {
        let get = |k| query_get(form, k).unwrap_or("");
        let basic = authz
            .and_then(|a| a.strip_prefix("Basic "))
            .and_then(|b| base64::engine::general_purpose::STANDARD.decode(b).ok())
            .and_then(|b| String::from_utf8(b).ok());
        let (id, secret) = match &basic {
            Some(b) => b
                .split_once(':')
                .map(|(i, s)| (i.to_string(), s.to_string())),
            None => Some((get("client_id").into(), get("client_secret").into())),
        }
        .unwrap_or_default();
        // RFC 6749 §2.3.1: the Basic credentials are form-urlencoded first.
        let decode = |s: &str| {
            percent_encoding::percent_decode_str(&s.replace('+', " "))
                .decode_utf8_lossy()
                .into_owned()
        };
        if decode(&id) != self.client.client_id || decode(&secret) != self.client.client_secret {
            return oauth_error(StatusCode::UNAUTHORIZED, "invalid_client");
        }
        let Some(issued) = self.codes.lock().remove(get("code")) else {
            return oauth_error(StatusCode::BAD_REQUEST, "invalid_grant");
        };
        let digest = ring::digest::digest(&ring::digest::SHA256, get("code_verifier").as_bytes());
        if URL_SAFE_NO_PAD.encode(digest) != issued.challenge
            || get("redirect_uri") != issued.redirect_uri
            || get("grant_type") != "authorization_code"
        {
            return oauth_error(StatusCode::BAD_REQUEST, "invalid_grant");
        }
        let who = &IDENTITIES[issued.identity];
        let now = super::state::now_ms() / 1000;
        let access = random_id();
        self.access
            .lock()
            .insert(access.clone(), (issued.identity, issued.card));
        let id_token = self.sign(&json!({
            "iss": self.issuer, "aud": self.client.client_id, "azp": self.client.client_id,
            "sub": who.sub(), "exp": now + 300, "iat": now, "auth_time": now,
            "nonce": issued.nonce, "acr": if issued.card { "eidas3" } else { "eidas1" },
            "amr": [if issued.card { "card" } else { "mobile" }], "sid": random_id(),
            "typ": "ID", "idp": "PSC", "preferred_username": who.id_nat,
        }));
        respond(
            StatusCode::OK,
            "application/json",
            json!({"access_token": access, "token_type": "Bearer", "expires_in": 120,
                   "id_token": id_token, "scope": "openid scope_all",
                   "not-before-policy": 0, "session_state": random_id()})
            .to_string(),
        )
    }

    /// GET userinfo: always signed (`application/jwt`), as PSC can answer.
    fn userinfo(&self, authz: Option<&str>) -> Response<Body> {
        let found = authz
            .and_then(|a| a.strip_prefix("Bearer "))
            .and_then(|t| self.access.lock().get(t).copied());
        let Some((i, card)) = found else {
            return oauth_error(StatusCode::UNAUTHORIZED, "invalid_token");
        };
        let mut claims = IDENTITIES[i].userinfo(card);
        claims["iss"] = json!(self.issuer);
        claims["aud"] = json!(self.client.client_id);
        respond(StatusCode::OK, "application/jwt", self.sign(&claims))
    }

    /// GET logout: back to the registered post-logout URI with the state.
    fn logout(&self, q: &[(String, String)]) -> Response<Body> {
        let get = |k| query_get(q, k).unwrap_or("");
        if get("post_logout_redirect_uri") != self.client.post_logout_redirect_uri {
            return respond(
                StatusCode::BAD_REQUEST,
                "text/plain; charset=utf-8",
                "post_logout_redirect_uri inconnu",
            );
        }
        redirect(&with_query(
            &self.client.post_logout_redirect_uri,
            &[("state", get("state"))],
        ))
    }
}

async fn route(inner: &Inner, req: Request<hyper::body::Incoming>) -> Response<Body> {
    let (parts, body) = req.into_parts();
    let q = query_pairs(parts.uri.query());
    let authz = parts
        .headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let form = match read_body(body, 64 * 1024).await {
        Ok(Ok(b)) => url::form_urlencoded::parse(&b).into_owned().collect(),
        _ => Vec::new(),
    };
    let oidc = format!("{REALM}/protocol/openid-connect");
    let path = parts.uri.path();
    let json_ok = |v: Value| respond(StatusCode::OK, "application/json", v.to_string());
    match (&parts.method, path) {
        (&Method::GET, p) if p == format!("{REALM}/.well-known/wallet-openid-configuration") => {
            json_ok(inner.discovery())
        }
        (&Method::GET, p) if p == format!("{oidc}/certs") => json_ok(inner.jwks()),
        (&Method::POST, p) if p == format!("{oidc}/token") => inner.token(authz.as_deref(), &form),
        (&Method::GET, p) if p == format!("{oidc}/userinfo") => inner.userinfo(authz.as_deref()),
        (&Method::GET, p) if p == format!("{oidc}/logout") => inner.logout(&q),
        (&Method::GET, "/auth") => inner.authorize(&q),
        (&Method::POST, "/auth/connexion") => inner.login(&form),
        _ => respond(
            StatusCode::NOT_FOUND,
            "text/plain; charset=utf-8",
            "introuvable",
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identities_are_in_the_demo_annuaire() {
        // Each mapped identity's national id is on its demo account in sample.ldif.
        let ldif = include_str!("../../../fixtures/annuaire/sample.ldif");
        for id in IDENTITIES {
            let Some(mailbox) = id.mailbox else {
                assert!(
                    !ldif.contains(id.id_nat),
                    "{} must stay unmapped",
                    id.id_nat
                );
                continue;
            };
            let entry = ldif
                .split("\n\n")
                .find(|e| e.contains(&format!("\nmail: {mailbox}\n")) && e.contains(id.id_nat))
                .unwrap_or_else(|| panic!("{} not on {mailbox} in sample.ldif", id.id_nat));
            assert!(entry.contains("mssanteTypeBal: PER"), "{entry}");
        }
    }

    #[test]
    fn subjects_have_keycloak_form() {
        let s = IDENTITIES[0].sub();
        assert!(s.starts_with("f:") && s.ends_with(":810900000001"), "{s}");
    }
}
