//! The configuration reference printed by `mssante-gateway config-reference` and
//! copied into the README. A unit test checks that every key of the gateway's own
//! sections is listed here, so the README cannot silently fall behind.

use super::Config;

/// (dotted key, description). Keep in the order of the structs' fields: `sections.rs`,
/// then `policy/config.rs`, `directory/config.rs`, `auth/config.rs` (with
/// `store::StoreConfig` and `mail::MailConfig`). A secret normally given as a file is
/// listed under its `<secret>_file` spelling.
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
    ("upstream.admin_url", "Base URL of the store's admin SOAP service (e.g. https://store:7071): sets a new password after a reset link and, with the admin credentials, resolves aliases of login names; unset disables resets."),
    ("upstream.ca_file", "Extra CA certificates (PEM) for an https upstream; system roots otherwise."),
    ("upstream.pool_max_idle", "Most idle keep-alive connections kept open to the store."),
    ("upstream.pool_idle_timeout_secs", "Seconds an idle pooled connection is kept."),
    ("upstream.connect_timeout_secs", "Seconds allowed to connect to the store (502 after)."),
    ("upstream.response_timeout_secs", "Seconds the store has to start answering (504 after); long polls are exempt."),
    ("upstream.long_poll_timeout_secs", "Seconds a long poll (NoOpRequest wait / WaitSetRequest block) may take."),
    ("upstream.readiness_path", "Path requested by /readyz; any status below 500 means ready."),
    ("limits.soap_max_bytes", "Largest SOAP body (zimbraSoapRequestMaxSize); larger ones get an INVALID_REQUEST fault unread."),
    ("limits.upload_max_bytes", "Largest /service/upload body streamed to the store (413 beyond)."),
    ("limits.preauth_soap_max_bytes", "Largest SOAP body read before a session is known from the cookie or zauthtoken (a login needs a few hundred bytes); a larger one is read this far only, for a session token in the SOAP header, else refused with service.AUTH_REQUIRED."),
    ("limits.preauth_body_timeout_secs", "Seconds a client without a session has to send its whole body (408 after)."),
    ("limits.preauth_requests_per_client", "Most bodies of clients without a session read at once from one address (IPv6: per /64); more get 503 at once."),
    ("limits.body_memory_bytes", "Bytes of request bodies held at once, all clients together (SOAP bodies, portal forms); a body that cannot get its share within the request timeout gets 503."),
    ("limits.preauth_memory_bytes", "The part of body_memory_bytes clients without a session may use together; beyond it their bodies get 503 at once."),
    ("paths.open_preauth", "Open /service/preauth (closed by default)."),
    ("paths.open_admin", "Open /service/admin/* and /zimbraAdmin (closed by default)."),
    ("paths.open_extension", "Open /service/extension/* and /service/admin/extension/* (closed by default; third-party servlets, not inspected)."),
    ("paths.open_uninspected", "Surfaces that make the store send mail the gateway cannot see, opened anyway (closed by default): html_client (/h/, /m/ form posts), dav_write (CalDAV PUT with attendees, schedule-outbox POST, any DAV write), rest_write (REST POST/PUT/DELETE imports), activesync (/Microsoft-Server-ActiveSync), ews (/ews/Exchange.asmx). Naming one accepts that its mail is checked only by the MTA policy service (M8)."),
    ("paths.closed", "More closed path prefixes (403), e.g. [\"/service/shf\"]."),
    ("log.format", "json (one object per line) or text."),
    ("log.level", "Level or tracing filter, e.g. info or info,access=warn."),
    ("metrics.enabled", "Serve /metrics, /healthz and /readyz on their own listener."),
    ("metrics.listen", "Address of the metrics listener; keep it private."),
    ("trusted_proxies.cidrs", "CIDRs of load balancers whose X-Forwarded-For/-Proto/-Host are kept; replaced for anyone else."),
    ("policy.whitelist_source", "ANS whitelist: a file path or an https:// URL (official: https://espacedeconfiance.mssante.fr/listeblanchemssante.xml)."),
    ("policy.whitelist_ca_file", "PEM bundle trusted for an https whitelist_source (the IGC-Santé chain); when set, only these roots are trusted."),
    ("policy.whitelist_checksum", "SHA-256 checksum file of the list, a path or https URL (hex digest, optionally followed by a file name); unset: not checked."),
    ("policy.whitelist_reload_secs", "Seconds between scheduled whitelist reloads; 0 = only at start, on SIGHUP and on demand."),
    ("policy.whitelist_min_domains", "A whitelist with fewer distinct domains than this is considered broken and not used."),
    ("policy.whitelist_fetch_timeout_secs", "Seconds allowed for one whitelist download."),
    ("policy.local_trust_file", "Local trust additions/removals: +domain, -domain and +user@domain lines, # comments."),
    ("policy.patient_domain", "Domain of patient addresses (<15 digits>@patient.mssante.fr)."),
    ("policy.attachment_limit_bytes", "Largest total size of the attachments of one message, bytes (15 MiB)."),
    ("policy.unknown_request", "SOAP requests missing from the classification table: deny or allow."),
    ("policy.requests_file", "Replacement for the embedded request classification table (policies/requests.toml)."),
    ("policy.sender_domain", "MSSanté domain given to accounts not on one of mssante_domains (jean.dupont@hopital.local → jean.dupont@<sender_domain>)."),
    ("policy.mssante_domains", "The operator's own MSSanté domains: an account already on one keeps its address."),
    ("policy.sender_overrides", "Explicit account → MSSanté address table, e.g. { \"jd@hopital.local\" = \"jean.dupont@hopital.mssante.fr\" }; wins over the two keys above."),
    ("policy.local_domains", "Domains of the store itself: the only ones a share grant (d=) may name."),
    ("policy.exports", "REST archive exports (?fmt=tgz|tar|zip): audit (let through with an audit event) or refuse."),
    ("policy.allow_filter_reply", "Allow filter actions that answer the sender (actionReply, actionReject, actionEreject)."),
    ("policy.mta_check_sender", "MTA policy service: also check the envelope sender against the trust space."),
    ("directory.backend", "ldap (a real LDAP server, production) or ldif (entries loaded in memory from ldif_file: demo, tests)."),
    ("directory.ldif_file", "LDIF file loaded by the ldif backend; required with it (no default, so the demo annuaire is never served by accident)."),
    ("directory.url", "LDAP server: ldap://host:port or ldaps://host:port; required with the ldap backend."),
    ("directory.bind_dn", "Service account DN; unset = anonymous bind."),
    ("directory.bind_password_file", "File holding the bind password (read at start, trailing newline ignored)."),
    ("directory.base_dn", "Search base (the importer's default too)."),
    ("directory.ca_file", "PEM CA that signed the LDAP server certificate (ldaps/StartTLS); system roots otherwise."),
    ("directory.starttls", "Upgrade an ldap:// connection with StartTLS."),
    ("directory.pool_size", "Most open LDAP connections."),
    ("directory.connect_timeout_ms", "TCP+TLS connect timeout, milliseconds."),
    ("directory.operation_timeout_ms", "Timeout of one LDAP operation (bind, search), milliseconds."),
    ("directory.size_limit", "Most entries fetched for one search (also sent as the server size limit)."),
    ("directory.time_limit_s", "Server-side time limit of one search, seconds."),
    ("directory.page_size", "Paged-results page size for large answers."),
    ("directory.max_results", "Most cn in a SearchGal answer (Zimbra's zimbraGalMaxResults)."),
    ("directory.autocomplete_max_results", "Most matches in an autocomplete answer (zimbraContactAutoCompleteMaxResults)."),
    ("directory.max_value_len", "Longest accepted search value, characters."),
    ("directory.cache_ttl_s", "Seconds a cached answer stays fresh."),
    ("directory.cache_stale_s", "Seconds a stale answer may still be served while the directory is down."),
    ("directory.cache_capacity", "Most cached answers."),
    ("directory.attributes.object_class", "Object class every annuaire entry has (structural + auxiliary). The keys below name the LDAP attribute of each field."),
    ("directory.attributes.mail", "LDAP attribute of the MSSanté address."),
    ("directory.attributes.last_name", "LDAP attribute of the last name (nom d'exercice)."),
    ("directory.attributes.first_name", "LDAP attribute of the first name (prénom d'exercice)."),
    ("directory.attributes.full_name", "LDAP attribute of the display name."),
    ("directory.attributes.civility", "LDAP attribute of the title (civilité d'exercice)."),
    ("directory.attributes.structure", "LDAP attribute of the organisation name (raison sociale)."),
    ("directory.attributes.structure_id", "LDAP attribute of the organisation identifier (FINESS, SIRET…)."),
    ("directory.attributes.service", "LDAP attribute of the department within the organisation (service de rattachement)."),
    ("directory.attributes.street", "LDAP attribute of the street line."),
    ("directory.attributes.postal_code", "LDAP attribute of the postal code."),
    ("directory.attributes.city", "LDAP attribute of the city."),
    ("directory.attributes.department", "LDAP attribute of the département."),
    ("directory.attributes.country", "LDAP attribute of the country (free text, hence not the ISO-code c)."),
    ("directory.attributes.phone", "LDAP attribute of the telephone number."),
    ("directory.attributes.id_nat", "LDAP attribute of the person's national id (8+RPPS or 0+ADELI)."),
    ("directory.attributes.id_pp", "LDAP attribute of the RPPS (11 digits) or ADELI (9 digits) number."),
    ("directory.attributes.profession_code", "LDAP attribute of the profession code."),
    ("directory.attributes.profession", "LDAP attribute of the profession label."),
    ("directory.attributes.specialty_code", "LDAP attribute of the specialty (savoir-faire) code."),
    ("directory.attributes.specialty", "LDAP attribute of the specialty label."),
    ("directory.attributes.mailbox_type", "LDAP attribute of the mailbox type (PER, ORG, APP or CAB)."),
    ("directory.attributes.unlisted", "LDAP attribute of the liste rouge flag (TRUE = never returned)."),
    ("directory.attributes.norm_last_name", "LDAP attribute of the folded last name (folded copies are written by the importer)."),
    ("directory.attributes.norm_first_name", "LDAP attribute of the folded first name."),
    ("directory.attributes.norm_full_name", "LDAP attribute of the folded display name."),
    ("directory.attributes.norm_city", "LDAP attribute of the folded city."),
    ("directory.attributes.norm_department", "LDAP attribute of the folded département."),
    ("directory.attributes.norm_profession", "LDAP attribute of the folded profession and specialty labels."),
    ("directory.attributes.norm_structure", "LDAP attribute of the folded organisation and service."),
    ("auth.login_domain", "Mail domain appended to a bare prénom.nom login so every login of a user maps to one account, e.g. mssante.example.fr."),
    ("auth.operator.name", "Operator name: page titles, email signature and TOTP issuer (where a : becomes a space)."),
    ("auth.operator.logo_url", "Logo URL shown on the portal (same origin or data: URI)."),
    ("auth.operator.support_phone", "Assistance phone number shown on the portal."),
    ("auth.operator.support_email", "Assistance email address shown on the portal."),
    ("auth.operator.public_url", "Public base URL of the gateway, for links sent by email, e.g. https://messagerie.example.fr."),
    ("auth.session.absolute_lifetime_secs", "Seconds a session lasts whatever the activity (10 h, a working day)."),
    ("auth.session.inactivity_timeout_secs", "Seconds of inactivity that end a session; background polling does not count (30 min)."),
    ("auth.session.pending_login_secs", "Seconds a half-done login (password checked, second factor pending) is kept (5 min)."),
    ("auth.session.touch_interval_secs", "Session activity is written back at most this often, seconds (saves a store write per request)."),
    ("auth.session.insecure_loopback_demo", "Plain-HTTP loopback demo only: drop Secure and the __Host- cookie prefix. Never in production."),
    ("auth.totp.digits", "TOTP code length, 6 or 8 (SHA1, RFC 6238)."),
    ("auth.totp.period_secs", "TOTP time step, seconds."),
    ("auth.totp.skew", "TOTP steps accepted before and after the current one (clock skew)."),
    ("auth.email_code.length", "Digits of a code sent to the contact address (second factor, address confirmation)."),
    ("auth.email_code.validity_secs", "Seconds an emailed code stays valid (10 min)."),
    ("auth.email_code.max_attempts", "Wrong attempts before an emailed code is destroyed."),
    ("auth.recovery.count", "Single-use recovery codes (for a lost phone) generated at once."),
    ("auth.reset.link_validity_secs", "Seconds a first-connection / forgotten-password link stays valid (1 h)."),
    ("auth.reset.admin_credentials_file", "File holding the store admin's user:password for SetPasswordRequest and GetAccountRequest (login names resolved to their account); unset disables resets (needs upstream.admin_url too)."),
    ("auth.regulation.max_retries", "Wrong passwords for one account from one address within find_time_secs that ban that (account, address) pair; 0 disables."),
    ("auth.regulation.find_time_secs", "Window in which an (account, address) pair's failures are counted, seconds."),
    ("auth.regulation.ban_time_secs", "Ban of an (account, address) pair, seconds."),
    ("auth.regulation.address_max_failures", "Wrong passwords from one address (IPv6: its /64), any accounts, within address_find_time_secs that ban the address; 0 disables."),
    ("auth.regulation.address_find_time_secs", "Window in which an address's failures are counted, seconds."),
    ("auth.regulation.address_ban_secs", "Ban of an address, seconds."),
    ("auth.regulation.account_free_failures", "Wrong passwords for one account, from any address, before its password checks are slowed down (never locked)."),
    ("auth.regulation.account_window_secs", "An account's failures are forgotten this long after the last one, seconds."),
    ("auth.regulation.account_max_delay_secs", "Longest wait between password checks of a slowed-down account (1, 2, 4… s up to this); 0 disables."),
    ("auth.regulation.known_address_days", "Days an address the owner completed a login from is exempt from the slow-down."),
    ("auth.regulation.otp_void_after", "Wrong second-factor codes for one account, any addresses, that void its pending logins; 0 disables."),
    ("auth.regulation.otp_lock_after", "Wrong second-factor codes for one account that lock its second factor and email the user; 0 disables."),
    ("auth.regulation.otp_lock_secs", "Second-factor lock, seconds."),
    ("auth.regulation.otp_window_secs", "An account's wrong codes are forgotten this long after the last one, seconds."),
    ("auth.regulation.otp_per_minute", "Second-factor submissions allowed per client address (IPv6: its /64) per minute."),
    ("auth.regulation.email_code_per_10min", "Emailed codes allowed per account per 10 minutes (resend throttle)."),
    ("auth.regulation.reset_per_10min", "Reset / first-connection requests allowed per client address per 10 minutes."),
    ("auth.regulation.failure_min_delay_ms", "Minimum answer time of a failed login, milliseconds (hides timing differences)."),
    ("auth.regulation.exempt_addresses", "Addresses or CIDR ranges (a hospital's NAT) never banned or rate-limited as a whole; per-account limits still apply."),
    ("auth.store.durable_backend", "Where per-user security settings (contact, channel, sealed TOTP secret, recovery codes) live: sqlite (a local file, one instance) or postgres (shared by several instances)."),
    ("auth.store.sqlite_path", "SQLite file of per-user security settings for durable_backend = sqlite (created and migrated at start)."),
    ("auth.store.postgres_url", "PostgreSQL database for durable_backend = postgres: postgres://user@host:5432/database; TLS with certificate and name checks unless ?sslmode=disable (loopback or unix socket only, e.g. postgres://user@%2Frun%2Fpostgresql/database). No password in the URL."),
    ("auth.store.postgres_password_file", "File holding the PostgreSQL password."),
    ("auth.store.postgres_ca_file", "PEM CA certificates of a PostgreSQL server with a private CA; system roots otherwise."),
    ("auth.store.postgres_pool_size", "Most PostgreSQL connections one instance opens."),
    ("auth.store.postgres_connect_timeout_ms", "Milliseconds to open a PostgreSQL connection (TCP, TLS, authentication)."),
    ("auth.store.postgres_acquire_timeout_ms", "Milliseconds a request waits for a free pooled connection; past it the login is refused (fail closed)."),
    ("auth.store.postgres_statement_timeout_ms", "Milliseconds one statement may run (server statement_timeout, also enforced by the gateway)."),
    ("auth.store.data_key_file", "Required: file holding the 32-byte data key as 64 hex characters (openssl rand -hex 32); encrypts TOTP secrets, keys recovery-code hashes."),
    ("auth.store.memory_max_entries", "Most short-lived entries kept in memory (short_backend = memory)."),
    ("auth.store.short_backend", "Where sessions, pending logins, codes and counters live: memory (this process, lost on restart) or redis (shared, survives restarts)."),
    ("auth.store.redis_url", "Redis server for short_backend = redis: redis://host:port/db, or rediss:// for TLS; no password in the URL."),
    ("auth.store.redis_username", "Redis ACL user (Redis 6+); the default user when unset."),
    ("auth.store.redis_password_file", "File holding the Redis password (AUTH)."),
    ("auth.store.redis_ca_file", "PEM CA certificates for a rediss:// server with a private CA; system roots otherwise."),
    ("auth.store.redis_key_prefix", "Prefix of every Redis key the gateway writes (several deployments may share one server)."),
    ("auth.store.redis_timeout_ms", "Milliseconds allowed to connect and for each Redis command; past it the login is refused (fail closed)."),
    ("auth.mail.host", "SMTP relay host name (codes and links)."),
    ("auth.mail.port", "SMTP relay port."),
    ("auth.mail.security", "starttls (required, not opportunistic), tls (TLS from the first byte, port 465) or none (no TLS: for a relay on loopback only)."),
    ("auth.mail.credentials_file", "File holding username:password for SMTP AUTH; unset: no authentication."),
    ("auth.mail.ca_file", "PEM CA certificates of a relay with a private CA; when set, only these roots are trusted (system roots otherwise)."),
    ("auth.mail.from", "Sender address of notification mail."),
    ("auth.mail.timeout_secs", "SMTP connection and command timeout, seconds."),
    ("auth.psc.environment", "Pro Santé Connect (the section enables the login button): production (default), bas (the PSC sandbox) or custom. The preset gives the issuer and the wallet-openid-configuration discovery URL."),
    ("auth.psc.discovery_url", "Discovery document URL, in full (overrides the preset's; PSC names it .well-known/wallet-openid-configuration)."),
    ("auth.psc.issuer", "Expected issuer (overrides the preset's; else the discovery document's). The discovery document must name exactly this issuer."),
    ("auth.psc.authorization_endpoint", "Authorization endpoint set by hand (PSC's is on the wallet.* host); overrides discovery."),
    ("auth.psc.token_endpoint", "Token endpoint set by hand; overrides discovery (and its mtls_endpoint_aliases)."),
    ("auth.psc.userinfo_endpoint", "UserInfo endpoint set by hand; overrides discovery."),
    ("auth.psc.jwks_uri", "Key set URL set by hand; overrides discovery."),
    ("auth.psc.end_session_endpoint", "End-session endpoint set by hand; overrides discovery."),
    ("auth.psc.client_id", "Required: the client id PSC registered for the gateway."),
    ("auth.psc.client_secret_file", "File holding the client secret (client_secret_basic / client_secret_post; also the HS* key when allowed)."),
    ("auth.psc.client_auth", "Token endpoint authentication: client_secret_basic (default), client_secret_post or private_key_jwt."),
    ("auth.psc.private_key_file", "PEM private key (PKCS#8; PKCS#1 for RSA) signing the private_key_jwt client assertion."),
    ("auth.psc.private_key_alg", "Client assertion algorithm: RS256 (default), PS256 or ES256."),
    ("auth.psc.private_key_id", "kid of the client assertion (the key's id in the JWKS registered with PSC)."),
    ("auth.psc.tls_client_cert_path", "PEM client certificate (IGC-Santé) presented to the token and UserInfo endpoints (mTLS); their mtls_endpoint_aliases are then used."),
    ("auth.psc.tls_client_key_path", "PEM private key of that certificate."),
    ("auth.psc.ca_file", "Extra CA certificates (PEM) for PSC's endpoints; system roots otherwise."),
    ("auth.psc.scope", "Requested scopes (default \"openid scope_all\"; openid is sent once)."),
    ("auth.psc.acr_values", "Requested eIDAS level and the minimum accepted (default eidas1; a CPS card gives eidas3)."),
    ("auth.psc.redirect_uri", "Redirect URI registered with PSC (default <public_url>/connexion/psc/retour)."),
    ("auth.psc.post_logout_redirect_uri", "Post-logout redirect URI registered with PSC (default <public_url>/connexion/psc/deconnecte)."),
    ("auth.psc.end_session", "The gateway's logout also ends the PSC session (default true)."),
    ("auth.psc.allow_symmetric_signatures", "Accept HS256/384/512 tokens, checked with the client secret (default false: asymmetric only; never none)."),
    ("auth.psc.require_signed_userinfo", "Refuse a UserInfo answer that is not a signed JWT (default false)."),
    ("auth.psc.clock_leeway_secs", "Clock difference tolerated on token times, seconds (default 60, at most 300)."),
    ("auth.psc.flow_timeout_secs", "Seconds between the PSC button and the return (state, nonce, PKCE kept that long, single use; default 600)."),
    ("auth.psc.http_timeout_secs", "Timeout of each call to PSC, seconds (default 10)."),
    ("auth.psc.metadata_ttl_secs", "Seconds the discovery document is cached (default 3600); keys are refetched on an unknown kid."),
    ("auth.psc.preauth_key_file", "File holding the store's zimbraPreAuthKey (zmprov gdpak DOMAIN), for every domain without its own."),
    ("auth.psc.domain_preauth_keys", "Per-domain preauth keys: [auth.psc.domain_preauth_keys.\"example.mssante.fr\"] with key_file = \"/path\"."),
];

