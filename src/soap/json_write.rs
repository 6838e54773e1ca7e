//! JSON writer in Zimbra's shapes. TODO(soap helper).

use super::Element;

/// `{"Header":{"context":{"_jsns":"urn:zimbra"}},"Body":{…},"_jsns":"urn:zimbraSoap"}`
pub fn envelope(_body: &Element) -> Vec<u8> {
    Vec::new()
}
