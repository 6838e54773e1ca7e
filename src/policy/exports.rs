//! REST exports (M7): archive formats are audited, or refused by policy.

use super::config::{ExportPolicy, PolicyConfig};

/// Archive formats of the REST servlet (`FormatterFactory`): whole-folder dumps.
const ARCHIVE_FORMATS: &[&str] = &["tgz", "tar", "zip"];

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExportDecision {
    /// Not an archive export.
    Pass,
    /// Let through and write an audit event naming the format.
    Audit { format: String },
    /// Refuse (403) and write an audit event.
    Refuse { format: String },
}

/// Classifies a `/home/...` or `/service/home/...` request. `query` is the raw query
/// string (percent-decoded here; every `fmt` counts); the format may also come from the
/// path's extension (`/home/~/Inbox.tgz`), as the REST servlet derives it.
pub fn classify_rest(path: &str, query: &str, cfg: &PolicyConfig) -> ExportDecision {
    let p = percent_encoding::percent_decode_str(path)
        .decode_utf8_lossy()
        .to_ascii_lowercase();
    if !(p.starts_with("/home/")
        || p.starts_with("/service/home/")
        || p == "/home"
        || p == "/service/home")
    {
        return ExportDecision::Pass;
    }
    let mut formats: Vec<String> = url::form_urlencoded::parse(query.as_bytes())
        .filter(|(k, _)| k.eq_ignore_ascii_case("fmt"))
        .flat_map(|(_, v)| {
            v.split(',')
                .map(|s| s.trim().to_ascii_lowercase())
                .collect::<Vec<_>>()
        })
        .collect();
    if let Some(ext) = p
        .rsplit('/')
        .next()
        .and_then(|last| last.rsplit_once('.'))
        .map(|(_, e)| e.to_string())
    {
        formats.push(ext);
    }
    match formats
        .into_iter()
        .find(|f| ARCHIVE_FORMATS.contains(&f.as_str()))
    {
        None => ExportDecision::Pass,
        Some(format) => match cfg.exports {
            ExportPolicy::Audit => ExportDecision::Audit { format },
            ExportPolicy::Refuse => ExportDecision::Refuse { format },
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn archive_exports_are_classified() {
        let audit = PolicyConfig::default();
        let refuse = PolicyConfig {
            exports: ExportPolicy::Refuse,
            ..Default::default()
        };
        let tgz = ExportDecision::Audit {
            format: "tgz".into(),
        };
        assert_eq!(classify_rest("/home/~/", "fmt=tgz", &audit), tgz);
        assert_eq!(
            classify_rest("/service/home/u@x/Inbox", "types=message&FMT=%74gz", &audit),
            tgz
        );
        assert_eq!(
            classify_rest("/home/~/Inbox.zip", "", &refuse),
            ExportDecision::Refuse {
                format: "zip".into()
            }
        );
        assert_eq!(
            classify_rest("/home/~/", "fmt=ics", &refuse),
            ExportDecision::Pass
        );
        assert_eq!(
            classify_rest("/home/~/", "fmt=ics&fmt=tar", &refuse),
            ExportDecision::Refuse {
                format: "tar".into()
            }
        );
        assert_eq!(
            classify_rest("/service/soap", "fmt=tgz", &refuse),
            ExportDecision::Pass
        );
        assert_eq!(
            classify_rest("/%68ome/~/", "fmt=tgz", &refuse),
            ExportDecision::Refuse {
                format: "tgz".into()
            }
        );
    }
}
