//! Class 7 (a, c, d): the portal cookie wins and one request names one session; the
//! short store holds no usable session id; one store client, which honours
//! `upstream.ca_file` for logins, password changes and resets too.

use super::super::common::smtp::{extract_link, SmtpSink};
use super::super::common::*;
use super::*;
use mssante_gateway::auth::clock::Clock;
use mssante_gateway::auth::config::{RegulationConfig, SessionConfig};
use mssante_gateway::auth::regulation::{PasswordGate, Regulator};
use mssante_gateway::auth::secret::UpstreamToken;
use mssante_gateway::auth::session::{SessionManager, Stage};
use mssante_gateway::store::{ShortBackend, StoreConfig};
use std::net::IpAddr;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const REDIS_SERVER: &str = "/usr/bin/redis-server";

/// A `redis-server` on a free port, killed on drop.
pub struct Redis {
    child: Child,
    port: u16,
    _dir: tempfile::TempDir,
}

impl Drop for Redis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Redis {
    pub fn start() -> Redis {
        Self::start_with(&[])
    }

    pub fn start_with(extra: &[&str]) -> Redis {
        assert!(
            Path::new(REDIS_SERVER).exists(),
            "{REDIS_SERVER} is missing: install the Debian package `redis-server`"
        );
        for _ in 0..5 {
            let port = std::net::TcpListener::bind("127.0.0.1:0")
                .and_then(|l| l.local_addr())
                .unwrap()
                .port();
            let dir = tempfile::tempdir().unwrap();
            let mut child = Command::new(REDIS_SERVER)
                .args(["--save", "", "--appendonly", "no", "--bind", "127.0.0.1"])
                .args(["--port", &port.to_string()])
                .arg("--dir")
                .arg(dir.path())
                .args(extra)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("spawn redis-server");
            let deadline = Instant::now() + Duration::from_secs(10);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = child.try_wait() {
                    break;
                }
                if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                    return Redis {
                        child,
                        port,
                        _dir: dir,
                    };
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        panic!("redis-server did not start");
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/0", self.port)
    }

    fn config(&self) -> StoreConfig {
        StoreConfig {
            short_backend: ShortBackend::Redis,
            redis_url: self.url(),
            redis_timeout_ms: 2000,
            ..StoreConfig::default()
        }
    }
}

/// GetInfo through the gateway with these cookies (and maybe a header token):
/// (status, account name or fault code, Set-Cookie values).
async fn get_info_with(
    gw: &GatewayProcess,
    cookies: &str,
    header_token: Option<&str>,
) -> (u16, String, Vec<String>) {
    let body = match header_token {
        Some(t) => get_info_json(t),
        None => r#"{"Body":{"GetInfoRequest":{"_jsns":"urn:zimbraAccount","sections":"mbox"}}}"#
            .to_string(),
    };
    let r = client()
        .post(gw.url("/service/soap"))
        .header("Content-Type", "application/json")
        .header("Cookie", cookies)
        .body(body)
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    let set: Vec<String> = r
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_string())
        .collect();
    let text = r.text().await.unwrap();
    let v: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
    let who = json_text(&v["Body"]["GetInfoResponse"]["name"]).unwrap_or_else(|| fault_code(&v));
    (status, who, set)
}

/// A `ZM_AUTH_TOKEN` a sibling host planted (the attacker's own gateway session,
/// first in header order) never makes the victim's requests run in the attacker's
/// mailbox: two live sessions in one request are refused and the planted cookie
/// cleared; anything that is not a session beside the portal cookie is ignored.
#[tokio::test]
async fn the_portal_cookie_wins_and_one_request_names_one_session() {
    let sb = start_sandbox();
    let gw = start_gateway(&sb.url(""), "");
    let (victim, _, _) = enrol_from(&gw, ANTOINE, None).await;
    let (attacker, _, _) = enrol_from(&gw, ADELE, None).await;

    let (s, who, _) = get_info_with(&gw, &format!("mssante_session={victim}"), None).await;
    assert_eq!((s, who.as_str()), (200, ANTOINE));
    let planted = format!("ZM_AUTH_TOKEN={attacker}; mssante_session={victim}");
    let (s, who, set) = get_info_with(&gw, &planted, None).await;
    assert_eq!(s, 401, "{who}");
    assert!(
        set.iter()
            .any(|c| c.starts_with("ZM_AUTH_TOKEN=;") && c.contains("Max-Age=0")),
        "{set:?}"
    );
    // The same for a page load of the webmail.
    let r = client()
        .get(gw.url("/"))
        .header("Cookie", &planted)
        .header("Accept", "text/html")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 401);
    // A store token or a dead id beside the portal cookie: the portal cookie wins.
    let (s, who, _) = get_info_with(
        &gw,
        &format!("ZM_AUTH_TOKEN=0_store_token; mssante_session={victim}"),
        None,
    )
    .await;
    assert_eq!((s, who.as_str()), (200, ANTOINE));
    // A SOAP header naming another session beside the cookie.
    let (_, who, _) =
        get_info_with(&gw, &format!("mssante_session={victim}"), Some(&attacker)).await;
    assert_eq!(who, "service.AUTH_REQUIRED");
}

