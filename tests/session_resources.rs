//! Session resources (`ctx.session_resource*`) are created once per session and closed
//! exactly once when the session ends, whatever ends it: DELETE, idle expiry and shedding
//! over Streamable HTTP on loopback, a closed HTTP+SSE stream, and EOF on a line-delimited
//! (stdio) connection. Each test counts creations, close-hook runs and drops: 1, 1, 1 per
//! session. Plus the server lifespan: startup once, shutdown once when serving ends, a
//! failed startup stops serving with its error. Every wait is bounded.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use ferromcp::session::SessionLimits;
use ferromcp::transport::{LineConfig, serve_io};
use ferromcp::{Context, Error, NoArgs, Server, ServerBuilder, ToolDef};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;
use tokio::time::timeout;

const WAIT: Duration = Duration::from_secs(10);

/// How many resources were created, closed (hook) and dropped.
#[derive(Default)]
struct Counts {
    created: AtomicUsize,
    closed: AtomicUsize,
    dropped: AtomicUsize,
}

impl Counts {
    fn get(&self) -> (usize, usize, usize) {
        (self.created.load(Ordering::SeqCst), self.closed.load(Ordering::SeqCst), self.dropped.load(Ordering::SeqCst))
    }
    /// Waits (bounded) until the counts are `want`.
    async fn wait_for(&self, want: (usize, usize, usize)) {
        let ok = timeout(WAIT, async {
            while self.get() != want {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        })
        .await;
        assert!(ok.is_ok(), "counts (created, closed, dropped) stayed {:?}, want {want:?}", self.get());
    }
}

/// The per-session resource: its serial number, and the counts its drop bumps.
struct Tracker {
    serial: usize,
    counts: Arc<Counts>,
}

impl Drop for Tracker {
    fn drop(&mut self) {
        self.counts.dropped.fetch_add(1, Ordering::SeqCst);
    }
}

/// A server whose `use` tool takes the session's `tracker` resource and returns its serial.
fn builder(counts: &Arc<Counts>) -> ServerBuilder {
    let counts = counts.clone();
    Server::builder("resources", "1").tool(ToolDef::new("use").handler(move |ctx: Context, _: NoArgs| {
        let counts = counts.clone();
        async move {
            let t = ctx
                .session_resource_closing(
                    "tracker",
                    || async move {
                        // Slow enough that concurrent first calls overlap.
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        let serial = counts.created.fetch_add(1, Ordering::SeqCst);
                        Ok(Tracker { serial, counts })
                    },
                    |t: Arc<Tracker>| async move {
                        t.counts.closed.fetch_add(1, Ordering::SeqCst);
                    },
                )
                .await?;
            Ok::<_, Error>(t.serial.to_string())
        }
    }))
}

async fn start_http(server: Server, cfg: ferromcp::http::HttpConfig) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(ferromcp::http::serve_listener(server, listener, cfg));
    addr
}

/// One JSON-RPC message from a JSON or SSE answer body.
fn message(body: &str) -> Value {
    let text = body.lines().find_map(|l| l.strip_prefix("data:")).unwrap_or(body);
    serde_json::from_str(text.trim()).unwrap_or_else(|e| panic!("not JSON-RPC ({e}): {body}"))
}

/// A Streamable HTTP (2025-11-25) client of one session.
struct HttpSession {
    http: reqwest::Client,
    url: String,
    id: String,
}

impl HttpSession {
    async fn open(addr: SocketAddr) -> HttpSession {
        let http = reqwest::Client::new();
        let url = format!("http://{addr}/mcp");
        let init = json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
            "protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "t", "version": "0"}}});
        let resp = timeout(WAIT, post(&http, &url, None, &init)).await.unwrap();
        assert_eq!(resp.status(), 200);
        let id = resp.headers()["mcp-session-id"].to_str().unwrap().to_owned();
        let s = HttpSession { http, url, id };
        let note = json!({"jsonrpc": "2.0", "method": "notifications/initialized"});
        assert_eq!(timeout(WAIT, post(&s.http, &s.url, Some(&s.id), &note)).await.unwrap().status(), 202);
        s
    }

