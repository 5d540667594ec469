//! What every abuse test shares: the size switch, the global lock, the `everything`
//! server process (with its RSS), a small HTTP/1.1 client, MCP request builders and an
//! SSE reader; the well-behaved client lives in `probe` (re-exported here).
//!
//! Every wait here is bounded; every process and task stops by itself (a Drop guard kills
//! the server).

use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use tokio::net::{TcpSocket, TcpStream};
use tokio::task::JoinHandle;
use tokio::time::timeout;

pub use crate::probe::*;

pub const MODERN: &str = "2026-07-28";
pub const LEGACY: &str = "2025-11-25";
pub const INVALID_PARAMS: i64 = -32602;
/// Any single exchange of the test's own clients must finish within this time.
pub const WAIT: Duration = Duration::from_secs(30);
/// A well-behaved client must be answered within this time during any attack: generous,
/// because CI machines are loaded (2 cores shared by the server, the attack and the test).
pub const WELL_BEHAVED: Duration = Duration::from_secs(5);

// ---------------------------------------------------------------------------------------
// Size switch and serialisation.

/// Whether the full-size attacks run (`FERRO_ABUSE=full`); the default is the short CI size.
pub fn full() -> bool {
    std::env::var("FERRO_ABUSE").is_ok_and(|v| v.eq_ignore_ascii_case("full"))
}

/// `short` by default, `full` with `FERRO_ABUSE=full`.
pub fn pick<T>(short: T, full_size: T) -> T {
    if full() { full_size } else { short }
}

static LOCK: Mutex<()> = Mutex::new(());

/// Runs one test: alone (RSS and latency figures must not be disturbed by another test),
/// in a runtime of its own.
pub fn run<F: Future>(name: &str, test: F) -> F::Output {
    let _serial = LOCK.lock().unwrap_or_else(|p| p.into_inner());
    eprintln!("=== abuse/{name} ({} size)", if full() { "full" } else { "short" });
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
    let started = Instant::now();
    let out = rt.block_on(test);
    rt.shutdown_timeout(Duration::from_secs(5));
    eprintln!("=== abuse/{name} took {:.1} s", started.elapsed().as_secs_f64());
    out
}

pub fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

// ---------------------------------------------------------------------------------------
// The server process.

/// `target/debug/examples/everything` (built by `cargo test` / `cargo build --example
/// everything`), or `FERRO_EVERYTHING_BIN` as for the interop suites.
pub fn everything() -> PathBuf {
    let p = std::env::var_os("FERRO_EVERYTHING_BIN").map_or_else(
        || PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/debug/examples/everything"),
        PathBuf::from,
    );
    assert!(p.exists(), "{} is missing: run `cargo build --example everything` first", p.display());
    p
}

/// One `everything` process; killed on drop. Its stderr is kept (the last 64 KiB) for
/// failure messages.
pub struct ServerProc {
    child: Child,
    pub addr: SocketAddr,
    log: Arc<Mutex<Vec<u8>>>,
}

impl ServerProc {
    /// Starts `everything --port <free> ARGS` on 127.0.0.1 and waits until it accepts.
    pub fn http(args: &[&str]) -> ServerProc {
        Self::http_with_nofile(None, args)
    }

