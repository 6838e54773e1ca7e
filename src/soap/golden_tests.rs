//! Golden fixtures (fixtures/soap/): each request is read, answered with a fault
//! (or a batch holding one), and the answer must match `*.response.*` byte for
//! byte. `UPDATE_GOLDEN=1 cargo test golden` rewrites the responses (review them!).

use std::path::PathBuf;

use super::{Element, Envelope, Fault, Format, SoapReply, NS_MAIL};

const TRACE: &str = "gateway:0:0000000000000000";
const FORMATS: [(&str, &str); 3] = [("soap12", "xml"), ("soap11", "xml"), ("json", "json")];

fn dir() -> PathBuf {
    // `file!()` is relative to the package root in this crate, absolute elsewhere.
    PathBuf::from(file!())
        .parent()
        .unwrap()
        .join("../../fixtures/soap")
}

fn request(case: &str, fmt: &str, ext: &str) -> Vec<u8> {
    let name = if fmt == "json" {
        format!("{case}.request.json")
    } else {
        format!("{case}.request.{fmt}.{ext}")
    };
    std::fs::read(dir().join(&name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn check(case: &str, fmt: &str, ext: &str, reply: &SoapReply) {
    let name = if fmt == "json" {
        format!("{case}.response.json")
    } else {
        format!("{case}.response.{fmt}.{ext}")
    };
    let path = dir().join(&name);
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        let mut body = reply.body.clone();
        body.push(b'\n');
        std::fs::write(&path, body).unwrap();
    }
    let want = std::fs::read(&path).unwrap_or_else(|e| panic!("{name}: {e}"));
    let want = want.strip_suffix(b"\n").unwrap_or(&want);
    assert_eq!(
        String::from_utf8_lossy(&reply.body),
        String::from_utf8_lossy(want),
        "{name} differs"
    );
}

fn expected_format(fmt: &str) -> Format {
    match fmt {
        "soap12" => Format::Soap12,
        "soap11" => Format::Soap11,
        _ => Format::Json,
    }
}

/// A request the reader accepts, answered with `fault` by a policy.
fn denied(case: &str, fault: Fault) {
    for (fmt, ext) in FORMATS {
        let env = Envelope::parse(&request(case, fmt, ext)).unwrap();
        assert_eq!(env.format, expected_format(fmt));
        let reply = env.fault(&fault);
        assert_eq!(reply.status, 500);
        check(case, fmt, ext, &reply);
    }
}

/// A request the reader refuses: the fault comes from the `SoapError`.
fn refused(case: &str, code: &str) {
    for (fmt, ext) in FORMATS {
        let body = request(case, fmt, ext);
        let err = Envelope::parse(&body).unwrap_err();
        let fault = Fault::from(&err).with_trace(TRACE);
        assert_eq!(fault.code, code, "{case} {fmt}: {err}");
        let format = Format::sniff(&body);
        assert_eq!(format, expected_format(fmt));
        let reply = fault.reply(format);
        assert_eq!(reply.status, 500);
        assert_eq!(reply.content_type, format.content_type());
        check(case, fmt, ext, &reply);
    }
}

#[test]
fn golden_perm_denied() {
    let f = Fault::perm_denied("recipient outside the MSSanté trust space").with_trace(TRACE);
    denied("perm_denied", f);
}

#[test]
fn golden_send_aborted_address_failure() {
    let f = Fault::send_aborted_address_failure(&["bad@x"]).with_trace(TRACE);
    denied("send_aborted", f);
}

#[test]
fn golden_parse_error() {
    refused("parse_error", "service.PARSE_ERROR");
}

#[test]
fn golden_invalid_request() {
    refused("invalid_request", "service.INVALID_REQUEST");
}

#[test]
fn golden_batch_with_one_fault_entry() {
    for (fmt, ext) in FORMATS {
        let env = Envelope::parse(&request("batch_fault", fmt, ext)).unwrap();
        let entries: Vec<Element> = env
            .requests()
            .iter()
            .map(|r| match r.element.name.as_str() {
                "GetFolderRequest" => Element::new(NS_MAIL, "GetFolderResponse")
                    .with_attr("requestId", r.request_id.unwrap())
                    .with_child(
                        Element::new(NS_MAIL, "folder")
                            .with_attr("id", "1")
                            .with_attr("name", "USER_ROOT"),
                    ),
                _ => Fault::perm_denied("recipient outside the MSSanté trust space")
                    .with_trace(TRACE)
                    .to_batch_entry(env.format, r.request_id),
            })
            .collect();
        let reply = env.batch_reply(entries);
        assert_eq!(reply.status, 200);
        check("batch_fault", fmt, ext, &reply);
    }
}

/// Every response fixture is itself readable by our own strict reader's XML or
/// JSON layer (well-formed, no duplicate keys).
#[test]
fn golden_responses_are_well_formed() {
    for entry in std::fs::read_dir(dir()).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if !name.contains(".response.") {
            continue;
        }
        let body = std::fs::read(&path).unwrap();
        if name.ends_with(".json") {
            super::json_value::read(&body).unwrap_or_else(|e| panic!("{name}: {e}"));
        } else {
            super::xml_read::read_document(&body).unwrap_or_else(|e| panic!("{name}: {e}"));
        }
    }
}
