//! One spelling per account: every store key uses the canonical user name.

/// Lower-cased, trimmed, with `@domain` added to a bare `prénom.nom`.
/// `None` for names that cannot be an account (empty, spaces, control characters,
/// several `@`, over 254 bytes).
pub fn canonical_user(input: &str, login_domain: Option<&str>) -> Option<String> {
    let name = input.trim().to_lowercase();
    if name.is_empty()
        || name.len() > 254
        || name
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || c == ':' || c == '/')
        || name.matches('@').count() > 1
        || name.starts_with('@')
        || name.ends_with('@')
    {
        return None;
    }
    match (name.contains('@'), login_domain) {
        (false, Some(d)) => Some(format!("{name}@{}", d.trim().to_lowercase())),
        _ => Some(name),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_forms() {
        let d = Some("mssante.example.fr");
        assert_eq!(
            canonical_user(" Jean.Dupont ", d).as_deref(),
            Some("jean.dupont@mssante.example.fr")
        );
        assert_eq!(
            canonical_user("jean.dupont@MSSANTE.example.fr", d).as_deref(),
            Some("jean.dupont@mssante.example.fr")
        );
        assert_eq!(
            canonical_user("jean.dupont", None).as_deref(),
            Some("jean.dupont")
        );
        for bad in ["", "  ", "a b", "a@b@c", "@x", "x@", "a\u{0}b", "a:b"] {
            assert_eq!(canonical_user(bad, d), None, "{bad:?}");
        }
    }
}
