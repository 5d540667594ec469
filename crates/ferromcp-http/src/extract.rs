//! The preamble every MCP route shares, as a tower layer and axum extractors whose
//! rejections are the JSON-RPC error with the right HTTP status (axum's `Json` +
//! rejection pattern):
//!
//! - [`host_origin_guard`]: the Host/Origin guard (DNS-rebinding protection), a
//!   `route_layer` in front of every MCP route: 403.
//! - [`JsonContentType`]: a present `Content-Type` must be `application/json`: 415.
//! - [`Caller`]: bearer authentication into the caller's principal: 401 (with
//!   `WWW-Authenticate`).
//!
//! Handlers list them in this order, so a request failing several checks gets the
//! same answer as before they were extracted.

use std::sync::Arc;

use axum::extract::{FromRequestParts, Request, State};
use axum::http::header;
use axum::http::request::Parts;
use axum::middleware::Next;
use axum::response::Response;
use ferromcp_core::ProtocolError;
use ferromcp_core::state::Principal;

use crate::AppState;
use crate::post::error_response;

/// Refuses a request whose `Host` or `Origin` the configured policy does not allow.
pub(crate) async fn host_origin_guard(State(st): State<Arc<AppState>>, req: Request, next: Next) -> Response {
    if let Err(why) = crate::guard::check(&st.cfg.dns_rebinding, req.headers()) {
        return error_response(&ProtocolError::invalid_request(why).with_status(403), None);
    }
    next.run(req).await
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
        crate::auth::authenticate(state.app().cfg.auth.as_ref(), &parts.headers).await.map(Caller)
    }
}
