//! The preamble every MCP route shares, as a tower layer and axum extractors whose
//! rejections are the JSON-RPC error with the right HTTP status (axum's `Json` +
//! rejection pattern):
//!
//! - [`HostOrigin`]: the Host/Origin guard (DNS-rebinding protection): 403. An
//!   extractor rather than a `from_fn` layer: it costs nothing per request beyond the
//!   check (a boxed middleware showed in the S1 benchmark).
//! - [`JsonContentType`]: a present `Content-Type` must be `application/json`: 415.
//! - [`Caller`]: bearer authentication into the caller's principal: 401 (with
//!   `WWW-Authenticate`).
//!
//! Content negotiation and the body (413/406/400) are extractors too, in `negotiate.rs`;
//! the legacy session of a GET or DELETE is `session_routes::LegacySession` (405/404)
//! and the HTTP+SSE connection of a message is `sse_transport::SseConn`. Handlers list
//! them in this order, so a request failing several checks gets the same answer as
//! before they were extracted.

use std::sync::Arc;

use axum::extract::FromRequestParts;
use axum::http::header;
use axum::http::request::Parts;
use axum::response::Response;
use ferromcp_core::ProtocolError;
use ferromcp_core::state::Principal;

use crate::AppState;
use crate::post::error_response;

/// A request whose `Host` and `Origin` the configured policy allows (else 403).
pub(crate) struct HostOrigin;

impl<S: HasApp> FromRequestParts<S> for HostOrigin {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Response> {
        match crate::guard::check(&state.app().cfg.dns_rebinding, &parts.headers) {
            Ok(()) => Ok(HostOrigin),
            Err(why) => Err(error_response(&ProtocolError::invalid_request(why).with_status(403), None)),
        }
    }
}

/// A request whose `Content-Type`, if present, is `application/json`.
pub(crate) struct JsonContentType;

impl<S: Send + Sync> FromRequestParts<S> for JsonContentType {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Response> {
        if let Some(ct) = parts.headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok())
            && !ct.trim_start().to_ascii_lowercase().starts_with("application/json")
        {
            let e = ProtocolError::invalid_request("Content-Type must be application/json").with_status(415);
            return Err(error_response(&e, None));
        }
        Ok(JsonContentType)
    }
}

/// The authenticated caller (`None`: anonymous, when authentication is optional or
/// off).
pub(crate) struct Caller(pub(crate) Option<Arc<Principal>>);

/// Router state that reaches the app's shared state (and so its configuration).
pub(crate) trait HasApp: Send + Sync {
    /// The app's shared state.
    fn app(&self) -> &AppState;
}

impl HasApp for Arc<AppState> {
    fn app(&self) -> &AppState {
        self
    }
}

impl<S: HasApp> FromRequestParts<S> for Caller {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Response> {
        let peer = crate::client_ip(&parts.extensions);
        crate::auth::authenticate(state.app().cfg.auth.as_ref(), &parts.headers, peer).await.map(Caller)
    }
}
