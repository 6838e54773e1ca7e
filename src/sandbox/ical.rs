//! iCalendar in the sandbox: a SOAP `<comp>` written as a VEVENT (the `text/calendar`
//! part of invites, cancels and replies) and VEVENTs read back into `<comp>` elements
//! (ImportAppointments, invites inside stored messages, SetAppointment raw forms).

use crate::soap::{Element, NS_MAIL};

use super::mime;
use super::state::now_ms;

/// RFC 5545 TEXT escaping.
fn text(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace(';', "\\;")
        .replace(',', "\\,")
        .replace("\r\n", "\\n")
        .replace('\n', "\\n")
}

fn unescape(v: &str) -> String {
    let mut out = String::new();
    let mut chars = v.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            match chars.next() {
                Some('n' | 'N') => out.push('\n'),
                Some(o) => out.push(o),
                None => {}
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// `;CN="…"` parameter when a display name is given.
fn cn(d: Option<&str>) -> String {
    d.filter(|d| !d.is_empty())
        .map(|d| format!(";CN=\"{}\"", d.replace('"', "")))
        .unwrap_or_default()
}

fn date_prop(name: &str, el: Option<&Element>) -> Option<String> {
    let el = el?;
    let d = el.attr("d")?;
    Some(match el.attr("tz") {
        Some(tz) => format!("{name};TZID=\"{tz}\":{d}"),
        None if d.len() == 8 => format!("{name};VALUE=DATE:{d}"),
        None => format!("{name}:{d}"),
    })
}

/// A VCALENDAR with one VEVENT for `comp`, `method` REQUEST / CANCEL / REPLY / COUNTER.
/// `replier`: for REPLY, the attendee answering and the participation status.
pub fn calendar(method: &str, comp: &Element, replier: Option<(&str, &str)>) -> String {
    let mut lines = vec![
        "BEGIN:VCALENDAR".to_string(),
        "PRODID:Zimbra-Calendar-Provider (sandbox)".to_string(),
        "VERSION:2.0".to_string(),
        format!("METHOD:{method}"),
        "BEGIN:VEVENT".to_string(),
    ];
    if let Some(uid) = comp.attr("uid") {
        lines.push(format!("UID:{uid}"));
    }
    lines.push(format!("SUMMARY:{}", text(comp.attr("name").unwrap_or(""))));
    if let Some(loc) = comp.attr("loc").filter(|l| !l.is_empty()) {
        lines.push(format!("LOCATION:{}", text(loc)));
    }
    if let Some(or) = comp.child("or") {
        let sent_by = or
            .attr("sentBy")
            .map(|s| format!(";SENT-BY=\"mailto:{s}\""))
            .unwrap_or_default();
        lines.push(format!(
            "ORGANIZER{}{sent_by}:mailto:{}",
            cn(or.attr("d")),
            or.attr("a").unwrap_or("")
        ));
    }
    match replier {
        Some((who, partstat)) => lines.push(format!("ATTENDEE;PARTSTAT={partstat}:mailto:{who}")),
        None => {
            for at in comp.children_named("at") {
                lines.push(format!(
                    "ATTENDEE{};ROLE={};PARTSTAT={};RSVP=TRUE:mailto:{}",
                    cn(at.attr("d")),
                    match at.attr("role") {
                        Some("OPT") => "OPT-PARTICIPANT",
                        Some("NON") => "NON-PARTICIPANT",
                        Some("CHA") => "CHAIR",
                        _ => "REQ-PARTICIPANT",
                    },
                    partstat_name(at.attr("ptst").unwrap_or("NE")),
                    at.attr("a").unwrap_or("")
                ));
            }
        }
    }
    lines.extend(date_prop("DTSTART", comp.child("s")));
    lines.extend(date_prop("DTEND", comp.child("e")));
    lines.push(format!("SEQUENCE:{}", comp.attr("seq").unwrap_or("0")));
    lines.push(format!(
        "DTSTAMP:{}",
        time::OffsetDateTime::from_unix_timestamp((now_ms() / 1000) as i64)
            .map(|t| format!(
                "{:04}{:02}{:02}T{:02}{:02}{:02}Z",
                t.year(),
                t.month() as u8,
                t.day(),
                t.hour(),
                t.minute(),
                t.second()
            ))
            .unwrap_or_default()
    ));
    lines.push("END:VEVENT".to_string());
    lines.push("END:VCALENDAR".to_string());
    lines.join("\r\n") + "\r\n"
}

/// SOAP `ptst` → iCalendar PARTSTAT.
pub fn partstat_name(ptst: &str) -> &'static str {
    match ptst {
        "AC" => "ACCEPTED",
        "DE" => "DECLINED",
        "TE" => "TENTATIVE",
        "DG" => "DELEGATED",
        _ => "NEEDS-ACTION",
    }
}

fn unfold(textv: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for line in textv.split('\n').map(|l| l.strip_suffix('\r').unwrap_or(l)) {
        match (line.strip_prefix([' ', '\t']), out.last_mut()) {
            (Some(cont), Some(last)) => last.push_str(cont),
            _ => out.push(line.to_string()),
        }
    }
    out
}

/// `NAME;P=v;Q="w":value` → (NAME, params, value).
fn split(line: &str) -> (String, Vec<(String, String)>, String) {
    let mut quoted = false;
    let mut pieces = Vec::new();
    let mut start = 0;
    for (i, c) in line.char_indices() {
        match c {
            '"' => quoted = !quoted,
            ';' if !quoted => {
                pieces.push(&line[start..i]);
                start = i + 1;
            }
            ':' if !quoted => {
                pieces.push(&line[start..i]);
                let name = pieces[0].to_ascii_uppercase();
                let params = pieces[1..]
                    .iter()
                    .filter_map(|p| p.split_once('='))
                    .map(|(k, v)| (k.to_ascii_uppercase(), v.trim_matches('"').to_string()))
                    .collect();
                return (name, params, line[i + 1..].to_string());
            }
            _ => {}
        }
    }
    (line.to_ascii_uppercase(), Vec::new(), String::new())
}

fn mailto(v: &str) -> String {
    let v = v.trim();
    if v.len() >= 7 && v[..7].eq_ignore_ascii_case("mailto:") {
        v[7..].to_string()
    } else {
        v.to_string()
    }
}

fn person(name: &str, params: &[(String, String)], value: &str) -> Element {
    let mut el = Element::new(NS_MAIL, name).with_attr("a", mailto(value));
    for (k, v) in params {
        match k.as_str() {
            "CN" => el = el.with_attr("d", v.clone()),
            "SENT-BY" => el = el.with_attr("sentBy", mailto(v)),
            "ROLE" if name == "at" => el = el.with_attr("role", v.get(..3).unwrap_or("REQ")),
            "PARTSTAT" if name == "at" => el = el.with_attr("ptst", v.get(..2).unwrap_or("NE")),
            _ => {}
        }
    }
    el
}

/// Every VEVENT / VTODO of an iCalendar text as a SOAP `<comp>`.
pub fn components(textv: &str) -> Vec<Element> {
    let mut out = Vec::new();
    let mut cur: Option<Element> = None;
    for line in unfold(textv) {
        let (name, params, value) = split(&line);
        match (name.as_str(), value.to_ascii_uppercase().as_str()) {
            ("BEGIN", "VEVENT" | "VTODO") => cur = Some(Element::new(NS_MAIL, "comp")),
            ("END", "VEVENT" | "VTODO") => out.extend(cur.take()),
            _ => {}
        }
        let Some(c) = cur.as_mut() else { continue };
        let date = |tag: &str| {
            let mut el = Element::new(NS_MAIL, tag).with_attr("d", value.clone());
            if let Some((_, tz)) = params.iter().find(|(k, _)| k == "TZID") {
                el = el.with_attr("tz", tz.clone());
            }
            el
        };
        match name.as_str() {
            "UID" => c.set_attr("uid", value.clone()),
            "SUMMARY" => c.set_attr("name", unescape(&value)),
            "LOCATION" => c.set_attr("loc", unescape(&value)),
            "SEQUENCE" => c.set_attr("seq", value.clone()),
            "ORGANIZER" => c.children.push(person("or", &params, &value)),
            "ATTENDEE" => c.children.push(person("at", &params, &value)),
            "DTSTART" => c.children.push(date("s")),
            "DTEND" => c.children.push(date("e")),
            _ => {}
        }
    }
    out
}

/// The components of the calendar parts of a whole message.
pub fn components_in_message(raw: &[u8]) -> Vec<Element> {
    mime::leaves(raw)
        .into_iter()
        .filter(|l| l.content_type == "text/calendar" || l.content_type == "application/ics")
        .flat_map(|l| components(&String::from_utf8_lossy(&l.body)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_component_survives_a_round_trip() {
        let comp = Element::new(NS_MAIL, "comp")
            .with_attr("uid", "u1")
            .with_attr("name", "Revue; dossiers")
            .with_child(
                Element::new(NS_MAIL, "or")
                    .with_attr("a", "org@x.fr")
                    .with_attr("d", "Dr Org"),
            )
            .with_child(Element::new(NS_MAIL, "at").with_attr("a", "a@y.fr"))
            .with_child(Element::new(NS_MAIL, "s").with_attr("d", "20250101T100000Z"))
            .with_child(
                Element::new(NS_MAIL, "e")
                    .with_attr("d", "20250101T110000")
                    .with_attr("tz", "Europe/Paris"),
            );
        let ics = calendar("REQUEST", &comp, None);
        let back = &components(&ics)[0];
        assert_eq!(back.attr("uid"), Some("u1"));
        assert_eq!(back.attr("name"), Some("Revue; dossiers"));
        assert_eq!(back.child("or").unwrap().attr("a"), Some("org@x.fr"));
        assert_eq!(back.child("or").unwrap().attr("d"), Some("Dr Org"));
        assert_eq!(back.child("at").unwrap().attr("a"), Some("a@y.fr"));
        assert_eq!(back.child("e").unwrap().attr("tz"), Some("Europe/Paris"));
    }
}
