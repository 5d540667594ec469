//! The line-delimited JSON-RPC connection under a [`crate::Client`].
//!
//! One writer task drains an mpsc queue into the `AsyncWrite` (one message per line,
//! buffered and flushed when the queue is empty).
//! One reader task reads lines and demultiplexes them: responses complete the waiting
//! request (a pending map of oneshots keyed by id), server requests are answered by the
//! client's handlers on their own task, and notifications go to the [`Router`].
//!
//! A line-delimited 2025-11-25 connection cannot tell which call a server request or a
//! log message belongs to, so they reach the handlers and events with no call attached
//! (progress is still routed by its token).
//!
//! When the reader ends (EOF, I/O error, or `close()`), every waiting request fails with
//! [`ClientError::Closed`] and new requests are refused.

use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use ferromcp_core::ProtocolError;
use ferromcp_core::transport::stdio::{Line, read_line};
use serde_json::{Value, json};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, BufReader, BufWriter};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::error::{ClientError, Result};
use crate::routing::Router;

/// The longest accepted incoming line, in bytes.
const MAX_LINE_BYTES: usize = 16 * 1024 * 1024;
/// Outgoing frames queued before senders wait.
const OUT_BUFFER: usize = 256;

type Outcome = std::result::Result<Value, ProtocolError>;
type Pending = HashMap<i64, oneshot::Sender<Outcome>>;

struct Shared {
    out: mpsc::Sender<Vec<u8>>,
    /// `None` once the connection is closed.
    pending: Mutex<Option<Pending>>,
    next_id: AtomicI64,
    router: Arc<Router>,
    closed: CancellationToken,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Shared {
    /// Fails every waiting request with `Closed` and refuses new ones.
    fn shut(&self) {
        self.closed.cancel();
        lock(&self.pending).take();
    }
}

/// A live connection: the shared state and the two I/O tasks.
pub(crate) struct Connection {
    shared: Arc<Shared>,
    reader: Mutex<Option<JoinHandle<()>>>,
    writer: Mutex<Option<JoinHandle<()>>>,
}

impl Drop for Connection {
    fn drop(&mut self) {
        self.shared.shut();
        for slot in [&self.reader, &self.writer] {
            if let Some(h) = lock(slot).take() {
                h.abort();
            }
        }
    }
}

/// Removes a pending entry when the waiting future ends, however it ends (answer,
/// timeout, or the caller dropping the future). An entry still present was never
/// answered: the server is told the request is abandoned.
struct PendingGuard<'a> {
    shared: &'a Shared,
    id: i64,
}

impl Drop for PendingGuard<'_> {
    fn drop(&mut self) {
        let removed = lock(&self.shared.pending)
            .as_mut()
            .and_then(|p| p.remove(&self.id));
        if removed.is_some() {
            let note = json!({
                "jsonrpc": "2.0",
                "method": "notifications/cancelled",
                "params": { "requestId": self.id, "reason": "the client stopped waiting" },
            });
            if let Ok(frame) = serde_json::to_vec(&note) {
                let _ = self.shared.out.try_send(frame);
            }
        }
    }
}

impl Connection {
    /// Starts the reader and writer tasks over `reader`/`writer`.
    pub(crate) fn start<R, W>(reader: R, writer: W, router: Arc<Router>) -> Connection
    where
        R: AsyncRead + Unpin + Send + 'static,
        W: AsyncWrite + Unpin + Send + 'static,
    {
        let (out, rx) = mpsc::channel(OUT_BUFFER);
        let shared = Arc::new(Shared {
            out,
            pending: Mutex::new(Some(HashMap::new())),
            next_id: AtomicI64::new(0),
            router,
            closed: CancellationToken::new(),
        });
        // Buffered: a frame and its newline (and a burst of frames) leave in one write.
        let writer = BufWriter::with_capacity(64 * 1024, writer);
        let writer_task = tokio::spawn(write_loop(writer, rx, shared.closed.clone()));
        let reader_task = tokio::spawn(read_loop(reader, shared.clone()));
        Connection {
            shared,
            reader: Mutex::new(Some(reader_task)),
            writer: Mutex::new(Some(writer_task)),
        }
    }

    /// Whether the connection is closed.
    pub(crate) fn is_closed(&self) -> bool {
        self.shared.closed.is_cancelled()
    }

    /// Sends a request and waits up to `timeout` (queueing included) for its response.
    pub(crate) async fn request(
        &self,
        method: &str,
        params: Value,
        timeout: Duration,
    ) -> Result<Value> {
        let shared = &*self.shared;
        let id = shared.next_id.fetch_add(1, Ordering::Relaxed) + 1;
        let msg = json!({ "jsonrpc": "2.0", "id": id, "method": method, "params": params });
        let frame = serde_json::to_vec(&msg)
            .map_err(|e| ClientError::Usage(format!("`{method}` params do not serialize: {e}")))?;
        let (tx, rx) = oneshot::channel();
        match lock(&shared.pending).as_mut() {
            Some(p) => p.insert(id, tx),
            None => return Err(ClientError::Closed),
        };
        let _guard = PendingGuard { shared, id };
        let exchange = async {
            shared
                .out
                .send(frame)
                .await
                .map_err(|_| ClientError::Closed)?;
            match rx.await {
                Ok(Ok(v)) => Ok(v),
                Ok(Err(e)) => Err(ClientError::Protocol(e)),
                Err(_) => Err(ClientError::Closed),
            }
        };
        match tokio::time::timeout(timeout, exchange).await {
            Ok(outcome) => outcome,
            Err(_) => Err(ClientError::Timeout {
                method: method.to_owned(),
                after: timeout,
            }),
        }
    }

