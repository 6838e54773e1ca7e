//! Address headers of an uploaded RFC 822 message (`SendMsg m@aid`).

/// Header names whose addresses receive the message or its replies/receipts.
pub const RECIPIENT_HEADERS: &[&str] = &[
    "to",
    "cc",
    "bcc",
    "reply-to",
    "disposition-notification-to",
    "return-receipt-to",
    "resent-to",
    "resent-cc",
    "resent-bcc",
    "resent-reply-to",
    "errors-to",
    "mail-followup-to",
    "mail-reply-to",
];
/// Header names that name the author.
pub const SENDER_HEADERS: &[&str] = &["from", "sender", "resent-from", "resent-sender"];

/// Unfolded `(lowercase name, value)` header fields of a message head. `None` when the
/// head is not a readable header block (no blank line, not UTF-8, a line without ':').
pub fn header_fields(msg: &[u8]) -> Option<Vec<(String, String)>> {
    let end = find_head_end(msg)?;
    let head = std::str::from_utf8(&msg[..end]).ok()?;
    let mut out: Vec<(String, String)> = Vec::new();
    for line in head.split('\n').map(|l| l.strip_suffix('\r').unwrap_or(l)) {
        if line.is_empty() {
            continue;
        }
        if line.starts_with([' ', '\t']) {
            let last = out.last_mut()?; // continuation before any field: unreadable
            last.1.push(' ');
            last.1.push_str(line.trim());
            continue;
        }
        let (name, value) = line.split_once(':')?;
        if name.is_empty() || name.bytes().any(|b| !(33..=126).contains(&b)) {
            return None;
        }
        out.push((name.to_ascii_lowercase(), value.trim().to_string()));
    }
    Some(out)
}

fn find_head_end(msg: &[u8]) -> Option<usize> {
    if msg.is_empty() {
        return None;
    }
    let end = (0..msg.len())
        .find(|&i| msg[i..].starts_with(b"\r\n\r\n") || msg[i..].starts_with(b"\n\n"));
    Some(end.unwrap_or(msg.len()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unfolds_and_lowercases() {
        let m = b"From: A <a@x.fr>\r\nTo: b@y.fr,\r\n c@z.fr\r\nSubject: s\r\n\r\nTo: body@evil.com\r\n";
        let h = header_fields(m).unwrap();
        assert_eq!(h[1], ("to".into(), "b@y.fr, c@z.fr".into()));
        assert_eq!(h.len(), 3);
    }

    #[test]
    fn unreadable_heads() {
        assert!(header_fields(b" folded first\r\n\r\n").is_none());
        assert!(header_fields(b"no colon here\r\n\r\n").is_none());
        assert!(header_fields(b"").is_none());
    }
}
