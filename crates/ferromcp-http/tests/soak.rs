//! Soak tests of legacy (2025-11-25) Streamable HTTP sessions, over real HTTP on
//! loopback, with bounded counts and bounded waits.
//!
//! - `idle_sessions_expire_and_give_everything_back`: 20,000 sessions (two rounds of
//!   10,000 after a warm-up round of 10,000), each `initialize` + `notifications/initialized` + one
//!   `tools/call remember` that writes session state, 32 at a time, never DELETEd. The
//!   1 s idle timeout reaps them all; every session fires the created and the expired hook
//!   exactly once, the state store ends empty, and memory comes back.
//! - `a_full_registry_sheds_instead_of_refusing`: 3,000 sessions into a table of 500:
//!   no request ever fails, 2,500 are shed (hooked, then 404), the 500 newest still work.
//! - `delete_fires_the_ended_hook_once_and_clears_state`: the DELETE path of the hooks.
//!
//! Figures are printed; see them with `cargo test -p ferromcp-http --test soak -- --nocapture`.
//!
//! # How memory is checked
//! Freed memory is not always returned to the OS: glibc's malloc keeps freed chunks in
//! its arenas, and runtime and allocator pools grow to the peak concurrency. So the
//! baseline is taken after a warm-up round as large as the measured ones has come and
//! gone (the pools are at their working size: a smaller warm-up of 3,000 peaked at fewer
//! open sessions than a round, and the arenas it left were sometimes 10-12% short of a
//! round's), and both measurements call glibc's `malloc_trim(0)` first, so
//! RSS shows memory still in use. After 20,000 more sessions expire, that must be within
//! 10% of the baseline. A second check needs no trim: RSS after round 2 must be within
//! 10% of RSS after round 1 (growth between equal rounds is what a leak looks like; with
//! RSS near 16 MiB, a leak of ~170 bytes per session fails it).
//! Everything the test itself records is preallocated, and its pages written once,
//! before the baseline (untouched capacity is not resident and would show up as growth).

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine as _;
use bytes::Bytes;
use ferromcp_core::session::{EndReason, SessionInfo, SessionLimits};
use ferromcp_core::state::{MemoryStore, StateStore};
use ferromcp_core::{Context, NoArgs, Server, ToolDef};
use ferromcp_http::HttpConfig;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use serde_json::Value;
use tokio::net::{TcpListener, TcpStream};

const CONCURRENCY: usize = 32;
const LEGACY: &str = "2025-11-25";
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// The two tests measure RSS and throughput: never run them at the same time.
static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|p| p.into_inner())
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap()
}

unsafe extern "C" {
    /// glibc: return free heap memory held in the allocator's caches to the OS.
    fn malloc_trim(pad: usize) -> i32;
}

/// RSS after glibc hands its cached free memory back, i.e. the memory still in use.
fn live_rss_kib() -> u64 {
    // SAFETY: malloc_trim only releases free memory; it is safe to call at any time.
    unsafe {
        malloc_trim(0);
    }
    rss_kib()
}

/// Process RSS in KiB (`VmRSS` of `/proc/self/status`).
fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).expect("VmRSS line");
    line.split_whitespace().nth(1).and_then(|n| n.parse().ok()).expect("VmRSS value")
}

fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

/// A session id (22 base64url chars, 128 bits) as a number: compact, no allocation.
fn key(id: &str) -> u128 {
    let mut b = [0u8; 16];
    let n = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode_slice(id, &mut b).expect("base64url id");
    assert_eq!(n, 16, "a session id is 128 bits: {id}");
    u128::from_be_bytes(b)
}

fn id_of(key: u128) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(key.to_be_bytes())
}

const CREATED: usize = 0;
const ENDED: usize = 1;
const EXPIRED: usize = 2;
const SHED: usize = 3;

/// What the lifecycle hooks saw, per session id; preallocated so recording allocates nothing.
struct Hooks {
    seen: Mutex<HashMap<u128, [u32; 4]>>,
    /// Ids in the order their created hook ran.
    order: Mutex<Vec<u128>>,
}

