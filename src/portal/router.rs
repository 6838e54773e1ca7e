//! `portal::handle`: the browser login flow end to end — login → password checked
//! by the store → second factor (or its first set-up and test) → full session →
//! redirect. Also logout. The forgotten-password / first-connection link flow (A5)
//! is in `reset_flow`, "Mon Profil" and its forms (A6) in `profile_flow`.

use super::csrf;
use super::forms::{self, ChannelForm, CsrfOnlyForm, LoginForm, OtpForm};
use super::html::PageContext;
use super::http_util::{cookie, html, redirect};
use super::pages::{self, paths, TotpSetupView};
use super::redirect::return_path_or_root;
use super::{profile_flow, reset_flow};
use crate::audit::AuditEvent;
use crate::auth::config::AuthConfig;
use crate::auth::identity::AccountResolver;
use crate::auth::login::{CodeVerdict, Login, PasswordRefused};
use crate::auth::otp::EmailCodeVerdict;
use crate::auth::regulation::{Endpoint, Regulator};
use crate::auth::second_factor::{SecondFactor, LOGIN_CODE_PURPOSE};
use crate::auth::secret::BearerToken;
use crate::auth::session::{LiveSession, Session, SessionManager, Stage};
use crate::auth::upstream::UpstreamClient;
use crate::mail::{messages, Mailer};
use crate::store::{OtpChannel, ShortStore, StoreError};
use bytes::Bytes;
use http::{Method, Request, Response, StatusCode};
use serde::{Deserialize, Serialize};
use std::net::IpAddr;
use std::time::Duration;

const ENROL_CODE_PURPOSE: &str = "enrol";
const BAD_LOGIN: &str = "Identifiant ou mot de passe incorrect.";
pub(super) const BAD_CODE: &str = "Code incorrect ou expiré.";
pub(super) const EXPIRED_FORM: &str = "La page a expiré. Veuillez recommencer.";
pub(super) const TOO_MANY: &str = "Trop de tentatives. Veuillez réessayer dans quelques minutes.";
pub(super) const UNAVAILABLE: &str =
    "Le service est momentanément indisponible. Veuillez réessayer plus tard.";

/// Everything the portal needs (built once by the server).
#[derive(Debug, Clone)]
pub struct PortalState {
    pub cfg: AuthConfig,
    pub sessions: SessionManager,
    pub factor: SecondFactor,
    pub regulator: Regulator,
    pub upstream: UpstreamClient,
    pub mailer: Option<Mailer>,
    pub short: ShortStore,
    /// Typed login names to the accounts they designate (`auth::identity`).
    pub resolver: AccountResolver,
    /// Pro Santé Connect, when `[auth.psc]` is set (`psc_flow`).
    pub psc: Option<std::sync::Arc<crate::auth::psc::PscService>>,
}

/// A channel set-up in progress (kept server-side, never in the page).
#[derive(Serialize, Deserialize)]
struct PendingEnrolment {
    channel: OtpChannel,
    email: String,
    secret: Option<String>,
    uri: Option<String>,
    qr: Option<String>,
}

fn enrol_key(user: &str) -> String {
    format!("portal_enrol:{user}")
}

