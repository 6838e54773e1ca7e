//! S2: the durable store on SQLite and on a real PostgreSQL (Debian package
//! `postgresql`, a private cluster per test: `tests/common/postgres.rs`). The same
//! behaviour tests run on both backends; then migrations (from scratch, from the
//! previous release's SQLite file, a newer schema refused), the data-key check at
//! start, `store copy`, TLS with a private CA, pool and statement timeouts, a server
//! that goes away and comes back, and the gateway binary on PostgreSQL.
//! Run alone with `cargo test --test durable_store`.

mod common;

use common::postgres::{PgCluster, SUPERUSER_PASSWORD};
use mssante_gateway::config::Secret;
use mssante_gateway::store::durable::migrations::CURRENT_VERSION;
use mssante_gateway::store::{
    DataKey, DurableBackend, DurableStore, OtpChannel, Rekey, StoreConfig, StoreError,
};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

const SECRET: &str = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP";

/// One store under test: a SQLite file or a database of a private cluster.
struct Env {
    dir: tempfile::TempDir,
    pg: Option<PgCluster>,
    key_hex: String,
}

fn random_key_hex() -> String {
    hex::encode((0..32).map(|_| rand::random::<u8>()).collect::<Vec<u8>>())
}

impl Env {
    fn sqlite() -> Env {
        Env {
            dir: tempfile::tempdir().unwrap(),
            pg: None,
            key_hex: random_key_hex(),
        }
    }

    fn postgres() -> Env {
        let pg = PgCluster::start();
        pg.create_database("gw");
        Env {
            dir: tempfile::tempdir().unwrap(),
            pg: Some(pg),
            key_hex: random_key_hex(),
        }
    }

    fn pg(&self) -> &PgCluster {
        self.pg.as_ref().expect("a PostgreSQL env")
    }

    fn sqlite_path(&self) -> PathBuf {
        self.dir.path().join("state.sqlite3")
    }

    fn config(&self) -> StoreConfig {
        let mut c = StoreConfig {
            sqlite_path: self.sqlite_path(),
            data_key: Some(Secret::new(self.key_hex.clone())),
            postgres_pool_size: 4,
            postgres_connect_timeout_ms: 2000,
            postgres_acquire_timeout_ms: 1000,
            postgres_statement_timeout_ms: 2000,
            ..Default::default()
        };
        if let Some(pg) = &self.pg {
            c.durable_backend = DurableBackend::Postgres;
            c.postgres_url = pg.socket_url("gw");
        }
        c
    }

    async fn open(&self) -> DurableStore {
        self.config().open_durable().await.expect("open the store")
    }

    /// The stored bytes of a user's TOTP secret, read past the store.
    fn raw_secret(&self, user: &str) -> Vec<u8> {
        match &self.pg {
            Some(pg) => hex::decode(pg.psql(
                "gw",
                &format!("SELECT encode(totp_secret, 'hex') FROM user_security WHERE user_name = '{user}'"),
            ))
            .unwrap(),
            None => rusqlite::Connection::open(self.sqlite_path())
                .unwrap()
                .query_row(
                    "SELECT totp_secret FROM user_security WHERE user = ?1",
                    [user],
                    |r| r.get(0),
                )
                .unwrap(),
        }
    }

    /// Copies `from`'s sealed secret into `to`'s row, past the store.
    fn move_secret(&self, from: &str, to: &str) {
        let sealed = hex::encode(self.raw_secret(from));
        match &self.pg {
            Some(pg) => {
                pg.psql(
                    "gw",
                    &format!(
                        "INSERT INTO user_security (user_name, totp_secret) \
                         VALUES ('{to}', decode('{sealed}', 'hex'))"
                    ),
                );
            }
            None => {
                rusqlite::Connection::open(self.sqlite_path())
                    .unwrap()
                    .execute(
                        "INSERT INTO user_security (user, totp_secret) VALUES (?1, ?2)",
                        rusqlite::params![to, hex::decode(sealed).unwrap()],
                    )
                    .unwrap();
            }
        }
    }

    /// Pretends a newer release migrated the schema.
    fn set_schema_version(&self, v: i64) {
        match &self.pg {
            Some(pg) => {
                pg.psql(
                    "gw",
                    &format!(
                        "INSERT INTO schema_migrations (version, name, applied_at) \
                         VALUES ({v}, 'from a newer release', 0)"
                    ),
                );
            }
            None => rusqlite::Connection::open(self.sqlite_path())
                .unwrap()
                .pragma_update(None, "user_version", v)
                .unwrap(),
        }
    }
}

// ------------------------------------------------------ the same tests on both

/// Runs each behaviour test on both backends.
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod on_sqlite {
            $(#[tokio::test]
            async fn $name() {
                super::$name(super::Env::sqlite()).await
            })*
        }
        mod on_postgres {
            $(#[tokio::test]
            async fn $name() {
                super::$name(super::Env::postgres()).await
            })*
        }
    };
}

on_both_backends!(
    enrolment_round_trip_and_contact,
    secret_sealed_at_rest_and_bound_to_its_user,
    recovery_codes_work_once,
    used_totp_steps_are_refused,
    schema_newer_than_the_binary_is_refused,
    wrong_data_key_is_refused_at_start,
    rekey_moves_a_row_or_refuses,
    psc_override_links_round_trip,
);

