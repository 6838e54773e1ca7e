//! The server's LDAP schema as `annuaire check` reads it (RFC 4512 subschema
//! subentry): which attribute types and object classes exist, by name, so that a
//! mapped attribute the server does not know is reported instead of searched in vain.

use std::collections::HashSet;

/// Lower-cased names of the definitions (`attributeTypes` or `objectClasses` values),
/// e.g. `( 2.5.4.3 NAME ( 'cn' 'commonName' ) SUP name )` gives `cn` and `commonname`.
pub fn names<'a>(definitions: impl IntoIterator<Item = &'a String>) -> HashSet<String> {
    let mut out = HashSet::new();
    for def in definitions {
        let Some(at) = find_keyword(def, "NAME") else {
            continue;
        };
        let rest = def[at + 4..].trim_start();
        let quoted: Vec<&str> = if let Some(inner) = rest.strip_prefix('(') {
            // ( 'a' 'b' ): every other piece between quotes.
            let list = inner.split(')').next().unwrap_or("");
            list.split('\'').skip(1).step_by(2).collect()
        } else {
            // 'a': the text up to the closing quote.
            rest.strip_prefix('\'')
                .and_then(|r| r.split('\'').next())
                .into_iter()
                .collect()
        };
        for name in quoted.into_iter().filter(|n| !n.is_empty()) {
            out.insert(name.to_ascii_lowercase());
        }
    }
    out
}

/// Position of `kw` as a whole word outside quotes.
fn find_keyword(def: &str, kw: &str) -> Option<usize> {
    let mut quoted = false;
    let bytes = def.as_bytes();
    for (i, c) in def.char_indices() {
        if c == '\'' {
            quoted = !quoted;
            continue;
        }
        if quoted || !def[i..].starts_with(kw) {
            continue;
        }
        let before = i == 0 || bytes[i - 1].is_ascii_whitespace() || bytes[i - 1] == b'(';
        let after = bytes
            .get(i + kw.len())
            .is_none_or(|b| b.is_ascii_whitespace() || *b == b'(' || *b == b'\'');
        if before && after {
            return Some(i);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_single_and_multiple_names() {
        let defs = vec![
            "( 2.5.4.3 NAME ( 'cn' 'commonName' ) DESC 'RFC4519: common name(s)' SUP name )"
                .to_string(),
            "( 0.9.2342.19200300.100.1.3 NAME 'mail' EQUALITY caseIgnoreIA5Match )".to_string(),
            "( 1.3.6.1.4.1.99999.1.1 NAME 'mssanteIdNat' DESC 'NAME in desc' )".to_string(),
            "( 1.2.3 DESC 'no name here' )".to_string(),
        ];
        let n = names(&defs);
        for want in ["cn", "commonname", "mail", "mssanteidnat"] {
            assert!(n.contains(want), "{want} in {n:?}");
        }
        assert_eq!(n.len(), 4, "{n:?}");
    }
}
