//! Rules for requests that send a message now or later (zimbra-api §6.1, §4.2).

use super::check::{Check, Ctx};
use super::mime_headers::{header_fields, RECIPIENT_HEADERS, SENDER_HEADERS};
use crate::soap::Element;

/// `e/@t` values that receive the message, its replies or its receipts.
const RECIPIENT_TYPES: &[&str] = &["t", "c", "b", "r", "n"];
/// Header names a client must not set through `m/header` (they carry addresses).
const ADDRESS_HEADERS: &[&str] = &[
    "to",
    "cc",
    "bcc",
    "from",
    "sender",
    "reply-to",
    "disposition-notification-to",
    "return-receipt-to",
    "resent-to",
    "resent-cc",
    "resent-bcc",
    "resent-from",
    "resent-sender",
    "errors-to",
    "mail-followup-to",
    "mail-reply-to",
    "return-path",
];

/// How the author of a message element is handled.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum FromMode {
    /// Composed message: From is set to the MSSanté address even when absent.
    Ensure,
    /// Other carriers: existing From/Sender are replaced, none is added.
    ReplaceExisting,
}

/// The single `t` of an `e`, refusing ambiguous spellings.
fn e_type<'a>(e: &'a Element, chk: &mut Check) -> Option<&'a str> {
    let ts = e.attr_all("t");
    match ts.split_first() {
        Some((t, rest)) if rest.iter().all(|x| x == t) => Some(t),
        Some(_) => {
            chk.deny("type d'adresse (e/@t) ambigu");
            None
        }
        None => {
            chk.deny("adresse sans type (e/@t)");
            None
        }
    }
}

/// Checks the `e` children of a message element; returns it rewritten when its
/// From/Sender must become the user's MSSanté address (M2).
pub(crate) fn check_message(
    m: &Element,
    ctx: &Ctx,
    chk: &mut Check,
    mode: FromMode,
) -> Option<Element> {
    let mut display: Option<String> = None;
    let mut senders = 0usize;
    let mut sender_ok = true;
    for e in m.children_named("e") {
        let Some(t) = e_type(e, chk) else {
            continue;
        };
        for p in e.attr_all("p") {
            if p.chars().any(char::is_control) {
                chk.deny("nom d'affichage invalide");
            }
        }
        if RECIPIENT_TYPES.contains(&t) {
            let values = e.attr_all("a");
            if values.is_empty() {
                chk.deny("adresse manquante (e/@a)");
            }
            for a in values {
                chk.addr(ctx, a);
            }
        } else if t == "f" || t == "s" {
            senders += 1;
            let values = e.attr_all("a");
            let own = t == "f"
                && values.len() == 1
                && values[0]
                    .trim()
                    .eq_ignore_ascii_case(&ctx.user.mssante_address)
                && e.attr_all("p").len() <= 1;
            sender_ok &= own;
            if t == "f" {
                display = e.attr("p").map(str::to_string);
            }
        } else {
            chk.deny(format!("type d'adresse inconnu : {t}"));
        }
    }
    let unchanged = match mode {
        FromMode::Ensure => senders == 1 && sender_ok,
        FromMode::ReplaceExisting => senders == 0 || (senders == 1 && sender_ok),
    };
    if unchanged {
        return None;
    }
    let mut out = m.clone();
    let first = out
        .children
        .iter()
        .position(|c| c.name == "e" && matches!(c.attr("t"), Some("f" | "s")));
    out.children
        .retain(|c| !(c.name == "e" && c.attr_all("t").iter().any(|t| *t == "f" || *t == "s")));
    let mut from = Element::new(m.ns.clone(), "e")
        .with_attr("t", "f")
        .with_attr("a", ctx.user.mssante_address.clone());
    if let Some(p) = display {
        from = from.with_attr("p", p);
    }
    let at = first.unwrap_or(0).min(out.children.len());
    out.children.insert(at, from);
    Some(out)
}

/// `idnt` must name one of the user's own identities (another account id would send
/// from that mailbox, §4.2 #5).
pub(crate) fn check_identity(el: &Element, ctx: &Ctx, chk: &mut Check) {
    for v in el.attr_all("idnt") {
        if !ctx.user.identity_ids.iter().any(|i| i == v) {
            chk.deny(format!("identité d'envoi non autorisée : {v}"));
        }
    }
}

