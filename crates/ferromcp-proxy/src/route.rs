//! Which frontend request a backend ask belongs to.
//!
//! Every backend call is made on behalf of one frontend [`Context`]: before the call the
//! proxy enters that Context in the connection's [`Routes`] under a fresh tag and sends
//! the tag with the call ([`ferromcp_client::ToolCall::tag`]); the client hands the tag
//! back with every elicitation, sampling and roots ask it can attribute (Streamable HTTP
//! POST streams, 2026-07-28 `input_required` results). The handler answers through that
//! Context — never an ambient or restored one.
//!
//! Where the client cannot attribute an ask (a 2025-11-25 stdio backend), the ask
//! belongs to the connection's only call in flight; the proxy guarantees there is at
//! most one (fresh connections carry one call; affinity stdio connections serialise).
//! With zero or several calls in flight the ask is refused, never guessed.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use ferromcp_client::{CallInfo, ClientHandlers};
use ferromcp_core::context::SamplingRequest;
use ferromcp_core::error::code;
use ferromcp_core::{Context, ProtocolError};
use serde_json::{Value, json};
use tokio::sync::mpsc;

use crate::bridge::{self, Event};

/// Where the asks of one backend call go.
#[derive(Clone)]
pub(crate) enum Target {
    /// Straight to the frontend request (a 2025-11-25 frontend: real requests on its
    /// stream).
    Direct(Context),
    /// To a bridged call waiting across the rounds of a 2026-07-28 frontend (see
    /// `bridge.rs`).
    Bridge(mpsc::UnboundedSender<Event>),
}

/// The targets of the calls in flight on one backend connection.
#[derive(Default)]
pub(crate) struct Routes {
    calls: Mutex<HashMap<String, Target>>,
    next: AtomicU64,
}

/// Removes a call's route when the call ends.
pub(crate) struct RouteGuard {
    routes: Arc<Routes>,
    tag: String,
}

impl Drop for RouteGuard {
    fn drop(&mut self) {
        lock(&self.routes.calls).remove(&self.tag);
    }
}

impl Routes {
    /// Enters `ctx` under a fresh tag; the route lives until the guard drops.
    pub(crate) fn enter(self: &Arc<Self>, ctx: Target) -> (String, RouteGuard) {
        let tag = format!("proxy-call-{}", self.next.fetch_add(1, Ordering::Relaxed) + 1);
        lock(&self.calls).insert(tag.clone(), ctx);
        let guard = RouteGuard { routes: self.clone(), tag: tag.clone() };
        (tag, guard)
    }

    /// Whether no call is in flight.
    pub(crate) fn is_empty(&self) -> bool {
        lock(&self.calls).is_empty()
    }

    /// The target an ask belongs to: by tag, or the only call in flight.
    pub(crate) fn find(&self, call: Option<&CallInfo>) -> Result<Target, ProtocolError> {
        let calls = lock(&self.calls);
        if let Some(tag) = call.and_then(|c| c.tag.as_deref()) {
            return calls.get(tag).cloned().ok_or_else(|| {
                ProtocolError::new(code::INVALID_REQUEST, format!("the proxy call `{tag}` has already ended"))
            });
        }
        let mut live = calls.values();
        match (live.next(), live.next()) {
            (Some(ctx), None) => Ok(ctx.clone()),
            (None, _) => Err(ProtocolError::new(
                code::INVALID_REQUEST,
                "the proxy has no call in flight on this connection to forward this request to",
            )),
            (Some(_), Some(_)) => Err(ProtocolError::new(
                code::INVALID_REQUEST,
                "the proxy cannot tell which call this request belongs to; it refuses rather than guess",
            )),
        }
    }

    /// The client handlers of one backend connection: each ask is answered through the
    /// Context of the call that caused it.
    pub(crate) fn handlers(self: &Arc<Self>) -> ClientHandlers {
        let (r1, r2, r3) = (self.clone(), self.clone(), self.clone());
        ClientHandlers::new()
            .elicitation_for_call(move |params, call| {
                let found = r1.find(call.as_deref());
                async move {
                    match found? {
                        Target::Direct(ctx) => elicit(ctx, params).await,
                        Target::Bridge(tx) => bridge::ask(&tx, "elicitation/create", params).await,
                    }
                }
            })
            .sampling_for_call(move |params, call| {
                let found = r2.find(call.as_deref());
                async move {
                    match found? {
                        Target::Direct(ctx) => sample(ctx, params).await,
                        Target::Bridge(tx) => bridge::ask(&tx, "sampling/createMessage", params).await,
                    }
                }
            })
            .roots_for_call(move |params, call| {
                let found = r3.find(call.as_deref());
                async move {
                    match found? {
                        Target::Direct(ctx) => {
                            let roots = ctx.list_roots().await.map_err(|e| e.into_protocol())?;
                            Ok(json!({ "roots": roots }))
                        }
                        Target::Bridge(tx) => bridge::ask(&tx, "roots/list", params).await,
                    }
                }
            })
    }
}

async fn elicit(ctx: Context, params: Value) -> Result<Value, ProtocolError> {
    let message = params.get("message").and_then(Value::as_str).unwrap_or_default().to_owned();
    let schema = params.get("requestedSchema").cloned().unwrap_or_else(|| json!({"type": "object"}));
    let result = ctx.elicit_schema(message, schema).await.map_err(|e| e.into_protocol())?;
    serde_json::to_value(result).map_err(|e| ProtocolError::internal(e.to_string()))
}

async fn sample(ctx: Context, params: Value) -> Result<Value, ProtocolError> {
    let Value::Object(map) = params else {
        return Err(ProtocolError::invalid_params("sampling/createMessage params must be an object"));
    };
    let request = map.into_iter().fold(SamplingRequest::user(""), |r, (k, v)| r.param(k, v));
    let result = ctx.sample(request).await.map_err(|e| e.into_protocol())?;
    serde_json::to_value(result).map_err(|e| ProtocolError::internal(e.to_string()))
}

pub(crate) fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}
