//! The ONE place where proxy errors become HTTP responses. SOAP faults are not
//! here: they are answers in the client's format (`soap_pipeline`).

use super::{full, Body};
use http::{header, Response, StatusCode};

/// Why the gateway answered itself instead of the store.
#[derive(Debug, thiserror::Error)]
pub enum ProxyError {
    #[error("bad request: {0}")]
    BadRequest(&'static str),
    #[error("path closed")]
    Forbidden,
    #[error("method not allowed")]
    MethodNotAllowed,
    #[error("client too slow sending the body")]
    RequestTimeout,
    #[error("body too large")]
    PayloadTooLarge,
    #[error("too many bodies being read")]
    Busy,
    #[error("upstream unavailable")]
    UpstreamUnavailable,
    #[error("upstream timeout")]
    UpstreamTimeout,
    #[error("internal error")]
    Internal,
}

impl ProxyError {
    pub fn status(&self) -> StatusCode {
        match self {
            ProxyError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ProxyError::Forbidden => StatusCode::FORBIDDEN,
            ProxyError::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            ProxyError::RequestTimeout => StatusCode::REQUEST_TIMEOUT,
            ProxyError::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            ProxyError::Busy => StatusCode::SERVICE_UNAVAILABLE,
            ProxyError::UpstreamUnavailable => StatusCode::BAD_GATEWAY,
            ProxyError::UpstreamTimeout => StatusCode::GATEWAY_TIMEOUT,
            ProxyError::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// Short bilingual text; never internal details.
    fn text(&self) -> &'static str {
        match self {
            ProxyError::BadRequest(_) => "Requête invalide.\nBad request.\n",
            ProxyError::Forbidden => "Accès interdit.\nForbidden.\n",
            ProxyError::MethodNotAllowed => "Méthode non autorisée.\nMethod not allowed.\n",
            ProxyError::RequestTimeout => "Requête trop lente.\nRequest timeout.\n",
            ProxyError::PayloadTooLarge => "Contenu trop volumineux.\nPayload too large.\n",
            ProxyError::Busy => {
                "Service momentanément surchargé : réessayez dans quelques instants.\n\
                 Service busy, try again shortly.\n"
            }
            ProxyError::UpstreamUnavailable => {
                "Le service de messagerie est momentanément indisponible.\n\
                 The mail service is temporarily unavailable.\n"
            }
            ProxyError::UpstreamTimeout => {
                "Le service de messagerie ne répond pas à temps.\n\
                 The mail service did not answer in time.\n"
            }
            ProxyError::Internal => "Erreur interne.\nInternal error.\n",
        }
    }

    pub fn into_response(self) -> Response<Body> {
        let mut resp = Response::new(full(self.text()));
        *resp.status_mut() = self.status();
        let h = resp.headers_mut();
        h.insert(
            header::CONTENT_TYPE,
            "text/plain; charset=utf-8".parse().expect("static"),
        );
        h.insert(header::CACHE_CONTROL, "no-store".parse().expect("static"));
        if matches!(
            self,
            ProxyError::BadRequest(_) | ProxyError::PayloadTooLarge | ProxyError::Busy
        ) {
            // The rest of the body was not read: do not reuse the connection.
            h.insert(header::CONNECTION, "close".parse().expect("static"));
        }
        resp
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses() {
        assert_eq!(
            ProxyError::UpstreamUnavailable.into_response().status(),
            502
        );
        assert_eq!(ProxyError::UpstreamTimeout.into_response().status(), 504);
        assert_eq!(ProxyError::Forbidden.into_response().status(), 403);
    }
}
