//! [`ClientError`]: everything a client call can end with.

use std::time::Duration;

use ferromcp_core::ProtocolError;

/// The error of a client call.
///
/// [`ClientError::Protocol`] carries the server's JSON-RPC error unchanged, so callers can
/// match on its `code` (see [`ferromcp_core::error::code`]):
///
/// ```
/// use ferromcp_client::ClientError;
/// use ferromcp_core::{ProtocolError, error::code};
/// let e = ClientError::Protocol(ProtocolError::invalid_params("Unknown tool: nope"));
/// assert_eq!(e.protocol_code(), Some(code::INVALID_PARAMS));
/// assert!(e.to_string().contains("Unknown tool: nope"));
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// The server answered with a JSON-RPC error.
    #[error("the server answered with an error: {0}")]
    Protocol(ProtocolError),
    /// The server did not answer in time.
    #[error(
        "`{method}` got no answer within {after:?}; raise `ClientOptions::request_timeout` if the server is just slow"
    )]
    Timeout {
        /// The request method.
        method: String,
        /// The timeout that expired.
        after: Duration,
    },
    /// The connection is closed: the server exited, closed its end, or `close()` was called.
    #[error(
        "the connection to the server is closed (the server exited or closed its end, or `Client::close` was called); connect again"
    )]
    Closed,
    /// An I/O error while starting or talking to the server.
    #[error("I/O error talking to the server: {0}")]
    Io(#[from] std::io::Error),
    /// The server sent something this client could not understand.
    #[error("could not decode the server's message: {0}")]
    Decode(String),
    /// A multi-round-trip request still asked for input after the maximum number of rounds.
    #[error(
        "`{method}` still required input after {rounds} rounds; the server keeps asking (is a tool looping on asks?)"
    )]
    TooManyRounds {
        /// The request method.
        method: String,
        /// The number of rounds answered before giving up.
        rounds: usize,
    },
    /// A local handler (elicitation, sampling, roots) failed while answering the server.
    #[error("the client's `{method}` handler failed: {error}")]
    Handler {
        /// The method the server asked for.
        method: String,
        /// The handler's error (boxed to keep `ClientError` small).
        error: Box<ProtocolError>,
    },
    /// The HTTP server answered with a status that is not a JSON-RPC answer.
    #[error("the server answered HTTP {status}: {message}")]
    Http {
        /// The HTTP status code.
        status: u16,
        /// The reason, with the start of the response body.
        message: String,
    },
    /// The server refused the credentials (HTTP 401/403) and the authorization
    /// provider did not fix them (or there is none).
    #[error(
        "the server refused the request with HTTP {status} (WWW-Authenticate: {}); set `ClientOptions::auth` to a provider that can obtain a valid token",
        www_authenticate.as_deref().unwrap_or("none")
    )]
    Unauthorized {
        /// 401 or 403.
        status: u16,
        /// The `WWW-Authenticate` header, if any.
        www_authenticate: Option<String>,
    },
    /// The HTTP server could not be reached (refused, reset, DNS, TLS).
    #[error("could not reach the MCP server: {0}; check the URL and that the server runs")]
    Connect(String),
    /// The server forgot the 2025-11-25 session (HTTP 404) and opening a new one failed
    /// too.
    #[error(
        "the server no longer knows this session (HTTP 404) and a new `initialize` failed: {0}"
    )]
    SessionExpired(String),
    /// The server closed a call's response stream before answering, and resuming it
    /// (`Last-Event-ID`) was not possible or failed too often.
    #[error(
        "the server closed the response stream of `{method}` before answering ({reason}); call again"
    )]
    StreamEnded {
        /// The request method.
        method: String,
        /// Why it could not be resumed.
        reason: String,
    },
    /// The call cannot be made as asked (wrong era, invalid arguments, …).
    #[error("{0}")]
    Usage(String),
    /// The OAuth client could not obtain a token (see [`crate::oauth::OAuthError`]).
    #[error("authorization failed: {0}")]
    Auth(Box<crate::oauth::OAuthError>),
}

impl ClientError {
    /// The server's JSON-RPC error code, if the server answered with an error.
    pub fn protocol_code(&self) -> Option<i32> {
        match self {
            ClientError::Protocol(p) => Some(p.code),
            _ => None,
        }
    }

    /// The server's JSON-RPC error, if the server answered with one.
    pub fn as_protocol(&self) -> Option<&ProtocolError> {
        match self {
            ClientError::Protocol(p) => Some(p),
            _ => None,
        }
    }
}

impl From<ProtocolError> for ClientError {
    fn from(e: ProtocolError) -> Self {
        ClientError::Protocol(e)
    }
}

/// The result type of client calls.
pub type Result<T, E = ClientError> = std::result::Result<T, E>;