    /// As [`http`](Self::http), with the server's open-file limit set to `nofile` (as on
    /// most hosts: 1024) through the shell's `ulimit -n`.
    pub fn http_with_nofile(nofile: Option<u32>, args: &[&str]) -> ServerProc {
        // Port 0: the server reports the port it bound, so no port is picked in advance
        // for another test to take.
        let mut all: Vec<String> = vec!["--port".into(), "0".into()];
        all.extend(args.iter().map(|a| a.to_string()));
        let mut cmd = match nofile {
            Some(n) => {
                let mut c = Command::new("sh");
                c.arg("-c").arg(format!("ulimit -n {n} && exec \"$0\" \"$@\"")).arg(everything()).args(&all);
                c
            }
            None => {
                let mut c = Command::new(everything());
                c.args(&all);
                c
            }
        };
        cmd.env("RUST_LOG", "warn").stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("spawn the everything server");
        let log = drain(child.stderr.take().expect("stderr"));
        let mut server = ServerProc { child, addr: SocketAddr::from(([127, 0, 0, 1], 0)), log };
        let deadline = Instant::now() + WAIT;
        loop {
            if let Ok(Some(status)) = server.child.try_wait() {
                panic!("the server exited at start ({status}) with args {args:?}:\n{}", server.log());
            }
            if let Some(addr) = reported_addr(&server.log()) {
                server.addr = addr;
                return server;
            }
            assert!(Instant::now() < deadline, "the server reported no address within {WAIT:?}:\n{}", server.log());
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The server's resident set in KiB.
    pub fn rss_kib(&self) -> u64 {
        rss_kib(self.pid()).unwrap_or_else(|| panic!("the server is gone:\n{}", self.log()))
    }

    /// What the server wrote to stderr (its last 64 KiB).
    pub fn log(&self) -> String {
        String::from_utf8_lossy(&self.log.lock().unwrap_or_else(|p| p.into_inner())).into_owned()
    }

    /// Samples RSS every 20 ms until the sampler is stopped; keeps the peak.
    pub fn sampler(&self) -> RssSampler {
        RssSampler::start(self.pid())
    }
}

impl Drop for ServerProc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The `host:port` of the first `http://host:port/…` in a server's log (what the example
/// prints once bound).
fn reported_addr(log: &str) -> Option<SocketAddr> {
    let rest = &log[log.find("http://")? + "http://".len()..];
    rest[..rest.find('/')?].parse().ok()
}

/// Reads `stream` to its end on a thread, keeping the last 64 KiB.
pub fn drain(mut stream: impl std::io::Read + Send + 'static) -> Arc<Mutex<Vec<u8>>> {
    let log = Arc::new(Mutex::new(Vec::new()));
    let keep = log.clone();
    std::thread::spawn(move || {
        let mut buf = [0u8; 8192];
        while let Ok(n) = stream.read(&mut buf) {
            if n == 0 {
                break;
            }
            let mut l = keep.lock().unwrap_or_else(|p| p.into_inner());
            l.extend_from_slice(&buf[..n]);
            if l.len() > 64 * 1024 {
                let cut = l.len() - 64 * 1024;
                l.drain(..cut);
            }
        }
    });
    log
}

/// `VmRSS` of `/proc/PID/status` in KiB, `None` once the process is gone.
pub fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// Peak RSS of a process, sampled on a thread.
pub struct RssSampler {
    peak: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl RssSampler {
    fn start(pid: u32) -> RssSampler {
        let (peak, stop) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicBool::new(false)));
        let (p, s) = (peak.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            while !s.load(Ordering::Relaxed) {
                if let Some(kib) = rss_kib(pid) {
                    p.fetch_max(kib, Ordering::Relaxed);
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        });
        RssSampler { peak, stop, thread: Some(thread) }
    }

    /// Stops sampling; the peak in KiB.
    pub fn stop(mut self) -> u64 {
        self.halt();
        self.peak.load(Ordering::Relaxed)
    }

    fn halt(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for RssSampler {
    fn drop(&mut self) {
        self.halt();
    }
}

/// Asserts that the peak RSS grew by less than `limit_mib` over `baseline_kib`; prints both.
pub fn assert_growth(what: &str, baseline_kib: u64, peak_kib: u64, limit_mib: u64) {
    let growth = peak_kib.saturating_sub(baseline_kib);
    eprintln!(
        "{what}: server RSS baseline {:.1} MiB, peak {:.1} MiB, growth {:.1} MiB (limit {limit_mib} MiB)",
        mib(baseline_kib),
        mib(peak_kib),
        mib(growth)
    );
    assert!(growth < limit_mib * 1024, "{what}: server RSS grew by {:.1} MiB (limit {limit_mib} MiB)", mib(growth));
}

// ---------------------------------------------------------------------------------------
// HTTP client.

/// One keep-alive HTTP/1.1 client connection; dropping it closes the socket.
pub struct Conn {
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
    pub async fn open(addr: SocketAddr) -> Conn {
        let tcp = timeout(WAIT, TcpStream::connect(addr)).await.expect("connect in time").expect("connect");
        Self::handshake(addr, tcp).await
    }

    /// A connection from another loopback source address (e.g. 127.0.0.2): another client.
    pub async fn open_from(addr: SocketAddr, local: IpAddr) -> Conn {
        let sock = TcpSocket::new_v4().expect("socket");
        sock.bind(SocketAddr::new(local, 0)).expect("bind the source address");
        let tcp = timeout(WAIT, sock.connect(addr)).await.expect("connect in time").expect("connect");
        Self::handshake(addr, tcp).await
    }

    async fn handshake(addr: SocketAddr, tcp: TcpStream) -> Conn {
        let _ = tcp.set_nodelay(true);
        let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tcp)).await.expect("handshake");
        let driver = tokio::spawn(async move {
            let _ = conn.await;
        });
        Conn { addr, sender, driver }
    }

    /// Sends `req`; the answer with its body unread.
    pub async fn start(&mut self, req: Req) -> hyper::Response<Incoming> {
        let r = req.into_hyper(self.addr);
        timeout(WAIT, self.sender.ready()).await.expect("connection ready in time").expect("connection open");
        timeout(WAIT, self.sender.send_request(r)).await.expect("answer in time").expect("answer")
    }

    /// Sends `req` and reads the whole answer.
    pub async fn send(&mut self, req: Req) -> Resp {
        let (parts, body) = self.start(req).await.into_parts();
        let body = timeout(WAIT, body.collect()).await.expect("body in time").expect("body").to_bytes();
        Resp { status: parts.status.as_u16(), headers: parts.headers, body }
    }
}

/// A request to send.
pub struct Req {
    method: &'static str,
    path: String,
    headers: Vec<(String, String)>,
    body: Bytes,
}

impl Req {
    /// A POST of JSON (Content-Type and Accept for Streamable HTTP set).
    pub fn post(path: &str, body: impl Into<Bytes>) -> Req {
        Req { method: "POST", path: path.into(), headers: Vec::new(), body: body.into() }
            .header("content-type", "application/json")
            .header("accept", "application/json, text/event-stream")
    }

    pub fn get(path: &str) -> Req {
        Req { method: "GET", path: path.into(), headers: Vec::new(), body: Bytes::new() }
    }

    /// Sets a header (replacing one of the same name).
    pub fn header(mut self, k: &str, v: &str) -> Req {
        self.headers.retain(|(h, _)| !h.eq_ignore_ascii_case(k));
        self.headers.push((k.to_owned(), v.to_owned()));
        self
    }

    /// The hyper request, with `Host` naming `addr`.
    pub fn into_hyper(self, addr: SocketAddr) -> hyper::Request<Full<Bytes>> {
        let mut b = hyper::Request::builder().method(self.method).uri(self.path).header("host", addr.to_string());
        for (k, v) in &self.headers {
            b = b.header(k.as_str(), v.as_str());
        }
        b.body(Full::new(self.body)).expect("a valid request")
    }

    pub fn bearer(self, token: Option<&str>) -> Req {
        match token {
            Some(t) => self.header("authorization", &format!("Bearer {t}")),
            None => self,
        }
    }
}

/// A whole answer.
pub struct Resp {
    pub status: u16,
    pub headers: hyper::HeaderMap,
    pub body: Bytes,
}

impl Resp {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body[..self.body.len().min(2048)]).into_owned()
    }

