//! The per-client session cap over real HTTP on loopback: a client at its cap sheds only
//! its own least recently used idle session (per bearer principal, and per address for
//! unauthenticated clients: 127.0.0.1 and 127.0.0.2 are two clients), and with none idle
//! its new session is refused with HTTP 429 and a JSON-RPC error naming the limit.
//! Every wait is bounded.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use bytes::Bytes;
use ferromcp_core::auth::StaticBearer;
use ferromcp_core::session::SessionLimits;
use ferromcp_core::state::Principal;
use ferromcp_core::{Context, NoArgs, Server, ToolDef};
use ferromcp_http::{HttpAuth, HttpConfig};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use serde_json::Value;
use tokio::net::{TcpListener, TcpSocket};
use tokio::time::timeout;

const WAIT: Duration = Duration::from_secs(10);

async fn start(per_client: usize, auth: Option<HttpAuth>) -> SocketAddr {
    start_with(per_client, auth, HttpConfig::default()).await
}

async fn start_with(per_client: usize, auth: Option<HttpAuth>, cfg: HttpConfig) -> SocketAddr {
    let server = Server::builder("caps", "1")
        .tool(ToolDef::new("hello").handler(|_ctx: Context, _: NoArgs| async move { "hello" }))
        .session_limits(SessionLimits::default().max_per_client(Some(per_client)))
        .build();
    let mut cfg = cfg;
    if let Some(a) = auth {
        cfg = cfg.auth(a);
    }
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(ferromcp_http::serve_listener(server, listener, cfg));
    addr
}

/// One client: the local address it connects from and its bearer token.
#[derive(Clone, Copy)]
struct Client {
    from: &'static str,
    token: Option<&'static str>,
}

const ALICE: Client = Client { from: "127.0.0.1", token: Some("alice-token") };
const BOB: Client = Client { from: "127.0.0.1", token: Some("bob-token") };

impl Client {
    /// Sends one request to `path` on a fresh connection from `self.from`.
    async fn send(
        &self,
        addr: SocketAddr,
        path: &str,
        req: hyper::http::request::Builder,
        body: &str,
    ) -> hyper::Response<Incoming> {
        let socket = TcpSocket::new_v4().unwrap();
        socket.bind(SocketAddr::new(self.from.parse::<IpAddr>().unwrap(), 0)).unwrap();
        let tcp = timeout(WAIT, socket.connect(addr)).await.unwrap().unwrap();
        let (mut send, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tcp)).await.unwrap();
        tokio::spawn(async move {
            let _ = conn.await;
        });
        let mut req = req
            .uri(path)
            .header("host", addr.to_string())
            .header("content-type", "application/json")
            .header("accept", "application/json, text/event-stream");
        if let Some(t) = self.token {
            req = req.header("authorization", format!("Bearer {t}"));
        }
        let req = req.body(Full::new(Bytes::from(body.to_owned()))).unwrap();
        timeout(WAIT, send.send_request(req)).await.unwrap().unwrap()
    }

    /// POSTs `body` (in `session`, if given); returns the status, session header and JSON.
    async fn post(&self, addr: SocketAddr, session: Option<&str>, body: &str) -> (u16, Option<String>, Value) {
        let mut req = hyper::Request::post("/mcp");
        if let Some(s) = session {
            req = req.header("mcp-session-id", s).header("mcp-protocol-version", "2025-11-25");
        }
        let resp = self.send(addr, "/mcp", req, body).await;
        let status = resp.status().as_u16();
        let sid = resp.headers().get("mcp-session-id").map(|v| v.to_str().unwrap().to_owned());
        let bytes = timeout(WAIT, resp.into_body().collect()).await.unwrap().unwrap().to_bytes();
        (status, sid, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
    }

    /// `initialize`: the new session id, or the refusal (status, JSON).
    async fn open(&self, addr: SocketAddr) -> Result<String, (u16, Value)> {
        let body = r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}"#;
        match self.post(addr, None, body).await {
            (200, Some(sid), _) => Ok(sid),
            (status, _, json) => Err((status, json)),
        }
    }

    /// Whether `session` still answers a ping.
    async fn alive(&self, addr: SocketAddr, session: &str) -> bool {
        let (status, _, json) = self.post(addr, Some(session), r#"{"jsonrpc":"2.0","id":2,"method":"ping"}"#).await;
        match status {
            200 => json.get("result").is_some(),
            404 => false,
            other => panic!("ping: unexpected HTTP {other}: {json}"),
        }
    }

    /// `GET /sse` (HTTP+SSE transport): the response, stream open while it is kept.
    async fn sse(&self, addr: SocketAddr) -> hyper::Response<Incoming> {
        self.send(addr, "/sse", hyper::Request::get("/sse"), "").await
    }

    /// Opens the session's standalone GET stream (the session is busy while it is open).
    async fn stream(&self, addr: SocketAddr, session: &str) -> hyper::Response<Incoming> {
        let req =
            hyper::Request::get("/mcp").header("mcp-session-id", session).header("mcp-protocol-version", "2025-11-25");
        let resp = self.send(addr, "/mcp", req, "").await;
        assert_eq!(resp.status(), 200);
        resp
    }
}

