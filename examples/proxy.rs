//! A proxy over the MCP servers of an `mcpServers` configuration file, served over
//! Streamable HTTP or stdio. Every elicitation, sampling, roots request, progress and
//! log a backend sends while serving a call reaches the frontend call that caused it.
//!
//! ```sh
//! cat > proxy.json <<'JSON'
//! {"mcpServers": {
//!   "every": {"command": "target/debug/examples/everything", "args": ["--stdio"], "mode": "affinity"},
//!   "web":   {"url": "http://127.0.0.1:3001/mcp", "headers": {"Authorization": "Bearer backend-token"}},
//!   "old":   {"url": "http://127.0.0.1:3003/sse", "transport": "sse", "protocolVersion": "2025-11-25"}
//! }}
//! JSON
//! cargo run --example proxy -- --config proxy.json --port 3002   # http://127.0.0.1:3002/mcp
//! cargo run --example proxy -- --config proxy.json --stdio
//! ```
//!
//! Per entry: `"mode"` (`fresh` | `affinity`), `"timeoutMs"`, `"idleTimeoutMs"` (affinity:
//! close a backend session idle this long; the next call reopens), `"tools"` (`include`,
//! `exclude`, `rename`), `"protocolVersion"` (pin the backend's era; negotiated when
//! left out). Frontend clients of either era are served; see the `ferromcp-proxy` docs
//! for how asks are bridged between eras.

use std::net::SocketAddr;

use clap::Parser;
use ferromcp_proxy::{Proxy, ProxyConfig};

#[derive(Parser)]
#[command(about = "ferromcp proxy: mount the servers of an mcpServers configuration")]
struct Args {
    /// The configuration file (`{"mcpServers": {…}}`).
    #[arg(long)]
    config: std::path::PathBuf,
    /// Port for Streamable HTTP on 127.0.0.1 (ignored with --stdio).
    #[arg(long, default_value_t = 3002)]
    port: u16,
    /// Address to bind (loopback by default).
    #[arg(long, default_value = "127.0.0.1")]
    host: std::net::IpAddr,
    /// Serve over stdin/stdout instead of HTTP.
    #[arg(long)]
    stdio: bool,
}

/// Says what is wrong and exits with status 2.
fn fail(msg: String) -> ! {
    eprintln!("proxy: {msg}");
    std::process::exit(2)
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let args = Args::parse();
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()))
        .init();
    let text = std::fs::read_to_string(&args.config)
        .unwrap_or_else(|e| fail(format!("cannot read {}: {e}", args.config.display())));
    let config = ProxyConfig::from_json(&text).unwrap_or_else(|e| fail(e.to_string()));
    let server = Proxy::new(config).build().await.unwrap_or_else(|e| fail(e.to_string()));
    if args.stdio {
        return ferromcp::transport::serve_stdio(server).await;
    }
    let addr = SocketAddr::new(args.host, args.port);
    let listener = tokio::net::TcpListener::bind(addr).await?;
    eprintln!("ferromcp proxy on http://{}/mcp", listener.local_addr()?);
    ferromcp::http::serve_listener(server, listener, ferromcp::http::HttpConfig::default()).await
}