    /// The JSON-RPC messages of the answer: the JSON body, or every SSE `data:`.
    pub fn messages(&self) -> Vec<Value> {
        let sse = self.headers.get("content-type").is_some_and(|v| v.as_bytes().starts_with(b"text/event-stream"));
        if sse {
            sse_messages(&self.body)
        } else {
            serde_json::from_slice(&self.body).map(|v| vec![v]).unwrap_or_default()
        }
    }

    /// The answer to request `id` (a JSON-RPC response); panics with the body otherwise.
    pub fn reply(&self, id: &Value) -> Value {
        self.messages()
            .into_iter()
            .find(|m| m.get("id") == Some(id) && (m.get("result").is_some() || m.get("error").is_some()))
            .unwrap_or_else(|| panic!("no reply to {id} (status {}): {}", self.status, self.text()))
    }
}

/// The JSON messages in SSE text (`data:` lines of each event).
pub fn sse_messages(text: &[u8]) -> Vec<Value> {
    let text = String::from_utf8_lossy(text);
    let mut out = Vec::new();
    for block in text.split("\n\n") {
        let data: Vec<&str> =
            block.lines().filter_map(|l| l.strip_prefix("data:")).map(|d| d.strip_prefix(' ').unwrap_or(d)).collect();
        if let Ok(v) = serde_json::from_str::<Value>(&data.join("\n")) {
            out.push(v);
        }
    }
    out
}

/// An SSE body read event by event.
pub struct SseReader {
    body: Incoming,
    buf: Vec<u8>,
    /// `buf[..scanned]` holds no complete event (searched already).
    scanned: usize,
}

impl SseReader {
    pub fn new(body: Incoming) -> SseReader {
        SseReader { body, buf: Vec::new(), scanned: 0 }
    }

