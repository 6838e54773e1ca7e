//! The one entry point of the outbound catalogue (M3): every request of an envelope
//! (each `BatchRequest` child too) is classified by `policies/requests.toml` and, when
//! `inspect`, read by its rule. Two rules apply to every request whatever its name:
//! header-bound values without line breaks (`header_values`) and stored items judged
//! on the addresses the store will mail (`stored`). One refused child refuses the
//! whole batch.

use super::check::{Check, Ctx};
use super::config::UnknownRequest;
use super::decision::{Decision, NoUploads, Uploads, UserContext};
use super::requests::Class;
use super::stored::{self, NoStoredItems, StoredItems};
use super::{header_values, rules_grants as g, rules_message as msg, rules_planted as plant};
use super::{rules_settings as set, Policy};
use crate::audit::AuditEvent;
use crate::soap::{Element, Envelope, NS_ACCOUNT, NS_MAIL};

type Rule = fn(&Element, &Ctx, &mut Check) -> Option<Element>;
/// A rule built at lookup (some rules are parameterised).
pub(crate) type BoxedRule = Box<dyn Fn(&Element, &Ctx, &mut Check) -> Option<Element>>;

/// The rule for an `inspect` request, by namespace and name.
pub(crate) fn rule_for(ns: &str, name: &str) -> Option<BoxedRule> {
    let f: Rule = match (ns, name) {
        (NS_MAIL, "SendMsgRequest" | "SendSecureMsgRequest") => msg::send_msg,
        (NS_MAIL, "SaveDraftRequest") => msg::save_draft,
        (
            NS_MAIL,
            "BounceMsgRequest"
            | "SendInviteReplyRequest"
            | "CreateAppointmentRequest"
            | "CreateTaskRequest"
            | "ModifyAppointmentRequest"
            | "ModifyTaskRequest"
            | "CreateAppointmentExceptionRequest"
            | "CreateTaskExceptionRequest"
            | "CancelAppointmentRequest"
            | "CancelTaskRequest"
            | "ForwardAppointmentRequest"
            | "ForwardAppointmentInviteRequest"
            | "CounterAppointmentRequest"
            | "DeclineCounterAppointmentRequest",
        ) => msg::carried_messages,
        (NS_MAIL, "SendShareNotificationRequest") => msg::share_notification,
        // Nothing to read in the request: judged on the stored item alone (`stored`).
        (NS_MAIL, "SendDeliveryReportRequest" | "AnnounceOrganizerChangeRequest") => {
            msg::stored_only
        }
        (
            NS_MAIL,
            "SetAppointmentRequest"
            | "SetTaskRequest"
            | "AddAppointmentInviteRequest"
            | "AddTaskInviteRequest",
        ) => plant::calendar_items,
        (NS_MAIL, "ImportAppointmentsRequest") => plant::import_appointments,
        (NS_MAIL, "ICalReplyRequest") => plant::ical_reply,
        (NS_MAIL, "AutoCompleteRequest") => plant::autocomplete_without_gal,
        (NS_MAIL, "SendVerificationCodeRequest" | "VerifyCodeRequest") => {
            return Some(Box::new(msg::code_address("a")))
        }
        (NS_MAIL, "SetRecoveryAccountRequest") => {
            return Some(Box::new(msg::code_address("recoveryAccount")))
        }
        (NS_ACCOUNT, "EnableTwoFactorAuthRequest") => {
            return Some(Box::new(msg::code_address("email")))
        }
        (NS_MAIL, "ModifyFilterRulesRequest") => return Some(Box::new(set::filter_rules(false))),
        (NS_MAIL, "ModifyOutgoingFilterRulesRequest") => {
            return Some(Box::new(set::filter_rules(true)))
        }
        (NS_MAIL, "AddMsgRequest") => plant::add_msg,
        (NS_ACCOUNT, "ModifyPrefsRequest") => set::modify_prefs,
        (NS_ACCOUNT, "CreateIdentityRequest" | "ModifyIdentityRequest") => set::identity,
        (
            NS_MAIL,
            "FolderActionRequest"
            | "CreateFolderRequest"
            | "ContactActionRequest"
            | "GrantPermissionRequest",
        ) => g::grants,
        (NS_ACCOUNT, "GrantRightsRequest") => g::grants,
        (NS_ACCOUNT, "DistributionListActionRequest" | "CreateDistributionListRequest") => {
            g::distribution_list
        }
        _ => return None,
    };
    Some(Box::new(f))
}

