//! Stored items (issue 9, class 3): a request that makes the store mail addresses it
//! already holds — a saved draft sent as stored, the read-receipt address of a
//! message, the organizer or attendees of a calendar item — is judged on those
//! addresses. The gateway reads the item through the store with the session's own
//! token (`GetMsg` / `GetAppointment` / `GetTask`) and applies the trust-space rule to
//! every address the store will mail; an item it cannot read is refused.
//!
//! Forms that only pull stored *content* (`origid` with `rt`, `attach/m`, `attach/mp`,
//! `attach/cn`, `BounceMsg m/@id`) send it to the recipients the request names, which
//! the request rules judge; the store adds no stored address to them.
//!
//! One table says which requests act on which item and which of its addresses count;
//! one function ([`check`]) applies it to any request, alone or inside a batch, in XML
//! or JSON (the tree is the same). `inspect` asks the caller for the items first
//! (`Decision::NeedsItems`), exactly as it asks for uploads.

use super::check::{Check, Ctx};
use super::mime_headers::{RECIPIENT_HEADERS, SENDER_HEADERS};
use crate::soap::{Element, NS_MAIL};

/// How the gateway reads a stored item.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ItemKind {
    /// `GetMsgRequest` (a draft, a received message, an invite message or `appt-inv`).
    Message,
    /// `GetAppointmentRequest`.
    Appointment,
    /// `GetTaskRequest`.
    Task,
}

/// One stored item to read, named as the request names it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ItemRef {
    pub kind: ItemKind,
    pub id: String,
}

/// Header fields asked for with `GetMsg` (the store answers `<header n=…>` children).
const READ_HEADERS: &[&str] = &[
    "To",
    "Cc",
    "Bcc",
    "Reply-To",
    "Disposition-Notification-To",
    "Return-Receipt-To",
    "Resent-To",
    "Resent-Cc",
    "Resent-Bcc",
    "From",
    "Sender",
];

impl ItemRef {
    /// The request that reads the item (Body child, urn:zimbraMail).
    pub fn read_request(&self) -> Element {
        match self.kind {
            ItemKind::Message => {
                let mut m = Element::new(NS_MAIL, "m")
                    .unique()
                    .with_attr("id", self.id.clone())
                    .with_attr("read", "0")
                    .with_attr("max", "1024");
                for h in READ_HEADERS {
                    m = m.with_child(Element::new(NS_MAIL, "header").with_attr("n", *h));
                }
                Element::new(NS_MAIL, "GetMsgRequest").with_child(m)
            }
            ItemKind::Appointment | ItemKind::Task => {
                let name = if self.kind == ItemKind::Task {
                    "GetTaskRequest"
                } else {
                    "GetAppointmentRequest"
                };
                Element::new(NS_MAIL, name)
                    .with_attr("id", self.id.clone())
                    .with_attr("includeContent", "0")
                    .with_attr("includeInvites", "1")
            }
        }
    }

    /// The item inside the store's answer (`m`, `appt`, `task`).
    fn item_in<'a>(&self, answer: &'a Element) -> Option<&'a Element> {
        let name = match self.kind {
            ItemKind::Message => "m",
            ItemKind::Appointment => "appt",
            ItemKind::Task => "task",
        };
        answer.child(name)
    }
}

/// Access to the stored items of the current user, read by the caller beforehand.
pub trait StoredItems {
    /// `Some(Ok(answer))`: the store's answer element; `Some(Err(reason))`: the store
    /// refused or could not be asked; `None`: not looked up.
    fn get(&self, item: &ItemRef) -> Option<Result<Element, String>>;
    /// False when nothing was looked up yet: a missing item is then asked for.
    fn available(&self) -> bool {
        true
    }
}

/// No stored-item access: `inspect` answers `NeedsItems` when one matters.
pub struct NoStoredItems;

impl StoredItems for NoStoredItems {
    fn get(&self, _item: &ItemRef) -> Option<Result<Element, String>> {
        None
    }
    fn available(&self) -> bool {
        false
    }
}

/// Which addresses of the item the store will mail.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mailed {
    /// The stored message as it is: its recipients (and its author must be the
    /// user's MSSanté address: stored bytes are not rewritten).
    Recipients,
    /// The read-receipt address (`Disposition-Notification-To`).
    ReceiptTo,
    /// The organizer (replies, counter proposals, forward notifications).
    Organizer,
    /// Attendees and organizer of every invite of the item (cancels, updates).
    People,
}

