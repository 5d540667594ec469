//! ferromcp-core: the protocol seam, envelope, eras, dispatcher, component registry,
//! request context and session layer of ferromcp. Most users depend on the `ferromcp`
//! facade crate instead.
//!
//! # Layout
//!
//! - [`auth`]: bearer-token verification into a principal.
//! - [`protocol`]: MCP model types (from rmcp, behind this seam) and constants.
//! - `jsonrpc`: the JSON-RPC envelope — a borrowed single-pass decoder and writers.
//! - [`era`]: what differs between 2025-11-25 (legacy) and 2026-07-28 (modern), one
//!   module per era.
//! - [`registry`]: tools, resources, templates, prompts, completions; handler traits and
//!   return-value conversions.
//! - [`context`]: the per-request [`Context`] (logging, progress, asks, extensions).
//! - [`middleware`]: the middleware chain and its typed hooks.
//! - `mrtr`: sealed `requestState` for multi-round-trip requests.
//! - `dispatch`: one dispatcher for every transport, organised by method.
//! - [`Reply`]: what the dispatcher answers a request with (a leaf module).
//! - [`bus`]: what the nodes of a cluster tell each other (asks' answers, notifications,
//!   broadcasts), and the broadcast API ([`Server::broadcast`]).
//! - [`engine`]: what every transport adapts to: the state key space, the end of a
//!   session's scope, the one notifier.
//! - [`session`]: connections, legacy sessions and their registry.
//! - [`state`]: session-scoped state: scopes, the store trait, memory and encrypted stores.
//! - `outbound`: the handle bound to a request's own response stream.
//! - [`transport`]: stdio / in-memory line-delimited transport.
//! - [`schema`]: JSON Schema generation and validation.
//! - [`events`]: event stores behind resumable streams (memory ring; SQLite in ferromcp-sqlite).
//! - [`error`]: the one public [`Error`] type and [`ProtocolError`].

#![forbid(unsafe_code)]
#![warn(missing_docs)]
// Sampling, roots and logging are deprecated by SEP-2577 in 2026-07-28 but remain part of
// the 2025-11-25 revision ferromcp serves, so their model types stay in use.
#![allow(deprecated)]

pub mod auth;
mod broadcast;
pub mod bus;
pub mod context;
#[doc(hidden)]
pub mod dispatch;
pub mod engine;
pub mod era;
pub mod error;
pub mod events;
mod ids;
#[doc(hidden)]
pub mod jsonrpc;
mod keys;
mod lifespan;
pub mod middleware;
#[doc(hidden)]
pub mod mrtr;
mod notify;
#[doc(hidden)]
pub mod outbound;
pub mod protocol;
mod purge;
pub mod registry;
mod reply;
mod resources;
pub mod schema;
pub mod server;
pub mod session;
pub mod state;
pub mod store_metrics;
pub mod transport;

pub use context::{Context, Extensions, TransportKind};
pub use dispatch::RequestEnv;
pub use era::{Era, Method};
pub use error::{Error, ProtocolError, Result};
pub use registry::{
    Blob, Completer, IntoCallToolResult, IntoGetPromptResult, IntoResourceContents, Json, NoArgs, PromptDef,
    ResourceDef, ResourceTemplateDef, ToolDef,
};
pub use reply::Reply;
pub use server::{BuildError, Server, ServerBuilder, ServerConfig};

/// Re-exported so generated code and users share one version.
pub use schemars;
/// Re-exported so generated code and users share one version.
pub use serde;
/// Re-exported so generated code and users share one version.
pub use serde_json;
