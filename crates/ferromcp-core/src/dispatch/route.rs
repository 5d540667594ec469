//! The entry points' work: method lookup and the era's preconditions, cancellation
//! tracking, the [`Context`] build, the `on_request` chain and the method table.

use std::sync::atomic::AtomicU32;
use std::sync::{Arc, Mutex};

use serde::Deserialize;

use super::asking::{self, Prepared};
use super::{R, Reply, RequestEnv, completion, empty, lifecycle, list, prompts, reply_of, resources, tools};
use crate::context::{Context, Extensions, Inner as CtxInner, MrtrState, TransportKind};
use crate::era::Era;
use crate::error::{Error, ProtocolError};
use crate::jsonrpc::{Notification, Request, RequestId, Response};
use crate::middleware::{self, Flow, Incoming, MwFuture, run_chain, select};
use crate::protocol::{ClientCapabilities, Method};
use crate::registry::{PromptDef, ResourceDef, ResourceTemplateDef, ToolDef};
use crate::server::Server;
use crate::session::Session;
use crate::state::SessionScope;

#[derive(Deserialize)]
struct CancelledParams {
    #[serde(rename = "requestId")]
    request_id: RequestId,
}

pub(super) async fn request(server: Server, req: Request, env: RequestEnv) -> Reply {
    if let Flow::Refuse(e) = admit(&server, Incoming::Request(&req), env.session.as_ref()) {
        return refused(env.era, &req.id, &e);
    }
    let Some(method) = Method::parse(&req.method).filter(|m| env.era.serves(*m)) else {
        return Reply::error(Some(&req.id), &env.era.method_not_found(&req.method));
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
    let prepared = match asking::prepare_fast(&server, method, &req, &env) {
        Some(p) => Ok(p),
        None => Box::pin(asking::prepare(&server, method, &req, &env)).await,
    };
    let mut reply = match prepared {
        Err(e) => Reply::error(Some(&id), &e),
        Ok(Prepared { mrtr, scope, scope_error }) => {
            let ctx = context(&server, &mut req, method, env, mrtr, scope);
            tokio::select! {
                biased;
                r = serve(&server, &ctx, method, req, scope_error) => r,
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

pub(super) fn notification(server: &Server, n: Notification, session: Option<&Arc<Session>>) {
    if let Flow::Refuse(e) = admit(server, Incoming::Notification(&n), session) {
        tracing::debug!(method = %n.method, reason = %e.message, "notification refused by middleware");
        return;
    }
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

pub(super) fn response(server: &Server, r: Response, session: Option<&Arc<Session>>) -> bool {
    if let Flow::Refuse(e) = admit(server, Incoming::Response(&r), session) {
        tracing::debug!(id = ?r.id, reason = %e.message, "response refused by middleware");
        return false;
    }
    let Some(s) = session else { return false };
    let Some(bus) = &server.inner.bus else { return s.peer().complete(&r.id, r.outcome) };
    // With a bus, ask ids carry the asking node's tag (see `crate::bus`).
    let RequestId::Number(id) = r.id else { return false };
    match crate::bus::node_of(id) {
        Some(node) if node == bus.node() => {
            s.peer().complete(&RequestId::Number(id & ((1i64 << crate::bus::NODE_SHIFT) - 1)), r.outcome)
        }
        Some(owner) => {
            tracing::debug!(target: "ferromcp_core::bus", session = s.id(), id, owner, "answer forwarded to its node");
            bus.publish(crate::bus::answer(bus.node(), s.id(), id, &r.outcome));
            true
        }
        None => false,
    }
}

/// The middleware's verdict on an incoming message (nothing to ask without middleware).
fn admit(server: &Server, message: Incoming<'_>, session: Option<&Arc<Session>>) -> Flow {
    let chain = &server.inner.middleware;
    if chain.is_empty() { Flow::Continue } else { middleware::admit(chain, message, session) }
}

/// The reply to a request a middleware refused: an error like any other of its era.
fn refused(era: Era, id: &RequestId, e: &ProtocolError) -> Reply {
    let mut reply = Reply::error(Some(id), e);
    if !era.is_modern() {
        reply.status = 200;
    }
    reply
}

/// Runs the `on_request` chain around the method.
async fn serve(server: &Server, ctx: &Context, method: Method, req: Request, scope_error: Option<Error>) -> Reply {
    if server.inner.middleware.is_empty() {
        dispatch(server, ctx, method, req, scope_error).await
    } else {
        Box::pin(serve_chain(server, ctx, method, req, scope_error)).await
    }
}

async fn serve_chain(
    server: &Server,
    ctx: &Context,
    method: Method,
    req: Request,
    scope_error: Option<Error>,
) -> Reply {
    let chain = &server.inner.middleware;
    let scope_error = Mutex::new(scope_error);
    let id = req.id.clone();
    let slot = Mutex::new(Some(req));
    let endpoint = |ctx: &Context, (): ()| -> MwFuture<'static, Reply> {
        let taken = slot.lock().unwrap_or_else(|p| p.into_inner()).take();
        let (id, server, ctx) = (id.clone(), server.clone(), ctx.clone());
        let scope_error = scope_error.lock().unwrap_or_else(|p| p.into_inner()).take();
        Box::pin(async move {
            match taken {
                Some(req) => dispatch(&server, &ctx, method, req, scope_error).await,
                None => Reply::error(Some(&id), &ProtocolError::internal("a middleware called `next` twice")),
            }
        })
    };
    run_chain(chain, ctx, (), select::on_request, &endpoint).await
}

/// The method table. Each method's future is boxed so the request future stays small
/// (it is moved by every layer above; a few hundred bytes instead of several kilobytes).
async fn dispatch(server: &Server, ctx: &Context, method: Method, req: Request, scope_error: Option<Error>) -> Reply {
    let id = req.id.clone();
    let r: R = match method {
        Method::Initialize => Box::pin(lifecycle::initialize(server, ctx, req)).await,
        Method::Ping => empty(server, &id, ctx.era()),
        Method::SetLevel => Box::pin(lifecycle::set_level(server, ctx, &req)).await,
        Method::Discover => Box::pin(lifecycle::discover(server, ctx, &req)).await,
        Method::ListTools => Box::pin(list::list::<ToolDef>(server, ctx, &req)).await,
        Method::ListResources => Box::pin(list::list::<ResourceDef>(server, ctx, &req)).await,
        Method::ListResourceTemplates => Box::pin(list::list::<ResourceTemplateDef>(server, ctx, &req)).await,
        Method::ListPrompts => Box::pin(list::list::<PromptDef>(server, ctx, &req)).await,
        Method::CallTool => Box::pin(tools::call(server, ctx, req, scope_error)).await,
        Method::ReadResource => Box::pin(resources::read(server, ctx, req)).await,
        Method::GetPrompt => Box::pin(prompts::get(server, ctx, req)).await,
        Method::Complete => Box::pin(completion::complete(server, ctx, req)).await,
        Method::Subscribe | Method::Unsubscribe => {
            Box::pin(resources::subscribe(server, ctx, &req, method == Method::Subscribe)).await
        }
        Method::Listen => Box::pin(super::listen::listen(server, ctx, req)).await,
    };
    reply_of(r, &id)
}

/// Builds the request's [`Context`]: capabilities and client info from the era's source
/// (this request's `_meta`, or the legacy session's `initialize`), the scope, the asks'
/// state.
fn context(
    server: &Server,
    req: &mut Request,
    method: Method,
    env: RequestEnv,
    mrtr: Option<MrtrState>,
    scope: Option<SessionScope>,
) -> Context {
    let scope = scope.unwrap_or_else(|| base_scope(&env));
    super::span::record_scope(&scope);
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
            server: server.clone(),
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
