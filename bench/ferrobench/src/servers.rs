//! The two servers under test, run as hidden subcommands in their own (pinned) process.
//!
//! * `serve-ferromcp`: the facade API exactly as `examples/bench_server.rs` uses it, a
//!   `#[tool] add` (and `increment`, the session's counter, for the `state` benchmark;
//!   `--redis URL` keeps state in Redis) served by `ferromcp::http::serve_listener`
//!   (stateless or stateful).
//! * `serve-ceiling`: raw axum 0.8 + serde_json, no MCP library: it parses the JSON-RPC
//!   body into a small struct, adds, and answers a canned MCP-shaped result. This is the
//!   cost of HTTP + JSON alone, the ceiling ferromcp is compared with.
//!
//! `serve-ferromcp --events off|memory|sqlite:PATH|redis:URL` (the `resume` benchmark) also serves
//! `add_progress` and sets the event store behind resumable legacy streams.
//!
//! Both bind 127.0.0.1 (port 0 = any free port), set TCP_NODELAY on accepted sockets,
//! print [`READY_PREFIX`]`<port>` on stdout and run on a single-threaded runtime.

use std::io::Write;

use axum::serve::ListenerExt;
use clap::ValueEnum;
use ferromcp::http::HttpConfig;
use ferromcp::prelude::*;

use crate::procs::READY_PREFIX;

/// The tokio runtime a server runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum RuntimeKind {
    /// `new_current_thread`: everything on the main thread.
    Current,
    /// `new_multi_thread` with one worker thread.
    Multi1,
}

/// Legacy-era behaviour of the ferromcp server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Mode {
    /// `HttpConfig::default().stateless()`: no legacy sessions.
    Stateless,
    /// `HttpConfig::default()`: legacy `initialize` opens a session.
    Stateful,
}

/// The event store of the ferromcp server (`--events`), for the `resume` benchmark.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Events {
    /// `off`: `HttpConfig::without_event_store()`, legacy SSE answers carry no ids.
    Off,
    /// `memory`: the default in-memory event store.
    Memory,
    /// `sqlite:PATH`: `SqliteEventStore::open(PATH)`.
    Sqlite(std::path::PathBuf),
    /// `redis:URL`: `RedisEventStore::connect(URL)` (Redis Streams).
    Redis(String),
}

impl std::str::FromStr for Events {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "off" => Ok(Events::Off),
            "memory" => Ok(Events::Memory),
            _ => match (s.strip_prefix("sqlite:"), s.strip_prefix("redis:")) {
                (Some(p), _) if !p.is_empty() => Ok(Events::Sqlite(p.into())),
                (_, Some(url)) if !url.is_empty() => Ok(Events::Redis(url.into())),
                _ => Err(format!("expected off, memory, sqlite:PATH or redis:URL, got {s:?}")),
            },
        }
    }
}

pub(crate) fn runtime(kind: RuntimeKind) -> std::io::Result<tokio::runtime::Runtime> {
    match kind {
        RuntimeKind::Current => tokio::runtime::Builder::new_current_thread().enable_all().build(),
        RuntimeKind::Multi1 => tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build(),
    }
}

pub(crate) async fn bind(port: u16) -> std::io::Result<tokio::net::TcpListener> {
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    let port = listener.local_addr()?.port();
    let mut out = std::io::stdout().lock();
    writeln!(out, "{READY_PREFIX}{port}")?;
    out.flush()?;
    Ok(listener)
}

/// Add two integers.
#[tool]
async fn add(a: i64, b: i64) -> i64 {
    a + b
}

/// Add two integers after one progress notification (so a legacy answer is SSE).
#[tool]
async fn add_progress(ctx: Context, a: i64, b: i64) -> i64 {
    ctx.report_progress(1.0, Some(1.0), None).await;
    a + b
}

/// Runs the ferromcp server until killed. With `events` (the `resume` benchmark) it
/// also serves `add_progress` and uses that event store. It always serves `increment`
/// too, with `redis` on the Redis state store (see [`crate::state::with_state`]).
pub fn serve_ferromcp(
    port: u16,
    mode: Mode,
    rt: RuntimeKind,
    events: Option<Events>,
    redis: Option<String>,
    limits: ferromcp::session::SessionLimits,
) -> std::io::Result<()> {
    runtime(rt)?.block_on(async move {
        let builder = Server::builder("ferrobench", "0.1.0").tool(add).session_limits(limits);
        let mut builder = crate::state::with_state(builder, redis.as_deref()).await?;
        if events.is_some() {
            builder = builder.tool(add_progress);
        }
        let server = builder.build();
        let mut cfg = match mode {
            Mode::Stateless => HttpConfig::default().stateless(),
            Mode::Stateful => HttpConfig::default(),
        };
        match events {
            None | Some(Events::Memory) => {}
            Some(Events::Off) => cfg = cfg.without_event_store(),
            Some(Events::Sqlite(path)) => {
                let store = ferromcp::sqlite::SqliteEventStore::open(&path).map_err(std::io::Error::other)?;
                cfg = cfg.event_store(store);
            }
            Some(Events::Redis(url)) => {
                let store = ferromcp::redis::RedisEventStore::connect(&url).await.map_err(std::io::Error::other)?;
                cfg = cfg.event_store(store);
            }
        }
        let listener = bind(port).await?;
        ferromcp::http::serve_listener(server, listener, cfg).await
    })
}

/// Runs the raw axum ceiling server until killed.
pub fn serve_ceiling(port: u16, rt: RuntimeKind) -> std::io::Result<()> {
    runtime(rt)?.block_on(async move {
        let app = crate::ceiling::router();
        let listener = bind(port).await?.tap_io(|tcp| {
            let _ = tcp.set_nodelay(true);
        });
        axum::serve(listener, app).await
    })
}
