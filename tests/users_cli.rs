//! `mssante-gateway users set-contact|reset-otp|import` (regional IT): the real binary
//! on a temp configuration, checked through its output and by reopening the SQLite
//! store with the library.

use mssante_gateway::store::{DataKey, DurableStore, OtpChannel};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const BIN: &str = env!("CARGO_BIN_EXE_mssante-gateway");
const KEY_HEX: &str = "4f3c2b1a00112233445566778899aabbccddeeff0123456789abcdef01234567";

/// A temp dir with `gateway.toml` (login domain `ms.example.fr`, SQLite store,
/// data key file).
struct Env {
    dir: tempfile::TempDir,
    config: PathBuf,
}

impl Env {
    fn new() -> Env {
        let dir = tempfile::tempdir().unwrap();
        let key = dir.path().join("data.key");
        std::fs::write(&key, format!("{KEY_HEX}\n")).unwrap();
        let config = dir.path().join("gateway.toml");
        std::fs::write(
            &config,
            format!(
                "[auth]\nlogin_domain = \"ms.example.fr\"\n\
                 [auth.store]\nsqlite_path = {:?}\ndata_key_file = {:?}\n",
                dir.path().join("state.sqlite3"),
                key
            ),
        )
        .unwrap();
        Env { dir, config }
    }

    fn db_path(&self) -> PathBuf {
        self.dir.path().join("state.sqlite3")
    }

    fn file(&self, name: &str, content: &[u8]) -> PathBuf {
        let p = self.dir.path().join(name);
        std::fs::write(&p, content).unwrap();
        p
    }

    /// Runs `users <sub> --config <config> <args…>`.
    fn users(&self, sub: &str, args: &[&str]) -> Run {
        run(&[
            &["users", sub, "--config", self.config.to_str().unwrap()],
            args,
        ]
        .concat())
    }

    fn durable(&self) -> DurableStore {
        DurableStore::open_sqlite(&self.db_path(), DataKey::from_hex(KEY_HEX).unwrap()).unwrap()
    }
}

struct Run {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

impl std::fmt::Debug for Run {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "exit {:?}\n--- stdout\n{}--- stderr\n{}",
            self.code, self.stdout, self.stderr
        )
    }
}

fn run(args: &[&str]) -> Run {
    let mut cmd = Command::new(BIN);
    for (k, _) in std::env::vars() {
        if k.starts_with("GATEWAY_") {
            cmd.env_remove(k);
        }
    }
    let out: Output = cmd.args(args).output().expect("run binary");
    let r = Run {
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    };
    assert!(!r.stderr.contains("panicked"), "{r:?}");
    r
}

#[tokio::test]
async fn set_contact_stores_the_address() {
    let env = Env::new();
    let r = env.users("set-contact", &["Jean.Dupont", "Jean.Dupont@Perso.FR"]);
    assert_eq!(r.code, Some(0), "{r:?}");
    assert!(
        r.stdout
            .contains("contact de jean.dupont@ms.example.fr : Jean.Dupont@perso.fr (nouveau)"),
        "{r:?}"
    );
    assert!(r.stderr.contains("user.contact_set"), "audit event: {r:?}");

    let r = env.users(
        "set-contact",
        &["jean.dupont@ms.example.fr", "jd@autre.example.org"],
    );
    assert_eq!(r.code, Some(0), "{r:?}");
    assert!(
        r.stdout.contains("(remplace Jean.Dupont@perso.fr)"),
        "{r:?}"
    );
    let r = env.users("set-contact", &["jean.dupont", "jd@autre.example.org"]);
    assert!(r.stdout.contains("(inchangé)"), "{r:?}");

    let d = env.durable();
    assert_eq!(
        d.get("jean.dupont@ms.example.fr")
            .await
            .unwrap()
            .contact_email
            .as_deref(),
        Some("jd@autre.example.org")
    );
}

#[tokio::test]
async fn set_contact_refuses_bad_input() {
    let env = Env::new();
    for (user, email, needle) in [
        ("jean.dupont", "pas-une-adresse", "adresse e-mail invalide"),
        (
            "jean.dupont",
            "Jean <j@perso.fr>",
            "adresse e-mail invalide",
        ),
        ("jean.dupont", "j@perso", "domaine"),
        (
            "jean.dupont",
            "jean.dupont@ms.example.fr",
            "boîte protégée elle-même",
        ),
        ("jean dupont", "j@perso.fr", "nom d'utilisateur invalide"),
        ("", "j@perso.fr", "nom d'utilisateur invalide"),
    ] {
        let r = env.users("set-contact", &[user, email]);
        assert_eq!(r.code, Some(1), "{user} {email}: {r:?}");
        assert!(r.stderr.contains(needle), "{user} {email}: {r:?}");
        assert!(r.stdout.is_empty(), "{r:?}");
    }
    // Nothing was stored (the file may exist: refused before opening it or empty).
    if env.db_path().exists() {
        let d = env.durable();
        assert_eq!(
            d.get("jean.dupont@ms.example.fr")
                .await
                .unwrap()
                .contact_email,
            None
        );
    }
}

