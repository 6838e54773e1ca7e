//! "Mon Profil" (A6), full sessions only. Every form carries the session's
//! "profile" CSRF token, checked before anything else:
//!
//! * contact address: a code goes to the NEW address, the change is saved once
//!   the code is typed back;
//! * password: old, new, confirmation → store `ChangePasswordRequest`; the
//!   session keeps working with the store's new token, other sessions end; a
//!   wrong old password counts as a login failure;
//! * OTP channel: a current code (or a recovery code) first, then the usual
//!   set-up page (`/otp/parametrage`), which checks the mark left here;
//! * "Se déconnecter de partout": every session of the user ends.

use super::csrf;
use super::forms::{self, ChangePasswordForm, CodeForm, ContactEmailForm, CsrfOnlyForm};
use super::http_util::{html, redirect};
use super::pages::{self, paths, ProfileView};
use super::router::{send_login_code, PortalState, BAD_CODE, EXPIRED_FORM, TOO_MANY, UNAVAILABLE};
use crate::audit::AuditEvent;
use crate::auth::login::CodeVerdict;
use crate::auth::otp::EmailCodeVerdict;
use crate::auth::regulation::{Endpoint, PasswordGate};
use crate::auth::session::{LiveSession, Stage};
use crate::auth::upstream::UpstreamError;
use crate::mail::messages;
use crate::store::{OtpChannel, StoreError};
use bytes::Bytes;
use http::{Request, Response, StatusCode};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::net::IpAddr;
use std::time::{Duration, Instant};

/// CSRF purpose of every profile form.
const CSRF_PURPOSE: &str = "profile";
/// Email-code purpose for a contact address change.
const CONTACT_CODE_PURPOSE: &str = "contact";
/// How long a verified current code allows the channel set-up.
const OTP_CHANGE_WINDOW: Duration = Duration::from_secs(15 * 60);

/// `?info=` code the login page turns into "Toutes vos sessions ont été fermées."
pub(super) const INFO_LOGGED_OUT_ALL: &str = "deconnecte-partout";

const NO_MAIL: &str = "Le code n'a pas pu être envoyé. Veuillez réessayer plus tard.";

/// A contact address waiting for its code.
#[derive(Serialize, Deserialize)]
struct PendingContact {
    email: String,
}

fn contact_key(user: &str) -> String {
    format!("portal_contact:{user}")
}

/// Bound to the session id (hashed, like the session store does).
fn otp_change_key(live: &LiveSession) -> String {
    let d = ring::digest::digest(&ring::digest::SHA256, live.id.expose().as_bytes());
    format!("portal_otp_change:{}", hex::encode(d.as_ref()))
}

/// May this full session replace its existing OTP channel right now?
pub(super) async fn otp_change_allowed(
    st: &PortalState,
    live: &LiveSession,
) -> Result<bool, StoreError> {
    Ok(st.short.get(&otp_change_key(live)).await?.is_some())
}

/// The channel set-up finished: the mark is used up.
pub(super) async fn otp_change_done(
    st: &PortalState,
    live: &LiveSession,
) -> Result<(), StoreError> {
    st.short.delete(&otp_change_key(live)).await
}

async fn full_session(
    req: &Request<Bytes>,
    st: &PortalState,
) -> Result<LiveSession, Response<Bytes>> {
    st.session(req)
        .await
        .filter(|l| l.session.stage == Stage::Full)
        .ok_or_else(|| redirect(&format!("{}?retour=%2Fprofil", paths::LOGIN), &[]))
}

/// A full session, its CSRF token checked first, then the form itself.
async fn checked<T: DeserializeOwned>(
    req: &Request<Bytes>,
    st: &PortalState,
) -> Result<(LiveSession, T), Response<Bytes>> {
    let live = full_session(req, st).await?;
    let ok = forms::parse::<CsrfOnlyForm>(req.body()).is_ok_and(|f| {
        csrf::verify_session_token(&live.session.csrf_secret, CSRF_PURPOSE, &f.csrf)
    });
    if !ok {
        return Err(st.error(StatusCode::FORBIDDEN, EXPIRED_FORM));
    }
    let form = forms::parse::<T>(req.body())
        .map_err(|_| st.error(StatusCode::BAD_REQUEST, "Formulaire invalide."))?;
    Ok((live, form))
}

