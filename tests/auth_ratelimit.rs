//! Per-principal rate limiting in the counter example (`--rate-limit N --rate-burst B`:
//! N requests a minute sustained, bursts of B),
//! over real loopback HTTP and stdio:
//!
//! * a principal over its rate gets HTTP 429 with `Retry-After`, while another
//!   principal is unaffected;
//! * two nodes sharing a Redis (`--redis URL --rate-limit-redis`, a throwaway
//!   `redis-server` on its own port) hold the limit together;
//! * on stdio the refusal is a JSON-RPC error (code -32029).
//!
//! The example binary is built by `cargo test` / `cargo build --examples`
//! (`FERRO_COUNTER_BIN` overrides its path). Every wait is bounded.

use std::io::{BufRead, BufReader, Write};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

const WAIT: Duration = Duration::from_secs(30);
const MODERN: &str = "2026-07-28";

fn counter_bin() -> std::path::PathBuf {
    let bin = match std::env::var_os("FERRO_COUNTER_BIN") {
        Some(p) => std::path::PathBuf::from(p),
        None => std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/debug/examples/counter"),
    };
    assert!(bin.exists(), "{} is missing: build it with `cargo build --example counter`", bin.display());
    bin
}

/// A child process killed on drop.
struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The counter example on a free loopback port.
fn counter(args: &[&str]) -> (Proc, SocketAddr) {
    let mut child = Command::new(counter_bin())
        .args(["--port", "0"])
        .args(args)
        .env("RUST_LOG", "error")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn counter");
    let stderr = child.stderr.take().expect("stderr");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if let Some(rest) = line.strip_prefix("counter MCP server on http://") {
                let _ = tx.send(rest.trim_end_matches("/mcp").to_owned());
            }
        }
    });
    let proc = Proc(child);
    let addr = rx.recv_timeout(WAIT).unwrap_or_else(|_| panic!("counter {args:?} did not start"));
    (proc, addr.parse().expect("address"))
}

/// One 2026-07-28 `tools/call get_counter` as `token`: (status, Retry-After).
async fn call(addr: SocketAddr, token: &str) -> (u16, Option<u64>) {
    let body = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {
        "name": "get_counter", "arguments": {},
        "_meta": {"io.modelcontextprotocol/protocolVersion": MODERN, "io.modelcontextprotocol/clientCapabilities": {}}}});
    let r = reqwest::Client::new()
        .post(format!("http://{addr}/mcp"))
        .timeout(WAIT)
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .header("mcp-protocol-version", MODERN)
        .header("mcp-method", "tools/call")
        .header("mcp-name", "get_counter")
        .bearer_auth(token)
        .body(body.to_string())
        .send()
        .await
        .expect("send");
    let retry = r.headers().get("retry-after").and_then(|v| v.to_str().ok()).and_then(|v| v.parse().ok());
    (r.status().as_u16(), retry)
}

const TOKENS: [&str; 6] = ["--token", "a=alice", "--token", "b=bob", "--require-auth", "--rate-burst"];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_over_rate_principal_gets_429_and_others_are_unaffected() {
    // One request a minute sustained (so refills never blur the count), bursts of 3.
    let (_p, addr) = counter(&[&TOKENS[..], &["3", "--rate-limit", "1"]].concat());
    for i in 0..3 {
        assert_eq!(call(addr, "a").await.0, 200, "alice's request {i} is within the burst");
    }
    let (status, retry) = call(addr, "a").await;
    assert_eq!(status, 429, "alice is over her rate");
    assert!(retry.is_some_and(|s| s >= 1), "Retry-After names a wait: {retry:?}");
    for i in 0..3 {
        assert_eq!(call(addr, "b").await.0, 200, "bob's request {i} is unaffected by alice");
    }
    assert_eq!(call(addr, "b").await.0, 429);
}

/// A throwaway `redis-server` on a free loopback port, killed on drop.
fn redis_server() -> (Proc, String) {
    let port = std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("free port").port();
    let child = Command::new("redis-server")
        .args(["--port", &port.to_string(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("these tests need `redis-server` on PATH (apt-get install redis-server)");
    let deadline = Instant::now() + WAIT;
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "redis-server did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    (Proc(child), format!("redis://127.0.0.1:{port}/"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nodes_sharing_redis_hold_the_limit_together() {
    let (_redis, url) = redis_server();
    // --redis makes each counter a cluster node, which needs a sealing key shared by both.
    let key = ["--sealing-key", "rate-limit-test-sealing-key-0123456789abcdef"];
    let args = [&TOKENS[..], &["4", "--rate-limit", "1", "--redis", &url, "--rate-limit-redis"], &key[..]].concat();
    let (_n1, a1) = counter(&args);
    let (_n2, a2) = counter(&args);
    // Alice alternates between the nodes: 4 requests in all fit the burst, not 4 each.
    let mut ok = 0;
    for i in 0..4 {
        let (status, _) = call(if i % 2 == 0 { a1 } else { a2 }, "a").await;
        ok += u32::from(status == 200);
    }
    assert_eq!(ok, 4, "the burst is shared, and not exceeded");
    let (s1, retry) = call(a1, "a").await;
    let (s2, _) = call(a2, "a").await;
    assert_eq!((s1, s2), (429, 429), "over the shared limit on both nodes");
    assert!(retry.is_some_and(|s| s >= 1));
    assert_eq!(call(a2, "b").await.0, 200, "bob has his own allowance");
    assert_eq!(call(a1, "b").await.0, 200);
}

#[test]
fn over_rate_on_stdio_is_a_json_rpc_error() {
    let mut child = Command::new(counter_bin())
        .args(["--stdio", "--rate-limit", "1", "--rate-burst", "3"])
        .env("RUST_LOG", "error")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn counter --stdio");
    let mut stdin = child.stdin.take().unwrap();
    let stdout = child.stdout.take().unwrap();
    let _guard = Proc(child);
    let (tx, rx) = std::sync::mpsc::channel::<Value>();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Ok(v) = serde_json::from_str(&line) {
                let _ = tx.send(v);
            }
        }
    });
    let mut send = |v: Value| writeln!(stdin, "{v}").and_then(|()| stdin.flush()).expect("write");
    let init =
        json!({"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}});
    send(json!({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": init}));
    let first = rx.recv_timeout(WAIT).expect("initialize answer");
    assert!(first["result"].is_object(), "{first}");
    send(json!({"jsonrpc": "2.0", "method": "notifications/initialized"}));
    let mut answers = Vec::new();
    for id in 1..=3 {
        send(
            json!({"jsonrpc": "2.0", "id": id, "method": "tools/call", "params": {"name": "get_counter", "arguments": {}}}),
        );
        answers.push(rx.recv_timeout(WAIT).expect("answer"));
    }
    // initialize + 2 calls fit the burst of 3; the third call does not.
    assert!(answers[0]["result"].is_object() && answers[1]["result"].is_object(), "{answers:?}");
    assert_eq!(answers[2]["error"]["code"], -32029, "{}", answers[2]);
    assert!(answers[2]["error"]["message"].as_str().unwrap().contains("retry"), "{}", answers[2]);
}