async fn enrolment_round_trip_and_contact(env: Env) {
    let s = env.open().await;
    assert_eq!(s.get("alice").await.unwrap(), Default::default());
    s.set_contact_email("alice", Some("alice@perso.example"))
        .await
        .unwrap();
    s.set_totp_secret("alice", Some(SECRET)).await.unwrap();
    s.set_otp_channel("alice", Some(OtpChannel::Totp))
        .await
        .unwrap();
    let u = s.get("alice").await.unwrap();
    assert_eq!(u.contact_email.as_deref(), Some("alice@perso.example"));
    assert_eq!(u.otp_channel, Some(OtpChannel::Totp));
    assert!(u.has_totp_secret);
    assert_eq!(
        s.totp_secret("alice").await.unwrap().unwrap().expose(),
        SECRET
    );
    // Another instance (a new store on the same data) sees the same settings.
    drop(s);
    let again = env.open().await;
    assert_eq!(again.get("alice").await.unwrap(), u);
    again
        .set_otp_channel("alice", Some(OtpChannel::Email))
        .await
        .unwrap();
    again.set_contact_email("alice", None).await.unwrap();
    let u = again.get("alice").await.unwrap();
    assert_eq!(u.otp_channel, Some(OtpChannel::Email));
    assert_eq!(u.contact_email, None);
    // An admin reset forgets the second factor, not the user.
    again.clear_second_factor("alice").await.unwrap();
    let u = again.get("alice").await.unwrap();
    assert!(!u.has_totp_secret && u.otp_channel.is_none());
    assert!(again.totp_secret("alice").await.unwrap().is_none());
    again.ping().await.unwrap();
}

async fn secret_sealed_at_rest_and_bound_to_its_user(env: Env) {
    let s = env.open().await;
    s.set_totp_secret("alice", Some(SECRET)).await.unwrap();
    let raw = env.raw_secret("alice");
    assert!(
        raw.len() > SECRET.len(),
        "sealed value: nonce, ciphertext, tag"
    );
    assert!(
        !raw.windows(8).any(|w| w == &SECRET.as_bytes()[..8]),
        "the secret is stored in clear"
    );
    // A sealed value moved to another user's row does not open.
    env.move_secret("alice", "mallory");
    assert!(matches!(
        s.totp_secret("mallory").await,
        Err(StoreError::Crypto(_))
    ));
    // Setting a new secret seals it afresh (random nonce).
    s.set_totp_secret("alice", Some(SECRET)).await.unwrap();
    assert_ne!(env.raw_secret("alice"), raw);
}

async fn recovery_codes_work_once(env: Env) {
    let s = env.open().await;
    let k = s.data_key().clone();
    let hashes: Vec<Vec<u8>> = ["AAAA-1111", "BBBB-2222", "CCCC-3333"]
        .iter()
        .map(|c| k.code_hash("recovery_code:alice", c))
        .collect();
    s.replace_recovery_codes("alice", hashes.clone())
        .await
        .unwrap();
    assert_eq!(s.get("alice").await.unwrap().recovery_codes_left, 3);
    assert!(s
        .consume_recovery_code("alice", hashes[1].clone())
        .await
        .unwrap());
    assert!(!s
        .consume_recovery_code("alice", hashes[1].clone())
        .await
        .unwrap());
    assert!(!s
        .consume_recovery_code("bob", hashes[0].clone())
        .await
        .unwrap());
    assert_eq!(s.get("alice").await.unwrap().recovery_codes_left, 2);
    // New codes replace the old ones.
    s.replace_recovery_codes("alice", vec![vec![7; 32]])
        .await
        .unwrap();
    assert!(!s
        .consume_recovery_code("alice", hashes[0].clone())
        .await
        .unwrap());
    assert_eq!(s.get("alice").await.unwrap().recovery_codes_left, 1);
}

async fn used_totp_steps_are_refused(env: Env) {
    let s = env.open().await;
    s.set_totp_secret("alice", Some(SECRET)).await.unwrap();
    assert!(s.accept_totp_step("alice", 1000).await.unwrap());
    assert!(!s.accept_totp_step("alice", 1000).await.unwrap());
    assert!(!s.accept_totp_step("alice", 999).await.unwrap());
    // A second instance sees the step used by the first.
    let other = env.open().await;
    assert!(!other.accept_totp_step("alice", 1000).await.unwrap());
    assert!(other.accept_totp_step("alice", 1001).await.unwrap());
    // Concurrent submissions of one step: exactly one wins.
    let mut tasks = Vec::new();
    for i in 0..8 {
        let st = if i % 2 == 0 { s.clone() } else { other.clone() };
        tasks.push(tokio::spawn(async move {
            st.accept_totp_step("alice", 1002).await
        }));
    }
    let mut won = 0;
    for t in tasks {
        won += usize::from(t.await.unwrap().unwrap());
    }
    assert_eq!(won, 1);
    // A new secret starts a new step history; unknown users accept nothing.
    s.set_totp_secret("alice", Some(SECRET)).await.unwrap();
    assert!(s.accept_totp_step("alice", 5).await.unwrap());
    assert!(!s.accept_totp_step("nobody", 5).await.unwrap());
}

async fn schema_newer_than_the_binary_is_refused(env: Env) {
    env.open().await;
    env.set_schema_version(CURRENT_VERSION + 1);
    let err = env.config().open_durable().await.unwrap_err();
    assert!(
        matches!(err, StoreError::SchemaTooNew { found, known } if found == CURRENT_VERSION + 1 && known == CURRENT_VERSION),
        "{err}"
    );
    assert!(err.to_string().contains("newer than this binary"), "{err}");
    let problems = env.config().durable_preflight().await;
    assert!(
        problems
            .iter()
            .any(|p| p.contains("newer than this binary")),
        "{problems:?}"
    );
}

