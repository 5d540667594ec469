//! HTTP connection hygiene over real sockets on 127.0.0.1: slow or idle clients are
//! closed by the header-read, body-read and keep-alive timeouts, the connection limit
//! queues (never locks out) other clients, open SSE streams are not idle, `Accept` media
//! types are case-insensitive and `Origin: null` is refused on a loopback bind. Every
//! wait is bounded.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use ferromcp_core::{Context, NoArgs, Server, ToolDef};
use ferromcp_http::HttpConfig;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::timeout;

/// The timeouts under test (short, so the suite is quick).
const SHORT: Duration = Duration::from_millis(500);
/// A bound on every wait that is expected to end.
const WAIT: Duration = Duration::from_secs(10);

const INIT: &str = r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"hygiene","version":"1"}}}"#;

fn server() -> Server {
    Server::builder("hygiene-test", "1")
        .tool(ToolDef::new("hello").handler(|_ctx: Context, _: NoArgs| async move { "hello" }))
        // Writes 64 KiB log messages until cancelled (or for 20 s at most).
        .tool(ToolDef::new("flood").handler(|ctx: Context, _: NoArgs| async move {
            let big = "x".repeat(64 * 1024);
            let until = Instant::now() + Duration::from_secs(20);
            while !ctx.is_cancelled() && Instant::now() < until {
                let params = serde_json::json!({"level": "info", "data": big});
                if ctx.send_notification("notifications/message", params).await.is_err() {
                    break;
                }
                tokio::task::yield_now().await;
            }
            "flood over"
        }))
        .build()
}

async fn start(cfg: HttpConfig) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(ferromcp_http::serve_listener(server(), listener, cfg));
    addr
}

async fn connect(addr: SocketAddr) -> TcpStream {
    timeout(WAIT, TcpStream::connect(addr)).await.expect("connect timed out").unwrap()
}

/// The `Mcp-Session-Id` of a response head.
fn session_of(head: &str) -> String {
    head.lines()
        .find_map(|l| l.split_once(':').filter(|(k, _)| k.eq_ignore_ascii_case("mcp-session-id")))
        .map(|(_, v)| v.trim().to_owned())
        .expect("a session id")
}

/// A POST of `body` to `/mcp` with extra header lines (each ending in `\r\n`).
fn post(body: &str, extra: &str) -> String {
    format!(
        "POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\n{extra}\r\n{body}",
        body.len()
    )
}

const ACCEPT_BOTH: &str = "Accept: application/json, text/event-stream\r\n";

/// Reads one response with a `Content-Length` body: (status, head, body).
async fn read_response(tcp: &mut TcpStream) -> (u16, String, String) {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let deadline = Instant::now() + WAIT;
    loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).into_owned();
            let len = head
                .lines()
                .find_map(|l| l.to_ascii_lowercase().strip_prefix("content-length:").map(|v| v.trim().to_owned()))
                .and_then(|v| v.parse::<usize>().ok());
            if let Some(len) = len
                && buf.len() >= end + 4 + len
            {
                let status = head.get(9..12).and_then(|s| s.parse().ok()).unwrap_or(0);
                let body = String::from_utf8_lossy(&buf[end + 4..end + 4 + len]).into_owned();
                return (status, head, body);
            }
        }
        let left = deadline.saturating_duration_since(Instant::now());
        let n = timeout(left, tcp.read(&mut chunk)).await.expect("response timed out").expect("read failed");
        assert!(n > 0, "connection closed before a full response: {:?}", String::from_utf8_lossy(&buf));
        buf.extend_from_slice(&chunk[..n]);
    }
}

