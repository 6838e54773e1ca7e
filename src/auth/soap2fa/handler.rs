//! Runs the two-factor exchanges: password AuthRequest → stage token; AuthRequest
//! with stage token + code → gateway session token; two-step enable; scratch codes;
//! emailed codes. Stage tokens are one-time bearer values kept in the short store.

use super::{mask_email, parse_method, responses};
use crate::audit::AuditEvent;
use crate::auth::identity::AccountResolver;
use crate::auth::login::{CodeVerdict, Login, PasswordOk, PasswordRefused};
use crate::auth::regulation::{Endpoint, Regulator};
use crate::auth::second_factor::{SecondFactor, LOGIN_CODE_PURPOSE};
use crate::auth::secret::{Password, UpstreamToken};
use crate::auth::session::{SessionManager, Stage};
use crate::auth::upstream::UpstreamClient;
use crate::mail::{messages, Mailer};
use crate::soap::{Element, Fault};
use crate::store::{OtpChannel, ShortStore, StoreError};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use rand::RngCore;
use serde::{Deserialize, Serialize};
use std::net::IpAddr;
use std::time::Duration;

const ENABLE_CODE_PURPOSE: &str = "enable";
/// Wrong codes allowed on one stage token before it is destroyed.
const STAGE_MAX_ATTEMPTS: u32 = 5;

#[derive(Serialize, Deserialize)]
enum Purpose {
    Login,
    Enable {
        method: OtpChannel,
        secret: Option<String>,
        email: Option<String>,
    },
}

#[derive(Serialize, Deserialize)]
struct StageEntry {
    /// The canonical account (the store's name), never what was typed.
    user: String,
    /// What the typed name resolved to (step 2 of an enable names the account again).
    #[serde(default)]
    typed_key: Option<String>,
    /// The account's pending-login generation when the password was checked.
    #[serde(default)]
    epoch: u64,
    upstream_token: UpstreamToken,
    purpose: Purpose,
    attempts: u32,
}

fn stage_key(token: &str) -> String {
    let d = ring::digest::digest(&ring::digest::SHA256, token.as_bytes());
    format!("tfa_stage:{}", hex::encode(d.as_ref()))
}

fn store_fault(e: StoreError) -> Fault {
    tracing::error!(error = %e, "two-factor store error");
    Fault::failure("temporarily unavailable").receiver()
}

/// Everything the SOAP two-factor exchanges need.
#[derive(Debug, Clone)]
pub struct SoapTwoFactor {
    pub factor: SecondFactor,
    pub sessions: SessionManager,
    pub short: ShortStore,
    pub upstream: UpstreamClient,
    pub regulator: Regulator,
    pub mailer: Option<Mailer>,
    pub operator: String,
    /// Typed login names to the accounts they designate (`auth::identity`).
    pub resolver: AccountResolver,
    /// `auth.regulation.otp_lock_secs`, for the lock notice.
    pub otp_lock_secs: u64,
    /// Lifetime of stage tokens (Zimbra: 1 h; shorter here).
    pub stage_ttl: Duration,
    /// Absolute session lifetime reported as `lifetime`.
    pub session_lifetime: Duration,
}

/// A stage token is a bearer secret like a session id.
fn new_token() -> String {
    let mut b = [0u8; 32];
    rand::rng().fill_bytes(&mut b);
    URL_SAFE_NO_PAD.encode(b)
}

fn field<'a>(req: &'a Element, name: &str) -> Option<&'a str> {
    req.attr(name).map(str::trim).filter(|v| !v.is_empty())
}

impl SoapTwoFactor {
    const ALLOWED: [OtpChannel; 2] = [OtpChannel::Totp, OtpChannel::Email];