/// The reference as commented TOML with every default.
pub fn render_reference() -> String {
    let defaults = toml::Value::try_from(Config::default()).expect("default config serializes");
    let mut out = String::from(
        "# mssante-gateway configuration reference (defaults shown).\n\
         # Every key can also be set as GATEWAY_<SECTION>__<KEY> (e.g. GATEWAY_AUTH__STORE__REDIS_URL);\n\
         # any secret `x` as `x_file`, a file holding it.\n",
    );
    // A TOML table header may appear only once, so each table's keys are printed
    // together, tables in the order of their first key.
    let mut sections: Vec<&str> = Vec::new();
    for (key, _) in REFERENCE {
        let sect = section_of(key);
        if !sections.contains(&sect) {
            sections.push(sect);
        }
    }
    for sect in sections {
        // A table missing from the defaults (optional, e.g. [server.tls]) stays
        // commented: uncommented alone, it would lack its required keys.
        let hash = if lookup(&defaults, sect).is_some() {
            ""
        } else {
            "# "
        };
        out.push_str(&format!("\n{hash}[{sect}]\n"));
        for (key, doc) in REFERENCE.iter().filter(|(k, _)| section_of(k) == sect) {
            let leaf = &key[sect.len() + 1..];
            out.push_str(&format!("# {doc}\n"));
            match lookup(&defaults, key) {
                Some(v) => out.push_str(&format!("{leaf} = {v}\n")),
                None => out.push_str(&format!("# {leaf} = (not set)\n")),
            }
        }
    }
    out
}

