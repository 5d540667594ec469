//! Resumable legacy (2025-11-25) Streamable HTTP streams over real HTTP on loopback.
//!
//! A tool emits 100 progress notifications (5 ms apart) and then returns. The client
//! (a plain hyper 1 client) reads the POST's SSE stream, drops the connection part-way,
//! and resumes with `GET` + `Last-Event-ID`: over the whole exchange every progress value
//! and the result must arrive exactly once, with consecutive event ids in one stream
//! (`<stream>.<seq>`, seq 1 being the priming event with `retry`). Covered: the default
//! memory event store (one and several drops, resuming a live and a finished stream),
//! the SQLite event store across a server restart (a new `Server` in a new runtime on a
//! new port, same database file), the Redis event store chosen with
//! `FERROMCP_EVENT_STORE=redis` across two nodes (a stream started on one node resumed on
//! the other, on a throwaway `redis-server`), and `ctx.close_sse_stream()` polling.
//!
//! Each server runs in a runtime of its own, so stopping it (`shutdown_background`)
//! really ends everything it was running: listener, connections and request tasks.
//! Every wait is bounded.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use ferromcp::http::{EventStoreHandle, HttpConfig};
use ferromcp::sqlite::SqliteEventStore;
use ferromcp::{Context, NoArgs, Server, ToolDef};
use ferromcp_core::events::{EventId, EventStore, MemoryEventStore, Retention};
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
/// Progress notifications sent by the `count` tool.
const STEPS: u64 = 100;
/// Progress notifications (32 KiB each) sent by the `flood` tool.
const FLOOD: u64 = 300;
/// The progress token the client sends.
const TOKEN: &str = "tok-1";

fn server() -> Server {
    Server::builder("resume", "1")
        .tool(ToolDef::new("count").handler(|ctx: Context, _: NoArgs| async move {
            for i in 1..=STEPS {
                ctx.report_progress(i as f64, Some(STEPS as f64), None).await;
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            "counted"
        }))
        .tool(ToolDef::new("poll").handler(|ctx: Context, _: NoArgs| async move {
            for i in 1..=10 {
                ctx.report_progress(f64::from(i), Some(20.0), None).await;
            }
            // SEP-1699 polling: the connection goes, the call goes on.
            ctx.close_sse_stream().await;
            tokio::time::sleep(Duration::from_millis(200)).await;
            for i in 11..=20 {
                ctx.report_progress(f64::from(i), Some(20.0), None).await;
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            "polled"
        }))
        .tool(ToolDef::new("flood").handler(|ctx: Context, _: NoArgs| async move {
            // ~10 MB of progress: more than the connection's queue and socket buffers hold.
            let big = "x".repeat(32 * 1024);
            for i in 1..=FLOOD {
                ctx.report_progress(i as f64, Some(FLOOD as f64), Some(&big)).await;
            }
            "flooded"
        }))
        .tool(ToolDef::new("ping").handler(|_ctx: Context, _: NoArgs| async { "pong" }))
        .build()
}

/// A server in a runtime of its own; stopping it drops the runtime's every task.
struct TestServer {
    addr: SocketAddr,
    rt: Option<tokio::runtime::Runtime>,
}

impl TestServer {
    fn start(cfg: HttpConfig) -> TestServer {
        Self::start_with(server(), cfg)
    }

    fn start_with(server: Server, cfg: HttpConfig) -> TestServer {
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
            if let Err(e) = ferromcp::http::serve_listener(server, listener, cfg).await {
                eprintln!("test server on {addr} stopped: {e}");
            }
        });
        TestServer { addr, rt: Some(rt) }
    }

    /// Stops the server: listener, connections and running requests all go.
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

/// One client connection; dropping it closes the socket.
struct Conn {
    sender: SendRequest<Full<Bytes>>,
    driver: JoinHandle<()>,
}

impl Drop for Conn {
    fn drop(&mut self) {
        self.driver.abort();
    }
}

async fn connect(addr: SocketAddr) -> Conn {
    let tcp = timeout(WAIT, TcpStream::connect(addr)).await.expect("connect in time").expect("connect");
    let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tcp)).await.expect("handshake");
    let driver = tokio::spawn(async move {
        let _ = conn.await;
    });
    Conn { sender, driver }
}

