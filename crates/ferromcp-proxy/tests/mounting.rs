//! Mounting several backends: prefixed tool and prompt names, resources kept at their
//! URIs, clash detection, and resources/prompts forwarded through the proxy.

use std::path::PathBuf;

use ferromcp_client::{Client, ClientOptions};
use ferromcp_core::{Context, NoArgs, PromptDef, ResourceDef, Server, ToolDef};
use ferromcp_proxy::{Proxy, ProxyConfig, ProxyError};
use serde_json::{Value, json};

/// The `everything` example binary, built on first use.
fn everything() -> PathBuf {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let status = std::process::Command::new(env!("CARGO"))
        .args(["build", "--example", "everything"])
        .current_dir(&root)
        .status()
        .expect("cargo runs");
    assert!(status.success(), "cargo build --example everything failed");
    let target = std::env::var_os("CARGO_TARGET_DIR").map(PathBuf::from).unwrap_or(root.join("target"));
    target.join("debug/examples/everything")
}

/// A small backend served over Streamable HTTP on 127.0.0.1.
async fn small_backend(uri: &str) -> String {
    let server = Server::builder("small", "1.0.0")
        .tool(ToolDef::new("test_simple_text").handler(|_ctx: Context, _: NoArgs| async { "small says hi" }))
        .resource(ResourceDef::new(uri.to_owned(), "note").handler(|_ctx: Context| async { "a small note" }))
        .prompt(
            PromptDef::new("greet")
                .description("Greets")
                .handler(|_ctx: Context, _: NoArgs| async { "hello from small" }),
        )
        .build();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(ferromcp_http::serve_listener(server, listener, ferromcp_http::HttpConfig::default()));
    format!("http://{addr}/mcp")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn several_backends_are_prefixed_and_forwarded() {
    let small = small_backend("mem://note").await;
    let cfg = ProxyConfig::from_value(&json!({"mcpServers": {
        "every": {"command": everything(), "args": ["--stdio"]},
        "small": {"url": small, "tools": {"rename": {"test_simple_text": "hi"}}}
    }}))
    .unwrap();
    let server = Proxy::new(cfg).build().await.expect("proxy builds");
    let client = Client::in_memory(server, ClientOptions::legacy()).await.unwrap();
    let tools: Vec<String> = client.list_tools().await.unwrap().iter().map(|t| t.name.to_string()).collect();
    assert!(tools.contains(&"every_test_simple_text".to_string()), "{tools:?}");
    assert!(tools.contains(&"small_hi".to_string()), "{tools:?}");
    assert!(!tools.iter().any(|t| t == "test_simple_text"), "{tools:?}");

    let out = client.call_tool("small_hi", json!({})).await.unwrap();
    assert_eq!(out.text(), "small says hi");
    let out = client.call_tool("every_test_simple_text", json!({})).await.unwrap();
    assert_eq!(out.text(), "This is a simple text response for testing.");

    let resources = client.list_resources().await.unwrap();
    let note = resources.iter().find(|r| r.uri == "mem://note").expect("the small resource keeps its URI");
    assert_eq!(note.name, "small_note");
    let read = client.read_resource("mem://note").await.unwrap();
    assert_eq!(read["contents"][0]["text"], json!("a small note"));
    let read = client.read_resource("test://static-text").await.unwrap();
    assert_eq!(read["contents"][0]["text"], json!("This is the content of the static text resource."));

    let prompt = client.get_prompt("small_greet", Value::Null).await.unwrap();
    assert_eq!(prompt["messages"][0]["content"]["text"], json!("hello from small"));
    client.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_resource_uri_from_two_backends_is_a_clash() {
    let (a, b) = (small_backend("mem://same").await, small_backend("mem://same").await);
    let cfg = ProxyConfig::from_value(&json!({"mcpServers": {"a": {"url": a}, "b": {"url": b}}})).unwrap();
    match Proxy::new(cfg).build().await {
        Err(ProxyError::Clash { name, first, second }) => {
            assert_eq!((name.as_str(), first.as_str(), second.as_str()), ("mem://same", "a", "b"));
        }
        other => panic!("expected a clash, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_backend_is_named_in_the_error() {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let cfg = ProxyConfig::from_value(&json!({"mcpServers": {
        "gone": {"url": format!("http://127.0.0.1:{port}/mcp"), "timeoutMs": 2000}}}))
    .unwrap();
    let err = Proxy::new(cfg).build().await.expect_err("nothing listens");
    assert!(err.to_string().contains("backend `gone`"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hanging_backend_times_out_without_blocking_another() {
    let server = Server::builder("slow", "1.0.0")
        .tool(ToolDef::new("hang").handler(|_ctx: Context, _: NoArgs| async {
            tokio::time::sleep(std::time::Duration::from_secs(30)).await;
            "too late"
        }))
        .build();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let slow = format!("http://{}/mcp", listener.local_addr().unwrap());
    tokio::spawn(ferromcp_http::serve_listener(server, listener, ferromcp_http::HttpConfig::default()));
    let fast = small_backend("mem://fast").await;
    let cfg = ProxyConfig::from_value(&json!({"mcpServers": {
        "slow": {"url": slow, "timeoutMs": 1500},
        "fast": {"url": fast}
    }}))
    .unwrap();
    let server = Proxy::new(cfg).build().await.expect("proxy builds");
    let client = Client::in_memory(server, ClientOptions::legacy()).await.unwrap();
    let started = std::time::Instant::now();
    let (hung, quick) = tokio::join!(client.call_tool("slow_hang", json!({})), async {
        let out = client.call_tool("fast_test_simple_text", json!({})).await;
        (out, started.elapsed())
    });
    let (quick, quick_took) = quick;
    assert_eq!(quick.expect("the fast backend answers").text(), "small says hi");
    assert!(quick_took < std::time::Duration::from_millis(1000), "the fast call took {quick_took:?}");
    let hung = hung.expect("a tool error, not a transport error");
    // The client's request timeout and the proxy's bound on the call are the same 1.5 s;
    // whichever fires first words the error.
    let timed_out = ["got no answer within 1.5s", "did not answer `hang` within 1500 ms"];
    assert!(hung.is_error() && timed_out.iter().any(|t| hung.text().contains(t)), "{}", hung.text());
    assert!(started.elapsed() < std::time::Duration::from_secs(5), "the hung call took {:?}", started.elapsed());
    client.close().await;
}
