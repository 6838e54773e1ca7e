//! Calendar requests that mail what the store already holds, as Zimbra does
//! (`CalendarRequest`, `CancelCalendarItem`, `SendInviteReply`, `ModifyCalendarItem`,
//! `AnnounceOrganizerChange`, `ForwardCalendarItem`): cancels to the stored attendees,
//! replies to the stored organizer, CANCEL to attendees a modification removed.

use crate::soap::{Element, Fault, NS_MAIL};

use super::calendar::{
    comps_of, description, invite, is_me, item, mail, no_such_item, parse_id, people,
};
use super::call::{fault, required, required_child, Call};
use super::compose::addresses_of;
use super::data::AccountData;
use super::ical;
use super::mailbox::{Address, Mailbox};
use super::state::{SandboxState, Store};

fn name_of(comp: &Element) -> String {
    comp.attr("name").unwrap_or("").to_string()
}

fn is_org(comp: &Element) -> bool {
    comp.attr("isOrg") == Some("1")
}

/// Every attendee of every invite of the item, once.
fn all_attendees(mb: &Mailbox, id: &str) -> Result<Vec<Address>, Fault> {
    let mut out: Vec<Address> = Vec::new();
    for inv in &item(mb, id)?.invites {
        for a in people(&inv.comp, "at") {
            if !out.iter().any(|o| o.addr.eq_ignore_ascii_case(&a.addr)) {
                out.push(a);
            }
        }
    }
    Ok(out)
}

/// The organizer unless it is the account itself (a sandbox account is delivered
/// locally by `send`; an outside one goes to the outbox).
fn organizer(comp: &Element, account: &AccountData) -> Vec<Address> {
    people(comp, "or")
        .into_iter()
        .filter(|a| !is_me(account, &a.addr))
        .collect()
}

#[allow(clippy::too_many_arguments)]
fn mail_about(
    state: &SandboxState,
    store: &mut Store,
    account: &AccountData,
    via: &str,
    method: &str,
    comp: &Element,
    to: Vec<Address>,
    subject: String,
    desc: String,
) -> Result<(), Fault> {
    mail(
        state, store, account, via, method, comp, to, &subject, &desc, None,
    )
}

/// ModifyAppointmentRequest / ModifyTaskRequest: the invite is replaced; `m/e` get the
/// update and the attendees no longer listed get a CANCEL (organizer only).
pub fn modify(call: &mut Call<'_>, req: &Element, task: bool) -> Result<Element, Fault> {
    let account = call.account()?;
    let id = required(req, "id")?;
    let m = required_child(req, "m")?;
    let to = addresses_of(m)?;
    let mut store = call.state.store.lock();
    let new = comps_of(&store, account, m)?
        .into_iter()
        .next()
        .ok_or_else(|| Fault::invalid_request("missing required element: comp"))?;
    let mb = store
        .mailboxes
        .get_mut(&account.id)
        .ok_or_else(|| Fault::perm_denied("no mailbox"))?;
    let old = invite(mb, id)?.clone();
    let (item_id, _) = parse_id(id).ok_or_else(|| no_such_item(id))?;
    let mut new = new;
    new.set_attr("uid", old.comp.attr("uid").unwrap_or_default().to_string());
    new.set_attr("isOrg", old.comp.attr("isOrg").unwrap_or("0").to_string());
    let kept = people(&new, "at");
    let removed: Vec<Address> = people(&old.comp, "at")
        .into_iter()
        .filter(|a| !kept.iter().any(|k| k.addr.eq_ignore_ascii_case(&a.addr)))
        .collect();
    if let Some(inv) = mb
        .calendar
        .get_mut(&item_id)
        .and_then(|it| it.invites.iter_mut().find(|i| i.id == old.id))
    {
        inv.comp = new.clone();
    }
    let via = if task {
        "ModifyTaskRequest"
    } else {
        "ModifyAppointmentRequest"
    };
    if is_org(&old.comp) {
        let subject = format!("Cancelled: {}", name_of(&old.comp));
        mail_about(
            call.state,
            &mut store,
            account,
            via,
            "CANCEL",
            &old.comp,
            removed,
            subject,
            String::new(),
        )?;
    }
    let subject = m
        .attr("su")
        .map(str::to_string)
        .unwrap_or_else(|| name_of(&new));
    mail_about(
        call.state,
        &mut store,
        account,
        via,
        "REQUEST",
        &new,
        to,
        subject,
        description(m),
    )?;
    let name = if task {
        "ModifyTaskResponse"
    } else {
        "ModifyAppointmentResponse"
    };
    Ok(Element::new(NS_MAIL, name)
        .with_attr("calItemId", item_id.to_string())
        .with_attr("apptId", item_id.to_string())
        .with_attr("invId", format!("{item_id}-{}", old.id))
        .with_num("ms", old.id)
        .with_num("rev", old.id))
}

