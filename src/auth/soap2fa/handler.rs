//! Runs the two-factor exchanges: password AuthRequest → stage token; AuthRequest
//! with stage token + code → gateway session token; two-step enable; scratch codes;
//! emailed codes. Stage tokens are one-time bearer values kept in the short store.

use super::{mask_email, parse_method, responses};
use crate::audit::AuditEvent;
use crate::auth::regulation::{Endpoint, Regulator};
use crate::auth::second_factor::{SecondFactor, LOGIN_CODE_PURPOSE};
use crate::auth::secret::{Password, UpstreamToken};
use crate::auth::session::{SessionManager, Stage};
use crate::auth::upstream::{UpstreamClient, UpstreamError};
use crate::auth::user::canonical_user;
use crate::mail::{messages, Mailer};
use crate::soap::{Element, Fault};
use crate::store::{OtpChannel, ShortStore, StoreError};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use rand::RngCore;
use serde::{Deserialize, Serialize};
use std::net::IpAddr;
use std::time::{Duration, Instant};

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
    user: String,
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
    pub login_domain: Option<String>,
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

    /// Answers a failed first factor after the uniform delay, with Zimbra's fault.
    async fn first_factor_failed(
        &self,
        name: &str,
        user: &str,
        ip: IpAddr,
        started: Instant,
        count: bool,
    ) -> Fault {
        if count {
            if let Err(e) = self.regulator.record_failure(user, ip).await {
                tracing::error!(error = %e, "regulation store error");
            }
        }
        self.regulator.uniform_delay(started).await;
        Fault::auth_failed(name)
    }

    /// Password check through the store, regulated. Returns the canonical user and token.
    async fn check_password(
        &self,
        name: &str,
        password: &str,
        ip: IpAddr,
    ) -> Result<(String, UpstreamToken), Fault> {
        let started = Instant::now();
        let Some(user) = canonical_user(name, self.login_domain.as_deref()) else {
            return Err(self
                .first_factor_failed(name, name, ip, started, false)
                .await);
        };
        if self
            .regulator
            .is_banned(&user, ip)
            .await
            .map_err(store_fault)?
        {
            AuditEvent::new("login.refused_banned")
                .user(&user)
                .client_ip(ip)
                .emit();
            return Err(self
                .first_factor_failed(name, &user, ip, started, false)
                .await);
        }
        match self
            .upstream
            .auth_by_password(&user, &Password::new(password))
            .await
        {
            Ok(a) => {
                self.regulator
                    .record_success(&user, ip)
                    .await
                    .map_err(store_fault)?;
                Ok((user, a.token))
            }
            Err(UpstreamError::AuthFailed) => Err(self
                .first_factor_failed(name, &user, ip, started, true)
                .await),
            Err(e) => {
                tracing::warn!(error = %e, "upstream login failed");
                Err(Fault::failure("temporarily unavailable").receiver())
            }
        }
    }

    async fn new_stage(
        &self,
        user: &str,
        token: UpstreamToken,
        purpose: Purpose,
    ) -> Result<String, Fault> {
        let t = new_token();
        let entry = StageEntry {
            user: user.to_string(),
            upstream_token: token,
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
                .allow(Endpoint::Otp, &ip.to_string())
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
            let now = self.regulator.now_ms() / 1000;
            return match self
                .factor
                .verify(&entry.user, code, now)
                .await
                .map_err(store_fault)?
            {
                Some(_) => {
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
                None => {
                    self.stage_failed(stage, entry).await;
                    Err(responses::two_factor_failed())
                }
            };
        }
        // Step 1: password (optionally with the code in the same request).
        let name = name.ok_or_else(|| Fault::invalid_request("missing account"))?;
        let password =
            field(req, "password").ok_or_else(|| Fault::invalid_request("missing password"))?;
        let (user, token) = self.check_password(&name, password, ip).await?;
        let security = self.factor.durable.get(&user).await.map_err(store_fault)?;
        let Some(channel) = security.otp_channel else {
            return Err(responses::setup_required(&Self::ALLOWED));
        };
        if let Some(code) = code {
            if !self
                .regulator
                .allow(Endpoint::Otp, &ip.to_string())
                .await
                .map_err(store_fault)?
            {
                return Err(responses::two_factor_failed());
            }
            let now = self.regulator.now_ms() / 1000;
            return match self
                .factor
                .verify(&user, code, now)
                .await
                .map_err(store_fault)?
            {
                Some(_) => self.full_session(&user, token).await,
                None => Err(responses::two_factor_failed()),
            };
        }
        let stage = self.new_stage(&user, token, Purpose::Login).await?;
        let masked = security.contact_email.as_deref().map(mask_email);
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
        let (user, token) = self.check_password(name, password, ip).await?;
        let security = self.factor.durable.get(&user).await.map_err(store_fault)?;
        if security.otp_channel.is_some() {
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
                        &user,
                        token,
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
                    .allow(Endpoint::EmailCode, &user)
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
                        &user,
                        token,
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
            .allow(Endpoint::Otp, &ip.to_string())
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
        if canonical_user(name, self.login_domain.as_deref()).as_deref()
            != Some(entry.user.as_str())
        {
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
            .allow(Endpoint::EmailCode, &entry.user)
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
