//! Requests on whole stored messages: AddMsg (a message kept as given, e.g. in Drafts,
//! later sent as stored with `SendMsg sfd`) and SendDeliveryReport (the read receipt,
//! mailed to the message's stored `Disposition-Notification-To`).

use crate::soap::{Element, Fault, NS_MAIL};

use super::call::{fault, required, required_child, Call};
use super::compose::{build_message, from_raw, Fields};
use super::delivery::{send, store_message};
use super::mailbox::{Address, DRAFTS};
use super::mime::{self, Part};

/// AddMsgRequest: `<m l= [f=] [aid=]><content>RFC 822</content></m>`; nothing is sent.
pub fn add_msg(call: &mut Call<'_>, req: &Element) -> Result<Element, Fault> {
    let account = call.account()?;
    let m = required_child(req, "m")?;
    let folder_ref = required(m, "l")?;
    let flags = m.attr("f").unwrap_or("").to_string();
    let mut store = call.state.store.lock();
    let raw = match m.attr("aid") {
        Some(aid) => {
            store
                .uploads
                .remove(aid)
                .filter(|u| u.owner == account.id)
                .ok_or_else(|| fault("mail.NO_SUCH_UPLOAD", format!("upload not found: {aid}")))?
                .data
        }
        None => m
            .attr("content")
            .ok_or_else(|| Fault::invalid_request("missing required element: content"))?
            .replace("\r\n", "\n")
            .replace('\n', "\r\n")
            .into_bytes(),
    };
    let mb = store
        .mailboxes
        .get_mut(&account.id)
        .ok_or_else(|| Fault::perm_denied("no mailbox"))?;
    let folder = folder_ref
        .parse::<u32>()
        .ok()
        .or_else(|| mb.folder_by_path(folder_ref))
        .filter(|l| mb.folders.contains_key(l))
        .ok_or_else(|| super::folders::no_such_folder(folder_ref))?;
    let mut c = from_raw(raw);
    // Read-receipt addresses are part of what the store keeps about a message.
    let (headers, _) = mime::parse_headers(&c.raw);
    for (k, v) in &headers {
        if k.eq_ignore_ascii_case("Disposition-Notification-To") {
            c.addresses
                .extend(mime::addresses(v).into_iter().map(|addr| Address {
                    kind: 'n',
                    addr,
                    name: None,
                }));
        }
    }
    let draft_flag = if folder == DRAFTS && !flags.contains('d') {
        "d"
    } else {
        ""
    };
    let unread = flags.contains('u');
    let id = store_message(mb, &c, folder, &format!("{flags}{draft_flag}"), unread);
    Ok(Element::new(NS_MAIL, "AddMsgResponse")
        .with_child(Element::new(NS_MAIL, "m").with_attr("id", id.to_string())))
}

/// SendDeliveryReportRequest `mid=`: a disposition notification to the addresses of
/// the stored `Disposition-Notification-To` (nothing when the message has none).
pub fn send_delivery_report(call: &mut Call<'_>, req: &Element) -> Result<Element, Fault> {
    let account = call.account()?;
    let mid = required(req, "mid")?;
    let mut store = call.state.store.lock();
    let msg = mid
        .parse::<u32>()
        .ok()
        .and_then(|id| store.mailboxes[&account.id].messages.get(&id))
        .ok_or_else(|| fault("mail.NO_SUCH_MSG", format!("no such message: {mid}")))?
        .clone();
    let (headers, _) = mime::parse_headers(&msg.raw);
    let to: Vec<Address> = headers
        .iter()
        .filter(|(k, _)| k.eq_ignore_ascii_case("Disposition-Notification-To"))
        .flat_map(|(_, v)| mime::addresses(v))
        .map(|addr| Address {
            kind: 't',
            addr,
            name: None,
        })
        .collect();
    if to.is_empty() {
        return Ok(Element::new(NS_MAIL, "SendDeliveryReportResponse"));
    }
    let report = format!(
        "Reporting-UA: sandbox.mssante; Zimbra\r\nFinal-Recipient: rfc822;{}\r\nOriginal-Message-ID: {}\r\nDisposition: manual-action/MDN-sent-manually; displayed\r\n",
        account.name, msg.message_id
    );
    let body = Part::Multi {
        ct: "multipart/report; report-type=disposition-notification".into(),
        parts: vec![
            Part::Text {
                ct: "text/plain".into(),
                content: format!("Your message \"{}\" was displayed.", msg.subject),
                cid: None,
            },
            Part::Text {
                ct: "message/disposition-notification".into(),
                content: report,
                cid: None,
            },
        ],
    };
    let subject = format!("Read-Receipt: {}", msg.subject);
    let fields = Fields {
        subject: &subject,
        irt: None,
        flags: "",
        keep_bcc: false,
    };
    let c = build_message(account, to, &fields, &body);
    send(
        call.state,
        &mut store,
        account,
        &c,
        "SendDeliveryReportRequest",
        None,
        true,
    )?;
    Ok(Element::new(NS_MAIL, "SendDeliveryReportResponse"))
}
