//! `router()` nested inside a user's axum app, as the crate docs show: the app's own
//! routes keep working next to MCP, and idle legacy sessions expire there as they do
//! under `serve()` (the router runs the idle reaper). Loopback only; every wait bounded.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use bytes::Bytes;
use ferromcp::http::{HttpConfig, router};
use ferromcp::session::SessionLimits;
use ferromcp::{Context, NoArgs, Server, ToolDef};
use http_body_util::{BodyExt, Full};
use hyper::Request;
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};

const WAIT: Duration = Duration::from_secs(10);

/// One request on a fresh connection: (status, session id header, body).
async fn call(
    addr: std::net::SocketAddr,
    method: &str,
    path: &str,
    session: Option<&str>,
    body: Option<Value>,
) -> (u16, Option<String>, String) {
    let tcp = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let (mut send, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tcp)).await.expect("handshake");
    tokio::spawn(conn);
    let mut req = Request::builder()
        .method(method)
        .uri(path)
        .header("host", "127.0.0.1")
        .header("accept", "application/json, text/event-stream")
        .header("content-type", "application/json");
    if let Some(id) = session {
        req = req.header("mcp-session-id", id);
    }
    let body = body.map(|b| Bytes::from(b.to_string())).unwrap_or_default();
    let resp = tokio::time::timeout(WAIT, send.send_request(req.body(Full::new(body)).unwrap()))
        .await
        .expect("answered in time")
        .expect("response");
    let status = resp.status().as_u16();
    let sid = resp.headers().get("mcp-session-id").and_then(|v| v.to_str().ok()).map(str::to_owned);
    let bytes = tokio::time::timeout(WAIT, resp.into_body().collect()).await.expect("body in time").expect("body");
    (status, sid, String::from_utf8_lossy(&bytes.to_bytes()).into_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_nested_router_serves_next_to_other_routes_and_expires_idle_sessions() {
    let expired = Arc::new(AtomicUsize::new(0));
    let seen = expired.clone();
    let server = Server::builder("nested", "1")
        .tool(ToolDef::new("ping").handler(|_ctx: Context, _: NoArgs| async { "pong" }))
        .session_limits(SessionLimits::default().idle_timeout(Some(Duration::from_millis(300))))
        .on_session_expired(move |_| {
            seen.fetch_add(1, Ordering::SeqCst);
        })
        .build();
    let app = axum::Router::new()
        .route("/health", axum::routing::get(|| async { "ok" }))
        .nest("/api", router(server.clone(), HttpConfig::default()))
        .route("/version", axum::routing::get(|| async { "1.2.3" }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let serving = tokio::spawn(async move { axum::serve(listener, app).await });

    // The app's own routes.
    assert_eq!(call(addr, "GET", "/health", None, None).await, (200, None, "ok".into()));
    assert_eq!(call(addr, "GET", "/version", None, None).await.2, "1.2.3");

    // MCP under the nesting prefix: a legacy session, used once.
    let init = json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}});
    let (status, sid, body) = call(addr, "POST", "/api/mcp", None, Some(init)).await;
    assert_eq!(status, 200, "{body}");
    let sid = sid.expect("a legacy session id");
    let ping = json!({"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {"name": "ping", "arguments": {}}});
    let (status, _, body) = call(addr, "POST", "/api/mcp", Some(&sid), Some(ping.clone())).await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("pong"), "{body}");
    assert_eq!(server.sessions().metrics().open, 1);

    // Idle past the timeout: the router's reaper expires it (bounded wait).
    let mut waited = Duration::ZERO;
    while server.sessions().metrics().open > 0 {
        assert!(waited < WAIT, "the idle session was not reaped within {WAIT:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
        waited += Duration::from_millis(50);
    }
    assert_eq!(server.sessions().metrics().expired, 1);
    assert_eq!(expired.load(Ordering::SeqCst), 1, "on_session_expired ran once");
    let (status, _, body) = call(addr, "POST", "/api/mcp", Some(&sid), Some(ping)).await;
    assert_eq!(status, 404, "an expired session is gone: {body}");
    // The other routes are untouched by all this.
    assert_eq!(call(addr, "GET", "/health", None, None).await.0, 200);
    serving.abort();
}
