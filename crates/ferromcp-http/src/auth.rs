//! Bearer authentication for the HTTP app: `Authorization: Bearer <token>` is verified
//! by the configured [`TokenVerifier`]; an invalid token is 401, and so is a missing one
//! when authentication is required. Legacy sessions are bound to the principal that
//! created them (another principal, or none, gets 404).

use std::sync::Arc;

use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::Response;
use ferromcp_core::ProtocolError;
use ferromcp_core::auth::TokenVerifier;
use ferromcp_core::session::Session;
use ferromcp_core::state::Principal;

use crate::post::error_response;

/// The verifier and whether every request must carry a valid token.
#[derive(Clone)]
pub struct HttpAuth {
    pub(crate) verifier: Arc<dyn TokenVerifier>,
    pub(crate) required: bool,
}

impl std::fmt::Debug for HttpAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpAuth").field("required", &self.required).finish_non_exhaustive()
    }
}

impl HttpAuth {
    /// Every request must carry a token the verifier accepts.
    pub fn required(verifier: impl TokenVerifier) -> Self {
        HttpAuth { verifier: Arc::new(verifier), required: true }
    }
    /// Tokens are verified when present; requests without one are anonymous.
    pub fn optional(verifier: impl TokenVerifier) -> Self {
        HttpAuth { verifier: Arc::new(verifier), required: false }
    }
}

fn unauthorized(why: &str, challenge: &'static str) -> Response {
    let mut r = error_response(&ProtocolError::invalid_request(format!("Unauthorized: {why}")).with_status(401), None);
    r.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static(challenge));
    r
}

/// The request's principal, or the response that refuses it.
pub(crate) async fn authenticate(
    auth: Option<&HttpAuth>,
    headers: &HeaderMap,
) -> Result<Option<Arc<Principal>>, Response> {
    let Some(auth) = auth else { return Ok(None) };
    let value = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok());
    let token = value.and_then(|v| v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")));
    match (value, token) {
        (None, _) if !auth.required => Ok(None),
        (None, _) => Err(unauthorized("send `Authorization: Bearer <token>`", "Bearer")),
        (Some(_), None) => Err(unauthorized("only Bearer tokens are accepted", "Bearer error=\"invalid_request\"")),
        (Some(_), Some(t)) => match auth.verifier.verify(t.trim()).await {
            Some(p) => Ok(Some(Arc::new(p))),
            None => Err(unauthorized("the token is not valid", "Bearer error=\"invalid_token\"")),
        },
    }
}

/// Whether `principal` may use `session` (sessions are bound to their creator).
pub(crate) fn may_use(session: &Session, principal: Option<&Principal>) -> bool {
    session.principal() == principal.map(Principal::hashed)
}
