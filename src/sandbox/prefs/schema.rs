//! The `zimbraPref*` attributes the sandbox knows the type of, with the values a
//! default class of service gives them (`zimbra-attrs.xml` defaults). A real Zimbra
//! answers GetPrefs with every pref, the COS ones included; clients read defaults such
//! as `zimbraPrefMailItemsPerPage` before ever setting them.

/// Value syntax of a pref, as `zimbra-attrs.xml` types it (the ones checked here).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PrefType {
    /// `TRUE` / `FALSE`.
    Boolean,
    /// A decimal integer.
    Integer,
    /// `123`, `5m`, `7d`, `100ms`…
    Duration,
    /// Generalized time, `20250101000000Z`.
    GenTime,
    /// One address, `local@domain`.
    Email,
    /// Comma-separated addresses (`zimbraPrefMailForwardingAddress`).
    EmailList,
    /// Free text.
    Text,
}

/// One known pref.
#[derive(Debug, Clone, Copy)]
pub struct PrefSpec {
    pub name: &'static str,
    pub ty: PrefType,
    pub multi: bool,
    /// The COS value an account inherits ("" = none).
    pub cos_default: &'static str,
}

use PrefType::{Boolean as B, Duration as D, Email as E, EmailList as L, GenTime as G};
use PrefType::{Integer as I, Text as T};

const fn one(name: &'static str, ty: PrefType, cos_default: &'static str) -> PrefSpec {
    PrefSpec {
        name,
        ty,
        multi: false,
        cos_default,
    }
}

const fn many(name: &'static str, ty: PrefType) -> PrefSpec {
    PrefSpec {
        name,
        ty,
        multi: true,
        cos_default: "",
    }
}

