//! The admin surface (`/service/admin/soap`): admin AuthRequest and SetPasswordRequest.

use crate::soap::{Element, Fault, ValueKind, NS_ADMIN};

use super::auth::issue;
use super::call::{fault, required, Call};
use super::data::PasswordHash;
use super::http_util::auth_cookie;
use super::state::now_ms;

pub const ADMIN_COOKIE: &str = "ZM_ADMIN_AUTH_TOKEN";

/// `<AuthRequest xmlns="urn:zimbraAdmin"><name>…</name>|<account by=…>…</account><password>…`.
pub fn auth(call: &mut Call<'_>, req: &Element) -> Result<Element, Fault> {
    let name = req
        .child("account")
        .map(|a| a.text().trim().to_string())
        .or_else(|| req.attr("name").map(str::to_string))
        .ok_or_else(|| super::call::missing("name"))?;
    let password = required(req, "password")?;
    let admin = call
        .state
        .admin
        .as_ref()
        .filter(|a| a.name.eq_ignore_ascii_case(&name));
    let ok = admin.is_some_and(|a| {
        call.state
            .store
            .lock()
            .passwords
            .get(&a.id)
            .is_some_and(|h| h.verify(password))
    });
    let Some(admin) = admin.filter(|_| ok) else {
        return Err(Fault::auth_failed(&name));
    };
    let (token, exp) = issue(call, &admin.id, None, true, false);
    call.set_cookies
        .push(auth_cookie(ADMIN_COOKIE, &token, None));
    Ok(Element::new(NS_ADMIN, "AuthResponse")
        .with_child(Element::new(NS_ADMIN, "authToken").with_text(token))
        .with_content_attr(
            "lifetime",
            exp.saturating_sub(now_ms()).to_string(),
            ValueKind::Num,
        ))
}

/// `<SetPasswordRequest id="{account-id}" newPassword="…"/>`.
pub fn set_password(call: &mut Call<'_>, req: &Element) -> Result<Element, Fault> {
    call.require_admin()?;
    let id = required(req, "id")?;
    let new = required(req, "newPassword")?;
    let account = call
        .state
        .account_by_id(id)
        .ok_or_else(|| fault("account.NO_SUCH_ACCOUNT", format!("no such account: {id}")))?;
    if new.is_empty() {
        return Err(fault(
            "account.INVALID_PASSWORD",
            "invalid password: too short",
        ));
    }
    call.state
        .store
        .lock()
        .passwords
        .insert(account.id.clone(), PasswordHash::new(new));
    Ok(Element::new(NS_ADMIN, "SetPasswordResponse"))
}

/// `<GetAccountRequest><account by="name|id">…</account></GetAccountRequest>`: the
/// account's name and id, with `zimbraId` and its `zimbraMailAlias` values among its
/// attributes (`a n=…`), as Zimbra answers it (the gateway uses it to find the id before
/// `SetPasswordRequest`, and to learn which account a typed login name designates).
pub fn get_account(call: &mut Call<'_>, req: &Element) -> Result<Element, Fault> {
    call.require_admin()?;
    let selector = req
        .child("account")
        .ok_or_else(|| super::call::missing("account"))?;
    let key = selector.text().trim();
    let account = match selector.attr("by").unwrap_or("name") {
        // Aliases, alias domains and the default domain resolve as for a login.
        by @ ("name" | "id") => call.state.find_account(by, key),
        other => {
            return Err(fault(
                "service.INVALID_REQUEST",
                format!("invalid request: unsupported account selector {other}"),
            ))
        }
    }
    .ok_or_else(|| fault("account.NO_SUCH_ACCOUNT", format!("no such account: {key}")))?;
    let attr = |n: &str, v: &str| Element::new(NS_ADMIN, "a").with_attr("n", n).with_text(v);
    let mut element = Element::new(NS_ADMIN, "account")
        .with_attr("name", &account.name)
        .with_attr("id", &account.id)
        .with_child(attr("zimbraId", &account.id))
        .with_child(attr("zimbraMailDeliveryAddress", &account.name));
    for alias in &account.aliases {
        element = element.with_child(attr("zimbraMailAlias", alias));
    }
    Ok(Element::new(NS_ADMIN, "GetAccountResponse").with_child(element))
}
