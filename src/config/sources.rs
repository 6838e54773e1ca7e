//! Where configuration values come from: the TOML file, `GATEWAY_*` environment
//! variables, and `<secret>_file` indirections.

use super::secret::is_secret_key;
use figment::value::{Dict, Value};
use std::path::Path;

/// Prefix of configuration environment variables; `__` separates sections
/// (`GATEWAY_UPSTREAM__URL`).
pub const ENV_PREFIX: &str = "GATEWAY_";

/// Environment variables as a nested dictionary.
///
/// Values stay strings (figment's own `Env` would turn `0123` into the number 123,
/// crates.md pitfall 8); numbers and booleans are converted when the field asks for
/// them (`extract_lossy`). A value starting with `[`, `{` or `"` is parsed as an
/// array, table or quoted string.
pub fn env_dict(vars: impl IntoIterator<Item = (String, String)>) -> Dict {
    let mut root = Dict::new();
    for (name, raw) in vars {
        let Some(rest) = name.strip_prefix(ENV_PREFIX) else {
            continue;
        };
        let path: Vec<String> = rest.split("__").map(|p| p.to_ascii_lowercase()).collect();
        if path.iter().any(|p| p.is_empty()) {
            continue;
        }
        let value = if raw.starts_with(['[', '{', '"']) {
            raw.parse::<Value>().unwrap_or_else(|e| match e {})
        } else {
            Value::from(raw)
        };
        insert_path(&mut root, &path, value);
    }
    root
}

fn insert_path(dict: &mut Dict, path: &[String], value: Value) {
    match path {
        [] => {}
        [last] => {
            dict.insert(last.clone(), value);
        }
        [first, rest @ ..] => {
            let entry = dict
                .entry(first.clone())
                .or_insert_with(|| Value::from(Dict::new()));
            if !matches!(entry, Value::Dict(..)) {
                *entry = Value::from(Dict::new());
            }
            if let Value::Dict(_, inner) = entry {
                insert_path(inner, rest, value);
            }
        }
    }
}

/// Deep merge: values of `over` win, tables merge key by key.
pub fn merge(base: &mut Dict, over: Dict) {
    for (k, v) in over {
        match (base.get_mut(&k), v) {
            (Some(Value::Dict(_, b)), Value::Dict(_, o)) => merge(b, o),
            (_, v) => {
                base.insert(k, v);
            }
        }
    }
}

/// Placeholder for systemd's credentials directory in file paths
/// (`data_key_file = "${CREDENTIALS_DIRECTORY}/data.key"`, with `LoadCredential=` in the unit).
pub const CREDENTIALS_PLACEHOLDER: &str = "${CREDENTIALS_DIRECTORY}";

/// Replaces [`CREDENTIALS_PLACEHOLDER`] in the value of every `*_file` and `*_path` key by
/// `credentials_dir` (the `CREDENTIALS_DIRECTORY` variable systemd sets). Using it
/// without the variable is an error naming the key.
pub fn expand_credentials_directory(
    dict: &mut Dict,
    prefix: &str,
    credentials_dir: Option<&str>,
    errors: &mut Vec<String>,
) {
    for (key, value) in dict.iter_mut() {
        let full = if prefix.is_empty() {
            key.clone()
        } else {
            format!("{prefix}.{key}")
        };
        if let Value::Dict(_, inner) = value {
            expand_credentials_directory(inner, &full, credentials_dir, errors);
            continue;
        }
        if !(key.ends_with("_file") || key.ends_with("_path")) {
            continue;
        }
        let Some(text) = value.as_str() else { continue };
        if !text.contains(CREDENTIALS_PLACEHOLDER) {
            continue;
        }
        match credentials_dir {
            Some(dir) => {
                let expanded = text.replace(CREDENTIALS_PLACEHOLDER, dir.trim_end_matches('/'));
                *value = Value::from(expanded);
            }
            None => errors.push(format!(
                "{full}: uses {CREDENTIALS_PLACEHOLDER} but CREDENTIALS_DIRECTORY is not set \
                 (systemd sets it for a unit with LoadCredential=)"
            )),
        }
    }
}

