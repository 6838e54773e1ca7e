//! Calls the gateway itself makes to the store (A2, A5, A6): password AuthRequest,
//! EndSessionRequest, ChangePasswordRequest, and the admin AuthRequest +
//! GetAccountRequest + SetPasswordRequest used by the reset flow and name resolution,
//! and GetInfoRequest to learn which account a token acts as. JSON SOAP bodies, sent
//! through the proxy's store client (one client, one CA file, one set of timeouts).

use super::secret::{Password, UpstreamToken};
use crate::config::UpstreamConfig;
use crate::proxy::full;
use crate::proxy::limits::collect_capped;
use crate::proxy::upstream::Upstream;
use http::{Request, Uri};
use serde_json::{json, Value};
use std::time::Duration;

/// Largest answer read from the store for these small calls.
const MAX_ANSWER_BYTES: usize = 1 << 20;

#[derive(Debug, thiserror::Error)]
pub enum UpstreamError {
    /// Wrong user or password (or unknown account: the store does not tell them apart).
    #[error("authentication failed")]
    AuthFailed,
    /// Another Zimbra fault (code such as `account.CHANGE_PASSWORD`).
    #[error("store fault {code}")]
    Fault { code: String, reason: String },
    #[error("store unreachable: {0}")]
    Transport(String),
    #[error("unexpected store answer: {0}")]
    Protocol(String),
}

/// A successful upstream login.
#[derive(Debug, Clone)]
pub struct UpstreamAuth {
    pub token: UpstreamToken,
    /// Token lifetime in milliseconds as the store reported it.
    pub lifetime_ms: u64,
}

// ---- bodies ------------------------------------------------------------------

fn envelope(token: Option<&UpstreamToken>, body: Value) -> Value {
    let mut context = json!({"_jsns": "urn:zimbra", "nosession": {}});
    if let Some(t) = token {
        context["authToken"] = json!({"_content": t.expose()});
    }
    json!({"Header": {"context": context}, "Body": body})
}

/// `AuthRequest` by password (urn:zimbraAccount).
pub fn auth_request_body(user: &str, password: &Password) -> Value {
    envelope(
        None,
        json!({"AuthRequest": {
            "_jsns": "urn:zimbraAccount",
            "account": {"by": "name", "_content": user},
            "password": {"_content": password.expose()},
        }}),
    )
}

/// `EndSessionRequest` ending the token's upstream session.
pub fn end_session_body(token: &UpstreamToken) -> Value {
    envelope(
        Some(token),
        json!({"EndSessionRequest": {"_jsns": "urn:zimbraAccount", "logoff": "1"}}),
    )
}

/// `ChangePasswordRequest` (old and new password).
pub fn change_password_body(
    token: &UpstreamToken,
    user: &str,
    old: &Password,
    new: &Password,
) -> Value {
    envelope(
        Some(token),
        json!({"ChangePasswordRequest": {
            "_jsns": "urn:zimbraAccount",
            "account": {"by": "name", "_content": user},
            "oldPassword": {"_content": old.expose()},
            "password": {"_content": new.expose()},
        }}),
    )
}

/// Admin `AuthRequest` (urn:zimbraAdmin) on /service/admin/soap.
pub fn admin_auth_body(admin: &str, password: &Password) -> Value {
    envelope(
        None,
        json!({"AuthRequest": {
            "_jsns": "urn:zimbraAdmin",
            "name": {"_content": admin},
            "password": {"_content": password.expose()},
        }}),
    )
}

/// Admin `GetAccountRequest` by name (to learn the account id).
pub fn get_account_body(admin_token: &UpstreamToken, user: &str) -> Value {
    envelope(
        Some(admin_token),
        json!({"GetAccountRequest": {
            "_jsns": "urn:zimbraAdmin", "applyCos": "0", "attrs": "zimbraId",
            "account": {"by": "name", "_content": user},
        }}),
    )
}

/// `GetInfoRequest` with a token: the account's primary name and id (section `mbox`
/// only: the rest is not needed).
pub fn get_info_body(token: &UpstreamToken) -> Value {
    envelope(
        Some(token),
        json!({"GetInfoRequest": {"_jsns": "urn:zimbraAccount", "sections": "mbox"}}),
    )
}

