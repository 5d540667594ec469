//! Bounds on what one client can make the HTTP transport hold, over real HTTP on
//! loopback (every wait and loop is bounded):
//! - HTTP+SSE: a client that never reads its `GET /sse` stream and keeps POSTing gets 503
//!   with `Retry-After` once the session's queues are full, within the bounded wait, while
//!   another client is served normally; when the stream closes the session is gone (404)
//!   and everything its requests held is released.
//! - HTTP+SSE: closing the stream drops the session's pending asks at once.
//! - Streamable HTTP without an event store: a client that drops a call's SSE stream
//!   during an elicitation makes the ask fail at once, not after the ask timeout; with an
//!   event store the ask keeps waiting (the client may resume).
//! - Open streams: one standalone GET stream per session (409), and a total cap (503).

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use ferromcp_core::{Context, NoArgs, Server, ToolDef};
use ferromcp_http::HttpConfig;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::sync::Mutex;
use tokio::time::timeout;

const WAIT: Duration = Duration::from_secs(10);
const LEGACY: &str = "2025-11-25";

/// Live `chatty` handlers (each holds one until it returns or is dropped).
static LIVE: AtomicUsize = AtomicUsize::new(0);

struct Live;
impl Live {
    fn new() -> Live {
        LIVE.fetch_add(1, Ordering::SeqCst);
        Live
    }
}
impl Drop for Live {
    fn drop(&mut self) {
        LIVE.fetch_sub(1, Ordering::SeqCst);
    }
}

/// What the `ask` tool saw: its ask's outcome and how long it waited.
type Seen = Arc<Mutex<Vec<(String, Duration)>>>;

fn server(seen: Seen) -> Server {
    Server::builder("backpressure", "1")
        .ask_timeout(Duration::from_secs(120))
        .tool(ToolDef::new("chatty").handler(|ctx: Context, _: NoArgs| async move {
            let _live = Live::new();
            ctx.info("working").await;
            "x".repeat(48 * 1024)
        }))
        .tool(ToolDef::new("ask").handler(move |ctx: Context, _: NoArgs| {
            let seen = seen.clone();
            async move {
                let started = Instant::now();
                let r = ctx.elicit_schema("Name?", json!({"type": "object", "properties": {}})).await;
                let outcome = match r {
                    Ok(r) => format!("answered {}", serde_json::to_value(r.action).unwrap()),
                    Err(e) => format!("error: {e}"),
                };
                seen.lock().await.push((outcome.clone(), started.elapsed()));
                outcome
            }
        }))
        .build()
}

async fn start(server: Server, cfg: HttpConfig) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(ferromcp_http::serve_listener(server, listener, cfg));
    addr
}

/// An answer with its body not read yet (the connection lives as long as it).
struct Resp {
    status: u16,
    headers: hyper::HeaderMap,
    body: Incoming,
    _conn: tokio::task::JoinHandle<()>,
}

impl Resp {
    async fn text(self) -> String {
        let b = timeout(WAIT, self.body.collect()).await.expect("body in time").expect("body").to_bytes();
        String::from_utf8_lossy(&b).into_owned()
    }
}

/// One request on a new connection; `headers` come after Host, Accept and Content-Type.
async fn send(addr: SocketAddr, method: &str, path: &str, headers: &[(&str, &str)], body: &str) -> Resp {
    let tcp = timeout(WAIT, TcpStream::connect(addr)).await.expect("connect in time").unwrap();
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tcp)).await.unwrap();
    let conn = tokio::spawn(async move {
        let _ = conn.await;
    });
    let mut req = hyper::Request::builder()
        .method(method)
        .uri(path)
        .header("host", addr.to_string())
        .header("accept", "application/json, text/event-stream");
    if method == "POST" {
        req = req.header("content-type", "application/json");
    }
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let req = req.body(Full::new(Bytes::from(body.to_owned()))).unwrap();
    let resp = timeout(WAIT, sender.send_request(req)).await.expect("an answer in time").unwrap();
    let (parts, body) = resp.into_parts();
    Resp { status: parts.status.as_u16(), headers: parts.headers, body, _conn: conn }
}

