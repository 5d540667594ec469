//! The affinity idle timeout (`"idleTimeoutMs"`): a backend session whose frontend
//! session stays idle is closed, and the frontend session's next call opens a new one;
//! calls closer together than the timeout keep the same backend session.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ferromcp_client::{Client, ClientOptions};
use ferromcp_core::{Context, NoArgs, Server, ToolDef};
use ferromcp_proxy::{Proxy, ProxyConfig};
use serde_json::json;

/// A 2025-11-25 backend over Streamable HTTP whose tool answers with the backend
/// session it runs in; the sessions it ended are recorded.
async fn backend(ended: Arc<Mutex<Vec<String>>>) -> String {
    let server = Server::builder("sessions", "1.0.0")
        .tool(
            ToolDef::new("whoami")
                .handler(|ctx: Context, _: NoArgs| async move { ctx.session_id().unwrap_or("none").to_owned() }),
        )
        .on_session_ended(move |s| ended.lock().unwrap().push(s.id.to_owned()))
        .build();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(ferromcp_http::serve_listener(server, listener, ferromcp_http::HttpConfig::default()));
    format!("http://{addr}/mcp")
}

async fn whoami(client: &Client) -> String {
    client.call_tool("whoami", json!({})).await.unwrap().text()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_affinity_connection_closes_and_the_next_call_reopens() {
    let ended = Arc::new(Mutex::new(Vec::new()));
    let url = backend(ended.clone()).await;
    let idle = Duration::from_millis(600);
    let cfg = ProxyConfig::from_value(&json!({"mcpServers": {"b": {
        "url": url, "mode": "affinity", "protocolVersion": "2025-11-25", "idleTimeoutMs": idle.as_millis() as u64
    }}}))
    .unwrap();
    let proxy = Proxy::new(cfg).build().await.expect("proxy builds");
    let client = Client::in_memory(proxy, ClientOptions::legacy()).await.unwrap();

    let first = whoami(&client).await;
    assert_ne!(first, "none", "the backend call runs in a backend session");
    // Calls closer together than the timeout keep the session.
    for _ in 0..3 {
        tokio::time::sleep(idle / 4).await;
        assert_eq!(whoami(&client).await, first, "a busy affinity connection must stay open");
    }
    assert!(!ended.lock().unwrap().contains(&first), "closed while in use");

    // Idle past the timeout: the backend session ends (DELETE from the proxy).
    let deadline = Instant::now() + idle * 2 + Duration::from_secs(5);
    while !ended.lock().unwrap().contains(&first) {
        assert!(Instant::now() < deadline, "the idle backend session {first} was never closed");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // The frontend session goes on: its next call opens a new backend session.
    let second = whoami(&client).await;
    assert_ne!(second, "none");
    assert_ne!(second, first, "the next call reopens a backend session");
    assert_eq!(whoami(&client).await, second);
    client.close().await;
}