    /// Calls `use`; the resource's serial.
    async fn use_resource(&self, id: u64) -> Result<String, Value> {
        let req =
            json!({"jsonrpc": "2.0", "id": id, "method": "tools/call", "params": {"name": "use", "arguments": {}}});
        let resp = timeout(WAIT, post(&self.http, &self.url, Some(&self.id), &req)).await.unwrap();
        let status = resp.status();
        let body = resp.text().await.unwrap();
        if status != 200 {
            return Err(json!({"status": status.as_u16(), "body": body}));
        }
        let msg = message(&body);
        let result = &msg["result"];
        if result["isError"] == json!(true) || msg.get("error").is_some() {
            return Err(msg);
        }
        Ok(result["content"][0]["text"].as_str().unwrap().to_owned())
    }

    async fn delete(&self) -> u16 {
        let req = self.http.delete(&self.url).header("mcp-session-id", &self.id);
        timeout(WAIT, req.send()).await.unwrap().unwrap().status().as_u16()
    }
}

async fn post(http: &reqwest::Client, url: &str, session: Option<&str>, body: &Value) -> reqwest::Response {
    let mut req = http
        .post(url)
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .header("mcp-protocol-version", "2025-11-25");
    if let Some(s) = session {
        req = req.header("mcp-session-id", s);
    }
    req.body(body.to_string()).send().await.unwrap()
}

#[tokio::test]
async fn http_delete_closes_the_sessions_resource_once_and_concurrent_first_calls_create_one() {
    let counts = Arc::new(Counts::default());
    let server = builder(&counts).build();
    let addr = start_http(server.clone(), Default::default()).await;
    let s = HttpSession::open(addr).await;
    let calls = (0..8).map(|i| s.use_resource(10 + i));
    let serials: Vec<String> = futures_join_all(calls).await.into_iter().map(Result::unwrap).collect();
    assert!(serials.iter().all(|x| x == "0"), "one resource for every call: {serials:?}");
    assert_eq!(s.use_resource(30).await.unwrap(), "0");
    assert_eq!(counts.get(), (1, 0, 0));

    let other = HttpSession::open(addr).await;
    assert_eq!(other.use_resource(1).await.unwrap(), "1", "another session has its own");
    assert_eq!(s.delete().await, 200);
    // DELETE awaits the close hook before it answers; the drop follows the last Arc.
    assert_eq!(counts.closed.load(Ordering::SeqCst), 1);
    counts.wait_for((2, 1, 1)).await;
    assert!(s.use_resource(31).await.is_err(), "the ended session is gone");
    assert_eq!(other.use_resource(2).await.unwrap(), "1", "the other session keeps its resource");
    assert_eq!(other.delete().await, 200);
    counts.wait_for((2, 2, 2)).await;
}

#[tokio::test]
async fn http_idle_expiry_closes_the_sessions_resource_once() {
    let counts = Arc::new(Counts::default());
    let limits = SessionLimits::default().idle_timeout(Some(Duration::from_millis(300)));
    let server = builder(&counts).session_limits(limits).build();
    let addr = start_http(server.clone(), Default::default()).await;
    let s = HttpSession::open(addr).await;
    assert_eq!(s.use_resource(2).await.unwrap(), "0");
    counts.wait_for((1, 1, 1)).await;
    assert_eq!(server.sessions().metrics().expired, 1, "the reaper ended it");
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(counts.get(), (1, 1, 1), "closed exactly once");
}

#[tokio::test]
async fn http_shedding_closes_the_shed_sessions_resource_once() {
    let counts = Arc::new(Counts::default());
    let limits = SessionLimits::default().max_sessions(1).max_per_client(None);
    let server = builder(&counts).session_limits(limits).build();
    let addr = start_http(server.clone(), Default::default()).await;
    let first = HttpSession::open(addr).await;
    assert_eq!(first.use_resource(2).await.unwrap(), "0");
    let second = HttpSession::open(addr).await;
    counts.wait_for((1, 1, 1)).await;
    assert_eq!(server.sessions().metrics().shed, 1, "the first session was shed");
    assert_eq!(second.use_resource(2).await.unwrap(), "1");
    assert_eq!(counts.get(), (2, 1, 1), "only the shed session's resource is closed");
}

