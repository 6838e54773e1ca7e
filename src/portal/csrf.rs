//! CSRF tokens for portal forms.
//!
//! * With a session: token = HMAC-SHA256(session CSRF secret, form purpose). The
//!   secret changes with every session rotation.
//! * Before any session (login, forgotten password): signed double submit — a
//!   random nonce signed with the data key, set as a `__Host-` cookie and repeated
//!   in the form; both must match and the signature must verify.

use crate::auth::secret::BearerToken;
use crate::store::DataKey;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use rand::RngCore;
use ring::hmac;
use subtle::ConstantTimeEq;

/// Name of the double-submit cookie over HTTPS / in the plain-HTTP demo.
pub const CSRF_COOKIE_SECURE: &str = "__Host-mssante_csrf";
pub const CSRF_COOKIE_DEMO: &str = "mssante_csrf";

fn ct_eq(a: &str, b: &str) -> bool {
    bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

/// Token for `purpose` (e.g. "otp", "profile") bound to a session's CSRF secret.
pub fn session_token(secret: &BearerToken, purpose: &str) -> String {
    let key = hmac::Key::new(hmac::HMAC_SHA256, secret.expose().as_bytes());
    URL_SAFE_NO_PAD.encode(hmac::sign(&key, purpose.as_bytes()).as_ref())
}

pub fn verify_session_token(secret: &BearerToken, purpose: &str, token: &str) -> bool {
    ct_eq(&session_token(secret, purpose), token)
}

/// A fresh signed double-submit value (goes both in the cookie and in the form).
pub fn double_submit_issue(key: &DataKey) -> String {
    let mut nonce = [0u8; 16];
    rand::rng().fill_bytes(&mut nonce);
    let n = URL_SAFE_NO_PAD.encode(nonce);
    let sig = URL_SAFE_NO_PAD.encode(key.mac(format!("csrf-ds:{n}").as_bytes()));
    format!("{n}.{sig}")
}

/// Cookie and form values are equal and carry our signature.
pub fn double_submit_verify(key: &DataKey, cookie: Option<&str>, form: &str) -> bool {
    let Some(cookie) = cookie else { return false };
    if !ct_eq(cookie, form) {
        return false;
    }
    let Some((n, sig)) = form.split_once('.') else {
        return false;
    };
    let want = URL_SAFE_NO_PAD.encode(key.mac(format!("csrf-ds:{n}").as_bytes()));
    !n.is_empty() && ct_eq(&want, sig)
}

/// `Set-Cookie` for the double-submit value.
pub fn double_submit_cookie(value: &str, insecure_demo: bool) -> String {
    if insecure_demo {
        format!("{CSRF_COOKIE_DEMO}={value}; Path=/; HttpOnly; SameSite=Strict")
    } else {
        format!("{CSRF_COOKIE_SECURE}={value}; Path=/; HttpOnly; SameSite=Strict; Secure")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn session_tokens() {
        let s = BearerToken::new("secret-1");
        let t = session_token(&s, "otp");
        assert!(verify_session_token(&s, "otp", &t));
        assert!(
            !verify_session_token(&s, "profile", &t),
            "bound to the form"
        );
        assert!(
            !verify_session_token(&BearerToken::new("secret-2"), "otp", &t),
            "bound to the session"
        );
        assert!(!verify_session_token(&s, "otp", ""));
    }

    #[test]
    fn double_submit() {
        let k = DataKey::generate();
        let v = double_submit_issue(&k);
        assert!(double_submit_verify(&k, Some(&v), &v));
        assert!(!double_submit_verify(&k, None, &v), "cookie missing");
        let other = double_submit_issue(&k);
        assert!(!double_submit_verify(&k, Some(&other), &v), "mismatch");
        // An attacker who can plant a cookie still cannot forge our signature.
        let forged = "AAAAAAAAAAAAAAAAAAAAAA.BBBB";
        assert!(!double_submit_verify(&k, Some(forged), forged));
        assert!(
            !double_submit_verify(&DataKey::generate(), Some(&v), &v),
            "other key"
        );
        assert!(!double_submit_verify(&k, Some(""), ""));
        assert!(double_submit_cookie(&v, false).starts_with("__Host-mssante_csrf="));
    }
}