impl Hooks {
    fn new(capacity: usize) -> Arc<Self> {
        let mut seen = HashMap::with_capacity(capacity);
        seen.extend((0..capacity as u128).map(|k| (k, [0; 4])));
        seen.clear();
        Arc::new(Hooks { seen: Mutex::new(seen), order: Mutex::new(prefaulted(capacity)) })
    }
    fn record(&self, info: &SessionInfo<'_>, what: usize) {
        assert_eq!(info.protocol_version, Some(LEGACY));
        assert_eq!(info.client_info.map(|c| c.name.as_str()), Some("soak"));
        let k = key(info.id);
        self.seen.lock().unwrap().entry(k).or_default()[what] += 1;
        if what == CREATED {
            self.order.lock().unwrap().push(k);
        }
    }
    fn snapshot(&self) -> HashMap<u128, [u32; 4]> {
        self.seen.lock().unwrap().clone()
    }
}

/// An empty vector whose whole capacity has been written once, so filling it later
/// adds nothing to RSS (untouched capacity is not resident; the memory check must see
/// the server, not the test's own records growing into their preallocation).
fn prefaulted(capacity: usize) -> Vec<u128> {
    let mut v = vec![0u128; capacity];
    v.clear();
    v
}

/// The `remember` tool: writes this session's state.
async fn remember_tool(ctx: Context, _: NoArgs) -> ferromcp_core::Result<&'static str> {
    ctx.state().set("note", "kept until the session ends").await?;
    Ok("remembered")
}

fn server(limits: SessionLimits, store: MemoryStore, hooks: &Arc<Hooks>) -> Server {
    let (h1, h2, h3) = (hooks.clone(), hooks.clone(), hooks.clone());
    Server::builder("soak", "1")
        .session_limits(limits)
        .state_store(store)
        .tool(ToolDef::new("remember").handler(remember_tool))
        .on_session_created(move |s| h1.record(s, CREATED))
        .on_session_ended(move |s| h2.record(s, ENDED))
        .on_session_expired(move |s| h3.record(s, if s.end_reason == Some(EndReason::Shed) { SHED } else { EXPIRED }))
        .build()
}

/// Serves `server` on an ephemeral loopback port (reaper included); stops with the runtime.
async fn start(server: Server) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(ferromcp_http::serve_listener(server, listener, HttpConfig::default()));
    addr
}

async fn connect(addr: SocketAddr) -> SendRequest<Full<Bytes>> {
    let tcp = TcpStream::connect(addr).await.unwrap();
    tcp.set_nodelay(true).unwrap();
    let (tx, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tcp)).await.unwrap();
    tokio::spawn(conn);
    tx
}

struct Resp {
    status: u16,
    session: Option<String>,
    body: Bytes,
}

impl Resp {
    /// The JSON-RPC result of a successful call; panics with the body otherwise.
    fn result(&self, what: &str) -> Value {
        assert_eq!(self.status, 200, "{what}: {}", String::from_utf8_lossy(&self.body));
        let v: Value = serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("{what}: not JSON ({e}): {}", String::from_utf8_lossy(&self.body)));
        assert!(v.get("error").is_none(), "{what}: {v}");
        v["result"].clone()
    }
}

async fn post(tx: &mut SendRequest<Full<Bytes>>, session: Option<&str>, body: &'static str) -> Resp {
    let mut req = hyper::Request::post("/mcp")
        .header("host", "127.0.0.1")
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream");
    if let Some(id) = session {
        req = req.header("mcp-session-id", id).header("mcp-protocol-version", LEGACY);
    }
    let req = req.body(Full::new(Bytes::from_static(body.as_bytes()))).unwrap();
    let exchange = async {
        tx.ready().await.expect("connection ready");
        let resp = tx.send_request(req).await.expect("request sent");
        let status = resp.status().as_u16();
        let session = resp.headers().get("mcp-session-id").map(|v| v.to_str().unwrap().to_owned());
        let body = resp.into_body().collect().await.expect("body").to_bytes();
        Resp { status, session, body }
    };
    tokio::time::timeout(REQUEST_TIMEOUT, exchange).await.expect("request timed out")
}

const INITIALIZE: &str = r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"soak","version":"1"}}}"#;
const INITIALIZED: &str = r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#;
const REMEMBER: &str = r#"{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"remember","arguments":{}}}"#;

