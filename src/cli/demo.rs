//! `demo`: the sandbox store on an ephemeral loopback port and the gateway in
//! front of it, in one process; prints where to log in.

use crate::config::{Config, LogConfig};
use crate::{sandbox, server, telemetry};
use std::net::SocketAddr;

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
    Ok(())
}

fn random_password() -> String {
    use rand::Rng;
    const ALPHABET: &[u8] = b"abcdefghjkmnpqrstuvwxyzABCDEFGHJKMNPQRSTUVWXYZ23456789";
    let mut rng = rand::rng();
    (0..14)
        .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char)
        .collect()
}