impl PortalState {
    pub(super) fn ctx(&self, logged_in: bool) -> PageContext<'_> {
        PageContext {
            operator: &self.cfg.operator,
            logged_in,
        }
    }

    pub(super) fn demo(&self) -> bool {
        self.cfg.session.insecure_loopback_demo
    }

    pub(super) fn error(&self, status: StatusCode, msg: &str) -> Response<Bytes> {
        html(
            status,
            pages::error(&self.ctx(false), status.as_u16(), msg),
            &[],
        )
    }

    /// The login steps shared with the SOAP two-factor protocol.
    pub(super) fn login(&self) -> Login {
        Login {
            resolver: self.resolver.clone(),
            upstream: self.upstream.clone(),
            regulator: self.regulator.clone(),
            factor: self.factor.clone(),
            mailer: self.mailer.clone(),
            operator: self.cfg.operator.name.clone(),
            otp_lock_secs: self.cfg.regulation.otp_lock_secs,
        }
    }

    /// Second-factor submissions per client address (A9): the refusal page when over.
    pub(super) async fn otp_rate_refusal(&self, ip: IpAddr) -> Option<Response<Bytes>> {
        let allowed = self
            .regulator
            .allow_from(Endpoint::Otp, ip)
            .await
            .unwrap_or(false);
        (!allowed).then(|| self.error(StatusCode::TOO_MANY_REQUESTS, TOO_MANY))
    }

    /// Ends every session of `user`, at the gateway and at the store; returns how many.
    pub(super) async fn end_user_sessions(&self, user: &str) -> Result<usize, StoreError> {
        let ended = self.sessions.end_all(user).await?;
        for s in &ended {
            if let Some(t) = &s.upstream_token {
                if let Err(e) = self.upstream.end_session(t).await {
                    tracing::info!(error = %e, "store session not ended");
                }
            }
        }
        Ok(ended.len())
    }

    pub(super) async fn session(&self, req: &Request<Bytes>) -> Option<LiveSession> {
        let id = cookie(req.headers(), self.sessions.cookie_name())?;
        let s = self.sessions.load(id, true).await.ok()??;
        Some(LiveSession {
            id: BearerToken::new(id),
            session: s,
        })
    }

    /// The double-submit CSRF value and the cookie carrying it (pages shown before any
    /// session: login, forgotten password, new password). The browser's current value is
    /// kept when it is one of ours: a second tab, or a page loaded again behind the
    /// user's back (a favicon request redirected to the login page), must not make the
    /// form already on screen stale.
    pub(super) fn double_submit(&self, req: &Request<Bytes>) -> (String, String) {
        let key = self.factor.durable.data_key();
        let token = match cookie(req.headers(), self.csrf_cookie_name()) {
            Some(c) if csrf::double_submit_verify(key, Some(c), c) => c.to_string(),
            _ => csrf::double_submit_issue(key),
        };
        let cookie = csrf::double_submit_cookie(&token, self.demo());
        (token, cookie)
    }

    fn csrf_cookie_name(&self) -> &'static str {
        if self.demo() {
            csrf::CSRF_COOKIE_DEMO
        } else {
            csrf::CSRF_COOKIE_SECURE
        }
    }

    /// The form's double-submit value matches the cookie and our signature.
    pub(super) fn double_submit_ok(&self, req: &Request<Bytes>, form_value: &str) -> bool {
        csrf::double_submit_verify(
            self.factor.durable.data_key(),
            cookie(req.headers(), self.csrf_cookie_name()),
            form_value,
        )
    }
}

/// The first value of query parameter `name`.
pub(super) fn query_param(req: &Request<Bytes>, name: &str) -> Option<String> {
    req.uri()
        .query()
        .and_then(|q| serde_urlencoded::from_str::<Vec<(String, String)>>(q).ok())
        .and_then(|v| v.into_iter().find(|(k, _)| k == name).map(|(_, v)| v))
}

/// Serves a portal request. The body must already be read (and capped by the caller).
pub async fn handle(req: Request<Bytes>, client_ip: IpAddr, st: &PortalState) -> Response<Bytes> {
    if req.body().len() > forms::MAX_FORM_BYTES {
        return st.error(StatusCode::PAYLOAD_TOO_LARGE, "Formulaire trop volumineux.");
    }
    let path = req.uri().path().to_string();
    match (req.method().clone(), path.as_str()) {
        (Method::GET, paths::LOGIN) => login_page(&req, st, None, StatusCode::OK),
        (Method::POST, paths::LOGIN) => login_post(&req, client_ip, st).await,
        (Method::GET, paths::OTP) => otp_get(&req, st).await,
        (Method::POST, paths::OTP) => otp_post(&req, client_ip, st).await,
        (Method::POST, paths::OTP_SEND) => otp_send(&req, st).await,
        (Method::GET, paths::OTP_SETUP) => setup_get(&req, st).await,
        (Method::POST, paths::OTP_SETUP) => setup_post(&req, st).await,
        (Method::POST, paths::OTP_TEST) => setup_test(&req, client_ip, st).await,
        (Method::GET, paths::FORGOT) => reset_flow::forgot_get(&req, st),
        (Method::POST, paths::FORGOT) => reset_flow::forgot_post(&req, client_ip, st).await,
        (Method::GET, paths::NEW_PASSWORD) => reset_flow::new_password_get(&req, st).await,
        (Method::POST, paths::NEW_PASSWORD) => {
            reset_flow::new_password_post(&req, client_ip, st).await
        }
        (Method::GET, paths::PROFILE) => profile_flow::profile_get(&req, st).await,
        (Method::POST, paths::PROFILE_EMAIL) => profile_flow::email_post(&req, client_ip, st).await,
        (Method::POST, paths::PROFILE_EMAIL_CONFIRM) => {
            profile_flow::email_confirm(&req, client_ip, st).await
        }
        (Method::POST, paths::PROFILE_PASSWORD) => {
            profile_flow::password_post(&req, client_ip, st).await
        }
        (Method::POST, paths::PROFILE_OTP_SEND) => profile_flow::otp_send(&req, st).await,
        (Method::POST, paths::PROFILE_OTP) => profile_flow::otp_post(&req, client_ip, st).await,
        (Method::POST, paths::LOGOUT_ALL) => profile_flow::logout_all(&req, client_ip, st).await,
        // GET: the webmail's own "Déconnexion" link points here.
        (Method::GET, paths::LOGOUT) => logout(&req, st).await,
        (_, p) if p.starts_with(paths::PSC) => super::psc_flow::handle(&req, client_ip, st).await,
        _ => st.error(StatusCode::NOT_FOUND, "Cette page n'existe pas."),
    }
}

