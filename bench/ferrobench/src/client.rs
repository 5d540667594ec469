//! A minimal MCP-over-HTTP client for the load generator: one hyper 1 HTTP/1.1
//! keep-alive connection per [`Link`] (re-dialled after an error), the request bodies
//! and headers of both eras, and the checks of the answers.

use std::net::SocketAddr;
use std::pin::Pin;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::{Connection, SendRequest};
use hyper::header::{HeaderName, HeaderValue};
use hyper::{Method, Request};
use hyper_util::rt::TokioIo;
use serde::Deserialize;
use tokio::net::TcpStream;
use tokio::time::Sleep;

/// The modern protocol revision (per-request `_meta`, no session).
pub const MODERN: &str = "2026-07-28";
/// The legacy revision used for sessions (`initialize` handshake).
pub const LEGACY: &str = "2025-11-25";

/// Header list of one request.
pub type Headers = Vec<(HeaderName, HeaderValue)>;

/// Headers of a modern `tools/call add`.
pub fn modern_add_headers() -> Headers {
    vec![
        (HeaderName::from_static("mcp-protocol-version"), HeaderValue::from_static(MODERN)),
        (HeaderName::from_static("mcp-method"), HeaderValue::from_static("tools/call")),
        (HeaderName::from_static("mcp-name"), HeaderValue::from_static("add")),
    ]
}

/// Body of a modern (2026-07-28) `tools/call add`.
pub fn modern_add_body(id: i64, a: i64, b: i64) -> String {
    format!(
        concat!(
            r#"{{"jsonrpc":"2.0","id":{id},"method":"tools/call","params":{{"name":"add","#,
            r#""arguments":{{"a":{a},"b":{b}}},"_meta":{{"io.modelcontextprotocol/protocolVersion":"{v}","#,
            r#""io.modelcontextprotocol/clientCapabilities":{{}}}}}}}}"#
        ),
        id = id,
        a = a,
        b = b,
        v = MODERN
    )
}

/// Body of a legacy `initialize` (offers [`LEGACY`]).
pub fn legacy_initialize_body(id: i64) -> String {
    format!(
        concat!(
            r#"{{"jsonrpc":"2.0","id":{id},"method":"initialize","params":{{"protocolVersion":"{v}","#,
            r#""capabilities":{{}},"clientInfo":{{"name":"ferrobench","version":"0.1.0"}}}}}}"#
        ),
        id = id,
        v = LEGACY
    )
}

/// Body of `notifications/initialized`.
pub const INITIALIZED_BODY: &str = r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#;

/// Body of a legacy `tools/call add` (inside a session).
pub fn legacy_add_body(id: i64, a: i64, b: i64) -> String {
    format!(
        r#"{{"jsonrpc":"2.0","id":{id},"method":"tools/call","params":{{"name":"add","arguments":{{"a":{a},"b":{b}}}}}}}"#
    )
}

/// Headers of a request inside legacy session `sid`.
pub fn session_headers(sid: &str) -> Result<Headers, String> {
    let sid = HeaderValue::from_str(sid).map_err(|e| format!("session id: {e}"))?;
    Ok(vec![
        (HeaderName::from_static("mcp-session-id"), sid),
        (HeaderName::from_static("mcp-protocol-version"), HeaderValue::from_static(LEGACY)),
    ])
}

/// An HTTP answer, read to its end.
pub struct Answer {
    /// HTTP status.
    pub status: u16,
    /// The `mcp-session-id` header, if any.
    pub session: Option<String>,
    /// Whether the body is `text/event-stream`.
    pub sse: bool,
    /// The whole body.
    pub body: Bytes,
}

#[derive(Deserialize)]
struct RpcAnswer {
    result: Option<ToolResult>,
}

#[derive(Deserialize)]
struct ToolResult {
    #[serde(rename = "structuredContent")]
    structured: Option<Structured>,
    #[serde(rename = "isError", default)]
    is_error: bool,
}

#[derive(Deserialize)]
struct Structured {
    result: i64,
}

/// The JSON text of the answer: the body, or the first SSE event's `data` for a stream.
fn json_text(a: &Answer) -> Option<&[u8]> {
    if !a.sse {
        return Some(&a.body);
    }
    let text = std::str::from_utf8(&a.body).ok()?;
    let start = text.find("data:")? + 5;
    let rest = &text[start..];
    let end = rest.find('\n').unwrap_or(rest.len());
    Some(rest[..end].trim().as_bytes())
}

