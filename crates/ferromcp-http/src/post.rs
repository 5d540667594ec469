//! POST: resolve the era (spec digest §3), find or create the legacy session, dispatch,
//! answer with JSON or SSE.

use std::sync::Arc;

use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::Response;
use ferromcp_core::engine::ExchangeRequest;
use ferromcp_core::era::Era;
use ferromcp_core::error::code;
use ferromcp_core::jsonrpc::{self, Message, Request};
use ferromcp_core::outbound::Outbound;
use ferromcp_core::{ProtocolError, Reply, RequestEnv, TransportKind};
use tokio_util::sync::CancellationToken;

use crate::AppState;
use crate::extract::{Caller, HostOrigin, JsonContentType};
use crate::headers::{Headers, SESSION_ID, str_header};
use crate::negotiate::{AcceptMcp, JsonRpcBody};
use crate::stream::{ReplyFuture, empty_response, json_response, respond};

pub(crate) fn error_response(e: &ProtocolError, id: Option<&jsonrpc::RequestId>) -> Response {
    let r = Reply::error(id, e);
    json_response(r.status, r.body.unwrap_or_default(), HeaderMap::new())
}

fn session_not_found() -> ProtocolError {
    // The same answer as the engine's for an unknown session (see `Server::exchange`).
    ProtocolError::new(code::SESSION_NOT_FOUND, "Session not found; send initialize to start a new session")
        .with_status(404)
}

pub(crate) async fn handle(
    State(st): State<Arc<AppState>>,
    _: HostOrigin,
    _: JsonContentType,
    Caller(principal): Caller,
    accept: AcceptMcp,
    JsonRpcBody { headers, peer, message: msg }: JsonRpcBody,
) -> Response {
    st.ensure_reaper();
    let headers = &headers;
    // `json_response`: one JSON body per POST, never a stream.
    let sse_ok = accept.sse && !st.cfg.json_response;
    let session_header = str_header(headers, &SESSION_ID);
    match msg {
        Message::Request(req) => request(&st, req, headers, session_header, sse_ok, principal, peer).await,
        Message::Notification(n) => {
            let session = match session_header {
                Some(id) => match st.server.lookup_session(id, principal.as_deref(), st.events()).await {
                    Ok(Some(s)) => Some(s),
                    Ok(None) => return error_response(&session_not_found(), None),
                    Err(e) => return error_response(&e, None),
                },
                None => None,
            };
            ferromcp_core::dispatch::handle_notification(&st.server, n, session.as_ref());
            empty_response(StatusCode::ACCEPTED)
        }
        Message::Response(r) => {
            let Some(id) = session_header else {
                let e = ProtocolError::invalid_request(
                    "a JSON-RPC response needs the Mcp-Session-Id of the session that asked",
                );
                return error_response(&e, None);
            };
            let session = match st.server.lookup_session(id, principal.as_deref(), st.events()).await {
                Ok(Some(s)) => s,
                Ok(None) => return error_response(&session_not_found(), None),
                Err(e) => return error_response(&e, None),
            };
            ferromcp_core::dispatch::handle_response(&st.server, r, Some(&session));
            empty_response(StatusCode::ACCEPTED)
        }
    }
}

async fn request(
    st: &Arc<AppState>,
    req: Request,
    headers: &HeaderMap,
    session_header: Option<&str>,
    sse_ok: bool,
    principal: Option<Arc<ferromcp_core::state::Principal>>,
    peer: Option<std::net::IpAddr>,
) -> Response {
    let mut extra = HeaderMap::new();
    let lookup = Headers(headers);
    let x = ExchangeRequest::new(&lookup)
        .session_id(session_header)
        .principal(principal.as_ref())
        .addr(peer)
        .stateful(st.cfg.stateful)
        .events(st.events());
    let exchange = match st.server.exchange(&req, &x).await {
        Ok(x) => x,
        Err(e) => return error_response(&e, Some(&req.id)),
    };
    // After the session lookup, so an unknown session is 404 whatever the scopes.
    if let Some(refused) = crate::auth::scope_refusal(st.cfg.auth.as_ref(), &st.server, &req, principal.as_deref()) {
        return refused;
    }
    if let Some(s) = exchange.session.as_ref().filter(|_| exchange.new_session)
        && let Ok(v) = HeaderValue::from_str(s.id())
    {
        extra.insert(SESSION_ID, v);
    }
    let (era, session) = (exchange.era, exchange.session.clone());
    let is_initialize = exchange.registers;
    let (outbound, frames) = if sse_ok { Outbound::channel() } else { (Outbound::none(), Outbound::channel().1) };
    let cancel = CancellationToken::new();
    let env = RequestEnv {
        era,
        transport: TransportKind::StreamableHttp,
        session: session.clone(),
        outbound,
        cancel: cancel.clone(),
        principal,
    };
    let init_id = is_initialize.then(|| req.id.clone());
    let fut: ReplyFuture = Box::pin(ferromcp_core::dispatch::handle_request(&st.server, req, env));
    if is_initialize {
        // Register the session only once initialize succeeded.
        let reply = fut.await;
        match exchange.initialized(&st.server, &reply, st.events()).await {
            Ok(true) => {}
            Ok(false) => {
                extra.remove(SESSION_ID);
            }
            Err(e) => return error_response(&e, init_id.as_ref()),
        }
        return match reply.body {
            Some(b) => json_response(reply.status, b, extra),
            None => empty_response(StatusCode::ACCEPTED),
        };
    }
    match era {
        Era::Modern(_) => respond(fut, frames, cancel, sse_ok, extra).await,
        Era::Legacy(_) => {
            let resumable = session.as_deref().and_then(|s| st.resumable(s));
            crate::legacy_stream::respond_legacy(fut, frames, sse_ok, resumable, extra).await
        }
    }
}