/// What the Redis short store holds — every key, value and set member (a dump with
/// KEYS/GET/SMEMBERS) — names no session a client could present; only the ids the
/// clients hold do. An evicting Redis is refused (bans could be pushed out); `users
/// unban` lifts a ban kept in Redis.
#[tokio::test]
async fn the_redis_store_holds_no_usable_session_id_and_keeps_its_bans() {
    let redis = Redis::start();
    let store = redis.config().open_short(Clock::System).await.unwrap();
    let sessions = SessionManager::new(SessionConfig::default(), store.clone());
    let mut ids = Vec::new();
    for (user, stage) in [
        (ANTOINE, Stage::Full),
        (ANTOINE, Stage::PasswordOk),
        (ADELE, Stage::Full),
    ] {
        let s = sessions
            .create(user, stage, Some(UpstreamToken::new("0_store")))
            .await
            .unwrap();
        ids.push(s.id.expose().to_string());
    }
    let client = redis::Client::open(redis.url()).unwrap();
    let mut c = client.get_multiplexed_async_connection().await.unwrap();
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg("*")
        .query_async(&mut c)
        .await
        .unwrap();
    assert!(keys.len() >= 5, "{keys:?}");
    let mut dumped: Vec<String> = keys.clone();
    for k in &keys {
        let kind: String = redis::cmd("TYPE").arg(k).query_async(&mut c).await.unwrap();
        match kind.as_str() {
            "string" => {
                let v: Vec<u8> = redis::cmd("GET").arg(k).query_async(&mut c).await.unwrap();
                let text = String::from_utf8_lossy(&v).to_string();
                // Every JSON string inside a value, and the value itself.
                dumped.extend(text.split('"').filter(|p| p.len() >= 20).map(String::from));
                dumped.push(text);
            }
            "set" => {
                let m: Vec<String> = redis::cmd("SMEMBERS")
                    .arg(k)
                    .query_async(&mut c)
                    .await
                    .unwrap();
                dumped.extend(m);
            }
            other => panic!("unexpected {other} at {k}"),
        }
    }
    for candidate in &dumped {
        for piece in [candidate.as_str(), candidate.rsplit(':').next().unwrap()] {
            assert!(
                sessions.load(piece, false).await.unwrap().is_none(),
                "a dumped value opens a session: {piece}"
            );
        }
    }
    for id in &ids {
        assert!(
            !dumped.iter().any(|d| d.contains(id.as_str())),
            "raw id in the store"
        );
        assert!(sessions.load(id, false).await.unwrap().is_some());
    }

    // A ban kept in Redis, lifted by the administration command (any spelling).
    let regulator = Regulator::new(RegulationConfig::default(), store);
    let attacker: IpAddr = "203.0.113.5".parse().unwrap();
    for _ in 0..3 {
        assert_eq!(
            regulator.begin_password(ANTOINE, attacker).await.unwrap(),
            PasswordGate::Open
        );
        regulator.password_failed(ANTOINE, attacker).await.unwrap();
    }
    assert_eq!(
        regulator.password_gate(ANTOINE, attacker).await.unwrap(),
        PasswordGate::Banned
    );
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("data.key"), "ab".repeat(32)).unwrap();
    let config = dir.path().join("gateway.toml");
    std::fs::write(
        &config,
        format!(
            "[auth]\nlogin_domain = \"esantepdl.mssante.fr\"\n[auth.store]\nsqlite_path = {:?}\n\
             data_key_file = {:?}\nshort_backend = \"redis\"\nredis_url = {:?}\n",
            dir.path().join("state.sqlite3"),
            dir.path().join("data.key"),
            redis.url()
        ),
    )
    .unwrap();
    let out = run_binary(&[
        "users",
        "unban",
        "--config",
        config.to_str().unwrap(),
        "Antoine.Lefevre",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        regulator.password_gate(ANTOINE, attacker).await.unwrap(),
        PasswordGate::Open
    );

    // A Redis that evicts keys when full could lose bans: refused at connection.
    let evicting = Redis::start_with(&["--maxmemory", "64mb", "--maxmemory-policy", "allkeys-lru"]);
    let err = evicting
        .config()
        .open_short(Clock::System)
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("noeviction"), "{err}");
}

