//! XML writer for SOAP 1.2 / 1.1 envelopes. TODO(soap helper).

use super::{Element, Format};

/// A full envelope with an empty `urn:zimbra` context header and `body` in Body.
pub fn envelope(_format: Format, _body: &Element) -> Vec<u8> {
    Vec::new()
}