async fn remember(tx: &mut SendRequest<Full<Bytes>>, id: &str) {
    let result = post(tx, Some(id), REMEMBER).await.result("tools/call remember");
    assert_eq!(result["isError"], Value::Bool(false), "{result}");
}

/// One full legacy session: initialize, initialized, one call. Returns its id.
async fn open_session(tx: &mut SendRequest<Full<Bytes>>) -> String {
    let init = post(tx, None, INITIALIZE).await;
    let result = init.result("initialize");
    assert_eq!(result["protocolVersion"], LEGACY);
    let id = init.session.expect("initialize answers with Mcp-Session-Id");
    let ack = post(tx, Some(&id), INITIALIZED).await;
    assert_eq!(ack.status, 202, "notifications/initialized: {}", String::from_utf8_lossy(&ack.body));
    remember(tx, &id).await;
    id
}

/// Opens `n` sessions over the pooled connections, `CONCURRENCY` at a time; the ids go to
/// `opened` (preallocated by the caller).
async fn open_many(conns: &mut Vec<SendRequest<Full<Bytes>>>, n: usize, opened: &Arc<Mutex<Vec<u128>>>) -> Duration {
    let started = Instant::now();
    let next = Arc::new(AtomicUsize::new(0));
    let workers: Vec<_> = conns
        .drain(..)
        .map(|mut tx| {
            let (next, opened) = (next.clone(), opened.clone());
            tokio::spawn(async move {
                while next.fetch_add(1, Ordering::Relaxed) < n {
                    let id = open_session(&mut tx).await;
                    opened.lock().unwrap().push(key(&id));
                }
                tx
            })
        })
        .collect();
    for w in workers {
        conns.push(w.await.expect("a client worker failed"));
    }
    started.elapsed()
}

