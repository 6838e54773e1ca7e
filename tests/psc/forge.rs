//! A tiny signing stand-in for the tokens a real provider will not produce (wrong
//! issuer, wrong audience, bad signature, `alg: none`, missing acr, replayed nonce…).
//! The happy path and the flows run against the real provider (`provider.rs`); this
//! one only answers discovery, keys, token and UserInfo, with what the test planted.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use ring::rand::SystemRandom;
use ring::signature::{EcdsaKeyPair, KeyPair, ECDSA_P256_SHA256_FIXED_SIGNING};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};

/// What the token and UserInfo endpoints answer for one code.
#[derive(Clone)]
pub struct Planted {
    pub id_token: String,
    pub userinfo_type: &'static str,
    pub userinfo: String,
}

pub struct Key {
    pair: EcdsaKeyPair,
    pub kid: String,
}

impl Key {
    pub fn new(kid: &str) -> Key {
        let rng = SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).unwrap();
        Key {
            pair: EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref(), &rng)
                .unwrap(),
            kid: kid.into(),
        }
    }

    fn jwk(&self) -> Value {
        let p = self.pair.public_key().as_ref();
        json!({"kty": "EC", "crv": "P-256", "kid": self.kid, "use": "sig", "alg": "ES256",
               "x": URL_SAFE_NO_PAD.encode(&p[1..33]), "y": URL_SAFE_NO_PAD.encode(&p[33..65])})
    }

    /// ES256 over `header` (alg and kid filled in) and `claims`.
    pub fn sign(&self, claims: &Value) -> String {
        let header = json!({"alg": "ES256", "kid": self.kid, "typ": "JWT"});
        let input = format!("{}.{}", b64(&header), b64(claims));
        let sig = self
            .pair
            .sign(&SystemRandom::new(), input.as_bytes())
            .unwrap();
        format!("{input}.{}", URL_SAFE_NO_PAD.encode(sig.as_ref()))
    }
}

fn b64(v: &Value) -> String {
    URL_SAFE_NO_PAD.encode(v.to_string())
}

/// An unsigned token (`alg: none`).
pub fn unsigned(claims: &Value) -> String {
    format!("{}.{}.", b64(&json!({"alg": "none"})), b64(claims))
}

/// An HS256 token keyed with `secret` (what a client secret would sign).
pub fn hs256(secret: &str, claims: &Value) -> String {
    let input = format!("{}.{}", b64(&json!({"alg": "HS256"})), b64(claims));
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, secret.as_bytes());
    let sig = ring::hmac::sign(&key, input.as_bytes());
    format!("{input}.{}", URL_SAFE_NO_PAD.encode(sig.as_ref()))
}

/// The same token with its signature's first byte flipped.
pub fn tampered(token: &str) -> String {
    let (input, sig) = token.rsplit_once('.').unwrap();
    let mut s = URL_SAFE_NO_PAD.decode(sig).unwrap();
    s[0] ^= 0x01;
    format!("{input}.{}", URL_SAFE_NO_PAD.encode(s))
}

#[derive(Default)]
struct State {
    codes: HashMap<String, Planted>,
    keys: Vec<Value>,
}

pub struct Forge {
    pub base: String,
    state: Arc<Mutex<State>>,
}

impl Forge {
    pub fn start(published: &[&Key]) -> Forge {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let state = Arc::new(Mutex::new(State {
            codes: HashMap::new(),
            keys: published.iter().map(|k| k.jwk()).collect(),
        }));
        let (st, b) = (state.clone(), base.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(s) = stream else { continue };
                let (st, b) = (st.clone(), b.clone());
                std::thread::spawn(move || serve(s, &st, &b));
            }
        });
        Forge { base, state }
    }

    pub fn discovery_url(&self) -> String {
        format!("{}/.well-known/wallet-openid-configuration", self.base)
    }

    /// What the token endpoint answers for `code` (each code works once).
    pub fn plant(&self, code: &str, p: Planted) {
        self.state.lock().unwrap().codes.insert(code.into(), p);
    }

    /// Publishes another key (rotation).
    pub fn publish(&self, k: &Key) {
        self.state.lock().unwrap().keys.push(k.jwk());
    }
}

fn respond(s: &mut TcpStream, status: &str, ctype: &str, body: &str) {
    let _ = write!(
        s,
        "HTTP/1.1 {status}\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
}

fn serve(mut s: TcpStream, st: &Mutex<State>, base: &str) {
    let mut r = BufReader::new(s.try_clone().unwrap());
    let mut line = String::new();
    if r.read_line(&mut line).is_err() {
        return;
    }
    let mut parts = line.split_whitespace();
    let (method, target) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    let mut headers = HashMap::new();
    loop {
        let mut h = String::new();
        if r.read_line(&mut h).is_err() || h.trim().is_empty() {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_string());
        }
    }
    let len: usize = headers
        .get("content-length")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let mut body = vec![0u8; len];
    let _ = r.read_exact(&mut body);
    let path = target.split('?').next().unwrap_or("");
    match (method, path) {
        ("GET", "/.well-known/wallet-openid-configuration") => {
            let doc = json!({
                "issuer": base,
                "authorization_endpoint": format!("{base}/auth"),
                "token_endpoint": format!("{base}/token"),
                "userinfo_endpoint": format!("{base}/userinfo"),
                "jwks_uri": format!("{base}/jwks"),
                "end_session_endpoint": format!("{base}/logout"),
                "id_token_signing_alg_values_supported": ["ES256", "RS256", "HS256"],
                "userinfo_signing_alg_values_supported": ["ES256", "none"],
                "acr_values_supported": ["0", "0"],
            });
            respond(&mut s, "200 OK", "application/json", &doc.to_string());
        }
        ("GET", "/jwks") => {
            let keys = json!({"keys": st.lock().unwrap().keys});
            respond(&mut s, "200 OK", "application/json", &keys.to_string());
        }
        ("POST", "/token") => {
            let form: HashMap<String, String> =
                serde_urlencoded::from_bytes(&body).unwrap_or_default();
            let code = form.get("code").cloned().unwrap_or_default();
            let planted = st.lock().unwrap().codes.get(&code).cloned();
            match planted {
                Some(p) if form.get("code_verifier").is_some_and(|v| v.len() >= 43) => {
                    let t = json!({"access_token": format!("at-{code}"), "token_type": "Bearer",
                                   "expires_in": 120, "id_token": p.id_token,
                                   "refresh_expires_in": 1800, "not-before-policy": 0,
                                   "session_state": "x", "scope": "openid scope_all"});
                    respond(&mut s, "200 OK", "application/json", &t.to_string());
                }
                _ => respond(
                    &mut s,
                    "400 Bad Request",
                    "application/json",
                    r#"{"error":"invalid_grant"}"#,
                ),
            }
        }
        ("GET", "/userinfo") => {
            let code = headers
                .get("authorization")
                .and_then(|a| a.strip_prefix("Bearer at-"))
                .unwrap_or("")
                .to_string();
            let planted = st.lock().unwrap().codes.get(&code).cloned();
            match planted {
                Some(p) => respond(&mut s, "200 OK", p.userinfo_type, &p.userinfo),
                None => respond(&mut s, "401 Unauthorized", "text/plain", ""),
            }
        }
        _ => respond(&mut s, "404 Not Found", "text/plain", ""),
    }
}
