//! `demo`: the sandbox store on an ephemeral loopback port and the gateway in
//! front of it, in one process; prints where to log in.

use crate::auth::config::AuthConfig;
use crate::config::{Config, LogConfig};
use crate::policy::config::PolicyConfig;
use crate::{sandbox, server, telemetry};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

pub async fn run(listen: SocketAddr, password: Option<String>) -> anyhow::Result<()> {
    telemetry::init_logging(&LogConfig::default());
    // PSC's redirect URI names the gateway's port: an ephemeral one is chosen now.
    let listen = if listen.port() == 0 {
        std::net::TcpListener::bind(listen)?.local_addr()?
    } else {
        listen
    };
    let (password, generated) = match password {
        Some(p) => (p, false),
        None => (random_password(), true),
    };
    let data = sandbox::SandboxData::demo(&password);
    let accounts: Vec<String> = data.accounts.iter().map(|a| a.name.clone()).collect();
    let admin = data.admin.as_ref().map(|a| a.name.clone());
    let preauth_keys: Vec<(String, String)> = DEMO_DOMAINS
        .iter()
        .filter_map(|d| data.preauth_key(d).map(|k| (d.to_string(), k.to_string())))
        .collect();
    let store = sandbox::start(SocketAddr::from(([127, 0, 0, 1], 0)), data).await?;
    let psc_secret = random_key_hex();
    let psc = sandbox::psc::start(sandbox::psc::StandInClient {
        client_id: DEMO_PSC_CLIENT.into(),
        client_secret: psc_secret.clone(),
        redirect_uri: format!("http://{listen}{}", crate::auth::psc::config::RETURN_PATH),
        post_logout_redirect_uri: format!(
            "http://{listen}{}",
            crate::auth::psc::config::LOGGED_OUT_PATH
        ),
    })
    .await?;

    let mut config = Config::default();
    config.server.listen = listen;
    config.upstream.url = format!("http://{}", store.addr);
    config.upstream.admin_url = Some(config.upstream.url.clone());
    config.metrics.listen = SocketAddr::from(([127, 0, 0, 1], 0));
    let files = DemoDir::create(&format!("{}:{password}", admin.clone().unwrap_or_default()))?;
    demo_policy(&mut config.policy, &files.whitelist());
    config.directory.backend = crate::directory::config::BackendKind::Ldif;
    config.directory.ldif_file = files.annuaire();
    demo_auth(&mut config.auth, &files, listen);
    config.auth.psc = Some(demo_psc(&psc, psc_secret, preauth_keys));
    config.validate()?;
    let running = server::start(config).await?;

    println!("MSSanté gateway demo");
    println!("  webmail (through the gateway): http://{}/", running.addr);
    println!("  sandbox store (direct):        http://{}/", store.addr);
    if let Some(m) = running.metrics_addr {
        println!("  metrics:                       http://{m}/metrics");
    }
    println!(
        "  demo password: {password}{}",
        if generated { " (generated)" } else { "" }
    );
    println!("  accounts (all with the demo password):");
    for a in &accounts {
        println!("    {a}");
    }
    if let Some(admin) = admin {
        println!("  store admin (not reachable through the gateway): {admin}");
    }
    println!(
        "  Pro Santé Connect: a demo stand-in (« bac à sable de démonstration », {}), test identities:",
        psc.wallet
    );
    for id in sandbox::psc::IDENTITIES {
        println!(
            "    {} {} ({}) -> {}",
            id.given_name,
            id.family_name,
            id.id_nat,
            id.mailbox.unwrap_or("no mailbox (EDIT test identity)")
        );
    }
    println!("Ctrl-C to stop.");
    server::shutdown_signal().await;
    running.shutdown().await;
    drop(files);
    Ok(())
}

/// SYNTHETIC trust space of the demo (the sandbox's domains, the patient domain and
/// ~20 made-up `*.mssante.fr`): never the ANS list.
pub const DEMO_WHITELIST: &str = include_str!("../../fixtures/demo/whitelist.xml");

/// The demo annuaire (made-up entries); production has no default annuaire.
const DEMO_ANNUAIRE: &str = include_str!("../../fixtures/annuaire/sample.ldif");

/// The sandbox's own MSSanté domains (see `sandbox::SandboxData::demo`).
pub const DEMO_DOMAINS: &[&str] = &["esantepdl.mssante.fr", "chu-exemple.mssante.fr"];