fn bearer() -> HttpAuth {
    HttpAuth::required(
        StaticBearer::new().token("alice-token", Principal::new("alice")).token("bob-token", Principal::new("bob")),
    )
}

#[tokio::test]
async fn a_principal_at_its_cap_sheds_only_its_own_sessions_then_is_refused() {
    let addr = start(2, Some(bearer())).await;
    let bob1 = BOB.open(addr).await.unwrap();
    let a1 = ALICE.open(addr).await.unwrap();
    // Last-seen times are in milliseconds: a1 and a2 in one would tie (broken by id).
    tokio::time::sleep(Duration::from_millis(5)).await;
    let a2 = ALICE.open(addr).await.unwrap();
    tokio::time::sleep(Duration::from_millis(5)).await;
    let a3 = ALICE.open(addr).await.unwrap();
    assert!(!ALICE.alive(addr, &a1).await, "alice's least recently used session was shed");
    assert!(BOB.alive(addr, &bob1).await, "bob's older session is not alice's to shed");
    assert!(ALICE.alive(addr, &a2).await && ALICE.alive(addr, &a3).await);

    // Both of alice's sessions busy (open streams): her next session is refused.
    let streams = [ALICE.stream(addr, &a2).await, ALICE.stream(addr, &a3).await];
    let (status, json) = ALICE.open(addr).await.unwrap_err();
    assert_eq!(status, 429, "{json}");
    assert_eq!(json["error"]["code"], -32600, "{json}");
    let msg = json["error"]["message"].as_str().unwrap();
    assert!(msg.contains("max_per_client") && msg.contains('2'), "{msg}");
    assert!(ALICE.alive(addr, &a2).await && ALICE.alive(addr, &a3).await, "nothing of alice's was shed");
    // bob is not limited by alice.
    let bob2 = BOB.open(addr).await.unwrap();
    assert!(BOB.alive(addr, &bob1).await && BOB.alive(addr, &bob2).await);
    drop(streams);
}

#[tokio::test]
async fn unauthenticated_clients_are_capped_per_address() {
    let here = Client { from: "127.0.0.1", token: None };
    let there = Client { from: "127.0.0.2", token: None };
    let addr = start(1, None).await;
    let x1 = here.open(addr).await.unwrap();
    let y1 = there.open(addr).await.unwrap();
    tokio::time::sleep(Duration::from_millis(5)).await;
    let x2 = here.open(addr).await.unwrap();
    assert!(!here.alive(addr, &x1).await, "127.0.0.1 shed its own session");
    assert!(there.alive(addr, &y1).await, "127.0.0.2's session survives");
    assert!(here.alive(addr, &x2).await);
}

#[tokio::test]
async fn http_sse_connections_count_against_the_cap_and_free_it_when_closed() {
    let here = Client { from: "127.0.0.1", token: None };
    let there = Client { from: "127.0.0.2", token: None };
    let addr = start_with(1, None, HttpConfig::default().legacy_sse(true)).await;
    let first = here.sse(addr).await;
    assert_eq!(first.status(), 200);
    // Its one session is busy (its stream is open): a second connection is refused.
    let refused = here.sse(addr).await;
    assert_eq!(refused.status(), 429);
    let bytes = timeout(WAIT, refused.into_body().collect()).await.unwrap().unwrap().to_bytes();
    let json: Value = serde_json::from_slice(&bytes).unwrap();
    assert!(json["error"]["message"].as_str().unwrap().contains("max_per_client"), "{json}");
    assert_eq!(there.sse(addr).await.status(), 200, "another address is not limited");
    // Closing the stream ends its session: the client may connect again.
    drop(first);
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let again = here.sse(addr).await;
        if again.status() == 200 {
            break;
        }
        assert_eq!(again.status(), 429);
        assert!(tokio::time::Instant::now() < deadline, "the closed connection's session was never freed");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
