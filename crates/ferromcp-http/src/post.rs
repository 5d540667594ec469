//! POST: resolve the era (spec digest §3), find or create the legacy session, dispatch,
//! answer with JSON or SSE.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::Response;
use bytes::Bytes;
use ferromcp_core::era::{self, Era};
use ferromcp_core::error::code;
use ferromcp_core::jsonrpc::{self, Message, Request};
use ferromcp_core::outbound::Outbound;
use ferromcp_core::session::Session;
use ferromcp_core::{ProtocolError, Reply, RequestEnv, TransportKind};
use http_body_util::BodyExt;
use tokio_util::sync::CancellationToken;

use crate::AppState;
use crate::headers::{Headers, PROTOCOL_VERSION, SESSION_ID, accepts_each, str_header};
use crate::stream::{ReplyFuture, empty_response, json_response, respond};

pub(crate) fn error_response(e: &ProtocolError, id: Option<&jsonrpc::RequestId>) -> Response {
    let r = Reply::error(id, e);
    json_response(r.status, r.body.unwrap_or_default(), HeaderMap::new())
}

fn session_not_found() -> ProtocolError {
    ProtocolError::new(code::SESSION_NOT_FOUND, "Session not found; send initialize to start a new session")
        .with_status(404)
}

pub(crate) async fn read_body(body: Body, headers: &HeaderMap, max: usize) -> Result<Bytes, ProtocolError> {
    let too_large = || ProtocolError::invalid_request(format!("Request body larger than {max} bytes")).with_status(413);
    if let Some(len) =
        headers.get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<usize>().ok())
        && len > max
    {
        return Err(too_large());
    }
    match http_body_util::Limited::new(body, max).collect().await {
        Ok(c) => Ok(c.to_bytes()),
        Err(e) if e.downcast_ref::<http_body_util::LengthLimitError>().is_some() => Err(too_large()),
        Err(e) if crate::conn::is_body_timeout(&*e) => {
            Err(ProtocolError::invalid_request(e.to_string()).with_status(408))
        }
        Err(e) => Err(ProtocolError::invalid_request(format!("Could not read the request body: {e}"))),
    }
}

pub(crate) async fn handle(State(st): State<Arc<AppState>>, req: axum::extract::Request) -> Response {
    st.ensure_reaper();
    let (parts, body) = req.into_parts();
    let headers = &parts.headers;
    if let Err(why) = crate::guard::check(&st.cfg.dns_rebinding, headers) {
        return error_response(&ProtocolError::invalid_request(why).with_status(403), None);
    }
    if let Some(ct) = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok())
        && !ct.trim_start().to_ascii_lowercase().starts_with("application/json")
    {
        let e = ProtocolError::invalid_request("Content-Type must be application/json").with_status(415);
        return error_response(&e, None);
    }
    let principal = match crate::auth::authenticate(st.cfg.auth.as_ref(), headers).await {
        Ok(p) => p,
        Err(resp) => return resp,
    };
    let [json_ok, sse_ok] = accepts_each(headers, ["application/json", "text/event-stream"]);
    if !json_ok && !sse_ok {
        let e = ProtocolError::invalid_request("Accept must include application/json and text/event-stream")
            .with_status(406);
        return error_response(&e, None);
    }
    let bytes = match read_body(body, headers, st.cfg.max_body_bytes).await {
        Ok(b) => b,
        Err(e) => return error_response(&e, None),
    };
    let msg = match jsonrpc::decode_with_limit(&bytes, st.server.config().max_echoed_value_bytes) {
        Ok(m) => m,
        Err(e) => {
            let mut err = e.error;
            if err.http_status == 200 {
                err.http_status = 400;
            }
            return error_response(&err, e.id.as_ref());
        }
    };
    let session_header = str_header(headers, &SESSION_ID);
    let peer = crate::client_ip(&parts.extensions);
    match msg {
        Message::Request(req) => request(&st, req, headers, session_header, sse_ok, principal, peer).await,
        Message::Notification(n) => {
            let session = match session_header {
                Some(id) => match crate::restore::find(&st, id, principal.as_deref()).await {
                    Some(s) => Some(s),
                    None => return error_response(&session_not_found(), None),
                },
                None => None,
            };
            st.server.handle_notification(n, session.as_ref());
            empty_response(StatusCode::ACCEPTED)
        }
        Message::Response(r) => {
            let Some(id) = session_header else {
                let e = ProtocolError::invalid_request(
                    "a JSON-RPC response needs the Mcp-Session-Id of the session that asked",
                );
                return error_response(&e, None);
            };
            let Some(session) = crate::restore::find(&st, id, principal.as_deref()).await else {
                return error_response(&session_not_found(), None);
            };
            st.server.handle_response(r, Some(&session));
            empty_response(StatusCode::ACCEPTED)
        }
    }
}