/// CancelAppointmentRequest / CancelTaskRequest: without `m`, the organizer's cancel
/// goes to every stored attendee; with `m`, to its recipients. Only the organizer may
/// notify anyone (`mail.MUST_BE_ORGANIZER`).
pub fn cancel(call: &mut Call<'_>, req: &Element, task: bool) -> Result<Element, Fault> {
    let account = call.account()?;
    let id = required(req, "id")?;
    if !matches!(parse_id(id), Some((_, Some(_)))) {
        return Err(Fault::invalid_request(
            "missing invId subpart: id should be specified as \"item-inv\"",
        ));
    }
    let mut store = call.state.store.lock();
    let mb = store
        .mailboxes
        .get_mut(&account.id)
        .ok_or_else(|| Fault::perm_denied("no mailbox"))?;
    let inv = invite(mb, id)?.clone();
    let (to, desc, subject) = match req.child("m") {
        Some(m) => (
            addresses_of(m)?,
            description(m),
            m.attr("su").map(str::to_string),
        ),
        None if is_org(&inv.comp) => (all_attendees(mb, id)?, String::new(), None),
        None => (Vec::new(), String::new(), None),
    };
    let notifies = to.iter().any(|a| matches!(a.kind, 't' | 'c' | 'b'));
    if notifies && !is_org(&inv.comp) {
        return Err(fault(
            "mail.MUST_BE_ORGANIZER",
            "must be organizer: CancelCalendarItem",
        ));
    }
    if req.child("inst").is_none() {
        if let Some((item_id, _)) = parse_id(id) {
            mb.calendar.remove(&item_id);
        }
    }
    let via = if task {
        "CancelTaskRequest"
    } else {
        "CancelAppointmentRequest"
    };
    let subject = subject.unwrap_or_else(|| format!("Cancelled: {}", name_of(&inv.comp)));
    mail_about(
        call.state, &mut store, account, via, "CANCEL", &inv.comp, to, subject, desc,
    )?;
    let name = if task {
        "CancelTaskResponse"
    } else {
        "CancelAppointmentResponse"
    };
    Ok(Element::new(NS_MAIL, name))
}

/// The component an id names: `item-inv` in the calendar, or a message holding an
/// invitation (its text/calendar part).
fn component(mb: &Mailbox, id: &str) -> Result<Element, Fault> {
    if id.contains('-') {
        return Ok(invite(mb, id)?.comp.clone());
    }
    let msg = id
        .parse::<u32>()
        .ok()
        .and_then(|i| mb.messages.get(&i))
        .ok_or_else(|| fault("mail.NO_SUCH_MSG", format!("no such message: {id}")))?;
    ical::components_in_message(&msg.raw)
        .into_iter()
        .next()
        .ok_or_else(|| no_such_item(id))
}

/// SendInviteReplyRequest: the reply goes to the stored organizer (or to `m/e` when the
/// client wrote the reply), unless `updateOrganizer="0"`.
pub fn send_invite_reply(call: &mut Call<'_>, req: &Element) -> Result<Element, Fault> {
    let account = call.account()?;
    let id = required(req, "id")?;
    let verb = required(req, "verb")?.to_ascii_uppercase();
    let update_org = req
        .attr_bool("updateOrganizer")
        .map_err(|_| Fault::invalid_request("invalid boolean value for updateOrganizer"))?
        .unwrap_or(true);
    let (word, ptst) = match verb.as_str() {
        "ACCEPT" => ("Accepted", "ACCEPTED"),
        "DECLINE" => ("Declined", "DECLINED"),
        "TENTATIVE" => ("Tentative", "TENTATIVE"),
        "COMPLETED" => ("Completed", "COMPLETED"),
        "DELEGATED" => ("Delegated", "DELEGATED"),
        _ => return Err(Fault::invalid_request(&format!("invalid verb: {verb}"))),
    };
    let mut store = call.state.store.lock();
    let mb = store
        .mailboxes
        .get_mut(&account.id)
        .ok_or_else(|| Fault::perm_denied("no mailbox"))?;
    let comp = component(mb, id)?;
    if !id.contains('-') && verb != "DECLINE" {
        super::calendar::store_item(
            mb,
            account,
            super::mailbox::CALENDAR,
            false,
            vec![comp.clone()],
        );
    }
    if update_org && comp.child("or").is_some() {
        let (to, subject, desc) = match req.child("m") {
            Some(m) => (
                addresses_of(m)?,
                m.attr("su").map(str::to_string),
                description(m),
            ),
            None => (organizer(&comp, account), None, String::new()),
        };
        let subject = subject.unwrap_or_else(|| format!("{word}: {}", name_of(&comp)));
        mail(
            call.state,
            &mut store,
            account,
            "SendInviteReplyRequest",
            "REPLY",
            &comp,
            to,
            &subject,
            &desc,
            Some((&account.name, ptst)),
        )?;
    }
    Ok(Element::new(NS_MAIL, "SendInviteReplyResponse"))
}