async fn wrong_data_key_is_refused_at_start(env: Env) {
    let s = env.open().await;
    s.set_totp_secret("alice", Some(SECRET)).await.unwrap();
    drop(s);
    let mut wrong = env.config();
    wrong.data_key = Some(Secret::new(random_key_hex()));
    let err = wrong.open_durable().await.unwrap_err();
    assert!(matches!(err, StoreError::DataKeyMismatch(_)), "{err}");
    assert!(
        err.to_string().contains("auth.store.data_key_file"),
        "{err}"
    );
    // Refused even for a store where nobody enrolled yet: the check value decides.
    let empty = Env {
        dir: tempfile::tempdir().unwrap(),
        pg: None,
        key_hex: random_key_hex(),
    };
    empty.open().await;
    let mut other = empty.config();
    other.data_key = Some(Secret::new(random_key_hex()));
    assert!(matches!(
        other.open_durable().await,
        Err(StoreError::DataKeyMismatch(_))
    ));
    // The pre-flight reports it, and the right key still opens the store.
    let problems = wrong.durable_preflight().await;
    assert!(
        problems
            .iter()
            .any(|p| p.starts_with("auth.store.data_key_file")),
        "{problems:?}"
    );
    assert!(env.config().durable_preflight().await.is_empty());
    assert!(env
        .open()
        .await
        .totp_secret("alice")
        .await
        .unwrap()
        .is_some());
}

/// Identity migration: a row kept under another spelling moves to the canonical
/// account (secret sealed again, recovery codes dropped), never over a row the
/// account has; instances moving the same row at once move it once.
async fn rekey_moves_a_row_or_refuses(env: Env) {
    let s = env.open().await;
    s.set_totp_secret("Alice", Some(SECRET)).await.unwrap();
    s.set_otp_channel("Alice", Some(OtpChannel::Totp))
        .await
        .unwrap();
    s.replace_recovery_codes("Alice", vec![vec![1; 32]])
        .await
        .unwrap();
    assert!(s.accept_totp_step("Alice", 700).await.unwrap());
    assert_eq!(s.user_keys().await.unwrap(), vec!["Alice"]);
    assert_eq!(s.rekey_user("Alice", "alice").await.unwrap(), Rekey::Moved);
    let u = s.get("alice").await.unwrap();
    assert_eq!(u.otp_channel, Some(OtpChannel::Totp));
    assert_eq!(u.recovery_codes_left, 0, "hashed for the old key: dropped");
    assert_eq!(
        s.totp_secret("alice").await.unwrap().unwrap().expose(),
        SECRET,
        "sealed again for the new key"
    );
    assert!(
        !s.accept_totp_step("alice", 700).await.unwrap(),
        "the used step moved with the row"
    );
    assert_eq!(s.get("Alice").await.unwrap(), Default::default());
    assert_eq!(s.rekey_user("Alice", "alice").await.unwrap(), Rekey::Absent);
    assert_eq!(s.rekey_user("alice", "alice").await.unwrap(), Rekey::Absent);
    // The canonical row counts: another spelling is never moved over it.
    s.set_otp_channel("mallory", Some(OtpChannel::Email))
        .await
        .unwrap();
    assert_eq!(
        s.rekey_user("mallory", "alice").await.unwrap(),
        Rekey::Conflict
    );
    assert_eq!(
        s.get("alice").await.unwrap().otp_channel,
        Some(OtpChannel::Totp),
        "the canonical row is kept"
    );
    assert_eq!(
        s.get("mallory").await.unwrap().otp_channel,
        Some(OtpChannel::Email),
        "the refused row is left as it was"
    );
    // Codes alone are a row too.
    s.replace_recovery_codes("Carol", vec![vec![3; 32]])
        .await
        .unwrap();
    assert_eq!(
        s.user_keys().await.unwrap(),
        vec!["Carol", "alice", "mallory"],
        "byte order on both backends"
    );
    // Two instances starting at once migrate the same row: it moves once.
    s.set_totp_secret("Bob", Some(SECRET)).await.unwrap();
    let other = env.open().await;
    let mut tasks = Vec::new();
    for i in 0..6 {
        let st = if i % 2 == 0 { s.clone() } else { other.clone() };
        tasks.push(tokio::spawn(
            async move { st.rekey_user("Bob", "bob").await },
        ));
    }
    let mut outcomes = Vec::new();
    for t in tasks {
        outcomes.push(t.await.unwrap().unwrap());
    }
    assert_eq!(
        outcomes.iter().filter(|r| **r == Rekey::Moved).count(),
        1,
        "{outcomes:?}"
    );
    assert!(outcomes
        .iter()
        .all(|r| matches!(r, Rekey::Moved | Rekey::Absent)));
    assert_eq!(
        other.totp_secret("bob").await.unwrap().unwrap().expose(),
        SECRET
    );
}

/// The operator's PSC identifier links: set, replace, list, remove; seen by a
/// second instance.
async fn psc_override_links_round_trip(env: Env) {
    let s = env.open().await;
    assert_eq!(s.psc_override("810101234567").await.unwrap(), None);
    assert!(s.psc_overrides().await.unwrap().is_empty());
    s.set_psc_override("810101234567", "a@x.mssante.fr")
        .await
        .unwrap();
    s.set_psc_override("810101234567", "b@x.mssante.fr")
        .await
        .unwrap();
    s.set_psc_override("ANS20231122132732", "c@x.mssante.fr")
        .await
        .unwrap();
    let other = env.open().await;
    assert_eq!(
        other.psc_override("810101234567").await.unwrap().as_deref(),
        Some("b@x.mssante.fr")
    );
    assert_eq!(
        other.psc_overrides().await.unwrap(),
        vec![
            ("810101234567".to_string(), "b@x.mssante.fr".to_string()),
            (
                "ANS20231122132732".to_string(),
                "c@x.mssante.fr".to_string()
            ),
        ]
    );
    assert!(other.remove_psc_override("810101234567").await.unwrap());
    assert!(!s.remove_psc_override("810101234567").await.unwrap());
    assert_eq!(s.psc_override("810101234567").await.unwrap(), None);
    assert_eq!(s.psc_overrides().await.unwrap().len(), 1);
}

