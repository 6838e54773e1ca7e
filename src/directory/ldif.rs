//! LDIF (RFC 2849): writing attribute lines, reading entries back (for the in-memory
//! backend).

use std::collections::HashMap;
use std::io::{self, BufRead, Write};

use base64::Engine;

/// Can `v` be written as `attr: v`? RFC 2849 SAFE-STRING, plus no trailing space.
pub fn is_safe(v: &str) -> bool {
    let b = v.as_bytes();
    match b.first() {
        None => return true,
        Some(b' ' | b':' | b'<') => return false,
        _ => {}
    }
    if b.last() == Some(&b' ') {
        return false;
    }
    b.iter()
        .all(|&c| c != 0 && c != b'\n' && c != b'\r' && c < 128)
}

/// Writes one `name: value` line, or `name:: base64` when the value is not safe
/// (accents, leading space/colon/`<`, control characters).
pub fn write_attr(out: &mut impl Write, name: &str, value: &str) -> io::Result<()> {
    if is_safe(value) {
        writeln!(out, "{name}: {value}")
    } else {
        let enc = base64::engine::general_purpose::STANDARD.encode(value.as_bytes());
        writeln!(out, "{name}:: {enc}")
    }
}

/// One entry read from LDIF: DN and attributes (names lowercased, values in order).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LdifEntry {
    pub dn: String,
    pub attrs: HashMap<String, Vec<String>>,
}

#[derive(Debug, thiserror::Error)]
pub enum LdifError {
    #[error("LDIF ligne {line}: {reason}")]
    Syntax { line: usize, reason: String },
    #[error(transparent)]
    Io(#[from] io::Error),
}

/// Reads every entry of an LDIF stream (content records only; `version:` and comments
/// skipped; continuation lines joined; `::` values base64-decoded).
pub fn read_entries(input: impl BufRead) -> Result<Vec<LdifEntry>, LdifError> {
    let mut entries = Vec::new();
    let mut cur: Option<LdifEntry> = None;
    let mut logical: Option<(usize, String)> = None;
    let mut lines = input.lines().enumerate();
    loop {
        let next = lines.next();
        // A continuation line (leading space) extends the previous logical line.
        if let Some((_, Ok(l))) = &next {
            if let (Some(rest), Some((_, acc))) = (l.strip_prefix(' '), logical.as_mut()) {
                acc.push_str(rest);
                continue;
            }
        }
        if let Some((n, text)) = logical.take() {
            apply_line(n, &text, &mut cur)?;
        }
        match next {
            None => break,
            Some((_, Err(e))) => return Err(e.into()),
            Some((i, Ok(l))) => {
                let l = l.trim_end_matches('\r').to_string();
                if l.is_empty() {
                    entries.extend(cur.take());
                } else if !l.starts_with('#') {
                    logical = Some((i + 1, l));
                }
            }
        }
    }
    entries.extend(cur.take());
    Ok(entries)
}

fn apply_line(n: usize, line: &str, cur: &mut Option<LdifEntry>) -> Result<(), LdifError> {
    let err = |reason: &str| LdifError::Syntax {
        line: n,
        reason: reason.into(),
    };
    let (name, rest) = line.split_once(':').ok_or_else(|| err("« : » manquant"))?;
    let value = if let Some(b64) = rest.strip_prefix(':') {
        let raw = base64::engine::general_purpose::STANDARD
            .decode(b64.trim())
            .map_err(|_| err("base64 invalide"))?;
        String::from_utf8(raw).map_err(|_| err("valeur non UTF-8"))?
    } else {
        rest.trim_start_matches(' ').to_string()
    };
    let name = name.to_ascii_lowercase();
    match (name.as_str(), cur.as_mut()) {
        ("version", None) => {}
        ("dn", None) => {
            *cur = Some(LdifEntry {
                dn: value,
                ..Default::default()
            })
        }
        (_, None) => return Err(err("attribut avant « dn: »")),
        ("changetype", Some(_)) if value != "add" => return Err(err("seul changetype add est lu")),
        ("changetype", Some(_)) => {}
        (_, Some(e)) => e.attrs.entry(name).or_default().push(value),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unsafe_values_are_base64() {
        let mut out = Vec::new();
        write_attr(&mut out, "sn", "DUPONT").unwrap();
        write_attr(&mut out, "givenName", "Hélène").unwrap();
        write_attr(&mut out, "o", " lead").unwrap();
        write_attr(&mut out, "o", ":x").unwrap();
        write_attr(&mut out, "o", "<x").unwrap();
        write_attr(&mut out, "o", "x ").unwrap();
        let s = String::from_utf8(out).unwrap();
        assert_eq!(
            s,
            "sn: DUPONT\ngivenName:: SMOpbMOobmU=\no:: IGxlYWQ=\no:: Ong=\no:: PHg=\no:: eCA=\n"
        );
    }

    #[test]
    fn reads_back_folded_and_encoded_lines() {
        let text = "version: 1\n# c\ndn: mail=a@b,ou=x\nobjectClass: inetOrgPerson\ngivenName:: SMOpbMOobmU=\ncn: Hél\n ène Dupont\n\ndn: mail=c@d,ou=x\nsn: X\n";
        let es = read_entries(text.as_bytes()).unwrap();
        assert_eq!(es.len(), 2);
        assert_eq!(es[0].attrs["givenname"], vec!["Hélène"]);
        assert_eq!(es[0].attrs["cn"], vec!["Hélène Dupont"]);
        assert_eq!(es[1].dn, "mail=c@d,ou=x");
    }

    #[test]
    fn rejects_garbage() {
        assert!(read_entries("sn: X\n".as_bytes()).is_err());
        assert!(read_entries("dn: a\nsn:: ***\n".as_bytes()).is_err());
    }
}