/// Waits (at most `within`) for the server to close `tcp`; returns when it did.
async fn closed_within(tcp: &mut TcpStream, within: Duration) -> Result<Duration, String> {
    let start = Instant::now();
    let mut chunk = [0u8; 1024];
    loop {
        let left = within.saturating_sub(start.elapsed());
        match timeout(left, tcp.read(&mut chunk)).await {
            Err(_) => return Err(format!("still open after {within:?}")),
            Ok(Ok(0)) | Ok(Err(_)) => return Ok(start.elapsed()),
            Ok(Ok(_)) => {} // a response (e.g. 408) before the close
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slowloris_connections_are_closed_after_the_header_timeout() {
    let addr = start(HttpConfig::default().header_read_timeout(SHORT)).await;
    let start = Instant::now();
    let mut conns = Vec::new();
    for _ in 0..200 {
        let mut tcp = connect(addr).await;
        tcp.write_all(b"POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ").await.unwrap();
        conns.push(tcp);
    }
    for tcp in &mut conns {
        closed_within(tcp, WAIT).await.expect("a slowloris connection was not closed");
    }
    let all = start.elapsed();
    assert!(all >= SHORT - Duration::from_millis(50), "closed before the header timeout: {all:?}");
    assert!(all < SHORT + Duration::from_secs(5), "200 slow connections took {all:?} to close");
    // The server still serves.
    let mut tcp = connect(addr).await;
    tcp.write_all(post(INIT, ACCEPT_BOTH).as_bytes()).await.unwrap();
    assert_eq!(read_response(&mut tcp).await.0, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chunked_body_that_never_ends_gets_408() {
    let cfg = HttpConfig::default().header_read_timeout(Duration::from_secs(5)).body_read_timeout(SHORT);
    let addr = start(cfg).await;
    let mut tcp = connect(addr).await;
    let head = format!(
        "POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n{ACCEPT_BOTH}\
         Transfer-Encoding: chunked\r\n\r\n5\r\n{{\"jso\r\n"
    );
    let start = Instant::now();
    tcp.write_all(head.as_bytes()).await.unwrap();
    let (status, _, body) = read_response(&mut tcp).await;
    let took = start.elapsed();
    assert_eq!(status, 408, "{body}");
    assert!(body.contains("body_read_timeout"), "the error names the limit: {body}");
    assert!(took >= SHORT - Duration::from_millis(50) && took < SHORT + Duration::from_secs(3), "{took:?}");
    // A body that keeps coming, slower than the timeout in total but never idle that
    // long, is read to the end.
    let mut tcp = connect(addr).await;
    let head = format!(
        "POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n{ACCEPT_BOTH}\
         Transfer-Encoding: chunked\r\n\r\n"
    );
    tcp.write_all(head.as_bytes()).await.unwrap();
    for piece in INIT.as_bytes().chunks(INIT.len() / 4 + 1) {
        tokio::time::sleep(SHORT / 4).await;
        tcp.write_all(format!("{:x}\r\n", piece.len()).as_bytes()).await.unwrap();
        tcp.write_all(piece).await.unwrap();
        tcp.write_all(b"\r\n").await.unwrap();
    }
    tcp.write_all(b"0\r\n\r\n").await.unwrap();
    assert_eq!(read_response(&mut tcp).await.0, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_connection_limit_queues_new_clients_until_idle_ones_time_out() {
    let addr = start(HttpConfig::default().max_connections(50).header_read_timeout(SHORT)).await;
    let mut idle = Vec::new();
    for _ in 0..60 {
        idle.push(connect(addr).await);
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    let start = Instant::now();
    let mut tcp = connect(addr).await;
    tcp.write_all(post(INIT, ACCEPT_BOTH).as_bytes()).await.unwrap();
    let (status, _, _) = read_response(&mut tcp).await;
    let took = start.elapsed();
    assert_eq!(status, 200);
    assert!(took < SHORT + Duration::from_secs(1), "a well-behaved client waited {took:?}");
    // It waited for a slot: the 50 open connections held them until their header timeout.
    assert!(took >= Duration::from_millis(250), "the limit did not hold ({took:?})");
    for tcp in &mut idle {
        closed_within(tcp, WAIT).await.expect("an idle connection was not closed");
    }
    // Serving normally afterwards, on the kept-alive connection and a new one.
    tcp.write_all(post(INIT, ACCEPT_BOTH).as_bytes()).await.unwrap();
    assert_eq!(read_response(&mut tcp).await.0, 200);
    let mut tcp = connect(addr).await;
    tcp.write_all(post(INIT, ACCEPT_BOTH).as_bytes()).await.unwrap();
    assert_eq!(read_response(&mut tcp).await.0, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_keep_alive_connections_close_but_open_sse_streams_do_not() {
    let mut cfg = HttpConfig::default().header_read_timeout(Duration::from_secs(5)).keep_alive_timeout(SHORT);
    cfg.keep_alive = Duration::from_secs(60); // no SSE comments during the test
    let addr = start(cfg).await;
    let mut kept = connect(addr).await;
    kept.write_all(post(INIT, ACCEPT_BOTH).as_bytes()).await.unwrap();
    let (status, head, _) = read_response(&mut kept).await;
    assert_eq!(status, 200);
    let session = session_of(&head);
    let mut sse = connect(addr).await;
    let get = format!(
        "GET /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\nMcp-Session-Id: {session}\r\n\r\n"
    );
    sse.write_all(get.as_bytes()).await.unwrap();
    let mut chunk = [0u8; 1024];
    let n = timeout(WAIT, sse.read(&mut chunk)).await.unwrap().unwrap();
    assert!(chunk[..n].starts_with(b"HTTP/1.1 200"), "{:?}", String::from_utf8_lossy(&chunk[..n]));

    let idle_for = closed_within(&mut kept, WAIT).await.expect("the idle connection was not closed");
    assert!(idle_for < SHORT + Duration::from_secs(2), "closed after {idle_for:?}");
    // Three keep-alive timeouts later the stream is still open (events may arrive).
    let until = Instant::now() + SHORT * 3;
    while let Some(left) = until.checked_duration_since(Instant::now()) {
        match timeout(left, sse.read(&mut chunk)).await {
            Err(_) => break,
            Ok(Ok(n)) if n > 0 => {}
            Ok(r) => panic!("the SSE stream was closed after {:?}: {r:?}", SHORT * 3 - left),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn accept_is_case_insensitive_and_origin_null_is_refused() {
    let addr = start(HttpConfig::default()).await;
    let mut tcp = connect(addr).await;
    tcp.write_all(post(INIT, "Accept: APPLICATION/JSON, TEXT/EVENT-STREAM\r\n").as_bytes()).await.unwrap();
    let (status, _, body) = read_response(&mut tcp).await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("\"result\""), "{body}");
    tcp.write_all(post(INIT, &format!("{ACCEPT_BOTH}Origin: null\r\n")).as_bytes()).await.unwrap();
    let (status, _, body) = read_response(&mut tcp).await;
    assert_eq!(status, 403, "{body}");
    assert!(body.contains("Origin"), "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_whose_peer_reads_nothing_is_closed_after_the_keep_alive_timeout() {
    let addr = start(HttpConfig::default().keep_alive_timeout(SHORT)).await;
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let mut tcp = timeout(WAIT, socket.connect(addr)).await.unwrap().unwrap();
    tcp.write_all(post(INIT, ACCEPT_BOTH).as_bytes()).await.unwrap();
    let (status, head, _) = read_response(&mut tcp).await;
    assert_eq!(status, 200);
    let session = session_of(&head);
    let call = r#"{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"flood","arguments":{}}}"#;
    tcp.write_all(post(call, &format!("{ACCEPT_BOTH}Mcp-Session-Id: {session}\r\n")).as_bytes()).await.unwrap();
    // Read nothing while the server's writes back up, then drain: the stream must end
    // (closed by the server) well before the tool's 20 s, without the tool's result.
    tokio::time::sleep(SHORT * 4).await;
    let start = Instant::now();
    let (mut got, mut chunk) = (Vec::new(), vec![0u8; 1 << 16]);
    loop {
        match timeout(WAIT, tcp.read(&mut chunk)).await {
            Err(_) => panic!("the unread stream was not closed ({} bytes read)", got.len()),
            Ok(Ok(0)) | Ok(Err(_)) => break,
            Ok(Ok(n)) => got.extend_from_slice(&chunk[..n]),
        }
    }
    assert!(start.elapsed() < WAIT, "took {:?}", start.elapsed());
    let text = String::from_utf8_lossy(&got);
    assert!(text.contains("notifications/message") && !text.contains("flood over"), "{} bytes", got.len());
    // The server still serves.
    let mut tcp = connect(addr).await;
    tcp.write_all(post(INIT, ACCEPT_BOTH).as_bytes()).await.unwrap();
    assert_eq!(read_response(&mut tcp).await.0, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_partial_head_on_a_kept_alive_connection_gets_the_header_timeout() {
    let cfg = HttpConfig::default().header_read_timeout(SHORT).keep_alive_timeout(Duration::from_secs(5));
    let addr = start(cfg).await;
    let mut tcp = connect(addr).await;
    // Idle between requests for longer than the header timeout: the keep-alive applies.
    for _ in 0..2 {
        tcp.write_all(post(INIT, ACCEPT_BOTH).as_bytes()).await.unwrap();
        assert_eq!(read_response(&mut tcp).await.0, 200);
        tokio::time::sleep(SHORT * 2).await;
    }
    // A head that starts and stalls is cut at the header timeout.
    tcp.write_all(b"POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\n").await.unwrap();
    let took = closed_within(&mut tcp, WAIT).await.expect("the stalled head was not cut");
    assert!(took >= SHORT - Duration::from_millis(50) && took < SHORT + Duration::from_secs(2), "{took:?}");
}
