//! Two nodes, one Redis: two in-process `Server`s, each with its own Redis connections
//! and its own HTTP listener on a port-0 loopback bind, sharing a
//! [`RedisSessionDirectory`], a Redis state store and a Redis event store under one key
//! prefix. A legacy (2025-11-25) session opened on one node is served, changed and ended
//! on the other; idle sessions expire exactly once for the cluster and leave nothing in
//! Redis; the cluster-wide session bound holds; a Redis outage answers 503, and the
//! cluster recovers when Redis returns. Every wait is bounded.

mod common;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use common::{RedisServer, raw_connection};
use ferromcp_core::session::{EndReason, SessionInfo, SessionLimits};
use ferromcp_core::state::ComponentFilter;
use ferromcp_core::{Context, NoArgs, Server, ToolDef};
use ferromcp_http::HttpConfig;
use ferromcp_redis::{RedisEventStore, RedisSessionDirectory, RedisStore, RedisStoreConfig};
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use tokio::net::{TcpListener, TcpStream};

const LEGACY: &str = "2025-11-25";
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// Hook calls per session id: created, ended, expired, shed.
#[derive(Default)]
struct Hooks(Mutex<HashMap<String, [u32; 4]>>);

impl Hooks {
    fn record(&self, s: &SessionInfo<'_>, slot: usize) {
        self.0.lock().unwrap().entry(s.id.to_owned()).or_default()[slot] += 1;
    }
    fn of(&self, id: &str) -> [u32; 4] {
        self.0.lock().unwrap().get(id).copied().unwrap_or_default()
    }
    fn total(&self, slot: usize) -> u32 {
        self.0.lock().unwrap().values().map(|c| c[slot]).sum()
    }
    fn max(&self, slot: usize) -> u32 {
        self.0.lock().unwrap().values().map(|c| c[slot]).max().unwrap_or(0)
    }
}

const CREATED: usize = 0;
const ENDED: usize = 1;
const EXPIRED: usize = 2;
const SHED: usize = 3;

async fn increment(ctx: Context, _: NoArgs) -> ferromcp_core::Result<String> {
    let n: i64 = ctx.state().update("n", |v: Option<i64>| v.unwrap_or(0) + 1).await?;
    Ok(n.to_string())
}

async fn level(ctx: Context, _: NoArgs) -> ferromcp_core::Result<String> {
    Ok(ctx.session().map_or(-1, |s| i64::from(s.log_rank())).to_string())
}

async fn hide(ctx: Context, _: NoArgs) -> ferromcp_core::Result<&'static str> {
    ctx.disable_components(ComponentFilter::names(["secret"])).await?;
    Ok("hidden")
}

/// Connects one node's own Redis clients (as a separate process would).
async fn redis_of(redis: &RedisServer, prefix: &str) -> RedisStore {
    let cfg = RedisStoreConfig::new(redis.url())
        .key_prefix(prefix)
        .response_timeout(Duration::from_millis(400))
        .connection_timeout(Duration::from_millis(400));
    RedisStore::with_config(cfg).await.expect("connect to redis")
}

fn node(store: &RedisStore, limits: SessionLimits, hooks: &Arc<Hooks>) -> Server {
    let (h1, h2, h3) = (hooks.clone(), hooks.clone(), hooks.clone());
    Server::builder("cluster", "1")
        .sealing_key([42u8; 32])
        .session_limits(limits)
        .state_store(store.clone())
        .session_directory(RedisSessionDirectory::from_store(store))
        .tool(ToolDef::new("increment").handler(increment))
        .tool(ToolDef::new("level").handler(level))
        .tool(ToolDef::new("hide").handler(hide))
        .tool(ToolDef::new("secret").handler(|_: Context, _: NoArgs| async { "secret" }))
        .on_session_created(move |s| h1.record(s, CREATED))
        .on_session_ended(move |s| h2.record(s, ENDED))
        .on_session_expired(move |s| h3.record(s, if s.end_reason == Some(EndReason::Shed) { SHED } else { EXPIRED }))
        .build()
}

