//! Rules for requests that plant addresses a later request will make the store mail
//! (issue 9, class 3): calendar items set or imported as they are (SetAppointment,
//! AddAppointmentInvite, ImportAppointments, ICalReply), whole messages (AddMsg). The
//! stored-item rule judges the item again when it is acted on; refusing outside
//! addresses at planting time keeps them out of the mailbox in the first place.
//! Also: `AutoCompleteRequest` never reaches the store's own GAL (liste rouge).

use super::check::{Check, Ctx};
use super::planted::{ics_people, read_message};
use super::rules_message::{aids, upload};
use crate::soap::Element;

const RECIPIENT_TYPES: &[&str] = &["t", "c", "b", "r", "n"];

fn person(ctx: &Ctx, chk: &mut Check, a: &str) {
    if !ctx.user.is_own(a) {
        chk.addr(ctx, a);
    }
}

/// Addresses at their schema places: `m/e` recipients, `at` and `or` (+ `sentBy`).
fn people_in_tree(req: &Element, ctx: &Ctx, chk: &mut Check) {
    for el in req.walk() {
        match el.name.as_str() {
            "at" | "or" => {
                for f in ["a", "sentBy"] {
                    for a in el.attr_all(f) {
                        person(ctx, chk, a);
                    }
                }
            }
            "m" => {
                for e in el.children_named("e") {
                    if e.attr_all("t").iter().any(|t| RECIPIENT_TYPES.contains(t)) {
                        e.attr_all("a").iter().for_each(|a| chk.addr(ctx, a));
                    }
                }
            }
            _ => {}
        }
    }
}

/// A whole message planted in the mailbox: its recipient headers and calendar people.
fn planted_message(raw: &[u8], ctx: &Ctx, chk: &mut Check) {
    match read_message(raw) {
        Ok(p) => {
            p.recipients.iter().for_each(|a| chk.addr(ctx, a));
            p.people.iter().for_each(|a| person(ctx, chk, a));
        }
        Err(why) => chk.deny(format!("message à enregistrer illisible ({why})")),
    }
}

/// Free text that may be iCalendar data or a whole message (SetAppointment's raw forms).
fn planted_text(text: &str, ctx: &Ctx, chk: &mut Check) {
    if text.to_ascii_uppercase().contains("BEGIN:VCALENDAR") {
        ics_people(text).iter().for_each(|a| person(ctx, chk, a));
    }
    let looks_like_message = super::mime_headers::header_fields(text.as_bytes()).is_some_and(|h| {
        h.iter().any(|(n, _)| {
            n == "content-type" || super::mime_headers::RECIPIENT_HEADERS.contains(&n.as_str())
        })
    });
    if looks_like_message {
        planted_message(text.as_bytes(), ctx, chk);
    }
}

/// Uploaded bytes the request consumes (`aid`), each read by `read`.
fn uploaded(el: &Element, ctx: &Ctx, chk: &mut Check, read: fn(&[u8], &Ctx, &mut Check)) {
    for v in el.attr_all("aid") {
        for aid in aids(v) {
            if let Some(u) = upload(ctx, chk, aid) {
                match u.content {
                    Some(bytes) => read(&bytes, ctx, chk),
                    None => chk.deny(format!("contenu téléversé non vérifiable : {aid}")),
                }
            }
        }
    }
}

/// SetAppointment / SetTask / AddAppointmentInvite / AddTaskInvite: the invite as
/// given (`inv`), a raw message with a calendar part (`content`), or an upload (`aid`).
pub(crate) fn calendar_items(req: &Element, ctx: &Ctx, chk: &mut Check) -> Option<Element> {
    people_in_tree(req, ctx, chk);
    for el in req.walk() {
        match el.name.as_str() {
            "m" => uploaded(el, ctx, chk, planted_message),
            "content" => planted_text(el.text(), ctx, chk),
            _ => {}
        }
    }
    None
}

/// ImportAppointmentsRequest: inline iCalendar `content` or an uploaded one
/// (`content/@aid`). `content/@mid` imports a part of a message already in the
/// mailbox: judged when an item made from it is acted on.
pub(crate) fn import_appointments(req: &Element, ctx: &Ctx, chk: &mut Check) -> Option<Element> {
    for c in req.walk().into_iter().filter(|e| e.name == "content") {
        ics_people(c.text())
            .iter()
            .for_each(|a| person(ctx, chk, a));
        uploaded(c, ctx, chk, |bytes, ctx, chk| {
            ics_people(&String::from_utf8_lossy(bytes))
                .iter()
                .for_each(|a| person(ctx, chk, a));
        });
    }
    None
}

/// ICalReplyRequest: a reply processed into the calendar can add attendees.
pub(crate) fn ical_reply(req: &Element, ctx: &Ctx, chk: &mut Check) -> Option<Element> {
    for v in req.attr_all("ical") {
        ics_people(v).iter().for_each(|a| person(ctx, chk, a));
    }
    None
}

/// AddMsgRequest: `filterSent="1"` runs the outgoing filters (§6.2 #23); the message
/// itself (inline `content` or `aid`) can later be sent as a draft, answered with a
/// read receipt or replied to as an invite: its addresses are judged now.
pub(crate) fn add_msg(req: &Element, ctx: &Ctx, chk: &mut Check) -> Option<Element> {
    for v in req.attr_all("filterSent") {
        if v != "0" && !v.eq_ignore_ascii_case("false") {
            chk.deny("AddMsg avec filterSent refusé");
        }
    }
    for m in req.children_named("m") {
        for c in m.attr_all("content") {
            planted_message(c.as_bytes(), ctx, chk);
        }
        uploaded(m, ctx, chk, planted_message);
    }
    None
}

/// AutoCompleteRequest reaching the policy (no annuaire answered it): the user's own
/// contacts only, never the store's GAL, which holds the liste rouge.
pub(crate) fn autocomplete_without_gal(
    req: &Element,
    _ctx: &Ctx,
    chk: &mut Check,
) -> Option<Element> {
    let values = req.attr_all("includeGal");
    let is_false = |v: &&str| *v == "0" || v.eq_ignore_ascii_case("false");
    let is_true = |v: &&str| *v == "1" || v.eq_ignore_ascii_case("true");
    if values.iter().any(|v| !is_false(v) && !is_true(v)) {
        chk.deny("valeur includeGal invalide");
        return None;
    }
    if !values.is_empty() && values.iter().all(is_false) {
        return None;
    }
    let mut out = req.clone();
    out.remove_field("includeGal");
    out.set_attr("includeGal", "0");
    Some(out)
}
