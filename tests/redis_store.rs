//! S2 / A7: the Redis short-lived store against a real `redis-server` (Debian
//! package `redis-server`): same behaviour as the memory store (expiry, one-time
//! take, counter windows, sets), fail closed when Redis is gone, and state that
//! survives a new store instance (a gateway restart).

use mssante_gateway::auth::clock::Clock;
use mssante_gateway::auth::config::SessionConfig;
use mssante_gateway::auth::session::{SessionManager, Stage};
use mssante_gateway::config::Secret;
use mssante_gateway::store::{ShortBackend, ShortStore, StoreConfig};
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const REDIS_SERVER: &str = "/usr/bin/redis-server";

/// A `redis-server` in a temp dir on a free port, killed on drop.
struct Redis {
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
    fn start() -> Redis {
        Self::start_with(&[])
    }

    fn start_with(extra: &[&str]) -> Redis {
        Self::start_args(
            |port| {
                let mut a: Vec<String> = ["--port", &port.to_string(), "--bind", "127.0.0.1"]
                    .map(String::from)
                    .to_vec();
                a.extend(extra.iter().map(|s| s.to_string()));
                a
            },
            false,
        )
    }

    /// `args(port)` gives the listening options; with `tls` the readiness probe only
    /// connects (a plain PING gets no answer on a TLS port).
    fn start_args(args: impl Fn(u16) -> Vec<String>, tls: bool) -> Redis {
        assert!(
            Path::new(REDIS_SERVER).exists(),
            "{REDIS_SERVER} is missing: install the Debian package `redis-server` \
             (apt-get install redis-server); scripts/test installs it"
        );
        for _ in 0..5 {
            let port = TcpListener::bind("127.0.0.1:0")
                .and_then(|l| l.local_addr())
                .expect("free port")
                .port();
            let dir = tempfile::tempdir().expect("tempdir");
            let log = std::fs::File::create(dir.path().join("redis.log")).expect("log");
            let mut child = Command::new(REDIS_SERVER)
                .args(["--save", "", "--appendonly", "no"])
                .arg("--dir")
                .arg(dir.path())
                .args(args(port))
                .stdout(Stdio::null())
                .stderr(log)
                .spawn()
                .expect("spawn redis-server");
            let deadline = Instant::now() + Duration::from_secs(10);
            loop {
                if let Ok(Some(_)) = child.try_wait() {
                    break; // port taken meanwhile: try another one
                }
                if let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) {
                    let mut buf = [0u8; 64];
                    let _ = s.set_read_timeout(Some(Duration::from_millis(500)));
                    if tls
                        || (s.write_all(b"PING\r\n").is_ok() && s.read(&mut buf).unwrap_or(0) > 0)
                    {
                        return Redis {
                            child,
                            port,
                            _dir: dir,
                        };
                    }
                }
                if Instant::now() > deadline {
                    let _ = child.kill();
                    panic!("redis-server did not answer on port {port}");
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        panic!("redis-server could not start on a free port");
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/0", self.port)
    }

    fn config(&self, prefix: &str) -> StoreConfig {
        StoreConfig {
            short_backend: ShortBackend::Redis,
            redis_url: self.url(),
            redis_key_prefix: prefix.into(),
            redis_timeout_ms: 1000,
            ..Default::default()
        }
    }

    async fn store(&self, prefix: &str) -> ShortStore {
        self.config(prefix)
            .open_short(Clock::System)
            .await
            .expect("open redis short store")
    }

    /// A raw client, to look at the keys the gateway wrote.
    async fn raw(&self) -> redis::aio::MultiplexedConnection {
        redis::Client::open(self.url())
            .unwrap()
            .get_multiplexed_async_connection()
            .await
            .unwrap()
    }
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

#[tokio::test]
async fn put_get_expire_delete() {
    let r = Redis::start();
    let s = r.store("t:").await;
    assert!(s.is_shared());
    s.put("k", b"v".to_vec(), ms(800)).await.unwrap();
    assert_eq!(s.get("k").await.unwrap(), Some(b"v".to_vec()));
    tokio::time::sleep(ms(1000)).await;
    assert_eq!(s.get("k").await.unwrap(), None, "expired by Redis (PX)");
    s.put("k", b"v".to_vec(), Duration::from_secs(10))
        .await
        .unwrap();
    s.delete("k").await.unwrap();
    assert_eq!(s.get("k").await.unwrap(), None);
    // A zero TTL is already expired, as in memory.
    s.put("z", b"v".to_vec(), Duration::ZERO).await.unwrap();
    assert_eq!(s.get("z").await.unwrap(), None);
    s.ping().await.unwrap();
}

#[tokio::test]
async fn keys_carry_the_prefix() {
    let r = Redis::start();
    let a = r.store("gw-a:").await;
    let b = r.store("gw-b:").await;
    a.put("session:x", b"1".to_vec(), Duration::from_secs(10))
        .await
        .unwrap();
    assert_eq!(b.get("session:x").await.unwrap(), None);
    let mut raw = r.raw().await;
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg("*")
        .query_async(&mut raw)
        .await
        .unwrap();
    assert_eq!(keys, vec!["gw-a:session:x".to_string()]);
    let pttl: i64 = redis::cmd("PTTL")
        .arg("gw-a:session:x")
        .query_async(&mut raw)
        .await
        .unwrap();
    assert!(pttl > 9000 && pttl <= 10_000, "{pttl}");
}

#[tokio::test]
async fn take_is_single_use_even_concurrently() {
    let r = Redis::start();
    let s = r.store("t:").await;
    s.put_json("t", &"x", Duration::from_secs(10))
        .await
        .unwrap();
    assert_eq!(
        s.take_json::<String>("t").await.unwrap().as_deref(),
        Some("x")
    );
    assert_eq!(s.take_json::<String>("t").await.unwrap(), None);

    // Two gateway instances racing for one code: exactly one wins.
    let other = r.store("t:").await;
    s.put("code", b"123456".to_vec(), Duration::from_secs(10))
        .await
        .unwrap();
    let mut tasks = Vec::new();
    for i in 0..16 {
        let st = if i % 2 == 0 { s.clone() } else { other.clone() };
        tasks.push(tokio::spawn(async move { st.take("code").await.unwrap() }));
    }
    let mut won = 0;
    for t in tasks {
        if t.await.unwrap().is_some() {
            won += 1;
        }
    }
    assert_eq!(won, 1);
}

#[tokio::test]
async fn counter_window() {
    let r = Redis::start();
    let s = r.store("t:").await;
    let w = ms(1500);
    assert_eq!(s.incr("c", w).await.unwrap(), 1);
    tokio::time::sleep(ms(500)).await;
    assert_eq!(s.incr("c", w).await.unwrap(), 2);
    assert_eq!(s.count("c").await.unwrap(), 2);
    // The window started at the first increment, not the last.
    tokio::time::sleep(ms(1100)).await;
    assert_eq!(s.count("c").await.unwrap(), 0);
    assert_eq!(s.incr("c", w).await.unwrap(), 1);
    assert_eq!(s.count("absent").await.unwrap(), 0);

    // Atomic: concurrent increments from two instances are all counted.
    let other = r.store("t:").await;
    let mut tasks = Vec::new();
    for i in 0..20 {
        let st = if i % 2 == 0 { s.clone() } else { other.clone() };
        tasks.push(tokio::spawn(async move {
            st.incr("n", Duration::from_secs(30)).await.unwrap()
        }));
    }
    let mut seen: Vec<u64> = Vec::new();
    for t in tasks {
        seen.push(t.await.unwrap());
    }
    seen.sort();
    assert_eq!(seen, (1..=20).collect::<Vec<u64>>());
    assert_eq!(s.count("n").await.unwrap(), 20);
}

#[tokio::test]
async fn sets() {
    let r = Redis::start();
    let s = r.store("t:").await;
    let ttl = ms(2000);
    s.set_add("u", "b", ttl).await.unwrap();
    s.set_add("u", "a", ttl).await.unwrap();
    s.set_add("u", "a", ttl).await.unwrap();
    assert_eq!(s.set_members("u").await.unwrap(), vec!["a", "b"]);
    s.set_remove("u", "a").await.unwrap();
    assert_eq!(s.set_members("u").await.unwrap(), vec!["b"]);
    // A shorter TTL never shortens the set's life.
    s.set_add("u", "c", ms(50)).await.unwrap();
    tokio::time::sleep(ms(300)).await;
    assert_eq!(s.set_members("u").await.unwrap(), vec!["b", "c"]);
    tokio::time::sleep(ms(2000)).await;
    assert!(s.set_members("u").await.unwrap().is_empty());
    // Removing the last member removes the set.
    s.set_add("v", "x", ttl).await.unwrap();
    s.set_remove("v", "x").await.unwrap();
    assert!(s.set_members("v").await.unwrap().is_empty());
    s.set_remove("absent", "x").await.unwrap();
}

#[tokio::test]
async fn state_survives_a_new_store_instance() {
    let r = Redis::start();
    let cfg = SessionConfig::default();
    let (id, user) = {
        let first = r.store("gw:").await;
        first
            .put_json("pending", &vec![1, 2, 3], Duration::from_secs(60))
            .await
            .unwrap();
        let sessions = SessionManager::new(cfg.clone(), first);
        let live = sessions
            .create("jean.dupont@ms.fr", Stage::Full, None)
            .await
            .unwrap();
        (live.id.expose().to_string(), live.session.user)
        // `first` and its connection are dropped here: the "gateway" stops.
    };
    let second = r.store("gw:").await;
    assert_eq!(
        second.get_json::<Vec<u8>>("pending").await.unwrap(),
        Some(vec![1, 2, 3])
    );
    let sessions = SessionManager::new(cfg, second);
    let s = sessions
        .load(&id, true)
        .await
        .unwrap()
        .expect("session kept");
    assert_eq!(s.user, user);
    assert_eq!(s.stage, Stage::Full);
    assert_eq!(sessions.revoke_all(&user).await.unwrap(), 1);
    assert!(sessions.load(&id, true).await.unwrap().is_none());
}

#[tokio::test]
async fn password_is_required_and_used() {
    let r = Redis::start_with(&["--requirepass", "s3cret-pw"]);
    let mut cfg = r.config("t:");
    let err = cfg.open_short(Clock::System).await.unwrap_err().to_string();
    assert!(err.contains("redis"), "{err}");
    cfg.redis_password = Some(Secret::new("wrong"));
    let err = cfg.open_short(Clock::System).await.unwrap_err().to_string();
    assert!(err.contains("redis"), "{err}");
    assert!(!err.contains("wrong"), "the password never shows: {err}");
    cfg.redis_password = Some(Secret::new("s3cret-pw"));
    let s = cfg.open_short(Clock::System).await.unwrap();
    s.put("k", b"v".to_vec(), Duration::from_secs(5))
        .await
        .unwrap();
    assert_eq!(s.get("k").await.unwrap(), Some(b"v".to_vec()));
}

#[tokio::test]
async fn bad_settings_are_refused_with_the_key() {
    let base = StoreConfig {
        short_backend: ShortBackend::Redis,
        ..Default::default()
    };
    for (url, needle) in [
        ("redis://:pw@127.0.0.1:6379/0", "redis_password_file"),
        ("rediss://127.0.0.1:6379/0#insecure", "insecure"),
        ("http://127.0.0.1:6379/", "scheme"),
    ] {
        let cfg = StoreConfig {
            redis_url: url.into(),
            ..base.clone()
        };
        let errs = cfg.validate();
        assert!(
            errs.iter()
                .any(|e| e.starts_with("auth.store.redis_url:") && e.contains(needle)),
            "{url}: {errs:?}"
        );
        let err = cfg.open_short(Clock::System).await.unwrap_err().to_string();
        assert!(err.contains("auth.store.redis_url"), "{err}");
    }
    // The memory backend ignores the Redis keys.
    let mem = StoreConfig {
        redis_url: "nonsense".into(),
        ..Default::default()
    };
    assert!(mem.validate().is_empty());
    assert!(!mem.open_short(Clock::System).await.unwrap().is_shared());
}

#[tokio::test]
async fn unreachable_or_lost_redis_fails_closed() {
    let metrics = mssante_gateway::telemetry::metrics_handle();
    // Nobody listens: the error comes quickly and names the server.
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let cfg = StoreConfig {
        short_backend: ShortBackend::Redis,
        redis_url: format!("redis://127.0.0.1:{port}/0"),
        redis_timeout_ms: 500,
        ..Default::default()
    };
    let t = Instant::now();
    let err = cfg.open_short(Clock::System).await.unwrap_err().to_string();
    assert!(err.contains(&format!("127.0.0.1:{port}")), "{err}");
    assert!(t.elapsed() < Duration::from_secs(5), "{:?}", t.elapsed());

    // Redis goes away under a running store: every operation errors, none hangs.
    let r = Redis::start();
    let s = r.store("t:").await;
    s.put("k", b"v".to_vec(), Duration::from_secs(60))
        .await
        .unwrap();
    drop(r);
    let t = Instant::now();
    assert!(s.get("k").await.is_err());
    assert!(s.take("k").await.is_err());
    assert!(s.incr("c", Duration::from_secs(1)).await.is_err());
    assert!(s.set_members("u").await.is_err());
    assert!(s.ping().await.is_err());
    assert!(t.elapsed() < Duration::from_secs(15), "{:?}", t.elapsed());
    // Every command was timed, and the failures counted, for the alert rules.
    let text = metrics.render();
    for series in [
        "gateway_store_operation_seconds_count{store=\"short\",backend=\"redis\"}",
        "gateway_store_errors_total{store=\"short\",backend=\"redis\"}",
    ] {
        assert!(text.contains(series), "{series} missing:\n{text}");
    }
}

/// `users reset-otp` with `short_backend = "redis"` ends the user's open sessions.
#[tokio::test]
async fn reset_otp_cli_revokes_sessions_in_redis() {
    let r = Redis::start();
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("data.key");
    std::fs::write(&key, format!("{}\n", "ab".repeat(32))).unwrap();
    let config = dir.path().join("gateway.toml");
    std::fs::write(
        &config,
        format!(
            "[auth]\nlogin_domain = \"ms.example.fr\"\n\
             [auth.store]\nsqlite_path = {:?}\ndata_key_file = {:?}\n\
             short_backend = \"redis\"\nredis_url = {:?}\nredis_key_prefix = \"mssante:\"\n",
            dir.path().join("state.sqlite3"),
            key,
            r.url()
        ),
    )
    .unwrap();
    let sessions = SessionManager::new(SessionConfig::default(), r.store("mssante:").await);
    let a = sessions
        .create("jean.dupont@ms.example.fr", Stage::Full, None)
        .await
        .unwrap();
    let b = sessions
        .create("jean.dupont@ms.example.fr", Stage::PasswordOk, None)
        .await
        .unwrap();
    let other = sessions
        .create("marie.curie@ms.example.fr", Stage::Full, None)
        .await
        .unwrap();

    let out = Command::new(env!("CARGO_BIN_EXE_mssante-gateway"))
        .args(["users", "reset-otp", "--config"])
        .arg(&config)
        .arg("Jean.Dupont")
        .env_remove("GATEWAY_AUTH__STORE__SHORT_BACKEND")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(
        stdout.contains("2 session(s) ouverte(s) de jean.dupont@ms.example.fr fermée(s)"),
        "{stdout}"
    );
    assert!(stderr.contains("user.otp_reset"), "{stderr}");
    assert!(sessions.load(a.id.expose(), true).await.unwrap().is_none());
    assert!(sessions.load(b.id.expose(), true).await.unwrap().is_none());
    assert!(sessions
        .load(other.id.expose(), true)
        .await
        .unwrap()
        .is_some());
}

/// `rediss://` through rustls (ring) with a private CA given as `redis_ca_file`;
/// without it the self-signed server is refused.
#[tokio::test]
async fn tls_with_a_private_ca() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let cert =
        rcgen::generate_simple_self_signed(vec!["localhost".into(), "127.0.0.1".into()]).unwrap();
    let certs = tempfile::tempdir().unwrap();
    let (cert_path, key_path) = (certs.path().join("cert.pem"), certs.path().join("key.pem"));
    std::fs::write(&cert_path, cert.cert.pem()).unwrap();
    std::fs::write(&key_path, cert.signing_key.serialize_pem()).unwrap();
    let (c, k) = (
        cert_path.display().to_string(),
        key_path.display().to_string(),
    );
    let r = Redis::start_args(
        |port| {
            [
                "--port",
                "0",
                "--bind",
                "127.0.0.1",
                "--tls-port",
                &port.to_string(),
                "--tls-cert-file",
                &c,
                "--tls-key-file",
                &k,
                "--tls-ca-cert-file",
                &c,
                "--tls-auth-clients",
                "no",
            ]
            .map(String::from)
            .to_vec()
        },
        true,
    );
    let url = format!("rediss://127.0.0.1:{}/0", r.port);
    let mut cfg = StoreConfig {
        short_backend: ShortBackend::Redis,
        redis_url: url,
        redis_timeout_ms: 1000,
        ..Default::default()
    };
    let err = cfg.open_short(Clock::System).await.unwrap_err().to_string();
    assert!(err.contains("redis"), "unknown CA refused: {err}");
    cfg.redis_ca_file = Some(cert_path.clone());
    assert!(cfg.validate().is_empty(), "{:?}", cfg.validate());
    let s = cfg.open_short(Clock::System).await.expect("TLS connection");
    s.put("k", b"v".to_vec(), Duration::from_secs(5))
        .await
        .unwrap();
    assert_eq!(s.take("k").await.unwrap(), Some(b"v".to_vec()));
    // A CA file for a plain redis:// URL is a configuration mistake.
    let plain = StoreConfig {
        redis_url: "redis://127.0.0.1:6379/0".into(),
        ..cfg
    };
    assert!(plain
        .validate()
        .iter()
        .any(|e| e.starts_with("auth.store.redis_ca_file:")));
}
