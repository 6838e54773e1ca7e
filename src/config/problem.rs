//! One finding of the pre-flight: the key it is about, what is wrong, how bad.

use std::fmt;

/// An error stops `serve` (and makes `check-config` fail); a warning is printed by
/// `check-config` and logged at start, and the gateway runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Severity {
    Error,
    Warning,
}

/// A problem with the configuration or with what it points to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// Dotted key (`server.tls.cert_path`, `trusted_proxies.cidrs[1]`); empty when the
    /// problem is the file itself.
    pub key: String,
    pub message: String,
    pub severity: Severity,
}

impl Problem {
    pub fn error(key: impl Into<String>, message: impl Into<String>) -> Self {
        Problem {
            key: key.into(),
            message: message.into(),
            severity: Severity::Error,
        }
    }

    pub fn warning(key: impl Into<String>, message: impl Into<String>) -> Self {
        Problem {
            key: key.into(),
            message: message.into(),
            severity: Severity::Warning,
        }
    }

    /// An error from a `"key: message"` line (the form `ConfigError` and the
    /// sections' own `validate` functions use).
    pub fn from_line(line: &str) -> Self {
        match line.split_once(": ") {
            Some((key, msg)) if looks_like_key(key) => Problem::error(key, msg),
            _ => Problem::error("", line),
        }
    }

    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }

    /// Whether this problem is about `key` or something inside it
    /// (`server.tls` covers `server.tls.cert_path`, `paths.closed` covers `paths.closed[0]`).
    pub fn is_under(&self, key: &str) -> bool {
        !key.is_empty()
            && self.key.strip_prefix(key).is_some_and(|rest| {
                rest.is_empty() || rest.starts_with('.') || rest.starts_with('[')
            })
    }
}

fn looks_like_key(s: &str) -> bool {
    !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '[' | ']' | '-'))
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let tag = match self.severity {
            Severity::Error => "",
            Severity::Warning => "warning: ",
        };
        if self.key.is_empty() {
            write!(f, "{tag}{}", self.message)
        } else {
            write!(f, "{tag}{}: {}", self.key, self.message)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_split_at_the_key() {
        let p = Problem::from_line("server.tls.cert_path: file /x not found");
        assert_eq!(p.key, "server.tls.cert_path");
        assert_eq!(p.message, "file /x not found");
        let p = Problem::from_line("cannot read the file: no such file");
        assert_eq!(p.key, "");
        assert!(p.to_string().starts_with("cannot read"));
        let p = Problem::from_line("trusted_proxies.cidrs[1]: \"nope\" is not an address");
        assert_eq!(p.key, "trusted_proxies.cidrs[1]");
    }

    #[test]
    fn under_a_key() {
        let p = Problem::error("server.tls.cert_path", "x");
        assert!(p.is_under("server.tls"));
        assert!(p.is_under("server.tls.cert_path"));
        assert!(!p.is_under("server.t"));
        assert!(!p.is_under(""));
        assert!(Problem::error("paths.closed[0]", "x").is_under("paths.closed"));
        assert_eq!(Problem::warning("a.b", "c").to_string(), "warning: a.b: c");
    }
}