    /// Serves one request element. `session_user` is the gateway session's user
    /// when the request came with a valid full session (required for the
    /// scratch-code and disable requests).
    pub async fn handle(
        &self,
        req: &Element,
        session_user: Option<&str>,
        ip: IpAddr,
    ) -> Result<Element, Fault> {
        match req.name.as_str() {
            "AuthRequest" => self.auth(req, ip).await,
            "EnableTwoFactorAuthRequest" => self.enable(req, ip).await,
            "SendTwoFactorAuthCodeRequest" => self.send_code(req).await,
            "DisableTwoFactorAuthRequest" => {
                session_user.ok_or_else(Fault::auth_required)?;
                // MSSanté makes the second factor mandatory.
                Err(Fault::perm_denied("two-factor authentication is mandatory"))
            }
            "GenerateScratchCodesRequest" => {
                let user = session_user.ok_or_else(Fault::auth_required)?;
                let codes = self
                    .factor
                    .recovery
                    .regenerate(&self.factor.durable, user)
                    .await
                    .map_err(store_fault)?;
                AuditEvent::new("otp.recovery_regenerated")
                    .user(user)
                    .emit();
                let shown: Vec<&str> = codes.iter().map(|c| c.expose()).collect();
                Ok(responses::generate_scratch_codes(&shown))
            }
            "GetScratchCodesRequest" => {
                session_user.ok_or_else(Fault::auth_required)?;
                Ok(responses::get_scratch_codes())
            }
            other => Err(Fault::unknown_document(other)),
        }
    }

    /// The login steps shared with the portal.
    fn login(&self) -> Login {
        Login {
            resolver: self.resolver.clone(),
            upstream: self.upstream.clone(),
            regulator: self.regulator.clone(),
            factor: self.factor.clone(),
            mailer: self.mailer.clone(),
            operator: self.operator.clone(),
            otp_lock_secs: self.otp_lock_secs,
        }
    }

    /// The password step (`auth::login`): the canonical account, its token and
    /// settings, or Zimbra's fault.
    async fn check_password(
        &self,
        name: &str,
        password: &str,
        ip: IpAddr,
    ) -> Result<PasswordOk, Fault> {
        match self
            .login()
            .check_password(name, &Password::new(password), ip)
            .await
        {
            Ok(ok) => Ok(ok),
            Err(PasswordRefused::BadCredentials) => Err(Fault::auth_failed(name)),
            Err(PasswordRefused::Slowed(wait)) => Err(Fault::new(
                "account.AUTH_FAILED",
                format!(
                    "trop de tentatives pour cet identifiant, réessayez dans {} s",
                    wait.as_secs().max(1)
                ),
            )),
            Err(PasswordRefused::Unavailable) => {
                Err(Fault::failure("temporarily unavailable").receiver())
            }
        }
    }

    /// A second-factor code for a pending login; `stage` is its token, dropped when the
    /// login is voided or the factor locked.
    async fn check_code(
        &self,
        user: &str,
        code: &str,
        epoch: u64,
        ip: IpAddr,
        stage: Option<&str>,
    ) -> Result<bool, Fault> {
        let verdict = self
            .login()
            .check_code(user, code, epoch, ip)
            .await
            .map_err(store_fault)?;
        let over = |f: Fault| async move {
            if let Some(t) = stage {
                let _ = self.short.delete(&stage_key(t)).await;
            }
            Err(f)
        };
        match verdict {
            CodeVerdict::Accepted(_) => Ok(true),
            CodeVerdict::Wrong => Ok(false),
            CodeVerdict::Voided => over(Fault::auth_expired()).await,
            CodeVerdict::Locked => {
                over(Fault::new(
                    "account.TWO_FACTOR_AUTH_FAILED",
                    "trop de codes erronés : connexion bloquée quelques minutes",
                ))
                .await
            }
        }
    }

    async fn new_stage(
        &self,
        ok: &PasswordOk,
        typed_key: Option<String>,
        purpose: Purpose,
    ) -> Result<String, Fault> {
        let t = new_token();
        let entry = StageEntry {
            user: ok.account.name.clone(),
            typed_key,
            epoch: ok.epoch,
            upstream_token: ok.token.clone(),
            purpose,
            attempts: 0,
        };
        self.short
            .put_json(&stage_key(&t), &entry, self.stage_ttl)
            .await
            .map_err(store_fault)?;
        Ok(t)
    }

    /// Counts a wrong code on a stage token; destroys it after too many.
    async fn stage_failed(&self, token: &str, mut entry: StageEntry) {
        entry.attempts += 1;
        if entry.attempts < STAGE_MAX_ATTEMPTS {
            let _ = self
                .short
                .put_json(&stage_key(token), &entry, self.stage_ttl)
                .await;
        } else {
            let _ = self.short.delete(&stage_key(token)).await;
        }
    }

