//! mssante-gateway command line: parse, then dispatch to `cli::*`.

use clap::{Parser, Subcommand};
use mssante_gateway::cli;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

/// `--version`: the package version and the commit it was built from.
const LONG_VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (commit ",
    env!("MSSANTE_BUILD_COMMIT"),
    ")"
);

#[derive(Parser)]
#[command(
    name = "mssante-gateway",
    version = LONG_VERSION,
    about = "MSSanté gateway in front of a Zimbra store"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the gateway.
    Serve {
        /// TOML configuration file (GATEWAY_* variables override it).
        #[arg(long)]
        config: PathBuf,
    },
    /// Run the Zimbra-compatible sandbox store (tests, demo).
    Sandbox {
        #[arg(long, default_value = "127.0.0.1:7070")]
        listen: SocketAddr,
        /// Sandbox data file (accounts, mail); built-in demo data otherwise.
        #[arg(long)]
        data: Option<PathBuf>,
        /// Serve HTTPS with this PEM certificate chain (needs --tls-key).
        #[arg(long, requires = "tls_key")]
        tls_cert: Option<PathBuf>,
        /// PEM private key of --tls-cert.
        #[arg(long, requires = "tls_cert")]
        tls_key: Option<PathBuf>,
    },
    /// Sandbox and gateway in one process; prints where to log in.
    Demo {
        #[arg(long, default_value = "127.0.0.1:8080")]
        listen: SocketAddr,
        /// Password of the demo accounts (random and printed when absent).
        #[arg(long)]
        demo_password: Option<String>,
    },
    /// Run every start check of `serve` on a configuration file: print it (secrets
    /// redacted) and the warnings, or all the problems at once.
    CheckConfig {
        file: PathBuf,
        /// Nothing on success, only the problems (systemd ExecStartPre).
        #[arg(long, short)]
        quiet: bool,
    },
    /// Print the configuration reference (for the README).
    #[command(hide = true)]
    ConfigReference,
    /// Annuaire: import the national extraction to LDIF, check the LDAP connection.
    Annuaire(mssante_gateway::directory::AnnuaireArgs),
    /// Postfix policy service: refuses recipients outside the MSSanté trust space (M8).
    MtaPolicy(mssante_gateway::mta::MtaPolicyArgs),
    /// Users (regional IT): set contact emails, reset second factors, import a CSV.
    Users(cli::users::UsersArgs),
    /// Durable store: schema migrations, copy from SQLite to PostgreSQL.
    Store(cli::store::StoreArgs),
}

fn main() -> ExitCode {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        match cli.command {
            Command::Serve { config } => cli::serve::run(&config).await,
            Command::Sandbox {
                listen,
                data,
                tls_cert,
                tls_key,
            } => cli::sandbox::run(listen, data.as_deref(), tls_cert.zip(tls_key)).await,
            Command::Demo {
                listen,
                demo_password,
            } => cli::demo::run(listen, demo_password).await,
            Command::CheckConfig { file, quiet } => {
                return Ok(cli::check_config::run(&file, quiet).await)
            }
            Command::ConfigReference => {
                print!("{}", mssante_gateway::config::render_reference());
                Ok(())
            }
            Command::Annuaire(args) => mssante_gateway::directory::run_annuaire_cli(args),
            Command::MtaPolicy(args) => mssante_gateway::mta::run_cli(args).await,
            Command::Users(args) => return cli::users::run(args).await,
            Command::Store(args) => return cli::store::run(args).await,
        }
        .map(|()| ExitCode::SUCCESS)
    });
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