/// Starts two nodes sharing `redis` under `prefix`; returns their addresses.
async fn cluster(redis: &RedisServer, prefix: &str, limits: SessionLimits, hooks: &Arc<Hooks>) -> [SocketAddr; 2] {
    let mut addrs = Vec::new();
    for _ in 0..2 {
        let store = redis_of(redis, prefix).await;
        let server = node(&store, limits, hooks);
        let cfg = HttpConfig::default().event_store(RedisEventStore::from_store(&store));
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        addrs.push(listener.local_addr().unwrap());
        tokio::spawn(ferromcp_http::serve_listener(server, listener, cfg));
    }
    [addrs[0], addrs[1]]
}

struct Client(SendRequest<Full<Bytes>>);

struct Resp {
    status: u16,
    session: Option<String>,
    body: Bytes,
}

impl Resp {
    /// The JSON-RPC message of the answer (a JSON body or the answer in an SSE stream).
    fn message(&self) -> Value {
        let text = String::from_utf8_lossy(&self.body);
        if let Ok(v) = serde_json::from_str::<Value>(&text) {
            return v;
        }
        text.lines()
            .filter_map(|l| l.strip_prefix("data:"))
            .filter_map(|d| serde_json::from_str::<Value>(d.trim()).ok())
            .find(|v| v.get("result").is_some() || v.get("error").is_some())
            .unwrap_or_else(|| panic!("no JSON-RPC answer in: {text}"))
    }
    fn result(&self, what: &str) -> Value {
        assert_eq!(self.status, 200, "{what}: {}", String::from_utf8_lossy(&self.body));
        let v = self.message();
        assert!(v.get("error").is_none(), "{what}: {v}");
        v["result"].clone()
    }
    fn tool_text(&self, what: &str) -> String {
        let r = self.result(what);
        assert_eq!(r["isError"], json!(false), "{what}: {r}");
        r["content"][0]["text"].as_str().unwrap_or_else(|| panic!("{what}: {r}")).to_owned()
    }
}

impl Client {
    async fn to(addr: SocketAddr) -> Client {
        let tcp = tokio::time::timeout(REQUEST_TIMEOUT, TcpStream::connect(addr)).await.unwrap().unwrap();
        tcp.set_nodelay(true).unwrap();
        let (tx, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tcp)).await.unwrap();
        tokio::spawn(conn);
        Client(tx)
    }

    async fn send(&mut self, method: &str, session: Option<&str>, body: String) -> Resp {
        let mut req = hyper::Request::builder()
            .method(method)
            .uri("/mcp")
            .header("host", "127.0.0.1")
            .header("content-type", "application/json")
            .header("accept", "application/json, text/event-stream");
        if let Some(id) = session {
            req = req.header("mcp-session-id", id).header("mcp-protocol-version", LEGACY);
        }
        let req = req.body(Full::new(Bytes::from(body))).unwrap();
        let exchange = async {
            self.0.ready().await.expect("connection ready");
            let resp = self.0.send_request(req).await.expect("request sent");
            let status = resp.status().as_u16();
            let session = resp.headers().get("mcp-session-id").map(|v| v.to_str().unwrap().to_owned());
            let body = resp.into_body().collect().await.expect("body").to_bytes();
            Resp { status, session, body }
        };
        tokio::time::timeout(REQUEST_TIMEOUT, exchange).await.expect("request timed out")
    }

    async fn post(&mut self, session: Option<&str>, body: Value) -> Resp {
        self.send("POST", session, body.to_string()).await
    }

    async fn call(&mut self, session: &str, tool: &str) -> Resp {
        let body = json!({"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":tool,"arguments":{}}});
        self.post(Some(session), body).await
    }

    /// initialize + notifications/initialized; returns the session id.
    async fn open(&mut self) -> String {
        let init = json!({"jsonrpc":"2.0","id":1,"method":"initialize","params":{
            "protocolVersion":LEGACY,"capabilities":{},"clientInfo":{"name":"cluster-test","version":"1"}}});
        let r = self.post(None, init).await;
        assert_eq!(r.result("initialize")["protocolVersion"], LEGACY);
        let id = r.session.expect("initialize answers with Mcp-Session-Id");
        let ack = self.post(Some(&id), json!({"jsonrpc":"2.0","method":"notifications/initialized"})).await;
        assert_eq!(ack.status, 202, "initialized: {}", String::from_utf8_lossy(&ack.body));
        id
    }
}