fn login_page(
    req: &Request<Bytes>,
    st: &PortalState,
    err: Option<&str>,
    status: StatusCode,
) -> Response<Bytes> {
    let (token, csrf_cookie) = st.double_submit(req);
    let return_to = query_param(req, "retour").unwrap_or_default();
    // Only fixed messages, chosen by a code: nothing from the URL is reflected.
    let notice = match query_param(req, "info").as_deref() {
        Some(reset_flow::INFO_PASSWORD_SET) => Some(
            "Votre mot de passe a été modifié. Vous pouvez maintenant vous connecter avec votre nouveau mot de passe.",
        ),
        Some(profile_flow::INFO_LOGGED_OUT_ALL) => {
            Some("Toutes vos sessions ont été fermées.")
        }
        Some("psc_deconnecte") => Some("Vous êtes déconnecté de la messagerie et de Pro Santé Connect."),
        _ => None,
    };
    let page = pages::login(
        &st.ctx(false),
        &token,
        "",
        return_path_or_root(Some(&return_to)),
        err,
        notice,
    );
    html(status, page, &[csrf_cookie])
}

async fn login_post(req: &Request<Bytes>, ip: IpAddr, st: &PortalState) -> Response<Bytes> {
    let Ok(form) = forms::parse::<LoginForm>(req.body()) else {
        return st.error(StatusCode::BAD_REQUEST, "Formulaire invalide.");
    };
    if !st.double_submit_ok(req, &form.csrf) {
        return st.error(
            StatusCode::FORBIDDEN,
            "La page a expiré. Veuillez recommencer la connexion.",
        );
    }
    // The account the name designates, checked by the store: the key of what follows.
    let ok = match st
        .login()
        .check_password(&form.username, &form.password, ip)
        .await
    {
        Ok(ok) => ok,
        Err(PasswordRefused::BadCredentials) => {
            return login_page(req, st, Some(BAD_LOGIN), StatusCode::UNAUTHORIZED)
        }
        Err(PasswordRefused::Slowed(wait)) => {
            let msg = slowed_message(wait);
            return login_page(req, st, Some(&msg), StatusCode::TOO_MANY_REQUESTS);
        }
        Err(PasswordRefused::Unavailable) => {
            return st.error(StatusCode::SERVICE_UNAVAILABLE, UNAVAILABLE)
        }
    };
    let user = ok.account.name.clone();
    // A fresh session id (never reuse one the browser brought: fixation).
    if let Some(old) = cookie(req.headers(), st.sessions.cookie_name()) {
        let _ = st.sessions.revoke(old).await;
    }
    let Ok(mut live) = st
        .sessions
        .create(&user, Stage::PasswordOk, Some(ok.token))
        .await
    else {
        return st.error(StatusCode::SERVICE_UNAVAILABLE, UNAVAILABLE);
    };
    live.session.otp_epoch = ok.epoch;
    live.session.return_to = Some(return_path_or_root(Some(&form.return_to)).to_string());
    if st
        .sessions
        .update(live.id.expose(), &live.session)
        .await
        .is_err()
    {
        return st.error(StatusCode::SERVICE_UNAVAILABLE, UNAVAILABLE);
    }
    let set = [st.sessions.cookie(&live.id)];
    match ok.security.otp_channel {
        None => redirect(paths::OTP_SETUP, &set),
        Some(OtpChannel::Email) => {
            // The user is known here: say so when no code left (relay down, throttled).
            if send_login_code(st, &user, ok.security.contact_email.as_deref()).await {
                redirect(paths::OTP, &set)
            } else {
                redirect(OTP_CODE_NOT_SENT, &set)
            }
        }
        Some(OtpChannel::Totp) => redirect(paths::OTP, &set),
    }
}

