//! `mssante-gateway annuaire import|check`.

use std::fs::File;
use std::io::{self, BufReader, BufWriter, Write};
use std::path::PathBuf;

use anyhow::Context;

use super::config::{BackendKind, DirectoryConfig};
use super::import::{import_extraction, ImportOptions, DEFAULT_BASE_DN};
use super::{Backend, Directory};

/// Annuaire administration (LDAP administrators).
#[derive(Debug, clap::Args)]
pub struct AnnuaireArgs {
    #[command(subcommand)]
    pub command: AnnuaireCommand,
}

#[derive(Debug, clap::Subcommand)]
pub enum AnnuaireCommand {
    /// Convert the national extraction (Extraction_Correspondance_MSSante, `|`-separated)
    /// to LDIF for the schema in deploy/ldap/. Rejected lines are reported on stderr.
    Import {
        /// Extraction file (`-` = standard input).
        file: PathBuf,
        /// LDIF output (default: standard output).
        #[arg(long, short)]
        output: Option<PathBuf>,
        /// Base DN of the entries.
        #[arg(long, default_value = DEFAULT_BASE_DN)]
        base_dn: String,
        /// Also write the base entry (its parent must exist in the directory).
        #[arg(long)]
        with_base_entry: bool,
        /// Where rejected lines and the summary go (default: standard error).
        #[arg(long)]
        report: Option<PathBuf>,
    },
    /// Check connectivity (connect, bind, search) and the attribute mapping of the
    /// `[directory]` section of a configuration file.
    Check {
        #[arg(long)]
        config: PathBuf,
    },
}

pub fn run_annuaire_cli(args: AnnuaireArgs) -> anyhow::Result<()> {
    match args.command {
        AnnuaireCommand::Import {
            file,
            output,
            base_dn,
            with_base_entry,
            report,
        } => run_import(file, output, base_dn, with_base_entry, report),
        AnnuaireCommand::Check { config } => run_check(config),
    }
}

fn run_import(
    file: PathBuf,
    output: Option<PathBuf>,
    base_dn: String,
    with_base_entry: bool,
    report: Option<PathBuf>,
) -> anyhow::Result<()> {
    let input: Box<dyn io::BufRead> = if file.as_os_str() == "-" {
        Box::new(io::stdin().lock())
    } else {
        let f = File::open(&file).with_context(|| format!("ouverture de {}", file.display()))?;
        Box::new(BufReader::with_capacity(1 << 16, f))
    };
    let out: Box<dyn Write> = match &output {
        Some(p) => {
            Box::new(File::create(p).with_context(|| format!("création de {}", p.display()))?)
        }
        None => Box::new(io::stdout().lock()),
    };
    let rep: Box<dyn Write> = match &report {
        Some(p) => {
            Box::new(File::create(p).with_context(|| format!("création de {}", p.display()))?)
        }
        None => Box::new(io::stderr()),
    };
    let opts = ImportOptions {
        base_dn,
        with_base_entry,
        ..Default::default()
    };
    let stats = import_extraction(
        input,
        BufWriter::with_capacity(1 << 16, out),
        BufWriter::new(rep),
        &opts,
    )?;
    let secs = stats.elapsed.as_secs_f64().max(1e-9);
    eprintln!(
        "import: {} lignes en {:.2} s ({:.0} lignes/s): {} écrites, {} rejetées, {} liste rouge, {} doublons",
        stats.lines,
        secs,
        stats.lines as f64 / secs,
        stats.written,
        stats.rejected,
        stats.unlisted,
        stats.duplicates
    );
    Ok(())
}

fn load_config(path: &std::path::Path) -> anyhow::Result<DirectoryConfig> {
    crate::config::Config::load_section::<DirectoryConfig>(path, "directory")
        .with_context(|| format!("section [directory] de {}", path.display()))
}

fn run_check(path: PathBuf) -> anyhow::Result<()> {
    let cfg = load_config(&path)?;
    let kind = match cfg.backend {
        BackendKind::Ldap => "ldap",
        BackendKind::Ldif => "ldif",
    };
    // Own runtime on its own thread: this may be called from inside an async main.
    let report = std::thread::spawn(move || -> anyhow::Result<String> {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        rt.block_on(async {
            let dir = Directory::from_config(&cfg)?;
            match dir.backend() {
                Backend::Ldap(l) => Ok(l.check().await?),
                Backend::Memory(m) => Ok(format!(
                    "fichier LDIF {} chargé: {} entrées",
                    cfg.ldif_file.display(),
                    m.len()
                )),
            }
        })
    })
    .join()
    .map_err(|_| anyhow::anyhow!("la vérification a échoué (panique)"))??;
    println!("annuaire ({kind}): {report}");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Debug, Parser)]
    struct Cli {
        #[command(subcommand)]
        cmd: Top,
    }
    #[derive(Debug, clap::Subcommand)]
    enum Top {
        Annuaire(AnnuaireArgs),
    }

    #[test]
    fn parses_import_and_check() {
        let c = Cli::try_parse_from([
            "x",
            "annuaire",
            "import",
            "f.txt",
            "-o",
            "o.ldif",
            "--base-dn",
            "ou=a,dc=b",
        ])
        .unwrap();
        let Top::Annuaire(a) = c.cmd;
        assert!(
            matches!(a.command, AnnuaireCommand::Import { ref base_dn, .. } if base_dn == "ou=a,dc=b")
        );
        assert!(Cli::try_parse_from(["x", "annuaire", "check", "--config", "g.toml"]).is_ok());
    }

    #[test]
    fn check_reports_ldif_backend() {
        let dir = tempfile::tempdir().unwrap();
        let ldif = dir.path().join("a.ldif");
        std::fs::write(
            &ldif,
            "dn: mail=a@x.fr,ou=a\nobjectClass: mssanteBal\nmail: a@x.fr\nsn: A\n",
        )
        .unwrap();
        let toml = dir.path().join("g.toml");
        std::fs::write(
            &toml,
            format!("[directory]\nbackend = \"ldif\"\nldif_file = {:?}\n", ldif),
        )
        .unwrap();
        run_check(toml.clone()).unwrap();
        std::fs::write(&toml, "[directory]\nbogus = 1\n").unwrap();
        assert!(run_check(toml).is_err());
    }
}
