//! `ClientEra::Auto` over HTTP against a 2025-11-25-only server (a small mock): the
//! `server/discover` probe fails, the client falls back to `initialize`, and nothing of
//! the probe (its `MCP-Protocol-Version: 2026-07-28`) leaks into the legacy session.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use ferromcp_client::{Client, ClientEra, ClientOptions};
use serde_json::{Value, json};
use tokio::time::timeout;

const WAIT: Duration = Duration::from_secs(30);

/// (method, MCP-Protocol-Version header, Mcp-Session-Id header) of every POST.
type Log = Arc<Mutex<Vec<(String, Option<String>, Option<String>)>>>;

fn header(h: &HeaderMap, name: &str) -> Option<String> {
    h.get(name).and_then(|v| v.to_str().ok()).map(str::to_owned)
}

fn json_response(status: StatusCode, body: Value, session: bool) -> Response {
    let mut r = (
        status,
        [("content-type", "application/json")],
        body.to_string(),
    )
        .into_response();
    if session && let Ok(v) = "legacy-session-1".parse() {
        r.headers_mut().insert("mcp-session-id", v);
    }
    r
}

async fn legacy_only(log: Log, method: Method, headers: HeaderMap, body: Bytes) -> Response {
    if method != Method::POST {
        return StatusCode::METHOD_NOT_ALLOWED.into_response();
    }
    let msg: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let rpc = msg["method"].as_str().unwrap_or_default().to_owned();
    log.lock().expect("lock").push((
        rpc.clone(),
        header(&headers, "mcp-protocol-version"),
        header(&headers, "mcp-session-id"),
    ));
    let id = msg["id"].clone();
    match rpc.as_str() {
        "initialize" => json_response(
            StatusCode::OK,
            json!({"jsonrpc": "2.0", "id": id, "result": {
                "protocolVersion": "2025-11-25",
                "capabilities": {"tools": {}},
                "serverInfo": {"name": "old-server", "version": "1"}}}),
            true,
        ),
        "tools/list" => json_response(
            StatusCode::OK,
            json!({"jsonrpc": "2.0", "id": id, "result": {"tools": []}}),
            false,
        ),
        _ if id.is_null() => StatusCode::ACCEPTED.into_response(),
        other => json_response(
            StatusCode::BAD_REQUEST,
            json!({"jsonrpc": "2.0", "id": id, "error": {"code": -32601, "message": format!("Method not found: {other}")}}),
            false,
        ),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auto_falls_back_to_initialize_on_a_legacy_only_server() {
    let log: Log = Arc::new(Mutex::new(Vec::new()));
    let l = log.clone();
    let app = axum::Router::new().route(
        "/mcp",
        axum::routing::any(move |m: Method, h: HeaderMap, b: Bytes| {
            legacy_only(l.clone(), m, h, b)
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let server = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    let url = format!("http://{addr}/mcp");
    let client = timeout(WAIT, Client::connect_http(&url, ClientOptions::default()))
        .await
        .expect("in time")
        .expect("connect");
    assert_eq!(client.era(), ClientEra::Legacy);
    assert_eq!(client.server_info().name, "old-server");
    assert!(client.list_tools().await.expect("tools/list").is_empty());
    client.close().await;
    let seen = log.lock().expect("lock").clone();
    let methods: Vec<&str> = seen.iter().map(|(m, _, _)| m.as_str()).collect();
    assert_eq!(
        methods,
        [
            "server/discover",
            "initialize",
            "notifications/initialized",
            "tools/list"
        ]
    );
    assert_eq!(
        seen[0].1.as_deref(),
        Some("2026-07-28"),
        "the probe names the modern version"
    );
    assert_eq!(
        seen[1].1, None,
        "initialize carries no version header: {seen:?}"
    );
    assert_eq!(seen[1].2, None, "initialize carries no session: {seen:?}");
    for (m, version, session) in &seen[2..] {
        assert_eq!(version.as_deref(), Some("2025-11-25"), "{m}");
        assert_eq!(session.as_deref(), Some("legacy-session-1"), "{m}");
    }
    server.abort();
}

/// A 2026-07-28 mock whose first `tools/call` answer stream ends before the answer.
async fn breaks_once(calls: Arc<Mutex<Vec<Value>>>, body: Bytes) -> Response {
    let msg: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let id = msg["id"].clone();
    match msg["method"].as_str().unwrap_or_default() {
        "server/discover" => json_response(
            StatusCode::OK,
            json!({"jsonrpc": "2.0", "id": id, "result": {"resultType": "complete",
                "supportedVersions": ["2026-07-28"], "capabilities": {"tools": {}}}}),
            false,
        ),
        "tools/call" => {
            let first = {
                let mut c = calls.lock().expect("lock");
                c.push(id.clone());
                c.len() == 1
            };
            if first {
                let note = json!({"jsonrpc": "2.0", "method": "notifications/message",
                    "params": {"level": "info", "data": "working"}});
                let sse = format!("data: {note}\n\n");
                return ([("content-type", "text/event-stream")], sse).into_response();
            }
            json_response(
                StatusCode::OK,
                json!({"jsonrpc": "2.0", "id": id, "result": {"resultType": "complete",
                    "content": [{"type": "text", "text": "done"}]}}),
                false,
            )
        }
        _ => StatusCode::ACCEPTED.into_response(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_modern_request_whose_stream_broke_is_sent_again_once() {
    for reissue in [true, false] {
        let calls = Arc::new(Mutex::new(Vec::new()));
        let c = calls.clone();
        let app = axum::Router::new().route(
            "/mcp",
            axum::routing::post(move |b: Bytes| breaks_once(c.clone(), b)),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        let mut opts = ClientOptions::modern();
        opts.http.reissue_broken_requests = reissue;
        let client = timeout(
            WAIT,
            Client::connect_http(&format!("http://{addr}/mcp"), opts),
        )
        .await
        .expect("in time")
        .expect("connect");
        let out = timeout(WAIT, client.call_tool("t", json!({})))
            .await
            .expect("in time");
        let ids = calls.lock().expect("lock").clone();
        if reissue {
            assert_eq!(out.expect("re-sent").text(), "done");
            assert_eq!(ids.len(), 2, "{ids:?}");
            assert_ne!(ids[0], ids[1], "a new JSON-RPC id");
        } else {
            let err = out.expect_err("stream broke");
            assert!(
                matches!(err, ferromcp_client::ClientError::StreamEnded { .. }),
                "{err}"
            );
            assert_eq!(ids.len(), 1);
        }
        client.close().await;
        server.abort();
    }
}
