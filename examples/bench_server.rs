//! The server measured by `../shared/bench/run.sh` and `ferrobench`: `add(a, b)` and
//! (legacy sessions) `increment()`, the session's counter.
//!
//! ```sh
//! cargo run --release --example bench_server -- --port 9200 --mode stateless
//! ../shared/bench/run.sh --name ferromcp --cmd 'target/release/examples/bench_server --port {port} --mode {mode}'
//! ```

use clap::{Parser, ValueEnum};
use ferromcp::http::HttpConfig;
use ferromcp::prelude::*;

#[derive(Clone, Copy, ValueEnum)]
enum Mode {
    /// Legacy clients are served without sessions; answers are JSON.
    Stateless,
    /// Legacy clients get sessions (`Mcp-Session-Id`).
    Stateful,
}

#[derive(Parser)]
struct Args {
    #[arg(long, default_value_t = 9200)]
    port: u16,
    #[arg(long, value_enum, default_value_t = Mode::Stateless)]
    mode: Mode,
    /// Tokio worker threads (default: one per available CPU).
    #[arg(long)]
    workers: Option<usize>,
}

/// Add two integers.
#[tool]
async fn add(a: i64, b: i64) -> i64 {
    a + b
}

/// Increment and return this session's counter (session-scoped state).
#[tool]
async fn increment(ctx: Context) -> Result<i64> {
    ctx.state().update("counter", |n: Option<i64>| n.unwrap_or(0) + 1).await
}

fn main() -> std::io::Result<()> {
    let args = Args::parse();
    let mut rt = tokio::runtime::Builder::new_multi_thread();
    if let Some(n) = args.workers {
        rt.worker_threads(n);
    }
    rt.enable_all().build()?.block_on(run(args))
}

async fn run(args: Args) -> std::io::Result<()> {
    let server = Server::builder("ferromcp-bench", "0.1.0").tool(add).tool(increment).build();
    let cfg = match args.mode {
        Mode::Stateless => HttpConfig::default().stateless(),
        Mode::Stateful => HttpConfig::default(),
    };
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], args.port));
    ferromcp::http::serve(server, addr, cfg).await
}