/// Admin `SetPasswordRequest` for an account id.
pub fn set_password_body(admin_token: &UpstreamToken, account_id: &str, new: &Password) -> Value {
    envelope(
        Some(admin_token),
        json!({"SetPasswordRequest": {
            "_jsns": "urn:zimbraAdmin", "id": account_id, "newPassword": new.expose(),
        }}),
    )
}

// ---- answers -----------------------------------------------------------------

/// A scalar in any Zimbra JSON spelling: `"x"`, `1`, `{"_content":"x"}`, `[{"_content":"x"}]`.
fn scalar(v: Option<&Value>) -> Option<String> {
    match v? {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Object(o) => scalar(o.get("_content")),
        Value::Array(a) => scalar(a.first()),
        Value::Null => None,
    }
}

/// Extracts `Body.<name>` or turns a `Body.Fault` into an error.
pub fn parse_answer(body: &[u8], name: &str) -> Result<Value, UpstreamError> {
    let v: Value = serde_json::from_slice(body)
        .map_err(|e| UpstreamError::Protocol(format!("not JSON: {e}")))?;
    let b = v
        .get("Body")
        .ok_or_else(|| UpstreamError::Protocol("no Body".into()))?;
    if let Some(f) = b.get("Fault") {
        let code = scalar(f.pointer("/Detail/Error/Code")).unwrap_or_default();
        let reason = scalar(f.pointer("/Reason/Text")).unwrap_or_default();
        return Err(if code == "account.AUTH_FAILED" {
            UpstreamError::AuthFailed
        } else {
            UpstreamError::Fault { code, reason }
        });
    }
    b.get(name)
        .cloned()
        .ok_or_else(|| UpstreamError::Protocol(format!("no {name}")))
}

/// An account as the store reports it: primary name (lower case) and id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreAccount {
    pub name: String,
    pub id: String,
}

fn account_from(v: &Value, name: &str, id: &str) -> Result<StoreAccount, UpstreamError> {
    let name = scalar(v.pointer(name))
        .and_then(|n| super::user::normalize_login(&n, None))
        .filter(|n| n.contains('@'))
        .ok_or_else(|| UpstreamError::Protocol("no account name".into()))?;
    let id = scalar(v.pointer(id))
        .filter(|i| !i.trim().is_empty())
        .ok_or_else(|| UpstreamError::Protocol("no account id".into()))?;
    Ok(StoreAccount { name, id })
}

fn parse_auth(answer: &Value) -> Result<UpstreamAuth, UpstreamError> {
    let token = scalar(answer.get("authToken"))
        .ok_or_else(|| UpstreamError::Protocol("no authToken".into()))?;
    let lifetime_ms = scalar(answer.get("lifetime"))
        .and_then(|l| l.parse().ok())
        .unwrap_or(0);
    Ok(UpstreamAuth {
        token: UpstreamToken::new(token),
        lifetime_ms,
    })
}

// ---- client ------------------------------------------------------------------

/// The store's SOAP endpoints, reached through the proxy's store client: one client for
/// the whole gateway, so `upstream.ca_file`, the connect and response timeouts and the
/// connection pool apply to logins, password changes and resets as to proxied traffic.
#[derive(Clone)]
pub struct UpstreamClient {
    soap_url: Uri,
    admin_soap_url: Option<Uri>,
    upstream: Upstream,
}

impl std::fmt::Debug for UpstreamClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "UpstreamClient({})", self.soap_url)
    }
}

fn join(base: &str, path: &str) -> Result<Uri, UpstreamError> {
    format!("{}{path}", base.trim_end_matches('/'))
        .parse()
        .map_err(|e| UpstreamError::Transport(format!("bad URL {base}: {e}")))
}

impl UpstreamClient {
    /// Calls through `upstream` (the proxy's client); `admin_base_url` like `https://store:7071`.
    pub fn new(upstream: Upstream, admin_base_url: Option<&str>) -> Result<Self, UpstreamError> {
        let soap_url = upstream
            .uri_for("/service/soap")
            .map_err(|e| UpstreamError::Transport(format!("upstream.url: {e}")))?;
        Ok(UpstreamClient {
            soap_url,
            admin_soap_url: admin_base_url
                .map(|b| join(b, "/service/admin/soap"))
                .transpose()?,
            upstream,
        })
    }