// ------------------------------------------------------ migrations

/// The schema of the release before versioned migrations (user_version 1, no
/// `store_meta`, no `schema_migrations`), exactly as it created its files.
const RELEASED_V1_SCHEMA: &str = "BEGIN;
    CREATE TABLE user_security (
        user TEXT PRIMARY KEY NOT NULL,
        contact_email TEXT,
        otp_channel TEXT,
        totp_secret BLOB,
        last_totp_step INTEGER,
        updated_at INTEGER NOT NULL DEFAULT (strftime('%s','now'))
     );
     CREATE TABLE recovery_code (
        user TEXT NOT NULL,
        code_hash BLOB NOT NULL,
        PRIMARY KEY (user, code_hash)
     ); PRAGMA user_version = 1; COMMIT;";

/// A SQLite file as the previous release left it: alice enrolled (sealed secret,
/// used step, two codes), bob with a contact address only.
fn previous_release_file(path: &Path, key: &DataKey) {
    let c = rusqlite::Connection::open(path).unwrap();
    c.pragma_update(None, "journal_mode", "WAL").unwrap();
    c.execute_batch(RELEASED_V1_SCHEMA).unwrap();
    let sealed = key
        .seal("user_security.totp_secret:alice", SECRET.as_bytes())
        .unwrap()
        .0;
    c.execute(
        "INSERT INTO user_security (user, contact_email, otp_channel, totp_secret, last_totp_step)
         VALUES ('alice', 'alice@perso.example', 'totp', ?1, 500)",
        [sealed],
    )
    .unwrap();
    c.execute(
        "INSERT INTO user_security (user, contact_email) VALUES ('bob', 'bob@perso.example')",
        [],
    )
    .unwrap();
    for h in [[1u8; 32], [2u8; 32]] {
        c.execute(
            "INSERT INTO recovery_code (user, code_hash) VALUES ('alice', ?1)",
            [h.to_vec()],
        )
        .unwrap();
    }
}