/// The login page's message while an account is slowed down (never a lock).
fn slowed_message(wait: Duration) -> String {
    let secs = wait.as_secs().max(1);
    format!(
        "Trop de tentatives pour cet identifiant. Veuillez réessayer dans {secs} seconde{}.",
        if secs > 1 { "s" } else { "" }
    )
}

/// Emails a login code (rate-limited per account). Failures are logged, not shown.
pub(super) async fn send_login_code(st: &PortalState, user: &str, to: Option<&str>) -> bool {
    let (Some(to), Some(mailer)) = (to, st.mailer.as_ref()) else {
        return false;
    };
    if !st
        .regulator
        .allow_account(Endpoint::EmailCode, user)
        .await
        .unwrap_or(false)
    {
        return false;
    }
    let Ok(code) = st.factor.email.issue(LOGIN_CODE_PURPOSE, user).await else {
        return false;
    };
    let n = messages::otp_code(
        &st.cfg.operator.name,
        code.expose(),
        st.cfg.email_code.validity_secs,
    );
    match mailer.send(to, &n).await {
        Ok(()) => true,
        Err(e) => {
            tracing::warn!(error = %e, "login code mail not sent");
            false
        }
    }
}

async fn pending_login(
    req: &Request<Bytes>,
    st: &PortalState,
) -> Result<(LiveSession, OtpChannel), Response<Bytes>> {
    let Some(live) = st
        .session(req)
        .await
        .filter(|l| l.session.stage == Stage::PasswordOk)
    else {
        return Err(redirect(paths::LOGIN, &[]));
    };
    match st.factor.durable.get(&live.session.user).await {
        Ok(s) => match s.otp_channel {
            Some(c) => Ok((live, c)),
            None => Err(redirect(paths::OTP_SETUP, &[])),
        },
        Err(_) => Err(st.error(StatusCode::SERVICE_UNAVAILABLE, UNAVAILABLE)),
    }
}

fn otp_page(
    st: &PortalState,
    live: &LiveSession,
    channel: OtpChannel,
    err: Option<&str>,
    note: Option<&str>,
) -> Response<Bytes> {
    let token = csrf::session_token(&live.session.csrf_secret, "otp");
    let status = if err.is_some() {
        StatusCode::UNAUTHORIZED
    } else {
        StatusCode::OK
    };
    html(
        status,
        pages::otp(&st.ctx(false), &token, channel, err, note),
        &[],
    )
}

/// The OTP page after a login whose emailed code could not be sent.
const OTP_CODE_NOT_SENT: &str = "/otp?envoi=echec";
const CODE_NOT_SENT: &str =
    "Aucun code n'a pu être envoyé pour le moment. Réessayez avec « Renvoyer un code » dans quelques minutes.";

async fn otp_get(req: &Request<Bytes>, st: &PortalState) -> Response<Bytes> {
    let not_sent = req.uri().query() == Some("envoi=echec");
    match pending_login(req, st).await {
        Ok((live, channel)) => {
            let note = (not_sent && channel == OtpChannel::Email).then_some(CODE_NOT_SENT);
            otp_page(st, &live, channel, None, note)
        }
        Err(r) => r,
    }
}

async fn otp_post(req: &Request<Bytes>, ip: IpAddr, st: &PortalState) -> Response<Bytes> {
    let (live, channel) = match pending_login(req, st).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let Ok(form) = forms::parse::<OtpForm>(req.body()) else {
        return st.error(StatusCode::BAD_REQUEST, "Formulaire invalide.");
    };
    if !csrf::verify_session_token(&live.session.csrf_secret, "otp", &form.csrf) {
        return st.error(
            StatusCode::FORBIDDEN,
            "La page a expiré. Veuillez recommencer la connexion.",
        );
    }
    if let Some(refusal) = st.otp_rate_refusal(ip).await {
        return refusal;
    }
    let verdict = st
        .login()
        .check_code(
            &live.session.user,
            form.code.expose(),
            live.session.otp_epoch,
            ip,
        )
        .await;
    match verdict {
        Ok(CodeVerdict::Accepted(_)) => finish_login(st, &live, ip).await,
        Ok(CodeVerdict::Wrong) => otp_page(st, &live, channel, Some(BAD_CODE), None),
        Ok(CodeVerdict::Voided) => start_again(req, st, &live, VOIDED).await,
        Ok(CodeVerdict::Locked) => start_again(req, st, &live, LOCKED).await,
        Err(_) => st.error(StatusCode::SERVICE_UNAVAILABLE, UNAVAILABLE),
    }
}

