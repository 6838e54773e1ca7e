//! `/service/soap` and `/service/admin/soap`: parse, pick the handler by the QName of
//! the Body child (never by the URL suffix), run batches, answer in the request format.

use http::{HeaderMap, Response, StatusCode};

use crate::soap::envelope::{write_batch_reply, write_reply};
use crate::soap::{Element, Envelope, Fault, Format, DEFAULT_MAX_SOAP_BYTES};
use crate::soap::{NS_ACCOUNT, NS_ADMIN, NS_MAIL};

use super::call::Call;
use super::http_util::{add_header, cookie, respond, Body};
use super::state::SandboxState;
use super::{
    admin, auth, filters, folders, gal, identities, info, mail, msg_action, noop, prefs,
    signatures, tags,
};
use super::{calendar, stored_msgs};

/// Runs one request element.
pub async fn dispatch(call: &mut Call<'_>, req: &Element) -> Result<Element, Fault> {
    call.state.count_soap(&req.name);
    let ns = req.ns.as_str();
    match (ns, req.name.as_str()) {
        (NS_ACCOUNT, "AuthRequest") => auth::auth(call, req),
        (NS_ACCOUNT, "ChangePasswordRequest") => auth::change_password(call, req),
        (NS_ACCOUNT, "EndSessionRequest") => auth::end_session(call, req),
        (NS_ACCOUNT, "GetInfoRequest") => info::get_info(call, req),
        (NS_ACCOUNT, "GetPrefsRequest") => prefs::get_prefs(call, req),
        (NS_ACCOUNT, "ModifyPrefsRequest") => prefs::modify_prefs(call, req),
        (NS_ACCOUNT, "GetIdentitiesRequest") => identities::get(call, req),
        (NS_ACCOUNT, "CreateIdentityRequest") => identities::create(call, req),
        (NS_ACCOUNT, "ModifyIdentityRequest") => identities::modify(call, req),
        (NS_ACCOUNT, "DeleteIdentityRequest") => identities::delete(call, req),
        (NS_ACCOUNT, "GetSignaturesRequest") => signatures::get(call, req),
        (NS_ACCOUNT, "CreateSignatureRequest") => signatures::create(call, req),
        (NS_ACCOUNT, "ModifySignatureRequest") => signatures::modify(call, req),
        (NS_ACCOUNT, "DeleteSignatureRequest") => signatures::delete(call, req),
        (NS_ACCOUNT, "SearchGalRequest") => gal::search_gal(call, req),
        (NS_ACCOUNT, "AutoCompleteGalRequest") => gal::autocomplete_gal(call, req),
        (NS_MAIL, "AutoCompleteRequest") => gal::autocomplete(call, req),
        (NS_MAIL, "SendMsgRequest") => mail::send_msg(call, req),
        (NS_MAIL, "SaveDraftRequest") => mail::save_draft(call, req),
        (NS_MAIL, "SearchRequest") => mail::search(call, req),
        (NS_MAIL, "GetMsgRequest") => mail::get_msg(call, req),
        (NS_MAIL, "MsgActionRequest") => msg_action::msg_action(call, req),
        (NS_MAIL, "GetFolderRequest") => folders::get_folder(call, req),
        (NS_MAIL, "CreateFolderRequest") => folders::create_folder(call, req),
        (NS_MAIL, "FolderActionRequest") => folders::folder_action(call, req),
        (NS_MAIL, "CreateTagRequest") => tags::create_tag(call, req),
        (NS_MAIL, "GetTagRequest") => tags::get_tag(call, req),
        (NS_MAIL, "TagActionRequest") => tags::tag_action(call, req),
        (NS_MAIL, "GetFilterRulesRequest") => filters::get(call, req, false),
        (NS_MAIL, "ModifyFilterRulesRequest") => filters::modify(call, req, false),
        (NS_MAIL, "GetOutgoingFilterRulesRequest") => filters::get(call, req, true),
        (NS_MAIL, "ModifyOutgoingFilterRulesRequest") => filters::modify(call, req, true),
        (NS_MAIL, "NoOpRequest") => noop::noop(call, req).await,
        (NS_MAIL, "AddMsgRequest") => stored_msgs::add_msg(call, req),
        (NS_MAIL, "SendDeliveryReportRequest") => stored_msgs::send_delivery_report(call, req),
        (NS_MAIL, name) if calendar::HANDLED.contains(&name) => calendar::dispatch(call, req),
        (NS_ADMIN, "AuthRequest") if call.admin_port => admin::auth(call, req),
        (NS_ADMIN, "SetPasswordRequest") if call.admin_port => admin::set_password(call, req),
        (NS_ADMIN, "GetAccountRequest") if call.admin_port => admin::get_account(call, req),
        _ => Err(Fault::unknown_document(&format!("{{{ns}}}{}", req.name))),
    }
}

