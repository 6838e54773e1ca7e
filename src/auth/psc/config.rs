//! `[auth.psc]`: the Pro Santé Connect relying party (A4).
//!
//! Presets (mssante-psc.md §1.1, ANS's own Keycloak connector): `production` and `bas`
//! (the PSC sandbox, « bac à sable »). Both use PSC's non-standard discovery document
//! `…/.well-known/wallet-openid-configuration`, whose authorization endpoint lives on
//! another host (`wallet.*`) than the realm (`auth.*`). Every endpoint can be set by hand.

use crate::config::Secret;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::PathBuf;

/// Which PSC environment: fills `discovery_url` and `issuer` unless they are set.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PscEnvironment {
    /// `auth.esw.esante.gouv.fr` / `wallet.esw.esante.gouv.fr`.
    #[default]
    Production,
    /// The PSC sandbox « bac à sable »: `auth.bas.psc.esante.gouv.fr`.
    Bas,
    /// No preset: `discovery_url`, or `issuer` and the endpoints, are given by hand.
    Custom,
}

impl PscEnvironment {
    /// (issuer, discovery document URL) of a preset.
    pub fn preset(self) -> Option<(&'static str, &'static str)> {
        match self {
            PscEnvironment::Production => Some((
                "https://auth.esw.esante.gouv.fr/auth/realms/esante-wallet",
                "https://auth.esw.esante.gouv.fr/auth/realms/esante-wallet/.well-known/wallet-openid-configuration",
            )),
            PscEnvironment::Bas => Some((
                "https://auth.bas.psc.esante.gouv.fr/auth/realms/esante-wallet",
                "https://auth.bas.psc.esante.gouv.fr/auth/realms/esante-wallet/.well-known/wallet-openid-configuration",
            )),
            PscEnvironment::Custom => None,
        }
    }
}

/// How the gateway authenticates to the token endpoint.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ClientAuthMethod {
    /// HTTP Basic with client id and secret.
    #[default]
    ClientSecretBasic,
    /// Client id and secret in the form body.
    ClientSecretPost,
    /// A JWT signed with the gateway's private key (RFC 7523).
    PrivateKeyJwt,
}

/// One domain's Zimbra preauth key (`zimbraPreAuthKey`, `zmprov gdpak DOMAIN`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct DomainPreauthKey {
    /// The key (hex string); give it as `key_file`.
    pub key: Secret,
}

/// `[auth.psc]`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct PscConfig {
    pub environment: PscEnvironment,
    /// Discovery document URL (overrides the preset's).
    pub discovery_url: Option<String>,
    /// Expected issuer (overrides the preset's; else the discovery document's).
    pub issuer: Option<String>,
    pub authorization_endpoint: Option<String>,
    pub token_endpoint: Option<String>,
    pub userinfo_endpoint: Option<String>,
    pub jwks_uri: Option<String>,
    pub end_session_endpoint: Option<String>,
    /// Client id registered with PSC.
    pub client_id: String,
    /// Client secret (`client_secret_file`).
    pub client_secret: Option<Secret>,
    pub client_auth: ClientAuthMethod,
    /// PKCS#8 PEM private key for `private_key_jwt` (`private_key_file`).
    pub private_key: Option<Secret>,
    /// Signature of the client assertion: RS256, PS256 or ES256.
    pub private_key_alg: String,
    /// `kid` header of the client assertion (the key's id in the registered JWKS).
    pub private_key_id: Option<String>,
    /// PEM client certificate presented to the token and UserInfo endpoints (mTLS).
    pub tls_client_cert_path: Option<PathBuf>,
    /// PEM private key of that certificate.
    pub tls_client_key_path: Option<PathBuf>,
    /// Extra CA certificates (PEM) for PSC's endpoints; system roots otherwise.
    pub ca_file: Option<PathBuf>,
    /// Requested scopes (`openid` is always sent once).
    pub scope: String,
    /// Requested `acr_values`.
    pub acr_values: String,
    /// Redirect URI registered with PSC; default `<public_url>/connexion/psc/retour`.
    pub redirect_uri: Option<String>,
    /// Post-logout URI registered with PSC; default `<public_url>/connexion/psc/deconnecte`.
    pub post_logout_redirect_uri: Option<String>,
    /// The gateway's logout also ends the PSC session (end-session redirect).
    pub end_session: bool,
    /// Accept HS256/384/512 tokens (MAC with the client secret). Off: asymmetric only.
    pub allow_symmetric_signatures: bool,
    /// Refuse UserInfo answers that are not signed JWTs.
    pub require_signed_userinfo: bool,
    /// Clock difference tolerated on `exp`/`iat`, seconds.
    pub clock_leeway_secs: u64,
    /// Time allowed between the PSC button and the return, seconds (state, nonce, PKCE).
    pub flow_timeout_secs: u64,
    /// Timeout of each call to PSC, seconds.
    pub http_timeout_secs: u64,
    /// Seconds the discovery document is cached.
    pub metadata_ttl_secs: u64,
    /// Preauth key used for every domain without its own (`preauth_key_file`).
    pub preauth_key: Option<Secret>,
    /// Per-domain preauth keys: `[auth.psc.domain_preauth_keys."example.fr"] key_file = …`.
    pub domain_preauth_keys: BTreeMap<String, DomainPreauthKey>,
}

