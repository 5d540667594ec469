//! Attack 4: HTTP+SSE (2024-11-05) replies piling up behind a stream nobody reads.
//!
//! The attacker opens `GET /sse` on a raw socket with a small receive buffer, reads the
//! `endpoint` event, initializes, and never reads again; then it POSTs many `tools/list`
//! to `/messages?session_id=…`. After a bounded queue the POSTs must get 503 with
//! `Retry-After` (never an unbounded queue); RSS growth stays bounded; when the stream
//! closes the session is gone and its memory with it; a new HTTP+SSE client is served.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

use crate::support::*;

/// The queue of replies for one unread stream is bounded (a few hundred KiB to a few
/// MiB of `tools/list` answers); the rest is allocator slack.
const SSE_GROWTH_MIB: u64 = 16;
/// Stop once this many POSTs were refused: the bound has been shown.
const ENOUGH_REFUSALS: usize = 16;

/// Opens `GET /sse` on a raw socket that will never be read past the endpoint event.
async fn unread_stream(addr: SocketAddr) -> (TcpStream, String) {
    let sock = TcpSocket::new_v4().expect("socket");
    let _ = sock.set_recv_buffer_size(4096);
    let mut s = tokio::time::timeout(WAIT, sock.connect(addr)).await.expect("connect in time").expect("connect");
    s.write_all(b"GET /sse HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n\r\n").await.expect("GET /sse");
    let mut got = Vec::new();
    let mut buf = [0u8; 512];
    let endpoint = tokio::time::timeout(WAIT, async {
        loop {
            let n = s.read(&mut buf).await.expect("read the stream");
            assert!(n > 0, "the SSE stream closed: {}", String::from_utf8_lossy(&got));
            got.extend_from_slice(&buf[..n]);
            let text = String::from_utf8_lossy(&got);
            if let Some(at) = text.find("data: ") {
                let rest = &text[at + 6..];
                if let Some(end) = rest.find('\n') {
                    return rest[..end].trim().to_owned();
                }
            }
        }
    })
    .await
    .expect("the endpoint event in time");
    (s, endpoint)
}

/// A well-behaved HTTP+SSE client: stream, initialize, one call; both answers read.
async fn sse_client_is_served(addr: SocketAddr) {
    let started = Instant::now();
    let mut conn = Conn::open(addr).await;
    let resp = conn.start(Req::get("/sse").header("accept", "text/event-stream")).await;
    assert_eq!(resp.status(), 200);
    let mut sse = SseReader::new(resp.into_body());
    let (event, endpoint) = sse.event(WELL_BEHAVED).await.expect("the endpoint event");
    assert_eq!(event, "endpoint");
    let mut post = Conn::open(addr).await;
    let r = post.send(Req::post(&endpoint, initialize_body(json!({})))).await;
    assert_eq!(r.status, 202, "initialize: {}", r.text());
    let init = sse.message(WELL_BEHAVED).await.expect("the initialize answer on the stream");
    assert_eq!(init["id"], 0, "{init}");
    let r = post
        .send(Req::post(&endpoint, json!({"jsonrpc": "2.0", "method": "notifications/initialized"}).to_string()))
        .await;
    assert_eq!(r.status, 202);
    let r = post.send(Req::post(&endpoint, call_body(&json!(1), "test_simple_text", json!({}), None))).await;
    assert_eq!(r.status, 202, "tools/call: {}", r.text());
    let done = sse.message(WELL_BEHAVED).await.expect("the call's answer on the stream");
    assert!(result_text(&done).starts_with("This is a simple text"), "{done}");
    eprintln!("legacy SSE: a new HTTP+SSE client was served in {} ms", started.elapsed().as_millis());
}

#[test]
fn posts_to_an_unread_stream_are_refused_instead_of_queued() {
    run("legacy-sse/unread-stream", async {
        let posts: usize = pick(3_000, 20_000);
        let server = ServerProc::http(&["--legacy-sse"]);
        sse_client_is_served(server.addr).await;
        let (stream, endpoint) = unread_stream(server.addr).await;
        let mut c = Conn::open(server.addr).await;
        assert_eq!(c.send(Req::post(&endpoint, initialize_body(json!({})))).await.status, 202);
        let note = json!({"jsonrpc": "2.0", "method": "notifications/initialized"}).to_string();
        assert_eq!(c.send(Req::post(&endpoint, note)).await.status, 202);
        let baseline = server.rss_kib();
        let sampler = server.sampler();
        let prober = Prober::start(server.addr);

        let (next, refused) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
        let started = Instant::now();
        let workers: Vec<_> = (0..16)
            .map(|_| {
                let (next, refused, endpoint, addr) = (next.clone(), refused.clone(), endpoint.clone(), server.addr);
                tokio::spawn(async move {
                    let mut c = Conn::open(addr).await;
                    let (mut accepted, mut other, mut slowest) = (0usize, Vec::new(), Duration::ZERO);
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        if i >= posts || refused.load(Ordering::Relaxed) >= ENOUGH_REFUSALS {
                            break;
                        }
                        let body = json!({"jsonrpc": "2.0", "id": i + 10, "method": "tools/list"}).to_string();
                        let t = Instant::now();
                        let r = c.send(Req::post(&endpoint, body)).await;
                        slowest = slowest.max(t.elapsed());
                        match r.status {
                            202 => accepted += 1,
                            503 => {
                                assert!(r.headers.contains_key("retry-after"), "a 503 without Retry-After");
                                refused.fetch_add(1, Ordering::Relaxed);
                            }
                            s => other.push((s, r.text())),
                        }
                    }
                    (accepted, other, slowest)
                })
            })
            .collect();
        let (mut accepted, mut other, mut slowest) = (0, Vec::new(), Duration::ZERO);
        for w in workers {
            let (a, o, s) = w.await.expect("a POST worker failed");
            accepted += a;
            other.extend(o);
            slowest = slowest.max(s);
        }
        prober.finish("legacy SSE: during the POST flood").await;
        let peak = sampler.stop();
        let refused = refused.load(Ordering::Relaxed);
        eprintln!(
            "legacy SSE: {accepted} POSTs accepted (202), {refused} refused (503) in {:.1} s; slowest POST {} ms",
            started.elapsed().as_secs_f64(),
            slowest.as_millis()
        );
        assert_growth(
            &format!("legacy SSE: {accepted} replies behind an unread stream"),
            baseline,
            peak,
            SSE_GROWTH_MIB,
        );
        assert!(other.is_empty(), "unexpected answers: {:?}", &other[..other.len().min(3)]);
        assert!(refused > 0, "all {accepted} POSTs to an unread stream were accepted: the queue is unbounded");

        // Closing the stream ends the session and gives its memory back.
        drop(stream);
        let deadline = Instant::now() + WELL_BEHAVED;
        let gone = loop {
            let r =
                c.send(Req::post(&endpoint, json!({"jsonrpc": "2.0", "id": 1, "method": "ping"}).to_string())).await;
            if r.status == 404 || Instant::now() > deadline {
                break r.status;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        };
        assert_eq!(gone, 404, "the session outlived its stream");
        tokio::time::sleep(Duration::from_millis(500)).await;
        let after = server.rss_kib();
        assert_growth("legacy SSE: after the stream closed", baseline, after, SSE_GROWTH_MIB);
        sse_client_is_served(server.addr).await;
        assert_serves(server.addr, "legacy SSE: after").await;
    });
}
