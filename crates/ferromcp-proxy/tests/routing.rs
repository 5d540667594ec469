//! The proxy in front of the `everything` example (stdio and Streamable HTTP backends),
//! driven by ferromcp-client over a Streamable HTTP frontend on 127.0.0.1: every ask
//! and progress notification a backend sends reaches the frontend call that caused it.

use std::path::PathBuf;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ferromcp_client::{Client, ClientHandlers, ClientOptions};
use ferromcp_proxy::{Proxy, ProxyConfig};
use serde_json::{Value, json};

/// The `everything` example binary, built on first use.
fn everything() -> PathBuf {
    static BUILT: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    BUILT
        .get_or_init(|| {
            let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
            let status = std::process::Command::new(env!("CARGO"))
                .args(["build", "--example", "everything"])
                .current_dir(&root)
                .status()
                .expect("cargo runs");
            assert!(status.success(), "cargo build --example everything failed");
            let target = std::env::var_os("CARGO_TARGET_DIR").map(PathBuf::from).unwrap_or(root.join("target"));
            target.join("debug/examples/everything")
        })
        .clone()
}

/// Serves `cfg` through the proxy on 127.0.0.1; returns the frontend URL.
async fn frontend(cfg: Value) -> String {
    let cfg = ProxyConfig::from_value(&cfg).expect("valid config");
    let server = Proxy::new(cfg).build().await.expect("proxy builds");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(ferromcp_http::serve_listener(server, listener, ferromcp_http::HttpConfig::default()));
    format!("http://{addr}/mcp")
}

fn stdio_backend(mode: &str) -> Value {
    json!({"mcpServers": {"every": {"command": everything(), "args": ["--stdio"], "mode": mode, "timeoutMs": 10000}}})
}