    async fn full_session(&self, user: &str, token: UpstreamToken) -> Result<Element, Fault> {
        let s = self
            .sessions
            .create(user, Stage::Full, Some(token))
            .await
            .map_err(store_fault)?;
        AuditEvent::new("login.success")
            .user(user)
            .detail(serde_json::json!({"via": "soap"}))
            .emit();
        Ok(responses::auth_complete(
            s.id.expose(),
            self.session_lifetime.as_millis() as u64,
        ))
    }

    async fn auth(&self, req: &Element, ip: IpAddr) -> Result<Element, Fault> {
        if req.child("preauth").is_some() || req.attr("preauth").is_some() {
            // Preauth would bypass the second factor; the gateway never accepts it from clients.
            return Err(Fault::perm_denied("preauth is not accepted"));
        }
        let code = field(req, "twoFactorCode");
        let name = req
            .child("account")
            .map(|a| a.text().trim().to_string())
            .or_else(|| field(req, "account").map(String::from));
        if let Some(account) = req.child("account") {
            if account.attr("by").is_some_and(|b| b != "name") {
                return Err(Fault::invalid_request("account must be given by name"));
            }
        }
        // Step 2: stage token + code.
        if let Some(stage) = field(req, "authToken") {
            let code = code.ok_or_else(responses::two_factor_failed)?;
            if !self
                .regulator
                .allow_from(Endpoint::Otp, ip)
                .await
                .map_err(store_fault)?
            {
                return Err(responses::two_factor_failed());
            }
            let Some(entry) = self
                .short
                .get_json::<StageEntry>(&stage_key(stage))
                .await
                .map_err(store_fault)?
            else {
                return Err(Fault::auth_expired());
            };
            if !matches!(entry.purpose, Purpose::Login) {
                return Err(Fault::auth_expired());
            }
            return match self
                .check_code(&entry.user, code, entry.epoch, ip, Some(stage))
                .await?
            {
                true => {
                    // One-time: a second use of the same stage token fails.
                    if self
                        .short
                        .take(&stage_key(stage))
                        .await
                        .map_err(store_fault)?
                        .is_none()
                    {
                        return Err(Fault::auth_expired());
                    }
                    self.full_session(&entry.user, entry.upstream_token).await
                }
                false => {
                    self.stage_failed(stage, entry).await;
                    Err(responses::two_factor_failed())
                }
            };
        }
        // Step 1: password (optionally with the code in the same request).
        let name = name.ok_or_else(|| Fault::invalid_request("missing account"))?;
        let password =
            field(req, "password").ok_or_else(|| Fault::invalid_request("missing password"))?;
        let ok = self.check_password(&name, password, ip).await?;
        let Some(channel) = ok.security.otp_channel else {
            return Err(responses::setup_required(&Self::ALLOWED));
        };
        if let Some(code) = code {
            if !self
                .regulator
                .allow_from(Endpoint::Otp, ip)
                .await
                .map_err(store_fault)?
            {
                return Err(responses::two_factor_failed());
            }
            let user = ok.account.name.clone();
            return match self.check_code(&user, code, ok.epoch, ip, None).await? {
                true => self.full_session(&user, ok.token).await,
                false => Err(responses::two_factor_failed()),
            };
        }
        let stage = self.new_stage(&ok, None, Purpose::Login).await?;
        let masked = ok.security.contact_email.as_deref().map(mask_email);
        Ok(responses::two_factor_required(
            &stage,
            self.stage_ttl.as_millis() as u64,
            &Self::ALLOWED,
            Some(channel),
            masked.as_deref().filter(|_| channel == OtpChannel::Email),
        ))
    }