/// The table of a dotted key (`auth.store` for `auth.store.sqlite_path`).
fn section_of(key: &str) -> &str {
    key.rsplit_once('.')
        .map(|(s, _)| s)
        .expect("every key is in a section")
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
    fn every_key_is_documented() {
        let defaults = toml::Value::try_from(Config::default()).unwrap();
        let mut keys = Vec::new();
        leaves("", &defaults, &mut keys);
        for key in keys {
            assert!(
                REFERENCE.iter().any(|(k, _)| *k == key),
                "{key} missing from REFERENCE"
            );
        }
    }

    /// Catches a misspelt or removed key: each one listed must be a field the
    /// configuration accepts (`<secret>_file` standing for its secret).
    #[test]
    fn every_documented_key_exists() {
        for (key, _) in REFERENCE {
            let sect = section_of(key);
            let leaf = &key[sect.len() + 1..];
            let leaf = match leaf.strip_suffix("_file") {
                Some(base) if super::super::secret::is_secret_key(base) => base,
                _ => leaf,
            };
            let doc = format!("[{sect}]\n{leaf} = \"x\"\n");
            if let Err(e) = toml::from_str::<Config>(&doc) {
                assert!(
                    !e.to_string().contains("unknown field"),
                    "{key} is not a configuration key: {e}"
                );
            }
            let count = REFERENCE.iter().filter(|(k, _)| k == key).count();
            assert_eq!(count, 1, "{key} listed {count} times");
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
        let mut parsed = Config::from_toml_str(&text).unwrap();
        parsed.auth.store.data_key = None;
        assert_eq!(
            toml::Value::try_from(parsed).unwrap(),
            toml::Value::try_from(Config::default()).unwrap()
        );
    }
}
