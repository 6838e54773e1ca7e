//! Post-login redirect targets: only a path on the gateway's own origin.

/// Returns `target` if it is a safe local path: starts with one `/`, no `//` or
/// `/\` (scheme-relative), no backslash at all, no control characters or
/// whitespace (browsers drop tabs and newlines, turning `/\t/evil` into `//evil`),
/// no scheme, at most 2048 bytes. Anything else gives `None` (caller uses `/`).
pub fn safe_return_path(target: &str) -> Option<&str> {
    let bytes = target.as_bytes();
    let ok = bytes.first() == Some(&b'/')
        && bytes.get(1) != Some(&b'/')
        && target.len() <= 2048
        && !target.contains('\\')
        && !target.chars().any(|c| c.is_control() || c.is_whitespace())
        // Encoded slashes/backslashes right after the first `/` are decoded by some
        // servers and clients before redirecting.
        && !target.to_ascii_lowercase().starts_with("/%2f")
        && !target.to_ascii_lowercase().starts_with("/%5c");
    ok.then_some(target)
}

/// The path to redirect to after login: the validated target or `/`.
pub fn return_path_or_root(target: Option<&str>) -> &str {
    target.and_then(safe_return_path).unwrap_or("/")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_paths_accepted() {
        for ok in ["/", "/zimbra/mail?app=mail#1", "/profil", "/a/b%20c?x=//y"] {
            assert_eq!(safe_return_path(ok), Some(ok), "{ok}");
        }
    }

    #[test]
    fn open_redirect_attempts_refused() {
        for bad in [
            "",
            "//evil.example",
            "///evil.example",
            "/\\evil.example",
            "\\\\evil.example",
            "/\t/evil.example",
            "/\n/evil.example",
            "/ /evil.example",
            "https://evil.example",
            "http:/evil.example",
            "javascript:alert(1)",
            "evil.example",
            "/%2F%2Fevil.example",
            "/%5cevil.example",
            "/foo\\bar",
            "/\u{0085}/x",
            "/\u{3000}x",
        ] {
            assert_eq!(safe_return_path(bad), None, "{bad:?}");
        }
        assert_eq!(return_path_or_root(Some("//evil")), "/");
        assert_eq!(return_path_or_root(None), "/");
        assert_eq!(safe_return_path(&format!("/{}", "a".repeat(3000))), None);
    }
}