    /// A client of its own for `base_url` with the default `[upstream]` settings and
    /// `timeout` (command-line tools, tests).
    pub fn standalone(
        base_url: &str,
        admin_base_url: Option<&str>,
        timeout: Duration,
    ) -> Result<Self, UpstreamError> {
        let cfg = UpstreamConfig {
            url: base_url.to_string(),
            response_timeout_secs: timeout.as_secs().max(1),
            ..UpstreamConfig::default()
        };
        let upstream = Upstream::new(&cfg).map_err(|e| UpstreamError::Transport(e.to_string()))?;
        Self::new(upstream, admin_base_url)
    }

    async fn call(&self, url: &Uri, body: Value, answer: &str) -> Result<Value, UpstreamError> {
        let bytes =
            serde_json::to_vec(&body).map_err(|e| UpstreamError::Protocol(e.to_string()))?;
        let req = Request::post(url.clone())
            .header(
                http::header::CONTENT_TYPE,
                "application/soap+xml; charset=utf-8",
            )
            .body(full(bytes))
            .map_err(|e| UpstreamError::Transport(e.to_string()))?;
        let timeout = self.upstream.response_timeout;
        let resp = self
            .upstream
            .send(req, timeout)
            .await
            .map_err(|e| UpstreamError::Transport(e.to_string()))?;
        let body = collect_capped(resp.into_body(), MAX_ANSWER_BYTES, timeout)
            .await
            .map_err(|e| UpstreamError::Transport(e.to_string()))?;
        parse_answer(&body, answer)
    }

    /// Whether an admin SOAP URL is configured.
    pub fn has_admin(&self) -> bool {
        self.admin_soap_url.is_some()
    }

    fn admin_url(&self) -> Result<&Uri, UpstreamError> {
        self.admin_soap_url
            .as_ref()
            .ok_or_else(|| UpstreamError::Transport("no admin URL configured".into()))
    }

    /// Checks a password with the store; returns its token.
    pub async fn auth_by_password(
        &self,
        user: &str,
        password: &Password,
    ) -> Result<UpstreamAuth, UpstreamError> {
        let a = self
            .call(
                &self.soap_url,
                auth_request_body(user, password),
                "AuthResponse",
            )
            .await?;
        parse_auth(&a)
    }

    /// The account a store token acts as (`GetInfoRequest`: its primary name and id),
    /// whatever name was typed to get the token.
    pub async fn account_of(&self, token: &UpstreamToken) -> Result<StoreAccount, UpstreamError> {
        let info = self
            .call(&self.soap_url, get_info_body(token), "GetInfoResponse")
            .await?;
        account_from(&info, "/name", "/id")
    }

