//! Following a backend's list changes (`watch.rs`), over a Streamable HTTP backend of
//! either era: a tool or prompt whose definition changes under the same name is
//! re-registered on the frontend after the backend's `list_changed`; an added tool
//! appears and a removed one goes.

use std::time::{Duration, Instant};

use ferromcp_client::{Client, ClientOptions};
use ferromcp_core::{Context, NoArgs, PromptDef, Server, ToolDef};
use ferromcp_proxy::{Proxy, ProxyConfig};
use serde_json::{Value, json};

/// How long the frontend may take to show a backend change.
const SETTLE: Duration = Duration::from_secs(10);

fn greet(description: &str) -> ToolDef {
    ToolDef::new("greet").description(description.to_owned()).handler(|_ctx: Context, _: NoArgs| async { "hi" })
}

fn hello(description: &str) -> PromptDef {
    PromptDef::new("hello").description(description.to_owned()).handler(|_ctx: Context, _: NoArgs| async { "hello" })
}

/// Serves `server` over Streamable HTTP on 127.0.0.1; returns its URL.
async fn serve(server: Server) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(ferromcp_http::serve_listener(server, listener, ferromcp_http::HttpConfig::default()));
    format!("http://{addr}/mcp")
}

async fn tool_descriptions(client: &Client) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = client
        .list_tools()
        .await
        .unwrap()
        .iter()
        .map(|t| (t.name.to_string(), t.description.as_deref().unwrap_or_default().to_owned()))
        .collect();
    out.sort();
    out
}

async fn prompt_description(client: &Client) -> Option<String> {
    let prompts = client.list_prompts().await.unwrap();
    prompts.iter().find(|p| p.name == "hello").and_then(|p| p.description.clone())
}

/// Applies `change` to the backend (again and again: the proxy's watcher may not be
/// listening yet when it is first made; every application announces `list_changed`)
/// until `done` holds on the frontend, or fails after [`SETTLE`].
async fn until<C, D, F>(what: &str, mut change: C, mut done: D)
where
    C: FnMut(),
    D: FnMut() -> F,
    F: Future<Output = bool>,
{
    let deadline = Instant::now() + SETTLE;
    loop {
        change();
        if done().await {
            return;
        }
        assert!(Instant::now() < deadline, "the frontend never showed {what} within {SETTLE:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn changes_reach_the_frontend(era: &str) {
    let backend = Server::builder("changing", "1.0.0").tool(greet("first words")).prompt(hello("p-one")).build();
    let url = serve(backend.clone()).await;
    let cfg = ProxyConfig::from_value(&json!({"mcpServers": {"b": {"url": url, "protocolVersion": era}}})).unwrap();
    let proxy = Proxy::new(cfg).build().await.expect("proxy builds");
    let client = Client::in_memory(proxy, ClientOptions::legacy()).await.unwrap();
    assert_eq!(tool_descriptions(&client).await, [("greet".to_owned(), "first words".to_owned())]);
    assert_eq!(prompt_description(&client).await.as_deref(), Some("p-one"));

    // Same name, new description: re-registered (this was the bug: only names were
    // compared, so the frontend kept the old definition).
    let reg = backend.registry();
    until(
        "greet's new description",
        || reg.add_tool(greet("second words")),
        || async { tool_descriptions(&client).await == [("greet".to_owned(), "second words".to_owned())] },
    )
    .await;
    until(
        "hello's new description",
        || reg.add_prompt(hello("p-two")),
        || async { prompt_description(&client).await.as_deref() == Some("p-two") },
    )
    .await;
    // The re-registered tool still forwards.
    let out = client.call_tool("greet", json!({})).await.unwrap();
    assert_eq!(out.text(), "hi");

    // Added and removed.
    until(
        "a tool added and one removed",
        || {
            reg.add_tool(ToolDef::new("wave").handler(|_ctx: Context, _: NoArgs| async { "o/" }));
            reg.remove_tool("greet");
        },
        || async { tool_descriptions(&client).await == [("wave".to_owned(), String::new())] },
    )
    .await;
    let out = client.call_tool("wave", json!({})).await.unwrap();
    assert_eq!(out.text(), "o/");
    let gone = client.call_tool("greet", json!({})).await;
    assert!(gone.is_err() || gone.as_ref().is_ok_and(|o| o.is_error()), "greet was removed: {gone:?}");
    assert_eq!(json!(prompt_description(&client).await), Value::from("p-two"));
    client.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changes_of_a_2025_11_25_backend_reach_the_frontend() {
    changes_reach_the_frontend("2025-11-25").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changes_of_a_2026_07_28_backend_reach_the_frontend() {
    changes_reach_the_frontend("2026-07-28").await;
}