/// An answer whose body has not been read yet (the connection lives as long as it).
struct Resp {
    status: u16,
    headers: hyper::HeaderMap,
    body: Incoming,
    conn: Conn,
}

impl Resp {
    fn is_sse(&self) -> bool {
        self.headers.get("content-type").is_some_and(|v| v.as_bytes().starts_with(b"text/event-stream"))
    }

    async fn bytes(self) -> Bytes {
        let body = timeout(WAIT, self.body.collect()).await.expect("body in time").expect("body");
        body.to_bytes()
    }

    async fn json(self) -> Value {
        let status = self.status;
        let b = self.bytes().await;
        serde_json::from_slice(&b)
            .unwrap_or_else(|e| panic!("status {status}: not JSON ({e}): {:?}", String::from_utf8_lossy(&b)))
    }

    fn sse(self) -> SseReader {
        assert_eq!(self.status, 200, "an SSE answer is 200");
        assert!(self.is_sse(), "content-type is text/event-stream: {:?}", self.headers);
        SseReader { body: self.body, buf: Vec::new(), _conn: self.conn }
    }
}

/// Sends one request on a new connection. Host, Content-Type (POST) and Accept default
/// to valid values; `headers` replace them.
async fn send(addr: SocketAddr, method: &str, headers: &[(&str, &str)], body: &str) -> Resp {
    let mut conn = connect(addr).await;
    let mut req = hyper::Request::builder()
        .method(method)
        .uri("/mcp")
        .body(Full::new(Bytes::from(body.to_owned())))
        .expect("request");
    let h = req.headers_mut();
    h.insert("host", HeaderValue::from_str(&addr.to_string()).expect("host"));
    h.insert("accept", HeaderValue::from_static("application/json, text/event-stream"));
    if method == "POST" {
        h.insert("content-type", HeaderValue::from_static("application/json"));
    }
    for (k, v) in headers {
        h.insert(HeaderName::from_bytes(k.as_bytes()).expect("name"), HeaderValue::from_str(v).expect("value"));
    }
    timeout(WAIT, conn.sender.ready()).await.expect("ready in time").expect("connection open");
    let resp = timeout(WAIT, conn.sender.send_request(req)).await.expect("answer in time").expect("answer");
    let (parts, body) = resp.into_parts();
    Resp { status: parts.status.as_u16(), headers: parts.headers, body, conn }
}

/// Opens a legacy session (initialize + initialized) and returns its id.
async fn open_session(addr: SocketAddr) -> String {
    let init = json!({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
        "protocolVersion": LEGACY, "capabilities": {}, "clientInfo": {"name": "resume-test", "version": "1"}}});
    let r = send(addr, "POST", &[], &init.to_string()).await;
    assert_eq!(r.status, 200);
    let sid = r.headers.get("mcp-session-id").expect("a session id").to_str().expect("ascii").to_owned();
    let v = r.json().await;
    assert_eq!(v["result"]["protocolVersion"], LEGACY, "{v}");
    let note = json!({"jsonrpc": "2.0", "method": "notifications/initialized"}).to_string();
    let r = send(addr, "POST", &[("mcp-session-id", &sid), ("mcp-protocol-version", LEGACY)], &note).await;
    assert_eq!(r.status, 202);
    sid
}

/// POSTs `tools/call tool` with a progress token in session `sid`.
async fn call(addr: SocketAddr, sid: &str, tool: &str, id: i64) -> Resp {
    let body = json!({"jsonrpc": "2.0", "id": id, "method": "tools/call",
        "params": {"name": tool, "arguments": {}, "_meta": {"progressToken": TOKEN}}});
    send(addr, "POST", &[("mcp-session-id", sid), ("mcp-protocol-version", LEGACY)], &body.to_string()).await
}

