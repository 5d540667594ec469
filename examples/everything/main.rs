//! The "everything" server: the contract the official MCP conformance suite calls
//! (tools, resources, templates, prompts, completion, and the 2026-07-28 MRTR tools),
//! served to both protocol revisions from one endpoint.
//!
//! ```sh
//! cargo run --example everything -- --port 3001     # Streamable HTTP on 127.0.0.1:3001/mcp
//! cargo run --example everything -- --stdio         # stdio
//! # bearer tokens (optional auth) and a shared requestState sealing key
//! cargo run --example everything -- --token alice-token=alice --sealing-key "$(openssl rand -hex 32)"
//! FERROMCP_PORT=3005 FERROMCP_JSON_RESPONSE=1 cargo run --example everything   # settings from the environment
//! # one node of a cluster: state, events, sessions and the bus on Redis (run several
//! # behind any round-robin load balancer, all with the same key)
//! cargo run --example everything -- --port 0 --redis redis://127.0.0.1:6379/3 --sealing-key "$KEY"
//! ```
//!
//! Every `FERROMCP_*` variable applies (see `ferromcp::settings`); command-line flags win
//! over it.

mod cluster_tools;
mod mrtr_tools;
mod prompts;
mod proxy_tools;
mod resources;
mod tools;

use std::net::SocketAddr;
use std::time::Duration;

use clap::Parser;
use ferromcp::auth::StaticBearer;
use ferromcp::http::HttpAuth;
use ferromcp::settings::{LogFormat, Settings};
use ferromcp::state::Principal;
use ferromcp::{Server, ServerBuilder, ServerConfig};

#[derive(Parser)]
#[command(about = "ferromcp's conformance \"everything\" server")]
struct Args {
    /// Port for Streamable HTTP (default: FERROMCP_PORT, else 3001).
    #[arg(long)]
    port: Option<u16>,
    /// Address to bind (default: FERROMCP_HOST, else 127.0.0.1).
    #[arg(long)]
    host: Option<std::net::IpAddr>,
    /// Serve over stdin/stdout instead of HTTP.
    #[arg(long)]
    stdio: bool,
    /// Event store behind resumable streams: `memory`, `off`, `sqlite:PATH` or
    /// `redis:URL` (default: FERROMCP_EVENT_STORE, else memory).
    #[arg(long)]
    events: Option<String>,
    /// Put the whole server on the Redis at this URL: state, resumable streams and
    /// session records, and the bus between nodes (needs `--sealing-key`). Several such
    /// processes behind a round-robin load balancer are one server.
    #[arg(long)]
    redis: Option<String>,
    /// Also serve the 2024-11-05 HTTP+SSE transport (`GET /sse`, `POST /messages`).
    #[arg(long)]
    legacy_sse: bool,
    /// Accept a bearer token: `TOKEN=SUBJECT` (repeatable). Requests without a token
    /// stay allowed (unauthenticated); a token binds sessions and MRTR state to SUBJECT.
    #[arg(long = "token")]
    tokens: Vec<String>,
    /// MRTR `requestState` sealing key in hex (64+ hex digits recommended; repeatable:
    /// the first is the current key, later ones are previous keys still accepted).
    /// Without one, FERROMCP_SEALING_KEYS; without that a random per-process key.
    #[arg(long = "sealing-key")]
    sealing_keys: Vec<String>,
    /// Most HTTP connections open at once (default: the library's, 10,000 capped to 3/4
    /// of the open-files limit).
    #[arg(long)]
    max_connections: Option<usize>,
    /// Time a client has to send a request head, in ms (0 = off; default 20,000).
    #[arg(long)]
    header_timeout_ms: Option<u64>,
    /// Time a request body may send nothing, in ms, before a 408 (0 = off; default 30,000).
    #[arg(long)]
    body_timeout_ms: Option<u64>,
    /// Time an idle connection stays open, in ms (0 = off; default 60,000).
    #[arg(long)]
    keep_alive_timeout_ms: Option<u64>,
    /// How long a server→client request (elicitation, sampling, roots) waits for the
    /// client's answer on the 2025-11-25 era, in milliseconds.
    #[arg(long, value_name = "MS", default_value_t = ServerConfig::default().ask_timeout.as_millis() as u64)]
    ask_timeout_ms: u64,
    /// Most server→client requests of one session waiting for answers; one more fails at once.
    #[arg(long, value_name = "N", default_value_t = ServerConfig::default().max_pending_asks_per_session)]
    max_pending_asks: usize,
    /// Most legacy sessions held at once; a new one sheds the least recently used idle one of the client holding the most
    /// (default: FERROMCP_MAX_SESSIONS, else 100,000).
    #[arg(long)]
    max_sessions: Option<usize>,
    /// Most legacy sessions per client (principal, else address); 0 = no per-client cap.
    #[arg(long, default_value_t = ferromcp::session::SessionLimits::default().max_per_client.unwrap_or(0))]
    sessions_per_client: usize,
}

