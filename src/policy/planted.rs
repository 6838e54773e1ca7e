//! Addresses that a stored message or calendar object will hand to a later send:
//! the recipient headers of a whole MIME message and the organizer / attendees of
//! every iCalendar object inside it (decoded from base64 or quoted-printable), or of
//! a bare iCalendar text. Used where such items are planted (AddMsg, SetAppointment,
//! AddAppointmentInvite, ImportAppointments, ICalReply) — the stored-item rule reads
//! them again when they are acted on.

use super::mime_headers::{header_fields, RECIPIENT_HEADERS};
use base64::Engine;

/// Deepest MIME nesting and most parts read before giving up (refused, not guessed).
const MAX_DEPTH: usize = 8;
const MAX_PARTS: usize = 500;

/// What a planted message names.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Planted {
    /// Recipient headers of the top-level message (To, Cc, Bcc, Reply-To,
    /// Disposition-Notification-To…), raw values.
    pub recipients: Vec<String>,
    /// Organizers, attendees and their SENT-BY / delegates, from every iCalendar part.
    pub people: Vec<String>,
}

/// Reads a whole message; `Err` when it cannot be read unambiguously.
pub fn read_message(raw: &[u8]) -> Result<Planted, &'static str> {
    let fields = header_fields(raw).ok_or("en-têtes illisibles")?;
    let mut out = Planted {
        recipients: fields
            .iter()
            .filter(|(n, _)| RECIPIENT_HEADERS.contains(&n.as_str()))
            .map(|(_, v)| v.clone())
            .collect(),
        people: Vec::new(),
    };
    let mut parts = 0usize;
    walk(raw, 0, &mut parts, &mut out.people)?;
    Ok(out)
}

fn walk(
    raw: &[u8],
    depth: usize,
    parts: &mut usize,
    people: &mut Vec<String>,
) -> Result<(), &'static str> {
    *parts += 1;
    if depth > MAX_DEPTH || *parts > MAX_PARTS {
        return Err("structure MIME trop profonde");
    }
    let fields = header_fields(raw).ok_or("partie MIME illisible")?;
    let field = |name: &str| {
        fields
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
            .unwrap_or("")
    };
    let ct = field("content-type").to_ascii_lowercase();
    let body = body_of(raw);
    if ct.starts_with("multipart/") {
        let boundary = param(field("content-type"), "boundary").ok_or("frontière MIME absente")?;
        for part in split_parts(body, &boundary) {
            walk(part, depth + 1, parts, people)?;
        }
        return Ok(());
    }
    if ct.starts_with("message/rfc822") {
        // An attached message is content, not something the store will send.
        return Ok(());
    }
    let decoded = decode(
        body,
        &field("content-transfer-encoding").to_ascii_lowercase(),
    )?;
    let text = String::from_utf8_lossy(&decoded);
    if ct.starts_with("text/calendar")
        || ct.starts_with("application/ics")
        || contains_ignore_case(&text, "BEGIN:VCALENDAR")
    {
        people.extend(ics_people(&text));
    }
    Ok(())
}

fn contains_ignore_case(hay: &str, needle: &str) -> bool {
    hay.to_ascii_uppercase().contains(needle)
}

/// The body of a part: after the first empty line (none: no body).
fn body_of(raw: &[u8]) -> &[u8] {
    for i in 0..raw.len() {
        if raw[i..].starts_with(b"\r\n\r\n") {
            return &raw[i + 4..];
        }
        if raw[i..].starts_with(b"\n\n") {
            return &raw[i + 2..];
        }
    }
    &[]
}

/// A parameter of a structured header value (`boundary`), quotes removed.
fn param(value: &str, name: &str) -> Option<String> {
    value.split(';').skip(1).find_map(|p| {
        let (k, v) = p.split_once('=')?;
        k.trim()
            .eq_ignore_ascii_case(name)
            .then(|| v.trim().trim_matches('"').to_string())
    })
}

/// The parts between `--boundary` lines (preamble and epilogue dropped).
fn split_parts<'a>(body: &'a [u8], boundary: &str) -> Vec<&'a [u8]> {
    let delim = format!("--{boundary}");
    let d = delim.as_bytes();
    let mut starts = Vec::new();
    let mut i = 0;
    while i + d.len() <= body.len() {
        let at_line_start = i == 0 || body[i - 1] == b'\n';
        if at_line_start && &body[i..i + d.len()] == d {
            starts.push(i);
            i += d.len();
        } else {
            i += 1;
        }
    }
    let mut out = Vec::new();
    for w in starts.windows(2) {
        let mut part = &body[w[0] + d.len()..w[1]];
        if part.starts_with(b"--") {
            break; // closing delimiter
        }
        part = part
            .strip_prefix(b"\r\n")
            .or_else(|| part.strip_prefix(b"\n"))
            .unwrap_or(part);
        out.push(part);
    }
    out
}

fn decode(body: &[u8], cte: &str) -> Result<Vec<u8>, &'static str> {
    match cte.trim() {
        "base64" => {
            let clean: Vec<u8> = body
                .iter()
                .copied()
                .filter(|b| !b.is_ascii_whitespace())
                .collect();
            base64::engine::general_purpose::STANDARD
                .decode(clean)
                .map_err(|_| "partie base64 illisible")
        }
        "quoted-printable" => Ok(quoted_printable(body)),
        _ => Ok(body.to_vec()),
    }
}