#[tokio::test]
async fn reset_otp_clears_the_second_factor() {
    let env = Env::new();
    {
        let d = env.durable();
        let u = "marie.curie@ms.example.fr";
        d.set_contact_email(u, Some("marie@perso.fr"))
            .await
            .unwrap();
        d.set_totp_secret(u, Some("JBSWY3DPEHPK3PXP"))
            .await
            .unwrap();
        d.set_otp_channel(u, Some(OtpChannel::Totp)).await.unwrap();
        assert!(d.accept_totp_step(u, 42).await.unwrap());
        d.replace_recovery_codes(u, vec![vec![1], vec![2], vec![3]])
            .await
            .unwrap();
        let s = d.get(u).await.unwrap();
        assert_eq!(
            (s.otp_channel, s.recovery_codes_left),
            (Some(OtpChannel::Totp), 3)
        );
    }
    let r = env.users("reset-otp", &["Marie.Curie"]);
    assert_eq!(r.code, Some(0), "{r:?}");
    assert!(
        r.stdout.contains(
            "second facteur de marie.curie@ms.example.fr effacé (canal totp, secret TOTP oui, 3 code(s) de secours)"
        ),
        "{r:?}"
    );
    // Memory short store: the operator is told when open sessions end.
    assert!(
        r.stdout.contains("short_backend = \"memory\"")
            && r.stdout.contains("redémarrage de la passerelle"),
        "{r:?}"
    );
    assert!(r.stderr.contains("user.otp_reset"), "audit event: {r:?}");

    let d = env.durable();
    let s = d.get("marie.curie@ms.example.fr").await.unwrap();
    assert_eq!(s.otp_channel, None);
    assert!(!s.has_totp_secret);
    assert_eq!(s.recovery_codes_left, 0);
    // The contact address stays: the user sets a new channel with it.
    assert_eq!(s.contact_email.as_deref(), Some("marie@perso.fr"));
    let r = env.users("reset-otp", &["marie.curie"]);
    assert_eq!(r.code, Some(0), "{r:?}");
    assert!(r.stdout.contains("rien à effacer"), "{r:?}");
    // Used TOTP steps were forgotten with the secret.
    d.set_totp_secret("marie.curie@ms.example.fr", Some("JBSWY3DPEHPK3PXP"))
        .await
        .unwrap();
    assert!(d
        .accept_totp_step("marie.curie@ms.example.fr", 42)
        .await
        .unwrap());
}

#[tokio::test]
async fn import_stores_good_lines_and_reports_rejected_ones() {
    let env = Env::new();
    env.durable()
        .set_contact_email("paul.martin@ms.example.fr", Some("ancien@perso.fr"))
        .await
        .unwrap();
    let csv = "username,contact_email\n\
               alice.durand,alice@perso.fr\n\
               paul.martin,paul@perso.fr\n\
               \n\
               ,vide@perso.fr\n\
               bob.leroy,bob-sans-arobase\n\
               Alice.Durand,autre@perso.fr\n\
               carl.roux,carl@perso.fr,en-trop\n\
               dora.petit;dora@perso.fr\n\
               \"eric.blanc\",\"eric@perso.fr\"\n\
               fanny.noir@ms.example.fr,fanny.noir@ms.example.fr\n";
    let file = env.file("contacts.csv", csv.as_bytes());
    let r = env.users("import", &[file.to_str().unwrap()]);
    assert_eq!(r.code, Some(2), "some lines rejected: {r:?}");
    for (line, why) in [
        (5, "nom d'utilisateur vide"),
        (6, "adresse e-mail invalide \"bob-sans-arobase\""),
        (7, "alice.durand@ms.example.fr figure déjà ligne 2"),
        (8, "3 colonne(s) au lieu de 2"),
        (9, "1 colonne(s) au lieu de 2"),
        (11, "boîte protégée elle-même"),
    ] {
        let l = r
            .stderr
            .lines()
            .find(|l| l.starts_with(&format!("ligne {line} : ")))
            .unwrap_or_else(|| panic!("line {line} not reported: {r:?}"));
        assert!(l.contains(why), "line {line}: {l}");
    }
    let reported = r.stderr.lines().filter(|l| l.starts_with("ligne ")).count();
    assert_eq!(reported, 6, "{r:?}");
    assert!(
        r.stdout.contains(
            "11 ligne(s) lue(s), 3 adresse(s) enregistrées (2 nouvelle(s), 1 modifiée(s)), 0 inchangée(s), 6 ligne(s) rejetée(s)"
        ),
        "{r:?}"
    );

    let d = env.durable();
    for (user, email) in [
        ("alice.durand", Some("alice@perso.fr")),
        ("paul.martin", Some("paul@perso.fr")),
        ("eric.blanc", Some("eric@perso.fr")),
        ("bob.leroy", None),
        ("carl.roux", None),
        ("dora.petit", None),
        ("fanny.noir", None),
    ] {
        let got = d
            .get(&format!("{user}@ms.example.fr"))
            .await
            .unwrap()
            .contact_email;
        assert_eq!(got.as_deref(), email, "{user}");
    }

    // Re-running the good lines: nothing changes, exit 0; `;` and a French header.
    let again = env.file(
        "again.csv",
        "utilisateur;email\r\nalice.durand;alice@perso.fr\r\npaul.martin;paul@perso.fr\r\n"
            .as_bytes(),
    );
    let r = env.users("import", &[again.to_str().unwrap()]);
    assert_eq!(r.code, Some(0), "{r:?}");
    assert!(
        r.stdout
            .contains("0 adresse(s) enregistrées (0 nouvelle(s), 0 modifiée(s)), 2 inchangée(s), 0 ligne(s) rejetée(s)"),
        "{r:?}"
    );
}

