use super::*;
use rusqlite::params;

fn store() -> DurableStore {
    DurableStore::open_sqlite_memory(DataKey::generate()).unwrap()
}

fn sqlite_of(s: &DurableStore) -> &SqliteStore {
    match s.backend() {
        Backend::Sqlite(inner) => inner,
        Backend::Postgres(_) => unreachable!("these tests open SQLite"),
    }
}

#[tokio::test]
async fn settings_round_trip() {
    let s = store();
    assert_eq!(s.get("alice").await.unwrap(), UserSecurity::default());
    s.set_contact_email("alice", Some("a@perso.fr"))
        .await
        .unwrap();
    s.set_otp_channel("alice", Some(OtpChannel::Email))
        .await
        .unwrap();
    let u = s.get("alice").await.unwrap();
    assert_eq!(u.contact_email.as_deref(), Some("a@perso.fr"));
    assert_eq!(u.otp_channel, Some(OtpChannel::Email));
    assert!(!u.has_totp_secret);
    s.ping().await.unwrap();
}

#[tokio::test]
async fn totp_secret_encrypted_at_rest() {
    let s = store();
    s.set_totp_secret("alice", Some("JBSWY3DPEHPK3PXPJBSWY3DP"))
        .await
        .unwrap();
    assert_eq!(
        s.totp_secret("alice").await.unwrap().unwrap().expose(),
        "JBSWY3DPEHPK3PXPJBSWY3DP"
    );
    let inner = sqlite_of(&s);
    let raw: Vec<u8> = inner.with_connection(|c| {
        c.query_row(
            "SELECT totp_secret FROM user_security WHERE user='alice'",
            [],
            |r| r.get(0),
        )
        .unwrap()
    });
    assert!(!raw.windows(8).any(|w| w == b"JBSWY3DP"));
    // A row copied to another user does not decrypt.
    inner.with_connection(|c| {
        c.execute(
            "INSERT INTO user_security (user, totp_secret) VALUES ('mallory', ?1)",
            params![raw],
        )
        .unwrap()
    });
    assert!(s.totp_secret("mallory").await.is_err());
}

#[tokio::test]
async fn totp_step_replay_refused() {
    let s = store();
    s.set_totp_secret("alice", Some("JBSWY3DPEHPK3PXP"))
        .await
        .unwrap();
    assert!(s.accept_totp_step("alice", 100).await.unwrap());
    assert!(!s.accept_totp_step("alice", 100).await.unwrap());
    assert!(!s.accept_totp_step("alice", 99).await.unwrap());
    assert!(s.accept_totp_step("alice", 101).await.unwrap());
    // Unknown user: no row, nothing accepted.
    assert!(!s.accept_totp_step("nobody", 5).await.unwrap());
}

#[tokio::test]
async fn recovery_codes_single_use() {
    let s = store();
    s.replace_recovery_codes("alice", vec![vec![1], vec![2]])
        .await
        .unwrap();
    assert_eq!(s.get("alice").await.unwrap().recovery_codes_left, 2);
    assert!(s.consume_recovery_code("alice", vec![1]).await.unwrap());
    assert!(!s.consume_recovery_code("alice", vec![1]).await.unwrap());
    assert!(!s.consume_recovery_code("bob", vec![2]).await.unwrap());
    s.clear_second_factor("alice").await.unwrap();
    assert_eq!(s.get("alice").await.unwrap().recovery_codes_left, 0);
}

