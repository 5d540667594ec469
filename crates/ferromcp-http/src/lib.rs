//! ferromcp-http: the Streamable HTTP transport, serving both MCP eras on one endpoint.
//!
//! The app is an axum `Router` (so a tower `Service`) that you can serve
//! with [`serve`] or nest in your own application:
//!
//! ```no_run
//! # async fn run(server: ferromcp_core::Server) -> std::io::Result<()> {
//! use ferromcp_http::{HttpConfig, router};
//! let app = axum::Router::new().nest("/api", router(server, HttpConfig::default()));
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:3001").await?;
//! axum::serve(listener, app).await
//! # }
//! ```
//!
//! # Layout
//! - [`config`]: [`HttpConfig`] (path, sessions, body limit, DNS-rebinding guard,
//!   connection limit and timeouts).
//! - `listener`: the accept loop of [`serve`]: connection limit, accept-error back-off.
//! - `conn`: one connection: hyper HTTP/1.1, header-read / body-read / keep-alive
//!   timeouts, the peer address (`ConnectInfo`) on every request.
//! - `guard`: Host/Origin checks (DNS-rebinding protection).
//! - `extract`: the shared preamble as axum extractors (Host/Origin guard,
//!   `Content-Type`, bearer authentication) whose rejections are JSON-RPC errors with
//!   the right HTTP status.
//! - [`auth`]: bearer authentication (401/403 challenges, rate limit) and
//!   session-to-principal binding.
//! - [`resource_metadata`]: the RFC 9728 protected resource metadata document.
//! - `post`: POST — the engine's exchange (era, session), dispatch, JSON or SSE answers.
//! - `stream`: the lazy JSON→SSE upgrade and SSE framing (modern era).
//! - `legacy_stream`: legacy answers: run to completion, resumable SSE.
//! - `resume`: event ids, live streams, `Last-Event-ID` replay.
//! - `session_routes`: GET (standalone stream) and DELETE (end session).
//! - `headers`: header helpers and the era module's header view.
//! - `limits`: the open-stream bound and the 503/429 refusals with `Retry-After`.
//! - [`metrics`]: `GET /metrics`, the session counters and per-request counts, errors and
//!   latency histograms in Prometheus text format.
//! - [`settings`]: [`Settings`], the `FERROMCP_*` environment variables.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod auth;
pub mod config;
mod conn;
mod extract;
mod guard;
mod headers;
mod legacy_stream;
mod limits;
mod listener;
pub mod metrics;
mod negotiate;
mod post;
pub mod resource_metadata;
mod resume;
mod session_routes;
pub mod settings;
mod sse_transport;
mod stream;

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::routing::post as post_route;
use ferromcp_core::Server;

pub use auth::HttpAuth;
pub use config::{DnsRebinding, EventStoreHandle, HttpConfig};
pub use metrics::metrics_router;
pub use resource_metadata::ResourceMetadata;
pub use settings::{Settings, SettingsError};

/// The client's IP address, when the server records connection info (as [`serve`] and
/// [`serve_listener`] do): it bounds unauthenticated clients' sessions
/// ([`SessionLimits::max_per_client`](ferromcp_core::session::SessionLimits::max_per_client)).
pub(crate) fn client_ip(ext: &axum::http::Extensions) -> Option<std::net::IpAddr> {
    ext.get::<axum::extract::ConnectInfo<SocketAddr>>().map(|c| c.0.ip())
}

/// Shared state of the HTTP app.
pub(crate) struct AppState {
    pub(crate) server: Server,
    pub(crate) cfg: HttpConfig,
    pub(crate) hub: Arc<resume::StreamHub>,
    /// Open SSE streams, against `cfg.max_open_streams`.
    pub(crate) streams: Arc<limits::OpenStreams>,
    /// The idle-session reaper, running while the router lives (see [`router`]).
    reaper: std::sync::OnceLock<ferromcp_core::session::ReaperGuard>,
}

impl AppState {
    /// The event store session records persist in, if configured.
    pub(crate) fn events(&self) -> Option<&Arc<dyn ferromcp_core::events::EventStore>> {
        self.cfg.event_store.as_ref().map(|h| &h.0)
    }

    /// Starts the idle-session reaper unless it runs already (it needs a runtime: a
    /// router built outside one starts it on its first request).
    pub(crate) fn ensure_reaper(&self) {
        if self.reaper.get().is_none() && tokio::runtime::Handle::try_current().is_ok() {
            // With a session directory, the reaper also takes part in the cluster's sweep.
            let _ = self.reaper.get_or_init(|| self.server.start_reaper(self.events().cloned()));
        }
    }

    /// What makes `session`'s streams resumable, if an event store is configured.
    pub(crate) fn resumable(&self, session: &ferromcp_core::session::Session) -> Option<legacy_stream::Resumable> {
        let store = self.cfg.event_store.as_ref()?;
        Some(legacy_stream::Resumable {
            store: store.0.clone(),
            hub: self.hub.clone(),
            session: session.id_arc(),
            retry_ms: self.cfg.sse_retry_ms,
        })
    }
}

