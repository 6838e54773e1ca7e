//! First connection and forgotten password (A5).
//!
//! `/mot-de-passe-oublie`: user name + contact email. The answer is the same page
//! (`pages::FORGOT_SENT`) whether or not they match, after the same minimum time;
//! when they match, a single-use link valid `reset.link_validity_secs` is mailed to
//! the contact address (in the background, so SMTP time does not show).
//!
//! `/nouveau-mot-de-passe?jeton=…`: new password + confirmation; the password is
//! set with the store's admin SOAP (credentials read from
//! `reset.admin_credentials_file` when needed), every session of the user ends,
//! and the user logs in again (the second factor is kept; a user without one sets
//! it up at that login). Tokens and passwords are never logged.

use super::forms::{self, ForgotForm, NewPasswordForm};
use super::http_util::{html, redirect};
use super::pages::{self, paths};
use super::router::{PortalState, EXPIRED_FORM, TOO_MANY, UNAVAILABLE};
use crate::audit::AuditEvent;
use crate::auth::identity::read_admin_credentials;
use crate::auth::regulation::Endpoint;
use crate::auth::reset::ResetLinks;
use crate::auth::secret::{BearerToken, Password};
use crate::auth::upstream::UpstreamError;
use crate::mail::messages;
use bytes::Bytes;
use http::{Request, Response, StatusCode};
use std::net::IpAddr;
use std::time::{Duration, Instant};

/// `?info=` code the login page turns into "Votre mot de passe a été modifié…".
pub(super) const INFO_PASSWORD_SET: &str = "mot-de-passe-modifie";

const RESET_UNAVAILABLE: &str =
    "La réinitialisation du mot de passe est momentanément indisponible. \
     Veuillez réessayer plus tard ou contacter l'assistance.";
const LINK_GONE: &str = "Ce lien n'est plus valable : il a expiré ou a déjà été utilisé. \
     Veuillez refaire une demande depuis « Mot de passe oublié / Première connexion ».";
const LINK_INVALID: &str =
    "Ce lien est incomplet ou invalide. Veuillez ouvrir le lien reçu par email \
     tel quel, ou refaire une demande.";
const STORE_REFUSED: &str = "La messagerie a refusé ce mot de passe (trop proche d'un ancien \
     mot de passe ou contraire à ses règles). Veuillez en choisir un autre.";

const MAIL_UNAVAILABLE: &str = "L'envoi des courriels est momentanément indisponible : aucun lien \
     n'a été envoyé. Veuillez réessayer dans quelques minutes.";

fn links(st: &PortalState) -> ResetLinks {
    ResetLinks::new(
        st.short.clone(),
        Duration::from_secs(st.cfg.reset.link_validity_secs),
    )
}

/// The flow needs the mailer (to send the link) and admin credentials (to set the password).
fn available(st: &PortalState) -> bool {
    st.mailer.is_some() && st.cfg.reset.admin_credentials_file.is_some()
}

/// The store admin's `name:password` from the configured file. Errors are logged
/// without the file's content.
fn admin_credentials(st: &PortalState) -> Option<(String, Password)> {
    let path = st.cfg.reset.admin_credentials_file.as_ref()?;
    read_admin_credentials(path)
        .map_err(|e| tracing::warn!(error = %e, "reset: admin credentials unusable"))
        .ok()
}

