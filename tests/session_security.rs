//! Session security of the legacy (2025-11-25) Streamable HTTP transport over real HTTP
//! on loopback, with bearer authentication (`alice-token` → alice, `bob-token` → bob).
//!
//! * A session is bound to the principal that created it: another principal gets 404
//!   on POST, GET and DELETE (the session's existence is not revealed); no token gets
//!   401 when authentication is required and 404 when it is optional; an anonymous
//!   session is not usable by an authenticated principal either.
//! * A deleted session is gone: 404 on reuse, also after a restart with the SQLite store
//!   (whose restored sessions keep their binding).
//! * 10,000 random session ids are each answered 404 in bounded time, and the server
//!   keeps serving real sessions (the rate is printed).
//! * A `Last-Event-ID` naming another session's stream (finished or live) replays and
//!   attaches nothing, and does not disturb the owner's stream.
//!
//! Every server runs in a runtime of its own (stopping it ends all its tasks); every
//! wait is bounded.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use ferromcp::auth::StaticBearer;
use ferromcp::http::{HttpAuth, HttpConfig};
use ferromcp::sqlite::SqliteEventStore;
use ferromcp::state::Principal;
use ferromcp::{Context, NoArgs, Server, ToolDef};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::client::conn::http1::SendRequest;
use hyper::header::{HeaderName, HeaderValue};
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio::task::JoinHandle;
use tokio::time::timeout;

const WAIT: Duration = Duration::from_secs(30);
const LEGACY: &str = "2025-11-25";
const SESSION_NOT_FOUND: i64 = -32001;
const ALICE: &str = "Bearer alice-token";
const BOB: &str = "Bearer bob-token";
/// Random session ids tried.
const RANDOM_IDS: usize = 10_000;
/// Each of them must be answered within this time.
const PER_REQUEST_BOUND: Duration = Duration::from_secs(5);

fn server() -> Server {
    Server::builder("security", "1")
        .tool(ToolDef::new("ping").handler(|_ctx: Context, _: NoArgs| async { "pong" }))
        .tool(ToolDef::new("count").handler(|ctx: Context, _: NoArgs| async move {
            for i in 1..=20 {
                ctx.report_progress(f64::from(i), Some(20.0), None).await;
            }
            "counted"
        }))
        .tool(ToolDef::new("slow").handler(|ctx: Context, _: NoArgs| async move {
            for i in 1..=100 {
                ctx.report_progress(f64::from(i), Some(100.0), None).await;
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            "slow done"
        }))
        .build()
}

fn bearer() -> StaticBearer {
    StaticBearer::new().token("alice-token", Principal::new("alice")).token("bob-token", Principal::new("bob"))
}

fn required() -> HttpConfig {
    HttpConfig::default().auth(HttpAuth::required(bearer()))
}

fn optional() -> HttpConfig {
    HttpConfig::default().auth(HttpAuth::optional(bearer()))
}

/// A server in a runtime of its own; stopping it drops the runtime's every task.
struct TestServer {
    addr: SocketAddr,
    rt: Option<tokio::runtime::Runtime>,
}

impl TestServer {
    fn start(cfg: HttpConfig) -> TestServer {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("test-server")
            .enable_all()
            .build()
            .expect("server runtime");
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.set_nonblocking(true).expect("non-blocking listener");
        let addr = listener.local_addr().expect("local addr");
        rt.spawn(async move {
            let listener = tokio::net::TcpListener::from_std(listener).expect("tokio listener");
            if let Err(e) = ferromcp::http::serve_listener(server(), listener, cfg).await {
                eprintln!("test server on {addr} stopped: {e}");
            }
        });
        TestServer { addr, rt: Some(rt) }
    }

    fn stop(mut self) {
        if let Some(rt) = self.rt.take() {
            rt.shutdown_background();
        }
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(rt) = self.rt.take() {
            rt.shutdown_background();
        }
    }
}

/// A database path in the temp dir, removed (with its WAL files) on drop.
struct TempDb(PathBuf);

impl TempDb {
    fn new(tag: &str) -> TempDb {
        let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos());
        TempDb(std::env::temp_dir().join(format!("ferromcp-{tag}-{}-{nanos}.db", std::process::id())))
    }
}

