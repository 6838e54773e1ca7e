//! The context of one SOAP call: who is calling (from the auth token), in which
//! format, and the HTTP extras (cookies, headers) a handler adds to the answer.

use crate::soap::{Element, Fault, Format};

use super::data::AccountData;
use super::state::{now_ms, SandboxState};
use super::token::{TokenClaims, TokenError};

pub struct Call<'a> {
    pub state: &'a SandboxState,
    pub format: Format,
    /// Request came in on `/service/admin/soap`.
    pub admin_port: bool,
    pub context: Option<&'a Element>,
    /// The token presented: header context first, then the cookie (§1.4).
    pub token: Option<String>,
    /// `X-Zimbra-Csrf-Token` request header.
    pub csrf_header: Option<String>,
    /// `Host` of the request, for URLs in answers.
    pub host: String,
    /// `Set-Cookie` values to add to the HTTP answer.
    pub set_cookies: Vec<String>,
    /// Extra response headers.
    pub headers: Vec<(String, String)>,
}

impl<'a> Call<'a> {
    /// The verified claims of the presented token.
    pub fn claims(&self) -> Result<TokenClaims, Fault> {
        let void_on_expired = self
            .context
            .and_then(|c| c.child("authTokenControl"))
            .and_then(|c| c.attr_bool("voidOnExpired").ok().flatten())
            .unwrap_or(false);
        let Some(token) = self.token.as_deref() else {
            return Err(Fault::auth_required());
        };
        let expired = || {
            if void_on_expired {
                Fault::auth_required()
            } else {
                Fault::auth_expired()
            }
        };
        if self.state.store.lock().revoked.contains(token) {
            return Err(expired());
        }
        let claims = match self.state.tokens.decode(token, now_ms()) {
            Ok(c) => c,
            Err(TokenError::Expired) => return Err(expired()),
            Err(_) => return Err(Fault::auth_required()),
        };
        if claims.usage != "a" {
            return Err(Fault::auth_required());
        }
        if claims.csrf && !self.csrf_ok(token) {
            return Err(Fault::auth_required());
        }
        Ok(claims)
    }

    fn csrf_ok(&self, token: &str) -> bool {
        let expected = self.state.tokens.csrf_for(token);
        let given = self.csrf_header.clone().or_else(|| {
            self.context
                .and_then(|c| c.attr("csrfToken"))
                .map(str::to_string)
        });
        given.as_deref() == Some(expected.as_str())
    }

    /// The calling mailbox account (admin tokens have no mailbox here). A delegated
    /// `<context><account by=…>` naming another mailbox is refused: nobody holds
    /// delegated rights in the sandbox (PERM_DENIED, as for non-admins in Zimbra).
    pub fn account(&self) -> Result<&'a AccountData, Fault> {
        let claims = self.claims()?;
        let me = self
            .state
            .account_by_id(&claims.id)
            .ok_or_else(|| Fault::perm_denied("no mailbox for this account"))?;
        if let Some(target) = self.context.and_then(|c| c.child("account")) {
            let by = target.attr("by").unwrap_or("name");
            let value = target.text().trim();
            let same = match by {
                "id" => value == me.id,
                _ => value.eq_ignore_ascii_case(&me.name),
            };
            if !value.is_empty() && !same {
                return Err(Fault::perm_denied("can not access account"));
            }
        }
        Ok(me)
    }

    /// Requires an admin token.
    pub fn require_admin(&self) -> Result<TokenClaims, Fault> {
        let claims = self.claims()?;
        if !claims.admin {
            return Err(Fault::perm_denied("need admin token"));
        }
        Ok(claims)
    }

    /// Base URL of this server as the client reached it.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.host)
    }
}

/// `mail.NO_SUCH_*`, `account.*` and similar faults used by several handlers.
pub fn fault(code: &str, reason: impl Into<String>) -> Fault {
    Fault::new(code, reason)
}

pub fn missing(attr: &str) -> Fault {
    Fault::invalid_request(&format!("missing required attribute: {attr}"))
}

/// A required field (attribute, child text or `_attrs`).
pub fn required<'e>(el: &'e Element, key: &str) -> Result<&'e str, Fault> {
    el.attr(key).ok_or_else(|| missing(key))
}

pub fn required_child<'e>(el: &'e Element, name: &str) -> Result<&'e Element, Fault> {
    el.child(name)
        .ok_or_else(|| Fault::invalid_request(&format!("missing required element: {name}")))
}

/// Boolean field with Zimbra's parsing (`1|0|true|false`).
pub fn flag(el: &Element, key: &str) -> Result<bool, Fault> {
    el.attr_bool(key)
        .map(|v| v.unwrap_or(false))
        .map_err(|_| Fault::invalid_request(&format!("invalid boolean value for {key}")))
}

/// The account behind a cookie / query token (REST, upload, webmail): signature,
/// expiry and revocation checked; CSRF is not required on these GET-style surfaces.
pub fn token_account<'s>(state: &'s SandboxState, token: &str) -> Option<&'s AccountData> {
    if state.store.lock().revoked.contains(token) {
        return None;
    }
    let claims = state.tokens.decode(token, now_ms()).ok()?;
    if claims.usage != "a" {
        return None;
    }
    state.account_by_id(&claims.id)
}
