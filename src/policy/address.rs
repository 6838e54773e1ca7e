//! A strict RFC 5322 address-list parser.
//!
//! Zimbra hands `e/@a` to JavaMail unvalidated, so one value may become several
//! recipients when the header is re-read (zimbra-api §4.1, §9). We therefore parse every
//! value as a full address list (display names, comments, quoted local parts, groups)
//! and check each mailbox. Anything we cannot read unambiguously is an error: the
//! caller refuses it rather than guess (default deny). Obsolete routes (`<@a:b@c>`),
//! domain literals and control characters are refused.

use thiserror::Error;

/// One mailbox of an address list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mailbox {
    pub display: Option<String>,
    /// Local part, unquoted (`"a b"@x` gives `a b`).
    pub local: String,
    /// Domain as written (not yet normalised).
    pub domain: String,
}

impl Mailbox {
    /// `local@domain` as written (quotes dropped).
    pub fn addr(&self) -> String {
        format!("{}@{}", self.local, self.domain)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("adresse illisible ({what} à la position {pos})")]
pub struct AddressError {
    pub what: &'static str,
    pub pos: usize,
}

fn is_atext(c: char) -> bool {
    c.is_ascii_alphanumeric() || "!#$%&'*+-/=?^_`{|}~".contains(c) || (c as u32) > 0x7f
}

struct P<'a> {
    s: &'a [char],
    i: usize,
}

impl P<'_> {
    fn err<T>(&self, what: &'static str) -> Result<T, AddressError> {
        Err(AddressError { what, pos: self.i })
    }
    fn peek(&self) -> Option<char> {
        self.s.get(self.i).copied()
    }
    /// Skips folding white space and (nested) comments.
    fn cfws(&mut self) -> Result<(), AddressError> {
        loop {
            match self.peek() {
                Some(' ' | '\t') => self.i += 1,
                Some('(') => {
                    let mut depth = 0usize;
                    loop {
                        match self.peek() {
                            None => return self.err("commentaire non fermé"),
                            Some('\\') => self.i += 2,
                            Some('(') => {
                                depth += 1;
                                self.i += 1
                            }
                            Some(')') => {
                                depth -= 1;
                                self.i += 1;
                                if depth == 0 {
                                    break;
                                }
                            }
                            Some(_) => self.i += 1,
                        }
                    }
                }
                _ => return Ok(()),
            }
        }
    }
    fn atom(&mut self) -> Option<String> {
        let start = self.i;
        while self.peek().is_some_and(is_atext) {
            self.i += 1;
        }
        (self.i > start).then(|| self.s[start..self.i].iter().collect())
    }
    fn quoted(&mut self) -> Result<String, AddressError> {
        self.i += 1; // opening quote
        let mut out = String::new();
        loop {
            match self.peek() {
                None => return self.err("guillemet non fermé"),
                Some('"') => {
                    self.i += 1;
                    return Ok(out);
                }
                Some('\\') => {
                    self.i += 1;
                    match self.peek() {
                        Some(c) => out.push(c),
                        None => return self.err("échappement final"),
                    }
                    self.i += 1;
                }
                Some(c) => {
                    out.push(c);
                    self.i += 1
                }
            }
        }
    }
    /// A word: atom or quoted string, with surrounding CFWS.
    fn word(&mut self) -> Result<Option<(String, bool)>, AddressError> {
        self.cfws()?;
        let w = match self.peek() {
            Some('"') => Some((self.quoted()?, true)),
            _ => self.atom().map(|a| (a, false)),
        };
        self.cfws()?;
        Ok(w)
    }
    /// local-part "@" domain.
    fn addr_spec(&mut self) -> Result<(String, String), AddressError> {
        let mut local = String::new();
        loop {
            match self.word()? {
                Some((w, _)) => local.push_str(&w),
                None => return self.err("partie locale attendue"),
            }
            if self.peek() == Some('.') {
                self.i += 1;
                local.push('.');
            } else {
                break;
            }
        }
        if self.peek() != Some('@') {
            return self.err("'@' attendu");
        }
        self.i += 1;
        self.cfws()?;
        if self.peek() == Some('[') {
            return self.err("littéral de domaine refusé");
        }
        let mut domain = String::new();
        loop {
            match self.atom() {
                Some(a) => domain.push_str(&a),
                None => return self.err("domaine attendu"),
            }
            if self.peek() == Some('.') {
                self.i += 1;
                domain.push('.');
            } else {
                break;
            }
        }
        self.cfws()?;
        Ok((local, domain))
    }
    /// A phrase (display name) up to '<' or ':'; `None` when the address is a bare addr-spec.
    fn phrase(&mut self) -> Result<Option<String>, AddressError> {
        let start = self.i;
        let mut words: Vec<String> = Vec::new();
        loop {
            match self.word()? {
                Some((w, _)) => words.push(w),
                None if self.peek() == Some('.') && !words.is_empty() => {
                    self.i += 1; // obs-phrase allows dots
                    words.push(".".into());
                }
                None => break,
            }
        }
        match self.peek() {
            Some('<' | ':') => Ok(Some(words.join(" "))),
            _ => {
                self.i = start;
                Ok(None)
            }
        }
    }
    fn mailbox(&mut self) -> Result<Mailbox, AddressError> {
        self.cfws()?;
        let display = self.phrase()?;
        if display.is_some() && self.peek() == Some(':') {
            return self.err("groupe imbriqué");
        }
        if self.peek() == Some('<') {
            self.i += 1;
            self.cfws()?;
            if self.peek() == Some('@') {
                return self.err("route obsolète refusée");
            }
            let (local, domain) = self.addr_spec()?;
            if self.peek() != Some('>') {
                return self.err("'>' attendu");
            }
            self.i += 1;
            self.cfws()?;
            let display = display.filter(|d| !d.is_empty());
            return Ok(Mailbox {
                display,
                local,
                domain,
            });
        }
        let (local, domain) = self.addr_spec()?;
        Ok(Mailbox {
            display: None,
            local,
            domain,
        })
    }
}