/// Replaces every `<secret>_file = "path"` by `<secret> = "<file content>"`.
/// Errors name the key.
pub fn resolve_secret_files(dict: &mut Dict, prefix: &str, errors: &mut Vec<String>) {
    let keys: Vec<String> = dict.keys().cloned().collect();
    for key in keys {
        let full = if prefix.is_empty() {
            key.clone()
        } else {
            format!("{prefix}.{key}")
        };
        if let Some(Value::Dict(_, inner)) = dict.get_mut(&key) {
            resolve_secret_files(inner, &full, errors);
            continue;
        }
        let Some(base) = key.strip_suffix("_file") else {
            continue;
        };
        if !is_secret_key(base) {
            continue;
        }
        if dict.contains_key(base) {
            errors.push(format!("{full}: give either `{base}` or `{key}`, not both"));
            continue;
        }
        let Some(path) = dict.get(&key).and_then(|v| v.as_str()).map(str::to_owned) else {
            errors.push(format!("{full}: expected a file path"));
            continue;
        };
        match read_secret_file(Path::new(&path)) {
            Ok(content) => {
                dict.remove(&key);
                dict.insert(base.to_owned(), Value::from(content));
            }
            Err(e) => errors.push(format!("{full}: cannot read {path}: {e}")),
        }
    }
}

fn read_secret_file(path: &Path) -> std::io::Result<String> {
    let mut s = std::fs::read_to_string(path)?;
    if s.ends_with('\n') {
        s.pop();
        if s.ends_with('\r') {
            s.pop();
        }
    }
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn env_values_stay_strings() {
        let d = env_dict(vars(&[
            ("GATEWAY_AUTH__PREAUTH_KEY", "0123456789"),
            ("GATEWAY_UPSTREAM__URL", "http://x"),
            ("GATEWAY_TRUSTED_PROXIES__CIDRS", "[\"10.0.0.0/8\"]"),
            ("OTHER", "x"),
        ]));
        let auth = d["auth"].as_dict().unwrap();
        assert_eq!(auth["preauth_key"].as_str(), Some("0123456789"));
        assert_eq!(
            d["upstream"].as_dict().unwrap()["url"].as_str(),
            Some("http://x")
        );
        let cidrs = d["trusted_proxies"].as_dict().unwrap()["cidrs"].as_array();
        assert_eq!(cidrs.unwrap().len(), 1);
        assert!(!d.contains_key("other"));
    }

    #[test]
    fn secret_files_are_read() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("k");
        std::fs::write(&p, "s3cret\n").unwrap();
        let mut inner = Dict::new();
        inner.insert(
            "preauth_key_file".into(),
            Value::from(p.display().to_string()),
        );
        inner.insert("ca_file".into(), Value::from("/etc/ca.pem"));
        let mut root = Dict::new();
        root.insert("auth".into(), Value::from(inner));
        let mut errors = vec![];
        resolve_secret_files(&mut root, "", &mut errors);
        assert!(errors.is_empty(), "{errors:?}");
        let auth = root["auth"].as_dict().unwrap();
        assert_eq!(auth["preauth_key"].as_str(), Some("s3cret"));
        assert!(auth.contains_key("ca_file"));
    }

    #[test]
    fn credentials_directory_is_expanded_in_paths() {
        let mut inner = Dict::new();
        inner.insert(
            "data_key_file".into(),
            Value::from("${CREDENTIALS_DIRECTORY}/data.key"),
        );
        inner.insert("note".into(), Value::from("${CREDENTIALS_DIRECTORY}"));
        let mut root = Dict::new();
        root.insert("store".into(), Value::from(inner));
        let mut errors = vec![];
        let mut copy = root.clone();
        expand_credentials_directory(
            &mut copy,
            "",
            Some("/run/credentials/x.service/"),
            &mut errors,
        );
        assert!(errors.is_empty(), "{errors:?}");
        let store = copy["store"].as_dict().unwrap();
        assert_eq!(
            store["data_key_file"].as_str(),
            Some("/run/credentials/x.service/data.key")
        );
        assert_eq!(store["note"].as_str(), Some("${CREDENTIALS_DIRECTORY}"));
        expand_credentials_directory(&mut root, "", None, &mut errors);
        assert!(
            errors[0].starts_with("store.data_key_file: uses"),
            "{errors:?}"
        );
    }

    #[test]
    fn missing_secret_file_names_the_key() {
        let mut root = Dict::new();
        root.insert("bind_password_file".into(), Value::from("/nonexistent/x"));
        let mut errors = vec![];
        resolve_secret_files(&mut root, "directory", &mut errors);
        assert!(errors[0].starts_with("directory.bind_password_file:"));
    }
}
