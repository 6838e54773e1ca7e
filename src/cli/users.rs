//! `mssante-gateway users set-contact|reset-otp|import|unban|migrate-keys|psc-link…`: user
//! administration for regional IT, on the durable store of `[auth.store]` (and the
//! Redis short store when the gateway uses one, to end sessions and lift bans at once).
//!
//! A user name designates its account as at login (`auth::identity`): spelling rules,
//! and aliases through the store's admin API when `upstream.admin_url` and the admin
//! credentials are configured.
//!
//! Operator output is in French, like the other administration commands.

use crate::audit::AuditEvent;
use crate::auth::clock::Clock;
use crate::auth::identity::{migrate_durable_keys, AccountResolver};
use crate::auth::regulation::Regulator;
use crate::auth::session::SessionManager;
use crate::auth::upstream::UpstreamClient;
use crate::auth::user::normalize_login;
use crate::config::Config;
use crate::policy::address::parse_address_list;
use crate::proxy::upstream::Upstream;
use crate::store::{DurableStore, ShortBackend};
use anyhow::{anyhow, Context};
use std::collections::HashMap;
use std::fs::File;
use std::io::{self, BufRead, BufReader, Write};
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// User administration (regional IT): contact address, second-factor reset, CSV import.
#[derive(Debug, clap::Args)]
pub struct UsersArgs {
    #[command(subcommand)]
    pub command: UsersCommand,
}