#[tokio::test]
async fn previous_release_sqlite_file_upgrades_in_place() {
    let env = Env::sqlite();
    let key = DataKey::from_hex(&env.key_hex).unwrap();
    previous_release_file(&env.sqlite_path(), &key);
    // A wrong key is refused before anything is written: the existing secret decides.
    let mut wrong = env.config();
    wrong.data_key = Some(Secret::new(random_key_hex()));
    assert!(matches!(
        wrong.open_durable().await,
        Err(StoreError::DataKeyMismatch(_))
    ));
    let s = env.open().await;
    let alice = s.get("alice").await.unwrap();
    assert_eq!(alice.contact_email.as_deref(), Some("alice@perso.example"));
    assert_eq!(alice.otp_channel, Some(OtpChannel::Totp));
    assert_eq!(alice.recovery_codes_left, 2);
    assert_eq!(
        s.totp_secret("alice").await.unwrap().unwrap().expose(),
        SECRET
    );
    assert!(
        !s.accept_totp_step("alice", 500).await.unwrap(),
        "used step kept"
    );
    assert_eq!(
        s.get("bob").await.unwrap().contact_email.as_deref(),
        Some("bob@perso.example")
    );
    drop(s);
    let c = rusqlite::Connection::open(env.sqlite_path()).unwrap();
    let version: i64 = c
        .pragma_query_value(None, "user_version", |r| r.get(0))
        .unwrap();
    assert_eq!(version, CURRENT_VERSION);
    let applied: Vec<i64> = c
        .prepare("SELECT version FROM schema_migrations ORDER BY version")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(applied, (2..=CURRENT_VERSION).collect::<Vec<_>>());
    // The check value now guards the file.
    let check: i64 = c
        .query_row(
            "SELECT COUNT(*) FROM store_meta WHERE name = 'data_key_check'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(check, 1);
    // `store migrate` has nothing left to do, and says so.
    let cfg = write_gateway_store_config(&env, &env.config());
    let out = common::run_binary(&["store", "migrate", "--config", cfg.to_str().unwrap()]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{out:?}");
    assert!(
        stdout.contains(&format!("version {CURRENT_VERSION}")),
        "{stdout}"
    );
}

#[tokio::test]
async fn store_migrate_command_upgrades_an_old_file_then_finds_nothing_to_do() {
    let env = Env::sqlite();
    previous_release_file(
        &env.sqlite_path(),
        &DataKey::from_hex(&env.key_hex).unwrap(),
    );
    let cfg = write_gateway_store_config(&env, &env.config());
    let run = || common::run_binary(&["store", "migrate", "--config", cfg.to_str().unwrap()]);
    let out = run();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{out:?}");
    assert!(
        stdout.contains(&format!("de la version 1 à la version {CURRENT_VERSION}")),
        "{stdout}"
    );
    let out = run();
    assert!(out.status.success(), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stdout).contains("schéma à jour"));
}

#[tokio::test]
async fn postgres_schema_from_scratch_once_with_concurrent_starts() {
    let env = Env::postgres();
    // Several instances starting together: each migrates or finds it done.
    let cfg = env.config();
    let starts: Vec<_> = (0..4)
        .map(|_| {
            let c = cfg.clone();
            tokio::spawn(async move { c.open_durable().await.map(|_| ()) })
        })
        .collect();
    for s in starts {
        s.await.unwrap().expect("concurrent start");
    }
    let pg = env.pg();
    assert_eq!(
        pg.psql(
            "gw",
            "SELECT string_agg(version::text, ',' ORDER BY version) FROM schema_migrations"
        ),
        (1..=CURRENT_VERSION)
            .map(|v| v.to_string())
            .collect::<Vec<_>>()
            .join(",")
    );
    assert_eq!(
        pg.psql(
            "gw",
            "SELECT COUNT(*) FROM store_meta WHERE name = 'data_key_check'"
        ),
        "1"
    );
    for table in ["user_security", "recovery_code", "store_meta"] {
        assert_eq!(
            pg.psql("gw", &format!("SELECT to_regclass('{table}') IS NOT NULL")),
            "t"
        );
    }
}

// ------------------------------------------------------ pre-flight

#[tokio::test]
async fn preflight_reports_every_problem_and_changes_nothing() {
    let env = Env::sqlite();
    // A missing directory for the SQLite file.
    let mut c = env.config();
    c.sqlite_path = env.dir.path().join("missing-dir/state.sqlite3");
    let problems = c.durable_preflight().await;
    assert!(
        problems
            .iter()
            .any(|p| p.starts_with("auth.store.sqlite_path") && p.contains("missing-dir")),
        "{problems:?}"
    );
    // A file to create in an existing directory is fine, and is not created.
    assert!(env.config().durable_preflight().await.is_empty());
    assert!(!env.sqlite_path().exists());
    // A file that is not SQLite.
    std::fs::write(
        env.sqlite_path(),
        "not a database, just text padding it out",
    )
    .unwrap();
    let problems = env.config().durable_preflight().await;
    assert!(
        problems
            .iter()
            .any(|p| p.starts_with("auth.store.sqlite_path")),
        "{problems:?}"
    );
    // PostgreSQL settings: all reported at once.
    let pg = StoreConfig {
        durable_backend: DurableBackend::Postgres,
        postgres_url: "postgres://gw:inline@db.example.fr/x".into(),
        postgres_ca_file: Some(env.dir.path().join("nope.pem")),
        postgres_pool_size: 0,
        data_key: None,
        ..Default::default()
    };
    let problems = pg.durable_preflight().await;
    for key in [
        "auth.store.postgres_url",
        "auth.store.postgres_ca_file",
        "auth.store.postgres_pool_size",
        "auth.store.data_key_file",
    ] {
        assert!(
            problems.iter().any(|p| p.starts_with(key)),
            "{key}: {problems:?}"
        );
    }
    assert!(
        !problems.iter().any(|p| p.contains("inline")),
        "password shown: {problems:?}"
    );
    // A CA file that is not PEM.
    let not_pem = env.dir.path().join("ca.txt");
    std::fs::write(&not_pem, "hello").unwrap();
    let cfg = StoreConfig {
        durable_backend: DurableBackend::Postgres,
        postgres_url: "postgres://gw@localhost:1/x".into(),
        postgres_ca_file: Some(not_pem),
        data_key: Some(Secret::new(random_key_hex())),
        ..Default::default()
    };
    let problems = cfg.durable_preflight().await;
    assert!(
        problems
            .iter()
            .any(|p| p.contains("auth.store.postgres_ca_file") && p.contains("no PEM")),
        "{problems:?}"
    );
}

// ------------------------------------------------------ store copy

/// A gateway configuration file holding `store` as `[auth.store]` (the data key
/// and password as files).
fn write_gateway_store_config(env: &Env, store: &StoreConfig) -> PathBuf {
    let key = env.dir.path().join("data.key");
    std::fs::write(&key, store.data_key.as_ref().unwrap().expose()).unwrap();
    let mut text = format!(
        "[auth.store]\ndurable_backend = \"{}\"\nsqlite_path = {:?}\npostgres_url = {:?}\n\
         data_key_file = {:?}\npostgres_pool_size = {}\n",
        store.durable_backend.as_str(),
        store.sqlite_path,
        store.postgres_url,
        key,
        store.postgres_pool_size
    );
    if let Some(pw) = &store.postgres_password {
        let f = env.dir.path().join("pg.password");
        std::fs::write(&f, pw.expose()).unwrap();
        text.push_str(&format!("postgres_password_file = {f:?}\n"));
    }
    if let Some(ca) = &store.postgres_ca_file {
        text.push_str(&format!("postgres_ca_file = {ca:?}\n"));
    }
    let path = env.dir.path().join("gateway.toml");
    std::fs::write(&path, text).unwrap();
    path
}

fn copy_cmd(from: &Path, to: &str, config: Option<&Path>) -> (i32, String, String) {
    let from = format!("sqlite:{}", from.display());
    let to = format!("postgres:{to}");
    let mut args = vec!["store", "copy", "--from", &from, "--to", &to];
    let cfg;
    if let Some(c) = config {
        cfg = c.display().to_string();
        args.extend(["--config", &cfg]);
    }
    let out = common::run_binary(&args);
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn line<'a>(stdout: &'a str, table: &str) -> &'a str {
    stdout
        .lines()
        .find(|l| l.trim_start().starts_with(&format!("{table} :")))
        .unwrap_or_else(|| panic!("no {table} line in {stdout}"))
}

