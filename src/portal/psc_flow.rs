//! The Pro Santé Connect routes of the portal (A4):
//! * `GET /connexion/psc`: the button; the browser goes to PSC.
//! * `GET /connexion/psc/retour`: the redirect URI; tokens checked, the person mapped
//!   to a mailbox, the session opened exactly as after password + second factor (PSC
//!   is the strong factor: no OTP after it).
//! * `POST /connexion/psc/choix`: the mailbox chosen when several are personal.
//! * `GET /connexion/psc/deconnecte`: PSC's return after the end-session.
//! * `POST /connexion/psc/deconnexion`: back-channel logout from PSC.
//!
//! Every refusal is a French page with a way back and an audit event with its reason.

use super::http_util::{cookie, html, redirect};
use super::pages::paths;
use super::psc_pages::{self, CHOICE_PATH};
use super::redirect::return_path_or_root;
use super::router::{query_param, PortalState, TOO_MANY, UNAVAILABLE};
use crate::audit::AuditEvent;
use crate::auth::psc::claims::ClaimError;
use crate::auth::psc::config::{BACKCHANNEL_PATH, LOGGED_OUT_PATH, RETURN_PATH};
use crate::auth::psc::flow::{ReturnParams, Verified};
use crate::auth::psc::mapping::{Mailbox, Resolution};
use crate::auth::psc::{PscError, PscService};
use crate::auth::session::Stage;
use bytes::Bytes;
use http::{Method, Request, Response, StatusCode};
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::net::IpAddr;
use std::time::Duration;

/// Browser-binding cookie of a login in progress (HTTPS / loopback demo).
const BINDING_COOKIE_SECURE: &str = "__Host-mssante_psc";
const BINDING_COOKIE_DEMO: &str = "mssante_psc";
/// Logins started per client address per minute.
const STARTS_PER_MINUTE: u64 = 30;
/// Time to choose a mailbox.
const CHOICE_TTL: Duration = Duration::from_secs(300);

/// A login waiting for the mailbox choice.
#[derive(Serialize, Deserialize)]
struct PendingChoice {
    verified: Verified,
    mailboxes: Vec<Mailbox>,
    /// SHA-256 (hex) of the browser-binding cookie.
    browser: String,
}

fn sha256_hex(s: &str) -> String {
    hex::encode(ring::digest::digest(&ring::digest::SHA256, s.as_bytes()))
}

fn choice_key(token: &str) -> String {
    format!("psc_choice:{}", sha256_hex(token))
}

impl PortalState {
    fn binding_cookie_name(&self) -> &'static str {
        if self.demo() {
            BINDING_COOKIE_DEMO
        } else {
            BINDING_COOKIE_SECURE
        }
    }

    fn binding_cookie(&self, value: &str, max_age: u64) -> String {
        let mut c = format!(
            "{}={value}; Path=/; HttpOnly; SameSite=Lax; Max-Age={max_age}",
            self.binding_cookie_name()
        );
        if !self.demo() {
            c.push_str("; Secure");
        }
        c
    }

    fn psc_page(&self, status: StatusCode, message: &str, hint: Option<&str>) -> Response<Bytes> {
        html(
            status,
            psc_pages::refusal(&self.ctx(false), message, hint),
            &[self.binding_cookie("", 0)],
        )
    }
}

/// Serves `/connexion/psc` and below.
pub(super) async fn handle(req: &Request<Bytes>, ip: IpAddr, st: &PortalState) -> Response<Bytes> {
    let Some(psc) = st.psc.clone() else {
        return st.error(StatusCode::NOT_FOUND, "Cette page n'existe pas.");
    };
    match (req.method().clone(), req.uri().path()) {
        (Method::GET, paths::PSC) => start(req, ip, st, &psc).await,
        (Method::GET, RETURN_PATH) => back(req, ip, st, &psc).await,
        (Method::POST, CHOICE_PATH) => choose(req, ip, st, &psc).await,
        (Method::GET, LOGGED_OUT_PATH) => logged_out(req, &psc).await,
        (Method::POST, BACKCHANNEL_PATH) => backchannel(req, st, &psc).await,
        _ => st.error(StatusCode::NOT_FOUND, "Cette page n'existe pas."),
    }
}

