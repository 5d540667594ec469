//! Session-scoped state, end to end: a counter and a small memory per client, isolated
//! between clients, with a TTL, in memory or in Redis.
//!
//! ```sh
//! cargo run --example counter -- --port 3002                      # HTTP, memory store
//! cargo run --example counter -- --port 3002 --redis redis://127.0.0.1:6379/ --sealing-key KEY
//! cargo run --example counter -- --stdio
//! ```
//!
//! On 2025-11-25 the scope is the session (HTTP) or the connection (stdio). On
//! 2026-07-28 it is the authenticated principal (`--token secret=alice`), or an explicit
//! handle from `open_session` passed as the `session` argument; without either, state
//! calls fail with an error that says so. A middleware stores `{"greeted": true}` when a
//! session starts, readable with `recall("greeted")`.
//!
//! OAuth 2.1 resource server (JWT access tokens from an authorization server):
//!
//! ```sh
//! cargo run --example counter -- --port 3002 --jwt-jwks https://id.example.com/jwks.json \
//!     --jwt-issuer https://id.example.com/ --jwt-audience http://127.0.0.1:3002/mcp
//! ```
//!
//! The audience is the server's canonical URI and the `resource` of its RFC 9728
//! metadata (`/.well-known/oauth-protected-resource/mcp`); requests need a valid token.
//! `reset` needs the `counter:write` scope (403 `insufficient_scope` without it, and
//! hidden from `tools/list`). Session login, as in the session guide: `login` (with a
//! `--login USER=PASSWORD` account) stores the user in the session's state, `logout`
//! drops it, `secret` needs it. `whoami` shows the scope and the subject (token first,
//! then session login; null without either). `--port 0` picks a free port (printed).

use std::time::Duration;

use std::sync::{Arc, OnceLock};

use clap::Parser;
use ferromcp::auth::{StaticBearer, TokenVerifier};
use ferromcp::http::{HttpAuth, HttpConfig, ResourceMetadata};
use ferromcp::middleware::{Middleware, MwFuture, Next};
use ferromcp::prelude::*;
use ferromcp::state::{EncryptedStore, MemoryStore, Principal, SessionHandle, StateStore, StoreFuture};
use ferromcp_auth::{JwtVerifier, LocalRateLimiter};
use serde_json::Value;

#[derive(Parser)]
struct Args {
    /// Port for Streamable HTTP on 127.0.0.1.
    #[arg(long, default_value_t = 3002)]
    port: u16,
    /// Serve over stdio instead.
    #[arg(long)]
    stdio: bool,
    /// Put the whole server on the Redis at this URL: state, resumable streams and
    /// session records, and the bus between nodes (needs `--sealing-key`): several such
    /// processes behind a round-robin load balancer are one server.
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
    /// Verify JWT access tokens with the keys at this JWKS URL (https, or http on
    /// loopback). Needs `--jwt-issuer`; makes tokens required.
    #[arg(long)]
    jwt_jwks: Option<String>,
    /// The expected `iss` of JWT access tokens (also named as authorization server).
    #[arg(long)]
    jwt_issuer: Option<String>,
    /// The expected `aud`: this server's canonical URI (default
    /// `http://127.0.0.1:PORT/mcp`), published as the metadata's `resource`.
    #[arg(long)]
    jwt_audience: Option<String>,
    /// Least seconds between JWKS refetches caused by an unknown `kid`.
    #[arg(long, default_value_t = 10)]
    jwks_refetch_secs: u64,
    /// An account for the `login` tool: `USER=PASSWORD` (repeatable).
    #[arg(long = "login")]
    logins: Vec<String>,
    /// Requests per minute allowed to each principal (HTTP: 429 + Retry-After; stdio:
    /// a JSON-RPC error).
    #[arg(long)]
    rate_limit: Option<u32>,
    /// Burst allowed above `--rate-limit` (default: the rate).
    #[arg(long)]
    rate_burst: Option<u32>,
    /// With `--redis`: share the rate limit between nodes through Redis.
    #[arg(long)]
    rate_limit_redis: bool,
    /// Also serve the legacy HTTP+SSE transport (`GET /sse`, `POST /messages`).
    #[arg(long)]
    legacy_sse: bool,
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
    /// The access token's subject, else the session login's; null without either.
    subject: Option<String>,
}