#[tokio::test]
async fn store_copy_is_idempotent_counts_rows_and_never_overwrites() {
    let env = Env::postgres();
    let pg = env.pg();
    // The source: the previous release's file, then used by this release.
    let source_env = Env {
        dir: tempfile::tempdir().unwrap(),
        pg: None,
        key_hex: env.key_hex.clone(),
    };
    let key = DataKey::from_hex(&env.key_hex).unwrap();
    previous_release_file(&source_env.sqlite_path(), &key);
    {
        let s = source_env.open().await;
        s.set_totp_secret("carol", Some(SECRET)).await.unwrap();
        s.set_otp_channel("carol", Some(OtpChannel::Totp))
            .await
            .unwrap();
        s.set_psc_override("810101234567", "carol@x.mssante.fr")
            .await
            .unwrap();
    }
    let source = source_env.sqlite_path();
    let before = std::fs::read(&source).unwrap();
    let url = pg.socket_url("gw");

    let (code, stdout, stderr) = copy_cmd(&source, &url, None);
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    assert!(
        line(&stdout, "user_security")
            .contains("3 dans la source, 3 copiée(s), 0 déjà présente(s)"),
        "{stdout}"
    );
    assert!(
        line(&stdout, "recovery_code").contains("2 dans la source, 2 copiée(s)"),
        "{stdout}"
    );
    assert!(
        line(&stdout, "store_meta").contains("1 copiée(s)"),
        "{stdout}"
    );
    assert!(
        line(&stdout, "psc_overrides").contains("1 dans la source, 1 copiée(s)"),
        "{stdout}"
    );
    assert_eq!(
        std::fs::read(&source).unwrap(),
        before,
        "the source was written"
    );

    // Again: nothing more, and it says so.
    let (code, stdout, stderr) = copy_cmd(&source, &url, None);
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    assert!(
        line(&stdout, "user_security").contains("0 copiée(s), 3 déjà présente(s)"),
        "{stdout}"
    );
    assert!(
        line(&stdout, "recovery_code").contains("0 copiée(s), 2 déjà présente(s)"),
        "{stdout}"
    );
    assert!(
        line(&stdout, "psc_overrides").contains("0 copiée(s), 1 déjà présente(s)"),
        "{stdout}"
    );

    // The gateway on PostgreSQL opens the copied secrets with the same key.
    let target = env.open().await;
    assert_eq!(
        target.totp_secret("alice").await.unwrap().unwrap().expose(),
        SECRET
    );
    assert_eq!(target.get("alice").await.unwrap().recovery_codes_left, 2);
    assert!(!target.accept_totp_step("alice", 500).await.unwrap());
    assert_eq!(
        target
            .psc_override("810101234567")
            .await
            .unwrap()
            .as_deref(),
        Some("carol@x.mssante.fr")
    );

    // A code used and a channel changed on the target are not undone by a new copy.
    assert!(target
        .consume_recovery_code("alice", vec![1; 32])
        .await
        .unwrap());
    target
        .set_otp_channel("carol", Some(OtpChannel::Email))
        .await
        .unwrap();
    target
        .set_psc_override("810101234567", "carol.b@x.mssante.fr")
        .await
        .unwrap();
    let (code, stdout, stderr) = copy_cmd(&source, &url, None);
    assert_eq!(code, 2, "{stdout}\n{stderr}");
    assert!(
        stderr.contains("alice") && stderr.contains("carol") && stderr.contains("810101234567"),
        "{stderr}"
    );
    assert!(
        line(&stdout, "user_security").contains("1 déjà présente(s), 2 laissée(s)"),
        "{stdout}"
    );
    assert!(
        line(&stdout, "psc_overrides").contains("0 déjà présente(s), 1 laissée(s)"),
        "{stdout}"
    );
    assert_eq!(
        target
            .psc_override("810101234567")
            .await
            .unwrap()
            .as_deref(),
        Some("carol.b@x.mssante.fr"),
        "the target's link is kept"
    );
    assert!(!target
        .consume_recovery_code("alice", vec![1; 32])
        .await
        .unwrap());
    assert_eq!(
        target.get("carol").await.unwrap().otp_channel,
        Some(OtpChannel::Email)
    );

    // With --config the key is checked on both sides: another key is refused and
    // nothing is written.
    let mut other = env.config();
    other.data_key = Some(Secret::new(random_key_hex()));
    let other_cfg = write_gateway_store_config(&source_env, &other);
    let (code, _, stderr) = copy_cmd(&source, &url, Some(&other_cfg));
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("auth.store.data_key_file"), "{stderr}");

    // A target whose schema is newer than the binary is refused.
    env.set_schema_version(CURRENT_VERSION + 1);
    let (code, _, stderr) = copy_cmd(&source, &url, None);
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("newer than this binary"), "{stderr}");
}

#[tokio::test]
async fn store_copy_without_the_key_refuses_a_target_sealed_by_another_gateway() {
    let env = Env::postgres();
    // The target was started by a gateway with another key.
    let mut foreign = env.config();
    foreign.data_key = Some(Secret::new(random_key_hex()));
    foreign.open_durable().await.unwrap();
    let source_env = Env::sqlite();
    source_env
        .open()
        .await
        .set_totp_secret("alice", Some(SECRET))
        .await
        .unwrap();
    let url = env.pg().socket_url("gw");
    let (code, _, stderr) = copy_cmd(&source_env.sqlite_path(), &url, None);
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("--config"), "{stderr}");
    assert_eq!(
        env.pg().psql("gw", "SELECT COUNT(*) FROM user_security"),
        "0",
        "nothing written"
    );
}

// ------------------------------------------------------ TLS, pool, outages

fn tls_config(env: &Env) -> StoreConfig {
    StoreConfig {
        postgres_url: env.pg().tls_url("gw"),
        postgres_password: Some(Secret::new(SUPERUSER_PASSWORD)),
        postgres_ca_file: Some(env.pg().ca_file()),
        ..env.config()
    }
}

