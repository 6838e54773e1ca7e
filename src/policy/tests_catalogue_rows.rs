//! The catalogue rows (zimbra-api §6.1, §6.2 and the planting requests of issue 9):
//! one request each, a form that passes and one that is refused, in XML and JSON.

/// (name, ns, ok XML, bad XML, ok JSON, bad JSON, marker expected in the refusal).
/// `ok` = None when the request is always refused.
pub(super) type Row = (
    &'static str,
    &'static str,
    Option<&'static str>,
    &'static str,
    Option<&'static str>,
    &'static str,
    &'static str,
);

pub(super) const GOOD: &str = "a@medecin.mssante.fr";
pub(super) const OUT: &str = "x@gmail.com";

pub(super) fn rows() -> Vec<Row> {
    let m = "urn:zimbraMail";
    let a = "urn:zimbraAccount";
    vec![
        // §6.1 #1, #2
        (
            "SendMsgRequest",
            m,
            Some(r#"<m><e t="t" a="GOOD"/><su>s</su></m>"#),
            r#"<m><e t="t" a="GOOD"/><e t="c" a="OUT"/></m>"#,
            Some(r#"{"m":{"e":[{"t":"t","a":"GOOD"}]}}"#),
            r#"{"m":{"e":[{"t":"b","a":"OUT"}]}}"#,
            OUT,
        ),
        (
            "SendSecureMsgRequest",
            m,
            Some(r#"<m><e t="t" a="GOOD"/></m>"#),
            r#"<m><e t="t" a="OUT"/></m>"#,
            Some(r#"{"sign":"1","m":{"e":[{"t":"t","a":"GOOD"}]}}"#),
            r#"{"m":{"e":[{"t":"t","a":"OUT"}]}}"#,
            OUT,
        ),
        // #3
        (
            "SaveDraftRequest",
            m,
            Some(r#"<m autoSendTime="1900000000000"><e t="t" a="GOOD"/></m>"#),
            r#"<m autoSendTime="1900000000000"><e t="t" a="OUT"/></m>"#,
            Some(r#"{"m":{"autoSendTime":1900000000000,"e":[{"t":"t","a":"GOOD"}]}}"#),
            r#"{"m":{"autoSendTime":1900000000000,"e":[{"t":"t","a":"OUT"}]}}"#,
            OUT,
        ),
        // #5, #12: nothing in the request, the stored item is judged (tests_stored.rs)
        (
            "SendDeliveryReportRequest",
            m,
            Some(r#"<mid>12</mid>"#),
            r#"<mid></mid>"#,
            Some(r#"{"mid":"12"}"#),
            r#"{"_x":"1"}"#,
            "identifiant",
        ),
        (
            "AnnounceOrganizerChangeRequest",
            m,
            Some(r#"<id>257</id>"#),
            r#"<id> </id>"#,
            Some(r#"{"id":"257"}"#),
            r#"{"_x":"1"}"#,
            "identifiant",
        ),
        // Planting: calendar items and messages that later requests mail.
        (
            "SetAppointmentRequest",
            m,
            Some(
                r#"<default ptst="AC"><m><inv><comp name="r"><s d="20250101T100000Z"/><e d="20250101T110000Z"/><or a="GOOD"/><at a="jean.dupont@hopital.local"/></comp></inv></m></default>"#,
            ),
            r#"<default><m><inv><comp><or a="OUT"/></comp></inv></m></default>"#,
            Some(
                r#"{"default":{"m":{"inv":{"comp":[{"e":[{"d":"20250101"}],"at":[{"a":"GOOD"}]}]}}}}"#,
            ),
            r#"{"except":[{"m":{"inv":{"comp":[{"at":[{"a":"OUT"}]}]}}}]}"#,
            OUT,
        ),
        (
            "SetTaskRequest",
            m,
            Some(r#"<default><m><inv><comp><or a="GOOD"/></comp></inv></m></default>"#),
            r#"<cancel><m><inv><comp><at a="OUT"/></comp></inv></m></cancel>"#,
            Some(r#"{"default":{"m":{"inv":{"comp":[{"or":{"a":"GOOD"}}]}}}}"#),
            r#"{"default":{"m":{"inv":{"comp":[{"or":{"a":"GOOD","sentBy":"OUT"}}]}}}}"#,
            OUT,
        ),
        (
            "AddAppointmentInviteRequest",
            m,
            Some(r#"<m><inv><comp><or a="GOOD"/></comp></inv></m>"#),
            r#"<m><mp ct="multipart/alternative"><content>To: GOOD&#13;&#10;Content-Type: text/calendar&#13;&#10;&#13;&#10;BEGIN:VCALENDAR&#13;&#10;ORGANIZER:mailto:OUT&#13;&#10;END:VCALENDAR&#13;&#10;</content></mp></m>"#,
            Some(r#"{"m":{"inv":{"comp":[{"at":[{"a":"GOOD"}]}]}}}"#),
            r#"{"m":{"e":[{"t":"n","a":"OUT"}],"inv":{"comp":[{"at":[{"a":"GOOD"}]}]}}}"#,
            OUT,
        ),
        (
            "AddTaskInviteRequest",
            m,
            Some(r#"<m><inv><comp><or a="GOOD"/></comp></inv></m>"#),
            r#"<m><inv><comp><or a="OUT"/></comp></inv></m>"#,
            Some(r#"{"m":{"inv":{"comp":[{"or":{"a":"GOOD"}}]}}}"#),
            r#"{"m":{"inv":{"comp":[{"at":[{"a":"OUT"}]}]}}}"#,
            OUT,
        ),
        (
            "ImportAppointmentsRequest",
            m,
            Some(
                r#"<content>BEGIN:VCALENDAR&#10;BEGIN:VEVENT&#10;ORGANIZER:mailto:GOOD&#10;END:VEVENT&#10;END:VCALENDAR</content>"#,
            ),
            r#"<content>BEGIN:VCALENDAR&#10;BEGIN:VEVENT&#10;ATTENDEE;CN=X:MAILTO:OUT&#10;END:VEVENT&#10;END:VCALENDAR</content>"#,
            Some(r#"{"ct":"ics","content":{"mid":"300","part":"2"}}"#),
            r#"{"ct":"ics","content":{"_content":"BEGIN:VCALENDAR\nORGANIZER;SENT-BY=\"mailto:OUT\":mailto:GOOD\nEND:VCALENDAR"}}"#,
            OUT,
        ),
        (
            "ICalReplyRequest",
            m,
            Some(
                r#"<ical>BEGIN:VCALENDAR&#10;METHOD:REPLY&#10;ATTENDEE:mailto:GOOD&#10;END:VCALENDAR</ical>"#,
            ),
            r#"<ical>BEGIN:VCALENDAR&#10;METHOD:REPLY&#10;ATTENDEE:mailto:OUT&#10;END:VCALENDAR</ical>"#,
            Some(r#"{"ical":{"_content":"BEGIN:VCALENDAR\nATTENDEE:mailto:GOOD\nEND:VCALENDAR"}}"#),
            r#"{"ical":{"_content":"BEGIN:VCALENDAR\nATTENDEE:mailto:OUT\nEND:VCALENDAR"}}"#,
            OUT,
        ),
        (
            "AutoCompleteRequest",
            m,
            Some(r#"<name>dup</name>"#),
            r#"<name>dup</name><includeGal>peut-être</includeGal>"#,
            Some(r#"{"name":"dup","includeGal":"1"}"#),
            r#"{"name":"dup","includeGal":"oui"}"#,
            "includeGal",
        ),
        // #4
        (
            "BounceMsgRequest",
            m,
            Some(r#"<m id="257"><e t="t" a="GOOD"/></m>"#),
            r#"<m id="257"><e t="t" a="OUT"/></m>"#,
            Some(r#"{"m":{"id":"257","e":[{"t":"t","a":"GOOD"}]}}"#),
            r#"{"m":{"id":"257","e":[{"t":"c","a":"OUT"}]}}"#,
            OUT,
        ),
        // #6
        (
            "SendShareNotificationRequest",
            m,
            Some(r#"<item id="300"/><e a="GOOD"/><notes>n</notes>"#),
            r#"<item id="300"/><e a="OUT"/>"#,
            Some(r#"{"item":{"id":"300"},"e":[{"a":"GOOD"}]}"#),
            r#"{"item":{"id":"300"},"e":[{"a":"OUT"}]}"#,
            OUT,
        ),
        // #7
        (
            "SendInviteReplyRequest",
            m,
            Some(r#"<id>1</id><m><e t="t" a="GOOD"/></m>"#),
            r#"<id>1</id><m><e t="t" a="OUT"/></m>"#,
            Some(r#"{"id":"1","verb":"ACCEPT","m":{"e":[{"t":"t","a":"GOOD"}]}}"#),
            r#"{"id":"1","m":{"e":[{"t":"t","a":"OUT"}]}}"#,
            OUT,
        ),
        // #8: notification recipients and attendees
        (
            "CreateAppointmentRequest",
            m,
            Some(
                r#"<m><e t="t" a="GOOD"/><inv><comp><at a="GOOD"/><or a="jean.dupont@hopital.local"/></comp></inv></m>"#,
            ),
            r#"<m><e t="t" a="GOOD"/><inv><comp><at a="OUT"/></comp></inv></m>"#,
            Some(r#"{"m":{"e":[{"t":"t","a":"GOOD"}],"inv":{"comp":[{"at":[{"a":"GOOD"}]}]}}}"#),
            r#"{"m":{"e":[{"t":"t","a":"GOOD"}],"inv":{"comp":[{"at":[{"a":"OUT"}]}]}}}"#,
            OUT,
        ),
        (
            "ModifyAppointmentRequest",
            m,
            Some(r#"<id>1</id><m><inv><comp><at a="GOOD"/></comp></inv></m>"#),
            r#"<id>1</id><m><e t="t" a="OUT"/></m>"#,
            Some(r#"{"id":"1","m":{"inv":{"comp":[{"at":[{"a":"GOOD"}]}]}}}"#),
            r#"{"id":"1","m":{"e":[{"t":"t","a":"OUT"}]}}"#,
            OUT,
        ),
        (
            "CreateTaskRequest",
            m,
            Some(r#"<m><inv><comp><at a="GOOD"/></comp></inv></m>"#),
            r#"<m><inv><comp><at a="OUT"/></comp></inv></m>"#,
            Some(r#"{"m":{"inv":{"comp":[{"at":[{"a":"GOOD"}]}]}}}"#),
            r#"{"m":{"inv":{"comp":[{"at":[{"a":"OUT"}]}]}}}"#,
            OUT,
        ),
        (
            "ModifyTaskRequest",
            m,
            Some(r#"<id>1</id><m><e t="t" a="GOOD"/></m>"#),
            r#"<id>1</id><m><e t="t" a="OUT"/></m>"#,
            Some(r#"{"id":"1","m":{"e":[{"t":"t","a":"GOOD"}]}}"#),
            r#"{"id":"1","m":{"e":[{"t":"t","a":"OUT"}]}}"#,
            OUT,
        ),
        (
            "CreateAppointmentExceptionRequest",
            m,
            Some(r#"<id>1</id><m><e t="t" a="GOOD"/></m>"#),
            r#"<id>1</id><m><e t="t" a="OUT"/></m>"#,
            Some(r#"{"id":"1","m":{"e":[{"t":"t","a":"GOOD"}]}}"#),
            r#"{"id":"1","m":{"e":[{"t":"t","a":"OUT"}]}}"#,
            OUT,
        ),
        (
            "CreateTaskExceptionRequest",
            m,
            Some(r#"<id>1</id><m><e t="t" a="GOOD"/></m>"#),
            r#"<id>1</id><m><e t="t" a="OUT"/></m>"#,
            Some(r#"{"id":"1","m":{"e":[{"t":"t","a":"GOOD"}]}}"#),
            r#"{"id":"1","m":{"e":[{"t":"t","a":"OUT"}]}}"#,
            OUT,
        ),
        // #9
        (
            "CancelAppointmentRequest",
            m,
            Some(r#"<id>1</id><m><e t="t" a="GOOD"/></m>"#),
            r#"<id>1</id><m><e t="t" a="OUT"/></m>"#,
            Some(r#"{"id":"1","comp":"0","m":{"e":[{"t":"t","a":"GOOD"}]}}"#),
            r#"{"id":"1","m":{"e":[{"t":"t","a":"OUT"}]}}"#,
            OUT,
        ),
        (
            "CancelTaskRequest",
            m,
            Some(r#"<id>1</id><m><e t="t" a="GOOD"/></m>"#),
            r#"<id>1</id><m><e t="t" a="OUT"/></m>"#,
            Some(r#"{"id":"1","m":{"e":[{"t":"t","a":"GOOD"}]}}"#),
            r#"{"id":"1","m":{"e":[{"t":"t","a":"OUT"}]}}"#,
            OUT,
        ),
        // #10
        (
            "ForwardAppointmentRequest",
            m,
            Some(r#"<id>1</id><m><e t="t" a="GOOD"/></m>"#),
            r#"<id>1</id><m><e t="t" a="OUT"/></m>"#,
            Some(r#"{"id":"1","m":{"e":[{"t":"t","a":"GOOD"}]}}"#),
            r#"{"id":"1","m":{"e":[{"t":"t","a":"OUT"}]}}"#,
            OUT,
        ),
        (
            "ForwardAppointmentInviteRequest",
            m,
            Some(r#"<id>1</id><m><e t="t" a="GOOD"/></m>"#),
            r#"<id>1</id><m><e t="t" a="OUT"/></m>"#,
            Some(r#"{"id":"1","m":{"e":[{"t":"t","a":"GOOD"}]}}"#),
            r#"{"id":"1","m":{"e":[{"t":"t","a":"OUT"}]}}"#,
            OUT,
        ),
        // #11
        (
            "CounterAppointmentRequest",
            m,
            Some(r#"<m><e t="t" a="GOOD"/><inv><comp><or a="GOOD"/></comp></inv></m>"#),
            r#"<m><e t="t" a="GOOD"/><inv><comp><or a="OUT"/></comp></inv></m>"#,
            Some(r#"{"m":{"e":[{"t":"t","a":"GOOD"}]}}"#),
            r#"{"m":{"e":[{"t":"t","a":"GOOD"}],"inv":{"comp":[{"or":{"a":"OUT"}}]}}}"#,
            OUT,
        ),
        (
            "DeclineCounterAppointmentRequest",
            m,
            Some(r#"<m><e t="t" a="GOOD"/></m>"#),
            r#"<m><e t="t" a="OUT"/></m>"#,
            Some(r#"{"m":{"e":[{"t":"t","a":"GOOD"}]}}"#),
            r#"{"m":{"e":[{"t":"t","a":"OUT"}]}}"#,
            OUT,
        ),
        // #13, #14, #16
        (
            "SendVerificationCodeRequest",
            m,
            Some(r#""#),
            r#""#,
            Some(r#"{"a":"GOOD"}"#),
            r#"{"a":"OUT"}"#,
            OUT,
        ),
        (
            "VerifyCodeRequest",
            m,
            Some(r#""#),
            r#""#,
            Some(r#"{"a":"GOOD","code":"1"}"#),
            r#"{"a":"OUT","code":"1"}"#,
            OUT,
        ),
        (
            "SetRecoveryAccountRequest",
            m,
            Some(r#""#),
            r#""#,
            Some(r#"{"op":"sendCode","channel":"email","recoveryAccount":"GOOD"}"#),
            r#"{"op":"sendCode","recoveryAccount":"OUT"}"#,
            OUT,
        ),
        (
            "EnableTwoFactorAuthRequest",
            a,
            Some(r#"<name>u</name><method>email</method><email>GOOD</email>"#),
            r#"<method>email</method><email>OUT</email>"#,
            Some(r#"{"name":{"_content":"u"},"email":{"_content":"GOOD"}}"#),
            r#"{"email":{"_content":"OUT"}}"#,
            OUT,
        ),
        // #18, #20
        (
            "ModifyPrefsRequest",
            a,
            Some(
                r#"<pref name="zimbraPrefMailForwardingAddress">GOOD</pref><pref name="zimbraPrefNewMailNotificationAddress">OUT</pref>"#,
            ),
            r#"<pref name="zimbraPrefMailForwardingAddress">GOOD, OUT</pref>"#,
            Some(
                r#"{"_attrs":{"zimbraPrefCalendarForwardInvitesTo":"GOOD","zimbraPrefNewMailNotificationAddress":"OUT"}}"#,
            ),
            r#"{"_attrs":{"+zimbraPrefCalendarForwardInvitesTo":"OUT"}}"#,
            OUT,
        ),
        // #21, #22
        (
            "ModifyFilterRulesRequest",
            m,
            Some(
                r#"<filterRules><filterRule name="r" active="1"><filterActions><actionRedirect a="GOOD"/><actionReply><content>c</content></actionReply></filterActions></filterRule></filterRules>"#,
            ),
            r#"<filterRules><filterRule name="r"><filterActions><actionKeep/></filterActions><nestedRule><filterActions><actionNotify a="OUT"/></filterActions></nestedRule></filterRule></filterRules>"#,
            Some(
                r#"{"filterRules":[{"filterRule":[{"name":"r","filterActions":[{"actionNotify":[{"a":"GOOD","su":"s"}]}]}]}]}"#,
            ),
            r#"{"filterRules":[{"filterRule":[{"name":"r","filterActions":[{"actionRedirect":[{"a":"OUT"}]}]}]}]}"#,
            OUT,
        ),
        (
            "ModifyOutgoingFilterRulesRequest",
            m,
            Some(
                r#"<filterRules><filterRule name="r"><filterActions><actionRFCCompliantNotify from="jean.dupont@ght.mssante.fr" method="mailto:GOOD"/></filterActions></filterRule></filterRules>"#,
            ),
            r#"<filterRules><filterRule name="r"><filterActions><actionRFCCompliantNotify method="mailto:OUT?subject=x"/></filterActions></filterRule></filterRules>"#,
            Some(
                r#"{"filterRules":[{"filterRule":[{"name":"r","filterActions":[{"actionRedirect":[{"a":"GOOD"}]}]}]}]}"#,
            ),
            r#"{"filterRules":[{"filterRule":[{"name":"r","filterActions":[{"actionRedirect":[{"a":"OUT"}]}]}]}]}"#,
            OUT,
        ),
        // #23
        (
            "AddMsgRequest",
            m,
            Some(r#"<m l="5" f="s"><content>From: a@b.fr&#10;To: GOOD&#10;&#10;x</content></m>"#),
            r#"<m l="5" f="s"><content>x</content></m><filterSent>1</filterSent>"#,
            Some(r#"{"filterSent":"0","m":{"l":"5"}}"#),
            r#"{"filterSent":true,"m":{"l":"5","f":"s"}}"#,
            "filterSent",
        ),
        // #25
        (
            "CreateIdentityRequest",
            a,
            Some(r#"<identity name="alt"><a name="zimbraPrefReplyToAddress">GOOD</a></identity>"#),
            r#"<identity name="alt"><a name="zimbraPrefReplyToAddress">OUT</a></identity>"#,
            Some(
                r#"{"identity":{"name":"alt","_attrs":{"zimbraPrefFromAddress":"jean.dupont@ght.mssante.fr"}}}"#,
            ),
            r#"{"identity":{"name":"alt","_attrs":{"zimbraPrefBccAddress":"OUT"}}}"#,
            OUT,
        ),
        (
            "ModifyIdentityRequest",
            a,
            Some(
                r#"<identity id="id-2"><a name="zimbraPrefFromAddress">jean.dupont@hopital.local</a></identity>"#,
            ),
            r#"<identity id="id-2"><a name="zimbraPrefFromAddress">OUT</a></identity>"#,
            Some(r#"{"identity":{"id":"id-2","_attrs":{"zimbraPrefReplyToAddress":"GOOD"}}}"#),
            r#"{"identity":{"id":"id-2","_attrs":{"zimbraPrefFromAddress":"OUT"}}}"#,
            "doit être une de vos adresses",
        ),
        // #26: data sources are refused outright
        (
            "CreateDataSourceRequest",
            m,
            None,
            r#"<imap name="x" host="imap.gmail.com"/>"#,
            None,
            r#"{"imap":{"name":"x"}}"#,
            "CreateDataSourceRequest",
        ),
        (
            "ModifyDataSourceRequest",
            m,
            None,
            r#"<pop3 id="1"/>"#,
            None,
            r#"{"pop3":{"id":"1"}}"#,
            "ModifyDataSourceRequest",
        ),
        (
            "TestDataSourceRequest",
            m,
            None,
            r#"<imap host="h"/>"#,
            None,
            r#"{"imap":{"host":"h"}}"#,
            "TestDataSourceRequest",
        ),
        (
            "ImportDataRequest",
            m,
            None,
            r#"<imap id="1"/>"#,
            None,
            r#"{"imap":{"id":"1"}}"#,
            "ImportDataRequest",
        ),
        // #27
        (
            "GrantRightsRequest",
            a,
            Some(r#"<ace right="sendAs" gt="usr" d="collegue@hopital.local"/>"#),
            r#"<ace right="sendAs" gt="pub"/>"#,
            Some(r#"{"ace":[{"right":"sendOnBehalfOf","gt":"grp","d":"equipe@hopital.local"}]}"#),
            r#"{"ace":[{"right":"sendAs","gt":"usr","d":"OUT"}]}"#,
            "refusé",
        ),
        (
            "GrantPermissionRequest",
            m,
            Some(r#"<ace right="invite" gt="usr" d="collegue@hopital.local"/>"#),
            r#"<ace right="invite" gt="all"/>"#,
            Some(r#"{"ace":[{"right":"invite","gt":"usr","d":"collegue@hopital.local"}]}"#),
            r#"{"ace":[{"right":"invite","gt":"gst","d":"OUT"}]}"#,
            "refusé",
        ),
        // #28, M6
        (
            "FolderActionRequest",
            m,
            Some(
                r#"<action op="grant" id="2"><grant perm="r" gt="usr" d="collegue@hopital.local"/></action>"#,
            ),
            r#"<action op="grant" id="2"><grant perm="r" gt="guest" d="OUT" pw="x"/></action>"#,
            Some(
                r#"{"action":{"op":"grant","id":"2","grant":{"perm":"r","gt":"grp","d":"equipe@hopital.local"}}}"#,
            ),
            r#"{"action":{"op":"grant","id":"2","grant":{"perm":"r","gt":"usr","d":"OUT"}}}"#,
            "OUT",
        ),
        (
            "CreateFolderRequest",
            m,
            Some(r#"<folder name="P" l="1"/>"#),
            r#"<folder name="P" l="1"><acl><grant perm="r" gt="pub"/></acl></folder>"#,
            Some(r#"{"folder":{"name":"P","l":"1"}}"#),
            r#"{"folder":{"name":"P","l":"1","acl":{"grant":[{"perm":"r","gt":"key","d":"OUT"}]}}}"#,
            "partage de type",
        ),
        (
            "ContactActionRequest",
            m,
            Some(r#"<action op="move" id="5" l="7"/>"#),
            r#"<action op="grant" id="7"><grant gt="all" perm="r"/></action>"#,
            Some(r#"{"action":{"op":"tag","id":"5","tn":"x"}}"#),
            r#"{"action":{"op":"grant","id":"7","grant":{"gt":"pub","perm":"r"}}}"#,
            "partage de type",
        ),
        // #29
        (
            "DistributionListActionRequest",
            a,
            Some(
                r#"<dl by="name">liste@hopital.local</dl><action op="addMembers"><dlm>GOOD</dlm></action>"#,
            ),
            r#"<dl by="name">liste@hopital.local</dl><action op="addMembers"><dlm>GOOD</dlm><dlm>OUT</dlm></action>"#,
            Some(
                r#"{"dl":{"by":"name","_content":"liste@hopital.local"},"action":{"op":"addMembers","dlm":[{"_content":"GOOD"}]}}"#,
            ),
            r#"{"dl":{"by":"name","_content":"liste@hopital.local"},"action":{"op":"modify","_attrs":{"zimbraMailForwardingAddress":"OUT"}}}"#,
            OUT,
        ),
        (
            "CreateDistributionListRequest",
            a,
            Some(r#"<name>liste@hopital.local</name><a n="description">d</a>"#),
            r#"<name>liste@hopital.local</name><a n="zimbraMailForwardingAddress">OUT</a>"#,
            Some(r#"{"name":{"_content":"liste@hopital.local"}}"#),
            r#"{"name":{"_content":"l@hopital.local"},"_attrs":{"zimbraMailForwardingAddress":"OUT"}}"#,
            OUT,
        ),
    ]
}
