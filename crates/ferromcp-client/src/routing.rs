//! Per-call routing: which call a server message belongs to.
//!
//! Every call made through [`crate::ToolCall`] (and every request the typed methods make)
//! can carry a [`CallInfo`]: a client-local call number, the method, the tool or prompt
//! name, the arguments and a caller-supplied tag. Messages reach the handlers and the
//! [`CallEvent`] stream with that call attached when the transport can tell:
//!
//! | Message | Streamable HTTP | 2026-07-28, any transport | stdio / byte streams, 2025-11-25 |
//! |---|---|---|---|
//! | elicitation, sampling, roots | the POST stream it arrives on | the `input_required` result | unknown (`None`) |
//! | `notifications/progress` | the POST stream, or the progress token | the progress token | the progress token |
//! | `notifications/message` (logs) | the POST stream | the POST stream (HTTP only) | unknown (`None`) |
//!
//! On a line-delimited transport the 2025-11-25 protocol does not say which request a
//! server request or a log belongs to; the client then passes `None` rather than guess.
//! A proxy that must stay unambiguous there runs one call at a time per connection.

use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use serde_json::Value;
use tokio::sync::broadcast;

use crate::options::ClientHandlers;

/// Notifications buffered per subscriber before the slowest one lags.
const NOTIFY_BUFFER: usize = 1024;

/// A callback for one call's progress or log notifications; it receives `params`.
pub type CallCallback = Arc<dyn Fn(Value) + Send + Sync>;

/// Which call a server message belongs to.
#[derive(Debug, Clone, PartialEq)]
pub struct CallInfo {
    /// A client-local call number, unique per client and stable across the MRTR rounds
    /// (each round has its own JSON-RPC id).
    pub call_id: u64,
    /// The request method (`tools/call`, `prompts/get`, `resources/read`, …).
    pub method: String,
    /// The tool or prompt name, or the resource URI.
    pub name: Option<String>,
    /// The call's arguments, if any.
    pub arguments: Option<Value>,
    /// The caller-supplied tag (see [`crate::ToolCall::tag`]).
    pub tag: Option<String>,
    /// The progress token sent with the call, if any.
    pub progress_token: Option<String>,
}

/// One call in flight: its description and its own progress/log callbacks.
pub(crate) struct CallSink {
    pub(crate) info: Arc<CallInfo>,
    pub(crate) on_progress: Option<CallCallback>,
    pub(crate) on_log: Option<CallCallback>,
    /// Called with every whole notification delivered for this call (a listen stream).
    pub(crate) on_notification: Option<CallCallback>,
}

impl fmt::Debug for CallSink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CallSink")
            .field("info", &self.info)
            .finish_non_exhaustive()
    }
}

/// A server notification with the call it belongs to, when known.
#[derive(Debug, Clone)]
pub struct CallEvent {
    /// The call, or `None` when the transport cannot tell (see the module docs).
    pub call: Option<Arc<CallInfo>>,
    /// The whole JSON-RPC notification.
    pub message: Value,
}

impl CallEvent {
    /// The notification's method.
    pub fn method(&self) -> &str {
        self.message
            .get("method")
            .and_then(Value::as_str)
            .unwrap_or_default()
    }
}

/// Delivers server notifications and questions: per-call callbacks, the broadcast of
/// raw notifications, the [`CallEvent`] broadcast, and the handlers.
pub(crate) struct Router {
    pub(crate) handlers: ClientHandlers,
    notifications: broadcast::Sender<Value>,
    events: broadcast::Sender<CallEvent>,
    by_token: Mutex<HashMap<String, Arc<CallSink>>>,
    next_call: AtomicU64,
}

impl Router {
    pub(crate) fn new(handlers: ClientHandlers) -> Arc<Router> {
        Arc::new(Router {
            handlers,
            notifications: broadcast::channel(NOTIFY_BUFFER).0,
            events: broadcast::channel(NOTIFY_BUFFER).0,
            by_token: Mutex::new(HashMap::new()),
            next_call: AtomicU64::new(0),
        })
    }

    pub(crate) fn next_call_id(&self) -> u64 {
        self.next_call.fetch_add(1, Ordering::Relaxed) + 1
    }

