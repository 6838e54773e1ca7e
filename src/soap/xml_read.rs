//! Strict XML reader (quick-xml, namespace-resolved). TODO(soap helper).

use super::{Envelope, SoapError};

pub fn parse(_body: &[u8]) -> Result<Envelope, SoapError> {
    Err(SoapError::Parse("XML reader not written yet".into()))
}