    /// The next event as (event name, data), `None` when the stream ends or `wait` passes.
    pub async fn event(&mut self, wait: Duration) -> Option<(String, String)> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            while let Some(at) = self.buf[self.scanned.saturating_sub(1)..].windows(2).position(|w| w == b"\n\n") {
                let end = self.scanned.saturating_sub(1) + at;
                self.scanned = 0;
                let block = String::from_utf8_lossy(&self.buf[..end]).into_owned();
                self.buf.drain(..end + 2);
                let (mut event, mut data) = (String::from("message"), Vec::new());
                for line in block.lines() {
                    if let Some(v) = line.strip_prefix("event:") {
                        event = v.trim().to_owned();
                    } else if let Some(v) = line.strip_prefix("data:") {
                        data.push(v.strip_prefix(' ').unwrap_or(v).to_owned());
                    }
                }
                if !data.is_empty() {
                    return Some((event, data.join("\n")));
                }
            }
            self.scanned = self.buf.len();
            let frame = tokio::time::timeout_at(deadline, self.body.frame()).await.ok()??.ok()?;
            if let Ok(d) = frame.into_data() {
                self.buf.extend_from_slice(&d);
            }
        }
    }

    /// The next JSON message (`event: message`), `None` at the end or after `wait`.
    pub async fn message(&mut self, wait: Duration) -> Option<Value> {
        loop {
            let (event, data) = self.event(wait).await?;
            if event == "message"
                && let Ok(v) = serde_json::from_str(&data)
            {
                return Some(v);
            }
        }
    }
}

// ---------------------------------------------------------------------------------------
// MCP requests.

/// A 2026-07-28 request body: `params` plus `_meta` (version, `caps`, client info).
pub fn modern_body(id: &Value, method: &str, mut params: Value, caps: Value) -> String {
    params["_meta"] = json!({
        "io.modelcontextprotocol/protocolVersion": MODERN,
        "io.modelcontextprotocol/clientCapabilities": caps,
        "io.modelcontextprotocol/clientInfo": {"name": "abuse", "version": "1"},
    });
    json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params}).to_string()
}

/// A modern `tools/call` (headers included), as `token`'s bearer if given.
pub fn modern_call(id: &Value, tool: &str, params: Value, caps: Value, token: Option<&str>) -> Req {
    let mut params = params;
    params["name"] = json!(tool);
    if params.get("arguments").is_none() {
        params["arguments"] = json!({});
    }
    Req::post("/mcp", modern_body(id, "tools/call", params, caps))
        .header("mcp-protocol-version", MODERN)
        .header("mcp-method", "tools/call")
        .header("mcp-name", tool)
        .bearer(token)
}

/// A legacy `initialize` body declaring `caps`.
pub fn initialize_body(caps: Value) -> String {
    json!({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
        "protocolVersion": LEGACY, "capabilities": caps, "clientInfo": {"name": "abuse", "version": "1"}}})
    .to_string()
}

/// A legacy request in session `sid`.
pub fn in_session(sid: &str, body: impl Into<Bytes>) -> Req {
    Req::post("/mcp", body).header("mcp-session-id", sid).header("mcp-protocol-version", LEGACY)
}

/// Opens a legacy Streamable HTTP session (initialize + initialized); its id.
pub async fn legacy_session(conn: &mut Conn, caps: Value) -> String {
    let r = conn.send(Req::post("/mcp", initialize_body(caps))).await;
    assert_eq!(r.status, 200, "initialize: {}", r.text());
    let sid = r.headers.get("mcp-session-id").expect("an Mcp-Session-Id").to_str().expect("ascii").to_owned();
    let note = json!({"jsonrpc": "2.0", "method": "notifications/initialized"}).to_string();
    let r = conn.send(in_session(&sid, note)).await;
    assert_eq!(r.status, 202, "notifications/initialized: {}", r.text());
    sid
}

/// A legacy `tools/call` body.
pub fn call_body(id: &Value, tool: &str, args: Value, meta: Option<Value>) -> String {
    let mut params = json!({"name": tool, "arguments": args});
    if let Some(m) = meta {
        params["_meta"] = m;
    }
    json!({"jsonrpc": "2.0", "id": id, "method": "tools/call", "params": params}).to_string()
}

/// The text of the first content block of a tools/call result message.
pub fn result_text(msg: &Value) -> &str {
    msg["result"]["content"][0]["text"].as_str().unwrap_or_else(|| panic!("not a text result: {msg}"))
}

/// The JSON-RPC error code of a message (panics if it is not an error).
pub fn error_code(msg: &Value) -> i64 {
    msg["error"]["code"].as_i64().unwrap_or_else(|| panic!("not a JSON-RPC error: {msg}"))
}