async fn profile_page(
    st: &PortalState,
    live: &LiveSession,
    status: StatusCode,
    notice: Option<&str>,
    error: Option<&str>,
) -> Response<Bytes> {
    let Ok(sec) = st.factor.durable.get(&live.session.user).await else {
        return st.error(StatusCode::SERVICE_UNAVAILABLE, UNAVAILABLE);
    };
    let token = csrf::session_token(&live.session.csrf_secret, CSRF_PURPOSE);
    let view = ProfileView {
        username: &live.session.user,
        contact_email: sec.contact_email.as_deref().unwrap_or(""),
        channel: sec.otp_channel,
        recovery_codes_left: sec.recovery_codes_left,
    };
    html(
        status,
        pages::profile(&st.ctx(true), &token, &view, notice, error),
        &[],
    )
}

fn contact_code_page(
    st: &PortalState,
    live: &LiveSession,
    status: StatusCode,
    email: &str,
    error: Option<&str>,
) -> Response<Bytes> {
    let token = csrf::session_token(&live.session.csrf_secret, CSRF_PURPOSE);
    html(
        status,
        pages::contact_code(&st.ctx(true), &token, email, error),
        &[],
    )
}

/// Best effort, in the background: a notice is no reason to fail the change.
fn notify(st: &PortalState, to: Option<String>, n: messages::Notification) {
    if let (Some(mailer), Some(to)) = (st.mailer.clone(), to) {
        tokio::spawn(async move {
            if let Err(e) = mailer.send(&to, &n).await {
                tracing::warn!(error = %e, "profile notice mail not sent");
            }
        });
    }
}

pub(super) async fn profile_get(req: &Request<Bytes>, st: &PortalState) -> Response<Bytes> {
    match full_session(req, st).await {
        Ok(live) => profile_page(st, &live, StatusCode::OK, None, None).await,
        Err(r) => r,
    }
}

/// Step 1 of a contact change: a code to the new address.
pub(super) async fn email_post(
    req: &Request<Bytes>,
    _ip: IpAddr,
    st: &PortalState,
) -> Response<Bytes> {
    let (live, form) = match checked::<ContactEmailForm>(req, st).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let user = live.session.user.clone();
    let email = form.email.trim().to_string();
    if !forms::plausible_email(&email) {
        return profile_page(
            st,
            &live,
            StatusCode::BAD_REQUEST,
            None,
            Some("Adresse e-mail invalide."),
        )
        .await;
    }
    let current = st
        .factor
        .durable
        .get(&user)
        .await
        .ok()
        .and_then(|s| s.contact_email);
    if current.is_some_and(|c| c.eq_ignore_ascii_case(&email)) {
        return profile_page(
            st,
            &live,
            StatusCode::OK,
            Some("Cette adresse est déjà votre adresse de contact."),
            None,
        )
        .await;
    }
    let Some(mailer) = st.mailer.as_ref() else {
        return profile_page(
            st,
            &live,
            StatusCode::SERVICE_UNAVAILABLE,
            None,
            Some(NO_MAIL),
        )
        .await;
    };
    if !st
        .regulator
        .allow_account(Endpoint::EmailCode, &user)
        .await
        .unwrap_or(false)
    {
        return profile_page(
            st,
            &live,
            StatusCode::TOO_MANY_REQUESTS,
            None,
            Some(TOO_MANY),
        )
        .await;
    }
    let pending = PendingContact {
        email: email.clone(),
    };
    let stored = st
        .short
        .put_json(&contact_key(&user), &pending, st.factor.email.validity())
        .await;
    let code = match (
        stored,
        st.factor.email.issue(CONTACT_CODE_PURPOSE, &user).await,
    ) {
        (Ok(()), Ok(c)) => c,
        _ => return st.error(StatusCode::SERVICE_UNAVAILABLE, UNAVAILABLE),
    };
    let n = messages::contact_change_code(
        &st.cfg.operator.name,
        code.expose(),
        st.cfg.email_code.validity_secs,
    );
    if let Err(e) = mailer.send(&email, &n).await {
        tracing::warn!(error = %e, "contact change code not sent");
        return profile_page(
            st,
            &live,
            StatusCode::SERVICE_UNAVAILABLE,
            None,
            Some(NO_MAIL),
        )
        .await;
    }
    contact_code_page(st, &live, StatusCode::OK, &email, None)
}

