//! `users psc-link | psc-unlink | psc-links`: the operator's `psc_overrides` table
//! (Pro Santé Connect identifier → account), for mailboxes the annuaire does not list.

use super::users::{open_durable, resolver_of, user_of};
use crate::audit::AuditEvent;
use crate::config::Config;
use anyhow::anyhow;
use serde_json::json;
use std::process::ExitCode;

/// A SubjectNameID as PSC sends it: letters, digits, `-`, `_`, 64 at most.
fn check_identifier(id: &str) -> anyhow::Result<&str> {
    let id = id.trim();
    let ok = !id.is_empty()
        && id.len() <= 64
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    ok.then_some(id).ok_or_else(|| {
        anyhow!(
            "identifiant Pro Santé Connect invalide : {id:?} (SubjectNameID attendu, \
             p. ex. 8 + RPPS : 810012345678)"
        )
    })
}

pub async fn link(cfg: &Config, identifier: &str, user: &str) -> anyhow::Result<ExitCode> {
    let id = check_identifier(identifier)?;
    let user = user_of(cfg, resolver_of(cfg)?.as_ref(), user).await?;
    let domain = user.rsplit_once('@').map(|(_, d)| d).unwrap_or("");
    match &cfg.auth.psc {
        Some(psc) if psc.preauth_key_for(domain).is_none() => {
            return Err(anyhow!(
                "aucune clé de préauthentification pour le domaine {domain} \
                 (auth.psc.preauth_key_file ou domain_preauth_keys) : la connexion ne pourrait pas aboutir"
            ))
        }
        Some(_) => {}
        None => eprintln!(
            "attention : [auth.psc] n'est pas configuré ; le lien servira quand il le sera"
        ),
    }
    let durable = open_durable(cfg).await?;
    let before = durable.psc_override(id).await?;
    durable.set_psc_override(id, &user).await?;
    AuditEvent::new("psc.link")
        .user(&user)
        .detail(json!({"identifier": id, "previous": before}))
        .emit();
    match before {
        Some(old) if old != user => println!("{id} : lien {old} remplacé par {user}"),
        _ => println!("{id} relié à {user}"),
    }
    Ok(ExitCode::SUCCESS)
}

pub async fn unlink(cfg: &Config, identifier: &str) -> anyhow::Result<ExitCode> {
    let id = check_identifier(identifier)?;
    let durable = open_durable(cfg).await?;
    if durable.remove_psc_override(id).await? {
        AuditEvent::new("psc.unlink")
            .detail(json!({"identifier": id}))
            .emit();
        println!("lien de {id} supprimé");
    } else {
        println!("{id} n'avait pas de lien : rien à supprimer");
    }
    Ok(ExitCode::SUCCESS)
}

pub async fn list(cfg: &Config) -> anyhow::Result<ExitCode> {
    let links = open_durable(cfg).await?.psc_overrides().await?;
    if links.is_empty() {
        println!("aucun lien Pro Santé Connect");
    }
    for (id, user) in links {
        println!("{id}\t{user}");
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers() {
        assert!(check_identifier("810101234567").is_ok());
        assert!(check_identifier("ANS20231122132732").is_ok());
        assert!(check_identifier("a b").is_err());
        assert!(check_identifier("").is_err());
        assert!(check_identifier(&"9".repeat(65)).is_err());
    }
}
