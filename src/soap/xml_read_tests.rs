//! Tests of the strict XML reader.

use super::*;
use crate::soap::{NS_ACCOUNT, NS_MAIL};

fn ok(body: &str) -> Envelope {
    parse(body.as_bytes()).unwrap_or_else(|e| panic!("{body}: {e}"))
}

fn parse_fails(body: &str) {
    let r = parse(body.as_bytes());
    assert!(matches!(r, Err(SoapError::Parse(_))), "{body}: {r:?}");
}

fn invalid_fails(body: &str) {
    let r = parse(body.as_bytes());
    assert!(matches!(r, Err(SoapError::Invalid(_))), "{body}: {r:?}");
}

fn soap12(inner: &str) -> String {
    format!(
        r#"<soap:Envelope xmlns:soap="{NS_SOAP12}"><soap:Body>{inner}</soap:Body></soap:Envelope>"#
    )
}

#[test]
fn reads_the_documented_soap12_request() {
    let env = ok(r#"<?xml version="1.0" encoding="UTF-8"?>
<soap:Envelope xmlns:soap="http://www.w3.org/2003/05/soap-envelope">
  <soap:Header>
    <context xmlns="urn:zimbra">
      <authToken>0_abc</authToken>
      <account by="name">other@dom</account>
    </context>
  </soap:Header>
  <soap:Body>
    <AuthRequest xmlns="urn:zimbraAccount" csrfTokenSecured="1">
      <account by="name">a@b</account>
      <password>p&amp;w &lt;&#x41;&#66;&gt;</password>
    </AuthRequest>
  </soap:Body>
</soap:Envelope>"#);
    assert_eq!(env.format, Format::Soap12);
    assert_eq!(env.header_auth_token(), Some("0_abc"));
    assert_eq!(
        env.context
            .as_ref()
            .unwrap()
            .child("account")
            .unwrap()
            .text(),
        "other@dom"
    );
    assert!(env.body.is(NS_ACCOUNT, "AuthRequest"));
    assert_eq!(env.body.attr("password"), Some("p&w <AB>"));
    assert_eq!(env.body.attr("csrfTokenSecured"), Some("1"));
    assert_eq!(
        env.body.text, None,
        "whitespace between children is dropped"
    );
    assert_eq!(env.requests().len(), 1);
}

#[test]
fn soap11_with_odd_prefixes_and_default_namespaces() {
    let env = ok(&format!(
        r#"<E:Envelope xmlns:E="{NS_SOAP11}" xmlns:z="urn:zimbra"><E:Header><z:context><z:authToken>t</z:authToken></z:context></E:Header><E:Body><m:SendMsgRequest xmlns:m="urn:zimbraMail"><m:m><e t="t" a="x@y"/></m:m></m:SendMsgRequest></E:Body></E:Envelope>"#
    ));
    assert_eq!(env.format, Format::Soap11);
    assert_eq!(env.header_auth_token(), Some("t"));
    assert!(env.body.is(NS_MAIL, "SendMsgRequest"));
    let m = env.body.child("m").unwrap();
    assert_eq!(m.ns, NS_MAIL);
    assert_eq!(
        m.child("e").unwrap().ns,
        "",
        "unprefixed, no default namespace"
    );
    assert_eq!(m.child("e").unwrap().attr("a"), Some("x@y"));
    // the envelope may also be the default namespace
    let env = ok(&format!(
        r#"<Envelope xmlns="{NS_SOAP12}"><Body><GetInfoRequest xmlns="urn:zimbraAccount"/></Body></Envelope>"#
    ));
    assert!(env.body.is(NS_ACCOUNT, "GetInfoRequest"));
    assert!(env.context.is_none());
}

#[test]
fn attribute_child_duality_and_text() {
    let a = ok(&soap12(r#"<m xmlns="urn:zimbraMail" su="S"/>"#));
    let b = ok(&soap12(r#"<m xmlns="urn:zimbraMail"><su>S</su></m>"#));
    let c = ok(&soap12(
        r#"<m xmlns="urn:zimbraMail"><su><![CDATA[S]]></su></m>"#,
    ));
    let d = ok(&soap12(r#"<m xmlns="urn:zimbraMail"><su>&#83;</su></m>"#));
    for e in [a, b, c, d] {
        assert_eq!(e.body.attr("su"), Some("S"));
    }
    let e = ok(&soap12("<x a='1 &amp;\t2&#9;3'>  keep  me  </x>"));
    assert_eq!(
        e.body.attr("a"),
        Some("1 & 2\t3"),
        "literal tabs normalized, refs kept"
    );
    assert_eq!(e.body.text(), "  keep  me  ", "non-blank text kept as is");
}

#[test]
fn prefixed_attributes_are_not_fields() {
    let env = ok(&soap12(
        r#"<x xmlns:p="urn:p" p:a="1" a="2" xml:lang="fr"/>"#,
    ));
    assert_eq!(env.body.attrs.len(), 1);
    assert_eq!(env.body.attr("a"), Some("2"));
}

#[test]
fn context_in_another_namespace_is_ignored() {
    let env = ok(&format!(
        r#"<soap:Envelope xmlns:soap="{NS_SOAP12}"><soap:Header><context xmlns="urn:other"><authToken>t</authToken></context></soap:Header><soap:Body><A/></soap:Body></soap:Envelope>"#
    ));
    assert!(env.context.is_none());
    invalid_fails(&format!(
        r#"<soap:Envelope xmlns:soap="{NS_SOAP12}"><soap:Header><context xmlns="urn:zimbra"/><context xmlns="urn:zimbra"/></soap:Header><soap:Body><A/></soap:Body></soap:Envelope>"#
    ));
}

#[test]
fn batch_children_are_kept() {
    let env = ok(&soap12(
        r#"<BatchRequest xmlns="urn:zimbra" onerror="stop"><GetFolderRequest xmlns="urn:zimbraMail" requestId="1"/><SendMsgRequest xmlns="urn:zimbraMail" requestId="2"><m/></SendMsgRequest></BatchRequest>"#,
    ));
    assert!(env.is_batch());
    let reqs = env.requests();
    let ids: Vec<_> = reqs
        .iter()
        .map(|r| (r.element.name.as_str(), r.request_id))
        .collect();
    assert_eq!(
        ids,
        [
            ("GetFolderRequest", Some("1")),
            ("SendMsgRequest", Some("2"))
        ]
    );
    invalid_fails(&soap12(
        r#"<BatchRequest xmlns="urn:zimbra"><BatchRequest><A xmlns="urn:zimbraMail"/></BatchRequest></BatchRequest>"#,
    ));
}

#[test]
fn envelope_refusals() {
    invalid_fails(
        r#"<soap:Envelope xmlns:soap="urn:not-soap"><soap:Body><A/></soap:Body></soap:Envelope>"#,
    );
    invalid_fails("<Envelope><Body><A/></Body></Envelope>");
    invalid_fails(&format!(
        r#"<soap:Body xmlns:soap="{NS_SOAP12}"><A/></soap:Body>"#
    ));
    invalid_fails(&soap12("<A/><B/>"));
    invalid_fails(&soap12(""));
    invalid_fails(&soap12("just text"));
    invalid_fails(&format!(
        r#"<soap:Envelope xmlns:soap="{NS_SOAP12}"><soap:Body><A/></soap:Body><soap:Body><B/></soap:Body></soap:Envelope>"#
    ));
    invalid_fails(&format!(
        r#"<soap:Envelope xmlns:soap="{NS_SOAP12}"><Body><A/></Body></soap:Envelope>"#
    ));
    invalid_fails(&format!(
        r#"<soap:Envelope xmlns:soap="{NS_SOAP12}"><soap:Body><A/></soap:Body><soap:Header/></soap:Envelope>"#
    ));
    invalid_fails(&soap12("<A>text<b/></A>"));
    invalid_fails(&soap12(
        r#"<A><h:div xmlns:h="http://www.w3.org/1999/xhtml">x</h:div></A>"#,
    ));
}

#[test]
fn xxe_dtd_pi_and_entities_are_refused() {
    parse_fails(&format!(
        r#"<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]>{}"#,
        soap12("<A>&e;</A>")
    ));
    parse_fails(&soap12("<A>&e;</A>"));
    parse_fails(&soap12("<A>&nbsp;</A>"));
    parse_fails(&soap12(r#"<A a="&e;"/>"#));
    parse_fails(&format!(r#"<?xml-stylesheet href="x"?>{}"#, soap12("<A/>")));
    parse_fails(&soap12("<A><?pi x?></A>"));
    parse_fails(&soap12("<A>&#0;</A>"));
    parse_fails(&soap12("<A>&#x1;</A>"));
    parse_fails(&soap12(r#"<A a="&#1;"/>"#));
}

#[test]
fn malformed_documents_are_refused() {
    parse_fails(&soap12("<A>"));
    parse_fails(&soap12("<A></B>"));
    parse_fails(&soap12(r#"<A a="1" a="2"/>"#));
    parse_fails(&soap12(r#"<p:A/>"#));
    parse_fails(&soap12(r#"<A p:a="1"/>"#));
    parse_fails(&soap12("<A>a & b</A>"));
    parse_fails(&soap12(r#"<A a="<"/>"#));
    parse_fails(&soap12("<Send\u{1}MsgRequest/>"));
    parse_fails(&format!("{}<extra/>", soap12("<A/>")));
    parse_fails(&format!("{}garbage", soap12("<A/>")));
    parse_fails(&format!(r#"<?xml version="1.1"?>{}"#, soap12("<A/>")));
    parse_fails(&format!(
        r#"<?xml version="1.0" encoding="ISO-8859-1"?>{}"#,
        soap12("<A/>")
    ));
    parse_fails(&format!("{}<?xml version=\"1.0\"?>", soap12("<A/>")));
    assert!(matches!(parse(b"<A>\xff</A>"), Err(SoapError::Parse(_))));
    parse_fails(&soap12("<1a/>"));
    parse_fails(&soap12(r#"<a b.c$="1"/>"#));
    parse_fails(&soap12(r#"<A xmlns="urn:zimbra&#77;ail"/>"#));
    parse_fails("<");
    parse_fails("<>");
}

#[test]
fn comments_and_trailing_whitespace_are_fine() {
    let env = ok(&format!(
        "<!-- c -->{}\n  <!-- end -->\n",
        soap12("<A>x<!-- in -->y</A>")
    ));
    assert_eq!(env.body.text(), "xy");
}

#[test]
fn depth_and_size_are_capped() {
    let deep = format!("{}{}", "<e>".repeat(MAX_DEPTH), "</e>".repeat(MAX_DEPTH));
    invalid_fails(&soap12(&deep));
    let fine = format!(
        "{}{}",
        "<e>".repeat(MAX_DEPTH - 3),
        "</e>".repeat(MAX_DEPTH - 3)
    );
    ok(&soap12(&fine));
}