/// Addresses that make mail leave or name the sender are all typed `Email`/`EmailList`
/// here, so a malformed one is refused as Zimbra refuses it.
pub const SCHEMA: &[PrefSpec] = &[
    // Where mail goes and who it comes from.
    one("zimbraPrefMailForwardingAddress", L, ""),
    one("zimbraPrefMailLocalDeliveryDisabled", B, "FALSE"),
    one("zimbraPrefNewMailNotificationEnabled", B, "FALSE"),
    one("zimbraPrefNewMailNotificationAddress", E, ""),
    one("zimbraPrefFromAddress", E, ""),
    one("zimbraPrefFromDisplay", T, ""),
    one("zimbraPrefFromAddressType", T, "sendAs"),
    one("zimbraPrefReplyToAddress", E, ""),
    one("zimbraPrefReplyToDisplay", T, ""),
    one("zimbraPrefReplyToEnabled", B, "FALSE"),
    one("zimbraPrefReadReceiptsToAddress", E, ""),
    one("zimbraPrefMailSendReadReceipts", T, "never"),
    many("zimbraPrefAllowAddressForDelegatedSender", E),
    one("zimbraPrefDelegatedSendSaveTarget", T, "owner"),
    one("zimbraPrefPasswordRecoveryAddress", E, ""),
    one("zimbraPrefPasswordRecoveryAddressStatus", T, ""),
    one("zimbraPrefSaveToSent", B, "TRUE"),
    one("zimbraPrefSentMailFolder", T, "sent"),
    // Out of office.
    one("zimbraPrefOutOfOfficeReplyEnabled", B, "FALSE"),
    one("zimbraPrefOutOfOfficeReply", T, ""),
    one("zimbraPrefOutOfOfficeExternalReplyEnabled", B, "FALSE"),
    one("zimbraPrefOutOfOfficeExternalReply", T, ""),
    one("zimbraPrefOutOfOfficeFromDate", G, ""),
    one("zimbraPrefOutOfOfficeUntilDate", G, ""),
    one("zimbraPrefOutOfOfficeSuppressExternalReply", B, "FALSE"),
    many("zimbraPrefOutOfOfficeSpecificDomains", T),
    one("zimbraPrefOutOfOfficeCacheDuration", D, "7d"),
    one("zimbraPrefOutOfOfficeDirectAddress", B, "FALSE"),
    one("zimbraPrefOutOfOfficeStatusAlertOnLogin", B, "TRUE"),
    one("zimbraPrefExternalSendersType", T, "ALL"),
    // Calendar.
    many("zimbraPrefCalendarForwardInvitesTo", E),
    one("zimbraPrefCalendarReminderEmail", E, ""),
    one("zimbraPrefCalendarReminderSendEmail", B, "FALSE"),
    one("zimbraPrefCalendarFirstDayOfWeek", I, "0"),
    one("zimbraPrefCalendarInitialView", T, "workWeek"),
    one("zimbraPrefCalendarDayHourStart", I, "8"),
    one("zimbraPrefCalendarDayHourEnd", I, "18"),
    one("zimbraPrefCalendarApptReminderWarningTime", I, "5"),
    one("zimbraPrefCalendarDefaultApptDuration", D, "60m"),
    one("zimbraPrefCalendarAutoAddInvites", B, "TRUE"),
    one("zimbraPrefCalendarShowDeclinedMeetings", B, "TRUE"),
    one("zimbraPrefCalendarApptVisibility", T, "public"),
    one(
        "zimbraPrefCalendarWorkingHours",
        T,
        "1:N:0800:1700,2:Y:0800:1700,3:Y:0800:1700,4:Y:0800:1700,5:Y:0800:1700,6:Y:0800:1700,7:N:0800:1700",
    ),
    one("zimbraPrefDeleteInviteOnReply", B, "TRUE"),
    // Reading and composing.
    one("zimbraPrefMailItemsPerPage", I, "25"),
    one("zimbraPrefContactsPerPage", I, "25"),
    one("zimbraPrefItemsPerVirtualPage", I, "50"),
    one("zimbraPrefMailPollingInterval", D, "5m"),
    one("zimbraPrefMailInitialSearch", T, "in:inbox"),
    one("zimbraPrefLocale", T, ""),
    one("zimbraPrefTimeZoneId", T, ""),
    one("zimbraPrefSkin", T, "harmony"),
    one("zimbraPrefClientType", T, "advanced"),
    one("zimbraPrefComposeFormat", T, "html"),
    one("zimbraPrefGroupMailBy", T, "conversation"),
    one("zimbraPrefConversationOrder", T, "dateDesc"),
    one("zimbraPrefReadingPaneEnabled", B, "TRUE"),
    one("zimbraPrefReadingPaneLocation", T, "right"),
    one("zimbraPrefConvReadingPaneLocation", T, "bottom"),
    one("zimbraPrefMarkMsgRead", I, "0"),
    one("zimbraPrefMailSelectAfterDelete", T, "next"),
    one("zimbraPrefMessageViewHtmlPreferred", B, "TRUE"),
    one("zimbraPrefDisplayExternalImages", B, "FALSE"),
    one("zimbraPrefShowFragments", B, "TRUE"),
    one("zimbraPrefShowSelectionCheckbox", B, "TRUE"),
    one("zimbraPrefShowSearchString", B, "FALSE"),
    one("zimbraPrefIncludeSpamInSearch", B, "FALSE"),
    one("zimbraPrefIncludeTrashInSearch", B, "FALSE"),
    one("zimbraPrefIncludeSharedItemsInSearch", B, "FALSE"),
    one("zimbraPrefGalAutoCompleteEnabled", B, "TRUE"),
    one("zimbraPrefAutoAddAddressEnabled", B, "TRUE"),
    one("zimbraPrefAutoCompleteQuickCompletionOnComma", B, "TRUE"),
    one("zimbraPrefForwardReplyInOriginalFormat", B, "TRUE"),
    one("zimbraPrefForwardIncludeOriginalText", T, "includeBody"),
    one("zimbraPrefReplyIncludeOriginalText", T, "includeBody"),
    one("zimbraPrefForwardReplyPrefixChar", T, ">"),
    one("zimbraPrefHtmlEditorDefaultFontSize", T, "12pt"),
    one("zimbraPrefHtmlEditorDefaultFontColor", T, "#000000"),
    one("zimbraPrefMailSignatureEnabled", B, "FALSE"),
    one("zimbraPrefMailSignatureStyle", T, "outlook"),
    one("zimbraPrefDefaultSignatureId", T, ""),
    one("zimbraPrefForwardReplySignatureId", T, ""),
    one("zimbraPrefMailDefaultCharset", T, "UTF-8"),
    one("zimbraPrefUseKeyboardShortcuts", B, "TRUE"),
    one("zimbraPrefUseSendMsgShortcut", B, "TRUE"),
    one("zimbraPrefWarnOnExit", B, "TRUE"),
    one("zimbraPrefMailToasterEnabled", B, "FALSE"),
    one("zimbraPrefMailSoundsEnabled", B, "FALSE"),
    one("zimbraPrefMailFlashIcon", B, "FALSE"),
    one("zimbraPrefMailFlashTitle", B, "FALSE"),
    one("zimbraPrefFolderColorEnabled", B, "TRUE"),
    one("zimbraPrefFolderTreeOpen", B, "TRUE"),
    one("zimbraPrefSearchTreeOpen", B, "TRUE"),
    one("zimbraPrefTagTreeOpen", B, "TRUE"),
    one("zimbraPrefZimletTreeOpen", B, "FALSE"),
    one("zimbraPrefDedupeMessagesSentToSelf", T, "dedupeNone"),
    one("zimbraPrefMessageIdDedupingEnabled", B, "TRUE"),
    one("zimbraPrefAccountProfileImage", T, ""),
    many("zimbraPrefMailTrustedSenderList", T),
    many("zimbraPrefMailBlacklist", T),
    many("zimbraPrefMailWhitelist", T),
    many("zimbraPrefSpellIgnoreWord", T),
    // Retention of the system folders (0 = keep).
    one("zimbraPrefInboxReadLifetime", D, "0"),
    one("zimbraPrefInboxUnreadLifetime", D, "0"),
    one("zimbraPrefJunkLifetime", D, "0"),
    one("zimbraPrefSentLifetime", D, "0"),
    one("zimbraPrefTrashLifetime", D, "0"),
];