#[tokio::test]
async fn tls_with_a_private_ca() {
    common::install_crypto();
    let env = Env::postgres();
    let cfg = tls_config(&env);
    assert!(cfg.validate().is_empty(), "{:?}", cfg.validate());
    let s = cfg.open_durable().await.expect("TLS connection");
    s.set_totp_secret("alice", Some(SECRET)).await.unwrap();
    let ssl = env.pg().psql(
        "postgres",
        "SELECT bool_and(s.ssl) || ',' || COUNT(*) FROM pg_stat_ssl s \
         JOIN pg_stat_activity a USING (pid) WHERE a.application_name = 'mssante-gateway'",
    );
    assert_eq!(ssl.split(',').next(), Some("true"), "{ssl}");
    // The system roots do not know the private CA: refused.
    let no_ca = StoreConfig {
        postgres_ca_file: None,
        ..cfg.clone()
    };
    let err = no_ca.open_durable().await.unwrap_err().to_string();
    assert!(
        err.contains("cannot reach") && err.contains("certificate"),
        "{err}"
    );
    // A name the certificate does not carry is refused too.
    let wrong_name = StoreConfig {
        postgres_url: format!("postgres://postgres@127.0.0.2:{}/gw", env.pg().port),
        ..cfg.clone()
    };
    assert!(wrong_name.open_durable().await.is_err());
    // A wrong password: refused, and the password never appears in the message.
    let bad_pw = StoreConfig {
        postgres_password: Some(Secret::new("not-the-password-xyz")),
        ..cfg
    };
    let err = bad_pw.open_durable().await.unwrap_err().to_string();
    assert!(err.contains("password authentication failed"), "{err}");
    assert!(!err.contains("not-the-password-xyz") && !err.contains(SUPERUSER_PASSWORD));
}

#[tokio::test]
async fn pool_exhaustion_and_slow_statements_give_clean_errors() {
    let env = Env::postgres();
    let cfg = StoreConfig {
        postgres_pool_size: 1,
        postgres_acquire_timeout_ms: 300,
        postgres_statement_timeout_ms: 400,
        ..env.config()
    };
    let s = cfg.open_durable().await.unwrap();
    s.set_totp_secret("alice", Some(SECRET)).await.unwrap();
    let mssante_gateway::store::durable::Backend::Postgres(pg) = s.backend() else {
        panic!("postgres backend");
    };
    // The only connection is taken: the next operation waits 300 ms, then fails.
    let held = pg.pool().get().await.unwrap();
    let t = Instant::now();
    let err = s.get("alice").await.unwrap_err();
    assert!(matches!(err, StoreError::Unavailable(_)), "{err}");
    assert!(
        err.to_string().contains("auth.store.postgres_pool_size"),
        "{err}"
    );
    assert!(t.elapsed() < Duration::from_secs(3), "{:?}", t.elapsed());
    drop(held);
    s.get("alice").await.unwrap();

    // A row locked elsewhere: the statement is cancelled after 400 ms.
    let (client, conn) = tokio_postgres::connect(
        &format!(
            "host={} port={} user=postgres dbname=gw",
            env.pg().socket_dir().display(),
            env.pg().port
        ),
        tokio_postgres::NoTls,
    )
    .await
    .unwrap();
    tokio::spawn(conn);
    client
        .batch_execute("BEGIN; SELECT * FROM user_security WHERE user_name = 'alice' FOR UPDATE")
        .await
        .unwrap();
    let t = Instant::now();
    let err = s.accept_totp_step("alice", 7).await.unwrap_err();
    assert!(err.to_string().contains("statement"), "{err}");
    assert!(t.elapsed() < Duration::from_secs(3), "{:?}", t.elapsed());
    client.batch_execute("ROLLBACK").await.unwrap();
    // Nothing half-done: the step is still free, and the store works again.
    assert!(s.accept_totp_step("alice", 7).await.unwrap());
}

#[tokio::test]
async fn postgres_going_away_fails_closed_and_recovers_without_reopening() {
    let mut env = Env::postgres();
    let s = env.open().await;
    s.set_totp_secret("alice", Some(SECRET)).await.unwrap();
    env.pg.as_mut().unwrap().stop();
    for _ in 0..3 {
        let t = Instant::now();
        assert!(s.get("alice").await.is_err());
        assert!(s.accept_totp_step("alice", 9).await.is_err());
        assert!(s.ping().await.is_err());
        assert!(t.elapsed() < Duration::from_secs(8), "{:?}", t.elapsed());
    }
    env.pg.as_mut().unwrap().restart();
    // The pool drops dead connections and opens new ones: no restart needed.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match s.get("alice").await {
            Ok(u) => {
                assert!(u.has_totp_secret);
                break;
            }
            Err(e) if Instant::now() < deadline => {
                let _ = e;
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(e) => panic!("store did not recover: {e}"),
        }
    }
    assert!(s.accept_totp_step("alice", 9).await.unwrap());
}

// ------------------------------------------------------ the gateway on PostgreSQL

fn auth_password(user: &str) -> String {
    format!(
        r#"{{"Body":{{"AuthRequest":{{"_jsns":"urn:zimbraAccount","account":{{"by":"name","_content":"{user}"}},"password":{{"_content":"{}"}}}}}}}}"#,
        common::SANDBOX_PASSWORD
    )
}

fn auth_code(stage: &str, code: &str) -> String {
    format!(
        r#"{{"Body":{{"AuthRequest":{{"_jsns":"urn:zimbraAccount","authToken":{{"_content":"{stage}"}},"twoFactorCode":{{"_content":"{code}"}}}}}}}}"#
    )
}

