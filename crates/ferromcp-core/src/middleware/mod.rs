//! Middleware: a chain built once at startup, with typed hooks that default to
//! pass-through. A hook sees the request's [`Context`] and can observe, rewrite its
//! input, short-circuit (return without calling `next`), or rewrite the output.
//!
//! Two hooks run before any of that, on the message as it arrived, in chain order:
//! [`Middleware::on_message`] sees every incoming message (request, notification,
//! response) and [`Middleware::on_notification`] every notification after it. Either can
//! stop the message with [`Flow::Refuse`]: a refused request is answered with the given
//! error and dispatched no further; a refused notification or response is dropped. The
//! middlewares after the one that refused do not see it.
//!
//! ```
//! use ferromcp_core::middleware::{Middleware, Next, ToolCall, MwFuture};
//! use ferromcp_core::{Context, Result, protocol::CallToolResult};
//!
//! /// Refuses tools whose name starts with `admin_` and times every call.
//! struct Guard;
//!
//! impl Middleware for Guard {
//!     fn on_call_tool<'a>(
//!         &'a self,
//!         ctx: &'a Context,
//!         call: ToolCall,
//!         next: Next<'a, ToolCall, Result<CallToolResult>>,
//!     ) -> MwFuture<'a, Result<CallToolResult>> {
//!         Box::pin(async move {
//!             if call.name.starts_with("admin_") {
//!                 return Err(ferromcp_core::Error::tool("not allowed"));
//!             }
//!             let started = std::time::Instant::now();
//!             let out = next.run(ctx, call).await;
//!             tracing::info!(elapsed = ?started.elapsed(), "tool call");
//!             out
//!         })
//!     }
//! }
//!
//! let server = ferromcp_core::Server::builder("s", "1").middleware(Guard).build();
//! # let _ = server;
//! ```

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use serde_json::Value;
use serde_json::value::RawValue;

use crate::context::Context;
use crate::error::ProtocolError;
use crate::error::Result;
use crate::jsonrpc::{Notification, Request, Response};
use crate::protocol::{CallToolResult, GetPromptResult, Prompt, Resource, ResourceContents, ResourceTemplate, Tool};
use crate::reply::Reply;
use crate::session::Session;

/// The future a hook returns.
pub type MwFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// A `tools/call` as middleware sees it.
#[derive(Debug, Clone)]
pub struct ToolCall {
    /// The tool's name.
    pub name: String,
    /// The raw `arguments` object.
    pub arguments: Option<Box<RawValue>>,
}

impl ToolCall {
    /// The arguments as a JSON value (`Null` when absent).
    pub fn arguments_value(&self) -> Value {
        self.arguments.as_deref().and_then(|a| serde_json::from_str(a.get()).ok()).unwrap_or(Value::Null)
    }
    /// Replaces the arguments.
    pub fn set_arguments(&mut self, v: &Value) -> Result<()> {
        self.arguments = Some(serde_json::value::to_raw_value(v)?);
        Ok(())
    }
}

/// A `prompts/get` as middleware sees it.
#[derive(Debug, Clone)]
pub struct PromptCall {
    /// The prompt's name.
    pub name: String,
    /// The raw `arguments` object.
    pub arguments: Option<Box<RawValue>>,
}

/// An incoming message as [`Middleware::on_message`] sees it, before dispatch.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub enum Incoming<'a> {
    /// A request (it has an id and expects a reply).
    Request(&'a Request),
    /// A notification.
    Notification(&'a Notification),
    /// A response to a request the server sent (an ask).
    Response(&'a Response),
}

impl Incoming<'_> {
    /// The method of a request or notification; `None` for a response.
    pub fn method(&self) -> Option<&str> {
        match self {
            Incoming::Request(r) => Some(&r.method),
            Incoming::Notification(n) => Some(&n.method),
            Incoming::Response(_) => None,
        }
    }
}

/// What [`Middleware::on_message`] and [`Middleware::on_notification`] decide.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub enum Flow {
    /// Hand the message on: to the next middleware, then to the dispatcher.
    #[default]
    Continue,
    /// Stop the message here. A request is answered with this error (on 2025-11-25 in an
    /// HTTP 200, like every JSON-RPC error there); a notification or response is dropped.
    Refuse(ProtocolError),
}

/// Runs `on_message` (and, for a notification, `on_notification`) down `chain`; the
/// first refusal wins.
pub(crate) fn admit(chain: &[Arc<dyn Middleware>], message: Incoming<'_>, session: Option<&Arc<Session>>) -> Flow {
    for m in chain {
        if let refused @ Flow::Refuse(_) = m.on_message(message, session) {
            return refused;
        }
    }
    if let Incoming::Notification(n) = message {
        for m in chain {
            if let refused @ Flow::Refuse(_) = m.on_notification(n, session) {
                return refused;
            }
        }
    }
    Flow::Continue
}

