//! Typed configuration: one TOML file plus `GATEWAY_*` environment variables
//! (`__` between section and key, e.g. `GATEWAY_UPSTREAM__URL`), secrets from
//! files (`<secret>_file`), unknown keys refused. `check-config` prints the result.

mod reference;
mod secret;
mod sections;
mod sources;

pub use reference::render_reference;
pub use secret::Secret;
pub use sections::*;
pub use sources::ENV_PREFIX;

use crate::auth::config::AuthConfig;
use crate::directory::config::DirectoryConfig;
use crate::policy::config::PolicyConfig;
use figment::providers::{Format, Serialized, Toml};
use figment::value::{Dict, Value};
use figment::Figment;
use serde::{Deserialize, Serialize};
use std::path::Path;

/// The whole configuration.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub server: ServerConfig,
    pub upstream: UpstreamConfig,
    pub limits: LimitsConfig,
    pub paths: PathsConfig,
    pub log: LogConfig,
    pub metrics: MetricsConfig,
    pub trusted_proxies: TrustedProxiesConfig,
    pub policy: PolicyConfig,
    pub directory: DirectoryConfig,
    pub auth: AuthConfig,
}

/// Why a configuration was refused; each line names the key.
#[derive(Debug, thiserror::Error)]
#[error("{}", .0.join("\n"))]
pub struct ConfigError(pub Vec<String>);