/// CounterAppointmentRequest: the proposal is the client's `<m>` (its recipients).
pub fn counter(call: &mut Call<'_>, req: &Element) -> Result<Element, Fault> {
    let account = call.account()?;
    let m = required_child(req, "m")?;
    let to = addresses_of(m)?;
    let mut store = call.state.store.lock();
    let proposed = comps_of(&store, account, m)?.into_iter().next();
    let mb = &store.mailboxes[&account.id];
    let comp = match (req.attr("id"), proposed) {
        (_, Some(c)) => c,
        (Some(id), None) => invite(mb, id)?.comp.clone(),
        (None, None) => return Err(Fault::invalid_request("missing required element: inv")),
    };
    if let Some(id) = req.attr("id") {
        item(mb, id)?;
    }
    let subject = m
        .attr("su")
        .map(str::to_string)
        .unwrap_or_else(|| format!("New Time Proposed: {}", name_of(&comp)));
    mail_about(
        call.state,
        &mut store,
        account,
        "CounterAppointmentRequest",
        "COUNTER",
        &comp,
        to,
        subject,
        description(m),
    )?;
    Ok(Element::new(NS_MAIL, "CounterAppointmentResponse"))
}

/// ForwardAppointmentRequest (`id` = item) / ForwardAppointmentInviteRequest (`id` =
/// invitation message): the invitation to `m/e`; the organizer, when it is an account
/// of this store other than the user, gets a forward notification.
pub fn forward(call: &mut Call<'_>, req: &Element, of_message: bool) -> Result<Element, Fault> {
    let account = call.account()?;
    let id = required(req, "id")?;
    let m = required_child(req, "m")?;
    let to = addresses_of(m)?;
    let mut store = call.state.store.lock();
    let mb = &store.mailboxes[&account.id];
    let comp = if of_message {
        component(mb, id)?
    } else {
        item(mb, id)?
            .invites
            .first()
            .map(|i| i.comp.clone())
            .ok_or_else(|| no_such_item(id))?
    };
    let via = if of_message {
        "ForwardAppointmentInviteRequest"
    } else {
        "ForwardAppointmentRequest"
    };
    let subject = m
        .attr("su")
        .map(str::to_string)
        .unwrap_or_else(|| format!("Fwd: {}", name_of(&comp)));
    mail_about(
        call.state,
        &mut store,
        account,
        via,
        "REQUEST",
        &comp,
        to,
        subject,
        description(m),
    )?;
    let local_organizer: Vec<Address> = organizer(&comp, account)
        .into_iter()
        .filter(|a| call.state.account_by_name(&a.addr).is_some())
        .collect();
    let subject = format!("Forwarded Invitation: {}", name_of(&comp));
    mail_about(
        call.state,
        &mut store,
        account,
        via,
        "REQUEST",
        &comp,
        local_organizer,
        subject,
        String::new(),
    )?;
    let name = if of_message {
        "ForwardAppointmentInviteResponse"
    } else {
        "ForwardAppointmentResponse"
    };
    Ok(Element::new(NS_MAIL, name))
}

/// AnnounceOrganizerChangeRequest: every invite of the item is mailed to its attendees.
pub fn announce_organizer_change(call: &mut Call<'_>, req: &Element) -> Result<Element, Fault> {
    let account = call.account()?;
    let id = required(req, "id")?;
    let mut store = call.state.store.lock();
    let invites = item(&store.mailboxes[&account.id], id)?.invites.clone();
    for inv in invites {
        let subject = format!("Organizer Changed: {}", name_of(&inv.comp));
        mail_about(
            call.state,
            &mut store,
            account,
            "AnnounceOrganizerChangeRequest",
            "REQUEST",
            &inv.comp,
            people(&inv.comp, "at"),
            subject,
            String::new(),
        )?;
    }
    Ok(Element::new(NS_MAIL, "AnnounceOrganizerChangeResponse"))
}
