//! The client the official MCP conformance suite drives (its client leg).
//!
//! ```sh
//! cargo build --example conformance_client
//! ../shared/tools/conformance.sh --client 'target/debug/examples/conformance_client' both
//! ```
//!
//! The suite appends the scenario server's URL as the last argument and sets
//! `MCP_CONFORMANCE_SCENARIO`, `MCP_CONFORMANCE_CONTEXT` (JSON, scenario data) and
//! `MCP_CONFORMANCE_PROTOCOL_VERSION` (2025-11-25: `initialize` handshake; 2026-07-28:
//! per-request `_meta`). The client connects in that era and then does what a host
//! would: lists tools and calls them (the context's `toolCalls` when given, otherwise
//! every listed tool with placeholder arguments), and reads resources and prompts when
//! the server offers them. Elicitations are accepted with an empty form, so the
//! schema's defaults apply (SEP-1034); sampling answers a fixed text; roots are empty.
//!
//! Exit status 0 when every step succeeded, 1 otherwise (with the error on stderr).

use std::time::Duration;

#[path = "conformance/auth.rs"]
mod auth;

use ferromcp::client::{Client, ClientEra, ClientError, ClientOptions};
use serde_json::{Map, Value, json};

#[tokio::main]
async fn main() {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()))
        .init();
    let Some(url) = std::env::args().skip(1).last() else {
        eprintln!("usage: conformance_client SERVER_URL (the suite appends it)");
        std::process::exit(2);
    };
    let scenario = std::env::var("MCP_CONFORMANCE_SCENARIO").unwrap_or_default();
    let context: Value = std::env::var("MCP_CONFORMANCE_CONTEXT")
        .ok()
        .and_then(|c| serde_json::from_str(&c).ok())
        .unwrap_or(Value::Null);
    let version = std::env::var("MCP_CONFORMANCE_PROTOCOL_VERSION").unwrap_or_default();
    let era = if version.starts_with("2026") {
        ClientEra::Modern
    } else if version.is_empty() {
        ClientEra::Auto
    } else {
        ClientEra::Legacy
    };
    match run(&url, &scenario, &context, era).await {
        Ok(()) => eprintln!("conformance_client: {scenario}: done"),
        Err(e) => {
            eprintln!("conformance_client: {scenario}: {e}");
            std::process::exit(1);
        }
    }
}

fn options(era: ClientEra) -> ClientOptions {
    ClientOptions::new(era)
        .name("ferromcp-conformance-client")
        .request_timeout(Duration::from_secs(20))
        .on_elicitation(|_params| async { Ok(json!({"action": "accept", "content": {}})) })
        .on_sampling(|_params| async {
            Ok(json!({
                "role": "assistant",
                "content": {"type": "text", "text": "This is a test response from the client."},
                "model": "ferromcp-conformance",
                "stopReason": "endTurn"
            }))
        })
        .on_roots(|_params| async { Ok(json!({"roots": []})) })
}

async fn run(url: &str, scenario: &str, context: &Value, era: ClientEra) -> Result<(), ClientError> {
    let mut opts = options(era);
    if let Some(oauth) = auth::provider(url, scenario, context) {
        opts = opts.auth(oauth);
    }
    let client = Client::connect_http(url, opts).await?;
    let outcome = exercise(&client, scenario, context).await;
    client.close().await;
    outcome
}

/// Lists and calls tools, then reads resources and prompts the server offers.
async fn exercise(client: &Client, scenario: &str, context: &Value) -> Result<(), ClientError> {
    let tools = client.list_tools().await?;
    if let Some(calls) = context.get("toolCalls").and_then(Value::as_array) {
        for call in calls {
            let name = call.get("name").and_then(Value::as_str).unwrap_or_default();
            let args = call.get("arguments").cloned().unwrap_or_else(|| json!({}));
            client.call_tool(name, args).await?;
        }
    } else if scenario != "initialize" {
        for tool in &tools {
            let schema = Value::Object((*tool.input_schema).clone());
            let mut args = placeholder_arguments(&schema);
            // A tool that takes a `schema` object gets another tool's input schema as
            // listed (json-schema-2020-12-preservation checks nothing was stripped).
            if args.get("schema").is_some_and(Value::is_object)
                && let Some(other) = tools.iter().find(|t| t.name != tool.name)
            {
                args["schema"] = Value::Object((*other.input_schema).clone());
            }
            client.call_tool(&tool.name, args).await?;
        }
    }
    let info = client.server_info();
    if info.has_capability("resources") {
        for r in client.list_resources().await? {
            client.read_resource(&r.uri).await?;
        }
    }
    if info.has_capability("prompts") {
        for p in client.list_prompts().await? {
            let args: Map<String, Value> =
                p.arguments.iter().flatten().map(|a| (a.name.clone(), Value::from("test"))).collect();
            client.get_prompt(&p.name, Value::Object(args)).await?;
        }
    }
    Ok(())
}

/// Arguments for a tool's required properties: `1` for numbers, `true` for booleans,
/// `"test"` for anything else.
fn placeholder_arguments(schema: &Value) -> Value {
    let props = schema.get("properties").and_then(Value::as_object);
    let required = schema.get("required").and_then(Value::as_array);
    let mut args = Map::new();
    for name in required.into_iter().flatten().filter_map(Value::as_str) {
        let ty = props.and_then(|p| p.get(name)).and_then(|p| p.get("type")).and_then(Value::as_str);
        let v = match ty {
            Some("number" | "integer") => json!(1),
            Some("boolean") => json!(true),
            Some("object") => json!({}),
            Some("array") => json!([]),
            _ => json!("test"),
        };
        args.insert(name.to_owned(), v);
    }
    Value::Object(args)
}