/// A store over HTTPS under a private CA: with `upstream.ca_file` logins, password
/// changes and password resets all work (one store client); without it the store is
/// not trusted, logins included.
#[tokio::test]
async fn an_https_store_under_a_private_ca_serves_logins_changes_and_resets() {
    let certs = tempfile::tempdir().unwrap();
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "CA privée de test");
    let ca = rcgen::CertifiedIssuer::self_signed(ca_params, rcgen::KeyPair::generate().unwrap())
        .unwrap();
    let leaf_key = rcgen::KeyPair::generate().unwrap();
    let leaf =
        rcgen::CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()])
            .unwrap()
            .signed_by(&leaf_key, &ca)
            .unwrap();
    let (ca_pem, cert_pem, key_pem) = (
        certs.path().join("ca.pem"),
        certs.path().join("store.pem"),
        certs.path().join("store.key"),
    );
    std::fs::write(&ca_pem, ca.pem()).unwrap();
    std::fs::write(&cert_pem, leaf.pem()).unwrap();
    std::fs::write(&key_pem, leaf_key.serialize_pem()).unwrap();
    let (_store, found) = spawn_and_wait(
        &[
            "sandbox",
            "--listen",
            "127.0.0.1:0",
            "--tls-cert",
            cert_pem.to_str().unwrap(),
            "--tls-key",
            key_pem.to_str().unwrap(),
        ],
        &[],
        &["sandbox listening on https://"],
    );
    let store_url = format!("https://{}", found[0]);

    let smtp = SmtpSink::start();
    let gw = start_gateway(
        &store_url,
        &format!(
            "[upstream]\nca_file = {:?}\n[auth.operator]\npublic_url = \"http://127.0.0.1\"\n{}",
            ca_pem,
            smtp.gateway_config()
        ),
    );
    let url = gw.url("/service/soap");
    // Login (AuthRequest, GetInfo, admin GetAccount: all over TLS).
    let (token, _, codes) = enrol_from(&gw, ANTOINE, None).await;
    assert_eq!(account_behind(&gw, &token).await, ANTOINE);
    // Password change.
    let changed = "Change-Par-Soap-2026!";
    let change = format!(
        r#"{{"Header":{{"context":{{"_jsns":"urn:zimbra","authToken":{{"_content":"{token}"}}}}}},"Body":{{"ChangePasswordRequest":{{"_jsns":"urn:zimbraAccount","account":{{"by":"name","_content":"a.lefevre@esantepdl.mssante.fr"}},"oldPassword":{{"_content":"{SANDBOX_PASSWORD}"}},"password":{{"_content":"{changed}"}}}}}}}}"#
    );
    let (s, v) = soap_json(&url, &change).await;
    assert_eq!(s, 200, "{v}");
    assert!(!v["Body"]["ChangePasswordResponse"].is_null(), "{v}");
    let (_, v) = soap_json(&url, &auth_json(ANTOINE, changed)).await;
    assert!(stage_of(&v).is_ok(), "{v}");
    // Reset: contact (through the CLI, also over TLS), link by mail, new password.
    let contact = "antoine.perso@example.org";
    let cfg = gw.config_path.to_str().unwrap();
    let out = run_binary(&[
        "users",
        "set-contact",
        "--config",
        cfg,
        "antoine.lefevre",
        contact,
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut web = Web::new(&gw, None);
    let (_, _, page) = web.get("/mot-de-passe-oublie").await;
    let csrf = hidden(&page, "csrf");
    web.post(
        "/mot-de-passe-oublie",
        &[
            ("csrf", &csrf),
            ("username", "Antoine.Lefevre"),
            ("email", contact),
        ],
    )
    .await;
    let body = smtp
        .wait_for(
            contact,
            |b| b.contains("nouveau-mot-de-passe"),
            Duration::from_secs(10),
        )
        .await;
    let link = extract_link(&body, "/nouveau-mot-de-passe");
    let (s, _, page) = web
        .get(&link[link.find("/nouveau-mot-de-passe").unwrap()..])
        .await;
    assert_eq!(s, 200, "{page}");
    let reset = "Remis-A-Zero-2026!";
    let (csrf, link_token) = (hidden(&page, "csrf"), hidden(&page, "token"));
    let (s, loc, page) = web
        .post(
            "/nouveau-mot-de-passe",
            &[
                ("csrf", &csrf),
                ("token", &link_token),
                ("password", reset),
                ("confirmation", reset),
            ],
        )
        .await;
    assert_eq!((s, loc.starts_with("/connexion")), (303, true), "{page}");
    let (_, v) = soap_json(&url, &auth_json(ANTOINE, reset)).await;
    let stage = stage_of(&v).unwrap();
    let (_, v) = soap_json(&url, &code_json(&stage, &codes[0])).await;
    assert!(
        json_text(&v["Body"]["AuthResponse"]["authToken"]).is_some(),
        "{v}"
    );

    // The same gateway without the CA file does not trust the store.
    let untrusting = start_gateway(&store_url, "");
    let (_, v) = soap_json(&untrusting.url("/service/soap"), &auth_json(ANTOINE, reset)).await;
    assert_eq!(fault_code(&v), "service.FAILURE", "{v}");
}