/// Starts `everything` on a free loopback port; the child dies with the guard.
async fn http_everything() -> (tokio::process::Child, String) {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let child = tokio::process::Command::new(everything())
        .args(["--port", &port.to_string()])
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("everything starts");
    for _ in 0..200 {
        if tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_ok() {
            return (child, format!("http://127.0.0.1:{port}/mcp"));
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("everything did not listen on {port} within 5 s");
}

/// A frontend client whose elicitation answer is derived from the question (the
/// backend tool's `message` argument), so each result shows whose answer it got.
async fn echoing_client(url: &str) -> Client {
    let handlers = ClientHandlers::new().elicitation(|params| async move {
        let msg = params["message"].as_str().unwrap_or_default().to_owned();
        tokio::time::sleep(Duration::from_millis(20)).await;
        Ok(json!({"action": "accept", "content": {"username": msg, "email": format!("{msg}@example.com")}}))
    });
    Client::connect_http(url, ClientOptions::legacy().handlers(handlers)).await.expect("frontend connects")
}

async fn elicit(client: &Client, message: &str) -> String {
    let out = client
        .call_tool("test_elicitation", json!({"message": message}))
        .await
        .unwrap_or_else(|e| panic!("call {message} failed: {e}"));
    assert!(!out.is_error(), "call {message} errored: {}", out.text());
    out.text()
}

/// 3 sessions × 4 concurrent eliciting calls: each result carries its own answer.
async fn three_sessions_four_calls(url: &str) {
    let mut sessions = Vec::new();
    for s in 0..3 {
        let url = url.to_owned();
        sessions.push(tokio::spawn(async move {
            let client = echoing_client(&url).await;
            let calls = (0..4).map(|c| {
                let client = &client;
                async move {
                    let msg = format!("s{s}-c{c}");
                    let text = elicit(client, &msg).await;
                    assert!(text.contains(&format!("\"username\":\"{msg}\"")), "call {msg} got {text}");
                    assert!(text.contains(&format!("\"email\":\"{msg}@example.com\"")), "call {msg} got {text}");
                }
            });
            futures_join_all(calls).await;
            client.close().await;
        }));
    }
    for s in sessions {
        tokio::time::timeout(Duration::from_secs(30), s).await.expect("sessions finish within 30 s").unwrap();
    }
}

/// Joins futures without a futures dependency.
async fn futures_join_all<F: std::future::Future<Output = ()>>(fs: impl Iterator<Item = F>) {
    let set: Vec<_> = fs.collect();
    let mut pinned: Vec<_> = set.into_iter().map(Box::pin).collect();
    std::future::poll_fn(|cx| {
        pinned.retain_mut(|f| f.as_mut().poll(cx).is_pending());
        if pinned.is_empty() { std::task::Poll::Ready(()) } else { std::task::Poll::Pending }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seed_003_two_sequential_elicitations_in_one_session_affinity_stdio() {
    let url = frontend(stdio_backend("affinity")).await;
    let client = echoing_client(&url).await;
    for msg in ["first", "second"] {
        let text = tokio::time::timeout(Duration::from_secs(15), elicit(&client, msg)).await.expect("no hang");
        assert!(text.contains(&format!("\"username\":\"{msg}\"")), "got {text}");
    }
    client.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_elicitations_affinity_stdio() {
    let url = frontend(stdio_backend("affinity")).await;
    three_sessions_four_calls(&url).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_elicitations_fresh_stdio() {
    let url = frontend(stdio_backend("fresh")).await;
    three_sessions_four_calls(&url).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_elicitations_affinity_http() {
    let (_child, backend) = http_everything().await;
    let url = frontend(json!({"mcpServers": {"every": {"url": backend, "mode": "affinity"}}})).await;
    three_sessions_four_calls(&url).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn progress_reaches_only_its_own_caller() {
    let (_child, backend) = http_everything().await;
    for cfg in [json!({"mcpServers": {"every": {"url": backend, "mode": "affinity"}}}), stdio_backend("fresh")] {
        let url = frontend(cfg).await;
        let client = Client::connect_http(&url, ClientOptions::legacy()).await.unwrap();
        let calls = (0..4).map(|i| {
            let client = &client;
            async move {
                let seen = Arc::new(Mutex::new(Vec::new()));
                let s = seen.clone();
                let token = format!("tok-{i}");
                let out = client
                    .tool_call("test_tool_with_progress")
                    .progress_token(token.clone())
                    .on_progress(move |p| s.lock().unwrap().push(p))
                    .send()
                    .await
                    .expect("call completes");
                assert_eq!(out.text(), "Progress test completed");
                let seen = seen.lock().unwrap();
                let values: Vec<_> = seen.iter().map(|p| p["progress"].as_f64()).collect();
                assert_eq!(values, vec![Some(0.0), Some(50.0), Some(100.0)], "call {i} saw {seen:?}");
                assert!(seen.iter().all(|p| p["progressToken"] == json!(token)), "call {i} saw {seen:?}");
            }
        });
        futures_join_all(calls).await;
        client.close().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backend_killed_mid_call_errors_in_time_and_the_next_call_works() {
    let dir = std::env::temp_dir().join(format!("ferromcp-proxy-kill-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let pids = dir.join("pids");
    let script = format!("echo $$ >> '{}'; exec '{}' --stdio", pids.display(), everything().display());
    let url = frontend(json!({"mcpServers": {"every": {
        "command": "sh", "args": ["-c", script], "mode": "affinity", "timeoutMs": 5000}}}))
    .await;
    let pid_file = pids.clone();
    // The frontend's elicitation handler kills every backend process, mid-call.
    let handlers = ClientHandlers::new().elicitation(move |_params| {
        let pid_file = pid_file.clone();
        async move {
            for pid in std::fs::read_to_string(&pid_file).unwrap_or_default().lines() {
                let _ = std::process::Command::new("kill").args(["-9", pid.trim()]).status();
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
            Ok(json!({"action": "accept", "content": {"username": "u", "email": "e"}}))
        }
    });
    let client = Client::connect_http(&url, ClientOptions::legacy().handlers(handlers)).await.unwrap();
    let started = Instant::now();
    let first = client.call_tool("test_elicitation", json!({"message": "doomed"})).await;
    assert!(started.elapsed() < Duration::from_secs(6), "the failed call took {:?}", started.elapsed());
    match first {
        Ok(out) => assert!(out.is_error(), "the killed call succeeded: {}", out.text()),
        Err(e) => assert!(!e.to_string().is_empty()),
    }
    let next = client.call_tool("test_simple_text", json!({})).await.expect("the next call works");
    assert!(!next.is_error(), "the next call errored: {}", next.text());
    client.close().await;
    let _ = std::fs::remove_dir_all(&dir);
}
