//! Account → MSSanté address mapping (M2).

use super::config::PolicyConfig;
use super::domain::normalize_domain;
use thiserror::Error;

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum SenderError {
    #[error("nom de compte invalide : {0}")]
    Account(String),
    #[error(
        "aucune adresse MSSanté pour {0} (configurer policy.sender_domain ou sender_overrides)"
    )]
    NoMapping(String),
}

/// The MSSanté address of an account: explicit override, else the account itself when
/// already on one of `mssante_domains`, else the same local part on `sender_domain`.
pub fn mssante_address(account: &str, cfg: &PolicyConfig) -> Result<String, SenderError> {
    let acc = account.trim().to_ascii_lowercase();
    if let Some(a) = cfg
        .sender_overrides
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(&acc))
        .map(|(_, v)| v)
    {
        return Ok(a.trim().to_string());
    }
    let (local, dom) = acc
        .rsplit_once('@')
        .ok_or_else(|| SenderError::Account(account.into()))?;
    let dom = normalize_domain(dom).map_err(|_| SenderError::Account(account.into()))?;
    if local.is_empty() {
        return Err(SenderError::Account(account.into()));
    }
    if cfg
        .mssante_domains
        .iter()
        .any(|d| d.eq_ignore_ascii_case(&dom))
    {
        return Ok(format!("{local}@{dom}"));
    }
    match &cfg.sender_domain {
        Some(d) => Ok(format!("{local}@{}", d.to_ascii_lowercase())),
        None => Err(SenderError::NoMapping(account.into())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mapping_rules() {
        let mut c = PolicyConfig {
            sender_domain: Some("ght.mssante.fr".into()),
            mssante_domains: vec!["ght.mssante.fr".into()],
            ..Default::default()
        };
        c.sender_overrides.insert(
            "chef@hopital.local".into(),
            "dr.chef@medecin.mssante.fr".into(),
        );
        assert_eq!(
            mssante_address("Jean.Dupont@hopital.local", &c).unwrap(),
            "jean.dupont@ght.mssante.fr"
        );
        assert_eq!(
            mssante_address("a@ght.mssante.fr", &c).unwrap(),
            "a@ght.mssante.fr"
        );
        assert_eq!(
            mssante_address("chef@hopital.local", &c).unwrap(),
            "dr.chef@medecin.mssante.fr"
        );
        assert!(mssante_address("nodomain", &c).is_err());
        c.sender_domain = None;
        assert!(matches!(
            mssante_address("x@hopital.local", &c),
            Err(SenderError::NoMapping(_))
        ));
    }
}
