//! Account authentication: AuthRequest (password, preauth, authToken), ChangePassword,
//! EndSession (zimbra-api.md §2.1-2.2).

use crate::soap::{Element, Fault, ValueKind, NS_ACCOUNT};

use super::call::{flag, required, Call};
use super::data::AccountData;
use super::http_util::{auth_cookie, clear_cookie};
use super::preauth::{self, PreauthInput};
use super::state::now_ms;
use super::token::TokenClaims;

pub const USER_COOKIE: &str = "ZM_AUTH_TOKEN";

/// Issues a token for `account_id`, expiring at `exp` (or after the default lifetime).
pub fn issue(
    call: &Call<'_>,
    account_id: &str,
    exp: Option<u64>,
    admin: bool,
    csrf: bool,
) -> (String, u64) {
    let exp = exp.unwrap_or_else(|| now_ms() + call.state.settings.token_lifetime_ms);
    let token = call.state.tokens.encode(&TokenClaims {
        id: account_id.to_string(),
        exp,
        usage: "a".to_string(),
        admin,
        csrf,
    });
    (token, exp)
}

/// `<account by="name|id">value</account>` → the account, or AUTH_FAILED with the name as passed.
fn lookup<'s>(call: &Call<'s>, req: &Element) -> Result<(&'s AccountData, String), Fault> {
    let acct = req
        .child("account")
        .ok_or_else(|| Fault::invalid_request("missing required element: account"))?;
    let by = acct.attr("by").unwrap_or("name");
    let value = acct.text().trim().to_string();
    match call.state.find_account(by, &value) {
        Some(a) => Ok((a, value)),
        None => Err(Fault::auth_failed(&value)),
    }
}

/// The AuthResponse body, plus the cookie (and CSRF header when asked for).
fn respond(
    call: &mut Call<'_>,
    req: &Element,
    account: &AccountData,
    token: String,
    exp: u64,
) -> Result<Element, Fault> {
    let csrf = flag(req, "csrfTokenSecured")?;
    let persist = flag(req, "persistAuthTokenCookie")?;
    let mut resp = Element::new(NS_ACCOUNT, "AuthResponse")
        .with_child(Element::new(NS_ACCOUNT, "authToken").with_text(token.clone()))
        .with_content_attr(
            "lifetime",
            exp.saturating_sub(now_ms()).to_string(),
            ValueKind::Num,
        );
    if csrf {
        let csrf_token = call.state.tokens.csrf_for(&token);
        resp = resp.with_child(
            Element::new(NS_ACCOUNT, "csrfToken")
                .with_text(csrf_token.clone())
                .unique(),
        );
        call.headers
            .push(("X-Zimbra-Csrf-Token".to_string(), csrf_token));
    }
    if let Some(wanted) = req.child("prefs") {
        let store = call.state.store.lock();
        let mb = &store.mailboxes[&account.id];
        let names: Vec<&str> = wanted
            .children_named("pref")
            .filter_map(|p| p.attr("name"))
            .collect();
        let pairs = super::prefs::effective_named(&mb.prefs, &names);
        resp = resp.with_child(
            Element::new(NS_ACCOUNT, "prefs")
                .unique()
                .with_kv("pref", "name", pairs),
        );
    }
    if let Some(wanted) = req.child("attrs") {
        let names: Vec<&str> = wanted
            .children_named("attr")
            .filter_map(|p| p.attr("name"))
            .collect();
        let pairs = super::info::account_attrs(call.state, account)
            .into_iter()
            .filter(|(k, _)| names.is_empty() || names.contains(&k.as_str()))
            .collect::<Vec<_>>();
        resp = resp.with_child(
            Element::new(NS_ACCOUNT, "attrs")
                .unique()
                .with_kv("attr", "name", pairs),
        );
    }
    let skin = req
        .attr("requestedSkin")
        .filter(|s| !s.is_empty())
        .unwrap_or("harmony")
        .to_string();
    resp = resp.with_child(Element::new(NS_ACCOUNT, "skin").with_text(skin));
    let persist_until = persist.then_some(exp);
    call.set_cookies
        .push(auth_cookie(USER_COOKIE, &token, persist_until));
    Ok(resp)
}

