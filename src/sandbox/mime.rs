//! Just enough MIME: build a message from a SendMsg `<m>`, read headers and parts back.

use base64::Engine;

/// A body part to write.
#[derive(Debug, Clone)]
pub enum Part {
    Text {
        ct: String,
        content: String,
        cid: Option<String>,
    },
    Multi {
        ct: String,
        parts: Vec<Part>,
    },
    File {
        filename: String,
        ct: String,
        data: Vec<u8>,
    },
}

/// RFC 2047 encoded-word when the value is not plain ASCII.
pub fn encode_word(s: &str) -> String {
    if s.is_ascii() {
        s.to_string()
    } else {
        format!(
            "=?utf-8?B?{}?=",
            base64::engine::general_purpose::STANDARD.encode(s)
        )
    }
}

pub fn format_address(name: Option<&str>, addr: &str) -> String {
    match name.filter(|n| !n.is_empty()) {
        Some(n) if n.is_ascii() => format!("\"{}\" <{addr}>", n.replace('"', "")),
        Some(n) => format!("{} <{addr}>", encode_word(n)),
        None => addr.to_string(),
    }
}

/// RFC 5322 date in UTC.
pub fn rfc2822_date(ms: u64) -> String {
    let t = time::OffsetDateTime::from_unix_timestamp((ms / 1000) as i64)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    t.format(&time::format_description::well_known::Rfc2822)
        .unwrap_or_default()
}

fn boundary() -> String {
    format!("=_{}", hex::encode(rand::random::<[u8; 12]>()))
}

fn write_part(out: &mut Vec<u8>, part: &Part) {
    match part {
        Part::Text { ct, content, cid } => {
            out.extend_from_slice(format!("Content-Type: {ct}; charset=utf-8\r\n").as_bytes());
            out.extend_from_slice(b"Content-Transfer-Encoding: 8bit\r\n");
            if let Some(cid) = cid {
                out.extend_from_slice(format!("Content-ID: {cid}\r\n").as_bytes());
            }
            out.extend_from_slice(b"\r\n");
            out.extend_from_slice(
                content
                    .replace("\r\n", "\n")
                    .replace('\n', "\r\n")
                    .as_bytes(),
            );
            out.extend_from_slice(b"\r\n");
        }
        Part::Multi { ct, parts } => {
            let b = boundary();
            out.extend_from_slice(
                format!("Content-Type: {ct}; boundary=\"{b}\"\r\n\r\n").as_bytes(),
            );
            for p in parts {
                out.extend_from_slice(format!("--{b}\r\n").as_bytes());
                write_part(out, p);
            }
            out.extend_from_slice(format!("--{b}--\r\n").as_bytes());
        }
        Part::File { filename, ct, data } => {
            let name = encode_word(filename);
            out.extend_from_slice(format!("Content-Type: {ct}; name=\"{name}\"\r\n").as_bytes());
            out.extend_from_slice(b"Content-Transfer-Encoding: base64\r\n");
            out.extend_from_slice(
                format!("Content-Disposition: attachment; filename=\"{name}\"\r\n\r\n").as_bytes(),
            );
            let encoded = base64::engine::general_purpose::STANDARD.encode(data);
            for line in encoded.as_bytes().chunks(76) {
                out.extend_from_slice(line);
                out.extend_from_slice(b"\r\n");
            }
        }
    }
}

/// A whole message: `headers` then the body part.
pub fn build(headers: &[(String, String)], body: &Part) -> Vec<u8> {
    let mut out = Vec::new();
    for (k, v) in headers {
        out.extend_from_slice(format!("{k}: {v}\r\n").as_bytes());
    }
    out.extend_from_slice(b"MIME-Version: 1.0\r\n");
    write_part(&mut out, body);
    out
}

/// Unfolded headers and the offset where the body starts.
pub fn parse_headers(raw: &[u8]) -> (Vec<(String, String)>, usize) {
    let text = String::from_utf8_lossy(raw);
    let mut headers: Vec<(String, String)> = Vec::new();
    let mut offset = 0;
    for line in text.split_inclusive('\n') {
        offset += line.len();
        let l = line.trim_end_matches(['\r', '\n']);
        if l.is_empty() {
            return (headers, offset.min(raw.len()));
        }
        if l.starts_with([' ', '\t']) {
            if let Some(last) = headers.last_mut() {
                last.1.push(' ');
                last.1.push_str(l.trim());
            }
        } else if let Some((k, v)) = l.split_once(':') {
            headers.push((k.trim().to_string(), v.trim().to_string()));
        }
    }
    (headers, raw.len())
}

pub fn header<'h>(headers: &'h [(String, String)], name: &str) -> Option<&'h str> {
    headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

/// A parameter of a structured header (`boundary`, `name`, `filename`).
pub fn param(value: &str, name: &str) -> Option<String> {
    value.split(';').skip(1).find_map(|p| {
        let (k, v) = p.split_once('=')?;
        (k.trim().eq_ignore_ascii_case(name)).then(|| v.trim().trim_matches('"').to_string())
    })
}