#[tokio::test]
async fn http_sse_disconnect_closes_the_connections_resource_once() {
    let counts = Arc::new(Counts::default());
    let server = builder(&counts).build();
    let addr = start_http(server.clone(), ferromcp::http::HttpConfig::default().legacy_sse(true)).await;
    let http = reqwest::Client::new();
    let mut sse = timeout(WAIT, http.get(format!("http://{addr}/sse")).header("accept", "text/event-stream").send())
        .await
        .unwrap()
        .unwrap();
    let mut seen = String::new();
    // Reads the stream until `pred` holds for what arrived so far.
    async fn until(sse: &mut reqwest::Response, seen: &mut String, pred: impl Fn(&str) -> bool) {
        timeout(WAIT, async {
            while !pred(seen) {
                let chunk = sse.chunk().await.unwrap().expect("the SSE stream ended");
                seen.push_str(&String::from_utf8_lossy(&chunk));
            }
        })
        .await
        .expect("the SSE stream did not say it in time");
    }
    until(&mut sse, &mut seen, |s| s.contains("/messages?")).await;
    let endpoint = seen.lines().find_map(|l| l.strip_prefix("data:")).unwrap().trim().to_owned();
    let endpoint = format!("http://{addr}{endpoint}");
    let init = json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2024-11-05", "capabilities": {}, "clientInfo": {"name": "t", "version": "0"}}});
    let send = |body: Value| {
        let (http, endpoint) = (http.clone(), endpoint.clone());
        async move {
            let r = http.post(&endpoint).header("content-type", "application/json").body(body.to_string()).send();
            assert_eq!(timeout(WAIT, r).await.unwrap().unwrap().status(), 202);
        }
    };
    send(init).await;
    send(json!({"jsonrpc": "2.0", "method": "notifications/initialized"})).await;
    for id in [2, 3] {
        send(json!({"jsonrpc": "2.0", "id": id, "method": "tools/call", "params": {"name": "use", "arguments": {}}}))
            .await;
    }
    until(&mut sse, &mut seen, |s| s.matches("\"text\":\"0\"").count() == 2).await;
    assert_eq!(counts.get(), (1, 0, 0));
    drop(sse);
    counts.wait_for((1, 1, 1)).await;
}

/// The task serving one in-process line-delimited connection (inside the lifespan).
type Serving = tokio::task::JoinHandle<Result<std::io::Result<()>, Error>>;

/// A line-delimited (stdio) connection to `server` over an in-process pipe, served as
/// `serve_stdio` serves stdin/stdout (inside the lifespan): the serving task, the lines the
/// server writes, and the client's writing half.
fn stdio_pipe(
    server: &Server,
) -> (
    Serving,
    tokio::io::Lines<BufReader<tokio::io::ReadHalf<tokio::io::DuplexStream>>>,
    tokio::io::WriteHalf<tokio::io::DuplexStream>,
) {
    let (client, server_end) = tokio::io::duplex(64 * 1024);
    let (sr, sw) = tokio::io::split(server_end);
    let serving = tokio::spawn({
        let server = server.clone();
        async move { server.run(serve_io(server.clone(), sr, sw, LineConfig::default())).await }
    });
    let (cr, cw) = tokio::io::split(client);
    (serving, BufReader::new(cr).lines(), cw)
}