/// Step 2 of a contact change: the code typed back.
pub(super) async fn email_confirm(
    req: &Request<Bytes>,
    ip: IpAddr,
    st: &PortalState,
) -> Response<Bytes> {
    let (live, form) = match checked::<CodeForm>(req, st).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let user = live.session.user.clone();
    let Ok(Some(pending)) = st
        .short
        .get_json::<PendingContact>(&contact_key(&user))
        .await
    else {
        return profile_page(
            st,
            &live,
            StatusCode::BAD_REQUEST,
            None,
            Some("Aucun changement d'adresse n'est en attente, ou le code a expiré. Veuillez recommencer."),
        )
        .await;
    };
    if let Some(refusal) = st.otp_rate_refusal(ip).await {
        return refusal;
    }
    match st
        .factor
        .email
        .verify(CONTACT_CODE_PURPOSE, &user, form.code.expose())
        .await
    {
        Ok(EmailCodeVerdict::Accepted) => {}
        Ok(EmailCodeVerdict::Wrong { .. }) => {
            return contact_code_page(
                st,
                &live,
                StatusCode::UNAUTHORIZED,
                &pending.email,
                Some(BAD_CODE),
            )
        }
        Ok(EmailCodeVerdict::NoCode) => {
            let _ = st.short.delete(&contact_key(&user)).await;
            return profile_page(
                st,
                &live,
                StatusCode::BAD_REQUEST,
                None,
                Some("Le code a expiré ou a été saisi trop de fois. Veuillez recommencer."),
            )
            .await;
        }
        Err(_) => return st.error(StatusCode::SERVICE_UNAVAILABLE, UNAVAILABLE),
    }
    let d = &st.factor.durable;
    let old = d.get(&user).await.ok().and_then(|s| s.contact_email);
    if d.set_contact_email(&user, Some(&pending.email))
        .await
        .is_err()
    {
        return st.error(StatusCode::SERVICE_UNAVAILABLE, UNAVAILABLE);
    }
    let _ = st.short.delete(&contact_key(&user)).await;
    AuditEvent::new("profile.contact_email_changed")
        .user(&user)
        .client_ip(ip)
        .emit();
    notify(
        st,
        old,
        messages::contact_email_changed(&st.cfg.operator.name, &pending.email),
    );
    profile_page(
        st,
        &live,
        StatusCode::OK,
        Some("Votre adresse de contact a été modifiée."),
        None,
    )
    .await
}

/// Password change through the store (old password checked there).
pub(super) async fn password_post(
    req: &Request<Bytes>,
    ip: IpAddr,
    st: &PortalState,
) -> Response<Bytes> {
    let started = Instant::now();
    let (mut live, form) = match checked::<ChangePasswordForm>(req, st).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let user = live.session.user.clone();
    if let Err(msg) = forms::check_new_password(&form.password, &form.confirmation) {
        return profile_page(st, &live, StatusCode::BAD_REQUEST, None, Some(msg)).await;
    }
    // Counted like a login's password (same pair, same bans), once it goes to the store.
    match st.regulator.begin_password(&user, ip).await {
        Ok(PasswordGate::Open) => {}
        Ok(_) => {
            st.regulator.uniform_delay(started).await;
            return profile_page(
                st,
                &live,
                StatusCode::TOO_MANY_REQUESTS,
                None,
                Some(TOO_MANY),
            )
            .await;
        }
        Err(_) => return st.error(StatusCode::SERVICE_UNAVAILABLE, UNAVAILABLE),
    }
    let Some(token) = live.session.upstream_token.clone() else {
        return st.error(StatusCode::SERVICE_UNAVAILABLE, UNAVAILABLE);
    };
    let auth = match st
        .upstream
        .change_password(&token, &user, &form.old_password, &form.password)
        .await
    {
        Ok(a) => {
            let _ = st.regulator.password_succeeded(&user, ip).await;
            a
        }
        Err(UpstreamError::AuthFailed) => {
            let _ = st.regulator.password_failed(&user, ip).await;
            st.regulator.uniform_delay(started).await;
            return profile_page(
                st,
                &live,
                StatusCode::UNAUTHORIZED,
                None,
                Some("L'ancien mot de passe est incorrect."),
            )
            .await;
        }
        Err(UpstreamError::Fault { code, .. }) if code.starts_with("account.") => {
            tracing::info!(%code, "store refused the new password");
            return profile_page(
                st,
                &live,
                StatusCode::BAD_REQUEST,
                None,
                Some("La messagerie a refusé ce mot de passe (trop proche d'un ancien mot de passe ou contraire à ses règles). Veuillez en choisir un autre."),
            )
            .await;
        }
        Err(e) => {
            tracing::warn!(error = %e, "password change failed");
            return st.error(StatusCode::SERVICE_UNAVAILABLE, UNAVAILABLE);
        }
    };
    // Other sessions end; this one goes on with the store's new token.
    // The current session leaves the index first so it is not ended with the others.
    let _ = st.sessions.revoke(live.id.expose()).await;
    let ended = st.end_user_sessions(&user).await.unwrap_or(0);
    live.session.upstream_token = Some(auth.token);
    if st
        .sessions
        .update(live.id.expose(), &live.session)
        .await
        .is_err()
    {
        return st.error(StatusCode::SERVICE_UNAVAILABLE, UNAVAILABLE);
    }
    AuditEvent::new("password.changed")
        .user(&user)
        .client_ip(ip)
        .detail(serde_json::json!({"other_sessions_ended": ended}))
        .emit();
    let contact = st
        .factor
        .durable
        .get(&user)
        .await
        .ok()
        .and_then(|s| s.contact_email);
    notify(
        st,
        contact,
        messages::password_changed(&st.cfg.operator.name),
    );
    profile_page(
        st,
        &live,
        StatusCode::OK,
        Some("Votre mot de passe a été modifié. Vos autres sessions ont été fermées."),
        None,
    )
    .await
}

