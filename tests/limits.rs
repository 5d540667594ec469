//! Bounds on what a client can make the server hold (issue 8, item 2 and state): the
//! size of echoed values (request ids, progress tokens), the bytes the event store keeps
//! for resumable streams, and the size and number of state values.
//!
//! Each test starts its own server — over HTTP on `127.0.0.1:0` with a plain hyper 1
//! client, or over the line-delimited in-memory transport — and bounds every wait.

use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use ferromcp::events::{MemoryEventStore, Retention};
use ferromcp::http::HttpConfig;
use ferromcp::transport::{LineConfig, serve_io};
use ferromcp::{Context, Server, ToolDef};
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::timeout;

const WAIT: Duration = Duration::from_secs(10);
const MODERN: &str = "2026-07-28";
const LEGACY: &str = "2025-11-25";

#[derive(serde::Deserialize, schemars::JsonSchema)]
struct Steps {
    n: u32,
}

#[derive(serde::Deserialize, schemars::JsonSchema)]
struct Put {
    key: String,
    size: usize,
}

fn server(builder: ferromcp::ServerBuilder) -> Server {
    builder
        .tool(ToolDef::new("progress").handler(|ctx: Context, s: Steps| async move {
            for i in 0..s.n {
                ctx.report_progress(f64::from(i + 1), Some(f64::from(s.n)), None).await;
            }
            s.n
        }))
        .tool(ToolDef::new("put").handler(|ctx: Context, p: Put| async move {
            ctx.state().set(&p.key, &"x".repeat(p.size)).await?;
            Ok::<_, ferromcp::Error>("stored")
        }))
        .tool(ToolDef::new("bump").handler(|ctx: Context, p: Put| async move {
            ctx.state().update(&p.key, |old: Option<u64>| old.unwrap_or(0) + 1).await
        }))
        .tool(ToolDef::new("forget").handler(|ctx: Context, p: Put| async move { ctx.state().delete(&p.key).await }))
        .build()
}

/// Starts an HTTP server whose event store is `store`; it stops with the test's runtime.
async fn start(store: MemoryEventStore) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let cfg = HttpConfig::default().event_store(store);
    tokio::spawn(ferromcp::http::serve_listener(server(Server::builder("t", "1")), listener, cfg));
    addr
}

struct Resp {
    status: u16,
    headers: hyper::HeaderMap,
    body: String,
}

impl Resp {
    /// The JSON-RPC message of the body: the body itself, or the last SSE `data:` line.
    fn message(&self) -> Value {
        let text = if self.body.trim_start().starts_with('{') {
            self.body.as_str()
        } else {
            self.body.lines().rev().filter_map(|l| l.strip_prefix("data: ")).find(|d| !d.is_empty()).unwrap_or("")
        };
        serde_json::from_str(text).unwrap_or_else(|e| panic!("status {}: no JSON ({e}): {:?}", self.status, self.body))
    }
}

async fn post(addr: SocketAddr, headers: &[(&str, &str)], body: String) -> Resp {
    let tcp = timeout(WAIT, TcpStream::connect(addr)).await.unwrap().unwrap();
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tcp)).await.unwrap();
    tokio::spawn(conn);
    let mut b = hyper::Request::builder()
        .method("POST")
        .uri("/mcp")
        .header("host", addr.to_string())
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream");
    for (k, v) in headers {
        b = b.header(*k, *v);
    }
    let req = b.body(Full::new(Bytes::from(body))).unwrap();
    let resp = timeout(WAIT, sender.send_request(req)).await.expect("answer in time").expect("server answered");
    let (parts, body) = resp.into_parts();
    let body = timeout(WAIT, body.collect()).await.expect("body in time").unwrap().to_bytes();
    Resp { status: parts.status.as_u16(), headers: parts.headers, body: String::from_utf8_lossy(&body).into_owned() }
}

/// Opens a legacy session (initialize + initialized) and returns its id.
async fn legacy_session(addr: SocketAddr) -> String {
    let init = json!({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
        "protocolVersion": LEGACY, "capabilities": {}, "clientInfo": {"name": "c", "version": "1"}}});
    let r = post(addr, &[], init.to_string()).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let sid = r.headers.get("mcp-session-id").expect("a session id").to_str().unwrap().to_owned();
    let note = json!({"jsonrpc": "2.0", "method": "notifications/initialized"}).to_string();
    assert_eq!(post(addr, &[("mcp-session-id", &sid), ("mcp-protocol-version", LEGACY)], note).await.status, 202);
    sid
}

