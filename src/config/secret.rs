//! `Secret`: a string that never shows up in logs, `Debug` output or `check-config`.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;

/// A secret value (password, key, token). `Debug`, `Display` and `Serialize`
/// print `[redacted]`; read the value with [`Secret::expose`] only where it is used.
///
/// In the configuration any secret `x` may instead be given as `x_file = "/path"`:
/// the file is read at load time (one trailing newline removed).
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    /// The clear value. Call it at the point of use, never to log.
    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret([redacted])")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

impl Serialize for Secret {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str("[redacted]")
    }
}

impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d).map(Secret)
    }
}

/// Whether a configuration key names a secret, so that `<key>_file` is read
/// into `<key>` at load time (see `sources::resolve_secret_files`).
pub fn is_secret_key(key: &str) -> bool {
    ["password", "secret", "key", "token"]
        .iter()
        .any(|s| key == *s || key.ends_with(&format!("_{s}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn never_prints_the_value() {
        let s = Secret::new("hunter2");
        assert!(!format!("{s:?}").contains("hunter2"));
        assert!(!format!("{s}").contains("hunter2"));
        assert_eq!(serde_json::to_string(&s).unwrap(), "\"[redacted]\"");
        assert_eq!(s.expose(), "hunter2");
    }

    #[test]
    fn secret_key_names() {
        assert!(is_secret_key("preauth_key"));
        assert!(is_secret_key("bind_password"));
        assert!(is_secret_key("client_secret"));
        assert!(!is_secret_key("ca"));
        assert!(!is_secret_key("monkey"));
    }
}
