//! The Streamable HTTP client transport (2025-11-25 and 2026-07-28), on reqwest with
//! rustls.
//!
//! - `post`: one POST per request or notification: headers (session, protocol
//!   version, routing headers, custom headers, `Authorization`), 401/403 handed to the
//!   [`crate::auth::AuthProvider`], re-initialisation after a 404 for a lost session,
//!   JSON or SSE answers.
//! - `stream`: reading an SSE answer (server requests answered with the call attached,
//!   notifications routed to the call), resuming a broken stream with GET +
//!   `Last-Event-ID` after the server's `retry:` (SEP-1699), and the standalone GET
//!   stream of a 2025-11-25 session.
//! - `sse`: the event-stream parser.
//! - `headers`: `Mcp-Method`, `Mcp-Name`, `Mcp-Param-*` (2026-07-28).
//!
//! A response may arrive on another stream than its POST's (a resumed or standalone
//! stream), so in-flight requests wait on a pending map as well as on their own stream.

pub(crate) mod headers;
pub(crate) mod post;
pub(crate) mod sse;
mod stream;

use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use ferromcp_core::ProtocolError;
use serde_json::{Value, json};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::error::{ClientError, Result};
use crate::options::{ClientEra, HttpOptions};
use crate::routing::{CallSink, Router};

type Outcome = std::result::Result<Value, ProtocolError>;

/// The negotiated state of the connection.
#[derive(Default)]
struct SessionState {
    era: ClientEra,
    /// `Mcp-Session-Id` (2025-11-25), once the server assigned one.
    session: Option<String>,
    /// The negotiated version for `MCP-Protocol-Version`, once known.
    version: Option<String>,
    /// The `initialize` params, to open a new session after a 404.
    init: Option<Value>,
    /// The log level to set again on a new session.
    log_level: Option<String>,
}

pub(crate) struct HttpShared {
    http: reqwest::Client,
    url: reqwest::Url,
    opts: HttpOptions,
    router: Arc<Router>,
    state: Mutex<SessionState>,
    next_id: AtomicI64,
    pending: Mutex<HashMap<i64, oneshot::Sender<Outcome>>>,
    tools: Mutex<headers::ToolHeaders>,
    closed: CancellationToken,
    get_task: Mutex<Option<JoinHandle<()>>>,
    /// One re-initialisation at a time after a 404.
    reinit: tokio::sync::Mutex<()>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// A Streamable HTTP connection to one MCP endpoint.
pub(crate) struct HttpConn {
    shared: Arc<HttpShared>,
}

impl Drop for HttpConn {
    fn drop(&mut self) {
        self.shared.closed.cancel();
        if let Some(t) = lock(&self.shared.get_task).take() {
            t.abort();
        }
    }
}

/// Removes a pending entry however the waiting future ends.
struct PendingGuard<'a> {
    shared: &'a HttpShared,
    id: i64,
}

impl Drop for PendingGuard<'_> {
    fn drop(&mut self) {
        lock(&self.shared.pending).remove(&self.id);
    }
}

