//! ferromcp-proxy: a ferromcp `Server` whose tools, static resources and prompts come from backend MCP servers
//! (stdio child processes and Streamable HTTP endpoints) reached through
//! `ferromcp-client`.
//!
//! # Routing by construction
//!
//! Every backend call is made on behalf of one frontend `Context`. Whatever the backend
//! sends while serving that call — elicitation, sampling and roots requests, progress
//! and log notifications — is delivered through that same Context, so it reaches the
//! frontend request that caused it (see the `route` module). There is no ambient or
//! restored context anywhere.
//!
//! Where the wire cannot say which call an ask belongs to (a 2025-11-25 stdio backend
//! with two calls in flight on one connection) the proxy never guesses:
//!
//! - **fresh** mode (the default): each frontend request takes a pooled backend
//!   connection to itself for the duration of its call;
//! - **affinity** mode: one backend connection per frontend session (closed when the
//!   session ends or expires); on a stdio backend the session's calls are serialised,
//!   on an HTTP backend they run concurrently (the POST stream attributes every ask).
//!
//! Logs from a stdio backend cannot be attributed by the client and are not forwarded.
//! Backend connections negotiate their era (`server/discover`, falling back to
//! `initialize`); frontend calls are served in the frontend's era.
//!
//! # Not yet
//!
//! Era bridging: backend asks reach a 2026-07-28 frontend only as real requests, which
//! that era does not have; they must become the frontend call's `InputRequiredResult`
//! with the proxy's sealed `requestState` (untested today, expected to fail). Also
//! resource templates, subscriptions and `list_changed` forwarding, list
//! caching by `ttlMs`, legacy HTTP+SSE backends and OAuth backend credentials.
//!
//! # Layout
//!
//! - [`config`] — the `mcpServers` JSON format and the builder equivalents.
//! - `mount.rs` — [`Proxy`]: discovery, naming (prefixes, filters, clash detection).
//! - `backend.rs` — connections per mode, forwarding one call, failure handling.
//! - `components.rs` — forwarding resources and prompts.
//! - `route.rs` — the per-connection table from call tag to frontend Context.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod backend;
mod bridge;
mod components;
pub mod config;
mod expand;
mod mount;
mod relay;
mod route;

pub use config::{BackendConfig, BackendKind, ConfigError, Mode, ProxyConfig, ToolFilter};
pub use mount::{Proxy, ProxyError, mount};
