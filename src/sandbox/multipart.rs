//! A small `multipart/form-data` reader for the upload servlet.

use super::mime;

/// One form field or file.
#[derive(Debug, Clone)]
pub struct FormPart {
    pub name: String,
    pub filename: Option<String>,
    pub content_type: String,
    pub data: Vec<u8>,
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// Splits `body` on `boundary`; `None` when the body is not well-formed.
pub fn parse(body: &[u8], boundary: &str) -> Option<Vec<FormPart>> {
    let delim = format!("--{boundary}");
    let mut rest = &body[find(body, delim.as_bytes())? + delim.len()..];
    let mut parts = Vec::new();
    loop {
        if rest.starts_with(b"--") {
            return Some(parts);
        }
        rest = rest
            .strip_prefix(b"\r\n")
            .or_else(|| rest.strip_prefix(b"\n"))?;
        let next = find(rest, delim.as_bytes())?;
        let mut piece = &rest[..next];
        piece = piece
            .strip_suffix(b"\r\n")
            .or_else(|| piece.strip_suffix(b"\n"))
            .unwrap_or(piece);
        let (headers, start) = mime::parse_headers(piece);
        let disp = mime::header(&headers, "Content-Disposition").unwrap_or("");
        parts.push(FormPart {
            name: mime::param(disp, "name").unwrap_or_default(),
            filename: mime::param(disp, "filename"),
            content_type: mime::header(&headers, "Content-Type")
                .unwrap_or("application/octet-stream")
                .to_string(),
            data: piece[start.min(piece.len())..].to_vec(),
        });
        rest = &rest[next + delim.len()..];
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_and_files() {
        let body = b"--XyZ\r\nContent-Disposition: form-data; name=\"requestId\"\r\n\r\nclient-1\r\n--XyZ\r\nContent-Disposition: form-data; name=\"f\"; filename=\"cr.pdf\"\r\nContent-Type: application/pdf\r\n\r\n%PDF\r\nx\r\n--XyZ--\r\n";
        let parts = parse(body, "XyZ").unwrap();
        assert_eq!(parts.len(), 2);
        assert_eq!(parts[0].name, "requestId");
        assert_eq!(parts[0].data, b"client-1");
        assert_eq!(parts[1].filename.as_deref(), Some("cr.pdf"));
        assert_eq!(parts[1].data, b"%PDF\r\nx");
        assert!(parse(b"garbage", "XyZ").is_none());
    }
}
