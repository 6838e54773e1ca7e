//! Issue 11: Pro Santé Connect. The gateway as an OpenID Connect relying party in front
//! of the sandbox store, against a REAL provider (npm `oidc-provider`, configured like
//! PSC: `wallet-openid-configuration`, the authorization endpoint on a second origin,
//! acr eidas1/eidas3, PSC claims, signed or JSON UserInfo, back-channel logout) driven
//! by headless Chromium; and, for the tokens a real provider will not sign (wrong
//! issuer, `alg: none`…), a tiny signing stand-in. Run alone with `cargo test --test psc`.
//!
//! - `flows`: browser logins and logouts through the real provider, the mailbox
//!   mapping cases, code and state replays.
//! - `demo`: the demo's PSC stand-in leads from the button to the webmail.
//! - `forged`: every refusal of a token or a return, each with its audit reason, next
//!   to a positive control that shows the same path succeeds.
//!
//! A missing Node.js, oidc-provider package, browser or driver fails the test.

mod common;

#[path = "psc/demo.rs"]
mod demo;
#[path = "psc/flows.rs"]
mod flows;
#[path = "psc/forge.rs"]
mod forge;
#[path = "psc/forged.rs"]
mod forged;
#[path = "psc/provider.rs"]
mod provider;
#[path = "psc/stack.rs"]
mod stack;

use std::collections::HashMap;

/// A login started at the gateway (`GET /connexion/psc`), seen by a plain HTTP client.
pub struct Begun {
    pub location: String,
    pub params: HashMap<String, String>,
    /// `mssante_psc=…` (the browser-binding cookie).
    pub cookie: String,
}

impl Begun {
    pub fn state(&self) -> &str {
        &self.params["state"]
    }

    pub fn nonce(&self) -> &str {
        &self.params["nonce"]
    }
}

/// `GET /connexion/psc`: 303 to the provider with the PSC parameters.
pub async fn begin(gw: &common::GatewayProcess) -> Begun {
    let r = common::client()
        .get(gw.url("/connexion/psc"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303, "{}", r.text().await.unwrap_or_default());
    let location = r.headers()["location"].to_str().unwrap().to_string();
    let cookie = r
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|c| c.starts_with("mssante_psc="))
        .expect("browser-binding cookie")
        .split(';')
        .next()
        .unwrap()
        .to_string();
    let params = url::Url::parse(&location)
        .unwrap()
        .query_pairs()
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    Begun {
        location,
        params,
        cookie,
    }
}

/// The answer to a return at `/connexion/psc/retour?<query>` with `cookie`.
pub struct Returned {
    pub status: u16,
    pub location: Option<String>,
    /// The gateway session cookie set, if any (`mssante_session=…`).
    pub session: Option<String>,
    pub body: String,
}

pub async fn come_back(gw: &common::GatewayProcess, query: &str, cookie: &str) -> Returned {
    let r = common::client()
        .get(gw.url(&format!("/connexion/psc/retour?{query}")))
        .header("cookie", cookie)
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    let location = r
        .headers()
        .get("location")
        .map(|v| v.to_str().unwrap().to_string());
    let session = r
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|c| c.starts_with("mssante_session=") && !c.starts_with("mssante_session=;"))
        .map(|c| c.split(';').next().unwrap().to_string());
    Returned {
        status,
        location,
        session,
        body: r.text().await.unwrap_or_default(),
    }
}

/// The webmail page through the gateway with `cookie` (status, body).
pub async fn webmail(gw: &common::GatewayProcess, cookie: &str) -> (u16, String) {
    let r = common::client()
        .get(gw.url("/"))
        .header("cookie", cookie)
        .header("accept", "text/html")
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.text().await.unwrap_or_default())
}