fn is_modern_marker(req: &Request, headers: &HeaderMap, in_session: bool) -> bool {
    let header_modern =
        || str_header(headers, &PROTOCOL_VERSION).is_some_and(|v| !era::legacy::is_legacy_version(v.trim()));
    if in_session { req.meta.protocol_version.is_some() } else { req.meta.present || header_modern() }
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
    let (era, session) = if is_modern_marker(&req, headers, session_header.is_some()) {
        let checked = era::modern::validate(&req, Some(&Headers(headers))).and_then(|v| {
            if req.method == "tools/call" {
                let snapshot = st.server.registry().snapshot();
                if let Some(tool) = req.name.as_deref().and_then(|n| snapshot.tools.get(n)) {
                    era::modern::validate_tool_param_headers(&req, tool.header_params(), &Headers(headers))?;
                }
            }
            Ok(v)
        });
        match checked {
            Ok(v) => (Era::Modern(v), None),
            Err(e) => return error_response(&e, Some(&req.id)),
        }
    } else if let Some(id) = session_header {
        let Some(s) = crate::restore::find(st, id, principal.as_deref()).await else {
            return error_response(&session_not_found(), Some(&req.id));
        };
        let version = match str_header(headers, &PROTOCOL_VERSION) {
            Some(h) => match era::legacy::version_from_header(Some(h)) {
                Ok(v) => v,
                Err(e) => return error_response(&e, Some(&req.id)),
            },
            None => s.init().map(|i| i.version).unwrap_or(ferromcp_core::protocol::V_2025_11_25),
        };
        (Era::Legacy(version), Some(s))
    } else if req.method == "initialize" {
        if st.cfg.stateful {
            let s = Session::for_client(principal.as_ref().map(|p| Arc::from(p.hashed())), peer);
            // A client at its session cap with no idle session to shed is refused before
            // `initialize` runs (and again, for good, when the session is registered).
            if let Err(e) = st.server.sessions().admits(&s) {
                return error_response(&e.into(), Some(&req.id));
            }
            if let Ok(v) = HeaderValue::from_str(s.id()) {
                extra.insert(SESSION_ID, v);
            }
            (Era::Legacy(ferromcp_core::protocol::V_2025_11_25), Some(s))
        } else {
            (Era::Legacy(ferromcp_core::protocol::V_2025_11_25), None)
        }
    } else if st.cfg.stateful {
        let e = ProtocolError::invalid_request(
            "Bad Request: Mcp-Session-Id header is required (send initialize first, or use 2026-07-28 _meta)",
        );
        return error_response(&e, Some(&req.id));
    } else {
        match era::legacy::version_from_header(str_header(headers, &PROTOCOL_VERSION)) {
            Ok(v) => (Era::Legacy(v), None),
            Err(e) => return error_response(&e, Some(&req.id)),
        }
    };
    let is_initialize = req.method == "initialize" && session.is_some() && matches!(era, Era::Legacy(_));
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
    let fut: ReplyFuture = Box::pin(st.server.handle_request(req, env));
    if is_initialize {
        // Register the session only once initialize succeeded.
        let reply = fut.await;
        if let (Some(s), false) = (session, reply.is_error) {
            if let Err(e) = st.server.sessions().try_insert(s.clone()) {
                return error_response(&e.into(), init_id.as_ref());
            }
            crate::restore::save(st, &s).await;
        } else {
            extra.remove(SESSION_ID);
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
