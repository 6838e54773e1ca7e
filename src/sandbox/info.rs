//! GetInfoRequest (zimbra-api.md §7.7).

use crate::soap::{Element, Fault, ValueKind, NS_ACCOUNT};

use super::call::Call;
use super::data::AccountData;
use super::state::{now_ms, SandboxState};

/// The `accountInfo` attributes returned in `<attrs>`.
pub fn account_attrs(state: &SandboxState, a: &AccountData) -> Vec<(String, String)> {
    [
        ("zimbraId", a.id.clone()),
        ("zimbraMailQuota", state.settings.mail_quota.to_string()),
        ("displayName", a.display_name()),
        ("zimbraFeatureMailForwardingEnabled", "TRUE".into()),
        ("zimbraFeatureIdentitiesEnabled", "TRUE".into()),
        ("zimbraFeatureFiltersEnabled", "TRUE".into()),
        ("zimbraFeatureOutgoingFiltersEnabled", "TRUE".into()),
        ("zimbraFeatureTwoFactorAuthAvailable", "FALSE".into()),
        ("zimbraMailSignatureMaxLength", "10240".into()),
        ("zimbraPublicSharingEnabled", "TRUE".into()),
        ("zimbraExternalSharingEnabled", "TRUE".into()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect()
}

pub fn get_info(call: &mut Call<'_>, req: &Element) -> Result<Element, Fault> {
    let claims = call.claims()?;
    let account = call.account()?;
    let sections = req
        .attr("sections")
        .unwrap_or("mbox,prefs,attrs,idents,sigs,dsrcs");
    let want = |s: &str| sections.split(',').any(|x| x.trim() == s);
    let settings = &call.state.settings;
    let base = call.base_url();
    let mut resp = Element::new(NS_ACCOUNT, "GetInfoResponse")
        .with_num("attSizeLimit", settings.mta_max_message_size)
        .with_num("docSizeLimit", settings.file_upload_max_size)
        .with_content_attr("version", "8.8.15_GA_sandbox", ValueKind::Str)
        .with_content_attr("id", account.id.clone(), ValueKind::Str)
        .with_content_attr("name", account.name.clone(), ValueKind::Str)
        .with_content_attr("crumb", "0", ValueKind::Str)
        .with_content_attr(
            "lifetime",
            claims.exp.saturating_sub(now_ms()).to_string(),
            ValueKind::Num,
        )
        .with_content_attr(
            "rest",
            format!("{base}/home/{}", account.name),
            ValueKind::Str,
        );
    let store = call.state.store.lock();
    let mb = &store.mailboxes[&account.id];
    if want("mbox") {
        resp = resp.with_content_attr("used", mb.used().to_string(), ValueKind::Num);
    }
    resp = resp.with_child(
        Element::new(NS_ACCOUNT, "cos")
            .unique()
            .with_attr("name", "default")
            .with_attr("id", "e00428a1-0c00-11d9-836a-000d93afea2a"),
    );
    if want("attrs") {
        let attrs = account_attrs(call.state, account);
        resp = resp.with_child(
            Element::new(NS_ACCOUNT, "attrs")
                .unique()
                .with_kv("attr", "name", attrs),
        );
    }
    if want("prefs") {
        let pairs = super::prefs::effective(&mb.prefs);
        resp = resp.with_child(
            Element::new(NS_ACCOUNT, "prefs")
                .unique()
                .with_kv("pref", "name", pairs),
        );
    }
    if want("idents") {
        let ids = mb.identities.iter().map(super::identities::to_element);
        resp = resp.with_child(
            Element::new(NS_ACCOUNT, "identities")
                .unique()
                .with_children(ids),
        );
    }
    if want("sigs") {
        let sigs = mb.signatures.iter().map(super::signatures::to_element);
        resp = resp.with_child(
            Element::new(NS_ACCOUNT, "signatures")
                .unique()
                .with_children(sigs),
        );
    }
    if want("dsrcs") {
        resp = resp.with_child(Element::new(NS_ACCOUNT, "dataSources").unique());
    }
    resp = resp
        .with_content_attr("soapURL", format!("{base}/service/soap/"), ValueKind::Str)
        .with_content_attr("publicURL", base.clone(), ValueKind::Str);
    Ok(resp)
}
