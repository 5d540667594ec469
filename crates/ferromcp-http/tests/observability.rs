//! Observability over real loopback HTTP: a request whose `_meta` carries a W3C
//! `traceparent` runs in an `mcp.request` span holding that trace id and parent span id
//! (both eras), and the metrics route shows per-method and per-component request
//! counts, error counts and latency histogram buckets after a few calls.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ferromcp_core::{Context, NoArgs, Server, ToolDef};
use ferromcp_http::HttpConfig;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing_subscriber::Layer;
use tracing_subscriber::layer::{Context as LayerCtx, SubscriberExt};
use tracing_subscriber::registry::LookupSpan;

const WAIT: Duration = Duration::from_secs(10);

/// The tests run one at a time: the metrics are process-wide (exact counts need no
/// other test's requests), and the span test's thread-local subscriber must not race
/// another thread's first use of the span's callsite.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
const TRACE_ID: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const PARENT_ID: &str = "00f067aa0ba902b7";

type Fields = HashMap<String, String>;

/// A layer that keeps the fields of every closed `mcp.request` span.
#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<Fields>>>);

struct Collect<'a>(&'a mut Fields);

impl Visit for Collect<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().to_owned(), value.to_owned());
    }
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.0.insert(field.name().to_owned(), format!("{value:?}"));
    }
}

impl<S: tracing::Subscriber + for<'a> LookupSpan<'a>> Layer<S> for Capture {
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: LayerCtx<'_, S>) {
        if attrs.metadata().name() != "mcp.request" {
            return;
        }
        let mut fields = Fields::new();
        attrs.record(&mut Collect(&mut fields));
        if let Some(span) = ctx.span(id) {
            span.extensions_mut().insert(fields);
        }
    }
    fn on_record(&self, id: &Id, values: &Record<'_>, ctx: LayerCtx<'_, S>) {
        if let Some(span) = ctx.span(id)
            && let Some(fields) = span.extensions_mut().get_mut::<Fields>()
        {
            values.record(&mut Collect(fields));
        }
    }
    fn on_close(&self, id: Id, ctx: LayerCtx<'_, S>) {
        if let Some(span) = ctx.span(&id)
            && let Some(fields) = span.extensions_mut().remove::<Fields>()
        {
            self.0.lock().unwrap().push(fields);
        }
    }
}

fn server() -> Server {
    Server::builder("obs-test", "1")
        .tool(ToolDef::new("hello").handler(|_ctx: Context, _: NoArgs| async move { "hello" }))
        .tool(ToolDef::new("traced").handler(|_ctx: Context, _: NoArgs| async move {
            tracing::info!("inside the tool");
            "traced"
        }))
        .build()
}

async fn start(cfg: HttpConfig) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(ferromcp_http::serve_listener(server(), listener, cfg));
    addr
}

/// One HTTP/1.1 exchange (`Connection: close`); returns (status, body).
async fn exchange(addr: SocketAddr, request: String) -> (u16, String) {
    let (status, _, body) = exchange_head(addr, request).await;
    (status, body)
}

/// One HTTP/1.1 exchange (`Connection: close`); returns (status, head, body).
async fn exchange_head(addr: SocketAddr, request: String) -> (u16, String, String) {
    let mut s = tokio::time::timeout(WAIT, tokio::net::TcpStream::connect(addr)).await.expect("connect").unwrap();
    s.write_all(request.as_bytes()).await.unwrap();
    let mut out = String::new();
    tokio::time::timeout(WAIT, s.read_to_string(&mut out)).await.expect("answer in time").expect("read");
    let (head, body) = out.split_once("\r\n\r\n").expect("an HTTP response");
    let status = head.split(' ').nth(1).and_then(|c| c.parse().ok()).expect("a status");
    (status, head.to_owned(), body.to_owned())
}