/// A full SOAP login (password, then TOTP `code`): the gateway token, or the answer.
async fn soap_login(gw: &common::GatewayProcess, user: &str, code: &str) -> Result<String, String> {
    let url = gw.url("/service/soap");
    let (_, v) = common::soap_json(&url, &auth_password(user)).await;
    let Some(stage) = common::json_text(&v["Body"]["AuthResponse"]["authToken"]) else {
        return Err(v.to_string());
    };
    let (_, v) = common::soap_json(&url, &auth_code(&stage, code)).await;
    common::json_text(&v["Body"]["AuthResponse"]["authToken"]).ok_or_else(|| v.to_string())
}

/// The portal's password form, submitted as a browser would: (status, page).
async fn portal_login(gw: &common::GatewayProcess, user: &str) -> (u16, String) {
    let http = common::client();
    let r = http
        .get(gw.url("/connexion"))
        .header("Accept", "text/html")
        .send()
        .await
        .unwrap();
    let cookies: Vec<String> = r
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok()?.split(';').next().map(str::to_owned))
        .collect();
    let page = r.text().await.unwrap();
    let hidden = |name: &str| {
        let marker = format!("name=\"{name}\" value=\"");
        let i = page.find(&marker).expect("hidden field") + marker.len();
        page[i..].split('"').next().unwrap().to_owned()
    };
    let form = [
        ("csrf", hidden("csrf")),
        ("username", user.to_owned()),
        ("password", common::SANDBOX_PASSWORD.to_owned()),
        ("return_to", hidden("return_to")),
    ];
    let r = http
        .post(gw.url("/connexion"))
        .header("Cookie", cookies.join("; "))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(serde_urlencoded::to_string(form).unwrap())
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

#[tokio::test]
async fn gateway_on_postgres_enrols_logs_in_and_survives_an_outage() {
    let mut env = Env::postgres();
    let sb = common::start_sandbox();
    let pw_file = env.dir.path().join("pg.password");
    std::fs::write(&pw_file, SUPERUSER_PASSWORD).unwrap();
    let extra = format!(
        "[auth.store]\ndurable_backend = \"postgres\"\npostgres_url = {:?}\n\
         postgres_password_file = {:?}\npostgres_ca_file = {:?}\n\
         postgres_connect_timeout_ms = 1000\npostgres_acquire_timeout_ms = 1000\n\
         postgres_statement_timeout_ms = 1000\n",
        env.pg().tls_url("gw"),
        pw_file,
        env.pg().ca_file()
    );
    let gw = common::start_gateway(&sb.url(""), &extra);
    const USER: &str = "antoine.lefevre@esantepdl.mssante.fr";
    let (_token, secret) = common::soap_enrol(&gw, USER).await;
    // The enrolment is in PostgreSQL, sealed.
    let pg = env.pg();
    assert_eq!(
        pg.psql(
            "gw",
            &format!("SELECT otp_channel FROM user_security WHERE user_name = '{USER}'")
        ),
        "totp"
    );
    let http = common::client();
    let ready = |gw: &common::GatewayProcess| {
        let http = http.clone();
        let url = gw.metrics_url("/readyz");
        async move { http.get(url).send().await.unwrap().status().as_u16() }
    };
    assert_eq!(ready(&gw).await, 200);

    // PostgreSQL stops: a login is refused with a fault (no token), /readyz says 503.
    env.pg.as_mut().unwrap().stop();
    let next = common::totp_at(&secret, common::unix_now() + 30);
    let refused = soap_login(&gw, USER, &next).await.unwrap_err();
    assert!(refused.contains("Fault"), "{refused}");
    assert!(!refused.contains("authToken"), "{refused}");
    assert_eq!(ready(&gw).await, 503);
    let (status, _) = common::soap_json(&gw.url("/service/soap"), &auth_password(USER)).await;
    assert_ne!(status, 200);
    let (status, page) = portal_login(&gw, USER).await;
    assert_eq!(status, 503, "{page}");
    assert!(page.contains("indisponible"), "{page}");

    // Back: the same gateway process logs the user in.
    env.pg.as_mut().unwrap().restart();
    let deadline = Instant::now() + Duration::from_secs(15);
    while ready(&gw).await != 200 {
        assert!(
            Instant::now() < deadline,
            "gateway did not become ready again"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let token = soap_login(&gw, USER, &next)
        .await
        .expect("login after recovery");
    assert!(!token.is_empty());
    // The step is used now: the same code is refused (replay) on PostgreSQL too.
    assert!(soap_login(&gw, USER, &next).await.is_err());
    assert!(
        !gw.proc.stderr().contains(SUPERUSER_PASSWORD),
        "password logged"
    );
}

#[tokio::test]
async fn gateway_refuses_to_start_with_another_data_key() {
    let env = Env::sqlite();
    env.open()
        .await
        .set_totp_secret("alice", Some(SECRET))
        .await
        .unwrap();
    let mut wrong = env.config();
    wrong.data_key = Some(Secret::new(random_key_hex()));
    let store_cfg = write_gateway_store_config(&env, &wrong);
    let store_part = std::fs::read_to_string(&store_cfg).unwrap();
    let config = env.dir.path().join("full.toml");
    let base = common::gateway_config_in("http://127.0.0.1:9", "", env.dir.path());
    // The test config's own [auth.store] is replaced by this one.
    let mut table: toml::Table = toml::from_str(&base).unwrap();
    let store: toml::Table = toml::from_str(&store_part).unwrap();
    table["auth"]
        .as_table_mut()
        .unwrap()
        .insert("store".into(), store["auth"]["store"].clone());
    std::fs::write(&config, toml::to_string(&table).unwrap()).unwrap();
    let out = common::run_binary(&["serve", "--config", config.to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(stderr.contains("auth.store.data_key_file"), "{stderr}");
    assert!(
        stderr.contains(&env.sqlite_path().display().to_string()),
        "{stderr}"
    );
}
