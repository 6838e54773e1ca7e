//! Domain-name normalisation for trust-space checks.
//!
//! Every comparison is done on the lowercase ASCII (punycode) form, exact match only:
//! no suffix matching, no trailing dot, no IP literals. A Unicode name is mapped with
//! UTS #46 (as Zimbra's `IDNUtil.toAscii` does before sending), so a look-alike either
//! maps to a listed ASCII name or stays an unlisted `xn--` name and is refused.

use thiserror::Error;

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum DomainError {
    #[error("nom de domaine vide")]
    Empty,
    #[error("nom de domaine terminé par un point")]
    TrailingDot,
    #[error("littéral d'adresse IP refusé")]
    Literal,
    #[error("nom de domaine invalide")]
    Invalid,
}

/// Lowercase ASCII form of `raw`, or why it cannot be a trust-space domain.
pub fn normalize_domain(raw: &str) -> Result<String, DomainError> {
    let d = raw.trim();
    if d.is_empty() {
        return Err(DomainError::Empty);
    }
    // A trailing dot (or its full-width / ideographic variants) is refused outright.
    if d.ends_with(['.', '\u{3002}', '\u{FF0E}', '\u{FF61}']) {
        return Err(DomainError::TrailingDot);
    }
    if d.starts_with('[') {
        return Err(DomainError::Literal);
    }
    let ascii = if d.is_ascii() {
        d.to_ascii_lowercase()
    } else {
        idna::domain_to_ascii(d).map_err(|_| DomainError::Invalid)?
    };
    if ascii.is_empty() || ascii.ends_with('.') {
        return Err(DomainError::Invalid);
    }
    // Only LDH labels: refuses '_', '%', '@', spaces, empty labels that idna let through.
    let ok = ascii.split('.').all(|l| {
        !l.is_empty()
            && l.len() <= 63
            && !l.starts_with('-')
            && !l.ends_with('-')
            && l.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    });
    if !ok || ascii.len() > 253 {
        return Err(DomainError::Invalid);
    }
    if ascii
        .split('.')
        .all(|l| l.bytes().all(|b| b.is_ascii_digit()))
    {
        return Err(DomainError::Literal);
    }
    Ok(ascii)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lowercases_and_keeps_exact_names() {
        assert_eq!(
            normalize_domain("UC-CMP.mssante.fr").unwrap(),
            "uc-cmp.mssante.fr"
        );
        assert_eq!(
            normalize_domain(" medecin.mssante.fr ").unwrap(),
            "medecin.mssante.fr"
        );
    }

    #[test]
    fn refuses_tricks() {
        assert_eq!(
            normalize_domain("medecin.mssante.fr."),
            Err(DomainError::TrailingDot)
        );
        assert_eq!(
            normalize_domain("medecin.mssante.fr\u{3002}"),
            Err(DomainError::TrailingDot)
        );
        assert_eq!(normalize_domain("[127.0.0.1]"), Err(DomainError::Literal));
        assert_eq!(normalize_domain("127.0.0.1"), Err(DomainError::Literal));
        assert!(normalize_domain("a..b").is_err());
        assert!(normalize_domain("a b.fr").is_err());
        assert!(normalize_domain("a_b.fr").is_err());
        assert!(normalize_domain("").is_err());
    }

    #[test]
    fn idn_maps_to_ascii() {
        // Full-width letters map (NFKC) to the ASCII name: same destination for Zimbra.
        assert_eq!(
            normalize_domain("ｍｅｄｅｃｉｎ.mssante.fr").unwrap(),
            "medecin.mssante.fr"
        );
        // Cyrillic 'е' look-alike stays a distinct punycode name.
        let n = normalize_domain("m\u{0435}decin.mssante.fr").unwrap();
        assert!(n.starts_with("xn--"), "{n}");
        assert_ne!(n, "medecin.mssante.fr");
    }
}
