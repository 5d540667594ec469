//! The metrics endpoint after a load run over real HTTP on loopback: state-store and
//! event-store operations counted per op and outcome (errors included, from a store that
//! fails on purpose) with latency histograms, the open-streams gauge while a GET stream
//! is open, and the pending-asks gauge. Its own test binary: the `metrics` recorder is
//! process-wide. Every wait is bounded.

use std::net::SocketAddr;
use std::time::Duration;

use ferromcp::http::HttpConfig;
use ferromcp::state::{Entry, MemoryStore, ScopeLimit, StateStore, StoreError, StoreFuture, Version};
use ferromcp::{Context, Error, NoArgs, Server, ToolDef};
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::time::timeout;

const WAIT: Duration = Duration::from_secs(10);

/// A memory store whose scoped writes of a key containing `boom` fail.
struct Flaky(MemoryStore);

impl StateStore for Flaky {
    fn get<'a>(&'a self, key: &'a str) -> StoreFuture<'a, Result<Option<Entry>, StoreError>> {
        self.0.get(key)
    }
    fn put<'a>(&'a self, key: &'a str, value: Value, ttl: Option<Duration>) -> StoreFuture<'a, Result<(), StoreError>> {
        self.0.put(key, value, ttl)
    }
    fn delete<'a>(&'a self, key: &'a str) -> StoreFuture<'a, Result<bool, StoreError>> {
        self.0.delete(key)
    }
    fn compare_and_swap<'a>(
        &'a self,
        key: &'a str,
        expected: Option<&'a Version>,
        new: Option<Value>,
        ttl: Option<Duration>,
    ) -> StoreFuture<'a, Result<bool, StoreError>> {
        self.0.compare_and_swap(key, expected, new, ttl)
    }
    fn delete_prefix<'a>(&'a self, prefix: &'a str) -> StoreFuture<'a, Result<u64, StoreError>> {
        self.0.delete_prefix(prefix)
    }
    fn put_in_scope<'a>(
        &'a self,
        key: &'a str,
        value: Value,
        ttl: Option<Duration>,
        scope: ScopeLimit<'a>,
    ) -> StoreFuture<'a, Result<(), StoreError>> {
        if key.contains("boom") {
            return Box::pin(std::future::ready(Err(StoreError::Unavailable("the test store refuses `boom`".into()))));
        }
        self.0.put_in_scope(key, value, ttl, scope)
    }
}

async fn post(http: &reqwest::Client, url: &str, session: Option<&str>, body: Value) -> (Option<String>, String) {
    let mut req = http
        .post(url)
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .header("mcp-protocol-version", "2025-11-25");
    if let Some(s) = session {
        req = req.header("mcp-session-id", s);
    }
    let resp = timeout(WAIT, req.body(body.to_string()).send()).await.unwrap().unwrap();
    let id = resp.headers().get("mcp-session-id").map(|v| v.to_str().unwrap().to_owned());
    (id, timeout(WAIT, resp.text()).await.unwrap().unwrap())
}

fn call(id: u64, tool: &str) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "method": "tools/call", "params": {"name": tool, "arguments": {}}})
}