/// Bare addresses of an address-list header (commas inside quotes ignored).
pub fn addresses(value: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    for c in value.chars() {
        match c {
            '"' => {
                quoted = !quoted;
                cur.push(c);
            }
            ',' if !quoted => out.push(std::mem::take(&mut cur)),
            _ => cur.push(c),
        }
    }
    out.push(cur);
    out.iter()
        .map(|a| {
            let a = a.trim();
            match (a.rfind('<'), a.rfind('>')) {
                (Some(s), Some(e)) if s < e => a[s + 1..e].trim().to_string(),
                _ => a.to_string(),
            }
        })
        .filter(|a| !a.is_empty())
        .collect()
}

/// One leaf of a parsed message, numbered like Zimbra (`1`, `2.1` …).
#[derive(Debug, Clone)]
pub struct Leaf {
    pub part: String,
    pub content_type: String,
    pub filename: Option<String>,
    /// Decoded body.
    pub body: Vec<u8>,
}

fn decode(headers: &[(String, String)], body: &[u8]) -> Vec<u8> {
    match header(headers, "Content-Transfer-Encoding")
        .map(str::to_ascii_lowercase)
        .as_deref()
    {
        Some("base64") => {
            let clean: Vec<u8> = body
                .iter()
                .copied()
                .filter(|b| !b.is_ascii_whitespace())
                .collect();
            base64::engine::general_purpose::STANDARD
                .decode(clean)
                .unwrap_or_default()
        }
        _ => body.to_vec(),
    }
}

fn walk(raw: &[u8], prefix: &str, out: &mut Vec<Leaf>) {
    let (headers, start) = parse_headers(raw);
    let ct_full = header(&headers, "Content-Type")
        .unwrap_or("text/plain")
        .to_string();
    let ct = ct_full
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    let body = &raw[start..];
    if ct.starts_with("multipart/") {
        if let Some(b) = param(&ct_full, "boundary") {
            let delim = format!("--{b}");
            let text = body;
            let mut pieces = Vec::new();
            let mut rest = text;
            while let Some(pos) = find(rest, delim.as_bytes()) {
                pieces.push(&rest[..pos]);
                rest = &rest[pos + delim.len()..];
            }
            // pieces[0] is the preamble; a piece after the closing `--` is the epilogue.
            for (i, piece) in pieces.iter().skip(1).enumerate() {
                let piece = piece
                    .strip_prefix(b"\r\n")
                    .or_else(|| piece.strip_prefix(b"\n"))
                    .unwrap_or(piece);
                let num = if prefix.is_empty() {
                    format!("{}", i + 1)
                } else {
                    format!("{prefix}.{}", i + 1)
                };
                walk(piece, &num, out);
            }
            return;
        }
    }
    let filename = header(&headers, "Content-Disposition")
        .and_then(|d| param(d, "filename"))
        .or_else(|| param(&ct_full, "name"));
    out.push(Leaf {
        part: if prefix.is_empty() {
            "1".into()
        } else {
            prefix.to_string()
        },
        content_type: ct,
        filename,
        body: decode(&headers, body),
    });
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// Every leaf part of a message.
pub fn leaves(raw: &[u8]) -> Vec<Leaf> {
    let mut out = Vec::new();
    walk(raw, "", &mut out);
    out
}

/// First text/plain (else text/html) body, for fragments and GetMsg.
pub fn text_body(raw: &[u8]) -> String {
    let leaves = leaves(raw);
    let pick = leaves
        .iter()
        .find(|l| l.content_type == "text/plain" && l.filename.is_none())
        .or_else(|| {
            leaves
                .iter()
                .find(|l| l.content_type == "text/html" && l.filename.is_none())
        });
    pick.map(|l| String::from_utf8_lossy(&l.body).trim_end().to_string())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn build_then_parse() {
        let headers = vec![
            ("From".to_string(), "a@x".to_string()),
            ("Subject".to_string(), encode_word("Échange")),
        ];
        let body = Part::Multi {
            ct: "multipart/mixed".into(),
            parts: vec![
                Part::Text {
                    ct: "text/plain".into(),
                    content: "bonjour\n".into(),
                    cid: None,
                },
                Part::File {
                    filename: "cr.pdf".into(),
                    ct: "application/pdf".into(),
                    data: vec![1, 2, 3],
                },
            ],
        };
        let raw = build(&headers, &body);
        let (h, _) = parse_headers(&raw);
        assert_eq!(header(&h, "from"), Some("a@x"));
        assert!(header(&h, "Subject").unwrap().starts_with("=?utf-8?B?"));
        let l = leaves(&raw);
        assert_eq!(l.len(), 2);
        assert_eq!(l[1].part, "2");
        assert_eq!(l[1].filename.as_deref(), Some("cr.pdf"));
        assert_eq!(l[1].body, vec![1, 2, 3]);
        assert_eq!(text_body(&raw), "bonjour");
    }

    #[test]
    fn address_lists() {
        let a = addresses("\"Doe, J\" <j@x.fr>, k@y.fr ,<z@w>");
        assert_eq!(a, vec!["j@x.fr", "k@y.fr", "z@w"]);
    }
}
