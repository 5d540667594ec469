//! ferromcp-proxy: a ferromcp `Server` whose tools, resources, resource templates and
//! prompts come from backend MCP servers
//! (stdio child processes, Streamable HTTP endpoints of either era and 2024-11-05
//! HTTP+SSE endpoints) reached through `ferromcp-client`.
//!
//! # Routing by construction
//!
//! Every backend call is made on behalf of one frontend `Context`. Whatever the backend
//! sends while serving that call — elicitation, sampling and roots requests, progress
//! and log notifications — is delivered through that same Context, so it reaches the
//! frontend request that caused it (see the `route` module). There is no ambient or
//! restored context anywhere.
//!
//! Where the wire cannot say which call an ask belongs to (a 2025-11-25 stdio or
//! HTTP+SSE backend with two calls in flight on one connection) the proxy never guesses:
//!
//! - **fresh** mode (the default): each frontend request takes a pooled backend
//!   connection to itself for the duration of its call;
//! - **affinity** mode: one backend connection per frontend session (closed when the
//!   session ends or expires, or after `"idleTimeoutMs"` without a call — the session's
//!   next call then opens a new one); on a stdio or HTTP+SSE backend the session's calls are
//!   serialised, on a Streamable HTTP backend they run concurrently (the POST stream
//!   attributes every ask). A 2026-07-28 frontend has no session: its calls share one
//!   affinity connection per backend.
//!
//! Logs from a stdio backend cannot be attributed by the client and are not forwarded.
//!
//! # Cost of the hop
//!
//! A call is forwarded from the frontend request's own task (its progress and logs are
//! relayed from there too: no task is spawned per call), over a pooled backend
//! connection (keep-alive HTTP/1.1, or a buffered stdio pipe), and the backend's result
//! is decoded once, into the frontend's result. `ferrobench proxy` measures the hop
//! against the direct server.
//!
//! # Eras
//!
//! Backend connections negotiate their era (`server/discover`, falling back to
//! `initialize`) unless the entry pins `"protocolVersion"`; frontend calls are served in
//! the frontend's era, and every pair works:
//!
//! - 2025-11-25 frontend, either backend: asks reach the caller as real requests on its
//!   own stream (over a 2026-07-28 backend the client drives the backend's MRTR loop and
//!   each input request becomes such a request).
//! - 2026-07-28 frontend over a 2026-07-28 backend (`relay.rs`): each backend
//!   `input_required` round becomes the frontend call's `InputRequiredResult` (same keys;
//!   the backend is called with the frontend's own client capabilities); the backend's
//!   `requestState` travels inside the proxy's sealed `requestState`, bound to the caller.
//! - 2026-07-28 frontend over a 2025-11-25 backend (`bridge.rs`): the backend call waits
//!   (bounded by the backend's timeout) while its asks go out as `InputRequiredResult`s
//!   (keys `proxy-ask-N`: the legacy wire has no keys); the proxy's sealed `requestState`
//!   carries the id of the waiting call. A legacy backend cannot know the frontend's
//!   capabilities, so an ask the frontend cannot answer fails the backend's ask (it is
//!   never left hanging).
//!
//! Resource templates (reads expanded back to the backend's URI, see `expand.rs`),
//! completions of prompt arguments and template variables, and backend logs (the
//! backend is asked for every level; the frontend filters by its caller's level) are
//! forwarded. A backend's `-32021` missing-capability error keeps its HTTP 400.
//!
//! Backend changes are followed by [`Proxy::build`] (`watch.rs`): one watching
//! connection per backend that declares `listChanged` or `subscribe` receives its
//! `list_changed` notifications (the backend is re-listed and the frontend's tools,
//! prompts or resources updated, which the frontend announces) and its
//! `resources/updated` (announced to the frontend sessions subscribed to that URI).
//!
//! # Not yet
//!
//! A 2026-07-28 stdio backend is not watched, and on a stdio backend the watcher follows
//! its own process (a change made by a call in another backend process is that
//! process's own). List results are not cached by `ttlMs` (they are listed at startup
//! and re-listed on `list_changed`). URL-mode elicitation is forwarded as a form (only
//! `message` and `requestedSchema` pass). On a 2026-07-28 frontend over a 2026-07-28
//! backend in affinity mode the backend's logs are not forwarded (fresh mode forwards
//! them: the connection carries that call alone). OAuth backend credentials (static
//! `headers` work) are not done.
//!
//! # Layout
//!
//! - [`config`] — the `mcpServers` JSON format and the builder equivalents.
//! - `mount.rs` — [`Proxy`]: discovery, naming (prefixes, filters, clash detection).
//! - `backend.rs` — connections per mode, forwarding one call, failure handling.
//! - `components.rs` — forwarding resources and prompts.
//! - `route.rs` — the per-connection table from call tag to frontend Context (or bridge).
//! - `relay.rs`, `bridge.rs` — 2026-07-28 frontends over modern / legacy backends.
//! - `expand.rs` — RFC 6570 expansion for proxied resource templates.
//! - `watch.rs` — following backend `list_changed` and `resources/updated`.

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
mod watch;

pub use config::{BackendConfig, BackendKind, ConfigError, Mode, ProxyConfig, ToolFilter};
pub use mount::{Proxy, ProxyError, mount};