/// Every key under `prefix` but the event store's two global bookkeeping keys.
async fn keys_under(redis: &RedisServer, prefix: &str) -> Vec<String> {
    let mut con = raw_connection(redis).await;
    let keys: Vec<Vec<u8>> = redis::cmd("KEYS").arg(format!("{prefix}*")).query_async(&mut con).await.unwrap();
    let global = [format!("{prefix}ferromcp:ev:clock"), format!("{prefix}ferromcp:ev:lru")];
    keys.into_iter().map(|k| String::from_utf8_lossy(&k).into_owned()).filter(|k| !global.contains(k)).collect()
}

async fn wait_until(limit: Duration, what: &str, mut done: impl AsyncFnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !done().await {
        assert!(Instant::now() < deadline, "not within {limit:?}: {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_opened_on_one_node_is_served_changed_and_ended_on_the_other() {
    let redis = RedisServer::start();
    let hooks = Arc::new(Hooks::default());
    let [a, b] = cluster(&redis, "c1:", SessionLimits::default(), &hooks).await;
    let (mut ca, mut cb) = (Client::to(a).await, Client::to(b).await);
    let id = ca.open().await;

    // State follows the session from node to node.
    for (i, on_b) in [true, false, true, true, false].into_iter().enumerate() {
        let c = if on_b { &mut cb } else { &mut ca };
        assert_eq!(c.call(&id, "increment").await.tool_text("increment"), (i + 1).to_string());
    }
    // The log level set on A is the level on B.
    assert_eq!(cb.call(&id, "level").await.tool_text("level"), "0");
    let set = json!({"jsonrpc":"2.0","id":3,"method":"logging/setLevel","params":{"level":"error"}});
    ca.post(Some(&id), set).await.result("setLevel");
    assert_eq!(cb.call(&id, "level").await.tool_text("level on B"), "4", "B sees the level set on A");
    // A visibility overlay set on A hides the tool on B too.
    let list = json!({"jsonrpc":"2.0","id":4,"method":"tools/list"});
    let names = |r: Value| -> Vec<String> {
        r["tools"].as_array().unwrap().iter().map(|t| t["name"].as_str().unwrap().to_owned()).collect()
    };
    assert!(names(cb.post(Some(&id), list.clone()).await.result("list")).contains(&"secret".to_owned()));
    assert_eq!(ca.call(&id, "hide").await.tool_text("hide"), "hidden");
    assert!(
        !names(cb.post(Some(&id), list.clone()).await.result("list on B")).contains(&"secret".to_owned()),
        "B applies the overlay stored by A"
    );
    // GET on B opens the session's standalone stream.
    let mut get_client = Client::to(b).await;
    let get = hyper::Request::get("/mcp")
        .header("host", "127.0.0.1")
        .header("accept", "text/event-stream")
        .header("mcp-session-id", &id)
        .header("mcp-protocol-version", LEGACY)
        .body(Full::new(Bytes::new()))
        .unwrap();
    get_client.0.ready().await.unwrap();
    let resp = tokio::time::timeout(REQUEST_TIMEOUT, get_client.0.send_request(get)).await.unwrap().unwrap();
    assert_eq!(resp.status(), 200, "GET on the other node serves the session");
    assert_eq!(resp.headers()["content-type"], "text/event-stream");
    drop(resp);
    drop(get_client);

    // DELETE on B ends it on A too: one ended hook in the cluster, nothing left in Redis.
    assert_eq!(cb.send("DELETE", Some(&id), String::new()).await.status, 200);
    let r = ca.call(&id, "increment").await;
    assert_eq!(r.status, 404, "A's next request with the ended session: {}", String::from_utf8_lossy(&r.body));
    assert_eq!(cb.send("DELETE", Some(&id), String::new()).await.status, 404, "a session ends once");
    assert_eq!(hooks.of(&id), [1, 1, 0, 0], "created once, ended once, never expired");
    let left = keys_under(&redis, "c1:").await;
    assert!(left.is_empty(), "an ended session leaves no key in Redis: {left:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_session_expires_exactly_once_across_nodes_and_leaves_nothing() {
    const N: usize = 20;
    let redis = RedisServer::start();
    let hooks = Arc::new(Hooks::default());
    let idle = Duration::from_millis(300);
    let limits = SessionLimits::default().idle_timeout(Some(idle));
    let [a, b] = cluster(&redis, "c2:", limits, &hooks).await;
    let (mut ca, mut cb) = (Client::to(a).await, Client::to(b).await);
    let mut ids = Vec::new();
    for i in 0..N {
        let (first, second) = if i % 2 == 0 { (&mut ca, &mut cb) } else { (&mut cb, &mut ca) };
        let id = first.open().await;
        assert_eq!(second.call(&id, "increment").await.tool_text("increment"), "1");
        ids.push(id);
    }
    // One session kept in use on A by requests well inside the idle timeout lives on,
    // while the others expire and for two idle timeouts after.
    let live = ca.open().await;
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut all_expired_at: Option<Instant> = None;
    while all_expired_at.is_none_or(|t| t.elapsed() < idle * 2) {
        assert!(Instant::now() < deadline, "the idle sessions did not all expire within 10 s");
        ca.call(&live, "increment").await.tool_text("keep alive");
        tokio::time::sleep(idle / 4).await;
        if all_expired_at.is_none() && hooks.total(EXPIRED) as usize >= N {
            all_expired_at = Some(Instant::now());
        }
    }
    assert_eq!(hooks.total(EXPIRED) as usize, N, "each idle session expired once, the busy one not");
    assert_eq!(hooks.max(EXPIRED), 1, "no session expired twice");
    assert_eq!((hooks.total(ENDED), hooks.total(SHED)), (0, 0));
    for id in &ids {
        assert_eq!(hooks.of(id), [1, 0, 1, 0], "session {id}");
        for c in [&mut ca, &mut cb] {
            assert_eq!(c.call(id, "increment").await.status, 404, "an expired session is gone on both nodes");
        }
    }
    assert_eq!(hooks.of(&live)[EXPIRED], 0);
    assert_eq!(cb.send("DELETE", Some(&live), String::new()).await.status, 200);
    let left = keys_under(&redis, "c2:").await;
    assert!(left.is_empty(), "expired sessions leave no key in Redis: {left:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_session_bound_holds_for_the_whole_cluster() {
    let redis = RedisServer::start();
    let hooks = Arc::new(Hooks::default());
    let limits = SessionLimits::default().max_sessions(5).max_per_client(None);
    let [a, b] = cluster(&redis, "c3:", limits, &hooks).await;
    let (mut ca, mut cb) = (Client::to(a).await, Client::to(b).await);
    let mut ids = Vec::new();
    for i in 0..8 {
        ids.push(if i % 2 == 0 { ca.open().await } else { cb.open().await });
    }
    let mut con = raw_connection(&redis).await;
    let open: u64 = redis::cmd("ZCARD").arg("c3:ferromcp:dir:seen").query_async(&mut con).await.unwrap();
    assert_eq!(open, 5, "the cluster holds max_sessions sessions, not max_sessions per node");
    assert_eq!(hooks.total(SHED), 3, "the three least recently seen were shed");
    for (i, id) in ids.iter().enumerate() {
        let status = cb.call(id, "increment").await.status;
        let status_a = ca.call(id, "increment").await.status;
        let expected = if i < 3 { 404 } else { 200 };
        assert_eq!((status, status_a), (expected, expected), "session {i}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redis_outage_answers_503_and_the_cluster_recovers() {
    let mut redis = RedisServer::start();
    let port = redis.port();
    let hooks = Arc::new(Hooks::default());
    let [a, b] = cluster(&redis, "c4:", SessionLimits::default(), &hooks).await;
    let (mut ca, mut cb) = (Client::to(a).await, Client::to(b).await);
    let id = ca.open().await;
    assert_eq!(cb.call(&id, "increment").await.tool_text("increment"), "1");
    redis.kill();
    for c in [&mut ca, &mut cb] {
        let r = c.call(&id, "increment").await;
        assert_eq!(r.status, 503, "{}", String::from_utf8_lossy(&r.body));
        let e = r.message();
        assert_eq!(e["error"]["code"], -32603, "{e}");
        assert!(e["error"]["message"].as_str().unwrap().contains("session directory"), "{e}");
        let r = c
            .post(
                None,
                json!({"jsonrpc":"2.0","id":1,"method":"initialize","params":{
            "protocolVersion":LEGACY,"capabilities":{},"clientInfo":{"name":"t","version":"1"}}}),
            )
            .await;
        assert_eq!(r.status, 503, "initialize cannot register: {}", String::from_utf8_lossy(&r.body));
        assert_eq!(c.send("DELETE", Some(&id), String::new()).await.status, 503);
    }
    // Redis returns (empty: it kept nothing): new sessions work on both nodes again.
    let _redis = RedisServer::start_on(port);
    let mut fresh = None;
    wait_until(Duration::from_secs(10), "a session opens after Redis returned", async || {
        let init = json!({"jsonrpc":"2.0","id":1,"method":"initialize","params":{
            "protocolVersion":LEGACY,"capabilities":{},"clientInfo":{"name":"t","version":"1"}}});
        let r = ca.post(None, init).await;
        fresh = r.session.filter(|_| r.status == 200);
        fresh.is_some()
    })
    .await;
    let fresh = fresh.unwrap();
    assert_eq!(cb.call(&fresh, "increment").await.tool_text("after recovery on B"), "1");
    assert_eq!(ca.call(&fresh, "increment").await.tool_text("after recovery on A"), "2");
    assert_eq!(cb.call(&id, "increment").await.status, 404, "the session Redis lost is gone, cleanly");
}

/// The soak idea at small scale: 2,000 sessions over two nodes, each opened on one node
/// and used on the other, never DELETEd: every one expires exactly once in the cluster
/// and Redis ends empty.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_thousand_idle_sessions_on_two_nodes_expire_once_each() {
    const N: usize = 2_000;
    const WORKERS: usize = 16;
    let redis = RedisServer::start();
    let hooks = Arc::new(Hooks::default());
    let limits = SessionLimits::default().idle_timeout(Some(Duration::from_millis(1000))).max_per_client(None);
    let [a, b] = cluster(&redis, "c5:", limits, &hooks).await;
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut workers = Vec::new();
    for w in 0..WORKERS {
        let next = next.clone();
        workers.push(tokio::spawn(async move {
            let (mut first, mut second) = (Client::to(a).await, Client::to(b).await);
            if w % 2 == 1 {
                std::mem::swap(&mut first, &mut second);
            }
            let mut ids = Vec::new();
            while next.fetch_add(1, std::sync::atomic::Ordering::Relaxed) < N {
                let id = first.open().await;
                assert_eq!(second.call(&id, "increment").await.tool_text("increment"), "1");
                ids.push(id);
            }
            ids
        }));
    }
    let mut ids = Vec::new();
    for w in workers {
        ids.extend(tokio::time::timeout(Duration::from_secs(120), w).await.expect("sessions open in time").unwrap());
    }
    assert_eq!(ids.len(), N);
    wait_until(Duration::from_secs(30), "every session expired", async || hooks.total(EXPIRED) as usize >= N).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(hooks.total(EXPIRED) as usize, N);
    assert_eq!(hooks.max(EXPIRED), 1, "no session expired twice");
    assert_eq!((hooks.total(CREATED) as usize, hooks.total(ENDED), hooks.total(SHED)), (N, 0, 0));
    let left = keys_under(&redis, "c5:").await;
    assert!(left.is_empty(), "{} keys left in Redis, e.g. {:?}", left.len(), left.iter().take(5).collect::<Vec<_>>());
}
