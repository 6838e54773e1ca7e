//! Calendar items (soap-calendar.txt): CreateAppointment (mails the invitation to
//! `m/e`), GetAppointment, and the requests that store items without mailing anything
//! (SetAppointment, AddAppointmentInvite, ImportAppointments). The requests that mail
//! what an item already holds are in `calendar_send.rs`.

use crate::soap::{Element, Fault, NS_MAIL};

use super::call::{fault, required, required_child, Call};
use super::compose::{addresses_of, build_message, Fields};
use super::data::AccountData;
use super::delivery::send;
use super::ical;
use super::mailbox::{Address, Mailbox, CALENDAR};
use super::mime::{self, Part};
use super::state::{SandboxState, Store};

/// Zimbra's default Tasks folder.
const TASKS: u32 = 15;

/// One calendar item: an appointment (or task) and its invites (series, exceptions).
#[derive(Debug, Clone)]
pub struct CalItem {
    pub id: u32,
    pub folder: u32,
    pub uid: String,
    pub task: bool,
    pub invites: Vec<Invite>,
}

/// One invite of an item: `{item}-{id}` is its invite id.
#[derive(Debug, Clone)]
pub struct Invite {
    pub id: u32,
    /// The `<comp>` as stored (uid and isOrg filled in).
    pub comp: Element,
}

pub fn no_such_item(id: &str) -> Fault {
    fault(
        "mail.NO_SUCH_CALITEM",
        format!("no such calendar item: {id}"),
    )
}

/// `A-B` → (A, Some(B)); `A` → (A, None). An `account:` prefix is not supported here
/// (no shared calendars in the sandbox): such ids are unknown items.
pub fn parse_id(id: &str) -> Option<(u32, Option<u32>)> {
    match id.split_once('-') {
        Some((a, b)) => Some((a.parse().ok()?, Some(b.parse().ok()?))),
        None => Some((id.parse().ok()?, None)),
    }
}

/// The item an id names.
pub fn item<'m>(mb: &'m Mailbox, id: &str) -> Result<&'m CalItem, Fault> {
    parse_id(id)
        .and_then(|(a, _)| mb.calendar.get(&a))
        .ok_or_else(|| no_such_item(id))
}

/// The invite an `A-B` id names (the first invite for a bare `A`).
pub fn invite<'m>(mb: &'m Mailbox, id: &str) -> Result<&'m Invite, Fault> {
    let (a, b) = parse_id(id).ok_or_else(|| no_such_item(id))?;
    let it = mb.calendar.get(&a).ok_or_else(|| no_such_item(id))?;
    match b {
        Some(b) => it.invites.iter().find(|i| i.id == b),
        None => it.invites.first(),
    }
    .ok_or_else(|| {
        fault(
            "mail.INVITE_OUT_OF_DATE",
            format!("invite out of date: {id}"),
        )
    })
}

/// Is `addr` the account itself?
pub fn is_me(account: &AccountData, addr: &str) -> bool {
    addr.trim().eq_ignore_ascii_case(&account.name)
}

/// The `<comp>` elements an `<m>` carries: `inv/comp`, the old form with the component
/// attributes on `inv`, or the calendar parts of a raw message (`mp/content`, `aid`).
pub fn comps_of(store: &Store, account: &AccountData, m: &Element) -> Result<Vec<Element>, Fault> {
    if let Some(inv) = m.child("inv") {
        let comps: Vec<Element> = inv.children_named("comp").cloned().collect();
        if !comps.is_empty() {
            return Ok(comps);
        }
        let mut comp = inv.clone();
        comp.name = "comp".into();
        return Ok(vec![comp]);
    }
    if let Some(aid) = m.attr("aid") {
        let up = store
            .uploads
            .get(aid)
            .filter(|u| u.owner == account.id)
            .ok_or_else(|| fault("mail.NO_SUCH_UPLOAD", format!("upload not found: {aid}")))?;
        return Ok(ical::components_in_message(&up.data));
    }
    let raw = m
        .walk()
        .into_iter()
        .find(|e| e.name == "content")
        .map(|c| c.text().to_string())
        .ok_or_else(|| Fault::invalid_request("missing required element: inv"))?;
    let comps = ical::components_in_message(raw.as_bytes());
    if comps.is_empty() {
        return Err(Fault::invalid_request("no text/calendar part"));
    }
    Ok(comps)
}

