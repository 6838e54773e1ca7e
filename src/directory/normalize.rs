//! Accent- and case-folding for search keys.
//!
//! LDAP's `caseIgnoreMatch` folds case but not accents, so the importer stores a folded
//! copy of every searchable text (`mssanteNorm*` attributes) and queries are folded the
//! same way: "Hélène" and "HELENE" both become "helene".

/// Folds `s` to lowercase ASCII-ish words: diacritics removed, ligatures expanded,
/// hyphens/apostrophes/underscores turned into spaces, runs of spaces collapsed, trimmed.
pub fn fold(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut pending_space = false;
    for c in s.chars() {
        let mapped: &str = match c {
            'à' | 'á' | 'â' | 'ã' | 'ä' | 'å' | 'À' | 'Á' | 'Â' | 'Ã' | 'Ä' | 'Å' => {
                "a"
            }
            'ç' | 'Ç' => "c",
            'è' | 'é' | 'ê' | 'ë' | 'È' | 'É' | 'Ê' | 'Ë' => "e",
            'ì' | 'í' | 'î' | 'ï' | 'Ì' | 'Í' | 'Î' | 'Ï' => "i",
            'ñ' | 'Ñ' => "n",
            'ò' | 'ó' | 'ô' | 'õ' | 'ö' | 'ø' | 'Ò' | 'Ó' | 'Ô' | 'Õ' | 'Ö' | 'Ø' => {
                "o"
            }
            'ù' | 'ú' | 'û' | 'ü' | 'Ù' | 'Ú' | 'Û' | 'Ü' => "u",
            'ý' | 'ÿ' | 'Ý' | 'Ÿ' => "y",
            'œ' | 'Œ' => "oe",
            'æ' | 'Æ' => "ae",
            'ß' => "ss",
            '-' | '\'' | '’' | '_' | '\u{2010}' | '\u{2011}' | '\u{2013}' => " ",
            // Combining marks (decomposed input such as "e\u{301}") are dropped.
            '\u{300}'..='\u{36f}' => "",
            c if c.is_whitespace() => " ",
            _ => {
                if pending_space && !out.is_empty() {
                    out.push(' ');
                }
                pending_space = false;
                out.extend(c.to_lowercase());
                continue;
            }
        };
        if mapped == " " {
            pending_space = true;
        } else if !mapped.is_empty() {
            if pending_space && !out.is_empty() {
                out.push(' ');
            }
            pending_space = false;
            out.push_str(mapped);
        }
    }
    out
}

/// Header names of the extraction vary ("Code postal", "Code postal structure BAL",
/// "code_postal"): compare them as letters and digits only, folded.
pub fn header_key(s: &str) -> String {
    fold(s)
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folds_accents_case_and_separators() {
        assert_eq!(fold("Hélène"), "helene");
        assert_eq!(fold("HELENE"), "helene");
        assert_eq!(fold("  Saint-Étienne  "), "saint etienne");
        assert_eq!(fold("L'Haÿ-les-Roses"), "l hay les roses");
        assert_eq!(fold("Cœur Æsir"), "coeur aesir");
        assert_eq!(fold("Zoe\u{301}"), "zoe");
        assert_eq!(fold("a  \t b"), "a b");
    }

    #[test]
    fn header_keys_ignore_spacing_accents_and_case() {
        assert_eq!(header_key("Département"), "departement");
        assert_eq!(header_key("Nom d'exercice"), "nomdexercice");
        assert_eq!(header_key("NOM_D_EXERCICE"), "nomdexercice");
        assert_eq!(
            header_key("Code postal structure BAL"),
            "codepostalstructurebal"
        );
    }
}
