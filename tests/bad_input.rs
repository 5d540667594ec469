//! Bad input over real HTTP on loopback (and over the line-delimited in-memory
//! transport): every malformed, mismatched or hostile request gets the status and
//! JSON-RPC error code the spec digest (§3–§5) names, and the server keeps serving.
//!
//! Each test starts its own server with `ferromcp::http::serve_listener` on
//! `127.0.0.1:0` and talks to it with a plain hyper 1 client, or with raw HTTP/1.1 over
//! a `TcpStream` where hyper would refuse to send the request (chunked bodies with
//! lying lengths). Every wait is bounded by a timeout.

use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use ferromcp::http::HttpConfig;
use ferromcp::transport::{LineConfig, serve_io};
use ferromcp::{Context, ResourceTemplateDef, Server, ToolDef};
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::timeout;

const LIMIT: usize = 64 * 1024;
const WAIT: Duration = Duration::from_secs(10);
const MODERN: &str = "2026-07-28";
const LEGACY: &str = "2025-11-25";

#[derive(serde::Deserialize, schemars::JsonSchema)]
struct Add {
    a: i64,
    b: i64,
}

fn server() -> Server {
    Server::builder("t", "1")
        .tool(ToolDef::new("add").handler(|_ctx: Context, a: Add| async move { a.a + a.b }))
        .template(
            ResourceTemplateDef::new("users://{id}/profile", "profile")
                .unwrap()
                .handler(|_ctx: Context, vars| async move { format!("user {}", vars["id"]) }),
        )
        .build()
}

/// Starts a server on an ephemeral loopback port; it stops with the test's runtime.
async fn start() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let cfg = HttpConfig::default().max_body_bytes(LIMIT);
    tokio::spawn(ferromcp::http::serve_listener(server(), listener, cfg));
    addr
}

struct Resp {
    status: u16,
    headers: hyper::HeaderMap,
    body: Bytes,
}

impl Resp {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!("status {}: body is not JSON ({e}): {:?}", self.status, String::from_utf8_lossy(&self.body))
        })
    }

    /// Asserts the status and the JSON-RPC error code; returns the error object.
    fn error(&self, status: u16, code: i64) -> Value {
        let v = self.json();
        assert_eq!(self.status, status, "body: {v}");
        assert_eq!(v["jsonrpc"], "2.0", "body: {v}");
        assert_eq!(v["error"]["code"], code, "body: {v}");
        assert!(v["error"]["message"].as_str().is_some_and(|m| !m.is_empty()), "body: {v}");
        v
    }
}

async fn connect(addr: SocketAddr) -> SendRequest<Full<Bytes>> {
    let tcp = timeout(WAIT, TcpStream::connect(addr)).await.unwrap().unwrap();
    let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tcp)).await.unwrap();
    tokio::spawn(conn);
    sender
}

/// Sends one request on `sender`. Host, Content-Type and Accept default to valid
/// values; a header in `headers` with the same name replaces the default.
async fn send_on(
    sender: &mut SendRequest<Full<Bytes>>,
    addr: SocketAddr,
    method: &str,
    headers: &[(&str, &str)],
    body: impl Into<Bytes>,
) -> Resp {
    let host = addr.to_string();
    let defaults = [
        ("host", host.as_str()),
        ("content-type", "application/json"),
        ("accept", "application/json, text/event-stream"),
    ];
    let mut b = hyper::Request::builder().method(method).uri("/mcp");
    for (k, v) in defaults {
        if !headers.iter().any(|(h, _)| h.eq_ignore_ascii_case(k)) {
            b = b.header(k, v);
        }
    }
    for (k, v) in headers {
        b = b.header(*k, *v);
    }
    let req = b.body(Full::new(body.into())).unwrap();
    timeout(WAIT, sender.ready()).await.expect("connection ready in time").expect("connection still open");
    let resp = timeout(WAIT, sender.send_request(req)).await.expect("answer in time").expect("server answered");
    let (parts, body) = resp.into_parts();
    let body = timeout(WAIT, body.collect()).await.expect("body in time").unwrap().to_bytes();
    Resp { status: parts.status.as_u16(), headers: parts.headers, body }
}

