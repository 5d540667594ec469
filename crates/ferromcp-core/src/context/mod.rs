//! [`Context`]: everything a handler may know about and do for the request it serves.
//!
//! A `Context` is built for one request and is cheap to clone (one `Arc`). It carries the
//! request id, the era, the client's capabilities and info, the session (legacy), the
//! progress token, the log level, a cancellation token, request-local extensions and the
//! outbound handle bound to this request's own stream. Logging, progress and asks
//! (elicitation, sampling, roots) all go through that handle, so they reach the right
//! stream by construction.
//!
//! ```
//! use ferromcp_core::{Context, ToolDef};
//! let t = ToolDef::new("slow").handler(|ctx: Context, _: ferromcp_core::NoArgs| async move {
//!     ctx.info("starting").await;
//!     ctx.report_progress(50.0, Some(100.0), None).await;
//!     "done"
//! });
//! # let _ = t;
//! ```

mod ask;
mod extensions;
mod resources;
mod state;
mod token;
mod visibility;

use std::sync::{Arc, Mutex};

use serde::Serialize;
use serde_json::Value;
use tokio_util::sync::CancellationToken;

pub use ask::{Ask, Elicitation, SamplingRequest, sampled_text};
pub(crate) use ask::{MrtrSlot, MrtrState};
pub use extensions::Extensions;
pub use state::State;
pub(crate) use state::resolve_handle;

use crate::era::{Era, Method};
use crate::jsonrpc::{self, ProgressToken, RequestId};
use crate::outbound::Outbound;
use crate::protocol::{ClientCapabilities, ClientCapability, Implementation, LoggingLevel};
use crate::server::Server;
use crate::session::{Session, level_rank};
use crate::state::{Principal, SessionScope};

/// Which transport a request arrived on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum TransportKind {
    /// Newline-delimited JSON over stdin/stdout.
    Stdio,
    /// Streamable HTTP.
    StreamableHttp,
    /// The 2024-11-05 HTTP+SSE transport.
    Sse,
    /// The in-process transport used by tests.
    InMemory,
}

/// The request context handed to every handler.
#[derive(Clone)]
pub struct Context {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub(crate) server: Server,
    pub(crate) request_id: RequestId,
    pub(crate) method: Method,
    pub(crate) era: Era,
    pub(crate) transport: TransportKind,
    pub(crate) capabilities: Arc<ClientCapabilities>,
    pub(crate) client_info: Option<Implementation>,
    pub(crate) session: Option<Arc<Session>>,
    pub(crate) principal: Option<Arc<Principal>>,
    pub(crate) scope: SessionScope,
    pub(crate) progress_token: Option<ProgressToken>,
    pub(crate) log_level: Option<LoggingLevel>,
    pub(crate) cancel: CancellationToken,
    pub(crate) outbound: Outbound,
    pub(crate) mrtr: Option<MrtrSlot>,
    pub(crate) extensions: Mutex<Extensions>,
    pub(crate) ask_counter: std::sync::atomic::AtomicU32,
}

impl std::fmt::Debug for Context {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Context")
            .field("request_id", &self.inner.request_id)
            .field("method", &self.inner.method)
            .field("era", &self.inner.era)
            .finish_non_exhaustive()
    }
}

#[derive(Serialize)]
struct LogParams<'a> {
    level: LoggingLevel,
    #[serde(skip_serializing_if = "Option::is_none")]
    logger: Option<&'a str>,
    data: &'a Value,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ProgressParams<'a> {
    progress_token: &'a ProgressToken,
    progress: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    total: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    message: Option<&'a str>,
}

impl Context {
    /// The server this request is served by.
    pub fn server(&self) -> &Server {
        &self.inner.server
    }
    /// The JSON-RPC id of the request.
    pub fn request_id(&self) -> &RequestId {
        &self.inner.request_id
    }
    /// The method being served.
    pub fn method(&self) -> Method {
        self.inner.method
    }
    /// The protocol era (and version) of this request.
    pub fn era(&self) -> Era {
        self.inner.era
    }
    /// The transport the request arrived on.
    pub fn transport(&self) -> TransportKind {
        self.inner.transport
    }
    /// The client's declared capabilities (from `initialize` or this request's `_meta`).
    pub fn client_capabilities(&self) -> &ClientCapabilities {
        &self.inner.capabilities
    }
    /// The client's name and version, if it said.
    pub fn client_info(&self) -> Option<&Implementation> {
        self.inner.client_info.as_ref()
    }
    /// Whether the client declared `capability` (in `initialize` on 2025-11-25, in this
    /// request's `_meta` on 2026-07-28). Asking for an undeclared one fails with
    /// [`Error::MissingCapability`](crate::Error::MissingCapability).
    ///
    /// ```
    /// use ferromcp_core::{Context, protocol::ClientCapability};
    /// async fn greet(ctx: Context) -> ferromcp_core::Result<String> {
    ///     if !ctx.client_supports(ClientCapability::Elicitation) {
    ///         return Ok("hello, stranger".into());
    ///     }
    ///     let name = ctx.elicit::<String>("Your name?").await?.accepted();
    ///     Ok(format!("hello, {}", name.unwrap_or_default()))
    /// }
    /// ```
    pub fn client_supports(&self, capability: ClientCapability) -> bool {
        capability.declared_in(&self.inner.capabilities)
    }
    /// The legacy session (or connection) this request belongs to, if any.
    pub fn session(&self) -> Option<&Arc<Session>> {
        self.inner.session.as_ref()
    }
    /// The id of this request's session scope: the `Mcp-Session-Id` (legacy HTTP), the
    /// connection id (stdio, in-memory), the session handle or the hashed principal
    /// (2026-07-28); `None` without a scope.
    pub fn session_id(&self) -> Option<&str> {
        self.inner.scope.id()
    }
    /// The session scope of this request, resolved once when the request arrived.
    pub fn scope(&self) -> &SessionScope {
        &self.inner.scope
    }
    /// The authenticated caller, if any.
    pub fn principal(&self) -> Option<&Principal> {
        self.inner.principal.as_deref()
    }
    /// The progress token the client attached, if any.
    pub fn progress_token(&self) -> Option<&ProgressToken> {
        self.inner.progress_token.as_ref()
    }
    /// Cancelled when the client cancels the request (or, on the modern era, closes the
    /// stream).
    pub fn cancellation(&self) -> &CancellationToken {
        &self.inner.cancel
    }
    /// Whether the request was cancelled.
    pub fn is_cancelled(&self) -> bool {
        self.inner.cancel.is_cancelled()
    }
    /// Request-local typed values (for non-serializable things middleware hands to tools).
    pub fn extensions(&self) -> std::sync::MutexGuard<'_, Extensions> {
        self.inner.extensions.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn log_allowed(&self, level: LoggingLevel) -> bool {
        let rank = level_rank(level);
        match self.inner.era {
            Era::Modern(_) => self.inner.log_level.is_some_and(|min| rank >= level_rank(min)),
            Era::Legacy(_) => match &self.inner.session {
                Some(s) => rank >= s.log_rank(),
                None => true,
            },
        }
    }