/// Where the request names the item.
#[derive(Debug, Clone, Copy)]
enum IdAt {
    /// A request attribute (`id`, `mid`).
    Attr(&'static str),
    /// `m/@did` when `m/@sfd` is true (send the draft as stored).
    StoredDraft,
}

struct StoredSend {
    request: &'static str,
    id: IdAt,
    kind: ItemKind,
    mailed: Mailed,
    /// A boolean request attribute that, when false, means nothing is mailed.
    unless_false: Option<&'static str>,
    /// The request may name no item at all (then the store acts on none).
    id_optional: bool,
}

const fn row(request: &'static str, id: IdAt, kind: ItemKind, mailed: Mailed) -> StoredSend {
    StoredSend {
        request,
        id,
        kind,
        mailed,
        unless_false: None,
        id_optional: false,
    }
}

use ItemKind::{Appointment, Message, Task};
use Mailed::{Organizer, People, ReceiptTo, Recipients};

/// Every request (urn:zimbraMail) that makes the store mail addresses it holds
/// (zimbra-api §4.2 #3, §6.1 #5, #7-#12).
const STORED_SENDS: &[StoredSend] = &[
    row("SendMsgRequest", IdAt::StoredDraft, Message, Recipients),
    row(
        "SendSecureMsgRequest",
        IdAt::StoredDraft,
        Message,
        Recipients,
    ),
    row(
        "SendDeliveryReportRequest",
        IdAt::Attr("mid"),
        Message,
        ReceiptTo,
    ),
    StoredSend {
        unless_false: Some("updateOrganizer"),
        ..row(
            "SendInviteReplyRequest",
            IdAt::Attr("id"),
            Message,
            Organizer,
        )
    },
    StoredSend {
        id_optional: true,
        ..row(
            "CounterAppointmentRequest",
            IdAt::Attr("id"),
            Appointment,
            Organizer,
        )
    },
    row(
        "ForwardAppointmentInviteRequest",
        IdAt::Attr("id"),
        Message,
        Organizer,
    ),
    row(
        "ForwardAppointmentRequest",
        IdAt::Attr("id"),
        Appointment,
        Organizer,
    ),
    row(
        "AnnounceOrganizerChangeRequest",
        IdAt::Attr("id"),
        Appointment,
        People,
    ),
    row(
        "CancelAppointmentRequest",
        IdAt::Attr("id"),
        Appointment,
        People,
    ),
    row(
        "ModifyAppointmentRequest",
        IdAt::Attr("id"),
        Appointment,
        People,
    ),
    row(
        "CreateAppointmentExceptionRequest",
        IdAt::Attr("id"),
        Appointment,
        People,
    ),
    row("CancelTaskRequest", IdAt::Attr("id"), Task, People),
    row("ModifyTaskRequest", IdAt::Attr("id"), Task, People),
    row("CreateTaskExceptionRequest", IdAt::Attr("id"), Task, People),
];

fn is_true(v: &str) -> bool {
    v == "1" || v.eq_ignore_ascii_case("true")
}

fn is_false(v: &str) -> bool {
    v == "0" || v.eq_ignore_ascii_case("false")
}

/// `appt-inv` → `appt` for calendar items (an `acct:` prefix is kept).
fn calendar_item_id(id: &str) -> String {
    match id.rsplit_once('-') {
        Some((item, inv)) if !inv.is_empty() && inv.bytes().all(|b| b.is_ascii_digit()) => {
            item.to_string()
        }
        _ => id.to_string(),
    }
}

/// Requests (urn:zimbraMail) that create or change stored messages and calendar items:
/// inside one batch, a later child must not send a stored item, since the item read
/// before the batch runs may not be the one sent.
const CHANGES_STORED: &[&str] = &[
    "SaveDraftRequest",
    "AddMsgRequest",
    "SetAppointmentRequest",
    "SetTaskRequest",
    "AddAppointmentInviteRequest",
    "AddTaskInviteRequest",
    "ImportAppointmentsRequest",
    "ICalReplyRequest",
    "CreateAppointmentRequest",
    "CreateTaskRequest",
    "ModifyAppointmentRequest",
    "ModifyTaskRequest",
    "CreateAppointmentExceptionRequest",
    "CreateTaskExceptionRequest",
    "SendInviteReplyRequest",
];

/// Does this request create or change stored items a later request could send?
pub fn changes_stored_items(req: &Element) -> bool {
    req.ns == NS_MAIL && CHANGES_STORED.contains(&req.name.as_str())
}

/// Names (urn:zimbraMail) of the requests that act on stored addresses.
pub fn stored_send_requests() -> impl Iterator<Item = &'static str> {
    STORED_SENDS.iter().map(|r| r.request)
}

