//! The "everything" server: the contract the official MCP conformance suite calls
//! (tools, resources, templates, prompts, completion, and the 2026-07-28 MRTR tools),
//! served to both protocol revisions from one endpoint.
//!
//! ```sh
//! cargo run --example everything -- --port 3001     # Streamable HTTP on 127.0.0.1:3001/mcp
//! cargo run --example everything -- --stdio         # stdio
//! ```

mod mrtr_tools;
mod prompts;
mod resources;
mod tools;

use std::net::SocketAddr;
use std::time::Duration;

use clap::Parser;
use ferromcp::Server;

#[derive(Parser)]
#[command(about = "ferromcp's conformance \"everything\" server")]
struct Args {
    /// Port for Streamable HTTP on 127.0.0.1.
    #[arg(long, default_value_t = 3001)]
    port: u16,
    /// Address to bind (loopback by default).
    #[arg(long, default_value = "127.0.0.1")]
    host: std::net::IpAddr,
    /// Serve over stdin/stdout instead of HTTP.
    #[arg(long)]
    stdio: bool,
    /// Event store behind resumable streams: `memory`, `off`, or `sqlite:PATH`.
    #[arg(long, default_value = "memory")]
    events: String,
    /// Also serve the 2024-11-05 HTTP+SSE transport (`GET /sse`, `POST /messages`).
    #[arg(long)]
    legacy_sse: bool,
    /// Most legacy sessions held at once; a new one sheds the least recently used idle one.
    #[arg(long, default_value_t = ferromcp::session::SessionLimits::default().max_sessions)]
    max_sessions: usize,
    /// Most legacy sessions per client (principal, else address); 0 = no per-client cap.
    #[arg(long, default_value_t = ferromcp::session::SessionLimits::default().max_per_client.unwrap_or(0))]
    sessions_per_client: usize,
}

impl Args {
    /// The session limits from `--max-sessions` and `--sessions-per-client`.
    fn session_limits(&self) -> ferromcp::session::SessionLimits {
        ferromcp::session::SessionLimits {
            max_sessions: self.max_sessions,
            max_per_client: (self.sessions_per_client > 0).then_some(self.sessions_per_client),
            ..Default::default()
        }
    }
}

/// Builds the server (also used by tests).
pub fn build() -> Server {
    builder().build()
}

/// The server's builder, every component registered.
pub fn builder() -> ferromcp::ServerBuilder {
    let b = Server::builder("ferromcp-everything", env!("CARGO_PKG_VERSION")).instructions(
        "ferromcp's conformance fixture: every tool, resource and prompt the MCP conformance suite calls.",
    );
    let b = tools::register(b);
    let b = mrtr_tools::register(b);
    let b = resources::register(b);
    prompts::register(b)
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let args = Args::parse();
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()))
        .init();
    let server = builder().session_limits(args.session_limits()).build();
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
    let addr = SocketAddr::new(args.host, args.port);
    let cfg = ferromcp::http::HttpConfig::default().legacy_sse(args.legacy_sse);
    let cfg = match args.events.as_str() {
        "memory" => cfg,
        "off" => cfg.without_event_store(),
        other => match other.strip_prefix("sqlite:") {
            Some(path) => {
                cfg.event_store(ferromcp::sqlite::SqliteEventStore::open(path).map_err(std::io::Error::other)?)
            }
            None => return Err(std::io::Error::other("--events takes memory, off or sqlite:PATH")),
        },
    };
    eprintln!("ferromcp everything server on http://{addr}/mcp");
    ferromcp::http::serve(server, addr, cfg).await
}