async fn http(addr: SocketAddr, method: &str, headers: &[(&str, &str)], body: impl Into<Bytes>) -> Resp {
    send_on(&mut connect(addr).await, addr, method, headers, body).await
}

async fn post(addr: SocketAddr, headers: &[(&str, &str)], body: impl Into<Bytes>) -> Resp {
    http(addr, "POST", headers, body).await
}

/// A 2026-07-28 request body: `params` plus `_meta` with version and capabilities.
fn modern_body(id: Value, method: &str, mut params: Value) -> String {
    params["_meta"] = json!({
        "io.modelcontextprotocol/protocolVersion": MODERN,
        "io.modelcontextprotocol/clientCapabilities": {},
    });
    json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params}).to_string()
}

/// A correct modern `tools/call add`; asserts 200 and the sum.
async fn assert_still_serves(addr: SocketAddr) {
    let body = modern_body(json!("ok"), "tools/call", json!({"name": "add", "arguments": {"a": 20, "b": 22}}));
    let headers = [("mcp-protocol-version", MODERN), ("mcp-method", "tools/call"), ("mcp-name", "add")];
    let r = post(addr, &headers, body).await;
    assert_eq!(r.status, 200, "{:?}", String::from_utf8_lossy(&r.body));
    let v = r.json();
    assert_eq!(v["id"], "ok");
    assert_eq!(v["result"]["structuredContent"]["result"], 42, "{v}");
    assert_ne!(v["result"]["isError"], true, "{v}");
}

/// Opens a legacy session (initialize + initialized) and returns its id.
async fn legacy_session(addr: SocketAddr) -> String {
    let init = json!({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
        "protocolVersion": LEGACY, "capabilities": {}, "clientInfo": {"name": "c", "version": "1"}}});
    let r = post(addr, &[], init.to_string()).await;
    assert_eq!(r.status, 200, "{:?}", String::from_utf8_lossy(&r.body));
    let sid = r.headers.get("mcp-session-id").expect("a session id").to_str().unwrap().to_owned();
    let note = json!({"jsonrpc": "2.0", "method": "notifications/initialized"}).to_string();
    let r = post(addr, &[("mcp-session-id", &sid), ("mcp-protocol-version", LEGACY)], note).await;
    assert_eq!(r.status, 202);
    sid
}