fn progress_call(id: &Value, token: &Value, n: u32) -> String {
    json!({"jsonrpc": "2.0", "id": id, "method": "tools/call",
        "params": {"name": "progress", "arguments": {"n": n}, "_meta": {"progressToken": token}}})
    .to_string()
}

/// A token whose JSON text is `len` bytes (a string: two quotes around it).
fn token(len: usize) -> Value {
    Value::String("t".repeat(len - 2))
}

fn assert_limit_error(v: &Value, id: &Value, what: &str) {
    assert_eq!(v["error"]["code"], -32602, "{v}");
    assert_eq!(&v["id"], id, "{v}");
    let msg = v["error"]["message"].as_str().unwrap_or_default();
    assert!(msg.contains("exceeds the 1024-byte limit") && msg.contains(what), "{msg}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_ids_and_progress_tokens_are_refused_over_http_and_nothing_is_stored() {
    let store = MemoryEventStore::new();
    let addr = start(store.clone()).await;
    let sid = legacy_session(addr).await;
    let in_session = [("mcp-session-id", sid.as_str()), ("mcp-protocol-version", LEGACY)];
    let stored = store.event_count();

    let r = post(addr, &in_session, progress_call(&json!(7), &token(1025), 3)).await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert_limit_error(&r.message(), &json!(7), "progressToken");
    let long_id = json!("i".repeat(2000));
    let r = post(addr, &in_session, progress_call(&long_id, &json!(1), 3)).await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert_limit_error(&r.message(), &Value::Null, "`id`");
    assert_eq!(store.event_count(), stored, "nothing was stored for refused requests");

    // Modern era: the same limits, the same errors.
    let modern = json!({"jsonrpc": "2.0", "id": 8, "method": "tools/call", "params": {
        "name": "progress", "arguments": {"n": 1}, "_meta": {
            "io.modelcontextprotocol/protocolVersion": MODERN,
            "io.modelcontextprotocol/clientCapabilities": {}, "progressToken": token(4096)}}});
    let headers = [("mcp-protocol-version", MODERN), ("mcp-method", "tools/call"), ("mcp-name", "progress")];
    let r = post(addr, &headers, modern.to_string()).await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert_limit_error(&r.message(), &json!(8), "progressToken");

    // At the limit everything works, and the progress events are stored.
    let r = post(addr, &in_session, progress_call(&json!(9), &token(1024), 3)).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.message()["result"]["structuredContent"]["result"], 3, "{}", r.body);
    assert_eq!(r.body.matches("notifications/progress").count(), 3, "{}", r.body);
    assert!(store.event_count() >= stored + 4, "the progress events and the result were stored");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_progress_flood_keeps_the_event_store_within_its_byte_bounds() {
    let r = Retention::default().with_max_bytes_per_stream(64 * 1024).with_max_bytes(256 * 1024);
    let store = MemoryEventStore::with_retention(r);
    let addr = start(store.clone()).await;
    let sid = legacy_session(addr).await;
    let in_session = [("mcp-session-id", sid.as_str()), ("mcp-protocol-version", LEGACY)];
    for i in 0..40 {
        // 100 progress events with a 1 KiB token: ~110 KiB per call before the caps.
        let r = post(addr, &in_session, progress_call(&json!(i), &token(1024), 100)).await;
        assert_eq!(r.message()["result"]["structuredContent"]["result"], 100, "call {i}");
        assert!(store.byte_count() <= 256 * 1024, "call {i}: {} bytes kept", store.byte_count());
    }
    assert!(store.byte_count() > 128 * 1024, "the store is used up to its bound, not emptied");
}

/// One line-delimited connection to `server` (the transport the in-process client uses).
struct Lines {
    write: tokio::io::WriteHalf<tokio::io::DuplexStream>,
    read: tokio::io::Lines<BufReader<tokio::io::ReadHalf<tokio::io::DuplexStream>>>,
}

impl Lines {
    async fn open(server: Server) -> Lines {
        let (client, server_end) = tokio::io::duplex(1 << 20);
        let (sr, sw) = tokio::io::split(server_end);
        tokio::spawn(serve_io(server, sr, sw, LineConfig::default()));
        let (cr, write) = tokio::io::split(client);
        let mut lines = Lines { write, read: BufReader::new(cr).lines() };
        let init = json!({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
            "protocolVersion": LEGACY, "capabilities": {}, "clientInfo": {"name": "c", "version": "1"}}});
        assert_eq!(lines.exchange(&init).await["result"]["protocolVersion"], LEGACY);
        lines
    }

    /// Sends `msg` and returns the next line that is not a notification.
    async fn exchange(&mut self, msg: &Value) -> Value {
        self.write.write_all(format!("{msg}\n").as_bytes()).await.unwrap();
        loop {
            let line = timeout(WAIT, self.read.next_line()).await.expect("answer in time").unwrap().expect("a line");
            let v: Value = serde_json::from_str(&line).unwrap();
            if v.get("method").is_none() {
                return v;
            }
        }
    }

    async fn call(&mut self, id: u64, tool: &str, key: &str, size: usize) -> Value {
        let msg = json!({"jsonrpc": "2.0", "id": id, "method": "tools/call",
            "params": {"name": tool, "arguments": {"key": key, "size": size}}});
        self.exchange(&msg).await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_in_process_transport_refuses_oversized_ids_and_tokens() {
    let mut c = Lines::open(server(Server::builder("t", "1"))).await;
    let v = c.exchange(&serde_json::from_str(&progress_call(&json!(1), &token(1025), 1)).unwrap()).await;
    assert_limit_error(&v, &json!(1), "progressToken");
    let v = c.exchange(&serde_json::from_str(&progress_call(&json!("i".repeat(1100)), &json!(1), 1)).unwrap()).await;
    assert_limit_error(&v, &Value::Null, "`id`");
    let v = c.exchange(&serde_json::from_str(&progress_call(&json!(2), &token(1024), 1)).unwrap()).await;
    assert_eq!(v["result"]["structuredContent"]["result"], 1, "{v}");

    // The limit is a server setting.
    let mut c = Lines::open(server(Server::builder("t", "1").max_echoed_value_bytes(4096))).await;
    let v = c.exchange(&serde_json::from_str(&progress_call(&json!(3), &token(4000), 1)).unwrap()).await;
    assert_eq!(v["result"]["structuredContent"]["result"], 1, "{v}");
}

fn limit_message(v: &Value, limit: &str) -> String {
    assert_eq!(v["error"]["code"], -32602, "{v}");
    let msg = v["error"]["message"].as_str().unwrap_or_default().to_owned();
    assert!(msg.contains(limit), "the message names `{limit}`: {msg}");
    msg
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn state_values_over_the_size_limit_are_refused_and_change_nothing() {
    let builder = Server::builder("t", "1").max_state_value_bytes(1000);
    let mut c = Lines::open(server(builder)).await;
    // A string of 998 characters is 1000 bytes of JSON.
    let v = c.call(1, "put", "k", 998).await;
    assert_eq!(v["result"]["content"][0]["text"], "stored", "{v}");
    let v = c.call(2, "put", "k", 999).await;
    limit_message(&v, "max_state_value_bytes");
    let v = c.call(3, "put", "other", 10_000_000).await;
    let msg = limit_message(&v, "max_state_value_bytes");
    assert!(msg.contains("`other`"), "the message names the key: {msg}");
    assert_eq!(c.call(4, "forget", "other", 0).await["result"]["structuredContent"]["result"], false);
    assert_eq!(c.call(5, "forget", "k", 0).await["result"]["structuredContent"]["result"], true, "k was kept");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scope_holds_at_most_max_state_keys_per_scope_keys() {
    let shared = server(Server::builder("t", "1").max_state_keys_per_scope(3));
    let mut c = Lines::open(shared.clone()).await;
    let mut other = Lines::open(shared).await;
    for (i, k) in ["a", "b", "c"].iter().enumerate() {
        let v = c.call(i as u64, "put", k, 1).await;
        assert_eq!(v["result"]["content"][0]["text"], "stored", "{v}");
    }
    limit_message(&c.call(10, "put", "d", 1).await, "max_state_keys_per_scope");
    limit_message(&c.call(11, "bump", "counter", 0).await, "max_state_keys_per_scope");
    let v = c.call(12, "put", "a", 5).await;
    assert_eq!(v["result"]["content"][0]["text"], "stored", "overwriting a key at the limit works: {v}");
    assert_eq!(c.call(13, "forget", "b", 0).await["result"]["structuredContent"]["result"], true);
    assert_eq!(c.call(14, "bump", "counter", 0).await["result"]["structuredContent"]["result"], 1, "room again");
    assert_eq!(c.call(15, "bump", "counter", 0).await["result"]["structuredContent"]["result"], 2);
    let v = other.call(1, "put", "d", 1).await;
    assert_eq!(v["result"]["content"][0]["text"], "stored", "another scope has its own count: {v}");
}