/// Decides one request; `None` rewrite = unchanged.
fn decide_one(req: &Element, ctx: &Ctx, policy: &Policy) -> (Check, Option<Element>) {
    let mut chk = Check::default();
    header_values::check(req, &mut chk);
    stored::check(req, ctx, &mut chk);
    let class = policy.table.class(&req.ns, &req.name);
    let rewrite = match class {
        Some(Class::Pass) => None,
        Some(Class::Refuse) => {
            chk.deny(format!(
                "requête {} refusée par la politique MSSanté",
                req.name
            ));
            None
        }
        Some(Class::Inspect) => match rule_for(&req.ns, &req.name) {
            Some(rule) => rule(req, ctx, &mut chk),
            None => {
                // A table entry without code: never let it through unread.
                chk.deny(format!("requête {} sans règle d'inspection", req.name));
                None
            }
        },
        None => match ctx.cfg.unknown_request {
            UnknownRequest::Allow => None,
            UnknownRequest::Deny => {
                chk.deny(format!(
                    "requête inconnue {} refusée par la politique MSSanté",
                    req.name
                ));
                None
            }
        },
    };
    (chk, rewrite)
}

/// Decides an envelope without access to uploads (`NeedsUploads` when one matters).
pub fn inspect(env: &Envelope, user: &UserContext, policy: &Policy) -> Decision {
    inspect_with(env, user, policy, &NoUploads)
}

/// Decides an envelope; `uploads` resolves `aid`s (uploaded MIME, attachment sizes).
pub fn inspect_with(
    env: &Envelope,
    user: &UserContext,
    policy: &Policy,
    uploads: &dyn Uploads,
) -> Decision {
    inspect_full(env, user, policy, uploads, &NoStoredItems)
}

/// Decides an envelope; `uploads` resolves `aid`s, `stored` holds the stored items the
/// store was asked for (`NeedsItems`). Uploads are asked for before items.
pub fn inspect_full(
    env: &Envelope,
    user: &UserContext,
    policy: &Policy,
    uploads: &dyn Uploads,
    stored: &dyn StoredItems,
) -> Decision {
    let trust = policy.trust.get();
    let ctx = Ctx {
        trust: &trust,
        user,
        cfg: &policy.config,
        uploads,
        stored,
    };
    let batch = env.is_batch();
    let mut needs: Vec<String> = Vec::new();
    let mut items: Vec<stored::ItemRef> = Vec::new();
    let mut new_children: Option<Vec<Element>> = None;
    let mut single_rewrite: Option<Element> = None;
    // A child that changes stored items: a later child must not send one of them (the
    // item read beforehand would not be the one sent).
    let mut earlier_change = false;
    for (i, r) in env.requests().into_iter().enumerate() {
        let (mut chk, rewrite) = decide_one(r.element, &ctx, policy);
        if earlier_change && !matches!(stored::targets(r.element), Ok(t) if t.is_empty()) {
            chk.deny("un lot ne peut pas modifier puis envoyer un élément enregistré");
        }
        earlier_change |= stored::changes_stored_items(r.element);
        if chk.denied() {
            let prefix = if batch {
                format!(
                    "Lot de requêtes (BatchRequest) refusé en entier, {} : ",
                    r.element.name
                )
            } else {
                String::new()
            };
            metrics::counter!("gateway_policy_denied_total", "request" => r.element.name.clone())
                .increment(1);
            AuditEvent::new("policy.denied")
                .user(user.account.clone())
                .detail(serde_json::json!({
                    "request": r.element.name,
                    "requestId": r.request_id,
                    "batch": batch,
                    "refused_addresses": chk.addrs,
                    "reasons": chk.reasons,
                }))
                .emit();
            return Decision::Deny(chk.fault(&prefix));
        }
        for n in chk.needs {
            if !needs.contains(&n) {
                needs.push(n);
            }
        }
        for it in chk.items {
            if !items.contains(&it) {
                items.push(it);
            }
        }
        if let Some(new) = rewrite {
            if batch {
                new_children.get_or_insert_with(|| env.body.children.clone())[i] = new;
            } else {
                single_rewrite = Some(new);
            }
        }
    }
    if !needs.is_empty() {
        return Decision::NeedsUploads(needs);
    }
    if !items.is_empty() {
        return Decision::NeedsItems(items);
    }
    if let Some(children) = new_children {
        let mut body = env.body.clone();
        body.children = children;
        return Decision::Rewrite(body);
    }
    match single_rewrite {
        Some(b) => Decision::Rewrite(b),
        None => Decision::Allow,
    }
}
