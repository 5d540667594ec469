//! POST (and DELETE): request headers, the 401/403 and 404 retry loop, JSON answers,
//! answering server requests, re-initialising a lost 2025-11-25 session.

use std::sync::Arc;

use ferromcp_core::ProtocolError;
use reqwest::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE, HeaderValue};
use reqwest::{RequestBuilder, Response, StatusCode};
use serde_json::{Value, json};
use tokio::sync::oneshot;

use super::headers::{self, PROTOCOL_VERSION, SESSION_ID};
use super::{HttpShared, Outcome, lock};
use crate::auth::{refused, send_noting_auth};
use crate::connection::decode_error;
use crate::error::{ClientError, Result};
use crate::options::ClientEra;
use crate::routing::CallSink;

/// The most bytes of an error body quoted in an error message.
const ERROR_BODY_QUOTE: usize = 300;
/// The largest JSON answer accepted, in bytes.
const MAX_JSON_BODY: usize = 64 * 1024 * 1024;

/// Maps a reqwest failure to a typed error.
pub(crate) fn transport_error(e: reqwest::Error) -> ClientError {
    if e.is_builder() {
        ClientError::Usage(format!(
            "the HTTP request could not be built ({e}); check the URL and the custom headers"
        ))
    } else if e.is_connect() || e.is_request() {
        ClientError::Connect(e.to_string())
    } else {
        ClientError::Io(std::io::Error::other(e))
    }
}

/// A JSON-RPC response object as an outcome.
pub(super) fn outcome_of(mut msg: Value) -> Outcome {
    match (msg.get_mut("result").map(Value::take), msg.get("error")) {
        (Some(result), None) => Ok(result),
        (None, Some(e)) => Err(decode_error(e)),
        _ => Err(ProtocolError::internal(
            "the server sent a response with neither or both of `result` and `error`",
        )),
    }
}

impl HttpShared {
    /// The request with every header but the body's: accept, session, version, routing
    /// headers (2026-07-28), custom headers and authorization.
    async fn builder(
        &self,
        http_method: reqwest::Method,
        rpc_method: Option<&str>,
        params: &Value,
    ) -> Result<RequestBuilder> {
        let (era, session, version) = {
            let st = lock(&self.state);
            (st.era, st.session.clone(), st.version.clone())
        };
        let accept = if http_method == reqwest::Method::GET {
            "text/event-stream"
        } else {
            "application/json, text/event-stream"
        };
        let mut b = self
            .http
            .request(http_method, self.url.clone())
            .header(ACCEPT, accept);
        if let Some(s) = session {
            b = b.header(SESSION_ID, s);
        }
        if let Some(v) = version {
            b = b.header(PROTOCOL_VERSION, v);
        }
        if era == ClientEra::Modern
            && let Some(m) = rpc_method
        {
            let routing = headers::routing(m, params, &lock(&self.tools));
            for (k, v) in routing {
                b = b.header(k, v);
            }
        }
        for (k, v) in &self.opts.headers {
            b = b.header(k.as_str(), v.as_str());
        }
        if let Some(auth) = &self.opts.auth
            && let Some(value) = auth.authorization().await?
        {
            let v = HeaderValue::from_str(&value).map_err(|_| {
                ClientError::Usage(
                    "the authorization provider returned a value that is not a valid header".into(),
                )
            })?;
            b = b.header(AUTHORIZATION, v);
        }
        Ok(b)
    }