/// Points the policy at the demo list; the sandbox's accounts keep their addresses.
pub fn demo_policy(p: &mut PolicyConfig, whitelist: &Path) {
    p.whitelist_source = whitelist.display().to_string();
    p.whitelist_min_domains = 10;
    p.whitelist_reload_secs = 0;
    p.mssante_domains = DEMO_DOMAINS.iter().map(|d| d.to_string()).collect();
    p.local_domains = p.mssante_domains.clone();
}

/// Sessions and security settings of the demo: state in the demo's private directory,
/// plain-HTTP loopback cookies, password resets through the sandbox's admin account.
/// Mail (emailed codes, reset links) goes to `[auth.mail]`'s default relay, so in
/// the demo the application (TOTP) channel is the one that works out of the box.
fn demo_auth(auth: &mut AuthConfig, files: &DemoDir, listen: SocketAddr) {
    auth.operator.name = "Messagerie MSSanté (démonstration)".into();
    auth.operator.public_url = format!("http://{listen}");
    auth.session.insecure_loopback_demo = true;
    auth.store.sqlite_path = files.state();
    auth.store.data_key = Some(crate::config::Secret::new(random_key_hex()));
    auth.reset.admin_credentials_file = Some(files.admin_credentials());
}

/// Client id of the gateway at the demo's PSC stand-in.
const DEMO_PSC_CLIENT: &str = "mssante-gateway-demo";

/// `[auth.psc]` of the demo: the stand-in's discovery document, the sandbox's preauth keys.
fn demo_psc(
    psc: &sandbox::psc::PscStandIn,
    secret: String,
    preauth_keys: Vec<(String, String)>,
) -> crate::auth::psc::PscConfig {
    use crate::auth::psc::config::DomainPreauthKey;
    crate::auth::psc::PscConfig {
        environment: crate::auth::psc::PscEnvironment::Custom,
        discovery_url: Some(psc.discovery_url()),
        client_id: DEMO_PSC_CLIENT.into(),
        client_secret: Some(crate::config::Secret::new(secret)),
        domain_preauth_keys: preauth_keys
            .into_iter()
            .map(|(d, k)| {
                (
                    d,
                    DomainPreauthKey {
                        key: crate::config::Secret::new(k),
                    },
                )
            })
            .collect(),
        ..Default::default()
    }
}

/// The demo's private files (trust space, admin credentials, state), removed on exit.
struct DemoDir(PathBuf);

impl DemoDir {
    fn create(admin_credentials: &str) -> anyhow::Result<Self> {
        use std::io::Write;
        use std::os::unix::fs::DirBuilderExt;
        let path = std::env::temp_dir().join(format!(
            "mssante-demo-{}-{}",
            std::process::id(),
            random_password()
        ));
        // A new directory only we can read: never reuse one someone else planted.
        std::fs::DirBuilder::new().mode(0o700).create(&path)?;
        let dir = DemoDir(path);
        std::fs::File::create_new(dir.whitelist())?.write_all(DEMO_WHITELIST.as_bytes())?;
        std::fs::File::create_new(dir.annuaire())?.write_all(DEMO_ANNUAIRE.as_bytes())?;
        std::fs::File::create_new(dir.admin_credentials())?
            .write_all(admin_credentials.as_bytes())?;
        Ok(dir)
    }

    fn whitelist(&self) -> PathBuf {
        self.0.join("whitelist.xml")
    }

    fn annuaire(&self) -> PathBuf {
        self.0.join("annuaire.ldif")
    }

    fn admin_credentials(&self) -> PathBuf {
        self.0.join("admin.credentials")
    }

    fn state(&self) -> PathBuf {
        self.0.join("state.sqlite3")
    }
}

impl Drop for DemoDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A fresh data key: the demo's state does not outlive it anyway.
fn random_key_hex() -> String {
    let mut key = [0u8; 32];
    rand::RngCore::fill_bytes(&mut rand::rng(), &mut key);
    hex::encode(key)
}

fn random_password() -> String {
    use rand::Rng;
    const ALPHABET: &[u8] = b"abcdefghjkmnpqrstuvwxyzABCDEFGHJKMNPQRSTUVWXYZ23456789";
    let mut rng = rand::rng();
    (0..14)
        .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char)
        .collect()
}
