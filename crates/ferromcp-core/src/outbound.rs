//! The outbound handle: how a request's handler reaches *its own* response stream.
//!
//! Every [`crate::Context`] carries an [`Outbound`] bound, by construction, to the stream
//! of the request it serves (the POST's SSE stream on HTTP, the connection on stdio).
//! Nothing is routed through ambient or task-local state, so a message can never land
//! on another request's stream (the bug class of FastMCP PR #3172).

use bytes::Bytes;
use tokio::sync::mpsc;

/// Frames queued per request stream before senders wait (backpressure).
pub const STREAM_BUFFER: usize = 64;

/// A sender of serialized JSON-RPC messages to one stream. An empty frame is a control
/// signal, not a message: "close the current connection" (SEP-1699 polling); transports
/// that cannot resume ignore it.
#[derive(Clone, Debug, Default)]
pub struct Outbound {
    tx: Option<mpsc::Sender<Bytes>>,
}

/// The stream is gone (the client disconnected or the request ended).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StreamClosed;

impl std::fmt::Display for StreamClosed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the response stream is closed")
    }
}

impl std::error::Error for StreamClosed {}

impl Outbound {
    /// A new stream: the handle and the receiving end the transport drains.
    pub fn channel() -> (Outbound, mpsc::Receiver<Bytes>) {
        let (tx, rx) = mpsc::channel(STREAM_BUFFER);
        (Outbound { tx: Some(tx) }, rx)
    }

    /// A handle with no stream (messages are dropped; asks fail with a clear error).
    pub fn none() -> Outbound {
        Outbound { tx: None }
    }

    /// Whether a stream is attached and still open.
    pub fn is_open(&self) -> bool {
        self.tx.as_ref().is_some_and(|t| !t.is_closed())
    }

    /// Sends one serialized message; waits if the stream's buffer is full.
    pub async fn send(&self, frame: Vec<u8>) -> Result<(), StreamClosed> {
        match &self.tx {
            Some(tx) => tx.send(Bytes::from(frame)).await.map_err(|_| StreamClosed),
            None => Err(StreamClosed),
        }
    }

    /// Sends without waiting; drops the message if the buffer is full.
    pub fn try_send(&self, frame: Vec<u8>) -> Result<(), StreamClosed> {
        match &self.tx {
            Some(tx) => tx.try_send(Bytes::from(frame)).map_err(|_| StreamClosed),
            None => Err(StreamClosed),
        }
    }
}