/// `GET` with `Last-Event-ID: last` in session `sid`.
async fn resume(addr: SocketAddr, sid: &str, last: &str) -> SseReader {
    let headers = [
        ("mcp-session-id", sid),
        ("mcp-protocol-version", LEGACY),
        ("accept", "text/event-stream"),
        ("last-event-id", last),
    ];
    send(addr, "GET", &headers, "").await.sse()
}

/// One SSE event.
#[derive(Debug)]
struct Event {
    id: Option<String>,
    retry: Option<u64>,
    data: String,
}

/// Reads SSE events off a response body; dropping it drops the connection.
struct SseReader {
    body: Incoming,
    buf: Vec<u8>,
    _conn: Conn,
}

impl SseReader {
    /// The next event (comments skipped), or `None` once the stream ended.
    async fn next(&mut self) -> Option<Event> {
        loop {
            while let Some(end) = self.buf.windows(2).position(|w| w == b"\n\n") {
                let block: Vec<u8> = self.buf.drain(..end + 2).collect();
                if let Some(ev) = parse_event(&block) {
                    return Some(ev);
                }
            }
            match timeout(WAIT, self.body.frame()).await.expect("an SSE frame in time") {
                None => {
                    assert!(
                        self.buf.is_empty(),
                        "the stream ended inside an event: {:?}",
                        String::from_utf8_lossy(&self.buf)
                    );
                    return None;
                }
                Some(Ok(frame)) => {
                    if let Ok(data) = frame.into_data() {
                        self.buf.extend_from_slice(&data);
                    }
                }
                Some(Err(e)) => panic!("SSE body error: {e}"),
            }
        }
    }
}

fn parse_event(block: &[u8]) -> Option<Event> {
    let text = std::str::from_utf8(block).expect("SSE is UTF-8");
    let mut ev = Event { id: None, retry: None, data: String::new() };
    let mut any = false;
    for line in text.lines() {
        if line.is_empty() || line.starts_with(':') {
            continue;
        }
        let (field, value) = line.split_once(':').unwrap_or((line, ""));
        let value = value.strip_prefix(' ').unwrap_or(value);
        any = true;
        match field {
            "id" => ev.id = Some(value.to_owned()),
            "retry" => ev.retry = Some(value.parse().expect("retry is a number")),
            "data" => {
                if !ev.data.is_empty() {
                    ev.data.push('\n');
                }
                ev.data.push_str(value);
            }
            "event" => assert_eq!(value, "message"),
            other => panic!("unexpected SSE field {other:?}"),
        }
    }
    any.then_some(ev)
}

/// Everything the client received for one call, over all its connections.
struct Tally {
    call_id: i64,
    stream: Option<String>,
    next_seq: u64,
    last_id: Option<String>,
    progress: Vec<u64>,
    result: Option<Value>,
}

impl Tally {
    fn new(call_id: i64) -> Tally {
        Tally { call_id, stream: None, next_seq: 1, last_id: None, progress: Vec::new(), result: None }
    }

    fn last_id(&self) -> String {
        self.last_id.clone().expect("at least one event was received")
    }