/// Upload ids of an `aid` value (comma-separated).
pub(crate) fn aids(v: &str) -> impl Iterator<Item = &str> {
    v.split(',').map(str::trim).filter(|s| !s.is_empty())
}

/// Resolves one upload, recording a need or a refusal when it is not available.
pub(crate) fn upload(ctx: &Ctx, chk: &mut Check, aid: &str) -> Option<super::decision::UploadInfo> {
    match ctx.uploads.get(aid) {
        Some(u) => Some(u),
        None if !ctx.uploads.available() => {
            if !chk.needs.iter().any(|n| n == aid) {
                chk.needs.push(aid.to_string());
            }
            None
        }
        None => {
            chk.deny(format!(
                "pièce jointe ou message téléversé non vérifiable : {aid}"
            ));
            None
        }
    }
}

/// A whole uploaded message (`m@aid`): its recipients must be trusted and its author
/// must already be the MSSanté address (uploaded bytes are not rewritten).
fn check_uploaded_message(bytes: &[u8], ctx: &Ctx, chk: &mut Check) {
    let Some(fields) = header_fields(bytes) else {
        chk.deny("message téléversé illisible");
        return;
    };
    for (name, value) in &fields {
        if RECIPIENT_HEADERS.contains(&name.as_str()) {
            chk.addr(ctx, value);
        } else if SENDER_HEADERS.contains(&name.as_str()) {
            match super::address::parse_address_list(value) {
                Ok(list)
                    if list.len() == 1
                        && list[0]
                            .addr()
                            .eq_ignore_ascii_case(&ctx.user.mssante_address) => {}
                _ => chk.deny(format!(
                    "l'expéditeur du message téléversé doit être votre adresse MSSanté {}",
                    ctx.user.mssante_address
                )),
            }
        }
    }
}

/// The composed-message checks shared by SendMsg, SendSecureMsg and auto-sent drafts.
fn check_compose(m: &Element, ctx: &Ctx, chk: &mut Check) -> Option<Element> {
    check_identity(m, ctx, chk);
    if m.attr_all("dsId").iter().any(|v| !v.is_empty()) {
        chk.deny("envoi par une source de données externe (dsId) refusé");
    }
    for h in m.children_named("header") {
        let name = h.attr("name").unwrap_or("").trim().to_ascii_lowercase();
        if ADDRESS_HEADERS.contains(&name.as_str()) {
            chk.deny(format!("en-tête {name} refusé"));
        }
    }
    let mut total: u64 = 0;
    for v in m.attr_all("aid") {
        for aid in aids(v) {
            if let Some(u) = upload(ctx, chk, aid) {
                total += u.size;
                match u.content {
                    Some(bytes) => check_uploaded_message(&bytes, ctx, chk),
                    None => chk.deny(format!("message téléversé non vérifiable : {aid}")),
                }
            }
        }
    }
    for att in m.walk().into_iter().filter(|e| e.name == "attach") {
        for v in att.attr_all("aid") {
            for aid in aids(v) {
                if let Some(u) = upload(ctx, chk, aid) {
                    total += u.size;
                }
            }
        }
    }
    if total > ctx.cfg.attachment_limit_bytes {
        chk.deny(format!(
            "pièces jointes trop volumineuses : {total} octets (limite {} octets)",
            ctx.cfg.attachment_limit_bytes
        ));
    }
    // sfd=1 sends the stored draft as it is: it is read and judged by `stored`.
    // With `m@aid` the server builds the message from the upload alone: nothing to add.
    let mode = if m.attr_all("aid").is_empty() {
        FromMode::Ensure
    } else {
        FromMode::ReplaceExisting
    };
    check_message(m, ctx, chk, mode)
}

/// Replaces the `m` child by its rewritten version.
fn with_m(req: &Element, m: Element) -> Element {
    let mut out = req.clone();
    if let Some(slot) = out.children.iter_mut().find(|c| c.name == "m") {
        *slot = m;
    }
    out
}

/// The single `m` of a request (several would be read differently by the server).
fn single_m<'a>(req: &'a Element, chk: &mut Check) -> Option<&'a Element> {
    let ms: Vec<&Element> = req.children_named("m").collect();
    if ms.len() != 1 {
        chk.deny("un élément m unique est attendu");
        return None;
    }
    Some(ms[0])
}

