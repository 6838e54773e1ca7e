//! Arbitrary bytes through both SOAP readers; whatever parses is written back in
//! every format and read again. Nothing may panic, and a request written in its
//! own format must read back to the same tree (what the proxy forwards after a
//! rewrite is what the policy saw).

#![no_main]

use libfuzzer_sys::fuzz_target;
use mssante_gateway::soap::{
    json_read, json_write, write_batch_reply, xml_read, xml_write, Element, Envelope, Fault, Format,
};

fuzz_target!(|data: &[u8]| {
    // Both readers see every input, whatever its first byte.
    let _ = xml_read::parse(data);
    let _ = json_read::parse(data);
    let Ok(env) = Envelope::parse(data) else {
        return;
    };

    let again = Envelope::parse(&env.to_bytes()).expect("own output must read back");
    assert_eq!(again.format, env.format);
    // A missing context is written as an empty one: the same thing to Zimbra.
    let empty = |c: &Option<Element>| {
        c.as_ref().is_none_or(|c| {
            c.attrs.is_empty() && c.children.is_empty() && c.text.is_none() && c.kv.is_empty()
        })
    };
    if !(empty(&again.context) && empty(&env.context)) {
        assert_eq!(again.context, env.context);
    }
    assert_eq!(again.body, env.body);

    for format in [Format::Soap12, Format::Soap11, Format::Json] {
        let bytes = match format {
            Format::Json => json_write::envelope_with_context(env.context.as_ref(), &env.body),
            _ => xml_write::envelope_with_context(format, env.context.as_ref(), &env.body),
        };
        let _ = Envelope::parse(&bytes);
        let fault = Fault::invalid_request("fuzz").with_trace("t");
        let entry = fault.to_batch_entry(format, env.requests().first().and_then(|r| r.request_id));
        let batch = write_batch_reply(format, vec![env.body.clone(), entry]);
        assert!(xml_read::read_document(&batch.body).is_ok() || format == Format::Json);
    }
});
