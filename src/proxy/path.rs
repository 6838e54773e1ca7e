//! Path normalization and surface classification.
//!
//! Rules are decided on a normalized path so that `/service/../service/preauth`,
//! `/service//admin/soap`, `/service;x/preauth` or `/%73ervice/preauth` cannot dodge
//! them: percent-escapes are decoded once (as Jetty does), Jetty path parameters
//! (`;...`) are ignored, empty and `.` segments dropped, `..` resolved. Ambiguous
//! encodings are refused (400): encoded `/`, `\`, `.`, control characters, raw
//! backslash, malformed escapes, `..` above the root.
//!
//! Case: Jetty matches servlet paths case-sensitively, so surfaces are classified
//! case-sensitively; but the closed-path rules compare case-insensitively, so a
//! case variation can only make a request refused, never let it through.
//!
//! Upstream receives the same segments the decision was made on (still in their
//! original encoding), so the store cannot see a different path than we did.

use crate::config::PathsConfig;

/// Which store surface a request targets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Surface {
    /// `/service/soap*`
    Soap,
    /// `/service/admin/soap*` (only when `paths.open_admin`)
    AdminSoap,
    /// `/service/upload`
    Upload,
    /// `/home`, `/user`, `/service/home`, `/service/user`, `/service/content`
    Rest,
    /// `/dav`, `/.well-known`, `/service/dav`
    Dav,
    /// Everything else (web client pages, static files).
    Static,
    /// Closed by `[paths]` (403).
    Closed,
    /// The gateway's own endpoints (`/healthz`, `/readyz`).
    Ops,
    /// The gateway's own portal pages (login, OTP …).
    Portal,
    /// Refused before classification (bad target, ambiguous framing).
    Invalid,
}

impl Surface {
    /// Label used in metrics and logs.
    pub fn as_str(self) -> &'static str {
        match self {
            Surface::Soap => "soap",
            Surface::AdminSoap => "admin_soap",
            Surface::Upload => "upload",
            Surface::Rest => "rest",
            Surface::Dav => "dav",
            Surface::Static => "static",
            Surface::Closed => "closed",
            Surface::Ops => "ops",
            Surface::Portal => "portal",
            Surface::Invalid => "invalid",
        }
    }
}

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

fn under(path: &str, prefix: &str) -> bool {
    path == prefix
        || path
            .strip_prefix(prefix)
            .is_some_and(|rest| rest.starts_with('/'))
}

/// Whether `[paths]` closes this (decided) path. Case-insensitive on purpose.
pub fn is_closed(decided: &str, cfg: &PathsConfig) -> bool {
    let p = decided.to_ascii_lowercase();
    let closed_by_default: [(&str, bool); 5] = [
        ("/service/preauth", !cfg.open_preauth),
        ("/service/admin", !cfg.open_admin),
        ("/zimbraadmin", !cfg.open_admin),
        ("/service/extension", !cfg.open_extension),
        ("/service/admin/extension", !cfg.open_extension),
    ];
    closed_by_default
        .iter()
        .any(|(prefix, closed)| *closed && under(&p, prefix))
        || cfg.closed.iter().any(|c| {
            let c = c.trim_end_matches('/').to_ascii_lowercase();
            c.is_empty() || under(&p, &c)
        })
}

/// Classifies a normalized path (ops and portal routes are decided by the router).
pub fn classify(decided: &str, cfg: &PathsConfig) -> Surface {
    if is_closed(decided, cfg) {
        return Surface::Closed;
    }
    let p = decided;
    if under(p, "/service/soap") {
        Surface::Soap
    } else if under(p, "/service/admin/soap") {
        Surface::AdminSoap
    } else if under(p, "/service/upload") {
        Surface::Upload
    } else if [
        "/home",
        "/user",
        "/service/home",
        "/service/user",
        "/service/content",
    ]
    .iter()
    .any(|x| under(p, x))
    {
        Surface::Rest
    } else if [
        "/dav",
        "/.well-known",
        "/service/dav",
        "/service/.well-known",
    ]
    .iter()
    .any(|x| under(p, x))
    {
        Surface::Dav
    } else {
        Surface::Static
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn closed_default(raw: &str) -> Result<Surface, PathError> {
        let n = normalize(raw)?;
        Ok(classify(&n.decided, &PathsConfig::default()))
    }

    #[test]
    fn dodges_are_closed() {
        for raw in [
            "/service/preauth",
            "/service/preauth/",
            "/service/preauth?x",
            "/service/../service/preauth",
            "/service//preauth",
            "/service/./preauth",
            "/service;x=1/preauth",
            "/service/preauth;jsessionid=1",
            "/%73ervice/preauth",
            "/SERVICE/PREAUTH",
            "/service//admin/soap",
            "/service/admin",
            "/service/admin/extension/x",
            "/service/extension/zimbraldap",
            "/zimbraAdmin/",
            "/x/..;/service/preauth",
        ] {
            let raw = raw.split('?').next().unwrap();
            assert_eq!(closed_default(raw), Ok(Surface::Closed), "{raw}");
        }
    }

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
    fn surfaces() {
        let c = PathsConfig::default();
        assert_eq!(classify("/service/soap/GetInfoRequest", &c), Surface::Soap);
        assert_eq!(classify("/service/soap", &c), Surface::Soap);
        assert_eq!(classify("/service/soapx", &c), Surface::Static);
        assert_eq!(classify("/service/upload", &c), Surface::Upload);
        assert_eq!(classify("/home/~/Inbox", &c), Surface::Rest);
        assert_eq!(classify("/service/content/get", &c), Surface::Rest);
        assert_eq!(classify("/dav/u/Calendar", &c), Surface::Dav);
        assert_eq!(classify("/.well-known/caldav", &c), Surface::Dav);
        assert_eq!(classify("/js/zimbra.js", &c), Surface::Static);
        let open = PathsConfig {
            open_admin: true,
            ..PathsConfig::default()
        };
        assert_eq!(classify("/service/admin/soap", &open), Surface::AdminSoap);
        assert_eq!(
            classify("/service/admin/extension/x", &open),
            Surface::Closed
        );
        let extra = PathsConfig {
            closed: vec!["/service/shf/".into()],
            ..PathsConfig::default()
        };
        assert_eq!(classify("/service/shf/x", &extra), Surface::Closed);
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