/// Fills in what the store adds to a component it keeps.
fn normalise(account: &AccountData, mut comp: Element) -> Element {
    if comp.attr("uid").is_none() {
        comp.set_attr("uid", uuid::Uuid::new_v4().to_string());
    }
    let org_is_me = comp
        .child("or")
        .and_then(|o| o.attr("a"))
        .is_none_or(|a| is_me(account, a));
    comp.set_attr("isOrg", if org_is_me { "1" } else { "0" });
    comp
}

/// Stores a new item (or adds invites to the one with the same UID); returns
/// (item id, id of the first invite added).
pub fn store_item(
    mb: &mut Mailbox,
    account: &AccountData,
    folder: u32,
    task: bool,
    comps: Vec<Element>,
) -> (u32, u32) {
    let comps: Vec<Element> = comps.into_iter().map(|c| normalise(account, c)).collect();
    let uid = comps[0].attr("uid").unwrap_or_default().to_string();
    let existing = mb.calendar.values().find(|i| i.uid == uid).map(|i| i.id);
    let item_id = existing.unwrap_or_else(|| mb.alloc_id());
    let mut first = 0;
    let mut invites = Vec::new();
    for comp in comps {
        let id = mb.alloc_id();
        if first == 0 {
            first = id;
        }
        invites.push(Invite { id, comp });
    }
    let it = mb.calendar.entry(item_id).or_insert_with(|| CalItem {
        id: item_id,
        folder,
        uid,
        task,
        invites: Vec::new(),
    });
    // A new invite for the series replaces the old one (no recurrence ids here).
    if existing.is_some() {
        it.invites.clear();
    }
    it.invites.extend(invites);
    (item_id, first)
}

/// The plain-text description of an `<m>` (its first text/plain part).
pub fn description(m: &Element) -> String {
    m.walk()
        .into_iter()
        .find(|e| e.name == "mp" && e.attr("ct").is_none_or(|c| c.starts_with("text/plain")))
        .and_then(|mp| mp.attr("content"))
        .unwrap_or("")
        .to_string()
}

/// Mails an iTIP message about `comp` to `to`: headers rebuilt from the stored fields
/// (subject, display names) as Zimbra's CalendarMailSender does.
#[allow(clippy::too_many_arguments)]
pub fn mail(
    state: &SandboxState,
    store: &mut Store,
    account: &AccountData,
    via: &str,
    method: &str,
    comp: &Element,
    to: Vec<Address>,
    subject: &str,
    desc: &str,
    replier: Option<(&str, &str)>,
) -> Result<(), Fault> {
    if to.is_empty() {
        return Ok(());
    }
    let body = Part::Multi {
        ct: "multipart/alternative".into(),
        parts: vec![
            Part::Text {
                ct: "text/plain".into(),
                content: desc.to_string(),
                cid: None,
            },
            Part::Text {
                ct: format!("text/calendar; method={method}"),
                content: ical::calendar(method, comp, replier),
                cid: None,
            },
        ],
    };
    let fields = Fields {
        subject,
        irt: None,
        flags: "",
        keep_bcc: false,
    };
    let c = build_message(account, to, &fields, &body);
    send(state, store, account, &c, via, None, false).map(|_| ())
}

/// `at` (or `or`) of a component as `To:` addresses, display names kept.
pub fn people(comp: &Element, which: &str) -> Vec<Address> {
    comp.children_named(which)
        .filter_map(|p| {
            Some(Address {
                kind: 't',
                addr: p.attr("a")?.to_string(),
                name: p.attr("d").map(str::to_string),
            })
        })
        .collect()
}

fn response(name: &str, item: u32, inv: u32) -> Element {
    Element::new(NS_MAIL, name)
        .with_attr("calItemId", item.to_string())
        .with_attr("apptId", item.to_string())
        .with_attr("invId", format!("{item}-{inv}"))
        .with_num("ms", inv)
        .with_num("rev", inv)
}

/// CreateAppointmentRequest / CreateTaskRequest: stores the item, mails `m/e`.
pub fn create(call: &mut Call<'_>, req: &Element, task: bool) -> Result<Element, Fault> {
    let account = call.account()?;
    let m = required_child(req, "m")?;
    let to = addresses_of(m)?;
    let mut store = call.state.store.lock();
    let comps = comps_of(&store, account, m)?;
    let mb = store
        .mailboxes
        .get_mut(&account.id)
        .ok_or_else(|| Fault::perm_denied("no mailbox"))?;
    let folder = m
        .attr("l")
        .and_then(|l| l.parse().ok())
        .filter(|l| mb.folders.contains_key(l))
        .unwrap_or(if task { TASKS } else { CALENDAR });
    let (item, inv) = store_item(mb, account, folder, task, comps);
    let comp = mb.calendar[&item].invites[0].comp.clone();
    let subject = m
        .attr("su")
        .or_else(|| comp.attr("name"))
        .unwrap_or("")
        .to_string();
    let via = if task {
        "CreateTaskRequest"
    } else {
        "CreateAppointmentRequest"
    };
    mail(
        call.state,
        &mut store,
        account,
        via,
        "REQUEST",
        &comp,
        to,
        &subject,
        &description(m),
        None,
    )?;
    let name = if task {
        "CreateTaskResponse"
    } else {
        "CreateAppointmentResponse"
    };
    Ok(response(name, item, inv))
}