const VOIDED: &str =
    "Trop de codes erronés : veuillez vous reconnecter avec votre identifiant et votre mot de passe.";
const LOCKED: &str =
    "Trop de codes erronés : la connexion à ce compte est bloquée pour quelques minutes. \
     Son titulaire a été prévenu par courriel.";

/// The pending login is over (voided or locked): the session ends, back to the login page.
async fn start_again(
    req: &Request<Bytes>,
    st: &PortalState,
    live: &LiveSession,
    msg: &str,
) -> Response<Bytes> {
    if let Ok(Some(s)) = st.sessions.revoke(live.id.expose()).await {
        if let Some(t) = &s.upstream_token {
            let _ = st.upstream.end_session(t).await;
        }
    }
    let mut page = login_page(req, st, Some(msg), StatusCode::TOO_MANY_REQUESTS);
    if let Ok(v) = http::HeaderValue::from_str(&st.sessions.clear_cookie()) {
        page.headers_mut().append(http::header::SET_COOKIE, v);
    }
    page
}

/// Second factor done: new session id at stage Full, then back to where the user was going.
async fn finish_login(st: &PortalState, live: &LiveSession, ip: IpAddr) -> Response<Bytes> {
    match st
        .sessions
        .rotate(live.id.expose(), |s| s.stage = Stage::Full)
        .await
    {
        Ok(Some(full)) => {
            AuditEvent::new("login.success")
                .user(&full.session.user)
                .client_ip(ip)
                .emit();
            let to = return_path_or_root(full.session.return_to.as_deref()).to_string();
            redirect(&to, &[st.sessions.cookie(&full.id)])
        }
        Ok(None) => redirect(paths::LOGIN, &[]),
        Err(_) => st.error(StatusCode::SERVICE_UNAVAILABLE, UNAVAILABLE),
    }
}

async fn otp_send(req: &Request<Bytes>, st: &PortalState) -> Response<Bytes> {
    let (live, channel) = match pending_login(req, st).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let ok_csrf = forms::parse::<CsrfOnlyForm>(req.body())
        .is_ok_and(|f| csrf::verify_session_token(&live.session.csrf_secret, "otp", &f.csrf));
    if !ok_csrf {
        return st.error(
            StatusCode::FORBIDDEN,
            "La page a expiré. Veuillez recommencer la connexion.",
        );
    }
    let to = st
        .factor
        .durable
        .get(&live.session.user)
        .await
        .ok()
        .and_then(|s| s.contact_email);
    let sent = channel == OtpChannel::Email
        && send_login_code(st, &live.session.user, to.as_deref()).await;
    let note = if sent {
        "Un nouveau code vous a été envoyé."
    } else {
        "Aucun code n'a pu être envoyé pour le moment."
    };
    otp_page(st, &live, channel, None, Some(note))
}

/// Set-up is allowed after the password when no channel exists yet, or for a full
/// session — and then, when a channel exists, only after a current code was given
/// in "Mon Profil" (`profile_flow::otp_post`). Never replaces an existing second
/// factor with the password alone.
async fn setup_session(
    req: &Request<Bytes>,
    st: &PortalState,
) -> Result<LiveSession, Response<Bytes>> {
    let Some(live) = st.session(req).await else {
        return Err(redirect(paths::LOGIN, &[]));
    };
    let has_channel = match st.factor.durable.get(&live.session.user).await {
        Ok(s) => s.otp_channel.is_some(),
        Err(_) => return Err(st.error(StatusCode::SERVICE_UNAVAILABLE, UNAVAILABLE)),
    };
    match (live.session.stage, has_channel) {
        (_, false) => Ok(live),
        (Stage::Full, true) => match profile_flow::otp_change_allowed(st, &live).await {
            Ok(true) => Ok(live),
            Ok(false) => Err(redirect(paths::PROFILE, &[])),
            Err(_) => Err(st.error(StatusCode::SERVICE_UNAVAILABLE, UNAVAILABLE)),
        },
        (_, true) => Err(redirect(paths::OTP, &[])),
    }
}