impl Drop for TempDb {
    fn drop(&mut self) {
        for suffix in ["", "-wal", "-shm", "-journal"] {
            let mut p = self.0.clone().into_os_string();
            p.push(suffix);
            let _ = std::fs::remove_file(p);
        }
    }
}

/// One keep-alive client connection; dropping it closes the socket.
struct Conn {
    addr: SocketAddr,
    sender: SendRequest<Full<Bytes>>,
    driver: JoinHandle<()>,
}

impl Drop for Conn {
    fn drop(&mut self) {
        self.driver.abort();
    }
}

impl Conn {
    async fn open(addr: SocketAddr) -> Conn {
        let tcp = timeout(WAIT, TcpStream::connect(addr)).await.expect("connect in time").expect("connect");
        let _ = tcp.set_nodelay(true);
        let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tcp)).await.expect("handshake");
        let driver = tokio::spawn(async move {
            let _ = conn.await;
        });
        Conn { addr, sender, driver }
    }

    /// Sends a request and returns the answer with its body unread. Host, Accept and
    /// (POST) Content-Type default to valid values; `headers` replace them.
    async fn start(&mut self, method: &str, headers: &[(&str, &str)], body: &str) -> hyper::Response<Incoming> {
        let mut req = hyper::Request::builder()
            .method(method)
            .uri("/mcp")
            .body(Full::new(Bytes::from(body.to_owned())))
            .expect("request");
        let h = req.headers_mut();
        h.insert("host", HeaderValue::from_str(&self.addr.to_string()).expect("host"));
        h.insert("accept", HeaderValue::from_static("application/json, text/event-stream"));
        if method == "POST" {
            h.insert("content-type", HeaderValue::from_static("application/json"));
        }
        for (k, v) in headers {
            h.insert(HeaderName::from_bytes(k.as_bytes()).expect("name"), HeaderValue::from_str(v).expect("value"));
        }
        timeout(WAIT, self.sender.ready()).await.expect("ready in time").expect("connection open");
        timeout(WAIT, self.sender.send_request(req)).await.expect("answer in time").expect("answer")
    }

    /// Sends a request and reads the whole answer.
    async fn send(&mut self, method: &str, headers: &[(&str, &str)], body: &str) -> Resp {
        let (parts, body) = self.start(method, headers, body).await.into_parts();
        let body = timeout(WAIT, body.collect()).await.expect("body in time").expect("body").to_bytes();
        Resp { status: parts.status.as_u16(), headers: parts.headers, body }
    }
}

struct Resp {
    status: u16,
    headers: hyper::HeaderMap,
    body: Bytes,
}

impl Resp {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("status {}: not JSON ({e}): {:?}", self.status, self.text()))
    }

    /// Asserts 404 with the JSON-RPC "session not found" error.
    fn assert_not_found(&self, what: &str) {
        assert_eq!(self.status, 404, "{what}: {}", self.text());
        assert_eq!(self.json()["error"]["code"], SESSION_NOT_FOUND, "{what}: {}", self.text());
    }

    /// Asserts 401 with a Bearer challenge.
    fn assert_unauthorized(&self, what: &str) {
        assert_eq!(self.status, 401, "{what}: {}", self.text());
        let challenge = self.headers.get("www-authenticate").and_then(|v| v.to_str().ok()).unwrap_or("");
        assert!(challenge.starts_with("Bearer"), "{what}: WWW-Authenticate {challenge:?}");
    }

    /// The text of a tool call's answer (JSON, or the last SSE event's data).
    fn tool_text(&self) -> String {
        assert_eq!(self.status, 200, "{}", self.text());
        let v: Value = if self.headers.get("content-type").is_some_and(|v| v.as_bytes().starts_with(b"text/event")) {
            let text = self.text();
            let data = text.lines().filter_map(|l| l.strip_prefix("data: ")).rfind(|d| !d.is_empty());
            serde_json::from_str(data.expect("an SSE answer with data")).expect("JSON")
        } else {
            self.json()
        };
        v["result"]["content"][0]["text"].as_str().unwrap_or_else(|| panic!("not a tool result: {v}")).to_owned()
    }
}

async fn send(addr: SocketAddr, method: &str, headers: &[(&str, &str)], body: &str) -> Resp {
    Conn::open(addr).await.send(method, headers, body).await
}