/// Reads SSE `data` payloads off a body.
struct Sse {
    resp: Resp,
    buf: Vec<u8>,
}

impl Sse {
    fn of(resp: Resp) -> Sse {
        assert_eq!(resp.status, 200);
        assert_eq!(resp.headers["content-type"], "text/event-stream");
        Sse { resp, buf: Vec::new() }
    }

    async fn data(&mut self) -> String {
        loop {
            if let Some(end) = self.buf.windows(2).position(|w| w == b"\n\n") {
                let block = String::from_utf8(self.buf.drain(..end + 2).collect()).unwrap();
                if let Some(d) = block.lines().find_map(|l| l.strip_prefix("data:")) {
                    return d.trim_start().to_owned();
                }
                continue;
            }
            let frame = timeout(WAIT, self.resp.body.frame()).await.expect("an SSE event in time");
            if let Ok(d) = frame.expect("the stream ended").expect("body error").into_data() {
                self.buf.extend_from_slice(&d);
            }
        }
    }

    async fn json(&mut self) -> Value {
        loop {
            let d = self.data().await;
            if !d.is_empty() {
                return serde_json::from_str(&d).unwrap();
            }
        }
    }
}

fn initialize(id: u64, version: &str) -> String {
    json!({"jsonrpc": "2.0", "id": id, "method": "initialize", "params": {
        "protocolVersion": version, "capabilities": {"elicitation": {}},
        "clientInfo": {"name": "backpressure-test", "version": "1"}}})
    .to_string()
}

fn call(id: u64, tool: &str) -> String {
    json!({"jsonrpc": "2.0", "id": id, "method": "tools/call", "params": {"name": tool, "arguments": {}}}).to_string()
}

const INITIALIZED: &str = r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#;

/// An HTTP+SSE session whose stream is read: its message endpoint and the stream.
async fn sse_session(addr: SocketAddr) -> (String, Sse) {
    let mut sse = Sse::of(send(addr, "GET", "/sse", &[("accept", "text/event-stream")], "").await);
    let endpoint = sse.data().await;
    assert_eq!(send(addr, "POST", &endpoint, &[], &initialize(0, "2024-11-05")).await.status, 202);
    assert_eq!(sse.json().await["id"], 0);
    assert_eq!(send(addr, "POST", &endpoint, &[], INITIALIZED).await.status, 202);
    (endpoint, sse)
}

/// An HTTP+SSE stream opened on a socket with a small receive buffer that is never read
/// after the endpoint event: its session's answers pile up on the server.
async fn unread_sse_session(addr: SocketAddr) -> (String, TcpStream) {
    let socket = TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let mut tcp = timeout(WAIT, socket.connect(addr)).await.expect("connect in time").unwrap();
    let get = format!("GET /sse HTTP/1.1\r\nhost: {addr}\r\naccept: text/event-stream\r\n\r\n");
    tcp.write_all(get.as_bytes()).await.unwrap();
    let mut head = Vec::new();
    let endpoint = timeout(WAIT, async {
        loop {
            let mut b = [0u8; 512];
            let n = tcp.read(&mut b).await.unwrap();
            assert!(n > 0, "the stream closed before its endpoint event");
            head.extend_from_slice(&b[..n]);
            let text = String::from_utf8_lossy(&head);
            if let Some(rest) = text.split("event: endpoint\ndata: ").nth(1)
                && let Some(end) = rest.find('\n')
            {
                break rest[..end].to_owned();
            }
        }
    })
    .await
    .expect("the endpoint event in time");
    assert!(String::from_utf8_lossy(&head).starts_with("HTTP/1.1 200"));
    assert_eq!(send(addr, "POST", &endpoint, &[], &initialize(0, "2024-11-05")).await.status, 202);
    assert_eq!(send(addr, "POST", &endpoint, &[], INITIALIZED).await.status, 202);
    (endpoint, tcp)
}

