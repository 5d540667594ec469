//! The 2024-11-05 HTTP+SSE transport over real HTTP on loopback: `GET /sse` opens the
//! stream (first event: the message endpoint), POSTs are answered `202` and their results
//! arrive on the stream, server→client requests (elicitation) are answered by POST, and
//! closing the stream ends the session. Every wait is bounded.

use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use ferromcp_core::auth::StaticBearer;
use ferromcp_core::state::Principal;
use ferromcp_core::{Context, Error, NoArgs, Server, ToolDef};
use ferromcp_http::{HttpAuth, HttpConfig};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;
use tokio::time::timeout;

const WAIT: Duration = Duration::from_secs(10);

fn server() -> Server {
    Server::builder("sse-test", "1")
        .tool(ToolDef::new("hello").handler(|_ctx: Context, _: NoArgs| async move { "hello over sse" }))
        .tool(ToolDef::new("ask").handler(|ctx: Context, _: NoArgs| async move {
            let schema = json!({"type": "object", "properties": {"name": {"type": "string"}}});
            let r = ctx.elicit_schema("Who are you?", schema).await?;
            let action = serde_json::to_value(&r.action).unwrap_or(Value::Null);
            Ok::<_, Error>(format!(
                "action={} content={}",
                action.as_str().unwrap_or("?"),
                r.content.unwrap_or_default()
            ))
        }))
        .build()
}

async fn start(server: Server, cfg: HttpConfig) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(ferromcp_http::serve_listener(server, listener, cfg));
    addr
}

async fn connect(addr: SocketAddr) -> (SendRequest<Full<Bytes>>, JoinHandle<()>) {
    let tcp = timeout(WAIT, TcpStream::connect(addr)).await.unwrap().unwrap();
    let (send, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tcp)).await.unwrap();
    let task = tokio::spawn(async move {
        let _ = conn.await;
    });
    (send, task)
}

/// An open `GET /sse` stream.
struct Sse {
    body: Incoming,
    buf: Vec<u8>,
    comments: usize,
    conn: JoinHandle<()>,
}

impl Sse {
    async fn open(addr: SocketAddr, token: Option<&str>) -> Sse {
        let (mut send, conn) = connect(addr).await;
        let mut req =
            hyper::Request::get("/sse").header("host", addr.to_string()).header("accept", "text/event-stream");
        if let Some(t) = token {
            req = req.header("authorization", format!("Bearer {t}"));
        }
        let resp = timeout(WAIT, send.send_request(req.body(Full::default()).unwrap())).await.unwrap().unwrap();
        assert_eq!(resp.status(), 200);
        assert_eq!(resp.headers()["content-type"], "text/event-stream");
        Sse { body: resp.into_body(), buf: Vec::new(), comments: 0, conn }
    }

    /// The next event as (event name, data); comments are counted and skipped.
    async fn event(&mut self) -> (String, String) {
        loop {
            if let Some(end) = self.buf.windows(2).position(|w| w == b"\n\n") {
                let block = String::from_utf8(self.buf.drain(..end + 2).collect()).unwrap();
                let (mut event, mut data) = (String::from("message"), None::<String>);
                for line in block.lines() {
                    if line.starts_with(':') {
                        self.comments += 1;
                    } else if let Some(v) = line.strip_prefix("event:") {
                        event = v.trim().to_owned();
                    } else if let Some(v) = line.strip_prefix("data:") {
                        data = Some(v.strip_prefix(' ').unwrap_or(v).to_owned());
                    }
                }
                match data {
                    Some(d) => return (event, d),
                    None => continue,
                }
            }
            let frame = timeout(WAIT, self.body.frame()).await.expect("no SSE event in time");
            let frame = frame.expect("the SSE stream ended").expect("SSE body error");
            if let Ok(d) = frame.into_data() {
                self.buf.extend_from_slice(&d);
            }
        }
    }

    async fn message(&mut self) -> Value {
        let (event, data) = self.event().await;
        assert_eq!(event, "message", "data: {data}");
        serde_json::from_str(&data).unwrap()
    }
}