#[derive(Debug, clap::Subcommand)]
pub enum UsersCommand {
    /// Set a user's contact email (where emailed codes and reset links are sent).
    SetContact {
        /// Gateway configuration file (`[auth]` login_domain and `[auth.store]` are used).
        #[arg(long)]
        config: PathBuf,
        /// User name (`prénom.nom` gets `auth.login_domain` appended).
        user: String,
        /// Contact email address, outside the protected mailbox (`local@domain`).
        email: String,
    },
    /// Forget a user's second factor (TOTP secret, channel, recovery codes, used steps):
    /// the user chooses a new channel at next login. With a Redis short store the
    /// user's open sessions end at once; in memory they end at their timeout or when
    /// the gateway restarts.
    ResetOtp {
        #[arg(long)]
        config: PathBuf,
        user: String,
    },
    /// Import contact emails from a CSV file: two columns, user name and email,
    /// separated by `,` or `;`, optional header line (`username,contact_email`,
    /// `utilisateur;email`…). Rejected lines are reported on stderr with their number
    /// and reason; the summary goes to stdout.
    #[command(after_help = "Exit status: 0 = every line imported; \
        2 = file processed but some lines rejected (good lines are stored); \
        1 = nothing or part done because of an error (configuration, data key, unreadable file, store).")]
    Import {
        #[arg(long)]
        config: PathBuf,
        /// CSV file (UTF-8; `-` = standard input).
        file: PathBuf,
        /// Check every line and report, store nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// Lift login bans at once (Redis short store only: in memory they live in the
    /// gateway's process). With a user: its bans from every address, its slow-down
    /// and its second-factor lock; with --address: that address's ban and its bans on
    /// every account; with both: that pair.
    Unban {
        #[arg(long)]
        config: PathBuf,
        /// User name (any spelling of the account).
        user: Option<String>,
        /// Client address (IPv4, or IPv6: its whole /64).
        #[arg(long)]
        address: Option<IpAddr>,
    },
    /// Move second-factor rows kept under another spelling of an account (earlier
    /// versions keyed on what was typed: case, Unicode forms, aliases) to the account
    /// itself; rows of accounts that have their own are reported and left unused.
    MigrateKeys {
        #[arg(long)]
        config: PathBuf,
    },
    /// Link a Pro Santé Connect identifier (SubjectNameID: 8+RPPS, 0+ADELI or a test
    /// identity) to an account, for a mailbox the annuaire does not list (psc_overrides).
    PscLink {
        #[arg(long)]
        config: PathBuf,
        identifier: String,
        user: String,
    },
    /// Remove the link of a Pro Santé Connect identifier.
    PscUnlink {
        #[arg(long)]
        config: PathBuf,
        identifier: String,
    },
    /// List the Pro Santé Connect links.
    PscLinks {
        #[arg(long)]
        config: PathBuf,
    },
}

/// Exit status of `users import` when some lines were rejected.
pub const EXIT_LINES_REJECTED: u8 = 2;

pub async fn run(args: UsersArgs) -> anyhow::Result<ExitCode> {
    match args.command {
        UsersCommand::SetContact {
            config,
            user,
            email,
        } => set_contact(&config, &user, &email).await,
        UsersCommand::ResetOtp { config, user } => reset_otp(&config, &user).await,
        UsersCommand::Import {
            config,
            file,
            dry_run,
        } => import(&config, &file, dry_run).await,
        UsersCommand::Unban {
            config,
            user,
            address,
        } => unban(&config, user.as_deref(), address).await,
        UsersCommand::MigrateKeys { config } => migrate_keys(&config).await,
        UsersCommand::PscLink {
            config,
            identifier,
            user,
        } => super::users_psc::link(&load_config(&config)?, &identifier, &user).await,
        UsersCommand::PscUnlink { config, identifier } => {
            super::users_psc::unlink(&load_config(&config)?, &identifier).await
        }
        UsersCommand::PscLinks { config } => super::users_psc::list(&load_config(&config)?).await,
    }
}

fn load_config(path: &Path) -> anyhow::Result<Config> {
    let cfg = Config::load(path).map_err(|e| anyhow!("{}:\n{e}", path.display()))?;
    crate::telemetry::init_logging(&cfg.log);
    Ok(cfg)
}

/// The durable store the gateway uses (`auth.store.durable_backend`), migrated and
/// checked against the data key like at start.
pub(super) async fn open_durable(cfg: &Config) -> anyhow::Result<DurableStore> {
    cfg.auth.store.open_durable().await.map_err(|e| {
        anyhow!(
            "base de sécurité ({}) : {e}",
            cfg.auth.store.durable_backend.as_str()
        )
    })
}

/// The resolver the gateway would use, when it asks the store (admin API configured).
pub(super) fn resolver_of(cfg: &Config) -> anyhow::Result<Option<AccountResolver>> {
    let (Some(admin_url), Some(credentials)) = (
        cfg.upstream.admin_url.as_deref(),
        cfg.auth.reset.admin_credentials_file.clone(),
    ) else {
        return Ok(None);
    };
    let upstream = Upstream::new(&cfg.upstream).context("upstream")?;
    let client = UpstreamClient::new(upstream, Some(admin_url))
        .map_err(|e| anyhow!("upstream.admin_url : {e}"))?;
    Ok(Some(AccountResolver::new(
        cfg.auth.login_domain.clone(),
        client,
        Some(credentials),
        None,
    )))
}

/// The account `input` designates, as at login.
pub(super) async fn user_of(
    cfg: &Config,
    resolver: Option<&AccountResolver>,
    input: &str,
) -> anyhow::Result<String> {
    let invalid = || {
        anyhow!("nom d'utilisateur invalide : {input:?} (vide, espaces, `:` ou `/`, plusieurs `@`)")
    };
    match resolver {
        Some(r) => match r.resolve(input).await {
            Ok(n) => Ok(n.key),
            Err(crate::auth::identity::IdentityError::Invalid) => Err(invalid()),
            Err(e) => Err(anyhow!(
                "{input:?} : le serveur de messagerie n'a pas dit quel compte ce nom désigne ({e})"
            )),
        },
        None => normalize_login(input, cfg.auth.login_domain.as_deref()).ok_or_else(invalid),
    }
}

/// Checks a contact address: one plain `local@domain` (no display name, angle
/// brackets or comments), dot-atom local part, a domain of at least two labels.
/// Returns it with the domain lower-cased.
pub fn check_contact_email(input: &str) -> Result<String, String> {
    let e = input.trim();
    if e.is_empty() {
        return Err("adresse vide".into());
    }
    if e.len() > 254 {
        return Err("adresse trop longue (254 octets au plus)".into());
    }
    if e.contains(['<', '>', '"', '(', ')', ',', ';']) || e.chars().any(char::is_whitespace) {
        return Err(
            "seule l'adresse est attendue (sans nom, chevrons, guillemets, espaces ni commentaire)"
                .into(),
        );
    }
    let list = parse_address_list(e).map_err(|err| err.to_string())?;
    let [m] = list.as_slice() else {
        return Err("une seule adresse attendue".into());
    };
    if m.display.is_some() || format!("{}@{}", m.local, m.domain) != e {
        return Err("seule l'adresse est attendue (prenom.nom@domaine.fr)".into());
    }
    let local_ok = !m.local.is_empty()
        && m.local.len() <= 64
        && m.local.split('.').all(|atom| {
            !atom.is_empty()
                && atom.chars().all(|c| {
                    c.is_ascii_alphanumeric() || "!#$%&'*+-/=?^_`{|}~".contains(c) || !c.is_ascii()
                })
        });
    if !local_ok {
        return Err(format!(
            "partie avant @ non admise : {:?} (64 caractères au plus, points non doublés ni en bord)",
            m.local
        ));
    }
    let domain = m.domain.to_lowercase();
    let labels: Vec<&str> = domain.split('.').collect();
    let domain_ok = labels.len() >= 2
        && labels.iter().all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || !c.is_ascii())
        })
        && labels
            .last()
            .is_some_and(|tld| !tld.chars().all(|c| c.is_ascii_digit()));
    if !domain_ok {
        return Err(format!(
            "domaine non admis : {:?} (attendu : domaine.fr, sous.domaine.fr…)",
            m.domain
        ));
    }
    Ok(format!("{}@{domain}", m.local))
}

