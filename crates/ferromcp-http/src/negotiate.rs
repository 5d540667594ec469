//! Content negotiation and the request body, as axum extractors whose rejections are
//! the JSON-RPC error with the right HTTP status (the companions of `extract.rs`):
//!
//! - [`AcceptMcp`]: a POST's `Accept` must allow JSON or SSE answers: 406. It says
//!   which, so the answer mode follows the client.
//! - [`AcceptEventStream`]: a GET stream's `Accept` must allow `text/event-stream`: 406.
//! - [`JsonRpcBody`]: the body, read under [`HttpConfig::max_body_bytes`](crate::HttpConfig)
//!   (413; 408 on a body timeout) and decoded as one JSON-RPC message (400 with the
//!   request id when it could be read). It consumes the request and hands back its
//!   headers and the client's address, so nothing is cloned.

use axum::body::Body;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, header};
use axum::response::Response;
use bytes::Bytes;
use ferromcp_core::ProtocolError;
use ferromcp_core::jsonrpc::{self, Message};

use crate::extract::HasApp;
use crate::headers::{accepts, accepts_each};
use crate::post::error_response;

fn not_acceptable(msg: &str) -> Response {
    error_response(&ProtocolError::invalid_request(msg).with_status(406), None)
}

/// What a POST's `Accept` allows: JSON answers, SSE answers, or both (never neither).
pub(crate) struct AcceptMcp {
    /// `text/event-stream` is acceptable (otherwise only `application/json` is).
    pub(crate) sse: bool,
}

impl<S: Send + Sync> FromRequestParts<S> for AcceptMcp {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Response> {
        match accepts_each(&parts.headers, ["application/json", "text/event-stream"]) {
            [false, false] => Err(not_acceptable("Accept must include application/json and text/event-stream")),
            [_, sse] => Ok(AcceptMcp { sse }),
        }
    }
}

/// A request whose `Accept` allows `text/event-stream`.
pub(crate) struct AcceptEventStream;

impl<S: Send + Sync> FromRequestParts<S> for AcceptEventStream {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Response> {
        if accepts(&parts.headers, "text/event-stream") {
            Ok(AcceptEventStream)
        } else {
            Err(not_acceptable("Accept must include text/event-stream"))
        }
    }
}

/// One JSON-RPC message from the request body, with the request's headers and the
/// client's address (all a handler reads of the rest).
pub(crate) struct JsonRpcBody {
    /// The request's headers.
    pub(crate) headers: HeaderMap,
    /// The client's IP address, when the server was given connection info.
    pub(crate) peer: Option<std::net::IpAddr>,
    /// The decoded message.
    pub(crate) message: Message,
}

impl<S: HasApp> FromRequest<S> for JsonRpcBody {
    type Rejection = Response;

    async fn from_request(req: Request, state: &S) -> Result<Self, Response> {
        let app = state.app();
        let (parts, body) = req.into_parts();
        let bytes =
            read_body(body, &parts.headers, app.cfg.max_body_bytes).await.map_err(|e| error_response(&e, None))?;
        match jsonrpc::decode_with_limit(&bytes, app.server.config().max_echoed_value_bytes) {
            Ok(message) => {
                Ok(JsonRpcBody { peer: crate::client_ip(&parts.extensions), headers: parts.headers, message })
            }
            Err(e) => Err(error_response(&e.error.with_status(400), e.id.as_ref())),
        }
    }
}

/// Reads a body of at most `max` bytes: 413 beyond (at once when `Content-Length` says
/// so), 408 when the body timeout fires.
async fn read_body(body: Body, headers: &HeaderMap, max: usize) -> Result<Bytes, ProtocolError> {
    use http_body_util::BodyExt;
    let too_large = || ProtocolError::invalid_request(format!("Request body larger than {max} bytes")).with_status(413);
    if let Some(len) =
        headers.get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<usize>().ok())
        && len > max
    {
        return Err(too_large());
    }
    match http_body_util::Limited::new(body, max).collect().await {
        Ok(c) => Ok(c.to_bytes()),
        Err(e) if e.downcast_ref::<http_body_util::LengthLimitError>().is_some() => Err(too_large()),
        Err(e) if crate::conn::is_body_timeout(&*e) => {
            Err(ProtocolError::invalid_request(e.to_string()).with_status(408))
        }
        Err(e) => Err(ProtocolError::invalid_request(format!("Could not read the request body: {e}"))),
    }
}