    /// The account `name` designates for the store (primary name, alias, alias domain,
    /// default domain), by admin `GetAccountRequest`; `None` when there is none.
    pub async fn admin_find_account(
        &self,
        admin_token: &UpstreamToken,
        name: &str,
    ) -> Result<Option<StoreAccount>, UpstreamError> {
        match self
            .call(
                self.admin_url()?,
                get_account_body(admin_token, name),
                "GetAccountResponse",
            )
            .await
        {
            Ok(acct) => account_from(&acct, "/account/0/name", "/account/0/id")
                .or_else(|_| account_from(&acct, "/account/name", "/account/id"))
                .map(Some),
            Err(UpstreamError::Fault { code, .. }) if code == "account.NO_SUCH_ACCOUNT" => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Preauth `AuthRequest` (Pro Santé Connect logins; body from `auth::psc::preauth`).
    pub async fn auth_by_preauth(&self, body: Value) -> Result<UpstreamAuth, UpstreamError> {
        let a = self.call(&self.soap_url, body, "AuthResponse").await?;
        parse_auth(&a)
    }

    /// The account name the store reports for a token (`GetInfoRequest`).
    pub async fn account_name(&self, token: &UpstreamToken) -> Result<String, UpstreamError> {
        let body = envelope(
            Some(token),
            json!({"GetInfoRequest": {"_jsns": "urn:zimbraAccount", "sections": "mbox"}}),
        );
        let a = self.call(&self.soap_url, body, "GetInfoResponse").await?;
        scalar(a.get("name")).ok_or_else(|| UpstreamError::Protocol("no name".into()))
    }

    /// Ends the upstream session of a token (logout).
    pub async fn end_session(&self, token: &UpstreamToken) -> Result<(), UpstreamError> {
        self.call(
            &self.soap_url,
            end_session_body(token),
            "EndSessionResponse",
        )
        .await
        .map(|_| ())
    }

    /// Changes a password; the store answers with a new token (the old one is void).
    pub async fn change_password(
        &self,
        token: &UpstreamToken,
        user: &str,
        old: &Password,
        new: &Password,
    ) -> Result<UpstreamAuth, UpstreamError> {
        let a = self
            .call(
                &self.soap_url,
                change_password_body(token, user, old, new),
                "ChangePasswordResponse",
            )
            .await?;
        parse_auth(&a)
    }

    /// Admin login on /service/admin/soap.
    pub async fn admin_auth(
        &self,
        admin: &str,
        password: &Password,
    ) -> Result<UpstreamToken, UpstreamError> {
        let a = self
            .call(
                self.admin_url()?,
                admin_auth_body(admin, password),
                "AuthResponse",
            )
            .await?;
        Ok(parse_auth(&a)?.token)
    }

    /// Sets a user's password with admin rights (forgotten password / first connection).
    pub async fn admin_set_password(
        &self,
        admin_token: &UpstreamToken,
        user: &str,
        new: &Password,
    ) -> Result<(), UpstreamError> {
        let id = self
            .admin_find_account(admin_token, user)
            .await?
            .ok_or_else(|| UpstreamError::Fault {
                code: "account.NO_SUCH_ACCOUNT".into(),
                reason: "no such account".into(),
            })?
            .id;
        self.call(
            self.admin_url()?,
            set_password_body(admin_token, &id, new),
            "SetPasswordResponse",
        )
        .await
        .map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[test]
    fn bodies_have_zimbra_shape() {
        let b = auth_request_body("jean.dupont", &Password::new("pw"));
        assert_eq!(
            b.pointer("/Body/AuthRequest/_jsns").unwrap(),
            "urn:zimbraAccount"
        );
        assert_eq!(
            b.pointer("/Body/AuthRequest/account/_content").unwrap(),
            "jean.dupont"
        );
        assert_eq!(
            b.pointer("/Body/AuthRequest/password/_content").unwrap(),
            "pw"
        );
        assert!(b.pointer("/Header/context/authToken").is_none());
        let t = UpstreamToken::new("0_t");
        let e = end_session_body(&t);
        assert_eq!(
            e.pointer("/Header/context/authToken/_content").unwrap(),
            "0_t"
        );
        assert_eq!(e.pointer("/Header/context/_jsns").unwrap(), "urn:zimbra");
        let s = set_password_body(&t, "id-1", &Password::new("n"));
        assert_eq!(
            s.pointer("/Body/SetPasswordRequest/_jsns").unwrap(),
            "urn:zimbraAdmin"
        );
        assert_eq!(s.pointer("/Body/SetPasswordRequest/id").unwrap(), "id-1");
        let c = change_password_body(&t, "u", &Password::new("o"), &Password::new("n"));
        assert_eq!(
            c.pointer("/Body/ChangePasswordRequest/oldPassword/_content")
                .unwrap(),
            "o"
        );
    }

    #[test]
    fn parses_real_auth_response_and_faults() {
        let ok = br#"{"Header":{"context":{"_jsns":"urn:zimbra"}},"Body":{"AuthResponse":{"authToken":[{"_content":"0_abc"}],"lifetime":36000000,"_jsns":"urn:zimbraAccount"}},"_jsns":"urn:zimbraSoap"}"#;
        let a = parse_auth(&parse_answer(ok, "AuthResponse").unwrap()).unwrap();
        assert_eq!(a.token.expose(), "0_abc");
        assert_eq!(a.lifetime_ms, 36_000_000);
        let fault = br#"{"Body":{"Fault":{"Code":{"Value":"soap:Sender"},"Reason":{"Text":"authentication failed for [x]"},"Detail":{"Error":{"Code":"account.AUTH_FAILED","_jsns":"urn:zimbra"}}}}}"#;
        assert!(matches!(
            parse_answer(fault, "AuthResponse"),
            Err(UpstreamError::AuthFailed)
        ));
        let other = br#"{"Body":{"Fault":{"Reason":{"Text":"must change"},"Detail":{"Error":{"Code":"account.CHANGE_PASSWORD"}}}}}"#;
        assert!(
            matches!(parse_answer(other, "AuthResponse"), Err(UpstreamError::Fault { code, .. }) if code == "account.CHANGE_PASSWORD")
        );
        assert!(matches!(
            parse_answer(b"<html>", "AuthResponse"),
            Err(UpstreamError::Protocol(_))
        ));
    }

    #[test]
    fn the_account_a_store_reports() {
        let info =
            serde_json::json!({"id": [{"_content": "id-1"}], "name": "Jean.Dupont@MS.example"});
        assert_eq!(
            account_from(&info, "/name", "/id").unwrap(),
            StoreAccount {
                name: "jean.dupont@ms.example".into(),
                id: "id-1".into()
            }
        );
        let acct = serde_json::json!({"account": [{"name": "a@b.fr", "id": "x", "a": []}]});
        assert!(account_from(&acct, "/account/0/name", "/account/0/id").is_ok());
        for bad in [
            serde_json::json!({"id": "x"}),
            serde_json::json!({"name": "bare", "id": "x"}),
            serde_json::json!({"name": "a@b.fr", "id": " "}),
        ] {
            assert!(account_from(&bad, "/name", "/id").is_err(), "{bad}");
        }
    }

    /// One-shot HTTP server answering `body` to the first request; returns its URL
    /// and a handle yielding the request it received.
    async fn fake_store(body: &'static str) -> (String, tokio::task::JoinHandle<String>) {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        let h = tokio::spawn(async move {
            let (mut s, _) = l.accept().await.unwrap();
            let mut buf = vec![0u8; 65536];
            let mut got = Vec::new();
            loop {
                let n = s.read(&mut buf).await.unwrap();
                got.extend_from_slice(&buf[..n]);
                let text = String::from_utf8_lossy(&got).to_string();
                if let Some(i) = text.find("\r\n\r\n") {
                    let len: usize = text
                        .lines()
                        .find_map(|l| {
                            l.to_ascii_lowercase()
                                .strip_prefix("content-length:")
                                .map(|v| v.trim().parse().unwrap())
                        })
                        .unwrap_or(0);
                    if got.len() >= i + 4 + len {
                        break;
                    }
                }
            }
            let resp = format!("HTTP/1.1 200 OK\r\ncontent-type: text/javascript\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}", body.len());
            s.write_all(resp.as_bytes()).await.unwrap();
            String::from_utf8_lossy(&got).to_string()
        });
        (format!("http://{addr}"), h)
    }

    #[tokio::test]
    async fn password_login_round_trip() {
        let (url, seen) = fake_store(
            r#"{"Body":{"AuthResponse":{"authToken":[{"_content":"0_tok"}],"lifetime":1000}}}"#,
        )
        .await;
        let c = UpstreamClient::standalone(&url, None, Duration::from_secs(5)).unwrap();
        let a = c
            .auth_by_password("jean.dupont", &Password::new("s3cret"))
            .await
            .unwrap();
        assert_eq!(a.token.expose(), "0_tok");
        let req = seen.await.unwrap();
        assert!(req.starts_with("POST /service/soap HTTP/1.1"), "{req}");
        assert!(req.contains("\"AuthRequest\""));
        assert!(
            c.admin_auth("admin", &Password::new("x")).await.is_err(),
            "no admin URL"
        );
    }

    #[tokio::test]
    async fn unreachable_store_is_transport_error() {
        let c =
            UpstreamClient::standalone("http://127.0.0.1:9", None, Duration::from_secs(2)).unwrap();
        assert!(matches!(
            c.auth_by_password("u", &Password::new("p")).await,
            Err(UpstreamError::Transport(_))
        ));
    }
}