async fn wait_for(what: &str, cond: impl Fn() -> bool) {
    let ok = timeout(WAIT, async {
        while !cond() {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    assert!(ok.is_ok(), "timed out waiting for: {what}");
}

#[tokio::test]
async fn an_unread_sse_stream_gets_503_within_the_bounded_wait_and_closing_it_frees_everything() {
    let server = server(Seen::default());
    let wait = Duration::from_millis(300);
    let cfg = HttpConfig::default().legacy_sse(true).sse_max_in_flight(4).sse_backpressure_wait(wait);
    let addr = start(server.clone(), cfg).await;
    let (endpoint, unread) = unread_sse_session(addr).await;
    let id = endpoint.split("session_id=").nth(1).unwrap().to_owned();
    let (good_endpoint, mut good) = sse_session(addr).await;

    // Each answer is ~48 KiB: the socket buffers and the session's queues fill quickly.
    let mut accepted = 0;
    let refused = loop {
        assert!(accepted < 2_000, "2000 POSTs accepted on a stream nobody reads");
        let started = Instant::now();
        let r = send(addr, "POST", &endpoint, &[], &call(accepted + 1, "chatty")).await;
        if r.status == 202 {
            accepted += 1;
            continue;
        }
        break (r, started.elapsed());
    };
    let (r, took) = refused;
    let (status, retry_after) = (r.status, r.headers.get("retry-after").cloned());
    let body = r.text().await;
    assert_eq!(status, 503, "{body}");
    eprintln!("{accepted} POSTs accepted on the unread stream, then 503 after {took:?}");
    assert!(took >= wait && took < wait + Duration::from_secs(2), "refused after {took:?}");
    assert_eq!(retry_after.unwrap(), "1");
    assert!(body.contains("not being read") && body.contains("sse_max_in_flight"), "{body}");
    assert!(LIVE.load(Ordering::SeqCst) <= 4, "at most sse_max_in_flight requests run");

    // Meanwhile another client is served promptly.
    let started = Instant::now();
    let ping = json!({"jsonrpc": "2.0", "id": 7, "method": "ping"}).to_string();
    assert_eq!(send(addr, "POST", &good_endpoint, &[], &ping).await.status, 202);
    assert_eq!(good.json().await["id"], 7);
    assert!(started.elapsed() < Duration::from_secs(1), "ping took {:?}", started.elapsed());

    // The stream closes: the session is gone and what its requests held is released.
    drop(unread);
    wait_for("the session to end", || server.sessions().get(&id).is_none()).await;
    assert_eq!(send(addr, "POST", &endpoint, &[], &call(9_999, "chatty")).await.status, 404);
    wait_for("the blocked handlers to be released", || LIVE.load(Ordering::SeqCst) == 0).await;
    assert_eq!(server.sessions().metrics().open, 1, "only the reading client's session is left");
    assert_eq!(send(addr, "POST", &good_endpoint, &[], &ping).await.status, 202);
    assert_eq!(good.json().await["id"], 7);
}

#[tokio::test]
async fn too_many_requests_in_flight_on_a_read_stream_get_429() {
    let server = Server::builder("slow", "1")
        .tool(ToolDef::new("slow").handler(|_ctx: Context, _: NoArgs| async move {
            tokio::time::sleep(Duration::from_secs(3)).await;
            "slow"
        }))
        .build();
    let cfg =
        HttpConfig::default().legacy_sse(true).sse_max_in_flight(2).sse_backpressure_wait(Duration::from_millis(100));
    let addr = start(server, cfg).await;
    let (endpoint, _sse) = sse_session(addr).await;
    for i in 1..=2 {
        assert_eq!(send(addr, "POST", &endpoint, &[], &call(i, "slow")).await.status, 202);
    }
    let r = send(addr, "POST", &endpoint, &[], &call(3, "slow")).await;
    assert_eq!((r.status, r.headers["retry-after"].to_str().unwrap()), (429, "1"));
    let body = r.text().await;
    assert!(body.contains("2 requests of this session are in flight"), "{body}");
}

#[tokio::test]
async fn closing_an_sse_stream_drops_its_pending_asks_at_once() {
    let server = server(Seen::default());
    let addr = start(server.clone(), HttpConfig::default().legacy_sse(true)).await;
    let (endpoint, mut sse) = sse_session(addr).await;
    assert_eq!(send(addr, "POST", &endpoint, &[], &call(1, "ask")).await.status, 202);
    assert_eq!(sse.json().await["method"], "elicitation/create");
    assert_eq!(server.pending_asks(), 1);
    let started = Instant::now();
    drop(sse);
    wait_for("the pending ask to be dropped", || server.pending_asks() == 0).await;
    assert!(started.elapsed() < Duration::from_secs(2), "dropped after {:?}", started.elapsed());
    assert_eq!(server.sessions().metrics().open, 0);
}

/// Starts a legacy Streamable HTTP session and a call of `ask` whose SSE answer carries
/// the elicitation; returns the call's stream after that event.
async fn ask_over_streamable_http(addr: SocketAddr) -> Sse {
    let r = send(addr, "POST", "/mcp", &[], &initialize(0, LEGACY)).await;
    assert_eq!(r.status, 200);
    let sid = r.headers["mcp-session-id"].to_str().unwrap().to_owned();
    let _ = r.text().await;
    let h = [("mcp-session-id", sid.as_str()), ("mcp-protocol-version", LEGACY)];
    assert_eq!(send(addr, "POST", "/mcp", &h, INITIALIZED).await.status, 202);
    let mut sse = Sse::of(send(addr, "POST", "/mcp", &h, &call(1, "ask")).await);
    assert_eq!(sse.json().await["method"], "elicitation/create");
    sse
}

#[tokio::test]
async fn without_an_event_store_a_dropped_call_stream_fails_its_ask_at_once() {
    let seen = Seen::default();
    let server = server(seen.clone());
    let addr = start(server.clone(), HttpConfig::default().without_event_store()).await;
    let sse = ask_over_streamable_http(addr).await;
    assert_eq!(server.pending_asks(), 1);
    drop(sse);
    wait_for("the ask to fail", || server.pending_asks() == 0).await;
    let seen = timeout(WAIT, async {
        loop {
            if let Some(s) = seen.lock().await.first().cloned() {
                break s;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("the tool saw its ask end");
    assert!(seen.0.contains("the client's stream closed before it answered"), "{seen:?}");
    assert!(seen.1 < Duration::from_secs(3), "the ask failed only after {:?} (ask timeout 120 s)", seen.1);
}

#[tokio::test]
async fn with_an_event_store_a_dropped_call_stream_keeps_its_ask_for_a_resume() {
    let seen = Seen::default();
    let server = server(seen.clone());
    let addr = start(server.clone(), HttpConfig::default()).await;
    let sse = ask_over_streamable_http(addr).await;
    drop(sse);
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(server.pending_asks(), 1, "the client may resume and answer");
    assert!(seen.lock().await.is_empty());
}

#[tokio::test]
async fn one_standalone_stream_per_session_and_a_total_stream_cap() {
    let server = server(Seen::default());
    let addr = start(server, HttpConfig::default().legacy_sse(true).max_open_streams(2)).await;
    let r = send(addr, "POST", "/mcp", &[], &initialize(0, LEGACY)).await;
    let sid = r.headers["mcp-session-id"].to_str().unwrap().to_owned();
    let _ = r.text().await;
    let h = [("mcp-session-id", sid.as_str()), ("mcp-protocol-version", LEGACY), ("accept", "text/event-stream")];
    let first = Sse::of(send(addr, "GET", "/mcp", &h, "").await);
    let second = send(addr, "GET", "/mcp", &h, "").await;
    let status = second.status;
    assert_eq!(status, 409, "{}", second.text().await);

    let other = send(addr, "GET", "/sse", &[("accept", "text/event-stream")], "").await;
    assert_eq!(other.status, 200);
    let refused = send(addr, "GET", "/sse", &[("accept", "text/event-stream")], "").await;
    assert_eq!((refused.status, refused.headers["retry-after"].to_str().unwrap()), (503, "1"));
    let body = refused.text().await;
    assert!(body.contains("max_open_streams"), "{body}");

    // A closed stream frees its place.
    drop(first);
    let reopened = timeout(WAIT, async {
        loop {
            let r = send(addr, "GET", "/sse", &[("accept", "text/event-stream")], "").await;
            if r.status == 200 {
                break r;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("a place freed in time");
    drop((reopened, other));
}
