//! [`Server`] and [`ServerBuilder`]: the registry, configuration and shared machinery one
//! MCP server needs, independent of any transport.
//!
//! ```
//! use ferromcp_core::{Context, NoArgs, Server, ToolDef};
//! let server = Server::builder("demo", "1.0.0")
//!     .instructions("A demo server")
//!     .tool(ToolDef::new("hello").handler(|_ctx: Context, _: NoArgs| async { "hello" }))
//!     .build();
//! assert_eq!(server.registry().snapshot().tools.len(), 1);
//! ```

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Map, Value, json};

use crate::era::CacheHint;
use crate::middleware::Middleware;
use crate::mrtr::Sealer;
use crate::protocol::Implementation;
use crate::registry::{Components, PromptDef, Registry, ResourceDef, ResourceTemplateDef, ToolDef};
use crate::session::{EndReason, SessionDirectory, SessionInfo, SessionLimits, SessionRegistry};
use crate::state::{MemoryStore, StateStore};

/// Server-wide settings.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ServerConfig {
    /// How long a legacy server→client request waits for its answer.
    pub ask_timeout: Duration,
    /// Items per page of `*/list` results.
    pub page_size: usize,
    /// Cache hints for `server/discover` and lists (2026-07-28).
    pub list_cache: CacheHint,
    /// Cache hints for `resources/read` (2026-07-28).
    pub read_cache: CacheHint,
    /// Lifetime of sealed MRTR `requestState`.
    pub request_state_ttl: Duration,
    /// Legacy session limits (idle timeout, maximum).
    pub session_limits: SessionLimits,
    /// Default TTL of session state and session handles (one day).
    pub state_ttl: Duration,
    /// Prefix of every state key in the store (default `ferromcp:`); give each
    /// application sharing a Redis its own.
    pub state_namespace: String,
    /// Longest JSON text of a client value the server echoes back and may store in
    /// resumable events: a request `id` and a `_meta.progressToken` (default 1 KiB,
    /// [`DEFAULT_MAX_ECHOED_BYTES`](crate::jsonrpc::DEFAULT_MAX_ECHOED_BYTES)). Longer
    /// ones are refused with `-32602` before anything is stored.
    pub max_echoed_value_bytes: usize,
    /// Largest state value, in bytes of serialized JSON (default 1 MiB); a larger
    /// `set`/`update` fails with an error naming the limit.
    pub max_state_value_bytes: usize,
    /// Most state keys per scope (session, principal or handle; default 10,000); a
    /// write that would add a key beyond it fails with an error naming the limit.
    /// Checked atomically with the write by the memory and Redis stores
    /// ([`StateStore::put_in_scope`]); best effort on other stores that can count keys.
    pub max_state_keys_per_scope: u64,
    /// The largest sealed MRTR `requestState` the server hands out, in bytes (default
    /// 1 MiB, well under the HTTP body limit, so every retry can be sent). A call whose
    /// state would be larger fails with `-32602` naming this limit, and a longer
    /// `requestState` sent by a client is refused the same way before it is decoded.
    pub max_request_state_bytes: usize,
    /// How long calls still running when a line-delimited connection's input ends
    /// (stdin closed) may take to finish and write their results before they are
    /// cancelled (default 30 s).
    pub eof_grace: Duration,
    /// Most legacy asks (elicitation, sampling, roots) of one session that may wait for the
    /// client's answers at once (default 64); one more fails at once with
    /// [`Error::TooManyAsks`](crate::Error::TooManyAsks) and nothing is sent or parked.
    pub max_pending_asks_per_session: usize,
    /// Most legacy asks waiting for answers in the whole server (default 10,000); one more
    /// fails at once with [`Error::TooManyAsks`](crate::Error::TooManyAsks).
    pub max_pending_asks: usize,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            ask_timeout: Duration::from_secs(300),
            page_size: 500,
            list_cache: CacheHint { ttl_ms: 60_000, public: true },
            read_cache: CacheHint { ttl_ms: 0, public: false },
            request_state_ttl: Duration::from_secs(600),
            session_limits: SessionLimits::default(),
            state_ttl: Duration::from_secs(24 * 60 * 60),
            state_namespace: "ferromcp:".into(),
            max_echoed_value_bytes: crate::jsonrpc::DEFAULT_MAX_ECHOED_BYTES,
            max_state_value_bytes: 1 << 20,
            max_state_keys_per_scope: 10_000,
            max_request_state_bytes: 1024 * 1024,
            eof_grace: Duration::from_secs(30),
            max_pending_asks_per_session: 64,
            max_pending_asks: 10_000,
        }
    }
}