/// The one mapping from a refusal to its page (and audit event).
fn refuse(st: &PortalState, psc: &PscService, ip: IpAddr, e: &PscError) -> Response<Bytes> {
    AuditEvent::new("psc.login.refused")
        .client_ip(ip)
        .detail(json!({"reason": e.reason(), "error": e.to_string()}))
        .emit();
    let again = "Vous pouvez recommencer depuis la page de connexion, ou vous connecter avec votre identifiant et votre mot de passe.";
    let minutes = psc.config().flow_timeout_secs.div_ceil(60);
    let expired = format!(
        "La connexion avec Pro Santé Connect a expiré : elle doit être terminée en moins de {minutes} minute{}.",
        if minutes > 1 { "s" } else { "" }
    );
    let (status, msg, hint): (StatusCode, &str, Option<&str>) = match e {
        PscError::Unreachable(_) | PscError::BadAnswer(_) => (
            StatusCode::SERVICE_UNAVAILABLE,
            "Pro Santé Connect est momentanément injoignable.",
            Some("Veuillez réessayer dans quelques minutes, ou vous connecter avec votre identifiant et votre mot de passe."),
        ),
        PscError::AccessDenied => (
            StatusCode::FORBIDDEN,
            "La connexion avec Pro Santé Connect a été annulée.",
            Some(again),
        ),
        PscError::ProviderError(_) => (
            StatusCode::BAD_GATEWAY,
            "Pro Santé Connect n'a pas pu vous identifier.",
            Some(again),
        ),
        PscError::UnknownState | PscError::OtherBrowser => (
            StatusCode::BAD_REQUEST,
            "Cette réponse de Pro Santé Connect ne correspond à aucune connexion en cours dans ce navigateur, ou a déjà été utilisée.",
            Some(again),
        ),
        PscError::FlowExpired => (StatusCode::BAD_REQUEST, expired.as_str(), Some(again)),
        PscError::CodeRefused(_) => (
            StatusCode::BAD_REQUEST,
            "Pro Santé Connect a refusé de confirmer cette connexion (code déjà utilisé ou expiré).",
            Some(again),
        ),
        PscError::Claims(ClaimError::AcrTooLow(_) | ClaimError::AcrUnknown(_)) => (
            StatusCode::FORBIDDEN,
            "Le niveau d'authentification transmis par Pro Santé Connect est insuffisant pour accéder à la messagerie.",
            Some("Connectez-vous avec votre carte CPS ou l'application e-CPS."),
        ),
        PscError::UserInfo(_)
        | PscError::Claims(ClaimError::SubjectMismatch | ClaimError::Missing("SubjectNameID")) => (
            StatusCode::FORBIDDEN,
            "Les informations transmises par Pro Santé Connect sont incomplètes ou n'ont pas pu être vérifiées.",
            Some(again),
        ),
        PscError::Signature(_) | PscError::Claims(_) => (
            StatusCode::FORBIDDEN,
            "La réponse de Pro Santé Connect n'a pas pu être vérifiée : pour votre sécurité, la connexion est refusée.",
            Some(again),
        ),
        PscError::Directory(_) | PscError::Store(_) | PscError::MailStore(_) => (
            StatusCode::SERVICE_UNAVAILABLE,
            UNAVAILABLE,
            Some("Si le problème persiste, contactez l'assistance."),
        ),
    };
    st.psc_page(status, msg, hint)
}

async fn start(
    req: &Request<Bytes>,
    ip: IpAddr,
    st: &PortalState,
    psc: &PscService,
) -> Response<Bytes> {
    let starts = st
        .short
        .incr(&format!("psc_start:{ip}"), Duration::from_secs(60))
        .await;
    match starts {
        Ok(n) if n <= STARTS_PER_MINUTE => {}
        Ok(_) => return st.error(StatusCode::TOO_MANY_REQUESTS, TOO_MANY),
        Err(_) => return st.error(StatusCode::SERVICE_UNAVAILABLE, UNAVAILABLE),
    }
    let return_to = query_param(req, "retour");
    let return_to = return_path_or_root(return_to.as_deref());
    match psc.start(return_to).await {
        Ok(s) => {
            let age = psc.config().flow_timeout_secs + 300;
            redirect(&s.location, &[st.binding_cookie(&s.browser_binding, age)])
        }
        Err(e) => refuse(st, psc, ip, &e),
    }
}