fn setup_page(
    st: &PortalState,
    live: &LiveSession,
    pending: Option<&PendingEnrolment>,
    email: &str,
    err: Option<&str>,
) -> Response<Bytes> {
    let token = csrf::session_token(&live.session.csrf_secret, "setup");
    let view = pending.and_then(|p| {
        Some(TotpSetupView {
            qr_png_base64: p.qr.as_deref()?,
            otpauth_uri: p.uri.as_deref()?,
            secret_base32: p.secret.as_deref()?,
        })
    });
    let logged_in = live.session.stage == Stage::Full;
    let page = pages::otp_setup(
        &st.ctx(logged_in),
        &token,
        email,
        pending.map(|p| p.channel),
        view.as_ref(),
        err,
    );
    html(
        if err.is_some() {
            StatusCode::BAD_REQUEST
        } else {
            StatusCode::OK
        },
        page,
        &[],
    )
}

async fn setup_get(req: &Request<Bytes>, st: &PortalState) -> Response<Bytes> {
    let live = match setup_session(req, st).await {
        Ok(l) => l,
        Err(r) => return r,
    };
    let email = st
        .factor
        .durable
        .get(&live.session.user)
        .await
        .ok()
        .and_then(|s| s.contact_email)
        .unwrap_or_default();
    setup_page(st, &live, None, &email, None)
}

async fn setup_post(req: &Request<Bytes>, st: &PortalState) -> Response<Bytes> {
    let live = match setup_session(req, st).await {
        Ok(l) => l,
        Err(r) => return r,
    };
    let Ok(form) = forms::parse::<ChannelForm>(req.body()) else {
        return st.error(StatusCode::BAD_REQUEST, "Formulaire invalide.");
    };
    if !csrf::verify_session_token(&live.session.csrf_secret, "setup", &form.csrf) {
        return st.error(
            StatusCode::FORBIDDEN,
            "La page a expiré. Veuillez recommencer.",
        );
    }
    let email = form.email.trim().to_string();
    if !forms::plausible_email(&email) {
        return setup_page(st, &live, None, &email, Some("Adresse e-mail invalide."));
    }
    let user = live.session.user.clone();
    let pending = match OtpChannel::parse(&form.channel) {
        Some(OtpChannel::Totp) => match st.factor.totp.new_enrolment(&user) {
            Ok(e) => PendingEnrolment {
                channel: OtpChannel::Totp,
                email: email.clone(),
                secret: Some(e.secret_base32.expose().to_string()),
                uri: Some(e.uri.expose().to_string()),
                qr: Some(e.qr_png_base64),
            },
            Err(_) => return st.error(StatusCode::SERVICE_UNAVAILABLE, UNAVAILABLE),
        },
        Some(OtpChannel::Email) => {
            let sent = match (
                st.mailer.as_ref(),
                st.regulator
                    .allow_account(Endpoint::EmailCode, &user)
                    .await
                    .unwrap_or(false),
            ) {
                (Some(m), true) => match st.factor.email.issue(ENROL_CODE_PURPOSE, &user).await {
                    Ok(code) => {
                        let n = messages::otp_code(
                            &st.cfg.operator.name,
                            code.expose(),
                            st.cfg.email_code.validity_secs,
                        );
                        m.send(&email, &n).await.is_ok()
                    }
                    Err(_) => false,
                },
                _ => false,
            };
            if !sent {
                return setup_page(
                    st,
                    &live,
                    None,
                    &email,
                    Some("Le code n'a pas pu être envoyé. Veuillez réessayer plus tard."),
                );
            }
            PendingEnrolment {
                channel: OtpChannel::Email,
                email: email.clone(),
                secret: None,
                uri: None,
                qr: None,
            }
        }
        None => {
            return setup_page(
                st,
                &live,
                None,
                &email,
                Some("Canal de télécommunication inconnu."),
            )
        }
    };
    if st
        .short
        .put_json(&enrol_key(&user), &pending, Duration::from_secs(900))
        .await
        .is_err()
    {
        return st.error(StatusCode::SERVICE_UNAVAILABLE, UNAVAILABLE);
    }
    setup_page(st, &live, Some(&pending), &email, None)
}

