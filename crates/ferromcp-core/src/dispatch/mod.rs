//! The dispatcher: one entry point per incoming message kind, shared by every
//! transport. Transports resolve the era and the session, then call
//! [`Server::handle_request`], [`Server::handle_notification`] or
//! [`Server::handle_response`].
//!
//! A request's future is `'static` and `Send`: HTTP can start answering with plain JSON
//! and move the rest of a call onto an SSE stream the moment the handler sends its first
//! notification.

mod calls;
mod drive;
mod listen;
mod methods;
mod tool_json;

pub(crate) use methods::write_with_meta;

use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::AtomicU32;

use serde::Deserialize;
use tokio_util::sync::CancellationToken;

use crate::context::{Context, Extensions, Inner as CtxInner, MrtrState, TransportKind};
use crate::era::{Era, Method};
use crate::error::ProtocolError;
use crate::jsonrpc::{self, Notification, Request, RequestId, Response};
use crate::outbound::Outbound;
use crate::protocol::ClientCapabilities;
use crate::server::Server;
use crate::session::Session;
use crate::state::{Principal, SessionScope};

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

#[derive(Deserialize)]
struct CancelledParams {
    #[serde(rename = "requestId")]
    request_id: RequestId,
}

impl Server {
    /// Serves one request. The returned future owns everything it needs.
    pub fn handle_request(&self, req: Request, env: RequestEnv) -> impl Future<Output = Reply> + Send + 'static {
        let server = self.clone();
        async move {
            let Some(method) = Method::parse(&req.method).filter(|m| m.exists_in(env.era)) else {
                let e = match env.era {
                    Era::Modern(_) => crate::era::modern::method_not_found(&req.method),
                    Era::Legacy(_) => ProtocolError::method_not_found(&req.method),
                };
                return Reply::error(Some(&req.id), &e);
            };
            if let (Era::Legacy(_), Some(s)) = (env.era, &env.session)
                && method != Method::Initialize
                && method != Method::Ping
                && s.init().is_none()
            {
                return Reply::error(Some(&req.id), &crate::era::legacy::not_initialized());
            }
            let tracked = env.session.clone().filter(|_| method != Method::Initialize);
            if let Some(s) = &tracked {
                s.track(req.id.clone(), env.cancel.clone());
            }
            let id = req.id.clone();
            let cancel = env.cancel.clone();
            let era = env.era;
            let mut req = req;
            let prepared = match calls::prepare_fast(&server, method, &req, &env) {
                Some(p) => Ok(p),
                None => Box::pin(calls::prepare(&server, method, &req, &env)).await,
            };
            let mut reply = match prepared {
                Err(e) => Reply::error(Some(&id), &e),
                Ok(prepared) => {
                    let ctx = server.context(&mut req, method, env, prepared.mrtr, prepared.scope);
                    tokio::select! {
                        biased;
                        r = methods::serve(&server, &ctx, method, req, prepared.scope_error) => r,
                        _ = cancel.cancelled() => Reply::none(),
                    }
                }
            };
            // Modern errors carry the HTTP status the spec maps them to; on the legacy era a
            // JSON-RPC error inside an accepted exchange is HTTP 200.
            if !era.is_modern() && reply.is_error {
                reply.status = 200;
            }
            if let Some(s) = &tracked {
                s.untrack(&id);
            }
            reply
        }
    }

    /// Handles a notification from the client (`initialized`, `cancelled`, …).
    pub fn handle_notification(&self, n: Notification, session: Option<&Arc<Session>>) {
        match n.method.as_str() {
            "notifications/initialized" => {
                if let Some(s) = session {
                    s.mark_initialized();
                }
            }
            "notifications/cancelled" => {
                let Some(s) = session else { return };
                let Some(p) = n.params.as_deref() else { return };
                if let Ok(c) = serde_json::from_str::<CancelledParams>(p) {
                    s.cancel(&c.request_id);
                }
            }
            _ => tracing::trace!(method = %n.method, "notification ignored"),
        }
    }

    /// Routes a client's response to the server→client request waiting for it.
    pub fn handle_response(&self, r: Response, session: Option<&Arc<Session>>) -> bool {
        match session {
            Some(s) => s.peer().complete(&r.id, r.outcome),
            None => false,
        }
    }

    pub(crate) fn context(
        &self,
        req: &mut Request,
        method: Method,
        env: RequestEnv,
        mrtr: Option<MrtrState>,
        scope: Option<SessionScope>,
    ) -> Context {
        let scope = scope.unwrap_or_else(|| base_scope(&env));
        let (capabilities, client_info) = match env.era {
            Era::Modern(_) => {
                (req.meta.client_capabilities.take().unwrap_or_default(), req.meta.client_info.take().map(|b| *b))
            }
            Era::Legacy(_) => match env.session.as_ref().and_then(|s| s.init()) {
                Some(init) => (init.capabilities.clone(), init.info.clone()),
                None => (Arc::new(ClientCapabilities::default()), None),
            },
        };
        let log_level = match &req.meta.log_level {
            Some(Ok(l)) => Some(*l),
            _ => None,
        };
        Context {
            inner: Arc::new(CtxInner {
                server: self.clone(),
                request_id: req.id.clone(),
                method,
                era: env.era,
                transport: env.transport,
                capabilities,
                client_info,
                session: env.session,
                principal: env.principal,
                scope,
                progress_token: req.meta.progress_token.take(),
                log_level,
                cancel: env.cancel,
                outbound: env.outbound,
                mrtr: mrtr.map(Mutex::new),
                extensions: Mutex::new(Extensions::default()),
                ask_counter: AtomicU32::new(0),
            }),
        }
    }
}

/// The scope of a request before any explicit handle (see [`crate::state::SessionScope`]).
fn base_scope(env: &RequestEnv) -> SessionScope {
    let principal = || env.principal.as_ref().map(|p| SessionScope::Principal(p.hashed().into()));
    match env.era {
        Era::Legacy(_) => match (&env.session, env.transport) {
            (Some(s), TransportKind::StreamableHttp) => SessionScope::Session(s.id_arc()),
            (Some(s), _) => SessionScope::Connection(s.id_arc()),
            (None, _) => principal().unwrap_or(SessionScope::None),
        },
        Era::Modern(_) => principal().unwrap_or_else(|| match (env.transport, &env.session) {
            (TransportKind::Stdio, _) => SessionScope::Process(crate::state::scope::process_id()),
            (TransportKind::InMemory, Some(s)) => SessionScope::Connection(s.id_arc()),
            _ => SessionScope::None,
        }),
    }
}