/// Checks that `a` answers a `tools/call add` with `expected`.
pub fn check_add(a: &Answer, expected: i64) -> Result<(), String> {
    if a.status != 200 {
        let text: String = String::from_utf8_lossy(&a.body).chars().take(160).collect();
        return Err(format!("HTTP {}: {text}", a.status));
    }
    let text = json_text(a).ok_or("SSE answer without data")?;
    let rpc: RpcAnswer = serde_json::from_slice(text).map_err(|e| format!("bad JSON: {e}"))?;
    let r = rpc.result.ok_or("JSON-RPC error answer")?;
    match r.structured {
        Some(s) if !r.is_error && s.result == expected => Ok(()),
        Some(s) => Err(format!("add returned {}, expected {expected}", s.result)),
        None => Err("no structuredContent.result".into()),
    }
}

type Conn = Pin<Box<Connection<TokioIo<TcpStream>, Full<Bytes>>>>;

/// One keep-alive connection to a server, re-dialled when it breaks.
///
/// The hyper connection future is polled in the caller's task next to the request
/// (`select!`), not in a spawned task: no cross-task wake-ups per request, which keeps
/// the load generator cheap enough not to be the bottleneck of the ceiling server.
pub struct Link {
    addr: SocketAddr,
    host: HeaderValue,
    timeout: Duration,
    timer: Pin<Box<Sleep>>,
    conn: Option<(SendRequest<Full<Bytes>>, Conn)>,
}

impl Link {
    /// A link to `127.0.0.1:port`; nothing is dialled yet.
    pub fn new(port: u16, timeout: Duration) -> Self {
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let host = HeaderValue::from_str(&addr.to_string()).expect("an address is a valid header");
        let timer = Box::pin(tokio::time::sleep(timeout));
        Link { addr, host, timeout, timer, conn: None }
    }

    async fn dial(addr: SocketAddr) -> Result<(SendRequest<Full<Bytes>>, Conn), String> {
        let tcp = TcpStream::connect(addr).await.map_err(|e| format!("connect: {e}"))?;
        let _ = tcp.set_nodelay(true);
        let (sender, conn) =
            hyper::client::conn::http1::handshake(TokioIo::new(tcp)).await.map_err(|e| format!("handshake: {e}"))?;
        Ok((sender, Box::pin(conn)))
    }

    /// POSTs `body` to `/mcp` with the JSON content type, the dual `Accept` and `extra`
    /// headers; the whole exchange (dial included) is bounded by the link's timeout.
    pub async fn post(&mut self, body: String, extra: &[(HeaderName, HeaderValue)]) -> Result<Answer, String> {
        self.timer.as_mut().reset(tokio::time::Instant::now() + self.timeout);
        let (mut sender, mut conn) = match self.conn.take() {
            Some(c) if !c.0.is_closed() => c,
            _ => {
                tokio::select! {
                    biased;
                    c = Self::dial(self.addr) => c?,
                    () = self.timer.as_mut() => return Err(format!("connect timeout after {:?}", self.timeout)),
                }
            }
        };
        let req = self.request(body, extra)?;
        let exchange = async {
            sender.ready().await.map_err(|e| format!("connection: {e}"))?;
            let resp = sender.send_request(req).await.map_err(|e| format!("http: {e}"))?;
            read_answer(resp).await
        };
        let r = tokio::select! {
            biased;
            r = exchange => r,
            c = conn.as_mut() => Err(match c {
                Ok(()) => "connection closed by the server".to_owned(),
                Err(e) => format!("connection: {e}"),
            }),
            () = self.timer.as_mut() => Err(format!("timeout after {:?}", self.timeout)),
        };
        if r.is_ok() {
            self.conn = Some((sender, conn));
        }
        r
    }

    fn request(&self, body: String, extra: &[(HeaderName, HeaderValue)]) -> Result<Request<Full<Bytes>>, String> {
        let mut req = Request::builder()
            .method(Method::POST)
            .uri("/mcp")
            .body(Full::new(Bytes::from(body)))
            .map_err(|e| e.to_string())?;
        let h = req.headers_mut();
        h.insert(hyper::header::HOST, self.host.clone());
        h.insert(hyper::header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
        h.insert(hyper::header::ACCEPT, HeaderValue::from_static("application/json, text/event-stream"));
        for (k, v) in extra {
            h.insert(k.clone(), v.clone());
        }
        Ok(req)
    }
}

async fn read_answer(resp: hyper::Response<hyper::body::Incoming>) -> Result<Answer, String> {
    let status = resp.status().as_u16();
    let session = resp.headers().get("mcp-session-id").and_then(|v| v.to_str().ok()).map(str::to_owned);
    let sse =
        resp.headers().get(hyper::header::CONTENT_TYPE).is_some_and(|v| v.as_bytes().starts_with(b"text/event-stream"));
    let body = resp.into_body().collect().await.map_err(|e| format!("body: {e}"))?.to_bytes();
    Ok(Answer { status, session, sse, body })
}