/// Builds the MCP router: POST, GET and DELETE on `cfg.path` (plus the HTTP+SSE and
/// metrics routes when configured). Nest it in your own axum app as you like.
///
/// The router runs the idle-session reaper, as [`serve`] does: sessions idle longer
/// than [`SessionLimits::idle_timeout`](ferromcp_core::session::SessionLimits::idle_timeout)
/// expire (their `on_session_expired` hooks run and their state is deleted). The reaper
/// starts with the router (or, for a router built outside a tokio runtime, with its
/// first request) and stops when the router and all its clones are dropped.
pub fn router(server: Server, mut cfg: HttpConfig) -> Router {
    let path = cfg.path.clone();
    if let Some(h) = cfg.event_store.as_mut() {
        // Counted and timed while metrics are on (see `ferromcp_core::store_metrics`).
        h.0 = Arc::new(ferromcp_core::store_metrics::MeteredEventStore(h.0.clone()));
    }
    if let Some(store) = &cfg.event_store {
        // A session that ends takes its events (and persisted record) with it.
        let store = store.0.clone();
        server.sessions().on_end(move |s, _why| {
            let (store, id) = (store.clone(), s.id_arc());
            if let Ok(rt) = tokio::runtime::Handle::try_current() {
                rt.spawn(async move {
                    if let Err(e) = store.remove_session(&id).await {
                        tracing::warn!("could not remove an ended session's events: {e}");
                    }
                });
            }
        });
    }
    let streams = limits::OpenStreams::new(cfg.max_open_streams);
    let state = Arc::new(AppState { server, cfg, hub: Arc::default(), streams, reaper: Default::default() });
    state.ensure_reaper();
    let app = Router::new()
        .route(&path, post_route(post::handle).get(session_routes::get).delete(session_routes::delete))
        .with_state(state.clone());
    let app = match state.cfg.auth.as_ref().and_then(|a| a.metadata.as_deref()) {
        Some(meta) => app.merge(resource_metadata::routes(meta)),
        None => app,
    };
    let app = match &state.cfg.metrics_path {
        Some(p) => app.merge(metrics::route(
            state.server.clone(),
            p,
            Some(state.cfg.dns_rebinding.clone()),
            Some(state.streams.clone()),
        )),
        None => app,
    };
    if state.cfg.legacy_sse { app.merge(sse_transport::routes(state)) } else { app }
}

/// Binds `addr`, sets TCP_NODELAY on every connection and serves [`router`] (idle-session
/// reaper included) until the process ends.
///
/// Connections are HTTP/1.1, at most [`HttpConfig::max_connections`] at once, closed by
/// the header-read, body-read and keep-alive timeouts of [`HttpConfig`]; every request
/// carries the peer address as `axum::extract::ConnectInfo<SocketAddr>`.
///
/// For a non-loopback bind the loopback-only DNS-rebinding guard is switched off (a
/// public server is reached by its real host name); configure
/// [`DnsRebinding::AllowList`] to keep a guard.
pub async fn serve(server: Server, addr: SocketAddr, cfg: HttpConfig) -> std::io::Result<()> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    serve_listener(server, listener, cfg).await
}

/// Serves on an already bound listener, as [`serve`] does (the loopback-only guard is
/// switched off for a non-loopback listener). Accept errors are logged and backed off,
/// never returned.
///
/// Bind first to learn the real address of a port-0 bind, then serve:
///
/// ```no_run
/// # async fn run(server: ferromcp_core::Server) -> std::io::Result<()> {
/// let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
/// eprintln!("serving on http://{}/mcp", listener.local_addr()?);
/// ferromcp_http::serve_listener(server, listener, ferromcp_http::HttpConfig::default()).await
/// # }
/// ```
pub async fn serve_listener(server: Server, listener: tokio::net::TcpListener, cfg: HttpConfig) -> std::io::Result<()> {
    serve_with_shutdown(server, listener, cfg, std::future::pending()).await
}

/// Serves on an already bound listener, as [`serve_listener`] does, until `signal`
/// completes; then stops accepting connections and runs the server's lifespan shutdown
/// hook ([`ServerBuilder::lifespan_with_shutdown`](ferromcp_core::ServerBuilder::lifespan_with_shutdown)).
/// Connections accepted before the signal are not awaited: they end with the runtime.
///
/// Every `serve*` function runs inside the server's lifespan ([`Server::run`]): the startup
/// hook first (a failure is returned as an error before anything is accepted), the
/// shutdown hook once serving ends.
///
/// ```no_run
/// # async fn run(server: ferromcp_core::Server) -> std::io::Result<()> {
/// let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
/// let ctrl_c = async { let _ = tokio::signal::ctrl_c().await; };
/// ferromcp_http::serve_with_shutdown(server, listener, ferromcp_http::HttpConfig::default(), ctrl_c).await
/// # }
/// ```
pub async fn serve_with_shutdown(
    server: Server,
    listener: tokio::net::TcpListener,
    mut cfg: HttpConfig,
    signal: impl Future<Output = ()>,
) -> std::io::Result<()> {
    if let Ok(addr) = listener.local_addr()
        && !addr.ip().is_loopback()
        && matches!(cfg.dns_rebinding, DnsRebinding::Loopback)
    {
        tracing::info!(%addr, "non-loopback bind: loopback Host/Origin guard disabled");
        cfg.dns_rebinding = DnsRebinding::Off;
    }
    let max = listener::effective_max_connections(cfg.max_connections);
    let timeouts = conn::Timeouts {
        header: cfg.header_read_timeout,
        body: cfg.body_read_timeout,
        keep_alive: cfg.keep_alive_timeout,
    };
    server.start().await.map_err(|e| std::io::Error::other(e.to_string()))?;
    let app = router(server.clone(), cfg);
    listener::run(listener, app, max, timeouts, signal).await;
    server.shutdown().await;
    Ok(())
}