pub(crate) struct Inner {
    pub(crate) info: Implementation,
    pub(crate) info_json: Box<str>,
    pub(crate) instructions: Option<String>,
    pub(crate) registry: Registry,
    pub(crate) config: ServerConfig,
    pub(crate) sealer: Sealer,
    pub(crate) sessions: Arc<SessionRegistry>,
    /// Fans notifications out to sessions and listen streams (see `engine::notifier`).
    pub(crate) notifier: crate::notify::Notifier,
    pub(crate) store: Arc<dyn StateStore>,
    /// Builds every state key (see `engine::keys`).
    pub(crate) keys: crate::keys::Keys,
    pub(crate) middleware: Arc<[Arc<dyn Middleware>]>,
    pub(crate) visibility_used: std::sync::atomic::AtomicBool,
    /// Legacy asks waiting for answers now, across all sessions (see `context::ask`).
    pub(crate) pending_asks: std::sync::atomic::AtomicUsize,
    /// Where legacy sessions live when several nodes share them (see `engine::directory`).
    pub(crate) directory: Option<Arc<dyn SessionDirectory>>,
    /// The user's session hooks, run by the node that claims a directory session.
    pub(crate) hooks: SessionHooks,
    /// Every session's resources (see `crate::resources`).
    pub(crate) resources: Arc<crate::resources::Resources>,
    /// The startup/shutdown hooks and their value (see `crate::lifespan`).
    pub(crate) lifespan: crate::lifespan::Lifespan,
    /// The channel to the other nodes, if several serve (see `crate::bus`).
    pub(crate) bus: Option<Arc<dyn crate::bus::Bus>>,
}

/// An MCP server: components plus configuration. Cheap to clone (one `Arc`); serve it
/// with a transport (`serve_stdio`, the HTTP router, the in-memory client).
#[derive(Clone)]
pub struct Server {
    pub(crate) inner: Arc<Inner>,
}

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server").field("info", &self.inner.info).finish_non_exhaustive()
    }
}