/// The handler at the end of a chain.
pub(crate) type Endpoint<'a, I, O> = dyn Fn(&Context, I) -> MwFuture<'static, O> + Send + Sync + 'a;
/// Calls one hook of a middleware.
pub(crate) type HookFn<I, O> = for<'a> fn(&'a dyn Middleware, &'a Context, I, Next<'a, I, O>) -> MwFuture<'a, O>;

/// The rest of the chain after the current middleware.
pub struct Next<'a, I, O> {
    rest: &'a [Arc<dyn Middleware>],
    hook: HookFn<I, O>,
    endpoint: &'a Endpoint<'a, I, O>,
}

impl<'a, I: 'a, O: 'a> Next<'a, I, O> {
    /// Runs the rest of the chain and the handler.
    pub fn run(self, ctx: &'a Context, input: I) -> MwFuture<'a, O> {
        match self.rest.split_first() {
            Some((first, rest)) => {
                (self.hook)(&**first, ctx, input, Next { rest, hook: self.hook, endpoint: self.endpoint })
            }
            None => (self.endpoint)(ctx, input),
        }
    }
}

/// Runs `chain` around `endpoint`, calling `hook` on each middleware.
pub(crate) fn run_chain<'a, I: 'a, O: 'a>(
    chain: &'a [Arc<dyn Middleware>],
    ctx: &'a Context,
    input: I,
    hook: HookFn<I, O>,
    endpoint: &'a Endpoint<'a, I, O>,
) -> MwFuture<'a, O> {
    Next { rest: chain, hook, endpoint }.run(ctx, input)
}

macro_rules! hooks {
    ($( $(#[$doc:meta])* $name:ident ( $in:ty ) -> $out:ty ; )*) => {
        /// Typed hooks; each defaults to calling `next`.
        pub trait Middleware: Send + Sync + 'static {
            /// Sees every incoming message (requests, notifications, responses) before it
            /// is dispatched, with the legacy session or connection it arrived on. Return
            /// [`Flow::Refuse`] to stop it (see [`Flow`]); the default hands it on.
            fn on_message(&self, _message: Incoming<'_>, _session: Option<&Arc<Session>>) -> Flow {
                Flow::Continue
            }
            /// Sees every notification from the client, after every middleware's
            /// `on_message` let it through. Return [`Flow::Refuse`] to drop it.
            fn on_notification(&self, _notification: &Notification, _session: Option<&Arc<Session>>) -> Flow {
                Flow::Continue
            }
            $(
                $(#[$doc])*
                fn $name<'a>(&'a self, ctx: &'a Context, input: $in, next: Next<'a, $in, $out>) -> MwFuture<'a, $out> {
                    next.run(ctx, input)
                }
            )*
        }

        /// Hook selectors, used by the dispatcher to walk the chain.
        pub(crate) mod select {
            use super::*;
            $(
                pub(crate) fn $name<'a>(m: &'a dyn Middleware, ctx: &'a Context, input: $in, next: Next<'a, $in, $out>) -> MwFuture<'a, $out> {
                    m.$name(ctx, input, next)
                }
            )*
        }
    };
}

hooks! {
    /// Wraps every request (the outermost hook); the output is the full reply.
    on_request(()) -> Reply;
    /// Wraps a legacy `initialize` (the session exists and its scope is set, so state
    /// written here is visible to the session's later calls).
    on_initialize(()) -> Result<()>;
    /// Wraps a modern `server/discover`.
    on_discover(()) -> Result<()>;
    /// Wraps `tools/call`; the input can be rewritten.
    on_call_tool(ToolCall) -> Result<CallToolResult>;
    /// Wraps `resources/read` (the input is the URI).
    on_read_resource(String) -> Result<Vec<ResourceContents>>;
    /// Wraps `prompts/get`.
    on_get_prompt(PromptCall) -> Result<GetPromptResult>;
    /// Wraps `tools/list` (before pagination); filter or extend the list.
    on_list_tools(()) -> Result<Vec<Tool>>;
    /// Wraps `resources/list`.
    on_list_resources(()) -> Result<Vec<Resource>>;
    /// Wraps `resources/templates/list`.
    on_list_resource_templates(()) -> Result<Vec<ResourceTemplate>>;
    /// Wraps `prompts/list`.
    on_list_prompts(()) -> Result<Vec<Prompt>>;
}