/// POSTs `body` to `/mcp` in the legacy era, in session `session` if given.
async fn post_legacy(addr: SocketAddr, session: Option<&str>, body: &str) -> (u16, String, String) {
    let sid = session.map(|s| format!("Mcp-Session-Id: {s}\r\n")).unwrap_or_default();
    exchange_head(
        addr,
        format!(
            "POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n\
             Accept: application/json, text/event-stream\r\nMCP-Protocol-Version: 2025-11-25\r\n{sid}\
             Connection: close\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        ),
    )
    .await
}

/// POSTs a JSON-RPC `body` to `/mcp` with the headers of `version`'s era.
async fn post(addr: SocketAddr, version: &str, method: &str, name: &str, body: &str) -> (u16, String) {
    let mut headers = format!("MCP-Protocol-Version: {version}\r\n");
    if version == "2026-07-28" {
        headers.push_str(&format!("Mcp-Method: {method}\r\n"));
        if !name.is_empty() {
            headers.push_str(&format!("Mcp-Name: {name}\r\n"));
        }
    }
    exchange(
        addr,
        format!(
            "POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n\
             Accept: application/json, text/event-stream\r\n{headers}Connection: close\r\n\
             Content-Length: {}\r\n\r\n{body}",
            body.len()
        ),
    )
    .await
}

/// A `tools/call` of `tool` in `version`'s era, with `extra_meta` in its `_meta`.
fn call(id: u32, version: &str, tool: &str, extra_meta: &str) -> String {
    let era_meta = if version == "2026-07-28" {
        r#""io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{}"#
    } else {
        ""
    };
    let comma = if era_meta.is_empty() || extra_meta.is_empty() { "" } else { "," };
    format!(
        r#"{{"jsonrpc":"2.0","id":{id},"method":"tools/call","params":{{"name":"{tool}","arguments":{{}},"_meta":{{{era_meta}{comma}{extra_meta}}}}}}}"#
    )
}

/// Waits (bounded) until `captured` holds a span whose `trace_id` is `TRACE_ID` and
/// whose era is `era`, and returns its fields.
async fn traced_span(captured: &Capture, era: &str) -> Fields {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let found = captured
            .0
            .lock()
            .unwrap()
            .iter()
            .find(|f| f.get("era").map(String::as_str) == Some(era) && f.contains_key("trace_id"))
            .cloned();
        if let Some(f) = found {
            return f;
        }
        assert!(tokio::time::Instant::now() < deadline, "no traced span for {era}: {:?}", captured.0.lock().unwrap());
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

fn check_traced(span: &Fields, scope: &str) {
    assert_eq!(span.get("trace_id").map(String::as_str), Some(TRACE_ID), "{span:?}");
    assert_eq!(span.get("parent_span_id").map(String::as_str), Some(PARENT_ID), "{span:?}");
    assert_eq!(span.get("method").map(String::as_str), Some("tools/call"), "{span:?}");
    assert_eq!(span.get("name").map(String::as_str), Some("traced"), "{span:?}");
    assert_eq!(span.get("outcome").map(String::as_str), Some("ok"), "{span:?}");
    assert_eq!(span.get("scope").map(String::as_str), Some(scope), "{span:?}");
}

#[tokio::test(flavor = "current_thread")]
async fn traceparent_in_meta_becomes_the_request_span_trace_id_on_both_eras() {
    let _serial = SERIAL.lock().await;
    let captured = Capture::default();
    let subscriber = tracing_subscriber::registry().with(captured.clone());
    // The server runs on this test's single thread, so the thread's default subscriber
    // sees its spans.
    let _guard = tracing::subscriber::set_default(subscriber);
    let addr = start(HttpConfig::default()).await;
    let tp = format!(r#""traceparent":"00-{TRACE_ID}-{PARENT_ID}-01""#);

    // 2026-07-28: no session, the trace context rides in every request's `_meta`.
    let modern = "2026-07-28";
    let (status, body) = post(addr, modern, "tools/call", "traced", &call(1, modern, "traced", &tp)).await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains(r#""text":"traced""#), "{body}");
    let span = traced_span(&captured, modern).await;
    check_traced(&span, "none");

    // 2025-11-25: in a session, `_meta.traceparent` is accepted too.
    let init = r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"obs","version":"1"}}}"#;
    let (status, head, body) = post_legacy(addr, None, init).await;
    assert_eq!(status, 200, "{body}");
    let sid = head
        .lines()
        .find_map(|l| l.split_once(':').filter(|(k, _)| k.eq_ignore_ascii_case("mcp-session-id")))
        .map(|(_, v)| v.trim().to_owned())
        .expect("a session id");
    let initialized = r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#;
    let (status, _, body) = post_legacy(addr, Some(&sid), initialized).await;
    assert_eq!(status, 202, "{sid} {head} {body}");
    let (status, _, body) = post_legacy(addr, Some(&sid), &call(2, "2025-11-25", "traced", &tp)).await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains(r#""text":"traced""#), "{body}");
    let span = traced_span(&captured, "2025-11-25").await;
    check_traced(&span, "session");
    assert!(!format!("{span:?}").contains(&sid), "the session id is not recorded: {span:?}");

    // Without a (valid) traceparent the span has no trace ids, and an error is an error.
    let before = captured.0.lock().unwrap().len();
    let bad = r#""traceparent":"00-00000000000000000000000000000000-00f067aa0ba902b7-01""#;
    let (_, body) = post(addr, "2026-07-28", "tools/call", "nope", &call(2, "2026-07-28", "nope", bad)).await;
    assert!(body.contains(r#""error""#), "{body}");
    let deadline = tokio::time::Instant::now() + WAIT;
    let span = loop {
        if let Some(f) = captured.0.lock().unwrap().get(before..).and_then(|new| new.first().cloned()) {
            break f;
        }
        assert!(tokio::time::Instant::now() < deadline, "no span for the failing call");
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    assert!(!span.contains_key("trace_id") && !span.contains_key("parent_span_id"), "{span:?}");
    assert_eq!(span.get("outcome").map(String::as_str), Some("error"), "{span:?}");
}

/// The value of the sample line that starts with `prefix` (name and labels).
fn sample(text: &str, prefix: &str) -> Option<f64> {
    text.lines().find_map(|l| l.strip_prefix(prefix)?.trim().parse().ok())
}

#[tokio::test]
async fn metrics_route_shows_request_counts_errors_and_latency_buckets_per_method_and_component() {
    let _serial = SERIAL.lock().await;
    let addr = start(HttpConfig::default().stateless().metrics_path("/metrics")).await;
    for id in 0..3 {
        let (status, body) =
            post(addr, "2026-07-28", "tools/call", "hello", &call(id, "2026-07-28", "hello", "")).await;
        assert_eq!(status, 200, "{body}");
    }
    let list = r#"{"jsonrpc":"2.0","id":9,"method":"tools/list","params":{"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{}}}}"#;
    assert_eq!(post(addr, "2026-07-28", "tools/list", "", list).await.0, 200);
    let unknown = call(10, "2026-07-28", "no-such-tool", "");
    let (_, body) = post(addr, "2026-07-28", "tools/call", "no-such-tool", &unknown).await;
    assert!(body.contains(r#""error""#), "{body}");

    let (status, text) =
        exchange(addr, "GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n".to_owned()).await;
    assert_eq!(status, 200, "{text}");
    // The session counters are still there.
    assert!(text.contains("# TYPE ferromcp_sessions_open gauge\n"), "{text}");
    let hello = r#"{method="tools/call",component="hello"}"#;
    assert_eq!(sample(&text, &format!("ferromcp_requests_total{hello}")), Some(3.0), "{text}");
    assert_eq!(sample(&text, &format!("ferromcp_request_errors_total{hello}")), None, "{text}");
    assert_eq!(sample(&text, r#"ferromcp_requests_total{method="tools/list",component=""}"#), Some(1.0), "{text}");
    // An unregistered name is counted as `unknown`, never as itself.
    let unknown = r#"{method="tools/call",component="unknown"}"#;
    assert_eq!(sample(&text, &format!("ferromcp_request_errors_total{unknown}")), Some(1.0), "{text}");
    assert!(!text.contains("no-such-tool"), "{text}");
    // A histogram, with buckets, for tools/call.
    assert!(text.contains("# TYPE ferromcp_request_duration_seconds histogram\n"), "{text}");
    let bucket = r#"ferromcp_request_duration_seconds_bucket{method="tools/call",component="hello","#;
    assert_eq!(sample(&text, &format!(r#"{bucket}le="+Inf"}}"#)), Some(3.0), "{text}");
    assert_eq!(sample(&text, &format!(r#"{bucket}le="30"}}"#)), Some(3.0), "{text}");
    assert!(text.contains(&format!(r#"{bucket}le="0.0005"}}"#)), "{text}");
    assert_eq!(sample(&text, &format!("ferromcp_request_duration_seconds_count{hello}")), Some(3.0), "{text}");
    let sum = sample(&text, &format!("ferromcp_request_duration_seconds_sum{hello}")).expect("a sum");
    assert!(sum > 0.0 && sum < 30.0, "{sum}");
}
