//! A 2026-07-28 frontend call over a 2026-07-28 backend: the MRTR loop relayed round by
//! round.
//!
//! The backend is called with the frontend's own client capabilities (so it never asks
//! for what the frontend cannot answer, and a missing capability reaches the frontend as
//! the backend's `-32021`). When the backend answers `input_required`, each of its input
//! requests becomes an ask of the frontend call under the same key (a key reused by a
//! later round gets a round suffix), so the frontend call ends with its own
//! `InputRequiredResult`. Every backend result of a round — with the backend's
//! `requestState` in it — is memoised with `Context::once`, so it travels inside the
//! proxy's own sealed `requestState`, bound to the frontend caller, method, target and
//! arguments. On the retry the frontend handler replays: memoised rounds are not sent
//! again, the answers come from the frontend's `inputResponses`, and the next backend
//! round carries them with the backend's `requestState`, verbatim.

use std::collections::HashSet;
use std::sync::Arc;

use ferromcp_client::ClientError;
use ferromcp_client::mrtr::is_input_required;
use ferromcp_core::context::SamplingRequest;
use ferromcp_core::{Context, Error, ProtocolError};
use futures_util::future::try_join_all;
use serde_json::{Map, Value, json};
use tokio::sync::{broadcast, mpsc};

use crate::backend::{Backend, Conn, Note};
use crate::config::Mode;

/// The most `input_required` rounds relayed for one frontend call.
const MAX_ROUNDS: u32 = 10;
/// Where 2026-07-28 requests carry the client's capabilities.
const META_CAPS: &str = "io.modelcontextprotocol/clientCapabilities";

impl Backend {
    /// Runs `method` with `base` params on the backend for the modern frontend call
    /// `ctx`, relaying every `input_required` round to the frontend; returns the
    /// backend's complete result.
    pub(crate) async fn relay(
        &self,
        ctx: &Context,
        method: &str,
        base: Map<String, Value>,
        what: &str,
    ) -> Result<Value, Error> {
        let caps = serde_json::to_value(ctx.client_capabilities()).unwrap_or_else(|_| json!({}));
        let progress = ctx.progress_token().is_some();
        // A fresh-mode connection carries one call at a time: all its logs are this call's.
        let exclusive = self.cfg.mode == Mode::Fresh;
        let mut retry: Option<(Map<String, Value>, Option<String>)> = None;
        let mut keys_used: HashSet<String> = HashSet::new();
        for round in 1..=MAX_ROUNDS {
            let mut params = base.clone();
            if let Some((responses, state)) = retry.take() {
                params.insert("inputResponses".into(), Value::Object(responses));
                if let Some(s) = state {
                    params.insert("requestState".into(), Value::String(s));
                }
            }
            let mut meta = Map::new();
            meta.insert(META_CAPS.into(), caps.clone());
            params.insert("_meta".into(), Value::Object(meta));
            let mut failure: Option<Error> = None;
            let method_owned = method.to_owned();
            let memo: Option<Value> = ctx
                .once(&format!("proxy-round-{round}"), || async {
                    let op = move |conn, tag, tx| raw_round(conn, tag, tx, method_owned, params, progress, exclusive);
                    match self.forward(ctx.clone(), what, op).await {
                        Ok(v) => Some(v),
                        Err(e) => {
                            failure = Some(e);
                            None
                        }
                    }
                })
                .await?;
            let Some(value) = memo else {
                return Err(failure.unwrap_or_else(|| {
                    Error::tool(format!("backend `{}` failed during `{what}`; retry the call", self.cfg.name))
                }));
            };
            if !is_input_required(&value) {
                return Ok(value);
            }
            let requests = value
                .get("inputRequests")
                .and_then(Value::as_object)
                .filter(|r| !r.is_empty())
                .ok_or_else(|| malformed(&self.cfg.name, "an input_required result without inputRequests"))?;
            let state = match value.get("requestState") {
                None | Some(Value::Null) => None,
                Some(Value::String(s)) => Some(s.clone()),
                Some(_) => return Err(malformed(&self.cfg.name, "a requestState that is not a string")),
            };
            let asks = requests.iter().map(|(key, req)| {
                let frontend_key = if keys_used.contains(key) { format!("{key}~round{round}") } else { key.clone() };
                async move { ask_frontend(ctx, req, frontend_key).await.map(|answer| (key.clone(), answer)) }
            });
            let answers: Map<String, Value> = try_join_all(asks).await?.into_iter().collect();
            keys_used.extend(requests.keys().cloned());
            retry = Some((answers, state));
        }
        Err(Error::tool(format!(
            "backend `{}` asked for input more than {MAX_ROUNDS} times during `{what}`; the proxy gave up",
            self.cfg.name
        )))
    }
}