/// The state key of the session login.
const LOGIN: &str = "auth:login";

/// The user logged in to this session with `login`, if any.
async fn logged_in(ctx: &Context) -> Option<String> {
    ctx.state().get::<String>(LOGIN).await.ok().flatten()
}

/// Which session scope this call runs in, and who calls.
#[tool]
async fn whoami(ctx: Context, #[arg(rename = "session")] _session: Option<SessionHandle>) -> Json<WhoAmI> {
    let subject = match ctx.access_token() {
        Some(t) => Some(t.subject().to_owned()),
        None => logged_in(&ctx).await,
    };
    Json(WhoAmI { session_id: ctx.session_id().map(str::to_owned), scope: ctx.scope().kind().to_owned(), subject })
}

/// `--login` accounts: user → password.
static ACCOUNTS: OnceLock<std::collections::HashMap<String, String>> = OnceLock::new();

/// Log this session in as `username` (an account given with `--login`).
#[tool]
async fn login(
    ctx: Context,
    username: String,
    password: String,
    #[arg(rename = "session")] _session: Option<SessionHandle>,
) -> Result<String> {
    let ok = ACCOUNTS.get().and_then(|a| a.get(&username)).is_some_and(|p| *p == password);
    if !ok {
        return Err(Error::tool("Invalid username or password"));
    }
    ctx.state().set(LOGIN, &username).await?;
    Ok(format!("Logged in as {username}"))
}

/// Log this session out.
#[tool]
async fn logout(ctx: Context, #[arg(rename = "session")] _session: Option<SessionHandle>) -> Result<String> {
    ctx.state().delete(LOGIN).await?;
    Ok("Logged out".into())
}

/// A secret for logged-in sessions only.
#[tool]
async fn secret(ctx: Context, #[arg(rename = "session")] _session: Option<SessionHandle>) -> Result<String> {
    match logged_in(&ctx).await {
        Some(user) => Ok(format!("{user}'s secret: the counter starts at zero")),
        None => Err(Error::tool("This session is not logged in; call `login` first")),
    }
}

/// Reset this session's counter to zero (needs the `counter:write` scope).
#[tool(scopes = ["counter:write"])]
async fn reset(ctx: Context, #[arg(rename = "session")] _session: Option<SessionHandle>) -> Result<i64> {
    ctx.state().set("counter", &0i64).await?;
    Ok(0)
}

/// Tries the static tokens first, then JWT.
struct Either(Option<StaticBearer>, Option<JwtVerifier>);