/// Sends a login code so an email-channel user can prove the current factor.
pub(super) async fn otp_send(req: &Request<Bytes>, st: &PortalState) -> Response<Bytes> {
    let (live, _) = match checked::<CsrfOnlyForm>(req, st).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let sec = match st.factor.durable.get(&live.session.user).await {
        Ok(s) => s,
        Err(_) => return st.error(StatusCode::SERVICE_UNAVAILABLE, UNAVAILABLE),
    };
    let sent = sec.otp_channel == Some(OtpChannel::Email)
        && send_login_code(st, &live.session.user, sec.contact_email.as_deref()).await;
    if sent {
        profile_page(
            st,
            &live,
            StatusCode::OK,
            Some("Un code vous a été envoyé à votre adresse de contact."),
            None,
        )
        .await
    } else {
        profile_page(
            st,
            &live,
            StatusCode::SERVICE_UNAVAILABLE,
            None,
            Some(NO_MAIL),
        )
        .await
    }
}

/// OTP channel change: a current code first, then the set-up page.
pub(super) async fn otp_post(
    req: &Request<Bytes>,
    ip: IpAddr,
    st: &PortalState,
) -> Response<Bytes> {
    let (live, form) = match checked::<CodeForm>(req, st).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    if let Some(refusal) = st.otp_rate_refusal(ip).await {
        return refusal;
    }
    // Counted with the account's other wrong codes; a full session is not voided by
    // them (the current generation), only stopped by a lock.
    let user = &live.session.user;
    let verdict = match st.regulator.code_epoch(user).await {
        Ok(epoch) => {
            st.login()
                .check_code(user, form.code.expose(), epoch, ip)
                .await
        }
        Err(e) => Err(e),
    };
    match verdict {
        Ok(CodeVerdict::Accepted(_)) => {}
        Ok(CodeVerdict::Wrong) => {
            return profile_page(st, &live, StatusCode::UNAUTHORIZED, None, Some(BAD_CODE)).await
        }
        Ok(CodeVerdict::Voided | CodeVerdict::Locked) => {
            return profile_page(
                st,
                &live,
                StatusCode::TOO_MANY_REQUESTS,
                None,
                Some(TOO_MANY),
            )
            .await
        }
        Err(_) => return st.error(StatusCode::SERVICE_UNAVAILABLE, UNAVAILABLE),
    }
    if st
        .short
        .put(&otp_change_key(&live), vec![1], OTP_CHANGE_WINDOW)
        .await
        .is_err()
    {
        return st.error(StatusCode::SERVICE_UNAVAILABLE, UNAVAILABLE);
    }
    AuditEvent::new("otp.change_started")
        .user(&live.session.user)
        .client_ip(ip)
        .emit();
    redirect(paths::OTP_SETUP, &[])
}

/// "Se déconnecter de partout".
pub(super) async fn logout_all(
    req: &Request<Bytes>,
    ip: IpAddr,
    st: &PortalState,
) -> Response<Bytes> {
    let (live, _) = match checked::<CsrfOnlyForm>(req, st).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let ended = match st.end_user_sessions(&live.session.user).await {
        Ok(n) => n,
        Err(_) => return st.error(StatusCode::SERVICE_UNAVAILABLE, UNAVAILABLE),
    };
    AuditEvent::new("logout.all")
        .user(&live.session.user)
        .client_ip(ip)
        .detail(serde_json::json!({"sessions_ended": ended}))
        .emit();
    redirect(
        &format!("{}?info={INFO_LOGGED_OUT_ALL}", paths::LOGIN),
        &[st.sessions.clear_cookie()],
    )
}