/// The value of the sample `name{labels}` (labels in exposition order), if present.
fn sample(text: &str, name_and_labels: &str) -> Option<f64> {
    text.lines().find_map(|l| l.strip_prefix(name_and_labels)?.strip_prefix(' ')?.trim().parse().ok())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_metrics_endpoint_shows_store_operations_streams_and_asks_after_a_load_run() {
    let server = Server::builder("metrics", "1")
        .state_store(Flaky(MemoryStore::new()))
        .tool(ToolDef::new("remember").handler(|ctx: Context, _: NoArgs| async move {
            let n: i64 = ctx.state().update("n", |old: Option<i64>| old.unwrap_or(0) + 1).await?;
            ctx.state().set("last", &n).await?;
            Ok::<_, Error>(n.to_string())
        }))
        .tool(ToolDef::new("boom").handler(|ctx: Context, _: NoArgs| async move {
            ctx.state().set("boom", &1).await?;
            Ok::<_, Error>("unreachable")
        }))
        .build();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr: SocketAddr = listener.local_addr().unwrap();
    tokio::spawn(ferromcp::http::serve_listener(server, listener, HttpConfig::default().metrics_path("/metrics")));
    let (http, url) = (reqwest::Client::new(), format!("http://{addr}/mcp"));

    // Load: 10 sessions, each 5 state-touching calls and one failing write.
    let mut sessions = Vec::new();
    for _ in 0..10 {
        let init = json!({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
            "protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "load", "version": "0"}}});
        let (id, _) = post(&http, &url, None, init).await;
        let id = id.expect("a session id");
        post(&http, &url, Some(&id), json!({"jsonrpc": "2.0", "method": "notifications/initialized"})).await;
        sessions.push(id);
    }
    let mut runs = tokio::task::JoinSet::new();
    for id in sessions.clone() {
        let (http, url) = (http.clone(), url.clone());
        runs.spawn(async move {
            for i in 1..=5 {
                let (_, body) = post(&http, &url, Some(&id), call(i, "remember")).await;
                assert!(body.contains(&format!("\"text\":\"{i}\"")), "{body}");
            }
            let (_, body) = post(&http, &url, Some(&id), call(9, "boom")).await;
            assert!(body.contains("refuses"), "the store's error reaches the caller: {body}");
        });
    }
    while let Some(r) = timeout(WAIT, runs.join_next()).await.unwrap() {
        r.unwrap();
    }

    // One GET stream held open while scraping.
    let stream = http
        .get(&url)
        .header("accept", "text/event-stream")
        .header("mcp-session-id", &sessions[0])
        .header("mcp-protocol-version", "2025-11-25")
        .send();
    let mut stream = timeout(WAIT, stream).await.unwrap().unwrap();
    assert_eq!(stream.status(), 200);
    // Its first event (stored for resumption before it is sent) has arrived.
    let first = timeout(WAIT, stream.chunk()).await.unwrap().unwrap().expect("the stream ended");
    assert!(String::from_utf8_lossy(&first).contains("id:"), "{first:?}");

    let text = timeout(WAIT, async { http.get(format!("http://{addr}/metrics")).send().await?.text().await })
        .await
        .unwrap()
        .unwrap();
    let ops = |store: &str, op: &str, outcome: &str| {
        sample(
            &text,
            &format!("ferromcp_store_operations_total{{store=\"{store}\",op=\"{op}\",outcome=\"{outcome}\"}}"),
        )
        .unwrap_or(0.0)
    };
    // 50 `set`s went through put_in_scope; 10 `boom`s failed there.
    assert!(ops("state", "put_in_scope", "ok") >= 50.0, "{text}");
    assert_eq!(ops("state", "put_in_scope", "error"), 10.0, "{text}");
    assert!(ops("state", "get", "ok") >= 50.0, "update reads: {text}");
    assert!(ops("state", "compare_and_swap_in_scope", "ok") >= 50.0, "update swaps: {text}");
    assert_eq!(ops("events", "save_session", "ok"), 10.0, "one record per session: {text}");
    assert!(ops("events", "append", "ok") >= 1.0, "the GET stream's first event is stored for resumption: {text}");
    let count = sample(&text, "ferromcp_store_operation_duration_seconds_count{store=\"state\",op=\"put_in_scope\"}");
    assert!(count.unwrap_or(0.0) >= 60.0, "the latency histogram counts ok and failed ops: {text}");
    assert!(
        text.contains("ferromcp_store_operation_duration_seconds_bucket{store=\"state\",op=\"get\",le=\"0.001\"}"),
        "{text}"
    );
    assert_eq!(sample(&text, "ferromcp_open_streams"), Some(1.0), "{text}");
    assert_eq!(sample(&text, "ferromcp_pending_asks"), Some(0.0), "{text}");
    assert!(
        sample(&text, "ferromcp_requests_total{method=\"tools/call\",component=\"remember\"}").unwrap_or(0.0) >= 50.0
    );
    drop(stream);
}