/// SendMsgRequest, SendSecureMsgRequest (§6.1 #1, #2).
pub(crate) fn send_msg(req: &Element, ctx: &Ctx, chk: &mut Check) -> Option<Element> {
    chk.send = true;
    let m = single_m(req, chk)?;
    check_compose(m, ctx, chk).map(|m| with_m(req, m))
}

/// SaveDraftRequest: a draft with `autoSendTime` leaves the mailbox (§6.1 #3); any
/// other draft can be sent as stored later (`SendMsg sfd`, its read-receipt address
/// used by `SendDeliveryReport`), so it is judged when planted, From included.
pub(crate) fn save_draft(req: &Element, ctx: &Ctx, chk: &mut Check) -> Option<Element> {
    let m = single_m(req, chk)?;
    // Read on `m` by the server; also refused on the request itself (default deny).
    let auto = m
        .attr_all("autoSendTime")
        .into_iter()
        .chain(req.attr_all("autoSendTime"))
        .any(|v| !v.trim().is_empty() && v.trim() != "0");
    chk.send = auto;
    check_compose(m, ctx, chk).map(|m| with_m(req, m))
}

/// Requests with nothing to read in themselves: the store acts on a stored item only,
/// judged by `stored` (SendDeliveryReport, AnnounceOrganizerChange).
pub(crate) fn stored_only(_req: &Element, _ctx: &Ctx, chk: &mut Check) -> Option<Element> {
    chk.send = true;
    None
}

/// Calendar and other message-carrying requests: every `m/e` (From/Sender replaced
/// when present), attendees `at/@a`, organizer `or/@a|@sentBy`, `idnt`
/// (§6.1 #4, #7-#11).
pub(crate) fn carried_messages(req: &Element, ctx: &Ctx, chk: &mut Check) -> Option<Element> {
    chk.send = true;
    check_identity(req, ctx, chk);
    visit(req, ctx, chk)
}

fn visit(el: &Element, ctx: &Ctx, chk: &mut Check) -> Option<Element> {
    let mut children: Option<Vec<Element>> = None;
    for (i, c) in el.children.iter().enumerate() {
        if let Some(nc) = visit(c, ctx, chk) {
            children.get_or_insert_with(|| el.children.clone())[i] = nc;
        }
    }
    match el.name.as_str() {
        "at" => el.attr_all("a").iter().for_each(|a| chk.addr(ctx, a)),
        "or" => {
            for a in el.attr_all("a").into_iter().chain(el.attr_all("sentBy")) {
                if !ctx.user.is_own(a) {
                    chk.addr(ctx, a);
                }
            }
        }
        "m" => {
            check_identity(el, ctx, chk);
            if el.attr_all("dsId").iter().any(|v| !v.is_empty()) {
                chk.deny("envoi par une source de données externe (dsId) refusé");
            }
        }
        _ => {}
    }
    let rebuilt = children.map(|ch| {
        let mut e = el.clone();
        e.children = ch;
        e
    });
    // Addresses are `m/e` only: other `e` (a component's end time `comp/e`, a
    // recurrence date `dtval/e`) are not addresses (issue 9, class 9).
    if el.name == "m" && el.children.iter().any(|c| c.name == "e") {
        let cur = rebuilt.as_ref().unwrap_or(el);
        if let Some(r) = check_message(cur, ctx, chk, FromMode::ReplaceExisting) {
            return Some(r);
        }
    }
    rebuilt
}

/// SendShareNotificationRequest: `e/@a` (no type) and the deprecated `share/@d` (§6.1 #6).
pub(crate) fn share_notification(req: &Element, ctx: &Ctx, chk: &mut Check) -> Option<Element> {
    chk.send = true;
    for el in req.walk() {
        match el.name.as_str() {
            "e" => {
                let v = el.attr_all("a");
                if v.is_empty() {
                    chk.deny("adresse manquante (e/@a)");
                }
                v.iter().for_each(|a| chk.addr(ctx, a));
            }
            "share" => el.attr_all("d").iter().for_each(|a| chk.addr(ctx, a)),
            _ => {}
        }
    }
    None
}

/// Requests that mail a code to an address in one attribute (§6.1 #13, #14, #16).
pub(crate) fn code_address(
    field: &'static str,
) -> impl Fn(&Element, &Ctx, &mut Check) -> Option<Element> {
    move |req, ctx, chk| {
        chk.send = true;
        for a in req.attr_all(field) {
            chk.addr(ctx, a);
        }
        None
    }
}