async fn setup_test(req: &Request<Bytes>, ip: IpAddr, st: &PortalState) -> Response<Bytes> {
    let live = match setup_session(req, st).await {
        Ok(l) => l,
        Err(r) => return r,
    };
    let Ok(form) = forms::parse::<OtpForm>(req.body()) else {
        return st.error(StatusCode::BAD_REQUEST, "Formulaire invalide.");
    };
    if !csrf::verify_session_token(&live.session.csrf_secret, "setup", &form.csrf) {
        return st.error(
            StatusCode::FORBIDDEN,
            "La page a expiré. Veuillez recommencer.",
        );
    }
    if let Some(refusal) = st.otp_rate_refusal(ip).await {
        return refusal;
    }
    let user = live.session.user.clone();
    let Ok(Some(pending)) = st
        .short
        .get_json::<PendingEnrolment>(&enrol_key(&user))
        .await
    else {
        return redirect(paths::OTP_SETUP, &[]);
    };
    let now = st.regulator.now_ms() / 1000;
    let step = match (&pending.channel, &pending.secret) {
        (OtpChannel::Totp, Some(s)) => st
            .factor
            .totp
            .matching_step(s, form.code.expose(), now)
            .ok()
            .flatten(),
        (OtpChannel::Email, _) => matches!(
            st.factor
                .email
                .verify(ENROL_CODE_PURPOSE, &user, form.code.expose())
                .await,
            Ok(EmailCodeVerdict::Accepted)
        )
        .then_some(0),
        _ => None,
    };
    let Some(step) = step else {
        return setup_page(st, &live, Some(&pending), &pending.email, Some(BAD_CODE));
    };
    // Stored only if the account still has no factor, unless a full session proved one
    // (the channel change of « Mon Profil »): a set-up started with the password alone
    // never replaces a factor enrolled meanwhile, here or on another instance.
    if live.session.stage != Stage::Full {
        match st.login().may_enrol_with_password(&user).await {
            Ok(true) => {}
            Ok(false) => return redirect(paths::OTP, &[]),
            Err(_) => return st.error(StatusCode::SERVICE_UNAVAILABLE, UNAVAILABLE),
        }
    }
    let d = &st.factor.durable;
    let saved = async {
        if let (OtpChannel::Totp, Some(s)) = (pending.channel, &pending.secret) {
            d.set_totp_secret(&user, Some(s)).await?;
            d.accept_totp_step(&user, step).await?;
        }
        d.set_contact_email(&user, Some(&pending.email)).await?;
        d.set_otp_channel(&user, Some(pending.channel)).await?;
        st.short.delete(&enrol_key(&user)).await?;
        profile_flow::otp_change_done(st, &live).await?;
        st.factor.recovery.regenerate(d, &user).await
    }
    .await;
    let Ok(codes) = saved else {
        return st.error(StatusCode::SERVICE_UNAVAILABLE, UNAVAILABLE);
    };
    let _ = st.login().enrolment_completed(&user, ip).await;
    AuditEvent::new("otp.enrolled")
        .user(&user)
        .client_ip(ip)
        .detail(serde_json::json!({"method": pending.channel.as_str()}))
        .emit();
    // The test counted as the second factor: the session becomes full (new id).
    let Ok(Some(full)) = st
        .sessions
        .rotate(live.id.expose(), |s: &mut Session| s.stage = Stage::Full)
        .await
    else {
        return redirect(paths::LOGIN, &[]);
    };
    let shown: Vec<&str> = codes.iter().map(|c| c.expose()).collect();
    html(
        StatusCode::OK,
        pages::recovery_codes(&st.ctx(true), &shown),
        &[st.sessions.cookie(&full.id)],
    )
}

async fn logout(req: &Request<Bytes>, st: &PortalState) -> Response<Bytes> {
    let mut psc_end = None;
    if let Some(id) = cookie(req.headers(), st.sessions.cookie_name()) {
        psc_end = super::psc_flow::end_session_redirect(st, id).await;
        if let Ok(Some(s)) = st.sessions.revoke(id).await {
            if let Some(t) = &s.upstream_token {
                let _ = st.upstream.end_session(t).await;
            }
            AuditEvent::new("logout").user(&s.user).emit();
        }
    }
    redirect(
        psc_end.as_deref().unwrap_or(paths::LOGIN),
        &[st.sessions.clear_cookie()],
    )
}

#[cfg(test)]
#[path = "router_tests.rs"]
mod tests;