    /// Records one event: ids must be consecutive in one stream (no duplicate, no gap).
    fn take(&mut self, ev: &Event) {
        let id = ev.id.as_deref().unwrap_or_else(|| panic!("an event of a resumable stream without id: {ev:?}"));
        let (stream, seq) = id.rsplit_once('.').unwrap_or_else(|| panic!("event id {id:?} is not <stream>.<seq>"));
        let seq: u64 = seq.parse().unwrap_or_else(|_| panic!("event id {id:?}: seq is not a number"));
        match &self.stream {
            None => self.stream = Some(stream.to_owned()),
            Some(s) => assert_eq!(s, stream, "every event of the call is in one stream"),
        }
        assert_eq!(seq, self.next_seq, "event ids are consecutive (a smaller seq is a duplicate, a larger one a gap)");
        self.next_seq += 1;
        self.last_id = Some(id.to_owned());
        assert!(self.result.is_none(), "an event after the result: {ev:?}");
        if ev.data.is_empty() {
            assert_eq!(seq, 1, "only the first event is a priming event: {ev:?}");
            assert_eq!(ev.retry, Some(1000), "the priming event carries retry: {ev:?}");
            return;
        }
        let v: Value =
            serde_json::from_str(&ev.data).unwrap_or_else(|e| panic!("event data is not JSON ({e}): {ev:?}"));
        if v["method"] == "notifications/progress" {
            assert_eq!(v["params"]["progressToken"], TOKEN, "{v}");
            let p = v["params"]["progress"].as_f64().unwrap_or_else(|| panic!("progress is a number: {v}"));
            self.progress.push(p as u64);
        } else {
            assert_eq!(v["id"], self.call_id, "the only other event is the call's answer: {v}");
            self.result = Some(v);
        }
    }

    /// Reads `r` into the tally until it ends (true) or `stop_after` progress values
    /// have been received in total (false).
    async fn read(&mut self, r: &mut SseReader, stop_after: Option<usize>) -> bool {
        while let Some(ev) = r.next().await {
            self.take(&ev);
            if stop_after.is_some_and(|n| self.progress.len() >= n) {
                return false;
            }
        }
        true
    }

    /// Asserts progress 1..=n and the result `text`, each exactly once.
    fn assert_complete(&self, n: u64, text: &str) {
        assert_eq!(self.progress, (1..=n).collect::<Vec<_>>(), "every progress value arrives once, in order");
        let r = self.result.as_ref().expect("the result arrived");
        assert_ne!(r["result"]["isError"], true, "{r}");
        assert_eq!(r["result"]["content"][0]["text"], text, "{r}");
        assert_eq!(self.next_seq, n + 3, "priming + {n} progress + result, nothing else");
    }
}