/// A line-delimited (stdio) connection over an in-process pipe, served as `serve_stdio`
/// serves stdin/stdout: inside the server's lifespan.
#[tokio::test]
async fn stdio_eof_closes_the_connections_resource_once() {
    let counts = Arc::new(Counts::default());
    let server = builder(&counts).build();
    let (serving, mut lines, mut cw) = stdio_pipe(&server);
    let init = json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "t", "version": "0"}}});
    let mut out = format!("{init}\n{}\n", json!({"jsonrpc": "2.0", "method": "notifications/initialized"}));
    for id in 2..6 {
        out.push_str(
            &json!({"jsonrpc": "2.0", "id": id, "method": "tools/call", "params": {"name": "use", "arguments": {}}})
                .to_string(),
        );
        out.push('\n');
    }
    cw.write_all(out.as_bytes()).await.unwrap();
    let mut serials = Vec::new();
    while serials.len() < 4 {
        let line = timeout(WAIT, lines.next_line()).await.unwrap().unwrap().expect("the server hung up");
        let msg: Value = serde_json::from_str(&line).unwrap();
        if msg["id"].as_u64().is_some_and(|id| id >= 2) {
            serials.push(msg["result"]["content"][0]["text"].as_str().unwrap().to_owned());
        }
    }
    assert_eq!(serials, ["0"; 4], "one resource for the connection's concurrent calls");
    assert_eq!(counts.get(), (1, 0, 0));
    cw.shutdown().await.unwrap();
    drop(cw);
    timeout(WAIT, serving).await.unwrap().unwrap().unwrap().unwrap();
    // The connection's end awaited the close hook before serving returned.
    assert_eq!(counts.closed.load(Ordering::SeqCst), 1);
    counts.wait_for((1, 1, 1)).await;
}

#[tokio::test]
async fn a_modern_http_request_is_refused_a_session_resource_with_a_clear_error() {
    let counts = Arc::new(Counts::default());
    let server = builder(&counts).build();
    let addr = start_http(server, Default::default()).await;
    let meta = json!({"io.modelcontextprotocol/protocolVersion": "2026-07-28", "io.modelcontextprotocol/clientCapabilities": {}});
    let req = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "use", "arguments": {}, "_meta": meta}});
    let http = reqwest::Client::new();
    let resp = http
        .post(format!("http://{addr}/mcp"))
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .header("mcp-protocol-version", "2026-07-28")
        .header("mcp-method", "tools/call")
        .header("mcp-name", "use")
        .body(req.to_string())
        .send();
    let body = timeout(WAIT, resp).await.unwrap().unwrap().text().await.unwrap();
    let msg = message(&body);
    let text = msg.to_string();
    assert!(text.contains("session resources need a session"), "{text}");
    assert!(text.contains("lifespan"), "the error says what to do instead: {text}");
    assert_eq!(counts.get(), (0, 0, 0));
}

/// The lifespan: startup once before serving, its value reachable from handlers,
/// shutdown once when serving ends.
#[tokio::test]
async fn the_lifespan_starts_once_is_reachable_from_handlers_and_shuts_down_when_stdio_ends() {
    struct Db {
        name: &'static str,
    }
    let (starts, stops) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let (s2, st2) = (starts.clone(), stops.clone());
    let server =
        Server::builder("life", "1")
            .lifespan_with_shutdown(
                move || async move {
                    s2.fetch_add(1, Ordering::SeqCst);
                    Ok(Db { name: "main-db" })
                },
                move |db: Arc<Db>| async move {
                    assert_eq!(db.name, "main-db");
                    st2.fetch_add(1, Ordering::SeqCst);
                },
            )
            .tool(ToolDef::new("db").handler(|ctx: Context, _: NoArgs| async move {
                Ok::<_, Error>(ctx.lifespan::<Db>()?.name.to_owned())
            }))
            .tool(ToolDef::new("wrong").handler(|ctx: Context, _: NoArgs| async move {
                Ok::<_, Error>(ctx.lifespan::<String>()?.to_string())
            }))
            .build();
    let (serving, mut lines, mut cw) = stdio_pipe(&server);
    let meta = json!({"io.modelcontextprotocol/protocolVersion": "2026-07-28", "io.modelcontextprotocol/clientCapabilities": {}});
    for (id, tool) in [(1, "db"), (2, "wrong")] {
        let req = json!({"jsonrpc": "2.0", "id": id, "method": "tools/call", "params": {"name": tool, "arguments": {}, "_meta": meta}});
        cw.write_all(format!("{req}\n").as_bytes()).await.unwrap();
        let line = timeout(WAIT, lines.next_line()).await.unwrap().unwrap().unwrap();
        let msg: Value = serde_json::from_str(&line).unwrap();
        let text = msg.to_string();
        if tool == "db" {
            assert_eq!(msg["result"]["content"][0]["text"], "main-db", "{text}");
        } else {
            assert!(text.contains("not a `alloc::string::String`"), "{text}");
        }
    }
    server.start().await.unwrap();
    assert_eq!((starts.load(Ordering::SeqCst), stops.load(Ordering::SeqCst)), (1, 0), "started once");
    cw.shutdown().await.unwrap();
    drop(cw);
    timeout(WAIT, serving).await.unwrap().unwrap().unwrap().unwrap();
    assert_eq!((starts.load(Ordering::SeqCst), stops.load(Ordering::SeqCst)), (1, 1));
    server.shutdown().await;
    assert_eq!(stops.load(Ordering::SeqCst), 1, "shutdown runs once");
}