    /// Sends one message, retrying after 401/403 as the auth provider says and, for a
    /// request of a 2025-11-25 session the server lost (404), after re-initialising.
    pub(super) async fn send(
        self: &Arc<Self>,
        http_method: reqwest::Method,
        body: Option<&Value>,
        last_event_id: Option<&str>,
    ) -> Result<Response> {
        let rpc_method = body.and_then(|b| b.get("method")).and_then(Value::as_str);
        let null = Value::Null;
        let params = body.and_then(|b| b.get("params")).unwrap_or(&null);
        let mut auth_attempt = 0;
        let mut reinitialised = false;
        loop {
            let sent_session = lock(&self.state).session.clone();
            let mut b = self
                .builder(http_method.clone(), rpc_method, params)
                .await?;
            if let Some(body) = body {
                let bytes = serde_json::to_vec(body).map_err(|e| {
                    ClientError::Usage(format!("the message does not serialize: {e}"))
                })?;
                b = b.header(CONTENT_TYPE, "application/json").body(bytes);
            }
            if let Some(id) = last_event_id {
                b = b.header("last-event-id", id);
            }
            let (resp, auth_sent) = send_noting_auth(b).await.map_err(transport_error)?;
            self.remember_session(&resp, rpc_method);
            let status = resp.status();
            if status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN {
                refused(
                    &self.opts,
                    &resp,
                    self.url.as_str(),
                    auth_attempt,
                    auth_sent,
                )
                .await?;
                auth_attempt += 1;
                continue;
            }
            let lost_session = status == StatusCode::NOT_FOUND
                && sent_session.is_some()
                && rpc_method != Some("initialize")
                && http_method == reqwest::Method::POST
                && !reinitialised;
            if lost_session {
                reinitialised = true;
                Box::pin(self.reinitialize(sent_session))
                    .await
                    .map_err(|e| ClientError::SessionExpired(e.to_string()))?;
                continue;
            }
            return Ok(resp);
        }
    }

    /// Keeps the session id the server assigned on `initialize` (2025-11-25 only).
    fn remember_session(&self, resp: &Response, rpc_method: Option<&str>) {
        if rpc_method != Some("initialize") || !resp.status().is_success() {
            return;
        }
        let id = resp
            .headers()
            .get(SESSION_ID)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let mut st = lock(&self.state);
        if st.era == ClientEra::Legacy {
            st.session = id;
        }
    }