/// `BatchRequest`: every child in order, `requestId` echoed, `onerror=continue|stop`.
/// Returns the entries of the `BatchResponse`.
pub(super) async fn batch(call: &mut Call<'_>, body: &Element) -> Vec<Element> {
    let stop_on_error = body.attr("onerror") == Some("stop");
    let mut entries = Vec::new();
    for child in &body.children {
        let request_id = child.attr("requestId").map(str::to_string);
        match dispatch(call, child).await {
            Ok(mut el) => {
                if let Some(id) = request_id {
                    el.set_attr("requestId", id);
                }
                entries.push(el);
            }
            Err(f) => {
                entries.push(f.to_batch_entry(call.format, request_id.as_deref()));
                if stop_on_error {
                    break;
                }
            }
        }
    }
    entries
}

/// Handles one SOAP POST body.
pub async fn handle(
    state: &SandboxState,
    headers: &HeaderMap,
    body: &[u8],
    admin_port: bool,
) -> Response<Body> {
    let env = match Envelope::parse_capped(body, DEFAULT_MAX_SOAP_BYTES) {
        Ok(env) => env,
        Err(e) => return to_http(Fault::from(&e).reply(Format::sniff(body)), &[], &[]),
    };
    let cookie_name = if admin_port {
        "ZM_ADMIN_AUTH_TOKEN"
    } else {
        "ZM_AUTH_TOKEN"
    };
    let token = env
        .header_auth_token()
        .map(str::to_string)
        .or_else(|| cookie(headers, cookie_name));
    // `<format type="js|xml"/>` in the context picks the answer format (soap.txt l.275).
    let format = match env
        .context
        .as_ref()
        .and_then(|c| c.child("format"))
        .and_then(|f| f.attr("type"))
    {
        Some("js") => Format::Json,
        Some("xml") if env.format == Format::Json => Format::Soap12,
        _ => env.format,
    };
    let mut call = Call {
        state,
        format,
        admin_port,
        context: env.context.as_ref(),
        token,
        csrf_header: headers
            .get("x-zimbra-csrf-token")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string),
        host: headers
            .get(http::header::HOST)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("localhost")
            .to_string(),
        set_cookies: Vec::new(),
        headers: Vec::new(),
    };
    let reply = if env.is_batch() {
        let entries = batch(&mut call, &env.body).await;
        write_batch_reply(format, entries)
    } else {
        match dispatch(&mut call, &env.body).await {
            Ok(el) => write_reply(format, el, 200),
            Err(f) => f.reply(format),
        }
    };
    to_http(reply, &call.set_cookies, &call.headers)
}

fn to_http(
    reply: crate::soap::SoapReply,
    cookies: &[String],
    headers: &[(String, String)],
) -> Response<Body> {
    let status = StatusCode::from_u16(reply.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut resp = respond(status, reply.content_type, reply.body);
    if status != StatusCode::OK {
        add_header(&mut resp, "Cache-Control", "no-store, no-cache");
    }
    for c in cookies {
        add_header(&mut resp, "Set-Cookie", c);
    }
    for (k, v) in headers {
        add_header(&mut resp, k, v);
    }
    resp
}