    async fn enable(&self, req: &Element, ip: IpAddr) -> Result<Element, Fault> {
        let name = field(req, "name").ok_or_else(|| Fault::invalid_request("missing name"))?;
        if let Some(stage) = field(req, "authToken") {
            return self
                .enable_step2(name, stage, field(req, "twoFactorCode"), ip)
                .await;
        }
        let password =
            field(req, "password").ok_or_else(|| Fault::invalid_request("missing password"))?;
        let method = match field(req, "method") {
            None => OtpChannel::Totp,
            Some(m) => parse_method(m).ok_or_else(|| Fault::invalid_request("unknown method"))?,
        };
        let ok = self.check_password(name, password, ip).await?;
        let typed_key = self.resolver.resolve(name).await.ok().map(|n| n.key);
        let user = ok.account.name.clone();
        if ok.security.otp_channel.is_some() {
            // Changing an active second factor needs a full session: the portal's profile page.
            return Err(Fault::perm_denied(
                "two-factor authentication is already enabled",
            ));
        }
        match method {
            OtpChannel::Totp => {
                let enrol = self
                    .factor
                    .totp
                    .new_enrolment(&user)
                    .map_err(|e| Fault::failure(&e.to_string()))?;
                let secret = enrol.secret_base32.expose().to_string();
                let stage = self
                    .new_stage(
                        &ok,
                        typed_key,
                        Purpose::Enable {
                            method,
                            secret: Some(secret.clone()),
                            email: None,
                        },
                    )
                    .await?;
                AuditEvent::new("otp.enrolment_started")
                    .user(&user)
                    .detail(serde_json::json!({"method": "app"}))
                    .emit();
                Ok(responses::enable_step1(Some(&secret), &stage))
            }
            OtpChannel::Email => {
                let email =
                    field(req, "email").ok_or_else(|| Fault::invalid_request("missing email"))?;
                if !crate::portal::forms::plausible_email(email) {
                    return Err(Fault::invalid_request("invalid email"));
                }
                if !self
                    .regulator
                    .allow_account(Endpoint::EmailCode, &user)
                    .await
                    .map_err(store_fault)?
                {
                    return Err(Fault::perm_denied("too many codes requested"));
                }
                let mailer = self
                    .mailer
                    .as_ref()
                    .ok_or_else(|| Fault::failure("mail is not configured").receiver())?;
                let code = self
                    .factor
                    .email
                    .issue(ENABLE_CODE_PURPOSE, &user)
                    .await
                    .map_err(store_fault)?;
                let n = messages::otp_code(
                    &self.operator,
                    code.expose(),
                    self.factor.email.validity().as_secs(),
                );
                mailer
                    .send(email, &n)
                    .await
                    .map_err(|_| Fault::failure("code not sent").receiver())?;
                let stage = self
                    .new_stage(
                        &ok,
                        typed_key,
                        Purpose::Enable {
                            method,
                            secret: None,
                            email: Some(email.to_string()),
                        },
                    )
                    .await?;
                AuditEvent::new("otp.enrolment_started")
                    .user(&user)
                    .detail(serde_json::json!({"method": "email"}))
                    .emit();
                Ok(responses::enable_step1(None, &stage))
            }
        }
    }