#[tokio::test]
async fn import_dry_run_stores_nothing() {
    let env = Env::new();
    let file = env.file(
        "c.csv",
        b"alice.durand,alice@perso.fr\nbob.leroy,bob@perso.fr\n\xff\xfe,x@perso.fr\n",
    );
    // No database yet: a dry run does not create it.
    let r = env.users("import", &["--dry-run", file.to_str().unwrap()]);
    assert_eq!(r.code, Some(2), "{r:?}");
    assert!(r.stderr.contains("ligne 3 : encodage non UTF-8"), "{r:?}");
    assert!(
        r.stdout.contains("simulation, rien n'est enregistré"),
        "{r:?}"
    );
    assert!(
        r.stdout
            .contains("2 adresse(s) à enregistrer (2 nouvelle(s)"),
        "{r:?}"
    );
    assert!(!env.db_path().exists());

    // With a database: compared, still not written.
    env.durable()
        .set_contact_email("alice.durand@ms.example.fr", Some("alice@perso.fr"))
        .await
        .unwrap();
    let r = env.users("import", &["--dry-run", file.to_str().unwrap()]);
    assert!(
        r.stdout
            .contains("1 adresse(s) à enregistrer (1 nouvelle(s), 0 modifiée(s)), 1 inchangée(s)"),
        "{r:?}"
    );
    assert_eq!(
        env.durable()
            .get("bob.leroy@ms.example.fr")
            .await
            .unwrap()
            .contact_email,
        None
    );
    assert!(!r.stderr.contains("user.contact_set"), "{r:?}");
}

#[test]
fn errors_are_precise_and_never_panic() {
    let env = Env::new();
    // Missing configuration file.
    let missing = env.dir.path().join("absent.toml");
    let r = run(&[
        "users",
        "reset-otp",
        "--config",
        missing.to_str().unwrap(),
        "x",
    ]);
    assert_eq!(r.code, Some(1), "{r:?}");
    assert!(r.stderr.contains("absent.toml"), "{r:?}");

    // No data key.
    let no_key = env.file(
        "nokey.toml",
        format!("[auth.store]\nsqlite_path = {:?}\n", env.db_path()).as_bytes(),
    );
    let r = run(&[
        "users",
        "set-contact",
        "--config",
        no_key.to_str().unwrap(),
        "jean",
        "j@perso.fr",
    ]);
    assert_eq!(r.code, Some(1), "{r:?}");
    assert!(r.stderr.contains("auth.store.data_key_file"), "{r:?}");

    // Data key file unreadable.
    let bad_key = env.file(
        "badkey.toml",
        format!(
            "[auth.store]\nsqlite_path = {:?}\ndata_key_file = \"/nonexistent/data.key\"\n",
            env.db_path()
        )
        .as_bytes(),
    );
    let r = run(&[
        "users",
        "reset-otp",
        "--config",
        bad_key.to_str().unwrap(),
        "jean",
    ]);
    assert_eq!(r.code, Some(1), "{r:?}");
    assert!(
        r.stderr.contains("data_key_file") && r.stderr.contains("/nonexistent/data.key"),
        "{r:?}"
    );

    // Unreadable CSV.
    let r = env.users(
        "import",
        &[env.dir.path().join("nope.csv").to_str().unwrap()],
    );
    assert_eq!(r.code, Some(1), "{r:?}");
    assert!(r.stderr.contains("nope.csv"), "{r:?}");

    // Exit statuses are documented.
    let r = run(&["users", "import", "--help"]);
    assert_eq!(r.code, Some(0), "{r:?}");
    assert!(
        r.stdout
            .contains("2 = file processed but some lines rejected"),
        "{r:?}"
    );
    assert!(Path::new(BIN).exists());
}
