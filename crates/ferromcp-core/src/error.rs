//! Errors: the one public [`Error`] type, and [`ProtocolError`], the JSON-RPC error a
//! request ends with.
//!
//! Handlers return [`Error`]. The dispatcher turns it into either a tool result with
//! `isError: true` ([`Error::Tool`]) or a JSON-RPC error ([`Error::Protocol`] and the
//! typed variants), with the HTTP status the spec asks for carried alongside.

use std::fmt;

use serde_json::Value;

/// JSON-RPC and MCP error codes used by ferromcp.
///
/// The `-32020..=-32022` range is reserved by MCP 2026-07-28 (`basic/index.mdx#error-codes`).
pub mod code {
    /// Invalid JSON was received.
    pub const PARSE_ERROR: i32 = -32700;
    /// The JSON sent is not a valid request object.
    pub const INVALID_REQUEST: i32 = -32600;
    /// The method does not exist or is not available in this era.
    pub const METHOD_NOT_FOUND: i32 = -32601;
    /// Invalid method parameters.
    pub const INVALID_PARAMS: i32 = -32602;
    /// Internal error.
    pub const INTERNAL_ERROR: i32 = -32603;
    /// Legacy (2025-11-25) reference servers answer unknown sessions with this code.
    pub const SESSION_NOT_FOUND: i32 = -32001;
    /// Legacy (2025-11-25) "resource not found"; never emitted on the modern era.
    pub const RESOURCE_NOT_FOUND_LEGACY: i32 = -32002;
    /// A request was cancelled (ferromcp's own, used when a server→client ask is cancelled).
    pub const REQUEST_CANCELLED: i32 = -32800;
    /// 2026-07-28: an HTTP header does not match the body, or a required header is missing.
    pub const HEADER_MISMATCH: i32 = -32020;
    /// 2026-07-28: the request needs a client capability it did not declare.
    pub const MISSING_CLIENT_CAPABILITY: i32 = -32021;
    /// 2026-07-28: the requested protocol version is not supported.
    pub const UNSUPPORTED_PROTOCOL_VERSION: i32 = -32022;
}

/// A JSON-RPC error object, plus the HTTP status a Streamable HTTP transport should use.
///
/// ```
/// use ferromcp_core::{ProtocolError, error::code};
/// let e = ProtocolError::invalid_params("`a` must be an integer");
/// assert_eq!(e.code, code::INVALID_PARAMS);
/// assert_eq!(e.http_status, 200);
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct ProtocolError {
    /// The JSON-RPC error code.
    pub code: i32,
    /// A message for humans: what happened and, where it helps, what to do.
    pub message: String,
    /// Optional structured data (`data` on the wire).
    pub data: Option<Box<Value>>,
    /// HTTP status for HTTP transports (200 unless the spec names another).
    pub http_status: u16,
}

impl ProtocolError {
    /// An error with a code and message, HTTP status 200.
    pub fn new(code: i32, message: impl Into<String>) -> Self {
        Self { code, message: message.into(), data: None, http_status: 200 }
    }
    /// Attach `data`.
    pub fn with_data(mut self, data: Value) -> Self {
        self.data = Some(Box::new(data));
        self
    }
    /// Set the HTTP status used by HTTP transports.
    pub fn with_status(mut self, status: u16) -> Self {
        self.http_status = status;
        self
    }
    /// `-32602` invalid params.
    pub fn invalid_params(message: impl Into<String>) -> Self {
        Self::new(code::INVALID_PARAMS, message)
    }
    /// `-32601` method not found (HTTP 404 on the modern era, set by the era module).
    pub fn method_not_found(method: &str) -> Self {
        Self::new(code::METHOD_NOT_FOUND, format!("Method not found: {method}"))
    }
    /// `-32603` internal error.
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(code::INTERNAL_ERROR, message)
    }
    /// `-32700` parse error (HTTP 400).
    pub fn parse(message: impl Into<String>) -> Self {
        Self::new(code::PARSE_ERROR, message).with_status(400)
    }
    /// `-32600` invalid request (HTTP 400).
    pub fn invalid_request(message: impl Into<String>) -> Self {
        Self::new(code::INVALID_REQUEST, message).with_status(400)
    }
}

impl fmt::Display for ProtocolError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (JSON-RPC {})", self.message, self.code)
    }
}

impl std::error::Error for ProtocolError {}

