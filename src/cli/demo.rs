//! `demo`: the sandbox store on an ephemeral loopback port and the gateway in
//! front of it, in one process; prints where to log in.

use crate::config::{Config, LogConfig};
use crate::policy::config::PolicyConfig;
use crate::{sandbox, server, telemetry};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

pub async fn run(listen: SocketAddr, password: Option<String>) -> anyhow::Result<()> {
    telemetry::init_logging(&LogConfig::default());
    let (password, generated) = match password {
        Some(p) => (p, false),
        None => (random_password(), true),
    };
    let data = sandbox::SandboxData::demo(&password);
    let accounts: Vec<String> = data.accounts.iter().map(|a| a.name.clone()).collect();
    let admin = data.admin.as_ref().map(|a| a.name.clone());
    let store = sandbox::start(SocketAddr::from(([127, 0, 0, 1], 0)), data).await?;

    let mut config = Config::default();
    config.server.listen = listen;
    config.upstream.url = format!("http://{}", store.addr);
    config.metrics.listen = SocketAddr::from(([127, 0, 0, 1], 0));
    let whitelist = DemoWhitelist::write()?;
    demo_policy(&mut config.policy, &whitelist.0);
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
    println!("Ctrl-C to stop.");
    server::shutdown_signal().await;
    running.shutdown().await;
    drop(whitelist);
    Ok(())
}

/// SYNTHETIC trust space of the demo (the sandbox's domains, the patient domain and
/// ~20 made-up `*.mssante.fr`): never the ANS list.
pub const DEMO_WHITELIST: &str = include_str!("../../fixtures/demo/whitelist.xml");

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

/// The embedded list written to a private temp file, removed on drop.
struct DemoWhitelist(PathBuf);

impl DemoWhitelist {
    fn write() -> anyhow::Result<Self> {
        use std::io::Write;
        let name = format!(
            "mssante-demo-whitelist-{}-{}.xml",
            std::process::id(),
            random_password()
        );
        let path = std::env::temp_dir().join(name);
        // create_new: never follow or reuse a file someone else planted.
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)?;
        f.write_all(DEMO_WHITELIST.as_bytes())?;
        Ok(DemoWhitelist(path))
    }
}

impl Drop for DemoWhitelist {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

fn random_password() -> String {
    use rand::Rng;
    const ALPHABET: &[u8] = b"abcdefghjkmnpqrstuvwxyzABCDEFGHJKMNPQRSTUVWXYZ23456789";
    let mut rng = rand::rng();
    (0..14)
        .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char)
        .collect()
}
