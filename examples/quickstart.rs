//! The smallest useful ferromcp server: two tools, a resource and a prompt, served over
//! Streamable HTTP on 127.0.0.1:3000/mcp (or stdio with `--stdio`).
//!
//! ```sh
//! cargo run --example quickstart              # http://127.0.0.1:3000/mcp
//! cargo run --example quickstart -- --stdio   # for desktop clients
//! FERROMCP_PORT=4000 FERROMCP_LOG=info cargo run --example quickstart   # settings from the environment
//! ```
//!
//! Every `FERROMCP_*` variable applies (see `ferromcp::settings`); a bad value stops
//! startup with a message naming the variable.

use ferromcp::prelude::*;
use ferromcp::settings::{LogFormat, Settings};

/// Add two integers.
#[tool(read_only, idempotent)]
async fn add(#[arg(description = "First addend")] a: i64, #[arg(description = "Second addend")] b: i64) -> i64 {
    a + b
}

/// Greet someone, logging to the client while doing it.
#[tool]
async fn greet(ctx: Context, #[arg(description = "Who to greet")] name: String) -> String {
    ctx.info(format!("greeting {name}")).await;
    format!("Hello, {name}!")
}

/// What this server is for.
#[resource("info://about", mime_type = "text/plain")]
async fn about() -> &'static str {
    "A quickstart ferromcp server: try the `add` and `greet` tools."
}

/// Ask the model to explain a number.
#[prompt]
async fn explain(#[arg(description = "The number to explain")] number: String) -> String {
    format!("Explain what is special about the number {number}.")
}

/// Says what is wrong with the configuration and exits with status 2.
fn fail(e: impl std::fmt::Display) -> ! {
    eprintln!("quickstart: {e}");
    std::process::exit(2)
}

/// Logs to stderr when `FERROMCP_LOG` is set (in `FERROMCP_LOG_FORMAT`).
fn init_logging(env: &Settings) {
    let Some(filter) = &env.log else { return };
    let filter = tracing_subscriber::EnvFilter::try_new(filter).unwrap_or_else(|e| fail(format!("FERROMCP_LOG: {e}")));
    let fmt = tracing_subscriber::fmt().with_writer(std::io::stderr).with_env_filter(filter);
    match env.log_format.unwrap_or_default() {
        LogFormat::Json => fmt.json().init(),
        LogFormat::Text => fmt.init(),
    }
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let env = Settings::from_env().unwrap_or_else(|e| fail(e));
    init_logging(&env);
    let builder = env.apply_server(Server::builder("quickstart", "0.1.0"), Default::default());
    let builder = match ferromcp::settings::redis_state_store(&env).await.unwrap_or_else(|e| fail(e)) {
        Some(store) => builder.state_store(store),
        None => builder,
    };
    let server = builder.tool(add).tool(greet).resource(about).prompt(explain).try_build().unwrap_or_else(|e| fail(e));
    if std::env::args().any(|a| a == "--stdio") {
        return ferromcp::transport::serve_stdio(server).await;
    }
    let addr = env.addr(([127, 0, 0, 1], 3000).into());
    let cfg = env.apply_http(Default::default());
    // Bind first, so `FERROMCP_PORT=0` reports the port the OS chose.
    let listener = tokio::net::TcpListener::bind(addr).await?;
    eprintln!("quickstart MCP server on http://{}{}", listener.local_addr()?, cfg.path);
    ferromcp::http::serve_listener(server, listener, cfg).await
}