impl Server {
    /// Starts building a server named `name` at `version`.
    pub fn builder(name: impl Into<String>, version: impl Into<String>) -> ServerBuilder {
        ServerBuilder {
            info: Implementation::new(name, version),
            instructions: None,
            components: Components::default(),
            config: ServerConfig::default(),
            sealing_key: None,
            tool_errors: Vec::new(),
            store: None,
            middleware: Vec::new(),
            session_hooks: SessionHooks::default(),
            previous_sealing_keys: Vec::new(),
            multi_node: false,
            directory: None,
            lifespan: crate::lifespan::Lifespan::default(),
            bus: None,
        }
    }
    /// The server's name and version.
    pub fn info(&self) -> &Implementation {
        &self.inner.info
    }
    /// The pre-serialized server info object.
    pub fn info_json(&self) -> &str {
        &self.inner.info_json
    }
    /// The live component registry (add/remove components at runtime).
    pub fn registry(&self) -> &Registry {
        &self.inner.registry
    }
    /// Settings.
    pub fn config(&self) -> &ServerConfig {
        &self.inner.config
    }
    /// The legacy session table.
    pub fn sessions(&self) -> &Arc<SessionRegistry> {
        &self.inner.sessions
    }
    /// The session counters in the Prometheus text format (version 0.0.4): the
    /// `ferromcp_sessions_open` gauge and the `ferromcp_sessions_{created,ended,expired,shed}_total`
    /// counters. `ferromcp_http::metrics_router` serves it at `GET /metrics`.
    pub fn metrics_text(&self) -> String {
        self.inner.sessions.metrics().to_prometheus()
    }
    /// The session-state store.
    pub fn state_store(&self) -> &Arc<dyn StateStore> {
        &self.inner.store
    }
    /// The `requestState` sealer.
    pub fn sealer(&self) -> &Sealer {
        &self.inner.sealer
    }
    /// Legacy asks (elicitation, sampling, roots) waiting for the client's answers now,
    /// across all sessions; bounded by [`ServerConfig::max_pending_asks`].
    pub fn pending_asks(&self) -> usize {
        self.inner.pending_asks.load(std::sync::atomic::Ordering::Acquire)
    }
    /// Instructions sent in `initialize` / `server/discover`.
    pub fn instructions(&self) -> Option<&str> {
        self.inner.instructions.as_deref()
    }
    /// Announces that resource `uri` changed: subscribed legacy sessions and modern
    /// listen streams that asked for it receive `notifications/resources/updated`.
    pub fn notify_resource_updated(&self, uri: &str) {
        self.inner.notifier.publish(&self.inner.registry, crate::notify::Notice::ResourceUpdated(Arc::from(uri)));
    }
    /// Subscribes to resource-updated announcements.
    pub fn resource_updates(&self) -> tokio::sync::broadcast::Receiver<Arc<str>> {
        self.inner.notifier.resource_updates()
    }

    /// Whether the server declares capability `name` (`tools`, `resources`, `prompts`,
    /// `completions`, `logging`), derived from what it serves.
    pub fn has_capability(&self, name: &str) -> bool {
        self.inner.registry.snapshot().has_capability(name)
    }

    /// The capabilities the server declares, derived from what it serves.
    pub fn capabilities(&self) -> Value {
        let c = self.inner.registry.snapshot();
        let declared = [
            ("tools", json!({ "listChanged": true })),
            ("resources", json!({ "subscribe": true, "listChanged": true })),
            ("prompts", json!({ "listChanged": true })),
            ("completions", json!({})),
            ("logging", json!({})),
        ];
        let caps: Map<String, Value> =
            declared.into_iter().filter(|(name, _)| c.has_capability(name)).map(|(n, v)| (n.to_owned(), v)).collect();
        Value::Object(caps)
    }
}

/// A session lifecycle hook (see [`ServerBuilder::on_session_created`]).
pub(crate) type SessionHook = Arc<dyn Fn(&SessionInfo<'_>) + Send + Sync>;

#[derive(Default, Clone)]
pub(crate) struct SessionHooks {
    pub(crate) created: Vec<SessionHook>,
    pub(crate) ended: Vec<SessionHook>,
    pub(crate) expired: Vec<SessionHook>,
}

/// Builds a [`Server`].
pub struct ServerBuilder {
    info: Implementation,
    instructions: Option<String>,
    components: Components,
    config: ServerConfig,
    sealing_key: Option<Vec<u8>>,
    tool_errors: Vec<String>,
    store: Option<Arc<dyn StateStore>>,
    middleware: Vec<Arc<dyn Middleware>>,
    session_hooks: SessionHooks,
    previous_sealing_keys: Vec<Vec<u8>>,
    multi_node: bool,
    directory: Option<Arc<dyn SessionDirectory>>,
    lifespan: crate::lifespan::Lifespan,
    bus: Option<Arc<dyn crate::bus::Bus>>,
}

/// Why [`ServerBuilder::try_build`] refused to build a server.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// Several nodes serve the deployment but no sealing key is configured: each node
    /// would seal with its own random key and reject the others' `requestState`.
    #[error(
        "the server is configured for several nodes (ServerBuilder::multi_node) but has no requestState \
         sealing key: give every node the same key with ServerBuilder::sealing_key"
    )]
    MissingSealingKey,
    /// Legacy sessions are shared through a session directory, so other nodes serve
    /// them, but no sealing key is configured: this node's key would be ephemeral.
    #[error(
        "the server shares its legacy sessions with other nodes (ServerBuilder::session_directory) but its \
         requestState sealing key is ephemeral: give every node the same key with ServerBuilder::sealing_key \
         (or the FERROMCP_SEALING_KEYS environment variable)"
    )]
    EphemeralKeyWithDirectory,
    /// Previous sealing keys are configured but no current one.
    #[error(
        "previous requestState sealing keys are configured (ServerBuilder::previous_sealing_key) but no \
         current key: set the key that seals new state with ServerBuilder::sealing_key"
    )]
    PreviousKeysWithoutCurrent,
    /// No key is configured and the operating system could not supply a random one.
    #[error(transparent)]
    RandomKey(#[from] crate::mrtr::RandomKeyError),
}