/// The contact address must lead outside the protected mailbox: codes sent to the
/// mailbox they protect would not be a second factor.
fn check_not_self(user: &str, email: &str) -> Result<(), String> {
    if user.eq_ignore_ascii_case(email) {
        Err("l'adresse de contact ne peut pas être la boîte protégée elle-même".into())
    } else {
        Ok(())
    }
}

async fn set_contact(config: &Path, user: &str, email: &str) -> anyhow::Result<ExitCode> {
    let cfg = load_config(config)?;
    let resolver = resolver_of(&cfg)?;
    let user = user_of(&cfg, resolver.as_ref(), user).await?;
    let email = check_contact_email(email)
        .and_then(|e| check_not_self(&user, &e).map(|()| e))
        .map_err(|why| anyhow!("adresse e-mail invalide {email:?} : {why}"))?;
    store_knows_account(resolver.as_ref(), &user).await?;
    let durable = open_durable(&cfg).await?;
    let before = durable.get(&user).await?.contact_email;
    if before.as_deref() == Some(email.as_str()) {
        println!("contact de {user} : {email} (inchangé)");
        return Ok(ExitCode::SUCCESS);
    }
    durable.set_contact_email(&user, Some(&email)).await?;
    AuditEvent::new("user.contact_set")
        .user(user.clone())
        .detail(serde_json::json!({ "source": "cli", "replaced": before.is_some() }))
        .emit();
    match before {
        Some(old) => println!("contact de {user} : {email} (remplace {old})"),
        None => println!("contact de {user} : {email} (nouveau)"),
    }
    Ok(ExitCode::SUCCESS)
}

/// Refuses an account the mail store does not know (a typo would otherwise store a
/// contact address nobody ever uses), through the resolver's admin `GetAccountRequest`;
/// without the admin API (`upstream.admin_url`, `auth.reset.admin_credentials_file`) it
/// says it could not check.
async fn store_knows_account(resolver: Option<&AccountResolver>, user: &str) -> anyhow::Result<()> {
    let Some(resolver) = resolver else {
        eprintln!(
            "attention : compte {user} non vérifié auprès de la messagerie \
             (upstream.admin_url et auth.reset.admin_credentials_file ne sont pas configurés)"
        );
        return Ok(());
    };
    match resolver.resolve(user).await {
        Ok(name) if name.account.is_some() => Ok(()),
        Ok(_) => Err(anyhow!(
            "compte inconnu de la messagerie : {user} (vérifiez le nom ; rien n'est modifié)"
        )),
        Err(e) => Err(anyhow!(
            "vérification du compte {user} impossible, rien n'est modifié : {e}"
        )),
    }
}

