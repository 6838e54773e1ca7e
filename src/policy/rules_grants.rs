//! Sharing and delegation (M6, §6.2 #27-#29): grants only to internal users and
//! groups; DL members in the trust space.

use super::check::{Check, Ctx};
use super::domain::normalize_domain;
use crate::soap::Element;

/// Grantee types that reach outside the store or everyone (`all` = every
/// authenticated user, `pub` = anonymous, `guest`/`gst` = external, `key` = access key).
const REFUSED_GRANTEES: &[&str] = &["all", "pub", "guest", "gst", "key", "email"];
const INTERNAL_GRANTEES: &[&str] = &["usr", "grp", "dom", "cos"];

/// Is `d` (a grantee name) in one of the store's own domains?
fn internal_name(d: &str, ctx: &Ctx) -> bool {
    let Some((_, dom)) = d.trim().rsplit_once('@') else {
        // A domain/cos name (gt=dom|cos) or a bare name: compare as a domain.
        return normalize_domain(d).is_ok_and(|n| local_domain(&n, ctx));
    };
    normalize_domain(dom).is_ok_and(|n| local_domain(&n, ctx))
}

fn local_domain(n: &str, ctx: &Ctx) -> bool {
    let own = ctx
        .user
        .account
        .rsplit_once('@')
        .map(|(_, d)| d.to_ascii_lowercase());
    ctx.cfg
        .local_domains
        .iter()
        .any(|l| l.eq_ignore_ascii_case(n))
        || own.as_deref() == Some(n)
}

/// One `grant` / `ace` / `grantee` element.
fn check_grantee(el: &Element, ctx: &Ctx, chk: &mut Check) {
    let gts = el.attr_all("gt");
    let [gt] = gts.as_slice() else {
        chk.deny("type de bénéficiaire (gt) absent ou ambigu");
        return;
    };
    let gt = gt.to_ascii_lowercase();
    if REFUSED_GRANTEES.contains(&gt.as_str()) || !INTERNAL_GRANTEES.contains(&gt.as_str()) {
        let who: Vec<&str> = el.attr_all("d");
        let who = if who.is_empty() {
            String::new()
        } else {
            format!(" : {}", who.join(", "))
        };
        chk.deny(format!(
            "partage de type {gt} refusé (partage interne uniquement){who}"
        ));
        return;
    }
    // gt=usr|grp with an unknown name silently becomes an external guest (§7.4).
    for d in el.attr_all("d") {
        if !internal_name(d, ctx) {
            chk.deny(format!("partage avec {d} refusé (hors de l'établissement)"));
        }
    }
}

/// FolderActionRequest, CreateFolderRequest (`acl`), ContactActionRequest,
/// GrantPermissionRequest, GrantRightsRequest: every grant/ace anywhere.
pub(crate) fn grants(req: &Element, ctx: &Ctx, chk: &mut Check) -> Option<Element> {
    for el in req.walk() {
        if matches!(el.name.as_str(), "grant" | "ace" | "grantee") {
            check_grantee(el, ctx, chk);
        }
    }
    None
}

/// DistributionListActionRequest / CreateDistributionListRequest: members (`dlm`),
/// owners, attributes holding addresses, right grantees.
pub(crate) fn distribution_list(req: &Element, ctx: &Ctx, chk: &mut Check) -> Option<Element> {
    for el in req.walk() {
        match el.name.as_str() {
            "dlm" => chk.addr(ctx, el.text()),
            "owner" => {
                for d in el.attr_all("d").into_iter().chain(el.attr_all("name")) {
                    if !internal_name(d, ctx) {
                        chk.deny(format!("propriétaire {d} refusé (hors de l'établissement)"));
                    }
                }
            }
            "grantee" => check_grantee(el, ctx, chk),
            _ => {}
        }
        for (k, v) in el.key_values("a", "n") {
            if v.contains('@') {
                let _ = k;
                chk.addr(ctx, &v);
            }
        }
    }
    None
}
