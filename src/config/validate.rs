//! What types alone cannot say: cross-key rules and value formats, checked without
//! touching any file or server (the pre-flight adds those checks).

use super::{parse_cidr, Config};

impl Config {
    pub(super) fn validation_lines(&self) -> Vec<String> {
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
        e.extend(self.limits.validate());
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
        e.extend(self.directory_lines());
        e
    }

    /// `[directory]` values, when given (that one is required at all is the
    /// pre-flight's rule: tools that never touch the annuaire need not name it).
    fn directory_lines(&self) -> Vec<String> {
        use crate::directory::config::BackendKind;
        let d = &self.directory;
        let mut e = Vec::new();
        if d.backend == BackendKind::Ldap && !d.url.trim().is_empty() {
            match url::Url::parse(&d.url) {
                Ok(u) if !matches!(u.scheme(), "ldap" | "ldaps") => e.push(format!(
                    "directory.url: scheme must be ldap or ldaps, not {:?}",
                    u.scheme()
                )),
                Ok(u) if u.host_str().is_none_or(str::is_empty) => {
                    e.push("directory.url: a host is required (ldap://host:port)".into())
                }
                Ok(u) if u.scheme() == "ldaps" && d.starttls => e.push(
                    "directory.starttls: only for an ldap:// url (ldaps:// is TLS already)".into(),
                ),
                Ok(_) => {}
                Err(err) => e.push(format!("directory.url: {:?} is not a URL: {err}", d.url)),
            }
        }
        if let Err(err) = d.attributes.validate() {
            e.push(format!("directory.attributes: {err}"));
        }
        e
    }
}