impl Args {
    /// The session limits: `--max-sessions` and `--sessions-per-client` over the
    /// environment's (FERROMCP_MAX_SESSIONS, FERROMCP_SESSION_IDLE_TIMEOUT).
    fn session_limits(&self, env: &Settings) -> ferromcp::session::SessionLimits {
        let mut limits = ferromcp::session::SessionLimits::default();
        if let Some(t) = env.session_idle_timeout {
            limits.idle_timeout = t;
        }
        limits.max_sessions = self.max_sessions.or(env.max_sessions).unwrap_or(limits.max_sessions);
        limits.max_per_client = (self.sessions_per_client > 0).then_some(self.sessions_per_client);
        limits
    }
}

/// Builds the server (also used by tests).
pub fn build() -> Server {
    builder().build()
}

/// The server's builder, every component registered.
pub fn builder() -> ServerBuilder {
    let b = Server::builder("ferromcp-everything", env!("CARGO_PKG_VERSION")).instructions(
        "ferromcp's conformance fixture: every tool, resource and prompt the MCP conformance suite calls.",
    );
    let b = tools::register(b);
    let b = mrtr_tools::register(b);
    let b = cluster_tools::register(b);
    let b = proxy_tools::register(b);
    let b = resources::register(b);
    prompts::register(b)
}

/// Applies `--sealing-key` (first current, later previous) to the builder.
fn with_sealing_keys(mut b: ServerBuilder, keys: &[String]) -> std::io::Result<ServerBuilder> {
    for (i, k) in keys.iter().enumerate() {
        let key = decode_hex(k).ok_or_else(|| {
            std::io::Error::other(format!(
                "--sealing-key takes an even number of hex digits (0-9, a-f), e.g. the output of \
                 `openssl rand -hex 32`; key {} is not hex",
                i + 1
            ))
        })?;
        b = if i == 0 { b.sealing_key(key) } else { b.previous_sealing_key(key) };
    }
    Ok(b)
}

fn decode_hex(s: &str) -> Option<Vec<u8>> {
    if s.is_empty() || !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len()).step_by(2).map(|i| s.get(i..i + 2).and_then(|d| u8::from_str_radix(d, 16).ok())).collect()
}

/// The value, or a clear message on stderr and exit status 2 (a startup misconfiguration).
fn or_exit<T>(r: std::io::Result<T>) -> T {
    r.unwrap_or_else(|e| {
        eprintln!("everything: {e}");
        std::process::exit(2)
    })
}

/// `--token TOKEN=SUBJECT` values as optional bearer authentication.
fn bearer_auth(tokens: &[String]) -> std::io::Result<Option<HttpAuth>> {
    if tokens.is_empty() {
        return Ok(None);
    }
    let mut verifier = StaticBearer::new();
    for t in tokens {
        let (token, subject) = t
            .split_once('=')
            .filter(|(t, s)| !t.is_empty() && !s.is_empty())
            .ok_or_else(|| std::io::Error::other(format!("--token takes TOKEN=SUBJECT, got `{t}`")))?;
        verifier = verifier.token(token, Principal::new(subject));
    }
    Ok(Some(HttpAuth::optional(verifier)))
}