async fn reset_otp(config: &Path, user: &str) -> anyhow::Result<ExitCode> {
    let cfg = load_config(config)?;
    let user = user_of(&cfg, resolver_of(&cfg)?.as_ref(), user).await?;
    let durable = open_durable(&cfg).await?;
    let before = durable.get(&user).await?;
    durable.clear_second_factor(&user).await?;
    let had =
        before.otp_channel.is_some() || before.has_totp_secret || before.recovery_codes_left > 0;
    if had {
        println!(
            "second facteur de {user} effacé (canal {}, secret TOTP {}, {} code(s) de secours) : \
             un nouveau canal sera choisi à la prochaine connexion",
            before.otp_channel.map(|c| c.as_str()).unwrap_or("aucun"),
            if before.has_totp_secret { "oui" } else { "non" },
            before.recovery_codes_left
        );
    } else {
        println!("{user} n'avait pas de second facteur enregistré : rien à effacer");
    }
    let session = &cfg.auth.session;
    let revoked = if cfg.auth.store.short_backend == ShortBackend::Redis {
        let short = cfg.auth.store.open_short(Clock::System).await;
        match short {
            Ok(short) => match SessionManager::new(session.clone(), short)
                .revoke_all(&user)
                .await
            {
                Ok(n) => Some(n),
                Err(e) => return sessions_not_closed(&user, &e.to_string()),
            },
            Err(e) => return sessions_not_closed(&user, &e.to_string()),
        }
    } else {
        None
    };
    AuditEvent::new("user.otp_reset")
        .user(user.clone())
        .detail(serde_json::json!({ "source": "cli", "had_second_factor": had, "sessions_revoked": revoked }))
        .emit();
    match revoked {
        Some(n) => println!("{n} session(s) ouverte(s) de {user} fermée(s)"),
        None => println!(
            "note : la passerelle garde les sessions en mémoire (auth.store.short_backend = \"memory\") ; \
             les sessions déjà ouvertes de {user} se terminent à leur expiration \
             (au plus {} min d'inactivité, {} h en tout) ou au redémarrage de la passerelle",
            session.inactivity_timeout_secs / 60,
            session.absolute_lifetime_secs / 3600
        ),
    }
    Ok(ExitCode::SUCCESS)
}

fn sessions_not_closed(user: &str, why: &str) -> anyhow::Result<ExitCode> {
    AuditEvent::new("user.otp_reset")
        .user(user.to_string())
        .detail(serde_json::json!({ "source": "cli", "sessions_revoked": null, "error": why }))
        .emit();
    eprintln!(
        "erreur : second facteur effacé, mais les sessions ouvertes de {user} n'ont pas pu être fermées \
         (stockage court Redis : {why}) ; relancer la commande quand Redis répond"
    );
    Ok(ExitCode::FAILURE)
}

/// Counts of one import.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ImportStats {
    /// Lines read, blank ones and the header included.
    pub lines: u64,
    /// Users without a contact address before.
    pub added: u64,
    /// Users whose contact address changed.
    pub changed: u64,
    /// Users who already had this address (nothing written).
    pub unchanged: u64,
    pub rejected: u64,
}