impl Default for PscConfig {
    fn default() -> Self {
        PscConfig {
            environment: PscEnvironment::Production,
            discovery_url: None,
            issuer: None,
            authorization_endpoint: None,
            token_endpoint: None,
            userinfo_endpoint: None,
            jwks_uri: None,
            end_session_endpoint: None,
            client_id: String::new(),
            client_secret: None,
            client_auth: ClientAuthMethod::ClientSecretBasic,
            private_key: None,
            private_key_alg: "RS256".into(),
            private_key_id: None,
            tls_client_cert_path: None,
            tls_client_key_path: None,
            ca_file: None,
            scope: "openid scope_all".into(),
            acr_values: "eidas1".into(),
            redirect_uri: None,
            post_logout_redirect_uri: None,
            end_session: true,
            allow_symmetric_signatures: false,
            require_signed_userinfo: false,
            clock_leeway_secs: 60,
            flow_timeout_secs: 600,
            http_timeout_secs: 10,
            metadata_ttl_secs: 3600,
            preauth_key: None,
            domain_preauth_keys: BTreeMap::new(),
        }
    }
}

/// Path of the redirect URI (the route that receives the code).
pub const RETURN_PATH: &str = "/connexion/psc/retour";
/// Path of the post-logout redirect URI.
pub const LOGGED_OUT_PATH: &str = "/connexion/psc/deconnecte";
/// Path of the back-channel logout URI.
pub const BACKCHANNEL_PATH: &str = "/connexion/psc/deconnexion";

/// PSC's endpoints are https; plain http only on loopback (tests, the demo).
pub fn check_endpoint_url(key: &str, value: &str) -> Result<url::Url, String> {
    let u = url::Url::parse(value).map_err(|e| format!("auth.psc.{key}: {value:?}: {e}"))?;
    let loopback = match u.host() {
        Some(url::Host::Ipv4(a)) => a.is_loopback(),
        Some(url::Host::Ipv6(a)) => a.is_loopback(),
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        None => return Err(format!("auth.psc.{key}: {value:?} has no host")),
    };
    match u.scheme() {
        "https" => Ok(u),
        "http" if loopback => Ok(u),
        _ => Err(format!(
            "auth.psc.{key}: {value:?} must be https (http only on loopback)"
        )),
    }
}

impl PscConfig {
    /// The redirect URI sent to PSC.
    pub fn redirect_uri(&self, public_url: &str) -> String {
        self.redirect_uri
            .clone()
            .unwrap_or_else(|| format!("{}{RETURN_PATH}", public_url.trim_end_matches('/')))
    }

    /// The post-logout redirect URI sent to PSC.
    pub fn post_logout_redirect_uri(&self, public_url: &str) -> String {
        self.post_logout_redirect_uri
            .clone()
            .unwrap_or_else(|| format!("{}{LOGGED_OUT_PATH}", public_url.trim_end_matches('/')))
    }

    /// (issuer, discovery URL) after presets and overrides.
    pub fn issuer_and_discovery(&self) -> (Option<String>, Option<String>) {
        let preset = self.environment.preset();
        (
            self.issuer
                .clone()
                .or_else(|| preset.map(|(i, _)| i.to_string())),
            self.discovery_url
                .clone()
                .or_else(|| preset.map(|(_, d)| d.to_string())),
        )
    }

