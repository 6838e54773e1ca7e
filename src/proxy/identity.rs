//! Who is the user behind a session: the store is asked `GetInfoRequest` with the
//! session's store token, so the identity (account, identities) is exactly the one
//! the store acts as. Answers are cached by the SHA-256 of the token (the token
//! itself is never kept as a key nor logged); a changed password gives a new token,
//! hence a fresh lookup.

use super::full;
use super::limits::collect_capped;
use super::upstream::Upstream;
use crate::auth::secret::UpstreamToken;
use crate::policy::config::PolicyConfig;
use crate::policy::sender::mssante_address;
use crate::policy::UserContext;
use http::{header, HeaderValue, Method, Request};
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

    /// The user behind a session's store token; failures are not cached (a retry asks again).
    pub async fn resolve(
        &self,
        token: &UpstreamToken,
        upstream: &Upstream,
        cfg: &PolicyConfig,
    ) -> Result<Arc<UserContext>, IdentityError> {
        let token = token.expose();
        let key: [u8; 32] = ring::digest::digest(&ring::digest::SHA256, token.as_bytes())
            .as_ref()
            .try_into()
            .expect("SHA-256 is 32 bytes");
        if let Some(u) = self.cache.get(&key).await {
            return Ok(u);
        }
        let user = Arc::new(fetch_user(token, upstream, cfg).await?);
        self.cache.insert(key, user.clone()).await;
        Ok(user)
    }
}

/// The token the store would use: header context first, then the cookie.
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
