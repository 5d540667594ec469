//! GET (the legacy standalone SSE stream of a session) and DELETE (end a session).
//! Modern clients use neither: without a session both answer 405.

use std::sync::Arc;

use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::Response;
use ferromcp_core::ProtocolError;
use ferromcp_core::error::code;
use ferromcp_core::jsonrpc;
use ferromcp_core::outbound::Outbound;
use tokio::sync::broadcast::error::RecvError;

use crate::AppState;
use crate::headers::{SESSION_ID, accepts, str_header};
use crate::post::error_response;
use crate::stream::{channel_body, empty_response, sse_event, sse_response};

fn method_not_allowed() -> Response {
    let mut r = error_response(
        &ProtocolError::new(
            code::METHOD_NOT_FOUND,
            "Method Not Allowed: this endpoint takes POST; GET and DELETE need a legacy Mcp-Session-Id",
        )
        .with_status(405),
        None,
    );
    r.headers_mut().insert(header::ALLOW, HeaderValue::from_static("POST"));
    r
}

fn not_found() -> Response {
    error_response(&ProtocolError::new(code::SESSION_NOT_FOUND, "Session not found").with_status(404), None)
}

pub(crate) async fn delete(State(st): State<Arc<AppState>>, headers: HeaderMap) -> Response {
    if let Err(why) = crate::guard::check(&st.cfg.dns_rebinding, &headers) {
        return error_response(&ProtocolError::invalid_request(why).with_status(403), None);
    }
    let principal = match crate::auth::authenticate(st.cfg.auth.as_ref(), &headers).await {
        Ok(p) => p,
        Err(resp) => return resp,
    };
    let Some(id) = str_header(&headers, &SESSION_ID) else { return method_not_allowed() };
    let owned = st.server.sessions().get(id).is_some_and(|s| crate::auth::may_use(&s, principal.as_deref()));
    if owned && st.server.sessions().remove(id) { empty_response(StatusCode::OK) } else { not_found() }
}

pub(crate) async fn get(State(st): State<Arc<AppState>>, headers: HeaderMap) -> Response {
    if let Err(why) = crate::guard::check(&st.cfg.dns_rebinding, &headers) {
        return error_response(&ProtocolError::invalid_request(why).with_status(403), None);
    }
    let principal = match crate::auth::authenticate(st.cfg.auth.as_ref(), &headers).await {
        Ok(p) => p,
        Err(resp) => return resp,
    };
    let Some(id) = str_header(&headers, &SESSION_ID) else { return method_not_allowed() };
    let Some(session) = st.server.sessions().get(id).filter(|s| crate::auth::may_use(s, principal.as_deref())) else {
        return not_found();
    };
    if !accepts(&headers, "text/event-stream") {
        return error_response(
            &ProtocolError::invalid_request("Accept must include text/event-stream").with_status(406),
            None,
        );
    }
    if session.has_stream() {
        return error_response(
            &ProtocolError::invalid_request("Conflict: this session already has an open GET stream").with_status(409),
            None,
        );
    }
    let (out, mut frames) = Outbound::channel();
    session.set_stream(Some(out));
    let (tx, rx) = tokio::sync::mpsc::channel(32);
    let mut changes = st.server.registry().subscribe();
    let mut updates = st.server.resource_updates();
    let keep_alive = st.cfg.keep_alive;
    let weak = Arc::downgrade(&session);
    drop(session);
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(keep_alive);
        tick.tick().await;
        loop {
            let frame: Option<bytes::Bytes> = tokio::select! {
                _ = tx.closed() => break,
                _ = tick.tick() => Some(bytes::Bytes::from_static(b": keep-alive\n\n")),
                f = frames.recv() => match f {
                    Some(f) => Some(sse_event(&f)),
                    None => break,
                },
                c = changes.recv() => match c {
                    Ok(what) => {
                        let mut buf = Vec::new();
                        let _ = jsonrpc::write_notification(&mut buf, what.method(), &serde_json::json!({}));
                        Some(sse_event(&buf))
                    }
                    Err(RecvError::Lagged(_)) => None,
                    Err(RecvError::Closed) => break,
                },
                u = updates.recv() => match u {
                    Ok(uri) => {
                        let Some(s) = weak.upgrade() else { break };
                        s.is_subscribed(&uri).then(|| {
                            let mut buf = Vec::new();
                            let _ = jsonrpc::write_notification(&mut buf, "notifications/resources/updated", &serde_json::json!({ "uri": &*uri }));
                            sse_event(&buf)
                        })
                    }
                    Err(RecvError::Lagged(_)) => None,
                    Err(RecvError::Closed) => break,
                },
            };
            if let Some(f) = frame
                && tx.send(f).await.is_err()
            {
                break;
            }
        }
        if let Some(s) = weak.upgrade() {
            s.set_stream(None);
        }
    });
    sse_response(channel_body(rx), HeaderMap::new())
}