/// Waits (at most `limit`) until `done()`; panics with `what` otherwise.
async fn wait_until(limit: Duration, what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !done() {
        assert!(Instant::now() < deadline, "not within {limit:?}: {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[test]
fn idle_sessions_expire_and_give_everything_back() {
    const WARM_UP: usize = ROUND;
    const ROUND: usize = 10_000;
    const TOTAL: usize = WARM_UP + 2 * ROUND;
    let _serial = serial();
    runtime().block_on(async {
        let store = MemoryStore::new();
        let hooks = Hooks::new(TOTAL + 64);
        let opened = Arc::new(Mutex::new(prefaulted(TOTAL)));
        let limits = SessionLimits::default()
            .idle_timeout(Some(Duration::from_secs(1)))
            .max_sessions(100_000)
            .max_per_client(None);
        let server = server(limits, store.clone(), &hooks);
        let addr = start(server.clone()).await;
        let mut conns = Vec::with_capacity(CONCURRENCY);
        for _ in 0..CONCURRENCY {
            conns.push(connect(addr).await);
        }
        // Peak RSS, sampled while the rounds run.
        let peak = Arc::new(std::sync::atomic::AtomicU64::new(0));
        let sampler = {
            let peak = peak.clone();
            tokio::spawn(async move {
                loop {
                    peak.fetch_max(rss_kib(), Ordering::Relaxed);
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            })
        };
        let drained = |what: &'static str| {
            let (server, store) = (server.clone(), store.clone());
            async move {
                wait_until(Duration::from_secs(15), what, || server.sessions().metrics().open == 0 && store.is_empty())
                    .await;
            }
        };

        open_many(&mut conns, WARM_UP, &opened).await;
        drained("warm-up sessions expire").await;
        let baseline = rss_kib();
        let live_baseline = live_rss_kib();

        let mut after = Vec::new();
        for round in 1..=2 {
            let took = open_many(&mut conns, ROUND, &opened).await;
            let open_now = server.sessions().metrics().open;
            let expiring = Instant::now();
            drained("round sessions expire and their state is cleared").await;
            after.push(rss_kib());
            println!(
                "round {round}: {ROUND} sessions in {:.2} s = {:.0} sessions/s ({:.0} requests/s); \
                 {open_now} open at the end, all expired and cleared {:.2} s later",
                took.as_secs_f64(),
                ROUND as f64 / took.as_secs_f64(),
                3.0 * ROUND as f64 / took.as_secs_f64(),
                expiring.elapsed().as_secs_f64()
            );
        }
        sampler.abort();
        let live_after = live_rss_kib();
        println!(
            "live RSS (after malloc_trim): baseline {:.1} MiB, after both rounds {:.1} MiB ({:+.1}%)",
            mib(live_baseline),
            mib(live_after),
            (live_after as f64 / live_baseline as f64 - 1.0) * 100.0
        );
        assert!(
            live_after * 100 <= live_baseline * 110,
            "server memory did not return to within 10% of its baseline: {live_baseline} KiB -> {live_after} KiB"
        );
        let peak = peak.load(Ordering::Relaxed);
        println!(
            "RSS: baseline {:.1} MiB (after {WARM_UP} warm-up sessions expired), peak {:.1} MiB, \
             after round 1 {:.1} MiB, after round 2 {:.1} MiB ({:+.1}% round over round)",
            mib(baseline),
            mib(peak),
            mib(after[0]),
            mib(after[1]),
            (after[1] as f64 / after[0] as f64 - 1.0) * 100.0
        );
        assert!(
            after[1] * 100 <= after[0] * 110,
            "RSS grew by more than 10% between two equal rounds: {} KiB -> {} KiB",
            after[0],
            after[1]
        );

        // Every session the client opened fired created and expired exactly once.
        let opened: Vec<u128> = opened.lock().unwrap().clone();
        assert_eq!(opened.len(), TOTAL);
        let unique: HashSet<u128> = opened.iter().copied().collect();
        assert_eq!(unique.len(), TOTAL, "session ids are unique");
        let seen = hooks.snapshot();
        assert_eq!(seen.len(), TOTAL, "hooks saw exactly the sessions the client opened");
        for k in &opened {
            assert_eq!(seen.get(k), Some(&[1, 0, 1, 0]), "session {}: [created, ended, expired, shed]", id_of(*k));
        }
        let m = server.sessions().metrics();
        let total = TOTAL as u64;
        assert_eq!((m.open, m.created, m.ended, m.expired, m.shed), (0, total, 0, total, 0), "{m:?}");
        assert!(server.metrics_text().contains(&format!("ferromcp_sessions_expired_total {TOTAL}\n")));

        // No state left behind, for any of them.
        assert_eq!(store.len(), 0, "the state store is empty");
        for k in opened.iter().step_by(997) {
            let probe = format!("ferromcp:session:{}:note", id_of(*k));
            assert!(store.get(&probe).await.unwrap().is_none(), "{probe} was cleared");
        }
        // And an expired session is gone for its client.
        let gone = post(&mut conns[0], Some(&id_of(opened[0])), REMEMBER).await;
        assert_eq!(gone.status, 404);
    });
}

#[test]
fn a_full_registry_sheds_instead_of_refusing() {
    const MAX: usize = 500;
    const OPENED: usize = 3_000;
    let _serial = serial();
    runtime().block_on(async {
        let store = MemoryStore::new();
        let hooks = Hooks::new(OPENED + 64);
        let opened = Arc::new(Mutex::new(Vec::with_capacity(OPENED)));
        let server = server(
            SessionLimits::default().idle_timeout(None).max_sessions(MAX).max_per_client(None),
            store.clone(),
            &hooks,
        );
        let addr = start(server.clone()).await;
        let mut conns = Vec::with_capacity(CONCURRENCY);
        for _ in 0..CONCURRENCY {
            conns.push(connect(addr).await);
        }
        // Every request of every session succeeded (open_session asserts each status):
        // a full table never answers 503, it makes room.
        let took = open_many(&mut conns, OPENED, &opened).await;
        println!(
            "shedding: {OPENED} sessions into a table of {MAX} in {:.2} s = {:.0} sessions/s",
            took.as_secs_f64(),
            OPENED as f64 / took.as_secs_f64()
        );
        let m = server.sessions().metrics();
        let shed_n = (OPENED - MAX) as u64;
        assert_eq!((m.open, m.created, m.shed, m.expired, m.ended), (MAX as u64, OPENED as u64, shed_n, 0, 0), "{m:?}");

        let seen = hooks.snapshot();
        assert_eq!(seen.len(), OPENED);
        let shed: HashSet<u128> = seen.iter().filter(|(_, c)| *c == &[1, 0, 0, 1]).map(|(k, _)| *k).collect();
        let kept: HashSet<u128> = seen.iter().filter(|(_, c)| *c == &[1, 0, 0, 0]).map(|(k, _)| *k).collect();
        assert_eq!((shed.len(), kept.len()), (OPENED - MAX, MAX), "every session is either shed (hooked once) or kept");

        // The kept sessions are the newest: least recently used goes first, and each
        // session was last used right after its creation. Concurrency (32 sessions in
        // flight) and millisecond timestamps blur the order by a few dozen places.
        let order = hooks.order.lock().unwrap().clone();
        let oldest_kept = order.iter().position(|k| kept.contains(k)).unwrap();
        println!("shedding: the oldest kept session is number {} of {OPENED} by creation", oldest_kept + 1);
        assert!(oldest_kept >= OPENED - MAX - 2 * CONCURRENCY, "kept sessions start at {oldest_kept}");

        // Shed sessions answer 404 (their state is gone too); the kept ones still work.
        wait_until(Duration::from_secs(5), "shed sessions' state is cleared", || store.len() == MAX).await;
        let check = |ids: Vec<u128>, conns: Vec<SendRequest<Full<Bytes>>>, expect_live: bool| {
            let ids = Arc::new(Mutex::new(ids));
            conns
                .into_iter()
                .map(|mut tx| {
                    let ids = ids.clone();
                    tokio::spawn(async move {
                        loop {
                            let Some(k) = ids.lock().unwrap().pop() else { break };
                            let id = id_of(k);
                            if expect_live {
                                remember(&mut tx, &id).await;
                            } else {
                                let r = post(&mut tx, Some(&id), REMEMBER).await;
                                assert_eq!(r.status, 404, "shed session {id}: {}", String::from_utf8_lossy(&r.body));
                            }
                        }
                        tx
                    })
                })
                .collect::<Vec<_>>()
        };
        for w in check(shed.iter().copied().collect(), std::mem::take(&mut conns), false) {
            conns.push(w.await.expect("a shed session did not answer 404"));
        }
        for w in check(kept.iter().copied().collect(), std::mem::take(&mut conns), true) {
            conns.push(w.await.expect("a kept session failed"));
        }
        let m = server.sessions().metrics();
        assert_eq!((m.open, m.created, m.shed), (MAX as u64, OPENED as u64, shed_n), "404s create nothing: {m:?}");
        assert!(server.metrics_text().contains(&format!("ferromcp_sessions_shed_total {shed_n}\n")));
    });
}

#[test]
fn delete_fires_the_ended_hook_once_and_clears_state() {
    let _serial = serial();
    runtime().block_on(async {
        let store = MemoryStore::new();
        let hooks = Hooks::new(16);
        let server = server(SessionLimits::default(), store.clone(), &hooks);
        let addr = start(server.clone()).await;
        let mut tx = connect(addr).await;
        let id = open_session(&mut tx).await;
        assert_eq!(store.len(), 1);
        let delete = |id: String| {
            hyper::Request::delete("/mcp")
                .header("host", "127.0.0.1")
                .header("mcp-session-id", id)
                .header("mcp-protocol-version", LEGACY)
                .body(Full::new(Bytes::new()))
                .unwrap()
        };
        tx.ready().await.unwrap();
        assert_eq!(tx.send_request(delete(id.clone())).await.unwrap().status(), 200);
        tx.ready().await.unwrap();
        assert_eq!(tx.send_request(delete(id.clone())).await.unwrap().status(), 404, "a second DELETE");
        wait_until(Duration::from_secs(5), "the deleted session's state is cleared", || store.is_empty()).await;
        assert_eq!(hooks.snapshot().get(&key(&id)), Some(&[1, 1, 0, 0]), "[created, ended, expired, shed]");
        assert_eq!(post(&mut tx, Some(&id), REMEMBER).await.status, 404);
        let m = server.sessions().metrics();
        assert_eq!((m.open, m.created, m.ended, m.expired, m.shed), (0, 1, 1, 0, 0));
    });
}