    /// Posts a request and reads its answer (JSON or SSE).
    pub(super) async fn exchange(
        self: &Arc<Self>,
        id: i64,
        method: &str,
        params: &Value,
        call: Option<&Arc<CallSink>>,
        rx: oneshot::Receiver<Outcome>,
    ) -> Result<Value> {
        let body = json!({ "jsonrpc": "2.0", "id": id, "method": method, "params": params });
        let resp = self.send(reqwest::Method::POST, Some(&body), None).await?;
        if !resp.status().is_success() {
            return Err(error_from_response(resp).await);
        }
        if resp.status() == StatusCode::ACCEPTED {
            return Err(ClientError::Decode(format!(
                "the server answered the request `{method}` with 202 Accepted and no body"
            )));
        }
        let sse = resp
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|ct| ct.starts_with("text/event-stream"));
        if sse {
            return self.read_sse_answer(resp, id, method, call, rx).await;
        }
        let msg = read_json(resp).await?;
        match msg.get("id").and_then(Value::as_i64) {
            Some(got) if got == id => outcome_of(msg).map_err(ClientError::Protocol),
            _ => Err(ClientError::Decode(format!(
                "the JSON answer to `{method}` is not its response: {}",
                quote(&msg.to_string())
            ))),
        }
    }

    /// Posts a notification or a response; the server should answer 202.
    pub(super) async fn post_message(self: &Arc<Self>, body: &Value) -> Result<()> {
        let resp = self.send(reqwest::Method::POST, Some(body), None).await?;
        if resp.status().is_success() {
            Ok(())
        } else {
            Err(error_from_response(resp).await)
        }
    }

    /// DELETE the session (2025-11-25); a 405 (the server does not allow it) is fine.
    pub(super) async fn delete_session(self: &Arc<Self>, session: &str) {
        let mut b = self
            .http
            .delete(self.url.clone())
            .header(SESSION_ID, session);
        if let Some(v) = lock(&self.state).version.clone() {
            b = b.header(PROTOCOL_VERSION, v);
        }
        for (k, v) in &self.opts.headers {
            b = b.header(k.as_str(), v.as_str());
        }
        if let Some(auth) = &self.opts.auth
            && let Ok(Some(value)) = auth.authorization().await
        {
            b = b.header(AUTHORIZATION, value);
        }
        if let Err(e) = b.send().await {
            tracing::debug!(error = %e, "DELETE of the MCP session failed");
        }
    }

    /// Opens a new 2025-11-25 session after the server forgot `lost` (HTTP 404).
    async fn reinitialize(self: &Arc<Self>, lost: Option<String>) -> Result<()> {
        let _one_at_a_time = self.reinit.lock().await;
        let (init, level) = {
            let mut st = lock(&self.state);
            if st.session != lost {
                // Another request already opened a new session.
                return Ok(());
            }
            st.session = None;
            (st.init.clone(), st.log_level.clone())
        };
        let init = init.ok_or_else(|| {
            ClientError::Usage("no `initialize` to repeat: the session was never opened".into())
        })?;
        tracing::info!("the MCP server lost the session (404); initialising a new one");
        let id = self.next_id();
        let (tx, rx) = oneshot::channel();
        lock(&self.pending).insert(id, tx);
        let r = self.exchange(id, "initialize", &init, None, rx).await;
        lock(&self.pending).remove(&id);
        r?;
        let note = json!({ "jsonrpc": "2.0", "method": "notifications/initialized" });
        self.post_message(&note).await?;
        if let Some(level) = level {
            let id = self.next_id();
            let (tx, rx) = oneshot::channel();
            lock(&self.pending).insert(id, tx);
            let r = self
                .exchange(id, "logging/setLevel", &json!({ "level": level }), None, rx)
                .await;
            lock(&self.pending).remove(&id);
            r?;
        }
        self.start_get_stream().await;
        Ok(())
    }

    /// Answers a server request (2025-11-25) with the handlers, in the background,
    /// attributing it to `call` when it arrived on that call's stream.
    pub(super) fn answer_server_request(self: &Arc<Self>, msg: Value, call: Option<Arc<CallSink>>) {
        let me = self.clone();
        tokio::spawn(async move {
            let reply = me.router.answer(&msg, call.map(|c| c.info.clone())).await;
            if let Err(e) = me.post_message(&reply).await {
                tracing::warn!(error = %e, "could not send an answer to the server");
            }
        });
    }
}

/// Reads a JSON body (bounded).
async fn read_json(resp: Response) -> Result<Value> {
    if resp
        .content_length()
        .is_some_and(|n| n > MAX_JSON_BODY as u64)
    {
        return Err(ClientError::Decode(format!(
            "the server's answer is larger than {MAX_JSON_BODY} bytes"
        )));
    }
    let bytes = resp.bytes().await.map_err(transport_error)?;
    serde_json::from_slice(&bytes).map_err(|e| {
        ClientError::Decode(format!(
            "the server's answer is not JSON ({e}): {}",
            quote(&String::from_utf8_lossy(&bytes))
        ))
    })
}

/// The typed error for a non-success answer: the JSON-RPC error in the body if there
/// is one, otherwise the status and the start of the body.
pub(crate) async fn error_from_response(resp: Response) -> ClientError {
    let status = resp.status().as_u16();
    let body = resp.bytes().await.unwrap_or_default();
    if let Ok(v) = serde_json::from_slice::<Value>(&body)
        && let Some(e) = v.get("error")
        && e.get("code").is_some()
    {
        return ClientError::Protocol(decode_error(e));
    }
    let text = String::from_utf8_lossy(&body);
    let reason = StatusCode::from_u16(status)
        .ok()
        .and_then(|s| s.canonical_reason())
        .unwrap_or("error");
    ClientError::Http {
        status,
        message: if text.trim().is_empty() {
            reason.to_owned()
        } else {
            format!("{reason}: {}", quote(&text))
        },
    }
}

/// The start of a long text, for error messages.
fn quote(s: &str) -> String {
    match s.char_indices().nth(ERROR_BODY_QUOTE) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_owned(),
    }
}
