//! Typed configuration: one TOML file plus `GATEWAY_*` environment variables
//! (`__` between section and key, e.g. `GATEWAY_UPSTREAM__URL`), secrets from
//! files (`<secret>_file`, `${CREDENTIALS_DIRECTORY}` expanded in file paths),
//! unknown keys refused. `preflight` runs every check `serve` runs at start;
//! `check-config` prints the result.

pub mod pem;
pub mod preflight;
mod problem;
mod reference;
mod secret;
mod sections;
mod sources;
mod validate;

pub use preflight::preflight;
pub use problem::{Problem, Severity};
pub use reference::render_reference;
pub use secret::Secret;
pub use sections::*;
pub use sources::{CREDENTIALS_PLACEHOLDER, ENV_PREFIX};

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

    /// File and environment merged, `${CREDENTIALS_DIRECTORY}` expanded, `*_file`
    /// secrets read.
    fn raw_dict(
        path: Option<&Path>,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Dict, ConfigError> {
        let mut dict = match path {
            Some(p) => read_file_dict(p)?,
            None => Dict::new(),
        };
        let mut errors = Vec::new();
        merge_env_and_secrets(&mut dict, env.into_iter().collect(), &mut errors);
        if errors.is_empty() {
            Ok(dict)
        } else {
            Err(ConfigError(errors))
        }
    }

    /// Loads like [`Config::load_from`] but does not stop at the first bad value: a value
    /// that cannot be used is reported and replaced by its default, so that the
    /// pre-flight can check everything else in the same run. `config` is `None` only
    /// when the file itself cannot be read or is not TOML.
    pub fn load_lenient(
        path: Option<&Path>,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> LenientLoad {
        let mut dict = match path.map(read_file_dict).transpose() {
            Ok(d) => d.unwrap_or_default(),
            Err(e) => {
                return LenientLoad {
                    config: None,
                    problems: e.0.iter().map(|l| Problem::from_line(l)).collect(),
                    replaced: Vec::new(),
                }
            }
        };
        let mut lines = Vec::new();
        merge_env_and_secrets(&mut dict, env.into_iter().collect(), &mut lines);
        let mut problems: Vec<Problem> = lines.iter().map(|l| Problem::from_line(l)).collect();
        // A `<secret>_file` that could not be read is dropped (its secret stays unset).
        for p in &problems {
            remove_path(&mut dict, &key_path(&p.key));
        }
        // serde stops at the first bad value: report it, drop it, try again.
        let mut config = None;
        for _ in 0..100 {
            match Figment::from(Serialized::defaults(Value::from(dict.clone())))
                .extract_lossy::<Config>()
            {
                Ok(c) => {
                    config = Some(c);
                    break;
                }
                Err(err) => {
                    let mut removed_any = false;
                    for e in err {
                        let p = figment_problem(&e);
                        removed_any |= remove_path(&mut dict, &e.path);
                        problems.push(p);
                    }
                    if !removed_any {
                        break;
                    }
                }
            }
        }
        let replaced = problems.iter().map(|p| p.key.clone()).collect();
        LenientLoad {
            config,
            problems,
            replaced,
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
        sources::expand_credentials_directory(&mut dict, "", None, &mut errors);
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

    /// Checks what types alone cannot say (the file-free part of the pre-flight).
    pub fn validate(&self) -> Result<(), ConfigError> {
        let e = self.validation_lines();
        if e.is_empty() {
            Ok(())
        } else {
            Err(ConfigError(e))
        }
    }

    /// [`Config::validate`]'s findings as pre-flight problems.
    pub fn validation_problems(&self) -> Vec<Problem> {
        self.validation_lines()
            .iter()
            .map(|l| Problem::from_line(l))
            .collect()
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

/// What [`Config::load_lenient`] found.
pub struct LenientLoad {
    /// The configuration, with each value named in `replaced` set to its default.
    pub config: Option<Config>,
    /// Problems found while reading (unreadable secret files, unknown keys, bad types).
    pub problems: Vec<Problem>,
    /// Keys whose value was dropped; later checks about them would only repeat the news.
    pub replaced: Vec<String>,
}

/// The TOML file as a dictionary (missing file and syntax errors name the file).
fn read_file_dict(path: &Path) -> Result<Dict, ConfigError> {
    Figment::from(Toml::file_exact(path))
        .extract::<Dict>()
        .map_err(figment_errors)
}

/// Environment over the file, then `${CREDENTIALS_DIRECTORY}` and `*_file` secrets.
fn merge_env_and_secrets(dict: &mut Dict, env: Vec<(String, String)>, errors: &mut Vec<String>) {
    let credentials_dir = env
        .iter()
        .find(|(k, _)| k == "CREDENTIALS_DIRECTORY")
        .map(|(_, v)| v.clone());
    sources::merge(dict, sources::env_dict(env));
    sources::expand_credentials_directory(dict, "", credentials_dir.as_deref(), errors);
    sources::resolve_secret_files(dict, "", errors);
}

/// `auth.store.data_key_file` → `["auth", "store", "data_key_file"]` (an index is dropped).
fn key_path(key: &str) -> Vec<String> {
    key.split('.')
        .map(|k| k.split('[').next().unwrap_or(k).to_owned())
        .filter(|k| !k.is_empty())
        .collect()
}

/// Removes the value at `path`, or the deepest table entry on the way when the rest of
/// the path goes into an array. False when nothing was there.
fn remove_path(dict: &mut Dict, path: &[String]) -> bool {
    match path {
        [] => false,
        [last] => dict.remove(last).is_some(),
        [first, rest @ ..] => match dict.get_mut(first) {
            Some(Value::Dict(_, inner)) => remove_path(inner, rest) || dict.remove(first).is_some(),
            Some(_) => dict.remove(first).is_some(),
            None => false,
        },
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
            .map(|e| figment_problem(&e).to_string())
            .collect(),
    )
}

fn figment_problem(e: &figment::Error) -> Problem {
    let key = e.path.join(".");
    let what = e.kind.to_string();
    // Only file origins help; values re-served from memory have none.
    let origin = match e.metadata.as_ref().and_then(|m| m.source.as_ref()) {
        Some(figment::Source::File(p)) => format!(" (in {})", p.display()),
        _ => String::new(),
    };
    match &e.kind {
        figment::error::Kind::UnknownField(..) => {
            Problem::error(key, format!("unknown key ({what}){origin}"))
        }
        _ => Problem::error(key, format!("{what}{origin}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Loads `text` with a data key file and an annuaire URL (the settings without a default).
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
        let url_var = (
            "GATEWAY_DIRECTORY__URL".to_string(),
            "ldap://127.0.0.1:389".to_string(),
        );
        let env = env.iter().map(|(k, v)| (k.to_string(), v.to_string()));
        let url_var = (!text.contains("[directory]")).then_some(url_var);
        Config::load_from(Some(&p), env.chain([key_var]).chain(url_var))
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
        let path = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/deploy/gateway.toml"));
        let env = [(
            "CREDENTIALS_DIRECTORY".to_string(),
            "/run/credentials/mssante-gateway.service".to_string(),
        )];
        let err = Config::load_from(Some(path), env).unwrap_err();
        let missing = |l: &String| l.contains("not found") || l.contains("No such file");
        assert!(err.0.iter().all(missing), "{err}");
    }

    #[test]
    fn directory_url_scheme_is_checked() {
        let err = load("[directory]\nurl = \"ldapss://annuaire:636\"\n", &[]).unwrap_err();
        let err = err.to_string();
        assert!(
            err.contains("directory.url: scheme must be ldap or ldaps"),
            "{err}"
        );
        let err = load(
            "[directory]\nurl = \"ldaps://annuaire:636\"\nstarttls = true\n",
            &[],
        )
        .unwrap_err();
        assert!(err.to_string().contains("directory.starttls"), "{err}");
    }

    #[test]
    fn lenient_load_reports_every_bad_value_at_once() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("g.toml");
        std::fs::write(
            &p,
            "[server]\nlisen = 1\nmax_connections = \"many\"\n\
             [upstream]\nconnect_timeout_secs = \"soon\"\n\
             [log]\nformat = \"xml\"\n\
             [auth.store]\ndata_key_file = \"/nonexistent/key\"\n",
        )
        .unwrap();
        let l = Config::load_lenient(Some(&p), []);
        let keys: Vec<&str> = l.problems.iter().map(|p| p.key.as_str()).collect();
        for k in [
            "server.lisen",
            "server.max_connections",
            "upstream.connect_timeout_secs",
            "log.format",
            "auth.store.data_key_file",
        ] {
            assert!(keys.contains(&k), "{k} missing from {keys:?}");
        }
        let c = l.config.expect("the rest still parses");
        assert_eq!(
            c.server.max_connections,
            ServerConfig::default().max_connections
        );
        assert!(l.replaced.iter().any(|k| k == "auth.store.data_key_file"));
        std::fs::write(&p, "not = [toml").unwrap();
        let l = Config::load_lenient(Some(&p), []);
        assert!(l.config.is_none() && !l.problems.is_empty());
    }

    #[test]
    fn secret_files_under_the_credentials_directory() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("data.key"), "ab".repeat(32)).unwrap();
        let p = dir.path().join("g.toml");
        std::fs::write(
            &p,
            "[directory]\nurl = \"ldap://127.0.0.1\"\n\
             [auth.store]\ndata_key_file = \"${CREDENTIALS_DIRECTORY}/data.key\"\n",
        )
        .unwrap();
        let env = [(
            "CREDENTIALS_DIRECTORY".to_string(),
            dir.path().display().to_string(),
        )];
        let c = Config::load_from(Some(&p), env).unwrap();
        assert_eq!(c.auth.store.data_key.unwrap().expose(), "ab".repeat(32));
        let err = Config::load_from(Some(&p), []).unwrap_err().to_string();
        assert!(
            err.contains("auth.store.data_key_file: uses ${CREDENTIALS_DIRECTORY}"),
            "{err}"
        );
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