/// `urn:zimbraAccount` AuthRequest.
pub fn auth(call: &mut Call<'_>, req: &Element) -> Result<Element, Fault> {
    if let Some(pw) = req.child("password") {
        let (account, passed) = lookup(call, req)?;
        let ok = call
            .state
            .store
            .lock()
            .passwords
            .get(&account.id)
            .is_some_and(|h| h.verify(pw.text()));
        if !ok {
            return Err(Fault::auth_failed(&passed));
        }
        let csrf = flag(req, "csrfTokenSecured")?;
        let (token, exp) = issue(call, &account.id, None, false, csrf);
        return respond(call, req, account, token, exp);
    }
    if let Some(pre) = req.child("preauth") {
        let acct = req
            .child("account")
            .ok_or_else(|| Fault::invalid_request("missing required element: account"))?;
        let by = acct.attr("by").unwrap_or("name");
        let passed = acct.text().trim().to_string();
        let account = call
            .state
            .find_account(by, &passed)
            .ok_or_else(|| Fault::auth_failed(&passed))?;
        let key = call
            .state
            .domain(account.domain())
            .map(|d| d.preauth_key.clone())
            .ok_or_else(|| Fault::invalid_request("domain is not configured for preauth"))?;
        let input = PreauthInput {
            account: &passed,
            by,
            timestamp: required(pre, "timestamp")?,
            expires: required(pre, "expires")?,
            admin: false,
            value: pre.text().trim(),
        };
        let exp =
            preauth::verify(&key, &input, now_ms()).map_err(|_| Fault::auth_failed(&passed))?;
        let csrf = flag(req, "csrfTokenSecured")?;
        let (token, exp) = issue(call, &account.id, exp, false, csrf);
        return respond(call, req, account, token, exp);
    }
    if let Some(tok) = req.child("authToken") {
        let token = tok.text().trim().to_string();
        let claims = call
            .state
            .tokens
            .decode(&token, now_ms())
            .map_err(|_| Fault::auth_expired())?;
        if call.state.store.lock().revoked.contains(&token) {
            return Err(Fault::auth_expired());
        }
        let account = call
            .state
            .account_by_id(&claims.id)
            .ok_or_else(|| Fault::auth_failed(&claims.id))?;
        if flag(tok, "verifyAccount")? {
            let (named, passed) = lookup(call, req)?;
            if named.id != account.id {
                return Err(Fault::auth_failed(&passed));
            }
        }
        return respond(call, req, account, token, claims.exp);
    }
    Err(Fault::invalid_request(
        "must specify password, preauth or authToken",
    ))
}

/// ChangePasswordRequest: old password checked, new token issued, the caller's token ended.
pub fn change_password(call: &mut Call<'_>, req: &Element) -> Result<Element, Fault> {
    let (account, passed) = lookup(call, req)?;
    let old = required(req, "oldPassword")?;
    let new = required(req, "password")?;
    if new.is_empty() {
        return Err(Fault::new(
            "account.INVALID_PASSWORD",
            "invalid password: too short",
        ));
    }
    {
        let mut store = call.state.store.lock();
        if !store
            .passwords
            .get(&account.id)
            .is_some_and(|h| h.verify(old))
        {
            return Err(Fault::auth_failed(&passed));
        }
        store
            .passwords
            .insert(account.id.clone(), super::data::PasswordHash::new(new));
        if let Some(t) = &call.token {
            store.revoked.insert(t.clone());
        }
    }
    let (token, exp) = issue(call, &account.id, None, false, false);
    call.set_cookies
        .push(auth_cookie(USER_COOKIE, &token, None));
    Ok(Element::new(NS_ACCOUNT, "ChangePasswordResponse")
        .with_child(Element::new(NS_ACCOUNT, "authToken").with_text(token))
        .with_content_attr(
            "lifetime",
            exp.saturating_sub(now_ms()).to_string(),
            ValueKind::Num,
        ))
}

/// EndSessionRequest: the token stops working; `logoff="1"` also clears the cookie.
pub fn end_session(call: &mut Call<'_>, req: &Element) -> Result<Element, Fault> {
    call.claims()?;
    if let Some(t) = &call.token {
        call.state.store.lock().revoked.insert(t.clone());
    }
    if flag(req, "logoff")? {
        call.set_cookies.push(clear_cookie(USER_COOKIE));
    }
    Ok(Element::new(NS_ACCOUNT, "EndSessionResponse"))
}