    async fn enable_step2(
        &self,
        name: &str,
        stage: &str,
        code: Option<&str>,
        ip: IpAddr,
    ) -> Result<Element, Fault> {
        let code = code.ok_or_else(|| Fault::invalid_request("missing twoFactorCode"))?;
        if !self
            .regulator
            .allow_from(Endpoint::Otp, ip)
            .await
            .map_err(store_fault)?
        {
            return Err(responses::two_factor_failed());
        }
        let Some(entry) = self
            .short
            .get_json::<StageEntry>(&stage_key(stage))
            .await
            .map_err(store_fault)?
        else {
            return Err(Fault::auth_expired());
        };
        // The name must designate the account the password was checked for.
        let named = match self.resolver.resolve(name).await {
            Ok(n) => n.key,
            Err(_) => return Err(Fault::auth_failed(name)),
        };
        if named != entry.user && entry.typed_key.as_deref() != Some(named.as_str()) {
            return Err(Fault::auth_failed(name));
        }
        let Purpose::Enable {
            method,
            secret,
            email,
        } = &entry.purpose
        else {
            return Err(Fault::auth_expired());
        };
        let now = self.regulator.now_ms() / 1000;
        let ok = match (method, secret) {
            (OtpChannel::Totp, Some(s)) => {
                self.factor.totp.matching_step(s, code, now).ok().flatten()
            }
            (OtpChannel::Email, _) => (self
                .factor
                .email
                .verify(ENABLE_CODE_PURPOSE, &entry.user, code)
                .await
                .map_err(store_fault)?
                == crate::auth::otp::EmailCodeVerdict::Accepted)
                .then_some(0),
            _ => None,
        };
        let Some(step) = ok else {
            let user = entry.user.clone();
            self.stage_failed(stage, entry).await;
            AuditEvent::new("otp.enrolment_failed").user(user).emit();
            return Err(responses::two_factor_failed());
        };
        if self
            .short
            .take(&stage_key(stage))
            .await
            .map_err(store_fault)?
            .is_none()
        {
            return Err(Fault::auth_expired());
        }
        let durable = &self.factor.durable;
        let user = entry.user.as_str();
        // Stored only if the account still has no factor: a set-up begun with the
        // password alone never replaces one enrolled meanwhile, here or elsewhere.
        if !self
            .login()
            .may_enrol_with_password(user)
            .await
            .map_err(store_fault)?
        {
            return Err(Fault::perm_denied(
                "two-factor authentication is already enabled",
            ));
        }
        if let (OtpChannel::Totp, Some(s)) = (method, secret) {
            durable
                .set_totp_secret(user, Some(s))
                .await
                .map_err(store_fault)?;
            // The code used to enrol cannot be replayed to log in.
            durable
                .accept_totp_step(user, step)
                .await
                .map_err(store_fault)?;
        }
        if let Some(e) = email {
            durable
                .set_contact_email(user, Some(e))
                .await
                .map_err(store_fault)?;
        }
        durable
            .set_otp_channel(user, Some(*method))
            .await
            .map_err(store_fault)?;
        let codes = self
            .factor
            .recovery
            .regenerate(durable, user)
            .await
            .map_err(store_fault)?;
        AuditEvent::new("otp.enrolled")
            .user(user)
            .detail(serde_json::json!({"method": super::method_name(*method)}))
            .emit();
        self.login()
            .enrolment_completed(user, ip)
            .await
            .map_err(store_fault)?;
        let s = self
            .sessions
            .create(user, Stage::Full, Some(entry.upstream_token.clone()))
            .await
            .map_err(store_fault)?;
        let shown: Vec<&str> = codes.iter().map(|c| c.expose()).collect();
        Ok(responses::enable_step2(s.id.expose(), &shown))
    }

    async fn send_code(&self, req: &Element) -> Result<Element, Fault> {
        let stage =
            field(req, "authToken").ok_or_else(|| Fault::invalid_request("missing authToken"))?;
        match field(req, "action") {
            Some("email") => {}
            Some("reset") => return Ok(responses::send_code("reset failed")),
            _ => return Err(Fault::invalid_request("unknown action")),
        }
        let Some(entry) = self
            .short
            .get_json::<StageEntry>(&stage_key(stage))
            .await
            .map_err(store_fault)?
        else {
            return Err(Fault::auth_expired());
        };
        let security = self
            .factor
            .durable
            .get(&entry.user)
            .await
            .map_err(store_fault)?;
        let (Some(OtpChannel::Email), Some(to), Some(mailer)) = (
            security.otp_channel,
            security.contact_email,
            self.mailer.as_ref(),
        ) else {
            return Ok(responses::send_code("not sent"));
        };
        if !self
            .regulator
            .allow_account(Endpoint::EmailCode, &entry.user)
            .await
            .map_err(store_fault)?
        {
            return Ok(responses::send_code("not sent"));
        }
        let code = self
            .factor
            .email
            .issue(LOGIN_CODE_PURPOSE, &entry.user)
            .await
            .map_err(store_fault)?;
        let n = messages::otp_code(
            &self.operator,
            code.expose(),
            self.factor.email.validity().as_secs(),
        );
        Ok(responses::send_code(match mailer.send(&to, &n).await {
            Ok(()) => "sent",
            Err(e) => {
                tracing::warn!(error = %e, "OTP mail not sent");
                "not sent"
            }
        }))
    }
}
