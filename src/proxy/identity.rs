//! Who is the user behind a SOAP request — STOPGAP until sessions are wired.
//!
//! The session layer (`src/auth`) will know the user from the gateway's own session
//! and REPLACE this module. Until then the identity is derived from the Zimbra token
//! the client sends, with the store's own precedence (zimbra-api §1.4: header
//! `<context><authToken>` first, then the `ZM_AUTH_TOKEN` cookie, `ZM_ADMIN_AUTH_TOKEN`
//! on the admin path): the store is asked `GetInfoRequest` with that token, so the
//! identity is exactly the one the store will act as. Answers are cached by the
//! SHA-256 of the token (the token itself is never kept as a key nor logged).

use super::limits::collect_capped;
use super::upstream::Upstream;
use super::{full, path::Surface};
use crate::policy::config::PolicyConfig;
use crate::policy::sender::mssante_address;
use crate::policy::UserContext;
use crate::soap::Envelope;
use http::{header, HeaderMap, HeaderValue, Method, Request};
use moka::future::Cache;
use std::sync::Arc;
use std::time::Duration;
use thiserror::Error;

/// Cached identities: a few thousand active tokens at most on one gateway.
const CACHE_CAPACITY: u64 = 10_000;
/// Short enough that a revoked or expired token stops working soon.
const CACHE_TTL: Duration = Duration::from_secs(300);
/// A GetInfo answer with only `mbox,idents` is small; refuse anything huge.
const MAX_ANSWER_BYTES: usize = 1 << 20;

#[derive(Debug, Error)]
pub enum IdentityError {
    #[error("aucun jeton d'authentification")]
    NoToken,
    #[error("jeton refusé par le serveur de messagerie")]
    Refused,
    #[error("serveur de messagerie injoignable pour GetInfo")]
    Unavailable,
    #[error(transparent)]
    NoMapping(#[from] crate::policy::sender::SenderError),
}

/// Token → `UserContext`, cached.
pub struct IdentityResolver {
    cache: Cache<[u8; 32], Arc<UserContext>>,
}

impl Default for IdentityResolver {
    fn default() -> Self {
        Self::new()
    }
}

impl IdentityResolver {
    pub fn new() -> Self {
        IdentityResolver {
            cache: Cache::builder()
                .max_capacity(CACHE_CAPACITY)
                .time_to_live(CACHE_TTL)
                .build(),
        }
    }

    /// The user of this request; failures are not cached (a retry asks again).
    pub async fn resolve(
        &self,
        env: &Envelope,
        headers: &HeaderMap,
        surface: Surface,
        upstream: &Upstream,
        cfg: &PolicyConfig,
    ) -> Result<Arc<UserContext>, IdentityError> {
        let token = client_token(env, headers, surface).ok_or(IdentityError::NoToken)?;
        let key: [u8; 32] = ring::digest::digest(&ring::digest::SHA256, token.as_bytes())
            .as_ref()
            .try_into()
            .expect("SHA-256 is 32 bytes");
        if let Some(u) = self.cache.get(&key).await {
            return Ok(u);
        }
        let user = Arc::new(fetch_user(&token, upstream, cfg).await?);
        self.cache.insert(key, user.clone()).await;
        Ok(user)
    }
}

/// The token the store would use: header context first, then the cookie.
pub fn client_token(env: &Envelope, headers: &HeaderMap, surface: Surface) -> Option<String> {
    if let Some(t) = env.header_auth_token().filter(|t| !t.is_empty()) {
        return Some(t.to_string());
    }
    let name = if surface == Surface::AdminSoap {
        "ZM_ADMIN_AUTH_TOKEN"
    } else {
        "ZM_AUTH_TOKEN"
    };
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, v)| *k == name && !v.is_empty())
        .map(|(_, v)| v.to_string())
}