/// Logs to stderr: FERROMCP_LOG, else RUST_LOG, else `warn`, in FERROMCP_LOG_FORMAT.
fn init_logging(env: &Settings) {
    let filter = match &env.log {
        Some(f) => or_exit(
            tracing_subscriber::EnvFilter::try_new(f).map_err(|e| std::io::Error::other(format!("FERROMCP_LOG: {e}"))),
        ),
        None => tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
    };
    let fmt = tracing_subscriber::fmt().with_writer(std::io::stderr).with_env_filter(filter);
    match env.log_format.unwrap_or_default() {
        LogFormat::Json => fmt.json().init(),
        LogFormat::Text => fmt.init(),
    }
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let args = Args::parse();
    let env = or_exit(Settings::from_env().map_err(std::io::Error::other));
    init_logging(&env);
    // The environment first, then the flags (which win).
    let b = env
        .apply_server(builder(), Default::default())
        .ask_timeout(Duration::from_millis(args.ask_timeout_ms))
        .max_pending_asks_per_session(args.max_pending_asks)
        .session_limits(args.session_limits(&env));
    let cluster = match &args.redis {
        Some(url) => Some(or_exit(
            ferromcp::redis::RedisCluster::connect(url)
                .await
                .map_err(|e| std::io::Error::other(format!("--redis: {e}"))),
        )),
        None => None,
    };
    let b = match (&cluster, or_exit(ferromcp::settings::redis_state_store(&env).await.map_err(std::io::Error::other)))
    {
        (Some(c), _) => c.server(b),
        (None, Some(store)) => b.state_store(store),
        (None, None) => b,
    };
    let server =
        or_exit(with_sealing_keys(b, &args.sealing_keys).and_then(|b| b.try_build().map_err(std::io::Error::other)));
    let auth = or_exit(bearer_auth(&args.tokens));
    // test://watched-resource changes every 3 s; subscribers are told.
    let watched = server.clone();
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(3));
        loop {
            tick.tick().await;
            watched.notify_resource_updated(resources::WATCHED);
        }
    });
    if args.stdio {
        return ferromcp::transport::serve_stdio(server).await;
    }
    let addr = env.addr(SocketAddr::from(([127, 0, 0, 1], 3001)));
    let addr = SocketAddr::new(args.host.unwrap_or(addr.ip()), args.port.unwrap_or(addr.port()));
    let cfg = env.apply_http(ferromcp::http::HttpConfig::default()).legacy_sse(args.legacy_sse);
    let cfg = match auth {
        Some(a) => cfg.auth(a),
        None => cfg,
    };
    let default_events = if cluster.is_some() { "cluster" } else { "env" };
    let cfg = match args.events.as_deref().unwrap_or(default_events) {
        "cluster" => match &cluster {
            Some(c) => cfg.event_store(c.events()),
            None => return Err(std::io::Error::other("--events cluster needs --redis")),
        },
        // FERROMCP_EVENT_STORE=redis is connected here (apply_http cannot).
        "env" => match or_exit(ferromcp::settings::redis_event_store(&env).await.map_err(std::io::Error::other)) {
            Some(store) => cfg.event_store(store),
            None => cfg,
        },
        "memory" => cfg.event_store(ferromcp::events::MemoryEventStore::new()),
        "off" => cfg.without_event_store(),
        other => match (other.strip_prefix("sqlite:"), other.strip_prefix("redis:")) {
            (Some(path), _) => {
                cfg.event_store(ferromcp::sqlite::SqliteEventStore::open(path).map_err(std::io::Error::other)?)
            }
            (_, Some(url)) => {
                cfg.event_store(ferromcp::redis::RedisEventStore::connect(url).await.map_err(std::io::Error::other)?)
            }
            _ => return Err(std::io::Error::other("--events takes memory, off, sqlite:PATH or redis:URL")),
        },
    };
    let cfg = http_hygiene(cfg, &args);
    // Bind first, so a port-0 bind reports the port the OS chose.
    let listener = tokio::net::TcpListener::bind(addr).await?;
    eprintln!("ferromcp everything server on http://{}{}", listener.local_addr()?, cfg.path);
    ferromcp::http::serve_listener(server, listener, cfg).await
}

/// Applies the connection limit and timeouts given on the command line.
fn http_hygiene(mut cfg: ferromcp::http::HttpConfig, args: &Args) -> ferromcp::http::HttpConfig {
    let ms = Duration::from_millis;
    if let Some(n) = args.max_connections {
        cfg = cfg.max_connections(n);
    }
    if let Some(t) = args.header_timeout_ms {
        cfg = cfg.header_read_timeout(ms(t));
    }
    if let Some(t) = args.body_timeout_ms {
        cfg = cfg.body_read_timeout(ms(t));
    }
    if let Some(t) = args.keep_alive_timeout_ms {
        cfg = cfg.keep_alive_timeout(ms(t));
    }
    cfg
}