/// Everything that can go wrong in ferromcp, as seen by handlers and callers.
///
/// A tool handler that returns `Err(Error::Tool(..))` produces a tool result with
/// `isError: true` (the model sees it); every other variant ends the request with a
/// JSON-RPC error.
///
/// ```
/// use ferromcp_core::Error;
/// let e = Error::tool("the city was not found");
/// assert_eq!(e.to_string(), "the city was not found");
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A tool failed in a way the model should see (`isError: true`).
    #[error("{0}")]
    Tool(String),
    /// A protocol error to send as is.
    #[error(transparent)]
    Protocol(#[from] ProtocolError),
    /// The handler asked the client for something it did not declare.
    #[error(
        "the client did not declare the `{0}` capability; check `ctx.client_supports(ClientCapability::..)` before asking"
    )]
    MissingCapability(&'static str),
    /// A server→client request could not be sent on this transport or era.
    #[error("cannot ask the client: {0}")]
    AskUnavailable(String),
    /// A server→client request was not answered in time.
    #[error("the client did not answer `{0}` within the configured timeout")]
    AskTimeout(String),
    /// A server→client request was refused at once, before anything was sent or parked:
    /// as many asks as the limit `limit` allows already wait for the client's answers.
    #[error(
        "cannot ask the client: the `{limit}` limit of {max} asks waiting for answers is reached; \
         let the client answer (or cancel) them first, or raise `ServerBuilder::{limit}`"
    )]
    TooManyAsks {
        /// The limit crossed: `max_pending_asks_per_session` or `max_pending_asks`.
        limit: &'static str,
        /// Its value.
        max: usize,
    },
    /// The client answered a server→client request with an error.
    #[error("the client answered `{method}` with an error: {error}")]
    AskFailed {
        /// The request method.
        method: String,
        /// The client's error.
        error: ProtocolError,
    },
    /// The request was cancelled by the client.
    #[error("the request was cancelled")]
    Cancelled,
    /// A value could not be (de)serialized.
    #[error("serialization failed: {0}")]
    Serde(#[from] serde_json::Error),
    /// An I/O error in a transport.
    #[error("I/O error: {0}")]
    Io(#[from] std::io::Error),
    /// State was used on a request without a session scope.
    #[error("{0}")]
    NoScope(String),
    /// A session handle is unknown, expired or belongs to someone else.
    #[error("invalid session: open a new one with `open_session`")]
    InvalidSession,
    /// A state value could not be read or written as the requested type.
    #[error("state key `{key}`: {reason}")]
    State {
        /// The key (without its scope prefix).
        key: String,
        /// What went wrong.
        reason: String,
    },
    /// A state write crossed a limit (`max_state_value_bytes`,
    /// `max_state_keys_per_scope`); the message names it. A `-32602` error.
    #[error("{0}")]
    StateLimit(String),
    /// The state store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Anything else, with a message that says what to do.
    #[error("{0}")]
    Other(String),
}

impl Error {
    /// A tool error the model should see (`isError: true`), not a protocol failure.
    pub fn tool(message: impl fmt::Display) -> Self {
        Error::Tool(message.to_string())
    }
    /// `-32602` invalid params.
    pub fn invalid_params(message: impl Into<String>) -> Self {
        Error::Protocol(ProtocolError::invalid_params(message))
    }
    /// Converts to the JSON-RPC error that ends a request.
    pub fn into_protocol(self) -> ProtocolError {
        match self {
            Error::Protocol(p) => p,
            Error::MissingCapability(cap) => ProtocolError::new(
                code::MISSING_CLIENT_CAPABILITY,
                format!("Missing required client capability: {cap}"),
            )
            .with_data(serde_json::json!({ "requiredCapabilities": { cap: {} } }))
            .with_status(400),
            Error::Cancelled => ProtocolError::new(code::REQUEST_CANCELLED, "Request cancelled"),
            Error::AskFailed { error, .. } => error,
            Error::Serde(e) => ProtocolError::invalid_params(e.to_string()),
            Error::NoScope(m) => ProtocolError::invalid_params(m),
            Error::StateLimit(m) => ProtocolError::invalid_params(m),
            Error::InvalidSession => {
                ProtocolError::invalid_params("Invalid session: open a new one with `open_session`")
            }
            other => ProtocolError::internal(other.to_string()),
        }
    }
}

/// The result type used throughout ferromcp.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Why a store operation failed.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The backend could not be reached or answered with an error; retrying later may work.
    #[error("state store unavailable: {0}")]
    Unavailable(String),
    /// The store is full (entry or byte bound).
    #[error("state store is full: {0}; raise its bounds or shorten TTLs")]
    Full(String),
    /// A stored value could not be decoded (corrupt, or written with another key).
    #[error("stored value under `{key}` is unreadable: {reason}")]
    Corrupt {
        /// The key.
        key: String,
        /// What was wrong.
        reason: String,
    },
    /// An atomic update kept losing races.
    #[error("atomic update of `{0}` did not converge after many retries")]
    Contention(String),
    /// A write would add a key to a scope that already holds its most keys (see
    /// [`ScopeLimit`](crate::state::ScopeLimit)); nothing was written.
    #[error("the scope `{prefix}` already holds {max_keys} keys, its limit; delete keys it no longer needs")]
    ScopeFull {
        /// The scope's key prefix.
        prefix: String,
        /// The limit.
        max_keys: u64,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_variant_displays_something_actionable() {
        let all = [
            Error::tool("x"),
            Error::Protocol(ProtocolError::internal("boom")),
            Error::MissingCapability("sampling"),
            Error::AskUnavailable("stateless".into()),
            Error::AskTimeout("elicitation/create".into()),
            Error::AskFailed { method: "roots/list".into(), error: ProtocolError::internal("no") },
            Error::Cancelled,
            Error::Other("other".into()),
            Error::NoScope("no scope".into()),
            Error::InvalidSession,
            Error::State { key: "k".into(), reason: "r".into() },
            Error::StateLimit("over the limit".into()),
            Error::Store(StoreError::Unavailable("down".into())),
        ];
        for e in all {
            assert!(!e.to_string().is_empty());
            let p = e.into_protocol();
            assert!(p.code < 0);
        }
    }

    #[test]
    fn too_many_asks_names_the_limit_and_what_to_do() {
        let e = Error::TooManyAsks { limit: "max_pending_asks_per_session", max: 64 };
        let text = e.to_string();
        assert!(text.contains("`max_pending_asks_per_session` limit of 64 asks"), "{text}");
        assert!(text.contains("ServerBuilder::max_pending_asks_per_session"), "{text}");
        assert_eq!(e.into_protocol().code, code::INTERNAL_ERROR);
    }

    #[test]
    fn missing_capability_maps_to_32021_with_object_data() {
        let p = Error::MissingCapability("sampling").into_protocol();
        assert_eq!(p.code, code::MISSING_CLIENT_CAPABILITY);
        assert_eq!(p.http_status, 400);
        assert_eq!(p.data.unwrap()["requiredCapabilities"]["sampling"], serde_json::json!({}));
    }
}
