//! [`ToolCall`]: a tool call with a tag and its own progress and log callbacks.

use std::sync::Arc;

use serde::Serialize;
use serde_json::{Value, json};

use crate::client::Client;
use crate::error::{ClientError, Result};
use crate::routing::{CallCallback, CallInfo, CallSink};
use crate::types::CallToolOutcome;

/// A tool call being built; [`ToolCall::send`] makes it.
///
/// The call's [`CallInfo`] (call number, tool name, arguments, tag) reaches the
/// handlers (`ClientHandlers::elicitation_for_call`, …) and every [`crate::CallEvent`]
/// of the call, where the transport can tell (see [`crate::routing`]).
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), ferromcp_client::ClientError> {
/// use std::sync::{Arc, Mutex};
/// use ferromcp_client::{Client, ClientOptions};
/// use ferromcp_core::{Context, NoArgs, Server, ToolDef};
/// use serde_json::json;
///
/// let server = Server::builder("demo", "1.0.0")
///     .tool(ToolDef::new("work").handler(|ctx: Context, _: NoArgs| async move {
///         ctx.report_progress(1.0, Some(2.0), None).await;
///         ctx.report_progress(2.0, Some(2.0), None).await;
///         "done"
///     }))
///     .build();
/// let client = Client::in_memory(server, ClientOptions::legacy()).await?;
/// let seen = Arc::new(Mutex::new(Vec::new()));
/// let s = seen.clone();
/// let out = client
///     .tool_call("work")
///     .arguments(json!({}))
///     .tag("job-1")
///     .on_progress(move |p| s.lock().unwrap().push(p["progress"].clone()))
///     .send()
///     .await?;
/// assert_eq!(out.text(), "done");
/// assert_eq!(*seen.lock().unwrap(), vec![json!(1.0), json!(2.0)]);
/// # Ok(()) }
/// ```
#[must_use = "a ToolCall does nothing until `send()`"]
pub struct ToolCall<'a> {
    client: &'a Client,
    name: String,
    arguments: Result<Option<Value>>,
    tag: Option<String>,
    progress_token: Option<Value>,
    on_progress: Option<CallCallback>,
    on_log: Option<CallCallback>,
}

impl std::fmt::Debug for ToolCall<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ToolCall")
            .field("name", &self.name)
            .field("tag", &self.tag)
            .finish_non_exhaustive()
    }
}

/// Serializes call arguments: an object, or nothing for `null`/`()`.
pub(crate) fn arguments(what: &str, args: impl Serialize) -> Result<Option<Value>> {
    match serde_json::to_value(args) {
        Ok(Value::Null) => Ok(None),
        Ok(v @ Value::Object(_)) => Ok(Some(v)),
        Ok(other) => Err(ClientError::Usage(format!(
            "{what} arguments must be a JSON object, not {other}"
        ))),
        Err(e) => Err(ClientError::Usage(format!(
            "{what} arguments do not serialize: {e}"
        ))),
    }
}

impl Client {
    /// Starts building a call of tool `name` (see [`ToolCall`]).
    pub fn tool_call(&self, name: impl Into<String>) -> ToolCall<'_> {
        ToolCall {
            client: self,
            name: name.into(),
            arguments: Ok(None),
            tag: None,
            progress_token: None,
            on_progress: None,
            on_log: None,
        }
    }

    /// A sink for a call made without the builder (typed methods), so handlers still
    /// learn which call asked.
    pub(crate) fn plain_sink(
        &self,
        method: &str,
        name: &str,
        args: Option<Value>,
        tag: Option<String>,
    ) -> Arc<CallSink> {
        Arc::new(CallSink {
            info: Arc::new(CallInfo {
                call_id: self.inner.router.next_call_id(),
                method: method.to_owned(),
                name: Some(name.to_owned()),
                arguments: args,
                tag,
                progress_token: None,
            }),
            on_progress: None,
            on_log: None,
            on_notification: None,
        })
    }
}

impl ToolCall<'_> {
    /// The arguments: anything that serializes to a JSON object (or `null` for none).
    pub fn arguments(mut self, args: impl Serialize) -> Self {
        self.arguments = arguments("tool", args);
        self
    }

    /// A caller-supplied tag, passed back with every message of this call.
    pub fn tag(mut self, tag: impl Into<String>) -> Self {
        self.tag = Some(tag.into());
        self
    }

    /// Sends `token` as the call's progress token (by default a unique one is made
    /// when [`ToolCall::on_progress`] is set).
    pub fn progress_token(mut self, token: impl Into<Value>) -> Self {
        self.progress_token = Some(token.into());
        self
    }

    /// Called with the `params` of every `notifications/progress` of this call.
    pub fn on_progress(mut self, f: impl Fn(Value) + Send + Sync + 'static) -> Self {
        self.on_progress = Some(Arc::new(f));
        self
    }

    /// Called with the `params` of every `notifications/message` (log) of this call.
    /// Only Streamable HTTP says which call a log belongs to; over stdio and other
    /// byte streams logs go to [`Client::notifications`] only.
    pub fn on_log(mut self, f: impl Fn(Value) + Send + Sync + 'static) -> Self {
        self.on_log = Some(Arc::new(f));
        self
    }

    /// Makes the call (running the MRTR loop in the 2026-07-28 era).
    pub async fn send(self) -> Result<CallToolOutcome> {
        let arguments = self.arguments?;
        let router = &self.client.inner.router;
        let call_id = router.next_call_id();
        let token = match self.progress_token {
            Some(t) => Some(t),
            None if self.on_progress.is_some() => {
                Some(Value::from(format!("ferromcp-call-{call_id}")))
            }
            None => None,
        };
        let token_key = token.as_ref().map(|t| match t {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        });
        let sink = Arc::new(CallSink {
            info: Arc::new(CallInfo {
                call_id,
                method: "tools/call".into(),
                name: Some(self.name.clone()),
                arguments: arguments.clone(),
                tag: self.tag,
                progress_token: token_key.clone(),
            }),
            on_progress: self.on_progress,
            on_log: self.on_log,
            on_notification: None,
        });
        let _route = token_key.map(|k| router.register(k, sink.clone()));
        let mut params = json!({ "name": self.name });
        if let Some(a) = arguments {
            params["arguments"] = a;
        }
        if let Some(t) = token {
            params["_meta"] = json!({ "progressToken": t });
        }
        self.client
            .request_rounds("tools/call", params, Some(&sink))
            .await
            .map(CallToolOutcome::new)
    }
}
