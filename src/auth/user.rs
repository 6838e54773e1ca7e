//! The spelling rules of a login name, without asking anyone: what every name is
//! turned into before it becomes a key (see `identity` for alias resolution).

use icu_normalizer::ComposingNormalizerBorrowed;

/// Longest address accepted (RFC 5321 path limit).
const MAX_NAME_BYTES: usize = 254;

/// NFKC, lower case, NFKC again (lower-casing can undo a composition).
fn fold(s: &str) -> String {
    let nfkc = ComposingNormalizerBorrowed::new_nfkc();
    nfkc.normalize(&nfkc.normalize(s).to_lowercase())
        .into_owned()
}

/// The one spelling of a typed login name: compatibility forms folded (full-width
/// letters, `＠`, ligatures), composed and decomposed accents made one (NFKC), lower
/// case, the domain through IDNA to its ASCII form (as the store reads it), and
/// `@login_domain` added to a bare `prénom.nom` (without a login domain a bare name
/// stays bare: the store's default domain is learnt by asking it, see `identity`).
///
/// `None` for names that cannot be an account (empty, spaces, control characters,
/// `:` or `/`, several `@`, an invalid domain, over 254 bytes).
pub fn normalize_login(input: &str, login_domain: Option<&str>) -> Option<String> {
    let name = fold(input.trim());
    if name.is_empty()
        || name.len() > MAX_NAME_BYTES
        || name
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || c == ':' || c == '/')
    {
        return None;
    }
    let (local, domain) = match (name.split_once('@'), login_domain) {
        (Some((local, domain)), _) => (local.to_string(), domain.to_string()),
        (None, Some(d)) => (name.clone(), fold(d.trim())),
        // Only the store knows its default domain: `identity` asks it.
        (None, None) => return Some(name),
    };
    if local.is_empty() || domain.is_empty() || domain.contains('@') {
        return None;
    }
    let domain = idna::domain_to_ascii(&domain).ok()?;
    if domain.is_empty() || domain.starts_with('.') || domain.ends_with('.') {
        return None;
    }
    let address = format!("{local}@{domain}");
    (address.len() <= MAX_NAME_BYTES).then_some(address)
}

/// The spelling rules alone, under the name earlier code used. Keys of second-factor
/// and session state must come from `identity::AccountResolver` (before the password)
/// and the store's answer (after it), never from this.
pub fn canonical_user(input: &str, login_domain: Option<&str>) -> Option<String> {
    normalize_login(input, login_domain)
}

/// The key the gateway used before names were resolved (lower case, trimmed,
/// `@login_domain` added to a bare name): durable rows written then are found again by
/// it and moved to the canonical account (`identity::adopt_earlier_rows`).
pub fn earlier_key(input: &str, login_domain: Option<&str>) -> Option<String> {
    let name = input.trim().to_lowercase();
    if name.is_empty() || name.matches('@').count() > 1 {
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
    fn one_spelling_per_name() {
        let d = Some("mssante.example.fr");
        let want = Some("jean.dupont@mssante.example.fr");
        for typed in [
            " Jean.Dupont ",
            "jean.dupont@MSSANTE.example.fr",
            "ｊｅａｎ．ｄｕｐｏｎｔ",
            "jean.dupont＠ｍｓｓａｎｔｅ．ｅｘａｍｐｌｅ．ｆｒ",
            "JEAN.DUPONT@mssante.example.fr",
        ] {
            assert_eq!(normalize_login(typed, d).as_deref(), want, "{typed:?}");
        }
        // Composed and decomposed accents are one name; the domain is kept in ASCII.
        assert_eq!(
            normalize_login("ade\u{300}le@sante\u{301}.fr", None),
            normalize_login("adèle@SANTÉ.fr", None)
        );
        assert_eq!(
            normalize_login("x@santé.fr", None).as_deref(),
            Some("x@xn--sant-epa.fr")
        );
        assert_eq!(
            normalize_login("Jean.Dupont", None).as_deref(),
            Some("jean.dupont")
        );
        for bad in [
            "", "  ", "a b", "a@b@c", "@x", "x@", "a\u{0}b", "a:b", "a/b", "a@-.",
        ] {
            assert_eq!(normalize_login(bad, d), None, "{bad:?}");
        }
        assert_eq!(normalize_login(&"a".repeat(300), d), None);
    }

    #[test]
    fn earlier_keys() {
        let d = Some("mssante.example.fr");
        assert_eq!(
            earlier_key(" Jean.Dupont ", d).as_deref(),
            Some("jean.dupont@mssante.example.fr")
        );
        assert_eq!(
            earlier_key("jean.dupont", None).as_deref(),
            Some("jean.dupont")
        );
        assert_eq!(earlier_key("a@b@c", d), None);
    }
}