async fn fetch_user(
    token: &str,
    upstream: &Upstream,
    cfg: &PolicyConfig,
) -> Result<UserContext, IdentityError> {
    let body = serde_json::json!({
        "Header": {"context": {"_jsns": "urn:zimbra", "authToken": {"_content": token}}},
        "Body": {"GetInfoRequest": {"_jsns": "urn:zimbraAccount", "sections": "mbox,idents"}},
    });
    let uri = upstream
        .uri_for("/service/soap/GetInfoRequest")
        .map_err(|_| IdentityError::Unavailable)?;
    let mut req = Request::new(full(body.to_string()));
    *req.method_mut() = Method::POST;
    *req.uri_mut() = uri;
    let h = req.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json; charset=utf-8"),
    );
    if let Ok(host) = HeaderValue::from_str(upstream.authority().as_str()) {
        h.insert(header::HOST, host);
    }
    let resp = upstream
        .send(req, upstream.response_timeout)
        .await
        .map_err(|_| IdentityError::Unavailable)?;
    let ok = resp.status().is_success();
    let bytes = collect_capped(
        resp.into_body(),
        MAX_ANSWER_BYTES,
        upstream.response_timeout,
    )
    .await
    .map_err(|_| IdentityError::Unavailable)?;
    if !ok {
        return Err(IdentityError::Refused);
    }
    let v: serde_json::Value =
        serde_json::from_slice(&bytes).map_err(|_| IdentityError::Refused)?;
    user_from_info(&v["Body"]["GetInfoResponse"], cfg)
}

/// A scalar in either JSON spelling: `"k":"v"` or `"k":{"_content":"v"}`.
fn text(v: &serde_json::Value) -> Option<&str> {
    v.as_str().or_else(|| v["_content"].as_str())
}

fn user_from_info(
    info: &serde_json::Value,
    cfg: &PolicyConfig,
) -> Result<UserContext, IdentityError> {
    let account = text(&info["name"])
        .ok_or(IdentityError::Refused)?
        .to_string();
    let id = text(&info["id"]).ok_or(IdentityError::Refused)?.to_string();
    let mut identity_ids = vec![id];
    let idents = &info["identities"]["identity"];
    let list = match idents {
        serde_json::Value::Array(a) => a.clone(),
        serde_json::Value::Object(_) => vec![idents.clone()],
        _ => Vec::new(),
    };
    for i in &list {
        if let Some(x) = text(&i["id"]) {
            if !identity_ids.iter().any(|y| y == x) {
                identity_ids.push(x.to_string());
            }
        }
    }
    Ok(UserContext {
        mssante_address: mssante_address(&account, cfg)?,
        account,
        identity_ids,
        aliases: Vec::new(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::soap::{Element, Format, NS_ACCOUNT, NS_ZIMBRA};

    #[test]
    fn header_beats_cookie() {
        let ctx = Element::new(NS_ZIMBRA, "context").with_attr("authToken", "H");
        let mut env = Envelope {
            format: Format::Json,
            context: Some(ctx),
            body: Element::new(NS_ACCOUNT, "GetInfoRequest"),
        };
        let mut h = HeaderMap::new();
        h.insert(
            header::COOKIE,
            HeaderValue::from_static("a=b; ZM_AUTH_TOKEN=C"),
        );
        assert_eq!(client_token(&env, &h, Surface::Soap).as_deref(), Some("H"));
        env.context = None;
        assert_eq!(client_token(&env, &h, Surface::Soap).as_deref(), Some("C"));
        assert_eq!(client_token(&env, &h, Surface::AdminSoap), None);
        assert_eq!(client_token(&env, &HeaderMap::new(), Surface::Soap), None);
    }

    #[test]
    fn user_from_get_info() {
        let cfg = PolicyConfig {
            mssante_domains: vec!["a.mssante.fr".into()],
            ..Default::default()
        };
        let v = serde_json::json!({"name": "x@a.mssante.fr", "id": "ID1",
            "identities": {"identity": [{"id": "ID1"}, {"id": "ID2"}]}});
        let u = user_from_info(&v, &cfg).unwrap();
        assert_eq!(u.mssante_address, "x@a.mssante.fr");
        assert_eq!(u.identity_ids, vec!["ID1", "ID2"]);
        assert!(user_from_info(&serde_json::json!({}), &cfg).is_err());
    }
}