async fn in_session(addr: SocketAddr, sid: &str, body: impl Into<Bytes>) -> Resp {
    post(addr, &[("mcp-session-id", sid), ("mcp-protocol-version", LEGACY)], body).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_json_is_a_parse_error_and_the_server_keeps_serving() {
    let addr = start().await;
    for body in [&b"{nope"[..], b"{\"jsonrpc\":\"2.0\",\"id\":1,", b"", b"\xff\xfe{}"] {
        let v = post(addr, &[], body.to_vec()).await.error(400, -32700);
        assert_eq!(v["id"], Value::Null);
        assert_still_serves(addr).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_jsonrpc_version_is_an_invalid_request_that_echoes_the_id() {
    let addr = start().await;
    let v = post(addr, &[], r#"{"jsonrpc":"1.0","id":7,"method":"tools/list"}"#).await.error(400, -32600);
    assert_eq!(v["id"], 7);
    let v = post(addr, &[], r#"{"id":"s","method":"tools/list"}"#).await.error(400, -32600);
    assert_eq!(v["id"], "s");
    assert_still_serves(addr).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batches_are_rejected_as_invalid_requests() {
    let addr = start().await;
    let batch = format!("[{}]", modern_body(json!(1), "tools/list", json!({})));
    let v = post(addr, &[], batch).await.error(400, -32600);
    assert_eq!(v["id"], Value::Null);
    post(addr, &[], "[]").await.error(400, -32600);
    assert_still_serves(addr).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_modern_method_is_404_method_not_found_with_the_id() {
    let addr = start().await;
    let headers = [("mcp-protocol-version", MODERN), ("mcp-method", "tools/frobnicate")];
    let v = post(addr, &headers, modern_body(json!(41), "tools/frobnicate", json!({}))).await.error(404, -32601);
    assert_eq!(v["id"], 41);
    // Removed legacy methods are unknown on the modern era too.
    let headers = [("mcp-protocol-version", MODERN), ("mcp-method", "ping")];
    post(addr, &headers, modern_body(json!(42), "ping", json!({}))).await.error(404, -32601);
    assert_still_serves(addr).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_method_in_a_legacy_session_is_method_not_found_with_200() {
    let addr = start().await;
    let sid = legacy_session(addr).await;
    let v = in_session(addr, &sid, r#"{"jsonrpc":"2.0","id":5,"method":"tools/frobnicate"}"#).await.error(200, -32601);
    assert_eq!(v["id"], 5);
    let r = in_session(addr, &sid, r#"{"jsonrpc":"2.0","id":6,"method":"tools/list"}"#).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["result"]["tools"][0]["name"], "add");
    assert_still_serves(addr).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn params_of_the_wrong_type_are_invalid_params() {
    let addr = start().await;
    // `params` must be an object: rejected by the envelope decoder, id echoed.
    let v =
        post(addr, &[], r#"{"jsonrpc":"2.0","id":3,"method":"tools/list","params":[1,2]}"#).await.error(400, -32602);
    assert_eq!(v["id"], 3);
    assert_still_serves(addr).await;
    // A non-string tool name in a legacy session: -32602 on HTTP 200.
    let sid = legacy_session(addr).await;
    let call = r#"{"jsonrpc":"2.0","id":4,"method":"tools/call","params":{"name":5,"arguments":{"a":1,"b":2}}}"#;
    let v = in_session(addr, &sid, call).await.error(200, -32602);
    assert_eq!(v["id"], 4);
    // `arguments` that is not an object: -32602.
    let call = r#"{"jsonrpc":"2.0","id":8,"method":"tools/call","params":{"name":"add","arguments":[1,2]}}"#;
    in_session(addr, &sid, call).await.error(200, -32602);
    assert_still_serves(addr).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tool_arguments_of_the_wrong_type_are_a_tool_execution_error() {
    let addr = start().await;
    let headers = [("mcp-protocol-version", MODERN), ("mcp-method", "tools/call"), ("mcp-name", "add")];
    for args in [json!({"a": "one", "b": 2}), json!({"a": 1}), json!({"a": 1.5, "b": null})] {
        let body = modern_body(json!(9), "tools/call", json!({"name": "add", "arguments": args}));
        let r = post(addr, &headers, body).await;
        assert_eq!(r.status, 200);
        let v = r.json();
        assert_eq!(v["id"], 9);
        assert_eq!(v["result"]["isError"], true, "{v}");
        assert!(v["result"]["content"][0]["text"].as_str().unwrap().contains("add"), "{v}");
        assert_still_serves(addr).await;
    }
    // Same on the legacy era.
    let sid = legacy_session(addr).await;
    let call = r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"add","arguments":{"a":true,"b":2}}}"#;
    let r = in_session(addr, &sid, call).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["result"]["isError"], true);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn modern_request_missing_meta_fields_is_400_invalid_params() {
    let addr = start().await;
    let headers = [("mcp-protocol-version", MODERN), ("mcp-method", "tools/list")];
    let metas = [
        json!({"io.modelcontextprotocol/clientCapabilities": {}}),
        json!({"io.modelcontextprotocol/protocolVersion": MODERN}),
        json!({}),
    ];
    for (i, meta) in metas.into_iter().enumerate() {
        let body = json!({"jsonrpc": "2.0", "id": i, "method": "tools/list", "params": {"_meta": meta}});
        let v = post(addr, &headers, body.to_string()).await.error(400, -32602);
        assert_eq!(v["id"], i);
        assert_still_serves(addr).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn modern_header_mismatch_is_400_header_mismatch() {
    let addr = start().await;
    let call = modern_body(json!(11), "tools/call", json!({"name": "add", "arguments": {"a": 1, "b": 2}}));
    let cases: [&[(&str, &str)]; 6] = [
        &[("mcp-protocol-version", MODERN), ("mcp-method", "tools/list"), ("mcp-name", "add")],
        &[("mcp-protocol-version", MODERN), ("mcp-method", "TOOLS/CALL"), ("mcp-name", "add")],
        &[("mcp-protocol-version", "2026-07-29"), ("mcp-method", "tools/call"), ("mcp-name", "add")],
        &[("mcp-protocol-version", MODERN), ("mcp-method", "tools/call")],
        &[("mcp-protocol-version", MODERN), ("mcp-method", "tools/call"), ("mcp-name", "sub")],
        &[("mcp-method", "tools/call"), ("mcp-name", "add")],
    ];
    for headers in cases {
        let v = post(addr, headers, call.clone()).await.error(400, -32020);
        assert_eq!(v["id"], 11, "{headers:?}");
        assert_still_serves(addr).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unsupported_version_is_400_with_supported_and_requested() {
    let addr = start().await;
    let body = json!({"jsonrpc": "2.0", "id": 12, "method": "tools/list", "params": {"_meta": {
        "io.modelcontextprotocol/protocolVersion": "1999-01-01",
        "io.modelcontextprotocol/clientCapabilities": {}}}});
    let headers = [("mcp-protocol-version", "1999-01-01"), ("mcp-method", "tools/list")];
    let v = post(addr, &headers, body.to_string()).await.error(400, -32022);
    assert_eq!(v["id"], 12);
    assert_eq!(v["error"]["data"]["requested"], "1999-01-01");
    let supported = v["error"]["data"]["supported"].as_array().expect("data.supported is an array");
    assert!(supported.contains(&json!(MODERN)), "{v}");
    assert_still_serves(addr).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_session_id_is_404_on_post_get_and_delete() {
    let addr = start().await;
    let headers = [("mcp-session-id", "nope"), ("mcp-protocol-version", LEGACY)];
    let v = post(addr, &headers, r#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#).await.error(404, -32001);
    assert_eq!(v["id"], 1);
    let get = [("mcp-session-id", "nope"), ("accept", "text/event-stream")];
    http(addr, "GET", &get, "").await.error(404, -32001);
    http(addr, "DELETE", &[("mcp-session-id", "nope")], "").await.error(404, -32001);
    // A session that was deleted is unknown too.
    let sid = legacy_session(addr).await;
    assert_eq!(http(addr, "DELETE", &[("mcp-session-id", &sid)], "").await.status, 200);
    in_session(addr, &sid, r#"{"jsonrpc":"2.0","id":2,"method":"tools/list"}"#).await.error(404, -32001);
    assert_still_serves(addr).await;
}

/// Writes `head` then `body` on a fresh connection (write errors after the head are
/// ignored: the server may answer and close early) and returns the raw answer.
async fn raw(addr: SocketAddr, head: &str, body: &[u8]) -> (u16, Vec<u8>) {
    let mut tcp = timeout(WAIT, TcpStream::connect(addr)).await.unwrap().unwrap();
    tcp.write_all(head.as_bytes()).await.unwrap();
    let _ = timeout(WAIT, tcp.write_all(body)).await;
    let mut out = Vec::new();
    let mut buf = [0u8; 8192];
    // Read until EOF or reset; the answer is complete once the server closes.
    while let Ok(Ok(n @ 1..)) = timeout(WAIT, tcp.read(&mut buf)).await {
        out.extend_from_slice(&buf[..n]);
    }
    let text = String::from_utf8_lossy(&out);
    let status =
        text.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or_else(|| panic!("no status line: {text:?}"));
    let body_at = text.find("\r\n\r\n").map_or(out.len(), |i| i + 4);
    (status, out[body_at..].to_vec())
}

fn chunked(total: usize) -> Vec<u8> {
    let mut out = Vec::new();
    let mut left = total;
    while left > 0 {
        let n = left.min(8192);
        out.extend_from_slice(format!("{n:x}\r\n").as_bytes());
        out.extend(std::iter::repeat_n(b' ', n));
        out.extend_from_slice(b"\r\n");
        left -= n;
    }
    out.extend_from_slice(b"0\r\n\r\n");
    out
}

fn assert_json_error(body: &[u8], code: i64) {
    let v: Value = serde_json::from_slice(body).unwrap_or_else(|e| panic!("{e}: {:?}", String::from_utf8_lossy(body)));
    assert_eq!(v["error"]["code"], code, "{v}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_bodies_are_413_with_a_json_rpc_error() {
    let addr = start().await;
    let head = |extra: &str| {
        format!(
            "POST /mcp HTTP/1.1\r\nhost: {addr}\r\ncontent-type: application/json\r\n\
             accept: application/json, text/event-stream\r\nconnection: close\r\n{extra}\r\n"
        )
    };
    // An honest Content-Length over the limit: refused before the body is read.
    let (status, body) = raw(addr, &head(&format!("content-length: {}\r\n", LIMIT + 1)), b"").await;
    assert_eq!(status, 413);
    assert_json_error(&body, -32600);
    assert_still_serves(addr).await;
    // A body just over the limit, sent in full by hyper (it sets an honest Content-Length).
    let big = format!("{{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/list\",\"pad\":\"{}\"}}", "x".repeat(LIMIT));
    post(addr, &[], big).await.error(413, -32600);
    assert_still_serves(addr).await;
    // No Content-Length, chunked, over the limit.
    let (status, body) = raw(addr, &head("transfer-encoding: chunked\r\n"), &chunked(LIMIT + 4096)).await;
    assert_eq!(status, 413);
    assert_json_error(&body, -32600);
    assert_still_serves(addr).await;
    // A lying (small) Content-Length next to a chunked oversized body.
    let (status, body) =
        raw(addr, &head("content-length: 10\r\ntransfer-encoding: chunked\r\n"), &chunked(LIMIT * 2)).await;
    assert_eq!(status, 413);
    assert_json_error(&body, -32600);
    assert_still_serves(addr).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn legacy_request_before_initialize_and_a_second_initialize_are_rejected() {
    let addr = start().await;
    let v = post(addr, &[], r#"{"jsonrpc":"2.0","id":21,"method":"tools/list"}"#).await.error(400, -32600);
    assert_eq!(v["id"], 21);
    let sid = legacy_session(addr).await;
    let again = json!({"jsonrpc": "2.0", "id": 22, "method": "initialize", "params": {
        "protocolVersion": LEGACY, "capabilities": {}, "clientInfo": {"name": "c", "version": "1"}}});
    let r = in_session(addr, &sid, again.to_string()).await;
    assert!(r.headers.get("mcp-session-id").is_none());
    // A JSON-RPC error inside an accepted legacy exchange is HTTP 200.
    let v = r.error(200, -32600);
    assert_eq!(v["id"], 22);
    // The session is untouched.
    let r = in_session(addr, &sid, r#"{"jsonrpc":"2.0","id":23,"method":"tools/list"}"#).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["id"], 23);
    assert_still_serves(addr).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_content_type_is_415_and_unacceptable_accept_is_406() {
    let addr = start().await;
    let body = modern_body(json!(1), "tools/list", json!({}));
    let modern = [("mcp-protocol-version", MODERN), ("mcp-method", "tools/list")];
    let mut h = modern.to_vec();
    h.push(("content-type", "text/plain"));
    post(addr, &h, body.clone()).await.error(415, -32600);
    assert_still_serves(addr).await;
    let mut h = modern.to_vec();
    h.push(("accept", "text/html, image/*"));
    post(addr, &h, body).await.error(406, -32600);
    assert_still_serves(addr).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn foreign_host_or_origin_is_403() {
    let addr = start().await;
    let body = modern_body(json!(1), "tools/list", json!({}));
    let modern = [("mcp-protocol-version", MODERN), ("mcp-method", "tools/list")];
    for extra in [("host", "evil.example.com"), ("origin", "http://evil.example.com")] {
        let mut h = modern.to_vec();
        h.push(extra);
        post(addr, &h, body.clone()).await.error(403, -32600);
        http(addr, "GET", &[extra, ("mcp-session-id", "x")], "").await.error(403, -32600);
        http(addr, "DELETE", &[extra, ("mcp-session-id", "x")], "").await.error(403, -32600);
        assert_still_serves(addr).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn get_and_delete_without_a_session_are_405() {
    let addr = start().await;
    let r = http(addr, "GET", &[("accept", "text/event-stream")], "").await;
    assert_eq!(r.headers.get("allow").map(|v| v.as_bytes()), Some(&b"POST"[..]));
    r.error(405, -32601);
    http(addr, "DELETE", &[], "").await.error(405, -32601);
    assert_still_serves(addr).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_response_nobody_asked_for_is_accepted_and_ignored() {
    let addr = start().await;
    let sid = legacy_session(addr).await;
    for body in
        [r#"{"jsonrpc":"2.0","id":99,"result":{}}"#, r#"{"jsonrpc":"2.0","id":"x","error":{"code":-1,"message":"m"}}"#]
    {
        let r = in_session(addr, &sid, body).await;
        assert_eq!(r.status, 202);
        assert!(r.body.is_empty());
    }
    let r = in_session(addr, &sid, r#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#).await;
    assert_eq!(r.status, 200);
    // Without a session a response has nobody to go to.
    post(addr, &[], r#"{"jsonrpc":"2.0","id":99,"result":{}}"#).await.error(400, -32600);
    assert_still_serves(addr).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_uri_against_a_resource_template_is_answered_quickly() {
    let addr = start().await;
    let sid = legacy_session(addr).await;
    let r = in_session(
        addr,
        &sid,
        r#"{"jsonrpc":"2.0","id":1,"method":"resources/read","params":{"uri":"users://7/profile"}}"#,
    )
    .await;
    assert_eq!(r.json()["result"]["contents"][0]["text"], "user 7");
    let miss = |n: usize| {
        let uri = format!("users://{}/nope", "a".repeat(n));
        json!({"jsonrpc": "2.0", "id": n, "method": "resources/read", "params": {"uri": uri}}).to_string()
    };
    in_session(addr, &sid, miss(10)).await.error(200, -32002);
    let answer = timeout(Duration::from_secs(2), in_session(addr, &sid, miss(60_000))).await;
    answer.expect("a 60 KB URI matched against one template within 2 s").error(200, -32002);
}

/// xorshift64*: deterministic bytes without a rand dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// Random bodies of four kinds: raw bytes, JSON-ish characters, valid requests with
/// flipped bytes, and valid requests cut short.
fn random_body(rng: &mut Rng, i: usize) -> Vec<u8> {
    const JSONISH: &[u8] = b"{}[]\":,0123456789-.eE truefalsnul\\\"jsonrpcidmethodparams_meta";
    let seeds = [
        modern_body(json!(i), "tools/call", json!({"name": "add", "arguments": {"a": 1, "b": 2}})),
        json!({"jsonrpc": "2.0", "id": i, "method": "tools/list"}).to_string(),
        json!({"jsonrpc": "2.0", "method": "notifications/cancelled", "params": {"requestId": 1}}).to_string(),
        json!({"jsonrpc": "2.0", "id": i, "result": {}}).to_string(),
    ];
    match i % 4 {
        0 => (0..rng.below(512)).map(|_| rng.next() as u8).collect(),
        1 => (0..rng.below(256)).map(|_| JSONISH[rng.below(JSONISH.len())]).collect(),
        2 => {
            let mut b = seeds[rng.below(seeds.len())].clone().into_bytes();
            for _ in 0..=rng.below(4) {
                let at = rng.below(b.len());
                b[at] = rng.next() as u8;
            }
            b
        }
        _ => {
            let b = seeds[rng.below(seeds.len())].clone().into_bytes();
            b[..rng.below(b.len())].to_vec()
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn random_bodies_get_4xx_json_or_2xx_on_one_kept_alive_connection() {
    let addr = start().await;
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let mut sender = connect(addr).await;
    let mut statuses = std::collections::BTreeMap::<u16, usize>::new();
    for i in 0..200 {
        let body = random_body(&mut rng, i);
        let r = send_on(&mut sender, addr, "POST", &[], body.clone()).await;
        *statuses.entry(r.status).or_default() += 1;
        let shown = String::from_utf8_lossy(&body);
        match r.status {
            200..=299 => {
                if !r.body.is_empty() {
                    r.json();
                }
            }
            400..=499 => {
                let v = r.json();
                assert!(v["error"]["code"].is_i64(), "body #{i} {shown:?} → {v}");
            }
            s => panic!("body #{i} {shown:?} → status {s}: {:?}", String::from_utf8_lossy(&r.body)),
        }
    }
    assert!(statuses.keys().any(|s| *s >= 400), "{statuses:?}");
    // The same connection and a new one both still work.
    let body = modern_body(json!("same"), "tools/list", json!({}));
    let r = send_on(&mut sender, addr, "POST", &[("mcp-protocol-version", MODERN), ("mcp-method", "tools/list")], body)
        .await;
    assert_eq!(r.status, 200);
    assert_still_serves(addr).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn line_transport_answers_bad_lines_and_keeps_serving() {
    let (client, server_end) = tokio::io::duplex(64 * 1024);
    let (sr, sw) = tokio::io::split(server_end);
    let cfg = LineConfig::default().max_line_bytes(1024);
    let serving = tokio::spawn(serve_io(server(), sr, sw, cfg));
    let (cr, mut cw) = tokio::io::split(client);
    let mut lines = BufReader::new(cr).lines();
    let mut exchange = async |line: &str| -> Value {
        cw.write_all(line.as_bytes()).await.unwrap();
        cw.write_all(b"\n").await.unwrap();
        let answer = timeout(WAIT, lines.next_line()).await.expect("answer in time").unwrap().expect("a line");
        serde_json::from_str(&answer).unwrap()
    };
    let v = exchange("{nope").await;
    assert_eq!((v["id"].clone(), v["error"]["code"].clone()), (Value::Null, json!(-32700)));
    let long = format!("{{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\",\"pad\":\"{}\"}}", "x".repeat(2000));
    let v = exchange(&long).await;
    assert_eq!((v["id"].clone(), v["error"]["code"].clone()), (Value::Null, json!(-32600)));
    let v = exchange(&modern_body(json!(2), "tools/frobnicate", json!({}))).await;
    assert_eq!((v["id"].clone(), v["error"]["code"].clone()), (json!(2), json!(-32601)));
    let v = exchange(r#"{"jsonrpc":"2.0","id":3,"method":"tools/list"}"#).await;
    assert_eq!((v["id"].clone(), v["error"]["code"].clone()), (json!(3), json!(-32600)), "not initialized yet");
    let init = json!({"jsonrpc": "2.0", "id": 4, "method": "initialize", "params": {
        "protocolVersion": LEGACY, "capabilities": {}, "clientInfo": {"name": "c", "version": "1"}}});
    let v = exchange(&init.to_string()).await;
    assert_eq!(v["result"]["protocolVersion"], LEGACY, "{v}");
    let v = exchange(r#"{"jsonrpc":"2.0","id":5,"method":"tools/frobnicate"}"#).await;
    assert_eq!((v["id"].clone(), v["error"]["code"].clone()), (json!(5), json!(-32601)));
    let v = exchange(
        r#"{"jsonrpc":"2.0","id":6,"method":"tools/call","params":{"name":"add","arguments":{"a":2,"b":"x"}}}"#,
    )
    .await;
    assert_eq!(v["result"]["isError"], true, "{v}");
    let v =
        exchange(r#"{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"add","arguments":{"a":2,"b":3}}}"#)
            .await;
    assert_eq!(v["id"], 7);
    assert_eq!(v["result"]["structuredContent"]["result"], 5, "{v}");
    cw.shutdown().await.unwrap();
    timeout(WAIT, serving).await.expect("serve_io ends on EOF").unwrap().unwrap();
}
