//! PostgreSQL connection settings: the URL rules (no password in it, TLS unless on
//! loopback or a unix socket), the rustls configuration (ring, a private CA or the
//! system roots) and the bounded pool (deadpool) with its timeouts.

use crate::config::Secret;
use crate::store::{StoreConfig, StoreError};
use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod, Runtime};
use std::io::BufReader;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tokio_postgres::config::{Host, SslMode};

/// Everything needed to reach one PostgreSQL database.
#[derive(Debug, Clone)]
pub struct PostgresSettings {
    pub url: String,
    pub password: Option<Secret>,
    pub ca_file: Option<PathBuf>,
    pub pool_size: usize,
    pub connect_timeout: Duration,
    pub acquire_timeout: Duration,
    pub statement_timeout: Duration,
}

impl PostgresSettings {
    /// The `postgres_*` keys of `[auth.store]`.
    pub fn from_config(cfg: &StoreConfig) -> Self {
        PostgresSettings {
            url: cfg.postgres_url.clone(),
            password: cfg.postgres_password.clone(),
            ca_file: cfg.postgres_ca_file.clone(),
            pool_size: cfg.postgres_pool_size,
            connect_timeout: Duration::from_millis(cfg.postgres_connect_timeout_ms),
            acquire_timeout: Duration::from_millis(cfg.postgres_acquire_timeout_ms),
            statement_timeout: Duration::from_millis(cfg.postgres_statement_timeout_ms),
        }
    }

    /// The longest one store operation may take before the gateway gives up on it
    /// (the server's `statement_timeout` plus a margin for a server that does not
    /// answer at all).
    pub fn operation_timeout(&self) -> Duration {
        self.statement_timeout + Duration::from_millis(500)
    }
}

/// Whether the connection is encrypted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TlsMode {
    /// TLS with the certificate chain and the host name checked (`sslmode=verify-full`,
    /// the default over TCP).
    VerifyFull,
    /// No TLS (`sslmode=disable`): only to a loopback address or a unix socket.
    Disable,
}

/// A checked URL.
#[derive(Debug, Clone)]
pub struct ParsedUrl {
    pub config: tokio_postgres::Config,
    pub tls: TlsMode,
    /// Which database, for messages (no credentials).
    pub location: String,
}