/// What the import writes to.
pub enum ImportTarget<'a> {
    /// Store the addresses.
    Store(&'a DurableStore),
    /// Compare with the store, write nothing.
    DryRun(Option<&'a DurableStore>),
}

fn unquote(field: &str) -> String {
    let f = field.trim();
    if f.len() >= 2 && f.starts_with('"') && f.ends_with('"') {
        f[1..f.len() - 1].replace("\"\"", "\"").trim().to_string()
    } else {
        f.to_string()
    }
}

fn is_header(fields: &[String]) -> bool {
    const USER: &[&str] = &[
        "username",
        "user",
        "utilisateur",
        "login",
        "identifiant",
        "nom_utilisateur",
        "compte",
    ];
    const EMAIL: &[&str] = &[
        "email",
        "e-mail",
        "mail",
        "contact",
        "contact_email",
        "courriel",
        "adresse",
        "email_contact",
        "adresse_contact",
    ];
    match fields {
        [u, e] => {
            USER.contains(&u.to_lowercase().as_str()) && EMAIL.contains(&e.to_lowercase().as_str())
        }
        _ => false,
    }
}

/// Imports `username,email` lines from `input`. Rejected lines go to `report` as
/// `ligne N : reason`; a store failure stops the import (error).
pub async fn import_contacts(
    input: impl BufRead,
    login_domain: Option<&str>,
    resolver: Option<&AccountResolver>,
    target: ImportTarget<'_>,
    report: &mut impl Write,
) -> anyhow::Result<ImportStats> {
    let mut stats = ImportStats::default();
    let mut seen: HashMap<String, u64> = HashMap::new();
    let mut separator: Option<char> = None;
    let mut first_content_line = true;
    let mut input = input;
    let mut buf = Vec::new();
    loop {
        buf.clear();
        let n = input
            .read_until(b'\n', &mut buf)
            .with_context(|| format!("lecture après la ligne {}", stats.lines))?;
        if n == 0 {
            break;
        }
        stats.lines += 1;
        let no = stats.lines;
        let mut reject = |why: String| -> io::Result<()> {
            stats.rejected += 1;
            writeln!(report, "ligne {no} : {why}")
        };
        let Ok(text) = std::str::from_utf8(&buf) else {
            reject("encodage non UTF-8 (enregistrer le fichier en « CSV UTF-8 »)".into())?;
            continue;
        };
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        let text = text.trim_end_matches(['\n', '\r']);
        if text.trim().is_empty() {
            continue;
        }
        let sep = *separator.get_or_insert(if text.contains(';') { ';' } else { ',' });
        let fields: Vec<String> = text.split(sep).map(unquote).collect();
        let may_be_header = std::mem::replace(&mut first_content_line, false);
        if may_be_header && is_header(&fields) {
            continue;
        }
        if fields.len() != 2 {
            reject(format!(
                "{} colonne(s) au lieu de 2 (utilisateur{sep}email ; séparateur « {sep} » choisi d'après la première ligne)",
                fields.len()
            ))?;
            continue;
        }
        let (raw_user, raw_email) = (&fields[0], &fields[1]);
        if raw_user.is_empty() {
            reject("nom d'utilisateur vide".into())?;
            continue;
        }
        let resolved = match resolver {
            Some(r) => match r.resolve(raw_user).await {
                Ok(n) => Some(n.key),
                Err(crate::auth::identity::IdentityError::Invalid) => None,
                Err(e) => {
                    return Err(anyhow!(
                        "ligne {no} ({raw_user}) : compte non résolu ({e}) ; import arrêté"
                    ))
                }
            },
            None => normalize_login(raw_user, login_domain),
        };
        let Some(user) = resolved else {
            reject(format!(
                "nom d'utilisateur invalide {raw_user:?} (espaces, `:` ou `/`, plusieurs `@`)"
            ))?;
            continue;
        };
        let email = match check_contact_email(raw_email)
            .and_then(|e| check_not_self(&user, &e).map(|()| e))
        {
            Ok(e) => e,
            Err(why) => {
                reject(format!("adresse e-mail invalide {raw_email:?} : {why}"))?;
                continue;
            }
        };
        if let Some(first) = seen.get(&user) {
            reject(format!(
                "{user} figure déjà ligne {first} (cette ligne est ignorée)"
            ))?;
            continue;
        }
        seen.insert(user.clone(), no);
        let store = match &target {
            ImportTarget::Store(s) => Some(*s),
            ImportTarget::DryRun(s) => *s,
        };
        let before = match store {
            Some(s) => {
                s.get(&user)
                    .await
                    .map_err(|e| anyhow!("ligne {no} ({user}) : lecture du stockage : {e}"))?
                    .contact_email
            }
            None => None,
        };
        match before.as_deref() {
            Some(b) if b == email => {
                stats.unchanged += 1;
                continue;
            }
            Some(_) => stats.changed += 1,
            None => stats.added += 1,
        }
        if let ImportTarget::Store(s) = &target {
            s.set_contact_email(&user, Some(&email))
                .await
                .map_err(|e| {
                    anyhow!("ligne {no} ({user}) : écriture dans le stockage : {e} ; import arrêté")
                })?;
            AuditEvent::new("user.contact_set")
                .user(user)
                .detail(serde_json::json!({ "source": "import", "replaced": before.is_some() }))
                .emit();
        }
    }
    Ok(stats)
}

async fn import(config: &Path, file: &Path, dry_run: bool) -> anyhow::Result<ExitCode> {
    let cfg = load_config(config)?;
    let input: Box<dyn BufRead> = if file.as_os_str() == "-" {
        Box::new(BufReader::new(io::stdin()))
    } else {
        let f = File::open(file).with_context(|| format!("ouverture de {}", file.display()))?;
        Box::new(BufReader::with_capacity(1 << 16, f))
    };
    // A dry run never creates the database file.
    let durable = if dry_run
        && cfg.auth.store.durable_backend == crate::store::DurableBackend::Sqlite
        && !cfg.auth.store.sqlite_path.exists()
    {
        None
    } else {
        Some(open_durable(&cfg).await?)
    };
    let target = match (&durable, dry_run) {
        (Some(d), false) => ImportTarget::Store(d),
        (d, _) => ImportTarget::DryRun(d.as_ref()),
    };
    let mut report = io::stderr();
    let resolver = resolver_of(&cfg)?;
    let stats = import_contacts(
        input,
        cfg.auth.login_domain.as_deref(),
        resolver.as_ref(),
        target,
        &mut report,
    )
    .await?;
    let verb = if dry_run {
        "à enregistrer"
    } else {
        "enregistrées"
    };
    println!(
        "import {}{} : {} ligne(s) lue(s), {} adresse(s) {verb} ({} nouvelle(s), {} modifiée(s)), {} inchangée(s), {} ligne(s) rejetée(s)",
        file.display(),
        if dry_run { " (simulation, rien n'est enregistré)" } else { "" },
        stats.lines,
        stats.added + stats.changed,
        stats.added,
        stats.changed,
        stats.unchanged,
        stats.rejected
    );
    Ok(if stats.rejected > 0 {
        ExitCode::from(EXIT_LINES_REJECTED)
    } else {
        ExitCode::SUCCESS
    })
}

async fn unban(
    config: &Path,
    user: Option<&str>,
    address: Option<IpAddr>,
) -> anyhow::Result<ExitCode> {
    let cfg = load_config(config)?;
    if user.is_none() && address.is_none() {
        return Err(anyhow!(
            "indiquer un utilisateur, une adresse (--address) ou les deux"
        ));
    }
    if cfg.auth.store.short_backend != ShortBackend::Redis {
        eprintln!(
            "erreur : la passerelle garde les blocages en mémoire (auth.store.short_backend = \"memory\") : \
             cette commande ne peut pas les lever ; ils cessent d'eux-mêmes (au plus {} min) \
             ou au redémarrage de la passerelle",
            cfg.auth
                .regulation
                .ban_time_secs
                .max(cfg.auth.regulation.address_ban_secs)
                .max(cfg.auth.regulation.otp_lock_secs)
                .div_ceil(60)
        );
        return Ok(ExitCode::FAILURE);
    }
    let account = match user {
        Some(u) => Some(user_of(&cfg, resolver_of(&cfg)?.as_ref(), u).await?),
        None => None,
    };
    let short = cfg
        .auth
        .store
        .open_short(Clock::System)
        .await
        .map_err(|e| anyhow!("stockage court Redis : {e}"))?;
    Regulator::new(cfg.auth.regulation.clone(), short)
        .unban(account.as_deref(), address)
        .await
        .map_err(|e| anyhow!("stockage court Redis : {e}"))?;
    let who = match (&account, address) {
        (Some(a), Some(ip)) => format!("de {a} depuis {ip}"),
        (Some(a), None) => {
            format!("de {a} (toutes adresses, ralentissement et blocage du second facteur compris)")
        }
        (None, Some(ip)) => format!("de l'adresse {ip} (tous comptes)"),
        (None, None) => return Err(anyhow!("indiquer un utilisateur ou une adresse")),
    };
    println!("blocages {who} levés");
    Ok(ExitCode::SUCCESS)
}

async fn migrate_keys(config: &Path) -> anyhow::Result<ExitCode> {
    let cfg = load_config(config)?;
    let durable = open_durable(&cfg).await?;
    let resolver = resolver_of(&cfg)?;
    if resolver.is_none() {
        println!(
            "note : sans upstream.admin_url et identifiants d'administration, seules les règles \
             d'écriture s'appliquent (casse, formes Unicode, domaine de connexion) : les alias \
             ne sont pas résolus"
        );
    }
    let r = migrate_durable_keys(
        &durable,
        cfg.auth.login_domain.as_deref(),
        resolver.as_ref(),
    )
    .await?;
    for (from, to) in &r.moved {
        println!("{from} → {to} : déplacé");
    }
    for (from, to) in &r.refused {
        println!("{from} → {to} : refusé ({to} a déjà son propre second facteur ; la ligne {from} n'est plus lue)");
    }
    for key in &r.unchecked {
        eprintln!("{key} : compte non vérifié (serveur de messagerie indisponible) ; relancer la commande");
    }
    AuditEvent::new("user.keys_migrated")
        .detail(serde_json::json!({
            "moved": r.moved.len(), "refused": r.refused.len(), "unchecked": r.unchecked.len()
        }))
        .emit();
    println!(
        "{} ligne(s) déplacée(s), {} refusée(s), {} non vérifiée(s)",
        r.moved.len(),
        r.refused.len(),
        r.unchecked.len()
    );
    Ok(if r.unchecked.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::DataKey;

    #[test]
    fn contact_emails() {
        assert_eq!(
            check_contact_email(" Jean.Dupont@Perso.FR ").unwrap(),
            "Jean.Dupont@perso.fr"
        );
        assert!(check_contact_email("a+tag@sous.domaine.fr").is_ok());
        for bad in [
            "",
            "jean",
            "jean@",
            "@perso.fr",
            "jean@perso",
            "jean@@perso.fr",
            "a@b@perso.fr",
            "Jean <j@perso.fr>",
            "j@perso.fr (moi)",
            "\"j d\"@perso.fr",
            "j..d@perso.fr",
            ".j@perso.fr",
            "j@-perso.fr",
            "j@perso..fr",
            "j@1.2.3.4",
            "j@[1.2.3.4]",
            "j@perso.fr,k@perso.fr",
            "j@perso.fr\r\nBcc: x@y.fr",
        ] {
            assert!(check_contact_email(bad).is_err(), "{bad:?}");
        }
    }

    #[tokio::test]
    async fn import_reports_rejected_lines() {
        let d = DurableStore::open_sqlite_memory(DataKey::generate()).unwrap();
        d.set_contact_email("old@ms.fr", Some("same@perso.fr"))
            .await
            .unwrap();
        let csv = "\u{feff}utilisateur;email\r\n\
                   alice;alice@perso.fr\r\n\
                   \r\n\
                   ;x@perso.fr\n\
                   bob;pas-une-adresse\n\
                   Alice;autre@perso.fr\n\
                   carol;c@perso.fr;en trop\n\
                   \"old@ms.fr\";\"same@perso.fr\"\n\
                   dave,d@perso.fr\n\
                   eve@ms.fr;eve@ms.fr\n";
        let mut report = Vec::new();
        let stats = import_contacts(
            csv.as_bytes(),
            Some("ms.fr"),
            None,
            ImportTarget::Store(&d),
            &mut report,
        )
        .await
        .unwrap();
        let report = String::from_utf8(report).unwrap();
        assert_eq!(
            stats,
            ImportStats {
                lines: 10,
                added: 1,
                changed: 0,
                unchanged: 1,
                rejected: 6
            },
            "{report}"
        );
        for l in [4, 5, 6, 7, 9, 10] {
            assert!(report.contains(&format!("ligne {l} : ")), "{l}: {report}");
        }
        assert!(report.contains("figure déjà ligne 2"), "{report}");
        assert_eq!(
            d.get("alice@ms.fr").await.unwrap().contact_email.as_deref(),
            Some("alice@perso.fr")
        );
    }
}