/// `authorization` header for `token` (none for `None`).
fn auth(token: Option<&str>) -> Vec<(&str, &str)> {
    token.map(|t| vec![("authorization", t)]).unwrap_or_default()
}

/// Headers of a request in session `sid` as `token`.
fn in_session<'a>(sid: &'a str, token: Option<&'a str>) -> Vec<(&'a str, &'a str)> {
    let mut h = vec![("mcp-session-id", sid), ("mcp-protocol-version", LEGACY)];
    h.extend(auth(token));
    h
}

/// Opens a legacy session as `token` (initialize + initialized) and returns its id.
async fn open_session(addr: SocketAddr, token: Option<&str>) -> String {
    let init = json!({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
        "protocolVersion": LEGACY, "capabilities": {}, "clientInfo": {"name": "security-test", "version": "1"}}});
    let r = send(addr, "POST", &auth(token), &init.to_string()).await;
    assert_eq!(r.status, 200, "{}", r.text());
    let sid = r.headers.get("mcp-session-id").expect("a session id").to_str().expect("ascii").to_owned();
    let note = json!({"jsonrpc": "2.0", "method": "notifications/initialized"}).to_string();
    let r = send(addr, "POST", &in_session(&sid, token), &note).await;
    assert_eq!(r.status, 202, "{}", r.text());
    sid
}

fn call_body(tool: &str, id: i64, progress: bool) -> String {
    let mut params = json!({"name": tool, "arguments": {}});
    if progress {
        params["_meta"] = json!({"progressToken": format!("p{id}")});
    }
    json!({"jsonrpc": "2.0", "id": id, "method": "tools/call", "params": params}).to_string()
}

async fn ping(addr: SocketAddr, sid: &str, token: Option<&str>) -> Resp {
    send(addr, "POST", &in_session(sid, token), &call_body("ping", 1, false)).await
}

/// POST, GET and DELETE in session `sid` as `token` must all be 404.
async fn assert_all_not_found(addr: SocketAddr, sid: &str, token: Option<&str>, who: &str) {
    ping(addr, sid, token).await.assert_not_found(&format!("POST tools/call by {who}"));
    let note = json!({"jsonrpc": "2.0", "method": "notifications/initialized"}).to_string();
    send(addr, "POST", &in_session(sid, token), &note).await.assert_not_found(&format!("POST notification by {who}"));
    let mut get = in_session(sid, token);
    get.push(("accept", "text/event-stream"));
    send(addr, "GET", &get, "").await.assert_not_found(&format!("GET by {who}"));
    send(addr, "DELETE", &in_session(sid, token), "").await.assert_not_found(&format!("DELETE by {who}"));
}

