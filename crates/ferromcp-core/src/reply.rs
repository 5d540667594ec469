//! [`Reply`]: what the dispatcher hands back to a transport for one request — the
//! serialized JSON-RPC response (or nothing) and the HTTP status to send it with.
//!
//! A leaf module: middleware (`on_request` returns a `Reply`), the dispatcher and the
//! transports all name it, and it names nothing above the envelope writers.

use crate::error::ProtocolError;
use crate::jsonrpc::{self, RequestId};

/// The answer to a request: a full JSON-RPC response and the HTTP status to use.
#[derive(Debug, Clone)]
pub struct Reply {
    /// The serialized JSON-RPC response; `None` when nothing may be sent (cancelled).
    pub body: Option<Vec<u8>>,
    /// HTTP status for HTTP transports.
    pub status: u16,
    /// Whether the body is a JSON-RPC error.
    pub is_error: bool,
}

impl Reply {
    pub(crate) fn ok(body: Vec<u8>) -> Reply {
        Reply { body: Some(body), status: 200, is_error: false }
    }
    /// An error reply echoing `id`.
    pub fn error(id: Option<&RequestId>, e: &ProtocolError) -> Reply {
        let mut buf = Vec::with_capacity(128);
        jsonrpc::write_error(&mut buf, id, e);
        Reply { body: Some(buf), status: e.http_status, is_error: true }
    }
    /// A reply that sends nothing.
    pub fn none() -> Reply {
        Reply { body: None, status: 202, is_error: false }
    }
}