fn quoted_printable(body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(body.len());
    let mut i = 0;
    while i < body.len() {
        if body[i] == b'=' {
            let rest = &body[i + 1..];
            if rest.starts_with(b"\r\n") {
                i += 3;
                continue;
            }
            if rest.starts_with(b"\n") {
                i += 2;
                continue;
            }
            if let (Some(h), Some(l)) = (rest.first(), rest.get(1)) {
                if let Ok(b) = u8::from_str_radix(&format!("{}{}", *h as char, *l as char), 16) {
                    out.push(b);
                    i += 3;
                    continue;
                }
            }
        }
        out.push(body[i]);
        i += 1;
    }
    out
}

/// Property parameters and value of one unfolded content line.
fn split_line(line: &str) -> (&str, Vec<(&str, &str)>, &str) {
    let mut params = Vec::new();
    let mut quoted = false;
    let mut seg_start = 0;
    let mut name_end = None;
    for (i, c) in line.char_indices() {
        match c {
            '"' => quoted = !quoted,
            ';' | ':' if !quoted => {
                let seg = &line[seg_start..i];
                match name_end {
                    None => name_end = Some(i),
                    Some(_) => {
                        if let Some((k, v)) = seg.split_once('=') {
                            params.push((k, v));
                        }
                    }
                }
                seg_start = i + 1;
                if c == ':' {
                    return (&line[..name_end.unwrap_or(i)], params, &line[i + 1..]);
                }
            }
            _ => {}
        }
    }
    (line, params, "")
}

/// `mailto:` stripped (case-insensitive), quotes removed.
fn cal_address(v: &str) -> Option<String> {
    let v = v.trim().trim_matches('"').trim();
    let lower = v.to_ascii_lowercase();
    let addr = if lower.starts_with("mailto:") {
        &v[7..]
    } else {
        v
    };
    (!addr.is_empty() && addr.contains('@')).then(|| addr.to_string())
}

/// Every organizer / attendee address of an iCalendar text (lines unfolded; SENT-BY,
/// DELEGATED-TO and DELEGATED-FROM parameters included).
pub fn ics_people(text: &str) -> Vec<String> {
    let mut unfolded: Vec<String> = Vec::new();
    for line in text.split('\n').map(|l| l.strip_suffix('\r').unwrap_or(l)) {
        match (line.strip_prefix([' ', '\t']), unfolded.last_mut()) {
            (Some(cont), Some(last)) => last.push_str(cont),
            _ => unfolded.push(line.to_string()),
        }
    }
    let mut out = Vec::new();
    for line in &unfolded {
        let (name, params, value) = split_line(line);
        let name = name.trim().to_ascii_uppercase();
        if name != "ORGANIZER" && name != "ATTENDEE" {
            continue;
        }
        out.extend(cal_address(value));
        for (k, v) in params {
            if matches!(
                k.trim().to_ascii_uppercase().as_str(),
                "SENT-BY" | "DELEGATED-TO" | "DELEGATED-FROM"
            ) {
                out.extend(v.split(',').filter_map(cal_address));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const ICS: &str = "BEGIN:VCALENDAR\r\nMETHOD:REQUEST\r\nBEGIN:VEVENT\r\nORGANIZER;CN=\"Dr; X\":mailto:org@gmail.com\r\nATTENDEE;CN=A;SENT-BY=\"mailto:s\r\n @yahoo.fr\":MAILTO:a@medecin.mssante.fr\r\nSUMMARY:r\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n";

    #[test]
    fn ics_people_unfolds_and_reads_parameters() {
        assert_eq!(
            ics_people(ICS),
            ["org@gmail.com", "a@medecin.mssante.fr", "s@yahoo.fr"]
        );
    }

    #[test]
    fn encoded_calendar_parts_are_read() {
        let b64 = base64::engine::general_purpose::STANDARD.encode(ICS);
        let msg = format!(
            "From: a@b.fr\r\nTo: c@d.fr\r\nDisposition-Notification-To: x@gmail.com\r\nContent-Type: multipart/alternative; boundary=\"B\"\r\n\r\n\
             --B\r\nContent-Type: text/plain\r\n\r\nhello\r\n\
             --B\r\nContent-Type: text/calendar; method=REQUEST\r\nContent-Transfer-Encoding: base64\r\n\r\n{b64}\r\n--B--\r\n"
        );
        let p = read_message(msg.as_bytes()).unwrap();
        assert_eq!(p.recipients, ["c@d.fr", "x@gmail.com"]);
        assert!(p.people.contains(&"org@gmail.com".to_string()));
        let qp = "To: c@d.fr\r\nContent-Type: text/calendar\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\nBEGIN:VCALENDAR\r\nORGANIZER:mailto:o=\r\nrg@gmail.com\r\nEND:VCALENDAR\r\n";
        assert_eq!(
            read_message(qp.as_bytes()).unwrap().people,
            ["org@gmail.com"]
        );
    }

    #[test]
    fn unreadable_messages_are_errors() {
        assert!(read_message(b"no header line\r\n\r\n").is_err());
        let bad = "To: a@b.fr\r\nContent-Type: multipart/mixed\r\n\r\n--x\r\n";
        assert!(read_message(bad.as_bytes()).is_err());
        let b64 = "To: a@b.fr\r\nContent-Type: text/calendar\r\nContent-Transfer-Encoding: base64\r\n\r\n!!!\r\n";
        assert!(read_message(b64.as_bytes()).is_err());
    }
}
