//! The dispatcher: one entry point per incoming message kind, shared by every
//! transport. Transports resolve the era and the session, then call
//! [`handle_request`], [`handle_notification`] or [`handle_response`].
//!
//! A request's future is `'static` and `Send`: HTTP can start answering with plain JSON
//! and move the rest of a call onto an SSE stream the moment the handler sends its first
//! notification.
//!
//! # Layout
//!
//! One module per group of methods, plus the machinery they share:
//!
//! - `route`: the entry points' work — method lookup, the era's preconditions, the
//!   [`Context`](crate::Context) build, the `on_request` chain and the method table.
//! - `lifecycle`: `initialize`, `ping`, `logging/setLevel`, `server/discover`.
//! - `list`: the four `*/list` methods, one generic function (visibility, the list
//!   hook, pagination, cache hints).
//! - `tools`, `resources`, `prompts`, `completion`: the other methods by kind.
//! - `asking`: the one pipeline of the methods that can ask the client (`tools/call`,
//!   `resources/read`, `prompts/get`): MRTR state in, the hook chain, the driver that
//!   notices parked asks, `input_required` out.
//! - `drive`, `tool_json`: the ask-noticing driver and the fast tool-result writer.
//!
//! - `listen`: `subscriptions/listen`, fed by the engine's one notifier.

mod asking;
mod completion;
mod drive;
mod lifecycle;
mod list;
mod listen;
mod prompts;
mod resources;
mod route;
mod span;
mod tool_json;
mod tools;

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use tokio_util::sync::CancellationToken;

use crate::context::TransportKind;
use crate::era::{self, Era, ResultKind};
use crate::error::ProtocolError;
use crate::jsonrpc::{self, Notification, Request, RequestId, Response};
use crate::outbound::Outbound;
pub use crate::reply::Reply;
use crate::server::Server;
use crate::session::Session;
use crate::state::Principal;
pub use span::{
    REQUEST_DURATION_SECONDS, REQUEST_ERRORS_TOTAL, REQUESTS_TOTAL, TraceParent, metrics_enabled, set_metrics_enabled,
};

/// What a transport knows about a request before dispatch.
#[derive(Debug, Clone)]
pub struct RequestEnv {
    /// The resolved era.
    pub era: Era,
    /// The transport.
    pub transport: TransportKind,
    /// The legacy session or connection, if any.
    pub session: Option<Arc<Session>>,
    /// The request's own stream.
    pub outbound: Outbound,
    /// Cancelled when the client cancels or (modern HTTP) disconnects.
    pub cancel: CancellationToken,
    /// The authenticated caller, if the transport verified one.
    pub principal: Option<Arc<Principal>>,
}

/// Serves one request of `server` inside its `mcp.request` span (fields: method, name,
/// era, scope kind, the `_meta.traceparent` trace and parent ids, outcome) and with its
/// metrics when [enabled](set_metrics_enabled). The returned future owns everything it
/// needs.
pub fn handle_request(server: &Server, req: Request, env: RequestEnv) -> impl Future<Output = Reply> + Send + 'static {
    let observer = span::Observer::new(server, &req, &env);
    observer.wrap(route::request(server.clone(), req, env))
}

/// Handles a notification from the client (`initialized`, `cancelled`, …).
pub fn handle_notification(server: &Server, n: Notification, session: Option<&Arc<Session>>) {
    route::notification(server, n, session)
}

/// Routes a client's response to the server→client request waiting for it; `false` when
/// nothing waited for it.
pub fn handle_response(server: &Server, r: Response, session: Option<&Arc<Session>>) -> bool {
    route::response(server, r, session)
}

/// What a method answers: a reply, or the protocol error to answer with.
type R = Result<Reply, ProtocolError>;

fn reply_of(r: R, id: &RequestId) -> Reply {
    r.unwrap_or_else(|e| Reply::error(Some(id), &e))
}

fn params_text(req: &Request) -> &str {
    req.params.as_deref().unwrap_or("{}")
}

fn params<'a, T: Deserialize<'a>>(req: &'a Request) -> Result<T, ProtocolError> {
    serde_json::from_str(params_text(req))
        .map_err(|e| ProtocolError::invalid_params(format!("Invalid params for {}: {e}", req.method)))
}

fn write<T: Serialize>(server: &Server, era: Era, id: &RequestId, kind: ResultKind, v: &T) -> R {
    era::write_response(era, id, kind, server.info_json(), v).map(Reply::ok)
}

fn empty(server: &Server, id: &RequestId, era: Era) -> R {
    write(server, era, id, ResultKind::Complete, &Map::new())
}

fn require_capability(server: &Server, name: &str, method: &str) -> Result<(), ProtocolError> {
    if server.has_capability(name) { Ok(()) } else { Err(ProtocolError::method_not_found(method)) }
}

/// Writes an rmcp result type whose own `_meta` must be merged with the era's.
pub(crate) fn write_with_meta<T: Serialize>(
    server: &Server,
    era: Era,
    id: &RequestId,
    kind: ResultKind,
    v: &T,
    meta: Option<Map<String, Value>>,
) -> R {
    let Some(mut m) = meta else { return write(server, era, id, kind, v) };
    let mut obj = match serde_json::to_value(v) {
        Ok(Value::Object(o)) => o,
        _ => return Err(ProtocolError::internal("result is not an object")),
    };
    if era.is_modern() {
        m.insert(
            crate::protocol::META_SERVER_INFO.into(),
            serde_json::from_str(server.info_json()).unwrap_or(Value::Null),
        );
        obj.insert("resultType".into(), "complete".into());
        obj.insert("_meta".into(), Value::Object(m));
        let body = serde_json::to_vec(&obj).map_err(|e| ProtocolError::internal(e.to_string()))?;
        let mut buf = Vec::with_capacity(body.len() + 40);
        jsonrpc::write_result_raw(&mut buf, id, &body);
        return Ok(Reply::ok(buf));
    }
    obj.insert("_meta".into(), Value::Object(m));
    write(server, era, id, kind, &obj)
}