fn table_row(req: &Element) -> Option<&'static StoredSend> {
    if req.ns != NS_MAIL {
        return None;
    }
    STORED_SENDS.iter().find(|r| r.request == req.name)
}

/// The stored items a request makes the store act on (empty for any other request).
/// `Err` when the request names none although it must.
pub fn targets(req: &Element) -> Result<Vec<ItemRef>, String> {
    let Some(row) = table_row(req) else {
        return Ok(Vec::new());
    };
    if let Some(flag) = row.unless_false {
        let values = req.attr_all(flag);
        if !values.is_empty() && values.iter().all(|v| is_false(v)) {
            return Ok(Vec::new());
        }
    }
    let ids: Vec<&str> = match row.id {
        IdAt::Attr(name) => req.attr_all(name),
        IdAt::StoredDraft => {
            let ms: Vec<&Element> = req.children_named("m").collect();
            if !ms
                .iter()
                .any(|m| m.attr_all("sfd").iter().any(|v| is_true(v)))
            {
                return Ok(Vec::new());
            }
            ms.iter().flat_map(|m| m.attr_all("did")).collect()
        }
    };
    let ids: Vec<&str> = ids
        .into_iter()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect();
    if ids.is_empty() {
        if row.id_optional {
            return Ok(Vec::new());
        }
        return Err(format!(
            "{} sans identifiant d'élément enregistré",
            req.name
        ));
    }
    let mut out: Vec<ItemRef> = Vec::new();
    for id in ids {
        let id = match row.kind {
            Message => id.to_string(),
            Appointment | Task => calendar_item_id(id),
        };
        let r = ItemRef { kind: row.kind, id };
        if !out.contains(&r) {
            out.push(r);
        }
    }
    Ok(out)
}

/// Judges a request on the stored addresses it makes the store mail. Items not looked
/// up yet are recorded in `chk.items` (the caller reads them and asks again).
pub(crate) fn check(req: &Element, ctx: &Ctx, chk: &mut Check) {
    let Some(row) = table_row(req) else { return };
    let items = match targets(req) {
        Ok(items) => items,
        Err(reason) => {
            chk.deny(reason);
            return;
        }
    };
    for item in items {
        match ctx.stored.get(&item) {
            Some(Ok(answer)) => match item.item_in(&answer) {
                Some(el) => judge(el, row.mailed, ctx, chk),
                None => chk.deny(format!("élément enregistré {} illisible", item.id)),
            },
            Some(Err(reason)) => chk.deny(format!(
                "élément enregistré {} non vérifiable : {reason}",
                item.id
            )),
            None if !ctx.stored.available() => {
                if !chk.items.contains(&item) {
                    chk.items.push(item);
                }
            }
            None => chk.deny(format!("élément enregistré {} non vérifiable", item.id)),
        }
    }
}

