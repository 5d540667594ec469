//! `subscriptions/listen` (2026-07-28 over Streamable HTTP): [`Listen`] says which
//! notifications to receive, [`Subscription`] yields them.
//!
//! The listen request's answer is a long-lived SSE stream: first
//! `notifications/subscriptions/acknowledged` (with the subset the server honours), then
//! the list-changed and resource-updated notifications. Dropping the [`Subscription`]
//! closes the stream, which is how a 2026-07-28 client cancels it.
//!
//! Over stdio and other byte streams the notifications are not tied to a response
//! stream; there, read [`Client::notifications`] and match
//! `_meta["io.modelcontextprotocol/subscriptionId"]`. In the 2025-11-25 era use
//! [`Client::subscribe_resource`] and [`Client::notifications`].

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Map, Value, json};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::client::Client;
use crate::error::{ClientError, Result};
use crate::options::ClientEra;
use crate::routing::{CallInfo, CallSink};

/// Notifications buffered per subscription before new ones are dropped.
const SUBSCRIPTION_BUFFER: usize = 1024;
/// How long a listen stream may stay open (in practice: until dropped).
const LISTEN_FOREVER: Duration = Duration::from_secs(100 * 365 * 24 * 3600);

/// What a [`Subscription`] asks for.
///
/// ```
/// use ferromcp_client::Listen;
/// let l = Listen::new().tools_list_changed().resource("test://watched-resource");
/// assert_eq!(l.params()["notifications"]["toolsListChanged"], true);
/// assert_eq!(l.params()["notifications"]["resourceSubscriptions"][0], "test://watched-resource");
/// ```
#[derive(Debug, Clone, Default)]
pub struct Listen {
    notifications: Map<String, Value>,
    resources: Vec<String>,
}

impl Listen {
    /// Nothing yet.
    pub fn new() -> Self {
        Self::default()
    }
    /// `notifications/tools/list_changed`.
    pub fn tools_list_changed(mut self) -> Self {
        self.notifications
            .insert("toolsListChanged".into(), json!(true));
        self
    }
    /// `notifications/prompts/list_changed`.
    pub fn prompts_list_changed(mut self) -> Self {
        self.notifications
            .insert("promptsListChanged".into(), json!(true));
        self
    }
    /// `notifications/resources/list_changed`.
    pub fn resources_list_changed(mut self) -> Self {
        self.notifications
            .insert("resourcesListChanged".into(), json!(true));
        self
    }
    /// `notifications/resources/updated` for `uri`.
    pub fn resource(mut self, uri: impl Into<String>) -> Self {
        self.resources.push(uri.into());
        self
    }
    /// The request's params.
    pub fn params(&self) -> Value {
        let mut n = self.notifications.clone();
        if !self.resources.is_empty() {
            n.insert("resourceSubscriptions".into(), json!(self.resources));
        }
        json!({ "notifications": n })
    }
}

/// A live `subscriptions/listen` stream; dropping it ends the subscription.
#[derive(Debug)]
pub struct Subscription {
    acknowledged: Value,
    rx: mpsc::Receiver<Value>,
    task: JoinHandle<Result<Value>>,
}

impl Drop for Subscription {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Subscription {
    /// The `notifications/subscriptions/acknowledged` message (its `params` say which
    /// notifications the server honours).
    pub fn acknowledged(&self) -> &Value {
        &self.acknowledged
    }

    /// The next notification (the whole JSON-RPC object), or `None` once the stream
    /// ended.
    pub async fn next(&mut self) -> Option<Value> {
        self.rx.recv().await
    }
}

impl Client {
    /// Opens a `subscriptions/listen` stream (2026-07-28, Streamable HTTP) and waits
    /// for the server's acknowledgement.
    pub async fn listen(&self, what: Listen) -> Result<Subscription> {
        if self.era() != ClientEra::Modern || !self.inner.conn.is_http() {
            return Err(ClientError::Usage(
                "`subscriptions/listen` streams need the 2026-07-28 era over Streamable HTTP; on 2025-11-25 use `subscribe_resource` and `notifications()`, on stdio read `notifications()` and match `_meta.subscriptionId`".into(),
            ));
        }
        let (tx, mut rx) = mpsc::channel(SUBSCRIPTION_BUFFER);
        let sink = Arc::new(CallSink {
            info: Arc::new(CallInfo {
                call_id: self.inner.router.next_call_id(),
                method: "subscriptions/listen".into(),
                name: None,
                arguments: Some(what.params()),
                tag: None,
                progress_token: None,
            }),
            on_progress: None,
            on_log: None,
            on_notification: Some(Arc::new(move |msg| {
                if tx.try_send(msg).is_err() {
                    tracing::warn!(
                        "a subscription's reader is too slow or gone; dropped a notification"
                    );
                }
            })),
        });
        let client = self.clone();
        let params = what.params();
        let mut task = tokio::spawn(async move {
            client
                .request_with_timeout("subscriptions/listen", params, LISTEN_FOREVER, Some(&sink))
                .await
        });
        let wait = self.inner.opts.request_timeout;
        let first = tokio::select! {
            m = rx.recv() => m,
            r = &mut task => {
                return Err(match r {
                    Ok(Err(e)) => e,
                    Ok(Ok(v)) => ClientError::Decode(format!("`subscriptions/listen` ended at once with {v}")),
                    Err(_) => ClientError::Closed,
                });
            }
            _ = tokio::time::sleep(wait) => None,
        };
        let Some(acknowledged) = first else {
            task.abort();
            return Err(ClientError::Timeout {
                method: "subscriptions/listen".into(),
                after: wait,
            });
        };
        Ok(Subscription {
            acknowledged,
            rx,
            task,
        })
    }
}