impl ServerBuilder {
    /// Instructions for the client/model, sent in `initialize` and `server/discover`.
    pub fn instructions(mut self, s: impl Into<String>) -> Self {
        self.instructions = Some(s.into());
        self
    }
    /// Sets the server's title.
    pub fn title(mut self, t: impl Into<String>) -> Self {
        self.info.title = Some(t.into());
        self
    }
    /// Adds a tool (a [`ToolDef`] or anything `#[tool]` generated).
    pub fn tool(mut self, t: impl Into<ToolDef>) -> Self {
        let t = t.into();
        let name = t.tool.name.to_string();
        if self.components.tools.get(&name).is_some() {
            self.tool_errors.push(name.clone());
        }
        self.components.tools.insert_def(name, t);
        self
    }
    /// Adds a static resource.
    pub fn resource(mut self, r: impl Into<ResourceDef>) -> Self {
        let r = r.into();
        self.components.resources.insert_def(r.resource.uri.clone(), r);
        self
    }
    /// Adds a resource template.
    pub fn template(mut self, t: impl Into<ResourceTemplateDef>) -> Self {
        let t = t.into();
        self.components.templates.insert_def(t.template.uri_template.clone(), t);
        self
    }
    /// Adds a prompt.
    pub fn prompt(mut self, p: impl Into<PromptDef>) -> Self {
        let p = p.into();
        self.components.prompts.insert_def(p.prompt.name.clone(), p);
        self
    }
    /// Replaces the whole configuration.
    pub fn config(mut self, c: ServerConfig) -> Self {
        self.config = c;
        self
    }
    /// Timeout of legacy server→client requests.
    pub fn ask_timeout(mut self, t: Duration) -> Self {
        self.config.ask_timeout = t;
        self
    }
    /// Most legacy asks of one session waiting for the client's answers at once (default
    /// 64; at least 1); see [`ServerConfig::max_pending_asks_per_session`].
    pub fn max_pending_asks_per_session(mut self, n: usize) -> Self {
        self.config.max_pending_asks_per_session = n.max(1);
        self
    }
    /// Most legacy asks waiting for answers in the whole server (default 10,000; at least
    /// 1); see [`ServerConfig::max_pending_asks`].
    pub fn max_pending_asks(mut self, n: usize) -> Self {
        self.config.max_pending_asks = n.max(1);
        self
    }
    /// Items per list page.
    pub fn page_size(mut self, n: usize) -> Self {
        self.config.page_size = n.max(1);
        self
    }
    /// Legacy session limits.
    pub fn session_limits(mut self, l: SessionLimits) -> Self {
        self.config.session_limits = l;
        self
    }
    /// Appends a middleware; the first added is the outermost.
    pub fn middleware(mut self, m: impl Middleware) -> Self {
        self.middleware.push(Arc::new(m));
        self
    }
    /// The session-state store (default: a [`MemoryStore`]).
    pub fn state_store(mut self, store: impl StateStore) -> Self {
        self.store = Some(Arc::new(store));
        self
    }
    /// The session-state store, already shared.
    pub fn state_store_arc(mut self, store: Arc<dyn StateStore>) -> Self {
        self.store = Some(store);
        self
    }
    /// Default TTL of state values and session handles.
    pub fn state_ttl(mut self, ttl: Duration) -> Self {
        self.config.state_ttl = ttl;
        self
    }
    /// Longest JSON text of a request `id` or `progressToken` the server accepts
    /// (default 1 KiB; see [`ServerConfig::max_echoed_value_bytes`]).
    pub fn max_echoed_value_bytes(mut self, bytes: usize) -> Self {
        self.config.max_echoed_value_bytes = bytes;
        self
    }
    /// Largest state value in serialized bytes (default 1 MiB; see
    /// [`ServerConfig::max_state_value_bytes`]).
    pub fn max_state_value_bytes(mut self, bytes: usize) -> Self {
        self.config.max_state_value_bytes = bytes;
        self
    }
    /// Most state keys per scope (default 10,000; see
    /// [`ServerConfig::max_state_keys_per_scope`]).
    pub fn max_state_keys_per_scope(mut self, n: u64) -> Self {
        self.config.max_state_keys_per_scope = n;
        self
    }
    /// Calls `f` once for every legacy session when it enters the session table: a
    /// Streamable HTTP session (`Mcp-Session-Id`) once its `initialize` succeeded, or when it
    /// is restored from a persistent event store; an HTTP+SSE session when its stream opens,
    /// before `initialize` (so `protocol_version` and `client_info` are still `None`).
    ///
    /// Session hooks are synchronous and run on the request or reaper task that caused the
    /// event, outside every lock: keep them cheap (count, log, send on a channel) and spawn
    /// anything slow. Each session fires `on_session_created` exactly once, then exactly one
    /// of [`on_session_ended`](Self::on_session_ended) and
    /// [`on_session_expired`](Self::on_session_expired), always after its created hooks
    /// returned. A panicking hook is logged and skipped. When an end hook runs, the
    /// session's state is already being deleted: do not expect to read it.
    ///
    /// stdio and in-memory connections are not in the session table and fire no hooks.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use std::sync::atomic::{AtomicU64, Ordering};
    /// let live = Arc::new(AtomicU64::new(0));
    /// let (up, down, gone) = (live.clone(), live.clone(), live.clone());
    /// let server = ferromcp_core::Server::builder("demo", "1.0.0")
    ///     .on_session_created(move |s| {
    ///         up.fetch_add(1, Ordering::Relaxed);
    ///         tracing::info!(session = s.id, client = ?s.client_info.map(|c| &c.name), "session opened");
    ///     })
    ///     .on_session_ended(move |_| { down.fetch_sub(1, Ordering::Relaxed); })
    ///     .on_session_expired(move |_| { gone.fetch_sub(1, Ordering::Relaxed); })
    ///     .build();
    /// # let _ = server;
    /// ```
    pub fn on_session_created(mut self, f: impl Fn(&SessionInfo<'_>) + Send + Sync + 'static) -> Self {
        self.session_hooks.created.push(Arc::new(f));
        self
    }
    /// Calls `f` once when the client ends a legacy session: DELETE on Streamable HTTP, or
    /// the HTTP+SSE connection closing (`info.end_reason == Some(EndReason::Closed)`). See
    /// [`on_session_created`](Self::on_session_created) for the guarantees.
    pub fn on_session_ended(mut self, f: impl Fn(&SessionInfo<'_>) + Send + Sync + 'static) -> Self {
        self.session_hooks.ended.push(Arc::new(f));
        self
    }
    /// Calls `f` once when the server ends a legacy session: reaped after the idle timeout
    /// (`info.end_reason == Some(EndReason::Expired)`) or shed because the table was full
    /// (`Some(EndReason::Shed)`: the least recently used idle session of the client holding
    /// the most sessions makes room, see [`SessionLimits`]). Both are ends the client did
    /// not ask for — its next request gets 404 and it must initialize again — so both fire
    /// this hook; `end_reason` tells them apart. See
    /// [`on_session_created`](Self::on_session_created) for the guarantees.
    pub fn on_session_expired(mut self, f: impl Fn(&SessionInfo<'_>) + Send + Sync + 'static) -> Self {
        self.session_hooks.expired.push(Arc::new(f));
        self
    }
    /// The current key that seals MRTR `requestState` (any length; 32 random bytes or
    /// more recommended). Every node of a deployment must share it. Without one a random
    /// per-process key is used (a warning is logged at build): state then does not
    /// survive a restart, and [`multi_node`](Self::multi_node) servers refuse to build.
    pub fn sealing_key(mut self, key: impl Into<Vec<u8>>) -> Self {
        self.sealing_key = Some(key.into());
        self
    }
    /// A previous sealing key, still accepted when opening `requestState` (repeatable).
    /// To rotate: make the new key current, keep the old one here for at least the
    /// state TTL, then remove it (state sealed under a removed key is rejected).
    pub fn previous_sealing_key(mut self, key: impl Into<Vec<u8>>) -> Self {
        self.previous_sealing_keys.push(key.into());
        self
    }
    /// Declares that several nodes serve this deployment (default `false`). Such a
    /// server needs a shared [`sealing_key`](Self::sealing_key):
    /// [`try_build`](Self::try_build) fails without one.
    pub fn multi_node(mut self, yes: bool) -> Self {
        self.multi_node = yes;
        self
    }
    /// Shares legacy Streamable HTTP sessions with other nodes through `dir` (default:
    /// none, sessions live in this process's registry). Any node sharing the directory
    /// then serves any request of any session, and a session ends once for the cluster:
    /// `on_session_ended` / `on_session_expired` run on the node that ends it. Such a
    /// server needs a shared [`sealing_key`](Self::sealing_key) ([`try_build`](Self::try_build)
    /// fails without one). See [`SessionDirectory`].
    ///
    /// ```
    /// use ferromcp_core::session::MemorySessionDirectory;
    /// let dir = MemorySessionDirectory::new(); // or ferromcp_redis::RedisSessionDirectory
    /// let node = |dir: MemorySessionDirectory| {
    ///     ferromcp_core::Server::builder("demo", "1.0.0").sealing_key([7u8; 32]).session_directory(dir).build()
    /// };
    /// let (a, b) = (node(dir.clone()), node(dir));
    /// assert!(a.session_directory().is_some() && b.session_directory().is_some());
    /// ```
    pub fn session_directory(self, dir: impl SessionDirectory) -> Self {
        self.session_directory_arc(Arc::new(dir))
    }
    /// Like [`session_directory`](Self::session_directory), with a directory already shared.
    pub fn session_directory_arc(mut self, dir: Arc<dyn SessionDirectory>) -> Self {
        self.directory = Some(dir);
        self
    }
    /// Connects this node to the other nodes of a deployment (see [`crate::bus`]): the
    /// client's answers to asks reach the node that asked, broadcasts and server-wide
    /// notices reach every node's sessions. Implies [`multi_node`](Self::multi_node)
    /// (a shared sealing key is required). The bus starts when the server is built,
    /// which must then happen inside a Tokio runtime.
    ///
    /// ```no_run
    /// # async fn f(bus: std::sync::Arc<dyn ferromcp_core::bus::Bus>) {
    /// let server = ferromcp_core::Server::builder("notes", "1")
    ///     .sealing_key(b"a key every node shares, 32 bytes+".to_vec())
    ///     .bus(bus) // e.g. ferromcp_redis::RedisBus
    ///     .build();
    /// # let _ = server; }
    /// ```
    pub fn bus(mut self, bus: Arc<dyn crate::bus::Bus>) -> Self {
        self.bus = Some(bus);
        self.multi_node = true;
        self
    }
    /// The largest sealed `requestState` handed out (default 1 MiB; see
    /// [`ServerConfig::max_request_state_bytes`]).
    pub fn max_request_state_bytes(mut self, n: usize) -> Self {
        self.config.max_request_state_bytes = n;
        self
    }
    /// How long running calls may finish after a line-delimited connection's input
    /// ends (default 30 s; see [`ServerConfig::eof_grace`]).
    pub fn eof_grace(mut self, d: Duration) -> Self {
        self.config.eof_grace = d;
        self
    }

    /// Builds the server.
    ///
    /// # Panics
    ///
    /// When [`try_build`](Self::try_build) fails: a [`multi_node`](Self::multi_node)
    /// server without a sealing key, or no key configured and no randomness available
    /// from the operating system. The panic message says what to configure.
    pub fn build(self) -> Server {
        match self.try_build() {
            Ok(s) => s,
            Err(e) => panic!("{e}"),
        }
    }

    /// Builds the server, or says why the configuration cannot work (see [`BuildError`]).
    pub fn try_build(self) -> Result<Server, BuildError> {
        for dup in &self.tool_errors {
            tracing::warn!(tool = %dup, "tool registered twice; the last registration wins");
        }
        let ttl = self.config.request_state_ttl;
        let sealer = match &self.sealing_key {
            Some(k) => Sealer::with_keys(k, &self.previous_sealing_keys, ttl),
            None if self.multi_node => return Err(BuildError::MissingSealingKey),
            None if self.directory.is_some() => return Err(BuildError::EphemeralKeyWithDirectory),
            None if !self.previous_sealing_keys.is_empty() => return Err(BuildError::PreviousKeysWithoutCurrent),
            None => {
                tracing::warn!(
                    "no requestState sealing key configured: using a random per-process key, so MRTR \
                     retries fail after a restart or on another node; set ServerBuilder::sealing_key"
                );
                Sealer::random(ttl)?
            }
        };
        let info_json = serde_json::to_string(&self.info).unwrap_or_else(|_| "{}".into()).into_boxed_str();
        let store: Arc<dyn StateStore> = self.store.unwrap_or_else(|| Arc::new(MemoryStore::new()));
        // Counted and timed while metrics are on (see `store_metrics`); a pass-through otherwise.
        let store: Arc<dyn StateStore> = Arc::new(crate::store_metrics::MeteredStateStore(store));
        let sessions = Arc::new(SessionRegistry::new(self.config.session_limits));
        let keys = crate::keys::Keys::new(&self.config.state_namespace);
        // A session that ends takes its state with it (first, before the user's hooks).
        let resources = Arc::new(crate::resources::Resources::default());
        let clear_state = crate::keys::on_session_end(keys.clone(), store.clone(), resources.clone());
        sessions.on_end(move |s, _why| clear_state(s));
        let hooks = self.session_hooks.clone();
        let SessionHooks { created, ended, expired } = self.session_hooks;
        for h in created {
            sessions.on_created(move |s| h(&SessionInfo::of(s, None)));
        }
        for h in ended {
            sessions.on_end(move |s, why| {
                if why == EndReason::Closed {
                    h(&SessionInfo::of(s, Some(why)));
                }
            });
        }
        for h in expired {
            sessions.on_end(move |s, why| {
                if why.by_server() {
                    h(&SessionInfo::of(s, Some(why)));
                }
            });
        }
        let bus = self.bus;
        let server = Server {
            inner: Arc::new(Inner {
                info: self.info,
                info_json,
                instructions: self.instructions,
                registry: Registry::new(self.components),
                sessions,
                keys,
                store,
                middleware: self.middleware.into(),
                visibility_used: std::sync::atomic::AtomicBool::new(false),
                config: self.config,
                sealer,
                notifier: crate::notify::Notifier::new(bus.clone()),
                pending_asks: std::sync::atomic::AtomicUsize::new(0),
                directory: self.directory,
                hooks,
                resources,
                lifespan: self.lifespan,
                bus,
            }),
        };
        if let Some(bus) = &server.inner.bus {
            bus.start(server.inner.notifier.sink(&server.inner.sessions, bus.node()));
            server.inner.notifier.forward_list_changes(&server.inner.registry);
        }
        Ok(server)
    }
}

mod lifespan;

#[cfg(test)]
mod tests;