async fn post(addr: SocketAddr, path: &str, token: Option<&str>, body: Value) -> (u16, Bytes) {
    let (mut send, _conn) = connect(addr).await;
    let mut req =
        hyper::Request::post(path).header("host", addr.to_string()).header("content-type", "application/json");
    if let Some(t) = token {
        req = req.header("authorization", format!("Bearer {t}"));
    }
    let req = req.body(Full::new(Bytes::from(body.to_string()))).unwrap();
    let resp = timeout(WAIT, send.send_request(req)).await.unwrap().unwrap();
    let status = resp.status().as_u16();
    (status, timeout(WAIT, resp.into_body().collect()).await.unwrap().unwrap().to_bytes())
}

fn initialize(id: u64) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "method": "initialize", "params": {
        "protocolVersion": "2024-11-05",
        "capabilities": {"elicitation": {}},
        "clientInfo": {"name": "old-client", "version": "0"}
    }})
}

fn call(id: u64, name: &str) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "method": "tools/call", "params": {"name": name, "arguments": {}}})
}

async fn wait_for(cond: impl Fn() -> bool) -> bool {
    timeout(WAIT, async {
        while !cond() {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .is_ok()
}

#[tokio::test]
async fn an_old_client_is_served_over_get_sse_and_post_messages() {
    let server = server();
    let mut cfg = HttpConfig::default().legacy_sse(true);
    cfg.keep_alive = Duration::from_millis(100);
    let addr = start(server.clone(), cfg).await;

    let mut sse = Sse::open(addr, None).await;
    let (event, endpoint) = sse.event().await;
    assert_eq!(event, "endpoint");
    let id = endpoint.strip_prefix("/messages?session_id=").expect(&endpoint).to_owned();
    assert!(id.len() >= 16, "{id}");
    assert_eq!(server.sessions().metrics().open, 1);
    assert!(server.sessions().get(&id).is_some());

    // Before initialize, requests are refused (on the stream).
    let (status, _) = post(addr, &endpoint, None, json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list"})).await;
    assert_eq!(status, 202);
    assert!(sse.message().await["error"]["code"].is_i64());

    let (status, body) = post(addr, &endpoint, None, initialize(2)).await;
    assert_eq!((status, &body[..]), (202, &b"Accepted"[..]));
    let init = sse.message().await;
    assert_eq!(init["id"], 2);
    assert_eq!(init["result"]["protocolVersion"], "2024-11-05");
    assert_eq!(init["result"]["serverInfo"]["name"], "sse-test");
    let note = json!({"jsonrpc": "2.0", "method": "notifications/initialized"});
    assert_eq!(post(addr, &endpoint, None, note).await.0, 202);

    post(addr, &endpoint, None, json!({"jsonrpc": "2.0", "id": 3, "method": "tools/list"})).await;
    let list = sse.message().await;
    assert_eq!(list["id"], 3);
    let mut names: Vec<&str> =
        list["result"]["tools"].as_array().unwrap().iter().map(|t| t["name"].as_str().unwrap()).collect();
    names.sort_unstable();
    assert_eq!(names, ["ask", "hello"]);

    post(addr, &endpoint, None, call(4, "hello")).await;
    let hello = sse.message().await;
    assert_eq!(hello["id"], 4);
    assert_eq!(hello["result"]["content"][0]["text"], "hello over sse");

    // A modern request is refused with the modern error.
    let meta = json!({"io.modelcontextprotocol/protocolVersion": "2026-07-28", "io.modelcontextprotocol/clientCapabilities": {}});
    post(addr, &endpoint, None, json!({"jsonrpc": "2.0", "id": 5, "method": "tools/list", "params": {"_meta": meta}}))
        .await;
    let modern = sse.message().await;
    assert_eq!((modern["id"].clone(), modern["error"]["code"].clone()), (json!(5), json!(-32022)), "{modern}");

    // The tool's elicitation arrives on the stream; the answer goes back by POST.
    post(addr, &endpoint, None, call(6, "ask")).await;
    let ask = sse.message().await;
    assert_eq!(ask["method"], "elicitation/create", "{ask}");
    assert_eq!(ask["params"]["message"], "Who are you?");
    let answer = json!({"jsonrpc": "2.0", "id": ask["id"], "result": {"action": "accept", "content": {"name": "Ada"}}});
    assert_eq!(post(addr, &endpoint, None, answer).await.0, 202);
    let done = sse.message().await;
    assert_eq!(done["id"], 6, "{done}");
    let text = done["result"]["content"][0]["text"].as_str().unwrap();
    assert!(text.contains("action=accept") && text.contains("Ada"), "{text}");

    // Keep-alive comments flow while idle.
    let keep_alive = timeout(WAIT, async {
        while sse.comments == 0 && !sse.buf.windows(12).any(|w| w == b": keep-alive") {
            sse.buf.extend_from_slice(&sse.body.frame().await.unwrap().unwrap().into_data().unwrap());
        }
    });
    assert!(keep_alive.await.is_ok(), "no keep-alive comment");

    // Closing the stream ends the session.
    drop(sse.body);
    sse.conn.abort();
    assert!(wait_for(|| server.sessions().metrics().open == 0).await, "the session outlived its stream");
    assert!(server.sessions().get(&id).is_none());
    assert_eq!(post(addr, &endpoint, None, call(7, "hello")).await.0, 404);
}

#[tokio::test]
async fn unknown_missing_and_foreign_sessions_are_refused() {
    let bearer = StaticBearer::new().token("ta", Principal::new("alice")).token("tb", Principal::new("bob"));
    let cfg = HttpConfig::default().legacy_sse(true).max_body_bytes(1024).auth(HttpAuth::required(bearer));
    let addr = start(server(), cfg).await;
    let ping = json!({"jsonrpc": "2.0", "id": 1, "method": "ping"});

    let (status, body) = post(addr, "/messages?session_id=nope", Some("ta"), ping.clone()).await;
    assert_eq!(status, 404, "{}", String::from_utf8_lossy(&body));
    assert_eq!(post(addr, "/messages", Some("ta"), ping.clone()).await.0, 400);

    let mut sse = Sse::open(addr, Some("ta")).await;
    let (_, endpoint) = sse.event().await;
    assert_eq!(post(addr, &endpoint, Some("tb"), ping.clone()).await.0, 404);
    assert_eq!(post(addr, &endpoint, None, ping.clone()).await.0, 401);
    assert_eq!(post(addr, &endpoint, Some("ta"), ping.clone()).await.0, 202);
    assert_eq!(sse.message().await["id"], 1);
    let big = json!({"jsonrpc": "2.0", "id": 2, "method": "ping", "params": {"pad": "x".repeat(2048)}});
    assert_eq!(post(addr, &endpoint, Some("ta"), big).await.0, 413);

    // The same guards as Streamable HTTP: no token, a foreign Host, a wrong Content-Type.
    let (mut send, _c) = connect(addr).await;
    let req = hyper::Request::get("/sse").header("host", addr.to_string()).body(Full::default()).unwrap();
    assert_eq!(send.send_request(req).await.unwrap().status(), 401);
    let (mut send, _c) = connect(addr).await;
    let req = hyper::Request::get("/sse").header("host", "evil.example").header("authorization", "Bearer ta");
    assert_eq!(send.send_request(req.body(Full::default()).unwrap()).await.unwrap().status(), 403);
    let (mut send, _c) = connect(addr).await;
    let req = hyper::Request::post(&endpoint)
        .header("host", addr.to_string())
        .header("authorization", "Bearer ta")
        .header("content-type", "text/plain");
    assert_eq!(send.send_request(req.body(Full::new(Bytes::from("{}"))).unwrap()).await.unwrap().status(), 415);
}

#[tokio::test]
async fn the_transport_is_off_by_default() {
    let addr = start(server(), HttpConfig::default()).await;
    let (mut send, _c) = connect(addr).await;
    let req = hyper::Request::get("/sse").header("host", addr.to_string()).body(Full::default()).unwrap();
    assert_eq!(timeout(WAIT, send.send_request(req)).await.unwrap().unwrap().status(), 404);
    assert_eq!(post(addr, "/messages?session_id=x", None, json!({})).await.0, 404);
}