impl Config {
    /// Reads `path` (must exist) and the process environment.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        Self::load_from(Some(path), std::env::vars())
    }

    /// One section of the file and the environment (secret files read), without the
    /// checks of the other sections: for tools that need only that part, such as
    /// `annuaire check`.
    pub fn load_section<T: serde::de::DeserializeOwned>(
        path: &Path,
        section: &str,
    ) -> Result<T, ConfigError> {
        let dict = Self::raw_dict(Some(path), std::env::vars())?;
        Figment::from(Serialized::defaults(Value::from(dict)))
            .focus(section)
            .extract()
            .map_err(figment_errors)
    }

    /// File and environment merged, `*_file` secrets read.
    fn raw_dict(
        path: Option<&Path>,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Dict, ConfigError> {
        let mut dict = match path {
            Some(p) => Figment::from(Toml::file_exact(p))
                .extract::<Dict>()
                .map_err(figment_errors)?,
            None => Dict::new(),
        };
        sources::merge(&mut dict, sources::env_dict(env));
        let mut errors = Vec::new();
        sources::resolve_secret_files(&mut dict, "", &mut errors);
        if errors.is_empty() {
            Ok(dict)
        } else {
            Err(ConfigError(errors))
        }
    }

    /// Reads an optional TOML file and the given environment variables.
    pub fn load_from(
        path: Option<&Path>,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Config, ConfigError> {
        let dict = Self::raw_dict(path, env)?;
        let config: Config = Figment::from(Serialized::defaults(Value::from(dict)))
            .extract_lossy()
            .map_err(figment_errors)?;
        config.validate()?;
        Ok(config)
    }

    /// Parses a TOML string (tests, demo), without the environment.
    pub fn from_toml_str(text: &str) -> Result<Config, ConfigError> {
        let mut dict = Figment::from(Toml::string(text))
            .extract::<Dict>()
            .map_err(figment_errors)?;
        let mut errors = Vec::new();
        sources::resolve_secret_files(&mut dict, "", &mut errors);
        if !errors.is_empty() {
            return Err(ConfigError(errors));
        }
        let config: Config = Figment::from(Serialized::defaults(Value::from(dict)))
            .extract_lossy()
            .map_err(figment_errors)?;
        config.validate()?;
        Ok(config)
    }

    /// Checks what types alone cannot say.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let mut e = Vec::new();
        let s = &self.server;
        if s.tls.is_none() && !s.behind_tls_proxy && !s.listen.ip().is_loopback() {
            e.push(format!(
                "server.listen: plain HTTP on non-loopback address {} is refused; \
                 set [server.tls] cert_path/key_path, or server.behind_tls_proxy = true",
                s.listen
            ));
        }
        if let Some(tls) = &s.tls {
            for (key, p) in [("cert_path", &tls.cert_path), ("key_path", &tls.key_path)] {
                if !p.is_file() {
                    e.push(format!("server.tls.{key}: file {} not found", p.display()));
                }
            }
        }
        if s.max_connections == 0 {
            e.push("server.max_connections: must be at least 1".into());
        }
        match url::Url::parse(&self.upstream.url) {
            Ok(u) if !matches!(u.scheme(), "http" | "https") => e.push(format!(
                "upstream.url: scheme must be http or https, not {}",
                u.scheme()
            )),
            Ok(u) if u.host().is_none() => e.push("upstream.url: a host is required".into()),
            Ok(u) if u.query().is_some() || u.fragment().is_some() || u.path() != "/" => {
                e.push("upstream.url: give only scheme://host[:port], without path or query".into())
            }
            Ok(_) => {}
            Err(err) => e.push(format!("upstream.url: {err}")),
        }
        if let Some(ca) = &self.upstream.ca_file {
            if !ca.is_file() {
                e.push(format!("upstream.ca_file: file {} not found", ca.display()));
            }
        }
        if !self.upstream.readiness_path.starts_with('/') {
            e.push("upstream.readiness_path: must start with /".into());
        }
        for (key, v) in [
            (
                "upstream.connect_timeout_secs",
                self.upstream.connect_timeout_secs,
            ),
            (
                "upstream.response_timeout_secs",
                self.upstream.response_timeout_secs,
            ),
            (
                "upstream.long_poll_timeout_secs",
                self.upstream.long_poll_timeout_secs,
            ),
            ("server.request_timeout_secs", s.request_timeout_secs),
        ] {
            if v == 0 {
                e.push(format!("{key}: must be at least 1"));
            }
        }
        if self.limits.soap_max_bytes == 0 {
            e.push("limits.soap_max_bytes: must be at least 1".into());
        }
        e.extend(self.limits.validate());
        for (i, p) in self.paths.closed.iter().enumerate() {
            if !p.starts_with('/') {
                e.push(format!("paths.closed[{i}]: {p:?} must start with /"));
            }
        }
        for (i, c) in self.trusted_proxies.cidrs.iter().enumerate() {
            if parse_cidr(c).is_none() {
                e.push(format!(
                    "trusted_proxies.cidrs[{i}]: {c:?} is not an address or CIDR"
                ));
            }
        }
        let auth = &self.auth;
        e.extend(auth.store.validate());
        e.extend(auth.regulation.validate());
        if let Some(psc) = &auth.psc {
            e.extend(psc.validate(&auth.operator.public_url));
        }
        match &auth.store.data_key {
            None => e.push(
                "auth.store.data_key_file: required (TOTP secrets are encrypted with it); \
                 create one with `openssl rand -hex 32 > data.key`"
                    .into(),
            ),
            Some(k) => {
                if let Err(err) = crate::store::DataKey::from_hex(k.expose()) {
                    e.push(format!("auth.store.data_key_file: {err}"));
                }
            }
        }
        if auth.session.insecure_loopback_demo && !s.listen.ip().is_loopback() {
            e.push("auth.session.insecure_loopback_demo: only on a loopback address".into());
        }
        if auth.reset.admin_credentials_file.is_some() && self.upstream.admin_url.is_none() {
            e.push(
                "auth.reset.admin_credentials_file: needs upstream.admin_url (password resets \
                 set the new password on the store's admin SOAP service)"
                    .into(),
            );
        }
        let mail_host_local = auth.mail.host == "localhost"
            || auth
                .mail
                .host
                .parse::<std::net::IpAddr>()
                .is_ok_and(|ip| ip.is_loopback());
        if auth.mail.security == crate::mail::SmtpSecurity::None && !mail_host_local {
            e.push(format!(
                "auth.mail.security: \"none\" sends codes in clear; only for a relay on loopback, \
                 not {}",
                auth.mail.host
            ));
        }
        if !matches!(auth.totp.digits, 6 | 8) {
            e.push("auth.totp.digits: 6 or 8".into());
        }
        let d = &self.directory;
        if d.backend == crate::directory::config::BackendKind::Ldap
            && d.bind_password.is_some()
            && !d.starttls
        {
            let host = url::Url::parse(&d.url)
                .ok()
                .filter(|u| u.scheme() == "ldap")
                .and_then(|u| u.host_str().map(str::to_owned));
            let loopback = |h: &str| {
                h == "localhost"
                    || h.trim_matches(['[', ']'])
                        .parse::<std::net::IpAddr>()
                        .is_ok_and(|ip| ip.is_loopback())
            };
            if let Some(h) = host.filter(|h| !loopback(h)) {
                e.push(format!(
                    "directory.starttls: the bind password would reach {h} in clear; \
                     use an ldaps:// url or starttls = true"
                ));
            }
        }
        if let Some(u) = &self.upstream.admin_url {
            if !matches!(url::Url::parse(u), Ok(p) if matches!(p.scheme(), "http" | "https")) {
                e.push(format!("upstream.admin_url: {u:?} is not an http(s) URL"));
            }
        }
        if let Err(err) = tracing_subscriber::EnvFilter::try_new(&self.log.level) {
            e.push(format!("log.level: {err}"));
        }
        if e.is_empty() {
            Ok(())
        } else {
            Err(ConfigError(e))
        }
    }

    /// The parsed `trusted_proxies.cidrs`.
    pub fn trusted_proxy_nets(&self) -> Vec<ipnet::IpNet> {
        self.trusted_proxies
            .cidrs
            .iter()
            .filter_map(|c| parse_cidr(c))
            .collect()
    }

    /// The effective configuration as TOML, secrets redacted.
    pub fn to_redacted_toml(&self) -> String {
        toml::to_string_pretty(self).unwrap_or_else(|e| format!("# cannot render: {e}\n"))
    }
}

