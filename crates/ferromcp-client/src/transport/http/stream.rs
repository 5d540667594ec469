//! SSE streams: a request's answer stream (with resumption) and the standalone GET
//! stream of a 2025-11-25 session.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures_util::Stream;
use futures_util::future::BoxFuture;
use reqwest::header::CONTENT_TYPE;
use reqwest::{Response, StatusCode};
use serde_json::Value;
use tokio::sync::oneshot;

use super::post::outcome_of;
use super::sse::SseReader;
use super::{HttpShared, Outcome, lock};
use crate::error::{ClientError, Result};
use crate::options::ClientEra;
use crate::routing::CallSink;

/// Consecutive failed attempts before the standalone GET stream gives up.
const GET_STREAM_MAX_FAILURES: usize = 5;
/// The longest the handshake waits for the server to answer the first standalone GET.
const GET_STREAM_READY_WAIT: Duration = Duration::from_secs(5);

type Events = SseReader<std::pin::Pin<Box<dyn Stream<Item = reqwest::Result<Bytes>> + Send>>>;

fn events(resp: Response) -> Events {
    SseReader::new(Box::pin(resp.bytes_stream()))
}

fn is_sse(resp: &Response) -> bool {
    resp.headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.starts_with("text/event-stream"))
}

/// What one SSE message was.
enum Handled {
    /// The awaited response.
    Answer(Outcome),
    /// Anything else (notification, server request, another request's response).
    Other,
}

impl HttpShared {
    /// Handles one event's data: notifications are routed (to `call` when it arrived on
    /// that call's stream), server requests answered, responses completed.
    fn handle_data(
        self: &Arc<Self>,
        data: &str,
        awaited: Option<i64>,
        call: Option<&Arc<CallSink>>,
    ) -> Handled {
        let msg: Value = match serde_json::from_str(data) {
            Ok(v @ Value::Object(_)) => v,
            _ => {
                tracing::warn!("ignored an SSE event that is not a JSON-RPC object");
                return Handled::Other;
            }
        };
        let has_method = msg.get("method").is_some_and(Value::is_string);
        let id = msg.get("id").filter(|v| !v.is_null()).cloned();
        match (has_method, id) {
            (true, None) => self.router.deliver(msg, call),
            (true, Some(_)) => self.answer_server_request(msg, call.cloned()),
            (false, Some(id)) => {
                let outcome = outcome_of(msg);
                match id.as_i64() {
                    Some(n) if Some(n) == awaited => return Handled::Answer(outcome),
                    Some(n) if self.complete(n, outcome) => {}
                    _ => tracing::debug!(%id, "a response nobody waits for"),
                }
            }
            (false, None) => tracing::warn!("ignored an SSE message without method or id"),
        }
        Handled::Other
    }

    /// Reads the SSE answer to request `id`. When the stream ends before the answer and
    /// the server gave event ids (2025-11-25), it waits the server's `retry:` and
    /// resumes with GET + `Last-Event-ID`, up to `max_reconnects` times in a row.
    pub(super) async fn read_sse_answer(
        self: &Arc<Self>,
        resp: Response,
        id: i64,
        method: &str,
        call: Option<&Arc<CallSink>>,
        mut rx: oneshot::Receiver<Outcome>,
    ) -> Result<Value> {
        let mut stream = events(resp);
        let mut last_id: Option<String> = None;
        let mut retry: Option<Duration> = None;
        let mut failures = 0usize;
        loop {
            let why = loop {
                let ev = tokio::select! {
                    ev = stream.next() => ev,
                    r = &mut rx => return elsewhere(r),
                };
                match ev {
                    Some(Ok(ev)) => {
                        if ev.id.is_some() {
                            last_id = ev.id.clone();
                        }
                        if ev.retry.is_some() {
                            retry = ev.retry;
                        }
                        if ev.data.trim().is_empty() {
                            continue;
                        }
                        failures = 0;
                        if let Handled::Answer(o) = self.handle_data(&ev.data, Some(id), call) {
                            return o.map_err(ClientError::Protocol);
                        }
                    }
                    Some(Err(e)) => break e,
                    None => break "the stream ended".to_owned(),
                }
            };
            let Some(resume_from) = last_id.clone() else {
                return Err(ended(
                    method,
                    format!("{why}, and it carried no event id to resume from"),
                ));
            };
            if self.era() != ClientEra::Legacy {
                return Err(ended(
                    method,
                    format!("{why}; 2026-07-28 streams cannot be resumed"),
                ));
            }
            loop {
                if failures >= self.opts.max_reconnects {
                    return Err(ended(
                        method,
                        format!("{why}; gave up after {failures} attempts to resume it"),
                    ));
                }
                failures += 1;
                let wait = retry.unwrap_or(self.opts.default_retry);
                tokio::select! {
                    _ = tokio::time::sleep(wait) => {}
                    r = &mut rx => return elsewhere(r),
                }
                tracing::debug!(method, last_event_id = %resume_from, "resuming an SSE stream");
                let resumed = tokio::select! {
                    r = self.send(reqwest::Method::GET, None, Some(&resume_from)) => r,
                    r = &mut rx => return elsewhere(r),
                };
                match resumed {
                    Ok(r) if r.status().is_success() && is_sse(&r) => {
                        stream = events(r);
                        break;
                    }
                    Ok(r) if r.status().is_client_error() => {
                        return Err(ended(
                            method,
                            format!(
                                "{why}, and resuming it was refused with HTTP {}",
                                r.status()
                            ),
                        ));
                    }
                    Ok(r) => tracing::debug!(status = %r.status(), "resume attempt failed"),
                    Err(e) => tracing::debug!(error = %e, "resume attempt failed"),
                }
            }
        }
    }