    /// The preauth key of an account's domain.
    pub fn preauth_key_for(&self, domain: &str) -> Option<&Secret> {
        self.domain_preauth_keys
            .iter()
            .find(|(d, _)| d.eq_ignore_ascii_case(domain))
            .map(|(_, k)| &k.key)
            .or(self.preauth_key.as_ref())
    }

    /// Errors naming the key.
    pub fn validate(&self, public_url: &str) -> Vec<String> {
        let mut e = Vec::new();
        if self.client_id.trim().is_empty() {
            e.push("auth.psc.client_id: required (the client id PSC gave you)".into());
        }
        let (issuer, discovery) = self.issuer_and_discovery();
        if discovery.is_none() {
            let manual = [
                ("issuer", &issuer),
                ("authorization_endpoint", &self.authorization_endpoint),
                ("token_endpoint", &self.token_endpoint),
                ("jwks_uri", &self.jwks_uri),
            ];
            for (k, v) in manual {
                if v.is_none() {
                    e.push(format!(
                        "auth.psc.{k}: required with environment = \"custom\" and no discovery_url"
                    ));
                }
            }
        }
        let urls = [
            ("discovery_url", &discovery),
            ("authorization_endpoint", &self.authorization_endpoint),
            ("token_endpoint", &self.token_endpoint),
            ("userinfo_endpoint", &self.userinfo_endpoint),
            ("jwks_uri", &self.jwks_uri),
            ("end_session_endpoint", &self.end_session_endpoint),
        ];
        for (k, v) in urls {
            if let Some(v) = v {
                if let Err(m) = check_endpoint_url(k, v) {
                    e.push(m);
                }
            }
        }
        for (k, v) in [
            ("redirect_uri", self.redirect_uri(public_url)),
            (
                "post_logout_redirect_uri",
                self.post_logout_redirect_uri(public_url),
            ),
        ] {
            if let Err(m) = check_endpoint_url(k, &v) {
                e.push(format!(
                    "{m} (set auth.operator.public_url or auth.psc.{k})"
                ));
            }
        }
        let secret = self.client_secret.as_ref().filter(|s| !s.is_empty());
        match self.client_auth {
            ClientAuthMethod::ClientSecretBasic | ClientAuthMethod::ClientSecretPost => {
                if secret.is_none() {
                    e.push(format!(
                        "auth.psc.client_secret_file: required with client_auth = \"{}\"",
                        self.client_auth.as_str()
                    ));
                }
            }
            ClientAuthMethod::PrivateKeyJwt => match &self.private_key {
                None => e.push(
                    "auth.psc.private_key_file: required with client_auth = \"private_key_jwt\""
                        .into(),
                ),
                Some(k) => {
                    if let Err(m) =
                        super::client_assertion::AssertionKey::from_pem(k, &self.private_key_alg)
                    {
                        e.push(format!("auth.psc.private_key_file: {m}"));
                    }
                }
            },
        }
        if self.allow_symmetric_signatures && secret.is_none() {
            e.push(
                "auth.psc.allow_symmetric_signatures: HS* tokens are checked with the client \
                 secret; set client_secret_file"
                    .into(),
            );
        }
        match (&self.tls_client_cert_path, &self.tls_client_key_path) {
            (Some(_), None) | (None, Some(_)) => e.push(
                "auth.psc.tls_client_cert_path: give the certificate and tls_client_key_path together"
                    .into(),
            ),
            _ => {}
        }
        for (k, p) in [
            ("tls_client_cert_path", &self.tls_client_cert_path),
            ("tls_client_key_path", &self.tls_client_key_path),
            ("ca_file", &self.ca_file),
        ] {
            if let Some(p) = p {
                if !p.exists() {
                    e.push(format!("auth.psc.{k}: file {} not found", p.display()));
                }
            }
        }
        if !self.scope.split_whitespace().any(|s| s != "openid") {
            e.push("auth.psc.scope: PSC needs scope_all (e.g. \"openid scope_all\")".into());
        }
        if super::claims::eidas_level(self.acr_values.trim()).is_none() {
            e.push(format!(
                "auth.psc.acr_values: {:?} is not an eIDAS level (eidas1, eidas2 or eidas3)",
                self.acr_values
            ));
        }
        if self.flow_timeout_secs == 0 || self.flow_timeout_secs > 3600 {
            e.push("auth.psc.flow_timeout_secs: between 1 and 3600".into());
        }
        if self.http_timeout_secs == 0 {
            e.push("auth.psc.http_timeout_secs: must be at least 1".into());
        }
        if self.clock_leeway_secs > 300 {
            e.push("auth.psc.clock_leeway_secs: at most 300".into());
        }
        if self.preauth_key.is_none() && self.domain_preauth_keys.is_empty() {
            e.push(
                "auth.psc.preauth_key_file: required (the store's zimbraPreAuthKey, \
                 zmprov gdpak DOMAIN), or domain_preauth_keys"
                    .into(),
            );
        }
        let keys = self
            .preauth_key
            .iter()
            .map(|k| ("preauth_key_file".to_string(), k))
            .chain(
                self.domain_preauth_keys
                    .iter()
                    .map(|(d, k)| (format!("domain_preauth_keys.\"{d}\".key_file"), &k.key)),
            );
        for (name, k) in keys {
            let v = k.expose();
            if v.len() < 32 || !v.bytes().all(|b| b.is_ascii_hexdigit()) {
                e.push(format!(
                    "auth.psc.{name}: a zimbraPreAuthKey is a hex string (64 characters)"
                ));
            }
        }
        e
    }
}