#[tokio::test]
async fn a_failed_lifespan_startup_stops_http_serving_with_its_error() {
    let server = Server::builder("life", "1")
        .lifespan(|| async { Err::<(), _>(Error::Other("database unreachable at db:5432".into())) })
        .build();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let served = timeout(WAIT, ferromcp::http::serve_listener(server, listener, Default::default())).await.unwrap();
    let e = served.unwrap_err().to_string();
    assert!(e.contains("database unreachable at db:5432"), "{e}");
    assert!(tokio::net::TcpStream::connect(addr).await.is_err(), "nothing listens after a failed startup");
}

#[tokio::test]
async fn http_serve_with_shutdown_runs_the_lifespan_shutdown_once() {
    let stops = Arc::new(AtomicUsize::new(0));
    let st = stops.clone();
    let server = Server::builder("life", "1")
        .lifespan_with_shutdown(
            || async { Ok(7u32) },
            move |_v: Arc<u32>| async move {
                st.fetch_add(1, Ordering::SeqCst);
            },
        )
        .tool(
            ToolDef::new("seven")
                .handler(|ctx: Context, _: NoArgs| async move { Ok::<_, Error>(ctx.lifespan::<u32>()?.to_string()) }),
        )
        .build();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let serving = tokio::spawn(ferromcp::http::serve_with_shutdown(server, listener, Default::default(), async {
        let _ = rx.await;
    }));
    let s = HttpSession::open(addr).await;
    let req = json!({"jsonrpc": "2.0", "id": 5, "method": "tools/call", "params": {"name": "seven", "arguments": {}}});
    let body = post(&s.http, &s.url, Some(&s.id), &req).await.text().await.unwrap();
    assert_eq!(message(&body)["result"]["content"][0]["text"], "7");
    assert_eq!(stops.load(Ordering::SeqCst), 0);
    tx.send(()).unwrap();
    timeout(WAIT, serving).await.unwrap().unwrap().unwrap();
    assert_eq!(stops.load(Ordering::SeqCst), 1);
}

/// Runs futures concurrently on this task (no extra dependency).
async fn futures_join_all<F: std::future::Future>(fs: impl Iterator<Item = F>) -> Vec<F::Output> {
    let fs: Vec<_> = fs.map(Box::pin).collect();
    let mut out: Vec<Option<F::Output>> = fs.iter().map(|_| None).collect();
    let mut fs: Vec<_> = fs.into_iter().map(Some).collect();
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for (i, f) in fs.iter_mut().enumerate() {
            if let Some(fut) = f {
                match fut.as_mut().poll(cx) {
                    std::task::Poll::Ready(v) => {
                        out[i] = Some(v);
                        *f = None;
                    }
                    std::task::Poll::Pending => pending = true,
                }
            }
        }
        if pending { std::task::Poll::Pending } else { std::task::Poll::Ready(()) }
    })
    .await;
    out.into_iter().map(Option::unwrap).collect()
}