/// Parses an RFC 5322 address list (mailboxes and groups). Empty list members are
/// skipped, as JavaMail does; an input with no mailbox at all gives an empty vector.
pub fn parse_address_list(input: &str) -> Result<Vec<Mailbox>, AddressError> {
    if let Some(pos) = input.chars().position(|c| c.is_control() && c != '\t') {
        return Err(AddressError {
            what: "caractère de contrôle",
            pos,
        });
    }
    let chars: Vec<char> = input.chars().collect();
    let mut p = P { s: &chars, i: 0 };
    let mut out = Vec::new();
    loop {
        p.cfws()?;
        match p.peek() {
            None => break,
            Some(',') => {
                p.i += 1;
                continue;
            }
            _ => {}
        }
        // A group: phrase ":" [mailbox-list] ";"
        let save = p.i;
        let is_group = p.phrase()?.is_some() && p.peek() == Some(':');
        if is_group {
            p.i += 1;
            loop {
                p.cfws()?;
                match p.peek() {
                    Some(';') => {
                        p.i += 1;
                        break;
                    }
                    Some(',') => p.i += 1,
                    None => return p.err("groupe non fermé"),
                    _ => out.push(p.mailbox()?),
                }
            }
        } else {
            p.i = save;
            out.push(p.mailbox()?);
        }
        p.cfws()?;
        match p.peek() {
            None => break,
            Some(',') => p.i += 1,
            _ => return p.err("',' attendue"),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addrs(s: &str) -> Vec<String> {
        parse_address_list(s)
            .unwrap()
            .iter()
            .map(Mailbox::addr)
            .collect()
    }

    #[test]
    fn simple_and_display_names() {
        assert_eq!(addrs("a@b.fr"), ["a@b.fr"]);
        assert_eq!(addrs("Jean Dupont <jean@b.fr>"), ["jean@b.fr"]);
        let m = &parse_address_list("\"Dupont, Jean\" <jean@b.fr>").unwrap()[0];
        assert_eq!(m.display.as_deref(), Some("Dupont, Jean"));
    }

    #[test]
    fn several_addresses_in_one_value() {
        assert_eq!(
            addrs("a@medecin.mssante.fr, x@gmail.com"),
            ["a@medecin.mssante.fr", "x@gmail.com"]
        );
        assert_eq!(addrs(" , a@b.fr,,"), ["a@b.fr"]);
    }

    #[test]
    fn comments_and_quoted_local_parts() {
        assert_eq!(addrs("a(comment, x@gmail.com)@b.fr"), ["a@b.fr"]);
        assert_eq!(addrs("(x@gmail.com) a@b.fr (y)"), ["a@b.fr"]);
        assert_eq!(addrs("\"x@gmail.com\"@b.fr"), ["x@gmail.com@b.fr"]);
        let m = &parse_address_list("\"x@gmail.com\"@b.fr").unwrap()[0];
        assert_eq!(m.domain, "b.fr");
    }

    #[test]
    fn groups() {
        assert_eq!(
            addrs("amis: a@b.fr, c <x@gmail.com>;, d@e.fr"),
            ["a@b.fr", "x@gmail.com", "d@e.fr"]
        );
        assert_eq!(addrs("undisclosed-recipients:;"), Vec::<String>::new());
    }

    #[test]
    fn refuses_ambiguous_input() {
        for bad in [
            "a@b.fr\r\nBcc: x@gmail.com",
            "<@relay.fr:x@gmail.com>",
            "a@[1.2.3.4]",
            "a@b.fr x@gmail.com",
            "\"unterminated@b.fr",
            "(unterminated a@b.fr",
            "g: a@b.fr",
            "a@",
            "@b.fr",
            "a@b.fr>",
            "x@gmail.com <a@b.fr",
        ] {
            assert!(parse_address_list(bad).is_err(), "{bad:?} accepted");
        }
    }
}