    /// Sends a notification.
    pub(crate) async fn notify(&self, method: &str, params: Value) -> Result<()> {
        if self.is_closed() {
            return Err(ClientError::Closed);
        }
        let msg = json!({ "jsonrpc": "2.0", "method": method, "params": params });
        let frame = serde_json::to_vec(&msg)
            .map_err(|e| ClientError::Usage(format!("`{method}` params do not serialize: {e}")))?;
        self.shared
            .out
            .send(frame)
            .await
            .map_err(|_| ClientError::Closed)
    }

    /// Stops reading, flushes what is queued and closes the write half; waits up to
    /// `grace` for both tasks.
    pub(crate) async fn shutdown(&self, grace: Duration) {
        self.shared.shut();
        let tasks = [lock(&self.writer).take(), lock(&self.reader).take()];
        for h in tasks.into_iter().flatten() {
            let abort = h.abort_handle();
            if tokio::time::timeout(grace, h).await.is_err() {
                abort.abort();
            }
        }
    }
}

async fn write_loop<W: AsyncWrite + Unpin>(
    mut w: W,
    mut rx: mpsc::Receiver<Vec<u8>>,
    closed: CancellationToken,
) {
    loop {
        let frame = tokio::select! {
            biased;
            f = rx.recv() => f,
            _ = closed.cancelled() => rx.try_recv().ok(),
        };
        let Some(frame) = frame else { break };
        if w.write_all(&frame).await.is_err() || w.write_all(b"\n").await.is_err() {
            closed.cancel();
            break;
        }
        // Flush once the queue is drained, so bursts go out in one write.
        if rx.is_empty() && w.flush().await.is_err() {
            closed.cancel();
            break;
        }
    }
    let _ = w.shutdown().await;
}

async fn read_loop<R: AsyncRead + Unpin>(reader: R, shared: Arc<Shared>) {
    let mut reader = BufReader::with_capacity(64 * 1024, reader);
    loop {
        let line = tokio::select! {
            l = read_line(&mut reader, MAX_LINE_BYTES) => l,
            _ = shared.closed.cancelled() => break,
        };
        match line {
            Ok(Line::Data(bytes)) => handle_line(&shared, &bytes),
            Ok(Line::TooLong) => {
                tracing::warn!("dropped a server message longer than {MAX_LINE_BYTES} bytes")
            }
            Ok(Line::Eof) => break,
            Err(e) => {
                tracing::debug!(error = %e, "reading from the server failed");
                break;
            }
        }
    }
    shared.shut();
}

fn handle_line(shared: &Arc<Shared>, bytes: &[u8]) {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return;
    }
    let msg: Value = match serde_json::from_slice(bytes) {
        Ok(Value::Object(m)) => Value::Object(m),
        Ok(_) => {
            tracing::warn!("ignored a server message that is not a JSON object");
            return;
        }
        Err(e) => {
            tracing::warn!(error = %e, "ignored a server message that is not valid JSON");
            return;
        }
    };
    let has_method = msg.get("method").is_some_and(Value::is_string);
    let id = msg.get("id").filter(|id| !id.is_null()).cloned();
    match (has_method, id) {
        (true, None) => {
            shared.router.deliver(msg, None);
        }
        (true, Some(_)) => answer_server_request(shared, msg),
        (false, Some(id)) => complete(shared, &id, msg),
        (false, None) => {
            let error = msg.get("error").cloned().unwrap_or(Value::Null);
            tracing::warn!(%error, "the server sent an error without an id (it could not read one of our messages)");
        }
    }
}

fn complete(shared: &Shared, id: &Value, mut msg: Value) {
    let Some(n) = id.as_i64() else {
        tracing::warn!(%id, "ignored a response with an id this client never sent");
        return;
    };
    let outcome = match (msg.get_mut("result").map(Value::take), msg.get("error")) {
        (Some(result), None) => Ok(result),
        (None, Some(e)) => Err(decode_error(e)),
        _ => Err(ProtocolError::internal(
            "the server sent a response with neither or both of `result` and `error`",
        )),
    };
    let waiter = lock(&shared.pending).as_mut().and_then(|p| p.remove(&n));
    match waiter {
        Some(tx) => {
            let _ = tx.send(outcome);
        }
        None => tracing::debug!(
            id = n,
            "response to a request nobody waits for (timed out?)"
        ),
    }
}

pub(crate) fn decode_error(e: &Value) -> ProtocolError {
    let code = e
        .get("code")
        .and_then(Value::as_i64)
        .and_then(|c| i32::try_from(c).ok());
    let message = e.get("message").and_then(Value::as_str).unwrap_or_default();
    let p = match code {
        Some(code) => ProtocolError::new(code, message),
        None => ProtocolError::internal(format!("the server sent a malformed error object: {e}")),
    };
    match e.get("data") {
        Some(data) => p.with_data(data.clone()),
        None => p,
    }
}

fn answer_server_request(shared: &Arc<Shared>, msg: Value) {
    let shared = shared.clone();
    tokio::spawn(async move {
        let reply = shared.router.answer(&msg, None).await;
        match serde_json::to_vec(&reply) {
            Ok(frame) => {
                let _ = shared.out.send(frame).await;
            }
            Err(e) => tracing::warn!(error = %e, "could not serialize an answer to the server"),
        }
    });
}