#[tokio::test]
async fn migrations_are_idempotent_on_reopen_and_the_key_is_checked() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("s.sqlite3");
    let key_hex = "11".repeat(32);
    {
        let s = DurableStore::open_sqlite(&p, DataKey::from_hex(&key_hex).unwrap()).unwrap();
        s.set_totp_secret("a", Some("JBSWY3DPEHPK3PXP"))
            .await
            .unwrap();
    }
    let s = DurableStore::open_sqlite(&p, DataKey::from_hex(&key_hex).unwrap()).unwrap();
    assert!(s.get("a").await.unwrap().has_totp_secret);
    assert!(s.totp_secret("a").await.unwrap().is_some());
    let version = sqlite_of(&s).with_connection(|c| sqlite::schema_version(c).unwrap());
    assert_eq!(version, migrations::CURRENT_VERSION);
    drop(s);
    let err = DurableStore::open_sqlite(&p, DataKey::from_hex(&"22".repeat(32)).unwrap())
        .unwrap_err()
        .to_string();
    assert!(err.contains("auth.store.data_key_file"), "{err}");
}

#[tokio::test]
async fn rekey_moves_a_row_or_refuses() {
    let s = store();
    s.set_totp_secret("Alice", Some("JBSWY3DPEHPK3PXP"))
        .await
        .unwrap();
    s.set_otp_channel("Alice", Some(OtpChannel::Totp))
        .await
        .unwrap();
    s.replace_recovery_codes("Alice", vec![vec![1]])
        .await
        .unwrap();
    assert_eq!(s.user_keys().await.unwrap(), vec!["Alice"]);
    assert_eq!(s.rekey_user("Alice", "alice").await.unwrap(), Rekey::Moved);
    let u = s.get("alice").await.unwrap();
    assert_eq!(u.otp_channel, Some(OtpChannel::Totp));
    assert_eq!(u.recovery_codes_left, 0, "hashed for the old key: dropped");
    assert_eq!(
        s.totp_secret("alice").await.unwrap().unwrap().expose(),
        "JBSWY3DPEHPK3PXP",
        "sealed again for the new key"
    );
    assert_eq!(s.get("Alice").await.unwrap(), UserSecurity::default());
    assert_eq!(s.rekey_user("Alice", "alice").await.unwrap(), Rekey::Absent);
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
    assert_eq!(s.user_keys().await.unwrap(), vec!["alice", "mallory"]);
}

#[tokio::test]
async fn psc_links_link_relink_unlink() {
    let s = store();
    assert_eq!(s.psc_override("810101234567").await.unwrap(), None);
    s.set_psc_override("810101234567", "a@x.fr").await.unwrap();
    s.set_psc_override("810101234567", "b@x.fr").await.unwrap();
    s.set_psc_override("ANS20231122132732", "c@x.fr")
        .await
        .unwrap();
    assert_eq!(
        s.psc_override("810101234567").await.unwrap().as_deref(),
        Some("b@x.fr")
    );
    assert_eq!(s.psc_overrides().await.unwrap().len(), 2);
    assert!(s.remove_psc_override("810101234567").await.unwrap());
    assert!(!s.remove_psc_override("810101234567").await.unwrap());
    assert_eq!(s.psc_override("810101234567").await.unwrap(), None);
}

/// Builds before migration 3 created `psc_overrides` on first use: such a file
/// migrates and keeps its links.
#[tokio::test]
async fn psc_links_created_on_first_use_survive_the_migration() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("s.sqlite3");
    {
        let c = rusqlite::Connection::open(&p).unwrap();
        c.execute_batch(migrations::MIGRATIONS[0].sqlite).unwrap();
        c.execute_batch(
            "CREATE TABLE IF NOT EXISTS psc_overrides (
                identifier TEXT PRIMARY KEY NOT NULL,
                account TEXT NOT NULL,
                updated_at INTEGER NOT NULL DEFAULT (strftime('%s','now'))
             );
             INSERT INTO psc_overrides (identifier, account) VALUES ('810101234567', 'a@x.fr');
             PRAGMA user_version = 1;",
        )
        .unwrap();
    }
    let s = DurableStore::open_sqlite(&p, DataKey::generate()).unwrap();
    assert_eq!(
        s.psc_override("810101234567").await.unwrap().as_deref(),
        Some("a@x.fr")
    );
    let version = sqlite_of(&s).with_connection(|c| sqlite::schema_version(c).unwrap());
    assert_eq!(version, migrations::CURRENT_VERSION);
}
