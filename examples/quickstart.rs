//! The smallest useful ferromcp server: two tools, a resource and a prompt, served over
//! Streamable HTTP on 127.0.0.1:3000/mcp (or stdio with `--stdio`).
//!
//! ```sh
//! cargo run --example quickstart              # http://127.0.0.1:3000/mcp
//! cargo run --example quickstart -- --stdio   # for desktop clients
//! ```

use ferromcp::prelude::*;

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

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let server = Server::builder("quickstart", "0.1.0").tool(add).tool(greet).resource(about).prompt(explain).build();
    if std::env::args().any(|a| a == "--stdio") {
        return ferromcp::transport::serve_stdio(server).await;
    }
    let addr = "127.0.0.1:3000".parse().expect("a valid socket address");
    eprintln!("quickstart MCP server on http://{addr}/mcp");
    ferromcp::http::serve(server, addr, Default::default()).await
}