/// Checks `url` (each error is a sentence for `auth.store.postgres_url`).
pub fn parse_url(url: &str) -> Result<ParsedUrl, String> {
    let mut parsed = url::Url::parse(url).map_err(|e| format!("not a URL: {e}"))?;
    if !matches!(parsed.scheme(), "postgres" | "postgresql") {
        return Err(format!(
            "scheme must be postgres:// or postgresql://, not {}",
            parsed.scheme()
        ));
    }
    if parsed.password().is_some() {
        return Err(
            "no password in the URL (check-config and logs would show it): \
             give it as auth.store.postgres_password_file"
                .into(),
        );
    }
    let mut sslmode = None;
    let mut kept = Vec::new();
    for (k, v) in parsed.query_pairs() {
        match k.as_ref() {
            "sslmode" => sslmode = Some(v.into_owned()),
            "password" => {
                return Err(
                    "no password in the URL: give it as auth.store.postgres_password_file".into(),
                )
            }
            _ => kept.push((k.into_owned(), v.into_owned())),
        }
    }
    if kept.is_empty() {
        parsed.set_query(None);
    } else {
        parsed.query_pairs_mut().clear().extend_pairs(kept);
    }
    let mut config: tokio_postgres::Config = parsed.as_str().parse().map_err(|e| format!("{e}"))?;
    let hosts = config.get_hosts().to_vec();
    if hosts.is_empty() {
        return Err("a host is required (postgres://user@host:5432/database)".into());
    }
    if config.get_dbname().is_none() {
        return Err("a database name is required (postgres://user@host:5432/database)".into());
    }
    if config.get_user().is_none() {
        return Err("a user name is required (postgres://user@host:5432/database)".into());
    }
    let unix = hosts.iter().all(|h| matches!(h, Host::Unix(_)));
    let local = hosts.iter().all(|h| match h {
        Host::Unix(_) => true,
        Host::Tcp(name) => is_loopback(name),
    });
    let tls = match sslmode.as_deref() {
        None if unix => TlsMode::Disable,
        None | Some("verify-full") => TlsMode::VerifyFull,
        Some("disable") => TlsMode::Disable,
        Some(other @ ("require" | "verify-ca" | "prefer" | "allow")) => {
            return Err(format!(
                "sslmode={other} is refused: the gateway always checks the server's certificate \
                 and name (sslmode=verify-full, the default), or uses no TLS at all \
                 (sslmode=disable, loopback or unix socket only)"
            ))
        }
        Some(other) => return Err(format!("sslmode={other}: verify-full or disable")),
    };
    if tls == TlsMode::VerifyFull && hosts.iter().any(|h| matches!(h, Host::Unix(_))) {
        return Err(
            "TLS does not apply to a unix socket: use sslmode=disable with host=/path".into(),
        );
    }
    if tls == TlsMode::Disable && !local {
        return Err(
            "sslmode=disable sends the settings in clear: only for a loopback address or a \
             unix socket; use TLS (sslmode=verify-full, auth.store.postgres_ca_file for a private CA)"
                .into(),
        );
    }
    config.ssl_mode(match tls {
        TlsMode::VerifyFull => SslMode::Require,
        TlsMode::Disable => SslMode::Disable,
    });
    let host = match &hosts[0] {
        Host::Tcp(h) => h.clone(),
        Host::Unix(p) => p.display().to_string(),
    };
    let port = config.get_ports().first().copied().unwrap_or(5432);
    let location = format!(
        "the PostgreSQL database {} on {host}:{port}",
        config.get_dbname().unwrap_or_default()
    );
    Ok(ParsedUrl {
        config,
        tls,
        location,
    })
}