/// POST, GET and DELETE in session `sid` as `token` must all be 401.
async fn assert_all_unauthorized(addr: SocketAddr, sid: &str, token: Option<&str>, who: &str) {
    ping(addr, sid, token).await.assert_unauthorized(&format!("POST by {who}"));
    let mut get = in_session(sid, token);
    get.push(("accept", "text/event-stream"));
    send(addr, "GET", &get, "").await.assert_unauthorized(&format!("GET by {who}"));
    send(addr, "DELETE", &in_session(sid, token), "").await.assert_unauthorized(&format!("DELETE by {who}"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn required_auth_binds_a_session_to_its_creator() {
    let srv = TestServer::start(required());
    let addr = srv.addr;
    let sid = open_session(addr, Some(ALICE)).await;

    assert_all_not_found(addr, &sid, Some(BOB), "bob").await;
    assert_all_unauthorized(addr, &sid, None, "no token").await;
    assert_all_unauthorized(addr, &sid, Some("Bearer mallory-token"), "an unknown token").await;
    assert_all_unauthorized(addr, &sid, Some("Basic YWxpY2U6eA=="), "basic credentials").await;
    let init = json!({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
        "protocolVersion": LEGACY, "capabilities": {}, "clientInfo": {"name": "c", "version": "1"}}});
    let r = send(addr, "POST", &[], &init.to_string()).await;
    r.assert_unauthorized("initialize without a token");
    assert!(r.headers.get("mcp-session-id").is_none(), "no session for an unauthenticated initialize");

    // None of that touched alice's session, bob's DELETE included.
    assert_eq!(ping(addr, &sid, Some(ALICE)).await.tool_text(), "pong");
    // Bob's own session is his alone too.
    let bobs = open_session(addr, Some(BOB)).await;
    assert_all_not_found(addr, &bobs, Some(ALICE), "alice in bob's session").await;
    assert_eq!(ping(addr, &bobs, Some(BOB)).await.tool_text(), "pong");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn optional_auth_binds_sessions_to_their_creator_or_to_nobody() {
    let srv = TestServer::start(optional());
    let addr = srv.addr;
    let alices = open_session(addr, Some(ALICE)).await;
    assert_all_not_found(addr, &alices, None, "an anonymous client").await;
    assert_all_not_found(addr, &alices, Some(BOB), "bob").await;
    assert_all_unauthorized(addr, &alices, Some("Bearer mallory-token"), "an unknown token").await;

    let anonymous = open_session(addr, None).await;
    assert_all_not_found(addr, &anonymous, Some(ALICE), "alice in an anonymous session").await;
    assert_all_not_found(addr, &anonymous, Some(BOB), "bob in an anonymous session").await;

    assert_eq!(ping(addr, &alices, Some(ALICE)).await.tool_text(), "pong");
    assert_eq!(ping(addr, &anonymous, None).await.tool_text(), "pong");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deleted_session_is_gone_also_after_a_restart_and_restored_sessions_keep_their_owner() {
    let db = TempDb::new("security");
    let cfg = || required().event_store(SqliteEventStore::open(&db.0).expect("open sqlite"));
    let first = TestServer::start(cfg());
    let (deleted, kept) = (open_session(first.addr, Some(ALICE)).await, open_session(first.addr, Some(BOB)).await);

    let r = send(first.addr, "DELETE", &in_session(&deleted, Some(ALICE)), "").await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_all_not_found(first.addr, &deleted, Some(ALICE), "alice after her DELETE").await;
    assert_eq!(ping(first.addr, &kept, Some(BOB)).await.tool_text(), "pong", "other sessions stay");
    first.stop();

    // Same database, new server: the deleted session stays gone, the kept one is
    // restored on first use — for its owner only.
    let second = TestServer::start(cfg());
    assert_all_not_found(second.addr, &deleted, Some(ALICE), "alice after a restart").await;
    assert_all_not_found(second.addr, &kept, Some(ALICE), "alice in bob's persisted session").await;
    assert_all_unauthorized(second.addr, &kept, None, "no token in a persisted session").await;
    assert_eq!(ping(second.addr, &kept, Some(BOB)).await.tool_text(), "pong", "bob's session is restored");
    assert_all_not_found(second.addr, &kept, Some(ALICE), "alice in bob's restored session").await;
    let r = send(second.addr, "DELETE", &in_session(&kept, Some(BOB)), "").await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_all_not_found(second.addr, &kept, Some(BOB), "bob after his DELETE").await;
}

/// xorshift64: the random ids need to be unpredictable to the server, not secure.
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    /// A 22-character base64url string: the shape of a real session id.
    fn session_id(&mut self) -> String {
        const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
        (0..22).map(|_| char::from(ALPHABET[(self.next() >> 58) as usize])).collect()
    }
}

/// Sends [`RANDOM_IDS`] random session ids (POST, GET and DELETE in turn, as alice) on 8
/// keep-alive connections; every one must be 404 within [`PER_REQUEST_BOUND`]. Returns
/// (requests/s, slowest answer).
async fn flood_random_ids(addr: SocketAddr, seed: u64) -> (f64, Duration) {
    const WORKERS: usize = 8;
    let mut rng = XorShift(seed);
    let ids: Vec<String> = (0..RANDOM_IDS).map(|_| rng.session_id()).collect();
    let ids = Arc::new(ids);
    let started = Instant::now();
    let tasks: Vec<_> = (0..WORKERS)
        .map(|w| {
            let ids = ids.clone();
            tokio::spawn(async move {
                let mut conn = Conn::open(addr).await;
                let mut slowest = Duration::ZERO;
                for (i, sid) in ids.iter().enumerate().skip(w).step_by(WORKERS) {
                    let t0 = Instant::now();
                    let mut h = in_session(sid, Some(ALICE));
                    let (method, body) = match i % 3 {
                        0 => ("POST", call_body("ping", i as i64, false)),
                        1 => {
                            h.push(("accept", "text/event-stream"));
                            ("GET", String::new())
                        }
                        _ => ("DELETE", String::new()),
                    };
                    let r = conn.send(method, &h, &body);
                    let r = timeout(PER_REQUEST_BOUND, r)
                        .await
                        .unwrap_or_else(|_| panic!("random id #{i} not answered within {PER_REQUEST_BOUND:?}"));
                    r.assert_not_found(&format!("random id #{i} {sid:?}"));
                    slowest = slowest.max(t0.elapsed());
                }
                slowest
            })
        })
        .collect();
    let mut slowest = Duration::ZERO;
    for t in tasks {
        slowest = slowest.max(t.await.expect("worker"));
    }
    (RANDOM_IDS as f64 / started.elapsed().as_secs_f64(), slowest)
}

async fn random_ids_scenario(cfg: HttpConfig, store: &str) {
    let srv = TestServer::start(cfg);
    let addr = srv.addr;
    let before = open_session(addr, Some(ALICE)).await;
    let (rate, slowest) = flood_random_ids(addr, 0x9E37_79B9_7F4A_7C15).await;
    println!(
        "{RANDOM_IDS} random session ids ({store} event store): all 404, {rate:.0} requests/s \
         over 8 connections, slowest {slowest:?}"
    );
    // A few odd ids too.
    let long = "A".repeat(4096);
    for sid in ["", "x", "a.b", "../../etc/passwd", "%00", long.as_str(), before.to_uppercase().as_str()] {
        if sid != before {
            ping(addr, sid, Some(ALICE)).await.assert_not_found(&format!("odd id {:.40?}", sid));
        }
    }
    // The server still serves: the session opened before and a new one.
    assert_eq!(ping(addr, &before, Some(ALICE)).await.tool_text(), "pong");
    let after = open_session(addr, Some(BOB)).await;
    assert_eq!(ping(addr, &after, Some(BOB)).await.tool_text(), "pong");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_random_session_ids_are_404_in_bounded_time_memory_store() {
    random_ids_scenario(required(), "memory").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_random_session_ids_are_404_in_bounded_time_sqlite_store() {
    let db = TempDb::new("random-ids");
    let cfg = required().event_store(SqliteEventStore::open(&db.0).expect("open sqlite"));
    random_ids_scenario(cfg, "sqlite").await;
}

/// One SSE event: (id, data).
type Event = (Option<String>, String);

/// Reads SSE events off a response body (comments skipped).
struct Events {
    body: Incoming,
    buf: Vec<u8>,
}

impl Events {
    fn new(resp: hyper::Response<Incoming>) -> Events {
        Events { body: resp.into_body(), buf: Vec::new() }
    }

    /// The next event; `Ok(None)` once the stream ended, `Err(())` at `deadline`.
    async fn next(&mut self, deadline: Instant) -> Result<Option<Event>, ()> {
        loop {
            while let Some(end) = self.buf.windows(2).position(|w| w == b"\n\n") {
                let block: Vec<u8> = self.buf.drain(..end + 2).collect();
                let text = String::from_utf8(block).expect("UTF-8");
                let id = text.lines().find_map(|l| l.strip_prefix("id: ")).map(str::to_owned);
                let data = text.lines().filter_map(|l| l.strip_prefix("data: ")).collect::<Vec<_>>().join("\n");
                if id.is_some() || text.lines().any(|l| l.starts_with("data:")) {
                    return Ok(Some((id, data)));
                }
            }
            match tokio::time::timeout_at(deadline.into(), self.body.frame()).await {
                Err(_) => return Err(()),
                Ok(None) => return Ok(None),
                Ok(Some(frame)) => {
                    if let Ok(data) = frame.expect("SSE body").into_data() {
                        self.buf.extend_from_slice(&data);
                    }
                }
            }
        }
    }

    /// Every event until the stream ends (true) or `deadline` passes (false).
    async fn all(mut self, deadline: Instant) -> (Vec<Event>, bool) {
        let mut events = Vec::new();
        loop {
            match self.next(deadline).await {
                Ok(Some(ev)) => events.push(ev),
                Ok(None) => return (events, true),
                Err(()) => return (events, false),
            }
        }
    }
}

fn stream_of(id: &str) -> &str {
    id.rsplit_once('.').expect("<stream>.<seq>").0
}

/// GET with `Last-Event-ID: last` in session `sid` as `token`, read for `window`.
async fn resume(addr: SocketAddr, sid: String, token: &str, last: String, window: Duration) -> (Vec<Event>, bool) {
    let mut conn = Conn::open(addr).await;
    let mut h = in_session(&sid, Some(token));
    h.extend([("accept", "text/event-stream"), ("last-event-id", last.as_str())]);
    let resp = conn.start("GET", &h, "").await;
    assert_eq!(resp.status(), 200, "a GET in one's own session is served");
    Events::new(resp).all(Instant::now() + window).await
}

/// Asserts that nothing of `foreign_stream` was delivered.
fn assert_nothing_from(events: &[Event], foreign_stream: &str, who: &str) {
    for (id, data) in events {
        assert!(
            id.as_deref().is_none_or(|id| stream_of(id) != foreign_stream),
            "{who} received an event of another session's stream: {id:?} {data}"
        );
        assert!(data.is_empty(), "{who} received a message through a foreign Last-Event-ID: {id:?} {data}");
    }
}

/// Asserts `events` are one stream with consecutive ids from seq 1.
fn assert_consecutive(events: &[Event]) {
    let stream = stream_of(events[0].0.as_deref().expect("id"));
    for (i, (id, _)) in events.iter().enumerate() {
        assert_eq!(id.as_deref(), Some(format!("{stream}.{}", i + 1).as_str()), "consecutive ids");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_last_event_id_of_another_session_replays_nothing() {
    let srv = TestServer::start(required());
    let addr = srv.addr;
    let alice = open_session(addr, Some(ALICE)).await;
    let alice2 = open_session(addr, Some(ALICE)).await;
    let bob = open_session(addr, Some(BOB)).await;

    // A finished stream of alice's first session.
    let mut conn = Conn::open(addr).await;
    let resp = conn.start("POST", &in_session(&alice, Some(ALICE)), &call_body("count", 2, true)).await;
    let (events, ended) = Events::new(resp).all(Instant::now() + WAIT).await;
    assert!(ended, "the call's stream ends");
    assert_eq!(events.len(), 22, "priming + 20 progress + result: {events:?}");
    assert_consecutive(&events);
    let first = events[0].0.clone().expect("ids: the session has an event store");
    let foreign = stream_of(&first).to_owned();

    // Sanity: in its own session the id replays the 21 events after it.
    let (own, ended) = resume(addr, alice.clone(), ALICE, first.clone(), WAIT).await;
    assert!(ended);
    assert_eq!(own, events[1..], "the owner's resume replays the rest");

    for (sid, token, who) in [(&bob, BOB, "bob"), (&alice2, ALICE, "alice's other session")] {
        let (got, _) = resume(addr, sid.clone(), token, first.clone(), Duration::from_millis(500)).await;
        assert_nothing_from(&got, &foreign, who);
    }

    // A live stream of alice's: a foreign resume must neither replay it nor attach to
    // it, nor take it away from alice.
    let mut conn = Conn::open(addr).await;
    let resp = conn.start("POST", &in_session(&alice, Some(ALICE)), &call_body("slow", 3, true)).await;
    assert_eq!(resp.status(), 200);
    let deadline = Instant::now() + WAIT;
    let mut alice_events = Events::new(resp);
    let priming = alice_events.next(deadline).await.expect("in time").expect("a priming event");
    let live = priming.0.clone().expect("an id");
    let live_stream = stream_of(&live).to_owned();
    let thieves: Vec<_> = [(bob.clone(), BOB, "bob"), (alice2.clone(), ALICE, "alice's other session")]
        .into_iter()
        .map(|(sid, token, who)| {
            let live = live.clone();
            (who, tokio::spawn(async move { resume(addr, sid, token, live, Duration::from_millis(800)).await }))
        })
        .collect();
    let (rest, ended) = alice_events.all(deadline).await;
    assert!(ended, "alice's stream ends");
    let mut all = vec![priming];
    all.extend(rest);
    assert_eq!(all.len(), 102, "alice receives her whole live stream: priming + 100 progress + result");
    assert_consecutive(&all);
    assert!(all[101].1.contains("slow done"), "{:?}", all[101]);
    for (who, t) in thieves {
        let (got, _) = t.await.expect("resume task");
        assert_nothing_from(&got, &live_stream, who);
    }
}
