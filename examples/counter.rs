//! Session-scoped state, end to end: a counter and a small memory per client, isolated
//! between clients, with a TTL, in memory or in Redis.
//!
//! ```sh
//! cargo run --example counter -- --port 3002                      # HTTP, memory store
//! cargo run --example counter -- --port 3002 --redis redis://127.0.0.1:6379/
//! cargo run --example counter -- --stdio
//! ```
//!
//! On 2025-11-25 the scope is the session (HTTP) or the connection (stdio). On
//! 2026-07-28 it is the authenticated principal (`--token secret=alice`), or an explicit
//! handle from `open_session` passed as the `session` argument; without either, state
//! calls fail with an error that says so. A middleware stores `{"greeted": true}` when a
//! session starts, readable with `recall("greeted")`.

use std::time::Duration;

use clap::Parser;
use ferromcp::auth::StaticBearer;
use ferromcp::http::{HttpAuth, HttpConfig};
use ferromcp::middleware::{Middleware, MwFuture, Next};
use ferromcp::prelude::*;
use ferromcp::state::{EncryptedStore, MemoryStore, Principal, SessionHandle, StateStore};
use serde_json::Value;

#[derive(Parser)]
struct Args {
    /// Port for Streamable HTTP on 127.0.0.1.
    #[arg(long, default_value_t = 3002)]
    port: u16,
    /// Serve over stdio instead.
    #[arg(long)]
    stdio: bool,
    /// Keep state in Redis at this URL instead of in memory.
    #[arg(long)]
    redis: Option<String>,
    /// Encrypt state at rest with this key material.
    #[arg(long)]
    encrypt_key: Option<String>,
    /// TTL of state values, in seconds (default one day).
    #[arg(long)]
    state_ttl: Option<u64>,
    /// Accept a bearer token: `TOKEN=SUBJECT` (repeatable). Tokens are optional unless
    /// `--require-auth` is given.
    #[arg(long = "token")]
    tokens: Vec<String>,
    /// Refuse requests without a valid token.
    #[arg(long)]
    require_auth: bool,
    /// Shared sealing key for MRTR requestState (needed when several nodes serve).
    #[arg(long)]
    sealing_key: Option<String>,
}

/// Add `by` (default 1) to this session's counter and return the new value.
#[tool]
async fn increment(
    ctx: Context,
    by: Option<i64>,
    #[arg(rename = "session")] _session: Option<SessionHandle>,
) -> Result<i64> {
    let by = by.unwrap_or(1);
    ctx.state().update("counter", |old: Option<i64>| old.unwrap_or(0) + by).await
}

/// This session's counter.
#[tool]
async fn get_counter(ctx: Context, #[arg(rename = "session")] _session: Option<SessionHandle>) -> Result<i64> {
    Ok(ctx.state().get::<i64>("counter").await?.unwrap_or(0))
}

/// Remember any JSON value under `key` for this session.
#[tool]
async fn remember(
    ctx: Context,
    key: String,
    value: Value,
    #[arg(rename = "session")] _session: Option<SessionHandle>,
) -> Result<String> {
    ctx.state().set(&format!("mem:{key}"), &value).await?;
    Ok(format!("remembered {key}"))
}

/// What this session remembered under `key` (null if nothing).
#[tool]
async fn recall(
    ctx: Context,
    key: String,
    #[arg(rename = "session")] _session: Option<SessionHandle>,
) -> Result<Value> {
    Ok(ctx.state().get::<Value>(&format!("mem:{key}")).await?.unwrap_or(Value::Null))
}

/// Forget `key`.
#[tool]
async fn forget(ctx: Context, key: String, #[arg(rename = "session")] _session: Option<SessionHandle>) -> Result<bool> {
    ctx.state().delete(&format!("mem:{key}")).await
}

#[derive(Serialize, JsonSchema)]
struct WhoAmI {
    session_id: Option<String>,
    scope: String,
}

/// Which session scope this call runs in.
#[tool]
async fn whoami(ctx: Context, #[arg(rename = "session")] _session: Option<SessionHandle>) -> Json<WhoAmI> {
    Json(WhoAmI { session_id: ctx.session_id().map(str::to_owned), scope: ctx.scope().kind().to_owned() })
}

#[derive(Serialize, JsonSchema)]
struct Opened {
    /// Pass this as the `session` argument of later calls.
    handle: String,
}

/// Open a session (2026-07-28): returns a handle to pass as `session`; expires after a
/// day without use.
#[tool]
async fn open_session(ctx: Context) -> Result<Json<Opened>> {
    let handle = ctx.open_session().await?;
    ctx.state_for(&handle).await?.set("mem:greeted", &true).await?;
    Ok(Json(Opened { handle: handle.to_string() }))
}

/// Stores `{"greeted": true}` in every new legacy session.
struct Greeter;

impl Middleware for Greeter {
    fn on_initialize<'a>(
        &'a self,
        ctx: &'a Context,
        input: (),
        next: Next<'a, (), Result<()>>,
    ) -> MwFuture<'a, Result<()>> {
        Box::pin(async move {
            ctx.state().set("mem:greeted", &true).await?;
            next.run(ctx, input).await
        })
    }
}

async fn store(args: &Args) -> std::result::Result<std::sync::Arc<dyn StateStore>, Box<dyn std::error::Error>> {
    let base: std::sync::Arc<dyn StateStore> = match &args.redis {
        Some(url) => std::sync::Arc::new(ferromcp::redis::RedisStore::connect(url).await?),
        None => std::sync::Arc::new(MemoryStore::new()),
    };
    Ok(match &args.encrypt_key {
        Some(k) => std::sync::Arc::new(EncryptedStore::from_arc(base, k.as_bytes())),
        None => base,
    })
}

#[tokio::main]
async fn main() -> std::result::Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse();
    let mut b = Server::builder("ferromcp-counter", env!("CARGO_PKG_VERSION"))
        .tool(increment)
        .tool(get_counter)
        .tool(remember)
        .tool(recall)
        .tool(forget)
        .tool(whoami)
        .tool(open_session)
        .middleware(Greeter)
        .state_store_arc(store(&args).await?);
    if let Some(ttl) = args.state_ttl {
        b = b.state_ttl(Duration::from_secs(ttl));
    }
    if let Some(k) = &args.sealing_key {
        b = b.sealing_key(k.as_bytes().to_vec());
    }
    let server = b.build();
    if args.stdio {
        ferromcp::transport::serve_stdio(server).await?;
        return Ok(());
    }
    let mut cfg = HttpConfig::default();
    if !args.tokens.is_empty() {
        let mut verifier = StaticBearer::new();
        for t in &args.tokens {
            let (token, subject) = t.split_once('=').ok_or("--token takes TOKEN=SUBJECT")?;
            verifier = verifier.token(token, Principal::new(subject));
        }
        cfg = cfg.auth(if args.require_auth { HttpAuth::required(verifier) } else { HttpAuth::optional(verifier) });
    }
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], args.port));
    eprintln!("counter MCP server on http://{addr}/mcp");
    ferromcp::http::serve(server, addr, cfg).await?;
    Ok(())
}
