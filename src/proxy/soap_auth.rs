//! Step 1 of the SOAP decision point: sessions and the requests the gateway
//! answers itself because they create, prove or change credentials.
//!
//! - the header context's `authToken` / `jwtToken` / `jwtSalt` never reach the store:
//!   a gateway session id there names the session, anything else is dropped;
//! - `AuthRequest`, the two-factor requests and `ChangePasswordRequest` are answered
//!   here (the store's token never reaches the client), alone only: inside a
//!   `BatchRequest` they are refused, so no batch mixes credentials and mail;
//! - everything else needs a full session, or gets `service.AUTH_REQUIRED` without
//!   reaching the store;
//! - `EndSessionRequest` also ends the gateway session.

use super::context::{GatewaySession, RequestContext};
use super::session_gate;
use crate::audit::AuditEvent;
use crate::auth::regulation::PasswordGate;
use crate::auth::secret::Password;
use crate::auth::services::AuthServices;
use crate::auth::session::inject_upstream_token;
use crate::auth::soap2fa::responses;
use crate::auth::upstream::UpstreamError;
use crate::soap::{Element, Envelope, Fault, SoapReply, ValueKind, NS_ACCOUNT, NS_MAIL, NS_ZIMBRA};
use http::HeaderMap;

/// Requests the gateway answers itself (any namespace: the admin ones are refused).
const GATEWAY_ANSWERED: &[&str] = &[
    "AuthRequest",
    "ChangePasswordRequest",
    "EnableTwoFactorAuthRequest",
    "DisableTwoFactorAuthRequest",
    "GenerateScratchCodesRequest",
    "GetScratchCodesRequest",
    "SendTwoFactorAuthCodeRequest",
];

/// Client credentials a SOAP header context may carry.
const HEADER_TOKENS: &[&str] = &["authToken", "jwtToken", "jwtSalt"];

/// What the pipeline does next.
pub enum AuthStep {
    /// Go on with the directory and policy steps (`ctx.session` is set).
    Continue,
    /// Answer the client; nothing goes to the store.
    Answer(SoapReply),
}

/// Runs the auth step. `env` loses any client token from its header context
/// (`*env_changed` tells the caller to forward the rewritten envelope); `headers`
/// get the session's store token when the session was named in the SOAP header.
pub async fn step(
    env: &mut Envelope,
    env_changed: &mut bool,
    ctx: &mut RequestContext,
    headers: &mut HeaderMap,
    auth: &AuthServices,
) -> AuthStep {
    let header_token = take_header_tokens(env, env_changed);
    // One request, one session: a header token naming another live session than the
    // cookie's is refused (whichever would have won).
    if let (Some(s), Some(t)) = (&ctx.session, header_token.as_deref()) {
        if session_gate::names_another(t, s, auth.sessions()).await {
            return AuthStep::Answer(env.fault(&Fault::auth_required()));
        }
    }
    if ctx.session.is_none() {
        if let Some(t) = header_token.as_deref() {
            ctx.session = session_gate::lookup(t, auth.sessions()).await;
            if let Some(s) = &ctx.session {
                if inject_upstream_token(headers, &s.upstream_token).is_err() {
                    return AuthStep::Answer(env.fault(&Fault::auth_required()));
                }
            }
        }
    }

    let requests = env.requests();
    if let Some(r) = requests
        .iter()
        .find(|r| GATEWAY_ANSWERED.contains(&r.element.name.as_str()))
    {
        let fault = if env.is_batch() {
            Some(Fault::invalid_request(
                "requête d'authentification à envoyer seule, hors BatchRequest",
            ))
        } else if r.element.ns != NS_ACCOUNT {
            Some(Fault::perm_denied(
                "l'authentification d'administration ne passe pas par la passerelle MSSanté",
            ))
        } else {
            None
        };
        if let Some(f) = fault {
            return AuthStep::Answer(env.fault(&f));
        }
        let element = r.element.clone();
        let answer = answer(&element, ctx, auth).await;
        return AuthStep::Answer(match answer {
            Ok(el) => env.reply(el),
            Err(f) => env.fault(&f),
        });
    }

    let Some(session) = &ctx.session else {
        return AuthStep::Answer(env.fault(&Fault::auth_required()));
    };
    if requests
        .iter()
        .any(|r| r.element.name == "EndSessionRequest")
    {
        // The request still goes up with the store token, so the store ends it too.
        if let Ok(Some(s)) = auth.sessions().revoke(session.id.expose()).await {
            AuditEvent::new("logout")
                .user(&s.user)
                .client_ip(ctx.client_ip)
                .detail(serde_json::json!({"via": "soap"}))
                .emit();
        }
    } else if !requests.iter().all(|r| is_background(r.element)) {
        if let Err(e) = auth
            .sessions()
            .touch(session.id.expose(), &session.session)
            .await
        {
            tracing::warn!(error = %e, "session activity not recorded");
        }
    }
    AuthStep::Continue
}

/// Removes every client token from the header context; returns the auth token.
fn take_header_tokens(env: &mut Envelope, changed: &mut bool) -> Option<String> {
    let ctx = env.context.as_mut()?;
    let token = ctx
        .attr("authToken")
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(String::from);
    for name in HEADER_TOKENS {
        if !ctx.attr_all(name).is_empty() {
            ctx.remove_field(name);
            *changed = true;
        }
    }
    token
}

/// Polling that must not keep a session alive (A7).
fn is_background(e: &Element) -> bool {
    (e.ns == NS_MAIL || e.ns == NS_ZIMBRA)
        && matches!(e.name.as_str(), "NoOpRequest" | "WaitSetRequest")
}

