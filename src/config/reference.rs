//! The configuration reference printed by `mssante-gateway config-reference` and
//! copied into the README. A unit test checks that every key of the gateway's own
//! sections is listed here, so the README cannot silently fall behind.

use super::Config;

/// (dotted key, description). Keep in the order of the structs in `sections.rs`.
const REFERENCE: &[(&str, &str)] = &[
    ("server.listen", "Address the gateway listens on."),
    ("server.behind_tls_proxy", "A TLS-terminating load balancer sits in front (plain HTTP allowed on any address)."),
    ("server.http2", "Offer HTTP/2 to clients (ALPN h2 over TLS, prior knowledge in plain HTTP)."),
    ("server.header_read_timeout_secs", "Seconds a client has to send a request head; on HTTP/1.1 this also closes idle keep-alive connections."),
    ("server.http2_keepalive_secs", "Seconds between HTTP/2 keep-alive pings; 0 disables them."),
    ("server.request_timeout_secs", "Seconds a client has to send a SOAP body the gateway reads whole (408 after)."),
    ("server.max_connections", "Most simultaneous client connections; further ones wait in the accept queue."),
    ("server.shutdown_grace_secs", "Seconds given to in-flight requests after SIGTERM/SIGINT."),
    ("server.tls.cert_path", "PEM certificate chain, leaf first. Without [server.tls] the listener speaks plain HTTP, allowed only on loopback or with behind_tls_proxy."),
    ("server.tls.key_path", "PEM private key (PKCS#8, PKCS#1 or SEC1)."),
    ("upstream.url", "Base URL of the Zimbra store (http or https), scheme://host[:port] only."),
    ("upstream.ca_file", "Extra CA certificates (PEM) for an https upstream; system roots otherwise."),
    ("upstream.pool_max_idle", "Most idle keep-alive connections kept open to the store."),
    ("upstream.pool_idle_timeout_secs", "Seconds an idle pooled connection is kept."),
    ("upstream.connect_timeout_secs", "Seconds allowed to connect to the store (502 after)."),
    ("upstream.response_timeout_secs", "Seconds the store has to start answering (504 after); long polls are exempt."),
    ("upstream.long_poll_timeout_secs", "Seconds a long poll (NoOpRequest wait / WaitSetRequest block) may take."),
    ("upstream.readiness_path", "Path requested by /readyz; any status below 500 means ready."),
    ("limits.soap_max_bytes", "Largest SOAP body (zimbraSoapRequestMaxSize); larger ones get an INVALID_REQUEST fault unread."),
    ("limits.upload_max_bytes", "Largest /service/upload body streamed to the store (413 beyond)."),
    ("paths.open_preauth", "Open /service/preauth (closed by default)."),
    ("paths.open_admin", "Open /service/admin/* and /zimbraAdmin (closed by default)."),
    ("paths.open_extension", "Open /service/extension/* and /service/admin/extension/* (closed by default)."),
    ("paths.closed", "More closed path prefixes (403), e.g. [\"/service/shf\"]."),
    ("log.format", "json (one object per line) or text."),
    ("log.level", "Level or tracing filter, e.g. info or info,access=warn."),
    ("metrics.enabled", "Serve /metrics, /healthz and /readyz on their own listener."),
    ("metrics.listen", "Address of the metrics listener; keep it private."),
    ("trusted_proxies.cidrs", "CIDRs of load balancers whose X-Forwarded-For/-Proto/-Host are kept; replaced for anyone else."),
];

/// Sections documented by their own modules; printed with their defaults only.
const OTHER_SECTIONS: &[&str] = &["policy", "directory", "auth"];

/// The reference as commented TOML with every default.
pub fn render_reference() -> String {
    let defaults = toml::Value::try_from(Config::default()).expect("default config serializes");
    let mut out = String::from(
        "# mssante-gateway configuration reference (defaults shown).\n\
         # Every key can also be set as GATEWAY_<SECTION>__<KEY>; any secret `x` as `x_file`.\n",
    );
    let mut section = "";
    for (key, doc) in REFERENCE {
        let (sect, leaf) = key.rsplit_once('.').unwrap_or(("", key));
        if sect != section {
            // A section with no default at all (e.g. [server.tls]) stays commented.
            let any_set = REFERENCE
                .iter()
                .filter(|(k, _)| k.rsplit_once('.').map(|(s, _)| s) == Some(sect))
                .any(|(k, _)| lookup(&defaults, k).is_some());
            let hash = if any_set { "" } else { "# " };
            out.push_str(&format!("\n{hash}[{sect}]\n"));
            section = sect;
        }
        out.push_str(&format!("# {doc}\n"));
        match lookup(&defaults, key) {
            Some(v) => out.push_str(&format!("{leaf} = {v}\n")),
            None => out.push_str(&format!("# {leaf} = (not set)\n")),
        }
    }
    for sect in OTHER_SECTIONS {
        if let Some(v) = defaults.get(*sect) {
            let mut wrap = toml::Table::new();
            wrap.insert((*sect).to_owned(), v.clone());
            out.push_str(&format!(
                "\n# [{sect}]: see the {sect} module documentation\n"
            ));
            out.push_str(&toml::to_string(&wrap).unwrap_or_default());
        }
    }
    out
}

fn lookup<'a>(v: &'a toml::Value, key: &str) -> Option<&'a toml::Value> {
    key.split('.').try_fold(v, |v, k| v.get(k))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn leaves(prefix: &str, v: &toml::Value, out: &mut Vec<String>) {
        match v {
            toml::Value::Table(t) => {
                for (k, v) in t {
                    let key = if prefix.is_empty() {
                        k.clone()
                    } else {
                        format!("{prefix}.{k}")
                    };
                    leaves(&key, v, out);
                }
            }
            _ => out.push(prefix.to_owned()),
        }
    }

    #[test]
    fn every_own_key_is_documented() {
        let defaults = toml::Value::try_from(Config::default()).unwrap();
        let mut keys = Vec::new();
        leaves("", &defaults, &mut keys);
        for key in keys {
            if OTHER_SECTIONS
                .iter()
                .any(|s| key.starts_with(&format!("{s}.")))
            {
                continue;
            }
            assert!(
                REFERENCE.iter().any(|(k, _)| *k == key),
                "{key} missing from REFERENCE"
            );
        }
    }

    #[test]
    fn reference_parses_back_as_the_defaults() {
        let text = render_reference();
        // The data key is the one setting without a default.
        assert!(text.contains("\n[auth.store]\n"), "no [auth.store] table");
        let text = text.replace(
            "\n[auth.store]\n",
            &format!("\n[auth.store]\ndata_key = \"{}\"\n", "00".repeat(32)),
        );
        let parsed = Config::from_toml_str(&text).unwrap();
        assert_eq!(parsed.server.listen, Config::default().server.listen);
    }
}