/// A link token as `ResetLinks` issues them: 32 random bytes, base64url.
fn plausible_token(t: &str) -> bool {
    t.len() == 43
        && t.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

fn forgot_page(
    req: &Request<Bytes>,
    st: &PortalState,
    status: StatusCode,
    notice: Option<&str>,
    error: Option<&str>,
) -> Response<Bytes> {
    let (token, cookie) = st.double_submit(req);
    html(
        status,
        pages::forgot(&st.ctx(false), &token, notice, error),
        &[cookie],
    )
}

pub(super) fn forgot_get(req: &Request<Bytes>, st: &PortalState) -> Response<Bytes> {
    if !available(st) {
        return st.error(StatusCode::SERVICE_UNAVAILABLE, RESET_UNAVAILABLE);
    }
    forgot_page(req, st, StatusCode::OK, None, None)
}

pub(super) async fn forgot_post(
    req: &Request<Bytes>,
    ip: IpAddr,
    st: &PortalState,
) -> Response<Bytes> {
    let started = Instant::now();
    if !available(st) {
        return st.error(StatusCode::SERVICE_UNAVAILABLE, RESET_UNAVAILABLE);
    }
    let Ok(form) = forms::parse::<ForgotForm>(req.body()) else {
        return st.error(StatusCode::BAD_REQUEST, "Formulaire invalide.");
    };
    if !st.double_submit_ok(req, &form.csrf) {
        return st.error(StatusCode::FORBIDDEN, EXPIRED_FORM);
    }
    match st.regulator.allow_from(Endpoint::Reset, ip).await {
        Ok(true) => {}
        Ok(false) => {
            st.regulator.uniform_delay(started).await;
            return st.error(StatusCode::TOO_MANY_REQUESTS, TOO_MANY);
        }
        Err(_) => {
            st.regulator.uniform_delay(started).await;
            return st.error(StatusCode::SERVICE_UNAVAILABLE, UNAVAILABLE);
        }
    }
    // While the relay probe fails, nobody is told a link left, whoever asks (the
    // answer depends on the relay only, never on the account: no enumeration).
    if st.mailer.as_ref().is_some_and(|m| m.relay_failing()) {
        st.regulator.uniform_delay(started).await;
        return st.error(StatusCode::SERVICE_UNAVAILABLE, MAIL_UNAVAILABLE);
    }
    // The account the name designates (any spelling, alias): its contact address and
    // its link, as for a login.
    match st.resolver.resolve(&form.username).await {
        Ok(name) => issue_and_send(st, &name.key, &form.email, ip).await,
        Err(e) => tracing::info!(error = %e, "reset: name not resolved"),
    }
    // Same page, same minimum time, whatever happened above.
    st.regulator.uniform_delay(started).await;
    forgot_page(req, st, StatusCode::OK, Some(pages::FORGOT_SENT), None)
}

/// Issues a link when the email matches and sends it in the background. Nothing
/// here changes the answer.
async fn issue_and_send(st: &PortalState, user: &str, email: &str, ip: IpAddr) {
    let token = match links(st).issue(&st.factor.durable, user, email).await {
        Ok(Some(t)) => t,
        Ok(None) => {
            AuditEvent::new("password.reset_request")
                .user(user)
                .client_ip(ip)
                .detail(serde_json::json!({"matched": false}))
                .emit();
            return;
        }
        Err(e) => {
            tracing::warn!(error = %e, "reset: link not issued");
            return;
        }
    };
    // At most a few mails per account per window, even from many addresses.
    if !st
        .regulator
        .allow_account(Endpoint::Reset, user)
        .await
        .unwrap_or(false)
    {
        let _ = links(st).redeem(token.expose()).await;
        return;
    }
    AuditEvent::new("password.reset_request")
        .user(user)
        .client_ip(ip)
        .detail(serde_json::json!({"matched": true}))
        .emit();
    let (Some(mailer), Some(to)) = (st.mailer.clone(), contact_of(st, user).await) else {
        return;
    };
    let link = format!(
        "{}{}?jeton={}",
        st.cfg.operator.public_url.trim_end_matches('/'),
        paths::NEW_PASSWORD,
        token.expose()
    );
    let n = messages::reset_link(
        &st.cfg.operator.name,
        &link,
        st.cfg.reset.link_validity_secs,
    );
    tokio::spawn(async move {
        if let Err(e) = mailer.send(&to, &n).await {
            // Counted in gateway_mail_failures_total{kind="reset_link"} (alert rule).
            tracing::error!(error = %e, "reset link mail not sent");
        }
    });
}

async fn contact_of(st: &PortalState, user: &str) -> Option<String> {
    st.factor
        .durable
        .get(user)
        .await
        .ok()
        .and_then(|s| s.contact_email)
}

fn new_password_page(
    req: &Request<Bytes>,
    st: &PortalState,
    status: StatusCode,
    link_token: &str,
    user: &str,
    error: Option<&str>,
) -> Response<Bytes> {
    let (token, cookie) = st.double_submit(req);
    html(
        status,
        pages::new_password(&st.ctx(false), &token, link_token, user, error),
        &[cookie],
    )
}

/// The link's user, or the error page to show.
async fn peek(st: &PortalState, link_token: &str) -> Result<String, Response<Bytes>> {
    if !plausible_token(link_token) {
        return Err(st.error(StatusCode::BAD_REQUEST, LINK_INVALID));
    }
    match links(st).peek(link_token).await {
        Ok(Some(user)) => Ok(user),
        Ok(None) => Err(st.error(StatusCode::GONE, LINK_GONE)),
        Err(_) => Err(st.error(StatusCode::SERVICE_UNAVAILABLE, UNAVAILABLE)),
    }
}

pub(super) async fn new_password_get(req: &Request<Bytes>, st: &PortalState) -> Response<Bytes> {
    if !available(st) {
        return st.error(StatusCode::SERVICE_UNAVAILABLE, RESET_UNAVAILABLE);
    }
    let link_token = BearerToken::new(super::router::query_param(req, "jeton").unwrap_or_default());
    match peek(st, link_token.expose()).await {
        Ok(user) => new_password_page(req, st, StatusCode::OK, link_token.expose(), &user, None),
        Err(r) => r,
    }
}

pub(super) async fn new_password_post(
    req: &Request<Bytes>,
    ip: IpAddr,
    st: &PortalState,
) -> Response<Bytes> {
    if !available(st) {
        return st.error(StatusCode::SERVICE_UNAVAILABLE, RESET_UNAVAILABLE);
    }
    let Ok(form) = forms::parse::<NewPasswordForm>(req.body()) else {
        return st.error(StatusCode::BAD_REQUEST, "Formulaire invalide.");
    };
    if !st.double_submit_ok(req, &form.csrf) {
        return st.error(StatusCode::FORBIDDEN, EXPIRED_FORM);
    }
    let link_token = BearerToken::new(form.token);
    let user = match peek(st, link_token.expose()).await {
        Ok(u) => u,
        Err(r) => return r,
    };
    if let Err(msg) = forms::check_new_password(&form.password, &form.confirmation) {
        return new_password_page(
            req,
            st,
            StatusCode::BAD_REQUEST,
            link_token.expose(),
            &user,
            Some(msg),
        );
    }
    let Some((admin, admin_pw)) = admin_credentials(st) else {
        return st.error(StatusCode::SERVICE_UNAVAILABLE, RESET_UNAVAILABLE);
    };
    let admin_token = match st.upstream.admin_auth(&admin, &admin_pw).await {
        Ok(t) => t,
        Err(e) => {
            tracing::warn!(error = %e, "reset: admin login to the store failed");
            return st.error(StatusCode::SERVICE_UNAVAILABLE, RESET_UNAVAILABLE);
        }
    };
    // Used up before the store is asked (two tabs cannot both use it)…
    let links = links(st);
    let redeemed = match links.redeem(link_token.expose()).await {
        Ok(Some(l)) => l,
        Ok(None) => return st.error(StatusCode::GONE, LINK_GONE),
        Err(_) => return st.error(StatusCode::SERVICE_UNAVAILABLE, UNAVAILABLE),
    };
    let set = st
        .upstream
        .admin_set_password(&admin_token, &redeemed.user, &form.password)
        .await;
    let _ = st.upstream.end_session(&admin_token).await;
    if let Err(e) = set {
        // …and put back when the store did not take the password.
        let _ = links.restore(link_token.expose(), &redeemed).await;
        return match e {
            UpstreamError::Fault { code, .. } if code.starts_with("account.") => {
                tracing::info!(%code, "reset: store refused the new password");
                new_password_page(
                    req,
                    st,
                    StatusCode::BAD_REQUEST,
                    link_token.expose(),
                    &redeemed.user,
                    Some(STORE_REFUSED),
                )
            }
            e => {
                tracing::warn!(error = %e, "reset: SetPassword failed");
                st.error(StatusCode::SERVICE_UNAVAILABLE, RESET_UNAVAILABLE)
            }
        };
    }
    let user = redeemed.user;
    let ended = st.end_user_sessions(&user).await.unwrap_or(0);
    let _ = st.regulator.unban(Some(&user), None).await;
    AuditEvent::new("password.reset")
        .user(&user)
        .client_ip(ip)
        .detail(serde_json::json!({"sessions_ended": ended}))
        .emit();
    if let (Some(mailer), Some(to)) = (st.mailer.clone(), contact_of(st, &user).await) {
        let n = messages::password_changed(&st.cfg.operator.name);
        tokio::spawn(async move {
            if let Err(e) = mailer.send(&to, &n).await {
                tracing::warn!(error = %e, "password change notice not sent");
            }
        });
    }
    redirect(
        &format!("{}?info={INFO_PASSWORD_SET}", paths::LOGIN),
        &[st.sessions.clear_cookie()],
    )
}