async fn answer(
    req: &Element,
    ctx: &RequestContext,
    auth: &AuthServices,
) -> Result<Element, Fault> {
    let session = ctx.session.as_ref();
    match req.name.as_str() {
        // A client checking that the token it holds still works (no password, no code).
        "AuthRequest"
            if req.attr("password").is_none()
                && req.attr("twoFactorCode").is_none()
                && req.attr("authToken").is_some() =>
        {
            let token = req.attr("authToken").map(str::trim).unwrap_or_default();
            match session_gate::lookup(token, auth.sessions()).await {
                Some(s) => Ok(responses::auth_complete(
                    s.id.expose(),
                    remaining_ms(&s, auth),
                )),
                // Not a session: perhaps a two-factor stage token without its code.
                None => auth.soap.handle(req, None, ctx.client_ip).await,
            }
        }
        "ChangePasswordRequest" => {
            let s = session.ok_or_else(Fault::auth_required)?;
            change_password(req, s, ctx, auth).await
        }
        _ => {
            auth.soap
                .handle(req, session.map(GatewaySession::user), ctx.client_ip)
                .await
        }
    }
}

fn remaining_ms(s: &GatewaySession, auth: &AuthServices) -> u64 {
    let cfg = &auth.portal.cfg.session;
    let end = s.session.created_ms + cfg.absolute_lifetime_secs * 1000;
    end.saturating_sub(auth.portal.regulator.now_ms())
}

/// The store answers a password change with a new token (the old one dies): keep it
/// in the session and give the client its unchanged gateway token.
async fn change_password(
    req: &Element,
    s: &GatewaySession,
    ctx: &RequestContext,
    auth: &AuthServices,
) -> Result<Element, Fault> {
    let named = req
        .child("account")
        .map(|a| a.text().trim().to_string())
        .or_else(|| req.attr("account").map(|a| a.trim().to_string()))
        .ok_or_else(|| Fault::invalid_request("missing account"))?;
    // The name must designate the session's account (any spelling of it).
    let designated = auth
        .portal
        .resolver
        .resolve(&named)
        .await
        .ok()
        .map(|n| n.key);
    if designated.as_deref() != Some(s.user()) {
        return Err(Fault::perm_denied(
            "le mot de passe ne peut être changé que pour votre propre compte",
        ));
    }
    let old = req
        .attr("oldPassword")
        .ok_or_else(|| Fault::invalid_request("missing oldPassword"))?;
    let new = req
        .attr("password")
        .ok_or_else(|| Fault::invalid_request("missing password"))?;
    let regulator = &auth.portal.regulator;
    match regulator.begin_password(s.user(), ctx.client_ip).await {
        Ok(PasswordGate::Open) => {}
        Ok(_) => return Err(Fault::auth_failed(s.user())),
        Err(_) => return Err(Fault::failure("serveur de messagerie indisponible").receiver()),
    }
    let result = auth
        .portal
        .upstream
        .change_password(
            &s.upstream_token,
            s.user(),
            &Password::new(old),
            &Password::new(new),
        )
        .await;
    let changed = match result {
        Ok(a) => {
            let _ = regulator.password_succeeded(s.user(), ctx.client_ip).await;
            a
        }
        Err(UpstreamError::AuthFailed) => {
            let _ = regulator.password_failed(s.user(), ctx.client_ip).await;
            return Err(Fault::auth_failed(s.user()));
        }
        Err(UpstreamError::Fault { code, reason }) => return Err(Fault::new(code, reason)),
        Err(e) => {
            tracing::warn!(error = %e, "password change: store unavailable");
            return Err(Fault::failure("serveur de messagerie indisponible").receiver());
        }
    };
    let mut session = s.session.clone();
    session.upstream_token = Some(changed.token);
    auth.sessions()
        .update(s.id.expose(), &session)
        .await
        .map_err(|_| Fault::failure("session non mise à jour").receiver())?;
    AuditEvent::new("password.changed")
        .user(s.user())
        .client_ip(ctx.client_ip)
        .detail(serde_json::json!({"via": "soap"}))
        .emit();
    Ok(Element::new(NS_ACCOUNT, "ChangePasswordResponse")
        .with_child(
            Element::new(NS_ACCOUNT, "authToken")
                .unique()
                .with_text(s.id.expose()),
        )
        .with_content_attr(
            "lifetime",
            remaining_ms(s, auth).to_string(),
            ValueKind::Num,
        ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::soap::Format;

    #[test]
    fn header_tokens_are_removed_in_every_spelling() {
        let ctx = Element::new(NS_ZIMBRA, "context")
            .with_attr("authToken", "A")
            .with_child(Element::new(NS_ZIMBRA, "jwtToken").with_text("J"));
        let mut env = Envelope {
            format: Format::Json,
            context: Some(ctx),
            body: Element::new(NS_ACCOUNT, "GetInfoRequest"),
        };
        let mut changed = false;
        assert_eq!(
            take_header_tokens(&mut env, &mut changed).as_deref(),
            Some("A")
        );
        assert!(changed);
        let c = env.context.as_ref().unwrap();
        assert!(c.attr_all("authToken").is_empty() && c.attr_all("jwtToken").is_empty());
        let bytes = env.to_bytes();
        assert!(!String::from_utf8_lossy(&bytes).contains("\"A\""));
    }

    #[test]
    fn polling_is_background() {
        assert!(is_background(&Element::new(NS_MAIL, "NoOpRequest")));
        assert!(is_background(&Element::new(NS_MAIL, "WaitSetRequest")));
        assert!(!is_background(&Element::new(NS_MAIL, "SearchRequest")));
    }
}