    /// Sends a `notifications/message` log entry on this request's stream if the level
    /// passes the client's threshold (legacy: `logging/setLevel`; modern: `_meta` log
    /// level, and nothing at all without it).
    pub async fn log(&self, level: LoggingLevel, logger: Option<&str>, data: impl Into<Value>) {
        if !self.log_allowed(level) {
            return;
        }
        let data = data.into();
        let mut buf = Vec::with_capacity(96);
        if jsonrpc::write_notification(&mut buf, "notifications/message", &LogParams { level, logger, data: &data })
            .is_ok()
        {
            let _ = self.inner.outbound.send(buf).await;
        }
    }
    /// Logs at debug level.
    pub async fn debug(&self, msg: impl Into<Value>) {
        self.log(LoggingLevel::Debug, None, msg).await
    }
    /// Logs at info level.
    pub async fn info(&self, msg: impl Into<Value>) {
        self.log(LoggingLevel::Info, None, msg).await
    }
    /// Logs at warning level.
    pub async fn warning(&self, msg: impl Into<Value>) {
        self.log(LoggingLevel::Warning, None, msg).await
    }
    /// Logs at error level.
    pub async fn error(&self, msg: impl Into<Value>) {
        self.log(LoggingLevel::Error, None, msg).await
    }

    /// Reports progress if the client asked for it (sent a progress token); otherwise a
    /// no-op. `progress` should increase with every call.
    pub async fn report_progress(&self, progress: f64, total: Option<f64>, message: Option<&str>) {
        let Some(token) = &self.inner.progress_token else { return };
        let mut buf = Vec::with_capacity(96);
        let p = ProgressParams { progress_token: token, progress, total, message };
        if jsonrpc::write_notification(&mut buf, "notifications/progress", &p).is_ok() {
            let _ = self.inner.outbound.send(buf).await;
        }
    }

    /// Closes this request's SSE connection without ending the request (SEP-1699
    /// polling): the client reconnects with `Last-Event-ID` and receives what it missed.
    /// Use it in long calls so no connection outlives proxies' timeouts. Only legacy
    /// Streamable HTTP sessions with an event store can do this; elsewhere it does nothing.
    pub async fn close_sse_stream(&self) {
        if matches!(self.inner.era, Era::Legacy(_)) && self.inner.transport == TransportKind::StreamableHttp {
            let _ = self.inner.outbound.send(Vec::new()).await;
        }
    }

    /// Sends any notification on this request's stream.
    pub async fn send_notification(&self, method: &str, params: impl Serialize) -> crate::Result<()> {
        let mut buf = Vec::with_capacity(96);
        jsonrpc::write_notification(&mut buf, method, &params)?;
        self.inner.outbound.send(buf).await.map_err(|e| crate::Error::Other(e.to_string()))
    }

    /// Reads a resource of this server in-process (no transport round trip).
    pub async fn read_resource(&self, uri: &str) -> crate::Result<Vec<crate::protocol::ResourceContents>> {
        let vis = self.visibility().await?;
        let snapshot = self.inner.server.registry().snapshot();
        let (handler, vars) = snapshot
            .resolve_resource(uri, vis.as_ref())
            .ok_or_else(|| crate::Error::Protocol(self.era().resource_not_found(uri)))?;
        handler.read(self.clone(), uri.to_owned(), vars).await
    }

    /// Lists this server's enabled resources.
    pub fn list_resources(&self) -> Vec<crate::protocol::Resource> {
        self.inner
            .server
            .registry()
            .snapshot()
            .resources
            .iter()
            .filter(|r| r.enabled)
            .map(|r| r.resource.clone())
            .collect()
    }

    /// Renders a prompt of this server in-process.
    pub async fn get_prompt(&self, name: &str, arguments: Value) -> crate::Result<crate::protocol::GetPromptResult> {
        let snapshot = self.inner.server.registry().snapshot();
        let p = snapshot
            .prompts
            .get(name)
            .filter(|p| p.enabled)
            .cloned()
            .ok_or_else(|| crate::Error::invalid_params(format!("Unknown prompt: {name}")))?;
        let raw = serde_json::value::to_raw_value(&arguments)?;
        match &p.handler {
            Some(h) => h.get(self.clone(), Some(&raw)).await,
            None => Err(crate::Error::Other(format!("prompt `{name}` has no handler"))),
        }
    }
}
