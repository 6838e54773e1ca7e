//! Path normalization (the route table is `routes.rs`).
//!
//! Rules are decided on a normalized path so that `/service/../service/preauth`,
//! `/service//admin/soap`, `/service;x/preauth` or `/%73ervice/preauth` cannot dodge
//! them: percent-escapes are decoded once (as Jetty does), Jetty path parameters
//! (`;...`) are ignored, empty and `.` segments dropped, `..` resolved. Ambiguous
//! encodings are refused (400): encoded `/`, `\`, `.`, control characters, raw
//! backslash, malformed escapes, `..` above the root.
//!
//! Upstream receives the same segments the decision was made on (still in their
//! original encoding), so the store cannot see a different path than we did.

pub use super::routes::Surface;

/// A path after normalization.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NormalizedPath {
    /// Decoded, parameters removed: what rules look at.
    pub decided: String,
    /// The same segments in their original encoding: what the store receives.
    pub forward: String,
}

/// Why a target was refused (400).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PathError {
    #[error("target is not an absolute path")]
    NotAbsolute,
    #[error("control character in target")]
    ControlChar,
    #[error("backslash in path")]
    Backslash,
    #[error("malformed percent-escape")]
    BadEscape,
    #[error("ambiguous encoding in path")]
    Ambiguous,
    #[error("path climbs above the root")]
    AboveRoot,
}

/// Normalizes the path part of a request target.
pub fn normalize(raw: &str) -> Result<NormalizedPath, PathError> {
    if !raw.starts_with('/') {
        return Err(PathError::NotAbsolute);
    }
    let mut decided: Vec<String> = Vec::new();
    let mut forward: Vec<&str> = Vec::new();
    for seg in raw.split('/') {
        let decoded = decode_segment(seg)?;
        // Jetty ignores `;params` when mapping servlets (and `..;x` is `..`).
        let name = match decoded.find(';') {
            Some(i) => &decoded[..i],
            None => decoded.as_str(),
        };
        match name {
            "" if !seg.is_empty() => {
                // `;x` alone: a parameter on an empty segment; keep it out.
                continue;
            }
            "" | "." => continue,
            ".." => {
                if decided.pop().is_none() {
                    return Err(PathError::AboveRoot);
                }
                forward.pop();
            }
            _ => {
                decided.push(name.to_owned());
                forward.push(seg);
            }
        }
    }
    let trailing = raw.ends_with('/') && !decided.is_empty();
    let join = |parts: Vec<&str>| {
        let mut s = format!("/{}", parts.join("/"));
        if trailing {
            s.push('/');
        }
        s
    };
    Ok(NormalizedPath {
        decided: join(decided.iter().map(String::as_str).collect()),
        forward: join(forward),
    })
}

/// Decodes one segment; refuses what Jetty and we could read differently.
fn decode_segment(seg: &str) -> Result<String, PathError> {
    let bytes = seg.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if b == b'%' {
            let hex = bytes.get(i + 1..i + 3).ok_or(PathError::BadEscape)?;
            let s = std::str::from_utf8(hex).map_err(|_| PathError::BadEscape)?;
            let v = u8::from_str_radix(s, 16).map_err(|_| PathError::BadEscape)?;
            if v < 0x20 || v == 0x7f {
                return Err(PathError::ControlChar);
            }
            if matches!(v, b'/' | b'\\' | b'.' | b';') {
                return Err(PathError::Ambiguous);
            }
            out.push(v);
            i += 3;
        } else {
            if b < 0x20 || b == 0x7f {
                return Err(PathError::ControlChar);
            }
            if b == b'\\' {
                return Err(PathError::Backslash);
            }
            out.push(b);
            i += 1;
        }
    }
    Ok(String::from_utf8_lossy(&out).into_owned())
}

/// Refuses a query string whose decoded form carries control characters
/// (CR/LF would end up in redirect headers built from parameters).
pub fn check_query(query: &str) -> Result<(), PathError> {
    let bytes = query.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        let v = if b == b'%' {
            match bytes
                .get(i + 1..i + 3)
                .and_then(|h| std::str::from_utf8(h).ok())
            {
                Some(h) => match u8::from_str_radix(h, 16) {
                    Ok(v) => {
                        i += 2;
                        v
                    }
                    Err(_) => b,
                },
                None => b,
            }
        } else {
            b
        };
        if v < 0x20 || v == 0x7f {
            return Err(PathError::ControlChar);
        }
        i += 1;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ambiguous_encodings_refused() {
        assert_eq!(normalize("/service%2fpreauth"), Err(PathError::Ambiguous));
        assert_eq!(normalize("/service/%2e%2e/x"), Err(PathError::Ambiguous));
        assert_eq!(normalize("/a%5cb"), Err(PathError::Ambiguous));
        assert_eq!(normalize("/a%0d%0aX:1"), Err(PathError::ControlChar));
        assert_eq!(normalize("/a\\b"), Err(PathError::Backslash));
        assert_eq!(normalize("/a%zz"), Err(PathError::BadEscape));
        assert_eq!(normalize("/a%2"), Err(PathError::BadEscape));
        assert_eq!(normalize("/../etc"), Err(PathError::AboveRoot));
        assert_eq!(normalize("*"), Err(PathError::NotAbsolute));
    }

    #[test]
    fn forward_keeps_original_encoding() {
        let n = normalize("/home/user%40x.fr//Inbox/./a%20b/").unwrap();
        assert_eq!(n.decided, "/home/user@x.fr/Inbox/a b/");
        assert_eq!(n.forward, "/home/user%40x.fr/Inbox/a%20b/");
        assert_eq!(normalize("/").unwrap().forward, "/");
    }

    #[test]
    fn query_control_chars() {
        assert!(check_query("a=b&c=%41").is_ok());
        assert_eq!(
            check_query("redirectURL=%0d%0aSet-Cookie:x"),
            Err(PathError::ControlChar)
        );
        assert_eq!(check_query("a=%7F"), Err(PathError::ControlChar));
    }
}
