//! The transports under a [`crate::Client`]: a line-delimited byte stream
//! (`crate::connection`) or Streamable HTTP ([`http`]), behind one `Conn` type. The
//! 2024-11-05 HTTP+SSE transport ([`legacy_sse`]) is adapted into a byte stream.

pub(crate) mod http;
pub(crate) mod legacy_sse;

use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;

use crate::connection::Connection;
use crate::error::Result;
use crate::options::ClientEra;
use crate::routing::CallSink;

/// One live connection, whatever carries it.
pub(crate) enum Conn {
    /// Newline-delimited JSON-RPC over a byte stream.
    Lines(Connection),
    /// Streamable HTTP.
    Http(http::HttpConn),
}

impl Conn {
    /// Sends a request and waits up to `timeout` for its answer. `call` is the call the
    /// request belongs to: server messages on its response stream are attributed to it.
    pub(crate) async fn request(
        &self,
        method: &str,
        params: Value,
        timeout: Duration,
        call: Option<&Arc<CallSink>>,
    ) -> Result<Value> {
        match self {
            Conn::Lines(c) => c.request(method, params, timeout).await,
            Conn::Http(h) => h.request(method, params, timeout, call).await,
        }
    }

    /// Sends a notification.
    pub(crate) async fn notify(&self, method: &str, params: Value) -> Result<()> {
        match self {
            Conn::Lines(c) => c.notify(method, params).await,
            Conn::Http(h) => h.notify(method, params).await,
        }
    }

    /// Whether this is Streamable HTTP.
    pub(crate) fn is_http(&self) -> bool {
        matches!(self, Conn::Http(_))
    }

    /// Whether the connection is closed.
    pub(crate) fn is_closed(&self) -> bool {
        match self {
            Conn::Lines(c) => c.is_closed(),
            Conn::Http(h) => h.is_closed(),
        }
    }

    /// Tells the transport which era is in force (HTTP headers depend on it).
    pub(crate) fn set_era(&self, era: ClientEra) {
        if let Conn::Http(h) = self {
            h.set_era(era);
        }
    }

    /// Called after a legacy `initialize` answer: HTTP remembers the negotiated
    /// version and the opening params (to re-initialise after a 404).
    pub(crate) fn initialized(&self, version: &str, init_params: Value, log_level: Option<String>) {
        if let Conn::Http(h) = self {
            h.initialized(version, init_params, log_level);
        }
    }

    /// Called once the legacy handshake completed: HTTP opens the standalone GET stream.
    pub(crate) async fn open_streams(&self) {
        if let Conn::Http(h) = self {
            h.open_streams().await;
        }
    }

    /// Closes the connection, waiting up to `grace` for each part.
    pub(crate) async fn shutdown(&self, grace: Duration) {
        match self {
            Conn::Lines(c) => c.shutdown(grace).await,
            Conn::Http(h) => h.shutdown(grace).await,
        }
    }
}