fn is_loopback(host: &str) -> bool {
    host == "localhost"
        || host
            .trim_matches(['[', ']'])
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// Trust roots: the PEM certificates of `ca_file` (refused when it holds none), or
/// the system's.
pub fn tls_config(ca_file: Option<&Path>) -> Result<rustls::ClientConfig, StoreError> {
    let mut roots = rustls::RootCertStore::empty();
    match ca_file {
        Some(path) => {
            let bad = |m: String| {
                StoreError::Config(format!(
                    "auth.store.postgres_ca_file: {}: {m}",
                    path.display()
                ))
            };
            let file = std::fs::File::open(path).map_err(|e| bad(e.to_string()))?;
            for cert in rustls_pemfile::certs(&mut BufReader::new(file)) {
                roots
                    .add(cert.map_err(|e| bad(e.to_string()))?)
                    .map_err(|e| bad(e.to_string()))?;
            }
            if roots.is_empty() {
                return Err(bad("no PEM certificate in it".into()));
            }
        }
        None => {
            let found = rustls_native_certs::load_native_certs();
            roots.add_parsable_certificates(found.certs);
            if roots.is_empty() {
                return Err(StoreError::Config(
                    "auth.store.postgres_ca_file: no system CA certificates found; give the CA \
                     of the PostgreSQL server"
                        .into(),
                ));
            }
        }
    }
    rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .map(|b| b.with_root_certificates(roots).with_no_client_auth())
        .map_err(|e| StoreError::Config(format!("TLS: {e}")))
}

/// The checked settings, ready to connect: URL, password, timeouts on the connection.
pub fn connection_config(s: &PostgresSettings) -> Result<ParsedUrl, StoreError> {
    let mut p = parse_url(&s.url)
        .map_err(|e| StoreError::Config(format!("auth.store.postgres_url: {e}")))?;
    if let Some(pw) = &s.password {
        p.config.password(pw.expose());
    }
    p.config
        .connect_timeout(s.connect_timeout)
        .keepalives(true)
        .keepalives_idle(Duration::from_secs(30))
        .application_name("mssante-gateway")
        .options(format!(
            "-c statement_timeout={}",
            s.statement_timeout.as_millis()
        ));
    Ok(p)
}

/// A bounded pool: at most `pool_size` connections, a wait for a free one bounded by
/// `acquire_timeout`, a new connection by `connect_timeout`. Connects lazily: the
/// first use reports an unreachable server.
pub fn build_pool(s: &PostgresSettings) -> Result<(Pool, String), StoreError> {
    let p = connection_config(s)?;
    let manager_config = ManagerConfig {
        recycling_method: RecyclingMethod::Fast,
    };
    let manager = match p.tls {
        TlsMode::Disable => Manager::from_config(p.config, tokio_postgres::NoTls, manager_config),
        TlsMode::VerifyFull => Manager::from_config(
            p.config,
            tokio_postgres_rustls::MakeRustlsConnect::new(tls_config(s.ca_file.as_deref())?),
            manager_config,
        ),
    };
    let pool = Pool::builder(manager)
        .max_size(s.pool_size)
        .runtime(Runtime::Tokio1)
        .wait_timeout(Some(s.acquire_timeout))
        .create_timeout(Some(s.connect_timeout))
        .recycle_timeout(Some(s.connect_timeout))
        .build()
        .map_err(|e| StoreError::Config(format!("PostgreSQL pool: {e}")))?;
    Ok((pool, p.location))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_rules() {
        let ok = parse_url("postgres://gw@db.example.fr:5433/mssante").unwrap();
        assert_eq!(ok.tls, TlsMode::VerifyFull);
        assert!(
            ok.location.contains("mssante on db.example.fr:5433"),
            "{}",
            ok.location
        );
        let sock = parse_url("postgres://gw@%2Frun%2Fpostgresql/mssante").unwrap();
        assert_eq!(sock.tls, TlsMode::Disable);
        let sock = parse_url("postgres:///mssante?host=/run/postgresql&user=gw").unwrap();
        assert_eq!(sock.tls, TlsMode::Disable);
        assert_eq!(
            parse_url("postgresql://gw@127.0.0.1/db?sslmode=disable")
                .unwrap()
                .tls,
            TlsMode::Disable
        );
        for (bad, why) in [
            ("postgres://gw:pw@db/x", "no password"),
            ("postgres://gw@db/x?password=pw", "no password"),
            ("postgres://gw@db.example.fr/x?sslmode=disable", "loopback"),
            ("postgres://gw@db/x?sslmode=require", "refused"),
            ("postgres://gw@db/x?sslmode=prefer", "refused"),
            ("mysql://gw@db/x", "scheme"),
            ("postgres://gw@db", "database name"),
            ("postgres://db/x", "user name"),
            (
                "postgres://gw@%2Frun%2Fpg/db?sslmode=verify-full",
                "unix socket",
            ),
        ] {
            let err = parse_url(bad).unwrap_err();
            assert!(err.contains(why), "{bad}: {err}");
        }
    }

    #[test]
    fn ca_file_must_hold_pem_certificates() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("ca.pem");
        std::fs::write(&p, "not a certificate\n").unwrap();
        let err = tls_config(Some(&p)).unwrap_err().to_string();
        assert!(
            err.contains("auth.store.postgres_ca_file") && err.contains("no PEM"),
            "{err}"
        );
        let err = tls_config(Some(&dir.path().join("missing.pem")))
            .unwrap_err()
            .to_string();
        assert!(err.contains("auth.store.postgres_ca_file"), "{err}");
    }

    #[test]
    fn password_is_not_in_debug_output() {
        let s = PostgresSettings {
            url: "postgres://gw@127.0.0.1/db".into(),
            password: Some(Secret::new("s3cr3t-pw")),
            ca_file: None,
            pool_size: 2,
            connect_timeout: Duration::from_secs(1),
            acquire_timeout: Duration::from_secs(1),
            statement_timeout: Duration::from_secs(1),
        };
        assert!(!format!("{s:?}").contains("s3cr3t-pw"));
        // tokio-postgres redacts the password in its own Debug output too.
        let c = connection_config(&s).unwrap();
        assert!(!format!("{:?}", c.config).contains("s3cr3t-pw"));
    }
}