impl ClientAuthMethod {
    pub fn as_str(self) -> &'static str {
        match self {
            ClientAuthMethod::ClientSecretBasic => "client_secret_basic",
            ClientAuthMethod::ClientSecretPost => "client_secret_post",
            ClientAuthMethod::PrivateKeyJwt => "private_key_jwt",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base() -> PscConfig {
        PscConfig {
            client_id: "mssante-gw".into(),
            client_secret: Some(Secret::new("s3cret")),
            preauth_key: Some(Secret::new("ab".repeat(32))),
            ..PscConfig::default()
        }
    }

    #[test]
    fn production_preset_is_complete() {
        let c = base();
        assert!(c.validate("https://messagerie.example.fr").is_empty());
        let (iss, disc) = c.issuer_and_discovery();
        assert_eq!(
            iss.as_deref(),
            Some("https://auth.esw.esante.gouv.fr/auth/realms/esante-wallet")
        );
        assert!(disc
            .unwrap()
            .ends_with("/.well-known/wallet-openid-configuration"));
        assert_eq!(
            c.redirect_uri("https://messagerie.example.fr/"),
            "https://messagerie.example.fr/connexion/psc/retour"
        );
    }

    #[test]
    fn bas_preset() {
        let c = PscConfig {
            environment: PscEnvironment::Bas,
            ..base()
        };
        assert!(c
            .issuer_and_discovery()
            .1
            .unwrap()
            .starts_with("https://auth.bas.psc.esante.gouv.fr/"));
    }

    #[test]
    fn refusals_name_the_key() {
        let c = PscConfig {
            environment: PscEnvironment::Custom,
            client_id: String::new(),
            client_secret: None,
            token_endpoint: Some("http://psc.example.fr/token".into()),
            acr_values: "eidas0".into(),
            scope: "openid".into(),
            preauth_key: Some(Secret::new("xyz")),
            ..PscConfig::default()
        };
        let e = c.validate("https://m.example.fr").join("\n");
        for k in [
            "auth.psc.client_id",
            "auth.psc.issuer",
            "auth.psc.jwks_uri",
            "auth.psc.token_endpoint: \"http://psc.example.fr/token\" must be https",
            "auth.psc.client_secret_file",
            "auth.psc.acr_values",
            "auth.psc.scope",
            "auth.psc.preauth_key_file: a zimbraPreAuthKey",
        ] {
            assert!(e.contains(k), "{k} not in:\n{e}");
        }
        assert!(check_endpoint_url("x", "http://127.0.0.1:9/a").is_ok());
        assert!(check_endpoint_url("x", "http://[::1]:9/a").is_ok());
    }

    #[test]
    fn per_domain_key_wins() {
        let mut c = base();
        c.domain_preauth_keys.insert(
            "Chu.Example.fr".into(),
            DomainPreauthKey {
                key: Secret::new("cd".repeat(32)),
            },
        );
        assert_eq!(
            c.preauth_key_for("chu.example.fr").unwrap().expose(),
            "cd".repeat(32)
        );
        assert_eq!(
            c.preauth_key_for("other.fr").unwrap().expose(),
            "ab".repeat(32)
        );
    }
}