/// `10.0.0.0/8`, or a bare address meaning a single host.
fn parse_cidr(s: &str) -> Option<ipnet::IpNet> {
    s.parse::<ipnet::IpNet>()
        .ok()
        .or_else(|| s.parse::<std::net::IpAddr>().ok().map(ipnet::IpNet::from))
}

/// One line per figment error, starting with the dotted key.
fn figment_errors(err: figment::Error) -> ConfigError {
    ConfigError(
        err.into_iter()
            .map(|e| {
                let key = e.path.join(".");
                let what = e.kind.to_string();
                // Only file origins help; values re-served from memory have none.
                let origin = match e.metadata.as_ref().and_then(|m| m.source.as_ref()) {
                    Some(figment::Source::File(p)) => format!(" (in {})", p.display()),
                    _ => String::new(),
                };
                match &e.kind {
                    figment::error::Kind::UnknownField(..) => {
                        format!("{key}: unknown key ({what}){origin}")
                    }
                    _ if key.is_empty() => format!("{what}{origin}"),
                    _ => format!("{key}: {what}{origin}"),
                }
            })
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Loads `text` with a data key file present (the one setting without a default).
    fn load(text: &str, env: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("g.toml");
        std::fs::write(&p, text).unwrap();
        let key = dir.path().join("data.key");
        std::fs::write(&key, "00".repeat(32)).unwrap();
        let key_var = (
            "GATEWAY_AUTH__STORE__DATA_KEY_FILE".to_string(),
            key.display().to_string(),
        );
        let env = env.iter().map(|(k, v)| (k.to_string(), v.to_string()));
        Config::load_from(Some(&p), env.chain([key_var]))
    }

    #[test]
    fn defaults_are_valid_once_a_data_key_is_given() {
        let c = load("", &[]).unwrap();
        assert_eq!(c.limits.soap_max_bytes, 15_360_000);
        assert!(!c.paths.open_preauth);
        let err = Config::from_toml_str("").unwrap_err();
        assert!(
            err.to_string().contains("auth.store.data_key_file"),
            "{err}"
        );
    }

    #[test]
    fn ldap_bind_password_never_in_clear_off_loopback() {
        let base = "[directory]\nbackend = \"ldap\"\nbind_dn = \"cn=a\"\nbind_password = \"s\"\n";
        let err = load(
            &format!("{base}url = \"ldap://annuaire.example.fr\"\n"),
            &[],
        )
        .unwrap_err();
        assert!(err.to_string().contains("directory.starttls"), "{err}");
        for ok in [
            "url = \"ldaps://annuaire.example.fr\"\n",
            "url = \"ldap://annuaire.example.fr\"\nstarttls = true\n",
            "url = \"ldap://127.0.0.1:3389\"\n",
        ] {
            assert!(load(&format!("{base}{ok}"), &[]).is_ok(), "{ok}");
        }
    }

    #[test]
    fn insecure_demo_cookies_only_on_loopback() {
        let text = "[server]\nlisten = \"0.0.0.0:80\"\nbehind_tls_proxy = true\n\
                    [auth.session]\ninsecure_loopback_demo = true\n";
        let err = load(text, &[]).unwrap_err();
        assert!(err.to_string().contains("insecure_loopback_demo"), "{err}");
    }

    #[test]
    fn unknown_key_is_named() {
        let err = load("[server]\nlisten = \"127.0.0.1:1\"\nlisen = 3\n", &[]).unwrap_err();
        assert!(
            err.to_string().contains("server.lisen: unknown key"),
            "{err}"
        );
    }

    #[test]
    fn bad_type_is_named() {
        let err = load("[upstream]\nconnect_timeout_secs = \"soon\"\n", &[]).unwrap_err();
        assert!(
            err.to_string().contains("upstream.connect_timeout_secs"),
            "{err}"
        );
    }

    #[test]
    fn plain_http_needs_loopback() {
        let err = load("[server]\nlisten = \"0.0.0.0:80\"\n", &[]).unwrap_err();
        assert!(err.to_string().contains("server.listen"), "{err}");
        load(
            "[server]\nlisten = \"0.0.0.0:80\"\nbehind_tls_proxy = true\n",
            &[],
        )
        .unwrap();
    }

    #[test]
    fn env_overrides_file_and_numbers_convert() {
        let c = load(
            "[upstream]\nurl = \"http://a:1\"\n",
            &[
                ("GATEWAY_UPSTREAM__URL", "http://b:2"),
                ("GATEWAY_UPSTREAM__POOL_MAX_IDLE", "7"),
                ("GATEWAY_PATHS__OPEN_ADMIN", "true"),
            ],
        )
        .unwrap();
        assert_eq!(c.upstream.url, "http://b:2");
        assert_eq!(c.upstream.pool_max_idle, 7);
        assert!(c.paths.open_admin);
    }

    #[test]
    fn missing_file_is_an_error() {
        let err = Config::load_from(Some(Path::new("/nonexistent.toml")), []).unwrap_err();
        assert!(err.to_string().contains("nonexistent"), "{err}");
    }

    #[test]
    fn shipped_example_only_lacks_its_files() {
        let text = include_str!("../../deploy/gateway.toml");
        let err = Config::from_toml_str(text).unwrap_err();
        let missing = |l: &String| l.contains("not found") || l.contains("No such file");
        assert!(err.0.iter().all(missing), "{err}");
    }

    #[test]
    fn bad_cidr_is_named() {
        let err = load(
            "[trusted_proxies]\ncidrs = [\"10.0.0.0/8\", \"nope\"]\n",
            &[],
        )
        .unwrap_err();
        assert!(
            err.to_string().contains("trusted_proxies.cidrs[1]"),
            "{err}"
        );
    }
}
