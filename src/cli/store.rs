//! `mssante-gateway store migrate|copy`: the durable store's schema and the move from
//! SQLite to PostgreSQL (S2). Operator output in French, like the other
//! administration commands.

use crate::auth::config::AuthConfig;
use crate::config::Config;
use crate::store::durable::copy::{self, Endpoint};
use crate::store::durable::{sqlite, DurableBackend, PostgresSettings, PostgresStore};
use crate::store::{StoreConfig, StoreError};
use anyhow::{anyhow, bail};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// The durable store: schema migrations, copy from SQLite to PostgreSQL.
#[derive(Debug, clap::Args)]
pub struct StoreArgs {
    #[command(subcommand)]
    pub command: StoreCommand,
}

#[derive(Debug, clap::Subcommand)]
pub enum StoreCommand {
    /// Bring the durable store of `[auth.store]` to this version's schema (`serve` does
    /// it at start too). A schema newer than this binary is refused.
    Migrate {
        #[arg(long)]
        config: PathBuf,
    },
    /// Copy every user's settings from a SQLite file into a PostgreSQL database.
    /// The source is only read; the target is migrated first; users already in the
    /// target with other settings are left as they are and listed. Running it again
    /// copies nothing more. With --config, the PostgreSQL password, CA and timeouts
    /// come from `[auth.store]` and the data key is checked on both sides.
    #[command(after_help = "Exit status: 0 = everything copied or already there; \
        1 = error, nothing written; 2 = copied, but some users differ in the target \
        (listed, left as in the target).")]
    Copy {
        /// sqlite:PATH
        #[arg(long)]
        from: Endpoint,
        /// postgres:postgres://user@host:5432/database (no password in the URL)
        #[arg(long)]
        to: Endpoint,
        /// Gateway configuration (its `[auth.store]` postgres_* settings and data key).
        #[arg(long)]
        config: Option<PathBuf>,
    },
}

pub async fn run(args: StoreArgs) -> anyhow::Result<ExitCode> {
    match args.command {
        StoreCommand::Migrate { config } => migrate(&config).await,
        StoreCommand::Copy { from, to, config } => copy_cmd(from, to, config.as_deref()).await,
    }
}

/// `[auth.store]` of `path`, its durable settings checked.
fn store_config(path: &Path) -> anyhow::Result<StoreConfig> {
    let auth: AuthConfig =
        Config::load_section(path, "auth").map_err(|e| anyhow!("{} :\n{e}", path.display()))?;
    let errors = auth.store.validate_durable();
    if !errors.is_empty() {
        bail!("{} :\n  - {}", path.display(), errors.join("\n  - "));
    }
    Ok(auth.store)
}

async fn migrate(config: &Path) -> anyhow::Result<ExitCode> {
    let store = store_config(config)?;
    let (report, location) = match store.durable_backend {
        DurableBackend::Sqlite => {
            let path = store.sqlite_path.clone();
            tokio::task::spawn_blocking(move || {
                let mut conn = rusqlite::Connection::open(&path)?;
                conn.pragma_update(None, "busy_timeout", 5000)?;
                Ok::<_, StoreError>((
                    sqlite::migrate(&mut conn)?,
                    format!("le fichier SQLite {}", path.display()),
                ))
            })
            .await??
        }
        DurableBackend::Postgres => {
            let pg = PostgresStore::connect(&PostgresSettings::from_config(&store)).await?;
            (pg.migrate().await?, pg.location().to_owned())
        }
    };
    if report.from == report.to {
        println!("schéma à jour : version {} ({location})", report.to);
    } else {
        println!(
            "schéma migré de la version {} à la version {} ({location})",
            report.from, report.to
        );
    }
    Ok(ExitCode::SUCCESS)
}

async fn copy_cmd(from: Endpoint, to: Endpoint, config: Option<&Path>) -> anyhow::Result<ExitCode> {
    let Endpoint::Sqlite(source) = from else {
        bail!("--from : seule une source sqlite:CHEMIN est prise en charge");
    };
    let Endpoint::Postgres(url) = to else {
        bail!("--to : seule une cible postgres:URL est prise en charge");
    };
    let store = match config {
        Some(path) => store_config(path)?,
        None => StoreConfig::default(),
    };
    let key = match config {
        Some(_) => Some(store.load_data_key()?),
        None => None,
    };
    let mut settings = PostgresSettings::from_config(&store);
    settings.url = url;
    if let Err(e) = crate::store::durable::postgres_config::parse_url(&settings.url) {
        bail!("--to : {e}");
    }
    let report = copy::sqlite_to_postgres(source.clone(), &settings, key.as_ref()).await?;
    println!(
        "copie de {} vers {} (schéma cible : version {} → {})",
        source.display(),
        report.target,
        report.schema_from,
        report.schema_to
    );
    for t in &report.tables {
        println!(
            "  {} : {} dans la source, {} copiée(s), {} déjà présente(s), {} laissée(s) telle(s) quelle(s) dans la cible",
            t.table, t.source, t.copied, t.unchanged, t.kept_target
        );
    }
    if report.conflicts.is_empty() {
        return Ok(ExitCode::SUCCESS);
    }
    eprintln!(
        "{} utilisateur(s) ou lien(s) ont d'autres valeurs dans la cible, laissés tels quels (rien n'est écrasé) :",
        report.conflicts.len()
    );
    for name in report.conflicts.iter().take(50) {
        eprintln!("  - {name}");
    }
    if report.conflicts.len() > 50 {
        eprintln!("  … et {} autre(s)", report.conflicts.len() - 50);
    }
    Ok(ExitCode::from(2))
}