/// Waits (bounded) until `store` holds the answer to the call, i.e. the call finished.
async fn wait_for_result(store: &dyn EventStore, sid: &str, after: &str, call_id: i64) {
    let after = EventId::parse(after).expect("an event id");
    let deadline = Instant::now() + WAIT;
    loop {
        let events = store.replay_after(sid, &after).await.expect("replay").expect("the stream is retained");
        let done = events.iter().any(|e| {
            serde_json::from_slice::<Value>(&e.data).is_ok_and(|v| v["id"] == call_id && v.get("result").is_some())
        });
        if done {
            return;
        }
        assert!(Instant::now() < deadline, "the call did not finish within {WAIT:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Waits (bounded) until nothing listens on `addr` any more.
async fn wait_refused(addr: SocketAddr) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while TcpStream::connect(addr).await.is_ok() {
        assert!(Instant::now() < deadline, "the stopped server still accepts connections on {addr}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn store_cfg(store: Arc<dyn EventStore>) -> HttpConfig {
    let mut cfg = HttpConfig::default();
    cfg.event_store = Some(EventStoreHandle(store));
    cfg
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_store_resume_after_a_drop_delivers_every_event_once() {
    let srv = TestServer::start(HttpConfig::default());
    let sid = open_session(srv.addr).await;
    let resp = call(srv.addr, &sid, "count", 1).await;
    let mut tally = Tally::new(1);
    let mut post = resp.sse();
    assert!(!tally.read(&mut post, Some(20)).await, "the POST stream ended before 20 progress notifications");
    drop(post);
    assert_eq!(tally.progress.len(), 20);

    let resumed_at = Instant::now();
    let mut get = resume(srv.addr, &sid, &tally.last_id()).await;
    assert!(tally.read(&mut get, None).await);
    tally.assert_complete(STEPS, "counted");
    // The remaining ~80 steps take >= 400 ms: the GET replayed and then streamed live.
    assert!(resumed_at.elapsed() >= Duration::from_millis(100), "the resumed stream was attached to the live call");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_store_survives_repeated_drops_and_a_resume_after_the_call_finished() {
    let store = Arc::new(MemoryEventStore::new());
    let srv = TestServer::start(store_cfg(store.clone()));
    let sid = open_session(srv.addr).await;
    let mut tally = Tally::new(7);
    let mut post = call(srv.addr, &sid, "count", 7).await.sse();
    assert!(!tally.read(&mut post, Some(20)).await);
    drop(post);
    // Resume a live stream, drop again, twice.
    for stop in [45, 70] {
        let mut get = resume(srv.addr, &sid, &tally.last_id()).await;
        assert!(!tally.read(&mut get, Some(stop)).await, "the call ended before {stop} progress notifications");
    }
    // Resume once the call is over: a pure replay, then the stream ends.
    wait_for_result(&*store, &sid, &tally.last_id(), 7).await;
    let mut get = resume(srv.addr, &sid, &tally.last_id()).await;
    assert!(tally.read(&mut get, None).await);
    tally.assert_complete(STEPS, "counted");

    // Resuming from the last id again replays nothing and ends at once.
    let mut again = resume(srv.addr, &sid, &tally.last_id()).await;
    let ev = timeout(Duration::from_secs(5), again.next()).await.expect("the stream ends");
    assert!(ev.is_none(), "a resume after the last event replays nothing: {ev:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_store_resumes_a_stream_across_a_server_restart() {
    let db = TempDb::new("resume");
    let store: Arc<SqliteEventStore> = Arc::new(SqliteEventStore::open(&db.0).expect("open sqlite"));
    let first = TestServer::start(store_cfg(store.clone()));
    let sid = open_session(first.addr).await;
    let mut tally = Tally::new(3);
    let mut post = call(first.addr, &sid, "count", 3).await.sse();
    assert!(!tally.read(&mut post, Some(20)).await);
    drop(post);

    // The call runs to completion without a client (a disconnect is not a cancel).
    wait_for_result(&*store, &sid, &tally.last_id(), 3).await;
    let stored = store.event_count().await.expect("count");
    assert_eq!(stored, STEPS + 2, "priming + progress + result are stored");
    let old = first.addr;
    first.stop();
    drop(store);
    wait_refused(old).await;

    // A new process, in effect: new Server, new runtime, new port, same file.
    let store = SqliteEventStore::open(&db.0).expect("reopen sqlite");
    let second = TestServer::start(HttpConfig::default().event_store(store));
    assert_ne!(second.addr, old);
    let mut get = resume(second.addr, &sid, &tally.last_id()).await;
    assert!(tally.read(&mut get, None).await, "the replay of a finished stream ends");
    tally.assert_complete(STEPS, "counted");

    // The restored session keeps serving.
    let r = call(second.addr, &sid, "ping", 4).await;
    assert_eq!(r.status, 200);
    let v = r.json().await;
    assert_eq!(v["result"]["content"][0]["text"], "pong", "{v}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn close_sse_stream_ends_the_connection_and_the_client_polls_for_the_rest() {
    let srv = TestServer::start(HttpConfig::default());
    let sid = open_session(srv.addr).await;
    let started = Instant::now();
    let mut post = call(srv.addr, &sid, "poll", 5).await.sse();
    let mut tally = Tally::new(5);
    assert!(tally.read(&mut post, None).await, "the server closes the POST stream");
    assert!(tally.result.is_none(), "the result is not on the closed connection");
    assert_eq!(tally.progress, (1..=10).collect::<Vec<_>>(), "the events sent before the close arrive on the POST");
    assert!(started.elapsed() < Duration::from_secs(10), "the close is prompt");
    drop(post);

    let mut get = resume(srv.addr, &sid, &tally.last_id()).await;
    assert!(tally.read(&mut get, None).await);
    tally.assert_complete(20, "polled");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_an_event_store_streams_carry_no_ids() {
    let srv = TestServer::start(HttpConfig::default().without_event_store());
    let sid = open_session(srv.addr).await;
    let mut post = call(srv.addr, &sid, "count", 9).await.sse();
    let (mut progress, mut result) = (0, None);
    while let Some(ev) = post.next().await {
        assert!(ev.id.is_none() && ev.retry.is_none(), "no ids without an event store: {ev:?}");
        let v: Value = serde_json::from_str(&ev.data).expect("JSON");
        if v["method"] == "notifications/progress" {
            progress += 1;
        } else {
            result = Some(v);
        }
    }
    assert_eq!(progress, STEPS);
    assert_eq!(result.expect("result")["result"]["content"][0]["text"], "counted");
}

/// A client whose old connection went silent without closing (a half-open TCP
/// connection after a network change, or a stalled reader) resumes on a new connection:
/// the resume must not wait for the old connection to drain.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resume_while_the_old_connection_is_stalled_but_open() {
    // The flood (~10 MB) must stay replayable while the old connection holds it up: keep
    // more than the default 1 MiB per stream.
    let retention = Retention::default().with_max_bytes_per_stream(16 << 20);
    let srv = TestServer::start(HttpConfig::default().event_store(MemoryEventStore::with_retention(retention)));
    let sid = open_session(srv.addr).await;
    let mut post = call(srv.addr, &sid, "flood", 11).await.sse();
    let mut tally = Tally::new(11);
    assert!(!tally.read(&mut post, Some(5)).await);
    // `post` stays open but is no longer read. Let the server fill it up.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let mut get = resume(srv.addr, &sid, &tally.last_id()).await;
    let stalled = timeout(Duration::from_secs(10), tally.read(&mut get, None)).await.is_err();
    let got_while_stalled = tally.progress.len();
    // Closing the old connection unblocks the server (whatever happened above).
    drop(post);
    if stalled {
        assert!(tally.read(&mut get, None).await, "the resumed stream ends");
    }
    tally.assert_complete(FLOOD, "flooded");
    assert!(
        !stalled,
        "while the old connection stayed open the resume delivered {got_while_stalled} of {FLOOD} progress \
         notifications in 10 s (nothing after Last-Event-ID); the rest came only once the old connection closed"
    );
}

/// Waits (bounded) for a `tools/list_changed` event on `r`; `None` if the stream ends
/// or nothing comes within `within`. Returns the events seen before it too.
async fn list_changed(r: &mut SseReader, within: Duration) -> (Vec<Event>, Option<Event>) {
    let mut before = Vec::new();
    let found = timeout(within, async {
        while let Some(ev) = r.next().await {
            if ev.data.contains("notifications/tools/list_changed") {
                return Some(ev);
            }
            before.push(ev);
        }
        None
    })
    .await
    .unwrap_or(None);
    (before, found)
}

/// The standalone GET stream is resumable too: after a reconnection with
/// `Last-Event-ID` the client keeps receiving the session's notifications.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn standalone_get_stream_resumes_and_keeps_streaming() {
    let handle = server();
    let srv = TestServer::start_with(handle.clone(), HttpConfig::default());
    let sid = open_session(srv.addr).await;
    let headers = [("mcp-session-id", sid.as_str()), ("mcp-protocol-version", LEGACY), ("accept", "text/event-stream")];
    let mut get = send(srv.addr, "GET", &headers, "").await.sse();
    let priming = get.next().await.expect("a priming event");
    assert!(priming.data.is_empty() && priming.retry.is_some(), "{priming:?}");
    let stream = priming.id.as_deref().and_then(|id| id.rsplit_once('.')).expect("an id").0.to_owned();
    handle.registry().add_tool(ToolDef::new("extra1").handler(|_c: Context, _: NoArgs| async { "1" }));
    let (_, first) = list_changed(&mut get, Duration::from_secs(5)).await;
    let first = first.expect("list_changed on the standalone stream");
    assert_eq!(first.id.as_deref(), Some(format!("{stream}.2").as_str()));
    drop(get);
    tokio::time::sleep(Duration::from_millis(200)).await;

    let mut resumed = resume(srv.addr, &sid, first.id.as_deref().expect("id")).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    handle.registry().add_tool(ToolDef::new("extra2").handler(|_c: Context, _: NoArgs| async { "2" }));
    let (before, next) = list_changed(&mut resumed, Duration::from_secs(5)).await;
    for ev in &before {
        assert!(ev.data.is_empty(), "only priming events besides list_changed: {ev:?}");
    }
    let next = next.unwrap_or_else(|| {
        panic!(
            "GET {sid} with Last-Event-ID {:?}: no tools/list_changed within 5 s after a tool was added \
             (events before: {before:?}); the resumed standalone stream does not stream",
            first.id
        )
    });
    let (s, seq) = next.id.as_deref().and_then(|id| id.rsplit_once('.')).expect("an id");
    assert!(s != stream || seq.parse::<u64>().expect("seq") > 2, "no event is delivered twice: {next:?}");
}

/// A throwaway `redis-server` on a free loopback port, without persistence; killed on
/// drop. A missing `redis-server` fails the test (CI installs it).
struct RedisServer {
    child: std::process::Child,
    port: u16,
}

impl RedisServer {
    fn start() -> RedisServer {
        let port = std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port();
        let child = std::process::Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!("cannot start `redis-server` ({e}): install Redis (apt-get install redis-server)")
            });
        let server = RedisServer { child, port };
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "redis-server did not listen on {port} within 10 s");
            std::thread::sleep(Duration::from_millis(20));
        }
        server
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Two nodes share one Redis through `FERROMCP_EVENT_STORE=redis`: a call started on
/// node A, whose client lost the connection, is resumed with `Last-Event-ID` on node B,
/// which replays exactly the missed events and then serves the session.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_store_resumes_a_stream_on_another_node() {
    let redis = RedisServer::start();
    let url = format!("redis://127.0.0.1:{}/", redis.port);
    let vars = [("FERROMCP_EVENT_STORE", "redis"), ("FERROMCP_REDIS_URL", url.as_str())];
    let env = ferromcp::settings::Settings::from_lookup(|k| {
        vars.iter().find(|(name, _)| *name == k).map(|(_, v)| (*v).to_owned())
    })
    .expect("settings");
    let mut nodes = Vec::new();
    let mut stores = Vec::new();
    for _ in 0..2 {
        let store = ferromcp::settings::redis_event_store(&env).await.expect("connect").expect("redis is chosen");
        stores.push(store.clone());
        nodes.push(TestServer::start(env.apply_http(HttpConfig::default()).event_store(store)));
    }
    let (a, b) = (nodes[0].addr, nodes[1].addr);
    let sid = open_session(a).await;
    let mut tally = Tally::new(3);
    let mut post = call(a, &sid, "count", 3).await.sse();
    assert!(!tally.read(&mut post, Some(20)).await);
    drop(post);
    // Node B sees node A's events as they are appended, through Redis.
    wait_for_result(&stores[1], &sid, &tally.last_id(), 3).await;

    let mut get = resume(b, &sid, &tally.last_id()).await;
    assert!(tally.read(&mut get, None).await, "the replay of a finished stream ends");
    tally.assert_complete(STEPS, "counted");
    let r = call(b, &sid, "ping", 4).await;
    assert_eq!(r.status, 200, "node B serves the session it restored from Redis");
    let v = r.json().await;
    assert_eq!(v["result"]["content"][0]["text"], "pong", "{v}");
}