/// Applies the trust-space rule to the addresses of `item` that `mailed` counts.
fn judge(item: &Element, mailed: Mailed, ctx: &Ctx, chk: &mut Check) {
    let headers: Vec<(String, &str)> = item
        .children_named("header")
        .filter_map(|h| {
            h.attr("n")
                .or_else(|| h.attr("name"))
                .map(|n| (n.to_ascii_lowercase(), h.text()))
        })
        .collect();
    let e_values = |types: &[&str]| -> Vec<&str> {
        item.children_named("e")
            .filter(|e| e.attr_all("t").iter().any(|t| types.contains(t)))
            .flat_map(|e| e.attr_all("a"))
            .collect()
    };
    match mailed {
        Recipients => {
            for a in e_values(&["t", "c", "b", "r", "n"]) {
                chk.addr(ctx, a);
            }
            for (n, v) in &headers {
                if RECIPIENT_HEADERS.contains(&n.as_str()) {
                    chk.addr(ctx, v);
                }
            }
            let mut authors: Vec<&str> = e_values(&["f", "s"]);
            authors.extend(
                headers
                    .iter()
                    .filter(|(n, _)| SENDER_HEADERS.contains(&n.as_str()))
                    .map(|(_, v)| *v),
            );
            let own = |v: &str| match super::address::parse_address_list(v) {
                Ok(list) => list
                    .iter()
                    .all(|m| m.addr().eq_ignore_ascii_case(&ctx.user.mssante_address)),
                Err(_) => false,
            };
            if !authors.iter().all(|a| own(a)) {
                chk.deny(format!(
                    "l'expéditeur du brouillon enregistré doit être votre adresse MSSanté {}",
                    ctx.user.mssante_address
                ));
            }
        }
        ReceiptTo => {
            for a in e_values(&["n"]) {
                chk.addr(ctx, a);
            }
            for (n, v) in &headers {
                if n == "disposition-notification-to" || n == "return-receipt-to" {
                    chk.addr(ctx, v);
                }
            }
        }
        Organizer | People => {
            for el in item.walk() {
                let fields: &[&str] = match el.name.as_str() {
                    "or" => &["a", "sentBy"],
                    "at" if mailed == People => &["a", "sentBy"],
                    _ => continue,
                };
                for f in fields {
                    for a in el.attr_all(f) {
                        if !ctx.user.is_own(a) {
                            chk.addr(ctx, a);
                        }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::soap::Envelope;

    fn req(xml: &str) -> Element {
        let body = format!(
            "<soap:Envelope xmlns:soap=\"http://www.w3.org/2003/05/soap-envelope\"><soap:Body>{xml}</soap:Body></soap:Envelope>"
        );
        Envelope::parse(body.as_bytes()).unwrap().body
    }

    #[test]
    fn targets_follow_the_table() {
        let t = |x: &str| targets(&req(x));
        let msg = |id: &str| ItemRef {
            kind: Message,
            id: id.into(),
        };
        let appt = |id: &str| ItemRef {
            kind: Appointment,
            id: id.into(),
        };
        assert_eq!(
            t(r#"<SendMsgRequest xmlns="urn:zimbraMail"><m did="300" sfd="1"/></SendMsgRequest>"#),
            Ok(vec![msg("300")])
        );
        // Without sfd the draft is only deleted after the send: nothing stored is sent.
        assert_eq!(
            t(
                r#"<SendMsgRequest xmlns="urn:zimbraMail"><m did="300"><e t="t" a="a@b.fr"/></m></SendMsgRequest>"#
            ),
            Ok(vec![])
        );
        assert_eq!(
            t(
                r#"<SendMsgRequest xmlns="urn:zimbraMail"><m sfd="true"><did>301</did></m></SendMsgRequest>"#
            ),
            Ok(vec![msg("301")])
        );
        assert!(
            t(r#"<SendMsgRequest xmlns="urn:zimbraMail"><m sfd="1"/></SendMsgRequest>"#).is_err()
        );
        assert_eq!(
            t(r#"<CancelAppointmentRequest xmlns="urn:zimbraMail" id="acct-1:257-258" comp="0"/>"#),
            Ok(vec![appt("acct-1:257")])
        );
        assert_eq!(
            t(r#"<SendDeliveryReportRequest xmlns="urn:zimbraMail" mid="12"/>"#),
            Ok(vec![msg("12")])
        );
        assert_eq!(
            t(
                r#"<SendInviteReplyRequest xmlns="urn:zimbraMail" id="257-258" compNum="0" verb="ACCEPT" updateOrganizer="false"/>"#
            ),
            Ok(vec![])
        );
        assert_eq!(
            t(r#"<SendInviteReplyRequest xmlns="urn:zimbraMail" id="257-258" verb="ACCEPT"/>"#),
            Ok(vec![msg("257-258")])
        );
        assert!(t(r#"<AnnounceOrganizerChangeRequest xmlns="urn:zimbraMail"/>"#).is_err());
        assert_eq!(
            t(r#"<GetMsgRequest xmlns="urn:zimbraMail"><m id="1"/></GetMsgRequest>"#),
            Ok(vec![])
        );
    }

    #[test]
    fn read_requests_name_the_item() {
        let r = ItemRef {
            kind: Message,
            id: "300".into(),
        }
        .read_request();
        assert_eq!(r.name, "GetMsgRequest");
        let m = r.child("m").unwrap();
        assert_eq!(m.attr("id"), Some("300"));
        assert!(m
            .children_named("header")
            .any(|h| h.attr("n") == Some("Bcc")));
        let r = ItemRef {
            kind: Appointment,
            id: "257".into(),
        }
        .read_request();
        assert_eq!(
            (r.name.as_str(), r.attr("id")),
            ("GetAppointmentRequest", Some("257"))
        );
    }
}