/// `<appt>` / `<task>` as GetAppointment answers it: every invite with its component.
pub fn item_element(it: &CalItem) -> Element {
    let mut el = Element::new(NS_MAIL, if it.task { "task" } else { "appt" })
        .unique()
        .with_attr("id", it.id.to_string())
        .with_attr("uid", it.uid.clone())
        .with_attr("l", it.folder.to_string());
    for inv in &it.invites {
        el = el.with_child(
            Element::new(NS_MAIL, "inv")
                .with_attr("id", inv.id.to_string())
                .with_attr("compNum", "0")
                .with_attr("type", if it.task { "task" } else { "appt" })
                .with_child(inv.comp.clone()),
        );
    }
    el
}

/// GetAppointmentRequest / GetTaskRequest (`id` or `uid`).
pub fn get(call: &mut Call<'_>, req: &Element, task: bool) -> Result<Element, Fault> {
    let account = call.account()?;
    let store = call.state.store.lock();
    let mb = &store.mailboxes[&account.id];
    let it = match (req.attr("id"), req.attr("uid")) {
        (Some(id), _) => item(mb, id)?,
        (None, Some(uid)) => mb
            .calendar
            .values()
            .find(|i| i.uid == uid)
            .ok_or_else(|| no_such_item(uid))?,
        (None, None) => return Err(super::call::missing("id")),
    };
    let name = if task {
        "GetTaskResponse"
    } else {
        "GetAppointmentResponse"
    };
    Ok(Element::new(NS_MAIL, name).with_child(item_element(it)))
}

/// SetAppointmentRequest / SetTaskRequest: the whole item as given, nothing mailed.
pub fn set(call: &mut Call<'_>, req: &Element, task: bool) -> Result<Element, Fault> {
    let account = call.account()?;
    let mut store = call.state.store.lock();
    let default = required_child(req, "default")?;
    let mut comps = comps_of(&store, account, required_child(default, "m")?)?;
    for ex in req.children_named("except") {
        comps.extend(comps_of(&store, account, required_child(ex, "m")?)?);
    }
    let mb = store
        .mailboxes
        .get_mut(&account.id)
        .ok_or_else(|| Fault::perm_denied("no mailbox"))?;
    let folder = req
        .attr("l")
        .and_then(|l| l.parse().ok())
        .unwrap_or(if task { TASKS } else { CALENDAR });
    let (item, inv) = store_item(mb, account, folder, task, comps);
    let name = if task {
        "SetTaskResponse"
    } else {
        "SetAppointmentResponse"
    };
    Ok(Element::new(NS_MAIL, name)
        .with_attr("calItemId", item.to_string())
        .with_attr("apptId", item.to_string())
        .with_child(Element::new(NS_MAIL, "default").with_attr("id", inv.to_string())))
}

/// AddAppointmentInviteRequest / AddTaskInviteRequest: creates or updates by UID.
pub fn add_invite(call: &mut Call<'_>, req: &Element, task: bool) -> Result<Element, Fault> {
    let account = call.account()?;
    let m = required_child(req, "m")?;
    let mut store = call.state.store.lock();
    let comps = comps_of(&store, account, m)?;
    let mb = store
        .mailboxes
        .get_mut(&account.id)
        .ok_or_else(|| Fault::perm_denied("no mailbox"))?;
    let (item, inv) = store_item(
        mb,
        account,
        if task { TASKS } else { CALENDAR },
        task,
        comps,
    );
    let name = if task {
        "AddTaskInviteResponse"
    } else {
        "AddAppointmentInviteResponse"
    };
    Ok(Element::new(NS_MAIL, name)
        .with_attr("calItemId", item.to_string())
        .with_attr("invId", format!("{item}-{inv}"))
        .with_attr("compNum", "0"))
}