impl TokenVerifier for Either {
    fn verify<'a>(&'a self, token: &'a str) -> StoreFuture<'a, Option<Principal>> {
        Box::pin(async move {
            if let Some(s) = &self.0
                && let Some(p) = s.verify(token).await
            {
                return Some(p);
            }
            match &self.1 {
                Some(j) => j.verify(token).await,
                None => None,
            }
        })
    }
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

async fn store(
    args: &Args,
    cluster: Option<&ferromcp::redis::RedisCluster>,
) -> std::result::Result<std::sync::Arc<dyn StateStore>, Box<dyn std::error::Error>> {
    let base: std::sync::Arc<dyn StateStore> = match cluster {
        Some(c) => std::sync::Arc::new(c.store().clone()),
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
    let cluster = match &args.redis {
        Some(url) => Some(ferromcp::redis::RedisCluster::connect(url).await?),
        None => None,
    };
    let mut b = Server::builder("ferromcp-counter", env!("CARGO_PKG_VERSION"))
        .tool(increment)
        .tool(get_counter)
        .tool(remember)
        .tool(recall)
        .tool(forget)
        .tool(whoami)
        .tool(open_session)
        .tool(login)
        .tool(logout)
        .tool(secret)
        .tool(reset)
        .middleware(Greeter)
        .state_store_arc(store(&args, cluster.as_ref()).await?);
    if let Some(c) = &cluster {
        // The bus (the store is set above, possibly encrypted at rest).
        b = b.bus(c.bus().clone());
    }
    if let Some(ttl) = args.state_ttl {
        b = b.state_ttl(Duration::from_secs(ttl));
    }
    if let Some(k) = &args.sealing_key {
        b = b.sealing_key(k.as_bytes().to_vec());
    }
    let mut accounts = std::collections::HashMap::new();
    for l in &args.logins {
        let (user, password) = l.split_once('=').ok_or("--login takes USER=PASSWORD")?;
        accounts.insert(user.to_owned(), password.to_owned());
    }
    let _ = ACCOUNTS.set(accounts);
    let limiter = rate_limiter(&args).await?;
    if let Some(l) = limiter.as_ref().filter(|_| args.stdio) {
        // stdio: a JSON-RPC error when over the rate (HTTP applies the limiter in
        // `HttpAuth`, with 429 and Retry-After; both would count each request twice).
        b = b.middleware(ferromcp_auth::RateLimit::from_arc(l.clone()));
    }
    let server = b.try_build()?;
    if args.stdio {
        ferromcp::transport::serve_stdio(server).await?;
        return Ok(());
    }
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", args.port)).await?;
    let addr = listener.local_addr()?;
    let canonical = args.jwt_audience.clone().unwrap_or_else(|| format!("http://{addr}/mcp"));
    let mut cfg = HttpConfig::default().legacy_sse(args.legacy_sse);
    if let Some(c) = &cluster {
        cfg = cfg.event_store(c.events());
    }
    if let Some(auth) = http_auth(&args, &canonical).await? {
        cfg = cfg.auth(match limiter {
            Some(l) => auth.rate_limit_arc(l),
            None => auth,
        });
    }
    eprintln!("counter MCP server on http://{addr}/mcp");
    ferromcp::http::serve_listener(server, listener, cfg).await?;
    Ok(())
}

type BoxError = Box<dyn std::error::Error>;

/// The HTTP authentication the flags ask for, if any.
async fn http_auth(args: &Args, canonical: &str) -> std::result::Result<Option<HttpAuth>, BoxError> {
    let statics = if args.tokens.is_empty() {
        None
    } else {
        let mut verifier = StaticBearer::new();
        for t in &args.tokens {
            let (token, subject) = t.split_once('=').ok_or("--token takes TOKEN=SUBJECT")?;
            verifier = verifier.token(token, Principal::new(subject));
        }
        Some(verifier)
    };
    let jwt = match &args.jwt_jwks {
        None => None,
        Some(url) => {
            let issuer = args.jwt_issuer.as_deref().ok_or("--jwt-jwks needs --jwt-issuer")?;
            let v = JwtVerifier::builder(url)
                .issuer(issuer)
                .audience(canonical)
                .refetch_interval(Duration::from_secs(args.jwks_refetch_secs))
                .build()?;
            if let Err(e) = v.prefetch().await {
                eprintln!("warning: {e} (retried on the first token)");
            }
            Some(v)
        }
    };
    let required = args.require_auth || jwt.is_some();
    let mut meta = ResourceMetadata::new(canonical).scopes(["counter:write"]).name("ferromcp counter");
    if let Some(iss) = &args.jwt_issuer {
        meta = meta.authorization_server(iss);
    }
    Ok(match (statics, jwt) {
        (None, None) => None,
        (s, j) => {
            let v = Either(s, j);
            let auth = if required { HttpAuth::required(v) } else { HttpAuth::optional(v) };
            Some(auth.resource_metadata(meta))
        }
    })
}

/// The per-principal rate limiter the flags ask for, if any.
async fn rate_limiter(args: &Args) -> std::result::Result<Option<Arc<dyn ferromcp::auth::RateLimiter>>, BoxError> {
    let Some(rate) = args.rate_limit else { return Ok(None) };
    let burst = args.rate_burst.unwrap_or(rate);
    let period = Duration::from_secs(60) / rate.max(1);
    if args.rate_limit_redis {
        let url = args.redis.as_deref().ok_or("--rate-limit-redis needs --redis")?;
        let store = ferromcp::redis::RedisStore::connect(url).await?;
        return Ok(Some(Arc::new(ferromcp::redis::RedisRateLimiter::per_period(&store, period, burst))));
    }
    Ok(Some(Arc::new(LocalRateLimiter::per_period(period, burst))))
}