async fn back(
    req: &Request<Bytes>,
    ip: IpAddr,
    st: &PortalState,
    psc: &PscService,
) -> Response<Bytes> {
    let params: ReturnParams = req
        .uri()
        .query()
        .and_then(|q| serde_urlencoded::from_str(q).ok())
        .unwrap_or_default();
    let binding = cookie(req.headers(), st.binding_cookie_name()).map(str::to_string);
    let verified = match psc.finish(&params, binding.as_deref()).await {
        Ok(v) => v,
        Err(e) => return refuse(st, psc, ip, &e),
    };
    let resolution = match psc.mailboxes(&verified.person).await {
        Ok(r) => r,
        Err(e) => return refuse(st, psc, ip, &e),
    };
    match resolution {
        Resolution::Personal(mut list) if list.len() == 1 => {
            let mb = list.remove(0);
            open(req, ip, st, psc, &verified, &mb).await
        }
        Resolution::Personal(list) => {
            let token = {
                let b: [u8; 32] = rand::random();
                hex::encode(b)
            };
            let labels: Vec<String> = list.iter().map(|m| m.label.clone()).collect();
            let pending = PendingChoice {
                verified,
                mailboxes: list,
                browser: sha256_hex(binding.as_deref().unwrap_or_default()),
            };
            if st
                .short
                .put_json(&choice_key(&token), &pending, CHOICE_TTL)
                .await
                .is_err()
            {
                return st.error(StatusCode::SERVICE_UNAVAILABLE, UNAVAILABLE);
            }
            let (csrf, csrf_cookie) = st.double_submit(req);
            html(
                StatusCode::OK,
                psc_pages::choice(&st.ctx(false), &csrf, &token, &labels),
                &[csrf_cookie],
            )
        }
        Resolution::OrganisationalOnly(_) => {
            no_mailbox(st, ip, &verified, "organisational_only");
            st.psc_page(
                StatusCode::FORBIDDEN,
                "Votre identifiant Pro Santé Connect n'est associé qu'à une boîte aux lettres organisationnelle : Pro Santé Connect ouvre les boîtes aux lettres personnelles.",
                Some("Connectez-vous à la boîte organisationnelle avec son identifiant et son mot de passe, ou contactez l'assistance."),
            )
        }
        Resolution::NotFound => {
            no_mailbox(st, ip, &verified, "no_mailbox");
            st.psc_page(
                StatusCode::FORBIDDEN,
                "Aucune boîte aux lettres de cette messagerie n'est associée à votre identifiant Pro Santé Connect.",
                Some("Si vous avez une boîte aux lettres ici, connectez-vous avec votre identifiant et votre mot de passe, et demandez à l'assistance de la relier à votre identifiant."),
            )
        }
    }
}

fn no_mailbox(_st: &PortalState, ip: IpAddr, v: &Verified, reason: &str) {
    AuditEvent::new("psc.login.no_mailbox")
        .client_ip(ip)
        .detail(json!({
            "reason": reason,
            "identifier": v.person.id_nat,
            "identifier_kind": v.person.kind_label(),
        }))
        .emit();
}

#[derive(Deserialize)]
struct ChoiceForm {
    csrf: String,
    choix: String,
    bal: usize,
}

async fn choose(
    req: &Request<Bytes>,
    ip: IpAddr,
    st: &PortalState,
    psc: &PscService,
) -> Response<Bytes> {
    let Ok(form) = super::forms::parse::<ChoiceForm>(req.body()) else {
        return st.error(StatusCode::BAD_REQUEST, "Formulaire invalide.");
    };
    if !st.double_submit_ok(req, &form.csrf) {
        return st.error(StatusCode::FORBIDDEN, super::router::EXPIRED_FORM);
    }
    let pending: Option<PendingChoice> = match st.short.take_json(&choice_key(&form.choix)).await {
        Ok(p) => p,
        Err(_) => return st.error(StatusCode::SERVICE_UNAVAILABLE, UNAVAILABLE),
    };
    let binding = cookie(req.headers(), st.binding_cookie_name()).unwrap_or_default();
    let Some(pending) = pending.filter(|p| p.browser == sha256_hex(binding)) else {
        return refuse(st, psc, ip, &PscError::UnknownState);
    };
    let Some(mb) = pending.mailboxes.get(form.bal) else {
        return st.error(StatusCode::BAD_REQUEST, "Formulaire invalide.");
    };
    open(req, ip, st, psc, &pending.verified, mb).await
}