impl HttpConn {
    /// A connection to `url` (nothing is sent yet).
    pub(crate) fn new(url: &str, opts: HttpOptions, router: Arc<Router>) -> Result<HttpConn> {
        let url = reqwest::Url::parse(url).map_err(|e| {
            ClientError::Usage(format!(
                "`{url}` is not a valid URL ({e}); give the full MCP endpoint, e.g. http://127.0.0.1:3001/mcp"
            ))
        })?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(ClientError::Usage(format!(
                "`{url}` is not an http:// or https:// URL"
            )));
        }
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .build()
            .map_err(|e| ClientError::Connect(format!("could not build the HTTP client: {e}")))?;
        Ok(HttpConn {
            shared: Arc::new(HttpShared {
                http,
                url,
                opts,
                router,
                state: Mutex::new(SessionState::default()),
                next_id: AtomicI64::new(0),
                pending: Mutex::new(HashMap::new()),
                tools: Mutex::new(headers::ToolHeaders::new()),
                closed: CancellationToken::new(),
                get_task: Mutex::new(None),
                reinit: tokio::sync::Mutex::new(()),
            }),
        })
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.shared.closed.is_cancelled()
    }

    pub(crate) fn set_era(&self, era: ClientEra) {
        let mut st = lock(&self.shared.state);
        st.era = era;
        st.session = None;
        // 2026-07-28 names its version on every request; 2025-11-25 only after
        // `initialize` negotiated one (a probe's modern header must not leak into it).
        st.version = (era == ClientEra::Modern).then(|| ClientEra::Modern.version().to_owned());
    }

    pub(crate) fn initialized(&self, version: &str, init: Value, log_level: Option<String>) {
        {
            let mut st = lock(&self.shared.state);
            st.version = Some(version.to_owned());
            st.init = Some(init);
            st.log_level = log_level;
        }
    }

    pub(crate) async fn open_streams(&self) {
        self.shared.start_get_stream().await;
    }

    /// Sends a request and waits up to `timeout` for its answer.
    pub(crate) async fn request(
        &self,
        method: &str,
        params: Value,
        timeout: Duration,
        call: Option<&Arc<CallSink>>,
    ) -> Result<Value> {
        let shared = &self.shared;
        if shared.closed.is_cancelled() {
            return Err(ClientError::Closed);
        }
        let deadline = tokio::time::Instant::now() + timeout;
        let mut reissued = false;
        loop {
            let id = shared.next_id();
            let (tx, rx) = oneshot::channel();
            lock(&shared.pending).insert(id, tx);
            let _guard = PendingGuard { shared, id };
            let exchange = shared.exchange(id, method, &params, call, rx);
            let outcome = tokio::select! {
                r = tokio::time::timeout_at(deadline, exchange) => r,
                _ = shared.closed.cancelled() => return Err(ClientError::Closed),
            };
            match outcome {
                // 2026-07-28 streams cannot be resumed: the request is lost, and the
                // client sends it again under a new id (once).
                Ok(Err(ClientError::StreamEnded { reason, .. }))
                    if shared.era() == ClientEra::Modern
                        && shared.opts.reissue_broken_requests
                        && !reissued =>
                {
                    tracing::debug!(method, %reason, "re-sending a request whose stream broke");
                    reissued = true;
                }
                Ok(r) => {
                    if method == "tools/list"
                        && let Ok(v) = &r
                    {
                        headers::learn_tools(v, &mut lock(&shared.tools));
                    }
                    return r;
                }
                Err(_) => {
                    shared.cancel_after_timeout(id);
                    return Err(ClientError::Timeout {
                        method: method.to_owned(),
                        after: timeout,
                    });
                }
            }
        }
    }

    /// Sends a notification.
    pub(crate) async fn notify(&self, method: &str, params: Value) -> Result<()> {
        if self.is_closed() {
            return Err(ClientError::Closed);
        }
        let body = json!({ "jsonrpc": "2.0", "method": method, "params": params });
        self.shared.post_message(&body).await
    }

    /// Ends the session (DELETE, 2025-11-25) and stops the GET stream.
    pub(crate) async fn shutdown(&self, grace: Duration) {
        if self.shared.closed.is_cancelled() {
            return;
        }
        let session = lock(&self.shared.state).session.clone();
        if let Some(session) = session {
            let _ = tokio::time::timeout(grace, self.shared.delete_session(&session)).await;
        }
        self.shared.closed.cancel();
        let task = lock(&self.shared.get_task).take();
        if let Some(t) = task {
            t.abort();
        }
    }
}

impl HttpShared {
    fn next_id(&self) -> i64 {
        self.next_id.fetch_add(1, Ordering::Relaxed) + 1
    }

    fn era(&self) -> ClientEra {
        lock(&self.state).era
    }

    /// Completes a pending request from a response that arrived on another stream.
    fn complete(&self, id: i64, outcome: Outcome) -> bool {
        match lock(&self.pending).remove(&id) {
            Some(tx) => tx.send(outcome).is_ok(),
            None => false,
        }
    }

    /// 2025-11-25: tells the server we stopped waiting (best effort, in the background).
    fn cancel_after_timeout(self: &Arc<Self>, id: i64) {
        if self.era() != ClientEra::Legacy || self.closed.is_cancelled() {
            return;
        }
        let me = self.clone();
        tokio::spawn(async move {
            let note = json!({
                "jsonrpc": "2.0",
                "method": "notifications/cancelled",
                "params": { "requestId": id, "reason": "the client stopped waiting" },
            });
            let _ = tokio::time::timeout(Duration::from_secs(5), me.post_message(&note)).await;
        });
    }
}