    pub(crate) fn subscribe(&self) -> broadcast::Receiver<Value> {
        self.notifications.subscribe()
    }

    pub(crate) fn subscribe_events(&self) -> broadcast::Receiver<CallEvent> {
        self.events.subscribe()
    }

    /// Routes progress carrying `token` to `sink` until the returned guard drops.
    pub(crate) fn register(self: &Arc<Self>, token: String, sink: Arc<CallSink>) -> TokenGuard {
        lock(&self.by_token).insert(token.clone(), sink);
        TokenGuard {
            router: self.clone(),
            token,
        }
    }

    /// Answers a server request (`msg`, with `id` and `method`) with the handlers;
    /// returns the JSON-RPC response to send back.
    pub(crate) async fn answer(&self, msg: &Value, call: Option<Arc<CallInfo>>) -> Value {
        let id = msg.get("id").cloned().unwrap_or(Value::Null);
        let method = msg
            .get("method")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let params = msg
            .get("params")
            .cloned()
            .unwrap_or_else(|| serde_json::json!({}));
        match self.handlers.dispatch(method, params, call).await {
            Ok(result) => serde_json::json!({ "jsonrpc": "2.0", "id": id, "result": result }),
            Err(e) => {
                let mut error = serde_json::json!({ "code": e.code, "message": e.message });
                if let Some(data) = &e.data {
                    error["data"] = (**data).clone();
                }
                serde_json::json!({ "jsonrpc": "2.0", "id": id, "error": error })
            }
        }
    }

    /// Delivers a notification; `call` is the call whose stream it arrived on, if any.
    pub(crate) fn deliver(&self, msg: Value, call: Option<&Arc<CallSink>>) {
        let method = msg
            .get("method")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let params = msg.get("params").cloned().unwrap_or(Value::Null);
        let by_token = if method == "notifications/progress" {
            token_key(params.get("progressToken"))
                .and_then(|t| lock(&self.by_token).get(&t).cloned())
        } else {
            None
        };
        let sink = by_token.as_ref().or(call);
        if let Some(sink) = sink {
            let callback = match method {
                "notifications/progress" => sink.on_progress.as_ref(),
                "notifications/message" => sink.on_log.as_ref(),
                _ => None,
            };
            if let Some(cb) = callback {
                cb(params);
            }
            if let Some(cb) = &sink.on_notification {
                cb(msg.clone());
            }
        }
        let _ = self.events.send(CallEvent {
            call: sink.map(|s| s.info.clone()),
            message: msg.clone(),
        });
        let _ = self.notifications.send(msg);
    }
}

/// Removes a progress-token route when the call ends.
pub(crate) struct TokenGuard {
    router: Arc<Router>,
    token: String,
}

impl Drop for TokenGuard {
    fn drop(&mut self) {
        lock(&self.router.by_token).remove(&self.token);
    }
}

/// A progress token as a map key (strings as is, numbers in decimal).
fn token_key(v: Option<&Value>) -> Option<String> {
    match v? {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn progress_goes_to_the_call_holding_the_token() {
        let router = Router::new(ClientHandlers::new());
        let seen = Arc::new(Mutex::new(Vec::new()));
        let s2 = seen.clone();
        let sink = Arc::new(CallSink {
            info: Arc::new(CallInfo {
                call_id: 1,
                method: "tools/call".into(),
                name: Some("t".into()),
                arguments: None,
                tag: Some("a".into()),
                progress_token: Some("p1".into()),
            }),
            on_progress: Some(Arc::new(move |p| lock(&s2).push(p))),
            on_log: None,
            on_notification: None,
        });
        let mut events = router.subscribe_events();
        let guard = router.register("p1".into(), sink);
        let note = json!({"method": "notifications/progress", "params": {"progressToken": "p1", "progress": 1}});
        router.deliver(note.clone(), None);
        drop(guard);
        router.deliver(note, None);
        assert_eq!(lock(&seen).len(), 1);
        let first = events.try_recv().ok();
        assert_eq!(
            first.and_then(|e| e.call).and_then(|c| c.tag.clone()),
            Some("a".into())
        );
        let second = events.try_recv().ok();
        assert!(second.is_some_and(|e| e.call.is_none()));
    }
}