/// Preauth at the store, then a full gateway session keyed on the canonical account.
async fn open(
    req: &Request<Bytes>,
    ip: IpAddr,
    st: &PortalState,
    psc: &PscService,
    v: &Verified,
    mb: &Mailbox,
) -> Response<Bytes> {
    let (account, token) = match psc.open_mailbox(mb).await {
        Ok(x) => x,
        Err(e) => return refuse(st, psc, ip, &e),
    };
    // A fresh session id (never one the browser brought: fixation).
    if let Some(old) = cookie(req.headers(), st.sessions.cookie_name()) {
        let _ = st.sessions.revoke(old).await;
    }
    let Ok(mut live) = st.sessions.create(&account, Stage::Full, Some(token)).await else {
        return st.error(StatusCode::SERVICE_UNAVAILABLE, UNAVAILABLE);
    };
    live.session.return_to = Some(v.return_to.clone());
    if st
        .sessions
        .update(live.id.expose(), &live.session)
        .await
        .is_err()
        || psc.remember_session(live.id.expose(), v).await.is_err()
    {
        let _ = st.sessions.revoke(live.id.expose()).await;
        return st.error(StatusCode::SERVICE_UNAVAILABLE, UNAVAILABLE);
    }
    AuditEvent::new("login.success")
        .user(&account)
        .client_ip(ip)
        .detail(json!({
            "method": "psc",
            "acr": v.id.acr,
            "identifier_kind": v.person.kind_label(),
            "userinfo_signed": v.signed_userinfo,
            "psc_override": mb.address.is_none(),
        }))
        .emit();
    let to = return_path_or_root(Some(&v.return_to)).to_string();
    redirect(
        &to,
        &[st.sessions.cookie(&live.id), st.binding_cookie("", 0)],
    )
}

/// The gateway's logout of a PSC session: where the browser goes next (PSC's
/// end-session endpoint), or `None` for the login page.
pub(super) async fn end_session_redirect(st: &PortalState, session_id: &str) -> Option<String> {
    st.psc.as_ref()?.end_session_url(session_id).await
}

async fn logged_out(req: &Request<Bytes>, psc: &PscService) -> Response<Bytes> {
    let state = query_param(req, "state");
    if psc.logged_out_return(state.as_deref()).await {
        redirect(&format!("{}?info=psc_deconnecte", paths::LOGIN), &[])
    } else {
        redirect(paths::LOGIN, &[])
    }
}

/// Back-Channel Logout 1.0 §2.8: 200 when done, 400 for a token refused.
async fn backchannel(req: &Request<Bytes>, st: &PortalState, psc: &PscService) -> Response<Bytes> {
    #[derive(Deserialize)]
    struct Form {
        logout_token: String,
    }
    let reply = |status: StatusCode, body: &'static str| {
        let mut r = Response::new(Bytes::from_static(body.as_bytes()));
        *r.status_mut() = status;
        let h = r.headers_mut();
        h.insert(
            http::header::CONTENT_TYPE,
            http::HeaderValue::from_static("application/json"),
        );
        h.insert(
            http::header::CACHE_CONTROL,
            http::HeaderValue::from_static("no-store"),
        );
        r
    };
    let Ok(form) = super::forms::parse::<Form>(req.body()) else {
        return reply(StatusCode::BAD_REQUEST, r#"{"error":"invalid_request"}"#);
    };
    let ids = match psc.backchannel_logout(&form.logout_token).await {
        Ok(ids) => ids,
        Err(e) => {
            AuditEvent::new("psc.logout.refused")
                .detail(json!({"reason": e.reason(), "error": e.to_string()}))
                .emit();
            let status = if matches!(e, PscError::Unreachable(_) | PscError::Store(_)) {
                StatusCode::SERVICE_UNAVAILABLE
            } else {
                StatusCode::BAD_REQUEST
            };
            return reply(status, r#"{"error":"invalid_request"}"#);
        }
    };
    let mut ended = 0;
    for id in ids {
        if let Ok(Some(s)) = st.sessions.revoke(&id).await {
            if let Some(t) = &s.upstream_token {
                let _ = st.upstream.end_session(t).await;
            }
            psc.forget_session(&id).await;
            AuditEvent::new("logout")
                .user(&s.user)
                .detail(json!({"method": "psc_backchannel"}))
                .emit();
            ended += 1;
        }
    }
    tracing::info!(ended, "PSC back-channel logout");
    reply(StatusCode::OK, "{}")
}