/// ImportAppointmentsRequest `ct="ics"`: inline `content`, an upload (`aid`) or a part
/// of a stored message (`mid` + `part`).
pub fn import(call: &mut Call<'_>, req: &Element) -> Result<Element, Fault> {
    let account = call.account()?;
    let ct = required(req, "ct")?;
    if !ct.eq_ignore_ascii_case("ics") && !ct.eq_ignore_ascii_case("text/calendar") {
        return Err(Fault::invalid_request(&format!(
            "unsupported content type: {ct}"
        )));
    }
    let content = required_child(req, "content")?;
    let mut store = call.state.store.lock();
    let text = match (content.attr("aid"), content.attr("mid")) {
        (Some(_), Some(_)) => {
            return Err(Fault::invalid_request("use either aid or mid but not both"))
        }
        (Some(aid), None) => {
            let up = store
                .uploads
                .remove(aid)
                .filter(|u| u.owner == account.id)
                .ok_or_else(|| fault("mail.NO_SUCH_UPLOAD", format!("upload not found: {aid}")))?;
            String::from_utf8_lossy(&up.data).to_string()
        }
        (None, Some(mid)) => {
            let part = required(content, "part")?;
            let msg = mid
                .parse::<u32>()
                .ok()
                .and_then(|id| store.mailboxes[&account.id].messages.get(&id))
                .ok_or_else(|| fault("mail.NO_SUCH_MSG", format!("no such message: {mid}")))?;
            let leaf = mime::leaves(&msg.raw)
                .into_iter()
                .find(|l| l.part == part)
                .ok_or_else(|| fault("mail.NO_SUCH_PART", format!("no such part: {part}")))?;
            String::from_utf8_lossy(&leaf.body).to_string()
        }
        (None, None) => content.text().to_string(),
    };
    let comps = ical::components(&text);
    let folder = req
        .attr("l")
        .and_then(|l| l.parse().ok())
        .unwrap_or(CALENDAR);
    let mb = store
        .mailboxes
        .get_mut(&account.id)
        .ok_or_else(|| Fault::perm_denied("no mailbox"))?;
    let n = comps.len();
    let ids: Vec<String> = comps
        .into_iter()
        .map(|c| {
            let (item, inv) = store_item(mb, account, folder, false, vec![c]);
            format!("{item}-{inv}")
        })
        .collect();
    Ok(
        Element::new(NS_MAIL, "ImportAppointmentsResponse").with_child(
            Element::new(NS_MAIL, "appt")
                .with_attr("ids", ids.join(","))
                .with_num("n", n),
        ),
    )
}

/// The calendar requests this sandbox answers.
pub const HANDLED: &[&str] = &[
    "CreateAppointmentRequest",
    "CreateTaskRequest",
    "GetAppointmentRequest",
    "GetTaskRequest",
    "SetAppointmentRequest",
    "SetTaskRequest",
    "AddAppointmentInviteRequest",
    "AddTaskInviteRequest",
    "ImportAppointmentsRequest",
    "ModifyAppointmentRequest",
    "ModifyTaskRequest",
    "CancelAppointmentRequest",
    "CancelTaskRequest",
    "SendInviteReplyRequest",
    "CounterAppointmentRequest",
    "ForwardAppointmentRequest",
    "ForwardAppointmentInviteRequest",
    "AnnounceOrganizerChangeRequest",
];

/// The calendar requests (soap-calendar.txt), appointments and tasks alike.
pub fn dispatch(call: &mut Call<'_>, req: &Element) -> Result<Element, Fault> {
    let task = req.name.contains("Task");
    match req.name.as_str() {
        "CreateAppointmentRequest" | "CreateTaskRequest" => create(call, req, task),
        "GetAppointmentRequest" | "GetTaskRequest" => get(call, req, task),
        "SetAppointmentRequest" | "SetTaskRequest" => set(call, req, task),
        "AddAppointmentInviteRequest" | "AddTaskInviteRequest" => add_invite(call, req, task),
        "ImportAppointmentsRequest" => import(call, req),
        "ModifyAppointmentRequest" | "ModifyTaskRequest" => {
            super::calendar_send::modify(call, req, task)
        }
        "CancelAppointmentRequest" | "CancelTaskRequest" => {
            super::calendar_send::cancel(call, req, task)
        }
        "SendInviteReplyRequest" => super::calendar_send::send_invite_reply(call, req),
        "CounterAppointmentRequest" => super::calendar_send::counter(call, req),
        "ForwardAppointmentRequest" => super::calendar_send::forward(call, req, false),
        "ForwardAppointmentInviteRequest" => super::calendar_send::forward(call, req, true),
        "AnnounceOrganizerChangeRequest" => {
            super::calendar_send::announce_organizer_change(call, req)
        }
        _ => Err(Fault::unknown_document(&format!(
            "{{{}}}{}",
            req.ns, req.name
        ))),
    }
}