/// The spec of a known pref.
pub fn spec(name: &str) -> Option<&'static PrefSpec> {
    SCHEMA.iter().find(|s| s.name == name)
}

/// A syntactically possible pref name: `zimbraPref` then letters and digits (LDAP
/// attribute names). Anything else cannot name an attribute.
pub fn well_formed(name: &str) -> bool {
    name.strip_prefix("zimbraPref")
        .is_some_and(|rest| !rest.is_empty() && rest.chars().all(|c| c.is_ascii_alphanumeric()))
}

fn is_email(v: &str) -> bool {
    match v.rsplit_once('@') {
        Some((local, domain)) => {
            !local.is_empty()
                && !domain.is_empty()
                && !domain.starts_with('.')
                && !domain.ends_with('.')
                && !v
                    .chars()
                    .any(|c| c.is_whitespace() || c.is_control() || "<>,;\"".contains(c))
        }
        None => false,
    }
}

fn is_gentime(v: &str) -> bool {
    let Some(body) = v.strip_suffix('Z') else {
        return false;
    };
    let (digits, fraction) = body.split_once('.').unwrap_or((body, "0"));
    digits.len() == 14
        && digits.chars().all(|c| c.is_ascii_digit())
        && !fraction.is_empty()
        && fraction.len() <= 3
        && fraction.chars().all(|c| c.is_ascii_digit())
}

fn is_duration(v: &str) -> bool {
    let digits = v
        .strip_suffix("ms")
        .or_else(|| v.strip_suffix(['d', 'h', 'm', 's']))
        .unwrap_or(v);
    !digits.is_empty() && digits.chars().all(|c| c.is_ascii_digit())
}

/// Why `value` is not a valid `ty` (the `account.INVALID_ATTR_VALUE` text), if it is not.
pub fn invalid(name: &str, ty: PrefType, value: &str) -> Option<String> {
    let ok = match ty {
        PrefType::Boolean => value == "TRUE" || value == "FALSE",
        PrefType::Integer => value.parse::<i64>().is_ok(),
        PrefType::Duration => is_duration(value),
        PrefType::GenTime => is_gentime(value),
        PrefType::Email => is_email(value),
        PrefType::EmailList => value.split(',').all(|a| is_email(a.trim())),
        PrefType::Text => true,
    };
    if ok {
        return None;
    }
    let what = match ty {
        PrefType::Boolean => "TRUE or FALSE",
        PrefType::Integer => "a valid integer",
        PrefType::Duration => "a valid duration",
        PrefType::GenTime => "a valid generalized time",
        PrefType::Email | PrefType::EmailList => "a valid email address",
        PrefType::Text => "valid",
    };
    Some(format!("{name} must be {what}: {value}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_well_formed() {
        for (i, s) in SCHEMA.iter().enumerate() {
            assert!(well_formed(s.name), "{}", s.name);
            assert!(
                SCHEMA[i + 1..].iter().all(|o| o.name != s.name),
                "{} twice",
                s.name
            );
            if !s.cos_default.is_empty() {
                assert_eq!(invalid(s.name, s.ty, s.cos_default), None, "{}", s.name);
            }
        }
    }

    #[test]
    fn value_syntax() {
        assert!(!well_formed("zimbraPref"));
        assert!(!well_formed("zimbraPref-x"));
        assert!(!well_formed("zimbraPrefé"));
        assert!(well_formed("zimbraPrefMailItemsPerPage"));
        for (ty, good, bad) in [
            (PrefType::Boolean, "TRUE", "yes"),
            (PrefType::Integer, "-50", "5O"),
            (PrefType::Duration, "100ms", "5 m"),
            (PrefType::Duration, "7d", "d"),
            (PrefType::GenTime, "20250101000000Z", "2025-01-01"),
            (PrefType::GenTime, "20250101000000.123Z", "20250101000000"),
            (PrefType::Email, "a@b.fr", "a@b.fr, c@d.fr"),
            (PrefType::Email, "a@b.fr", "Nom <a@b.fr>"),
            (PrefType::EmailList, "a@b.fr, c@d.fr", "a@b.fr,"),
        ] {
            assert_eq!(invalid("p", ty, good), None, "{ty:?} {good}");
            assert!(invalid("p", ty, bad).is_some(), "{ty:?} {bad}");
        }
    }
}
