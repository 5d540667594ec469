//! `ferromcp`: a command line for MCP servers, built on `ferromcp-client`.
//!
//! List, call, read, render prompts, inspect and ping any MCP server — a Streamable
//! HTTP URL (either protocol era), a stdio server started as `-- COMMAND ARGS…`, or a
//! name from an `mcpServers` configuration file — and serve the ferromcp proxy.
//!
//! Exit codes: 0 success; 1 the server answered with an error (a tool result with
//! `isError`, or a JSON-RPC error such as an unknown resource or invalid params); 2 a
//! usage error (bad command line, unknown target or tool, arguments that do not fit the
//! tool's schema); 3 a connection or protocol failure (cannot connect, timeout, the server
//! broke the protocol or exited).
//!
//! # Layout
//! - `main.rs`: the command line (clap), dispatch, exit codes.
//! - `target.rs`: TARGET resolution (URL, `-- COMMAND`, config name) and connecting.
//! - `oauth.rs`: the browser-based OAuth redirect hook.
//! - `interact.rs`: the terminal side of a call: progress bar, elicitation prompts,
//!   sampling refusal, server logs.
//! - `coerce.rs`: `key=value` arguments typed by the tool's `inputSchema`.
//! - `render.rs`: human-readable and `--json` output.
//! - `commands.rs`: one function per subcommand.
//! - `proxy.rs`: `ferromcp proxy`.

#![forbid(unsafe_code)]

mod coerce;
mod commands;
mod error;
mod interact;
mod oauth;
mod proxy;
mod render;
mod target;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand, ValueEnum};

pub use error::CliError;

const EXAMPLES: &str = "\
TARGET is one of:
  a URL                  http://127.0.0.1:3000/mcp (Streamable HTTP, either protocol era)
  -- COMMAND ARGS...     a stdio server, started by ferromcp (always last on the line)
  a name                 an entry of the mcpServers config (--config FILE, default ./mcp.json
                         or ~/.config/ferromcp/mcp.json)

Examples:
  ferromcp list http://127.0.0.1:3000/mcp
  ferromcp call http://127.0.0.1:3000/mcp add a=1 b=2
  ferromcp call add '{\"a\": 1, \"b\": 2}' --json -- cargo run --example quickstart -- --stdio
  ferromcp read files info://about
  ferromcp prompt http://127.0.0.1:3000/mcp explain number=42
  ferromcp inspect --json http://127.0.0.1:3000/mcp
  ferromcp ping --era legacy http://127.0.0.1:3000/mcp
  ferromcp proxy --config mcp.json --port 3002

Exit codes: 0 ok, 1 the server answered with an error (isError or a JSON-RPC error),
2 usage error (bad command line, unknown target or tool, arguments that do not fit the
tool's inputSchema), 3 connection or protocol failure.";

/// `ferromcp`: talk to MCP servers from the command line.
#[derive(Parser)]
#[command(name = "ferromcp", version, about, after_help = EXAMPLES)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// The protocol revision to speak.
#[derive(Clone, Copy, Debug, ValueEnum, PartialEq, Eq)]
pub enum EraArg {
    /// Probe with `server/discover`, fall back to `initialize`.
    Auto,
    /// 2025-11-25 (`initialize`, sessions).
    Legacy,
    /// 2026-07-28 (stateless, `server/discover`).
    Modern,
}

/// How to reach the server; shared by every client command.
#[derive(Args, Clone, Debug)]
pub struct Conn {
    /// The mcpServers configuration file for TARGET names.
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// The protocol era.
    #[arg(long, global = true, value_enum, default_value = "auto")]
    pub era: EraArg,
    /// Seconds one request may take.
    #[arg(long, global = true, default_value_t = 60, value_name = "SECS")]
    pub timeout: u64,
    /// A bearer token for HTTP servers (instead of the OAuth flow).
    #[arg(long, global = true, env = "FERROMCP_BEARER_TOKEN", hide_env_values = true, value_name = "TOKEN")]
    pub bearer: Option<String>,
    /// An extra HTTP header, `Name: value` (repeatable).
    #[arg(long = "header", global = true, value_name = "NAME: VALUE")]
    pub headers: Vec<String>,
    /// The minimum level of server log messages shown on stderr (debug, info, notice,
    /// warning, error, …).
    #[arg(long, global = true, value_name = "LEVEL")]
    pub log_level: Option<String>,
    /// A stdio server: the command and its arguments, after `--`.
    #[arg(last = true, value_name = "COMMAND")]
    pub command: Vec<String>,
}

#[derive(Subcommand)]
enum Command {
    /// List tools, resources, resource templates and prompts.
    List {
        /// TARGET (omit it with `-- COMMAND`).
        #[arg(value_name = "TARGET")]
        words: Vec<String>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        conn: Conn,
    },
    /// Call a tool: arguments as one JSON object or key=value pairs typed by the tool's schema.
    Call {
        /// TARGET TOOL [JSON | key=value...] (omit TARGET with `-- COMMAND`).
        #[arg(value_name = "TARGET TOOL [ARGS]", required = true, allow_hyphen_values = false)]
        words: Vec<String>,
        /// Print the whole result as JSON.
        #[arg(long)]
        json: bool,
        /// Never prompt: elicitation requests are declined.
        #[arg(long)]
        no_input: bool,
        #[command(flatten)]
        conn: Conn,
    },
    /// Read a resource.
    Read {
        /// TARGET URI (omit TARGET with `-- COMMAND`).
        #[arg(value_name = "TARGET URI", required = true)]
        words: Vec<String>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        conn: Conn,
    },
    /// Render a prompt with key=value arguments.
    Prompt {
        /// TARGET NAME [key=value...] (omit TARGET with `-- COMMAND`).
        #[arg(value_name = "TARGET NAME [ARGS]", required = true)]
        words: Vec<String>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        conn: Conn,
    },
    /// Show server info, capabilities and every component with its schema.
    Inspect {
        /// TARGET (omit it with `-- COMMAND`).
        #[arg(value_name = "TARGET")]
        words: Vec<String>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        conn: Conn,
    },
    /// Check the server answers (ping, or server/discover in the 2026-07-28 era).
    Ping {
        /// TARGET (omit it with `-- COMMAND`).
        #[arg(value_name = "TARGET")]
        words: Vec<String>,
        #[command(flatten)]
        conn: Conn,
    },
    /// Serve the ferromcp proxy over the servers of an mcpServers configuration.
    Proxy(proxy::ProxyArgs),
}

async fn run(cli: Cli) -> Result<(), CliError> {
    match cli.command {
        Command::List { words, json, conn } => commands::list(&conn, &words, json).await,
        Command::Call { words, json, no_input, conn } => commands::call(&conn, &words, json, no_input).await,
        Command::Read { words, json, conn } => commands::read(&conn, &words, json).await,
        Command::Prompt { words, json, conn } => commands::prompt(&conn, &words, json).await,
        Command::Inspect { words, json, conn } => commands::inspect(&conn, &words, json).await,
        Command::Ping { words, conn } => commands::ping(&conn, &words).await,
        Command::Proxy(args) => proxy::run(args).await,
    }
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { error::USAGE } else { 0 });
        }
    };
    let rt = match tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("ferromcp: cannot start the async runtime: {e}");
            return ExitCode::from(error::CONNECTION);
        }
    };
    let result = rt.block_on(run(cli));
    // Child servers and open connections are stopped with the runtime.
    rt.shutdown_timeout(std::time::Duration::from_secs(2));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            if !e.message.is_empty() {
                eprintln!("ferromcp: {}", e.message);
            }
            ExitCode::from(e.code)
        }
    }
}