    /// Opens (or re-opens) the standalone GET stream of a 2025-11-25 session and waits
    /// (at most [`GET_STREAM_READY_WAIT`]) until the server answered the first GET, so
    /// messages the server sends there right after are not lost.
    pub(super) async fn start_get_stream(self: &Arc<Self>) {
        if !self.opts.open_get_stream || self.closed.is_cancelled() {
            return;
        }
        let me = self.clone();
        let (ready, answered) = oneshot::channel();
        let task = tokio::spawn(me.get_stream_loop(ready));
        if let Some(old) = lock(&self.get_task).replace(task) {
            old.abort();
        }
        let _ = tokio::time::timeout(GET_STREAM_READY_WAIT, answered).await;
    }

    /// The GET stream's loop, boxed as `Send` (it can re-open a session, which starts
    /// a new loop: the explicit type breaks that cycle for the compiler).
    fn get_stream_loop(self: Arc<Self>, ready: oneshot::Sender<()>) -> BoxFuture<'static, ()> {
        Box::pin(async move {
            let mut ready = Some(ready);
            let mut last_id: Option<String> = None;
            let mut retry: Option<Duration> = None;
            let mut failures = 0;
            while !self.closed.is_cancelled() && failures < GET_STREAM_MAX_FAILURES {
                let answer = self
                    .send(reqwest::Method::GET, None, last_id.as_deref())
                    .await;
                if let Some(r) = ready.take() {
                    let _ = r.send(());
                }
                match answer {
                    Ok(r) if r.status().is_success() && is_sse(&r) => {
                        failures = 0;
                        let mut stream = events(r);
                        while let Some(Ok(ev)) = stream.next().await {
                            if ev.id.is_some() {
                                last_id = ev.id.clone();
                            }
                            if ev.retry.is_some() {
                                retry = ev.retry;
                            }
                            if !ev.data.trim().is_empty() {
                                self.handle_data(&ev.data, None, None);
                            }
                        }
                    }
                    Ok(r) if r.status() == StatusCode::METHOD_NOT_ALLOWED => {
                        tracing::debug!("the server offers no standalone GET stream (405)");
                        return;
                    }
                    Ok(r) if r.status().is_client_error() => {
                        tracing::debug!(status = %r.status(), "the standalone GET stream was refused");
                        return;
                    }
                    Ok(r) => {
                        failures += 1;
                        tracing::debug!(status = %r.status(), "the standalone GET stream failed");
                    }
                    Err(e) => {
                        failures += 1;
                        tracing::debug!(error = %e, "the standalone GET stream failed");
                    }
                }
                tokio::time::sleep(retry.unwrap_or(self.opts.default_retry)).await;
            }
        })
    }
}

/// The outcome of a response that arrived on another stream.
fn elsewhere(r: std::result::Result<Outcome, oneshot::error::RecvError>) -> Result<Value> {
    match r {
        Ok(o) => o.map_err(ClientError::Protocol),
        Err(_) => Err(ClientError::Closed),
    }
}

fn ended(method: &str, reason: String) -> ClientError {
    ClientError::StreamEnded {
        method: method.to_owned(),
        reason,
    }
}