fn malformed(backend: &str, what: &str) -> Error {
    Error::Protocol(ProtocolError::internal(format!("backend `{backend}` sent {what}")))
}

/// Asks the frontend call `ctx` one backend input request under `key`.
pub(crate) async fn ask_frontend(ctx: &Context, req: &Value, key: String) -> Result<Value, Error> {
    let method = req.get("method").and_then(Value::as_str).unwrap_or_default();
    let params = req.get("params").cloned().unwrap_or_else(|| json!({}));
    let to_value = |v: Result<Value, serde_json::Error>| v.map_err(|e| Error::Other(e.to_string()));
    match method {
        "elicitation/create" => {
            let message = params.get("message").and_then(Value::as_str).unwrap_or_default().to_owned();
            let schema = params.get("requestedSchema").cloned().unwrap_or_else(|| json!({"type": "object"}));
            to_value(serde_json::to_value(ctx.elicit_schema(message, schema).key(key).await?))
        }
        "sampling/createMessage" => {
            let Value::Object(map) = params else {
                return Err(Error::invalid_params("sampling/createMessage params must be an object"));
            };
            let request = map.into_iter().fold(SamplingRequest::user(""), |r, (k, v)| r.param(k, v));
            to_value(serde_json::to_value(ctx.sample(request).key(key).await?))
        }
        "roots/list" => Ok(json!({ "roots": ctx.list_roots().key(key).await? })),
        other => Err(Error::Protocol(ProtocolError::invalid_params(format!(
            "the backend asked for `{other}`, which the proxy cannot forward"
        )))),
    }
}

/// One backend request of a relayed call: its progress (under a token of its own) and,
/// when `exclusive` (a fresh-mode connection carries this call alone), its logs are
/// forwarded to `tx`.
async fn raw_round(
    conn: Arc<Conn>,
    tag: String,
    tx: mpsc::UnboundedSender<Note>,
    method: String,
    mut params: Map<String, Value>,
    progress: bool,
    exclusive: bool,
) -> Result<Value, ClientError> {
    if !progress && !exclusive {
        return conn.client.request(&method, Value::Object(params)).await;
    }
    let token = format!("{tag}-progress");
    if progress && let Some(Value::Object(meta)) = params.get_mut("_meta") {
        meta.insert("progressToken".into(), Value::String(token.clone()));
    }
    let mut notes = conn.client.notifications();
    let forward = |msg: &Value| {
        let p = msg.get("params");
        match msg.get("method").and_then(Value::as_str) {
            Some("notifications/progress")
                if p.and_then(|p| p.get("progressToken")).and_then(Value::as_str) == Some(token.as_str()) =>
            {
                let _ = tx.send(Note::Progress(p.cloned().unwrap_or(Value::Null)));
            }
            Some("notifications/message") if exclusive => {
                let _ = tx.send(Note::Log(p.cloned().unwrap_or(Value::Null)));
            }
            _ => {}
        }
    };
    let request = conn.client.request(&method, Value::Object(params));
    tokio::pin!(request);
    loop {
        tokio::select! {
            out = &mut request => {
                while let Ok(msg) = notes.try_recv() {
                    forward(&msg);
                }
                return out;
            }
            msg = notes.recv() => match msg {
                Ok(msg) => forward(&msg),
                Err(broadcast::error::RecvError::Lagged(_)) => {}
                Err(broadcast::error::RecvError::Closed) => return request.await,
            },
        }
    }
}
