//! Attack 5: legacy server→client asks parked by clients that hang up.
//!
//! A legacy Streamable HTTP client calls `test_elicitation`, reads the
//! `elicitation/create` request from the call's stream and hangs up.
//! - With `--events off` the stream cannot be resumed: its ask must be cancelled at once,
//!   not parked for the ask timeout (300 s by default), so thousands of them cost nothing.
//! - With the default in-memory event store the stream is resumable and the ask waits,
//!   but at most `--max-pending-asks` per session: the next ask fails at once (the call
//!   ends with an error, no request is sent), nothing is parked.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::support::*;

/// Dropped asks keep nothing; what is left is allocator slack of the finished calls
/// (today each parked ask keeps its task, stream and request: several KiB).
const DROPPED_GROWTH_MIB: u64 = 8;
/// Refused asks keep nothing beyond the few parked ones.
const CAPPED_GROWTH_MIB: u64 = 8;
const MAX_PENDING: usize = 4;

fn caps() -> Value {
    json!({"elicitation": {}})
}

enum Outcome {
    /// The server sent its `elicitation/create` (and we hung up).
    Asked,
    /// The call ended first with this message.
    Ended(Value),
}

/// Calls `test_elicitation` on a fresh connection; on the ask, hangs up.
async fn ask_and_hang_up(addr: SocketAddr, sid: &str, id: Value) -> Outcome {
    let mut conn = Conn::open(addr).await;
    let body = call_body(&id, "test_elicitation", json!({"message": "Who are you?"}), None);
    let resp = conn.start(in_session(sid, body)).await;
    let sse = resp.headers().get("content-type").is_some_and(|v| v.as_bytes().starts_with(b"text/event-stream"));
    if !sse {
        let bytes = http_body_util::BodyExt::collect(resp.into_body()).await.expect("body").to_bytes();
        return Outcome::Ended(serde_json::from_slice(&bytes).unwrap_or(Value::Null));
    }
    let mut reader = SseReader::new(resp.into_body());
    loop {
        let msg = reader.message(WAIT).await.expect("the call's stream ended without an ask or an answer");
        if msg["method"] == "elicitation/create" {
            drop(reader);
            drop(conn);
            return Outcome::Asked;
        }
        if msg.get("id") == Some(&id) {
            return Outcome::Ended(msg);
        }
    }
}

/// Whether a call's final message is a failure (a JSON-RPC error or an `isError` result).
fn failed(msg: &Value) -> bool {
    msg.get("error").is_some() || msg["result"]["isError"] == true
}

#[test]
fn asks_whose_stream_cannot_resume_are_dropped_at_once() {
    run("asks/not-resumable", async {
        let (sessions, per_session): (usize, usize) = pick((100, 20), (1_000, 10));
        let server = ServerProc::http(&["--events", "off"]);
        let mut conn = Conn::open(server.addr).await;
        let mut ids = Vec::with_capacity(sessions);
        for _ in 0..sessions {
            ids.push(legacy_session(&mut conn, caps()).await);
        }
        let baseline = server.rss_kib();
        let sampler = server.sampler();
        let prober = Prober::start(server.addr);
        let started = Instant::now();
        let (next, asked) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
        let ids = Arc::new(ids);
        let workers: Vec<_> = (0..16)
            .map(|_| {
                let (next, asked, ids, addr) = (next.clone(), asked.clone(), ids.clone(), server.addr);
                tokio::spawn(async move {
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        if i >= ids.len() * per_session {
                            break;
                        }
                        if let Outcome::Asked = ask_and_hang_up(addr, &ids[i % ids.len()], json!(i + 10)).await {
                            asked.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                })
            })
            .collect();
        for w in workers {
            w.await.expect("an asking client failed");
        }
        let total = sessions * per_session;
        eprintln!(
            "asks: {total} asks over {sessions} sessions, {} sent and abandoned, in {:.1} s",
            asked.load(Ordering::Relaxed),
            started.elapsed().as_secs_f64()
        );
        // Give the server a moment to notice the closed sockets.
        tokio::time::sleep(Duration::from_millis(500)).await;
        prober.finish("asks: while clients abandon their asks").await;
        let peak = sampler.stop();
        let after = server.rss_kib();
        assert_growth(&format!("asks: {total} abandoned asks, peak"), baseline, peak, DROPPED_GROWTH_MIB);
        assert_growth(&format!("asks: {total} abandoned asks, after"), baseline, after, DROPPED_GROWTH_MIB);
        assert_serves(server.addr, "asks: after").await;
    });
}

#[test]
fn pending_asks_are_capped_per_session() {
    run("asks/per-session-cap", async {
        let attempts: usize = pick(200, 2_000);
        let cap = MAX_PENDING.to_string();
        let server = ServerProc::http(&["--max-pending-asks", &cap, "--ask-timeout-ms", "120000"]);
        let mut conn = Conn::open(server.addr).await;
        let sid = legacy_session(&mut conn, caps()).await;
        for i in 0..MAX_PENDING {
            let out = ask_and_hang_up(server.addr, &sid, json!(i)).await;
            assert!(matches!(out, Outcome::Asked), "ask {i} of {MAX_PENDING} (within the cap) is sent");
        }
        let baseline = server.rss_kib();
        let sampler = server.sampler();
        let prober = Prober::start(server.addr);
        let mut slowest = Duration::ZERO;
        let mut first = None;
        for i in 0..attempts {
            let t = Instant::now();
            let out = ask_and_hang_up(server.addr, &sid, json!(100 + i)).await;
            let took = t.elapsed();
            slowest = slowest.max(took);
            match out {
                Outcome::Asked => {
                    panic!("ask {} beyond the per-session cap of {MAX_PENDING} was sent and parked", i + 1)
                }
                Outcome::Ended(msg) => {
                    assert!(failed(&msg), "an ask beyond the cap makes the call fail: {msg}");
                    assert!(took < WELL_BEHAVED, "an ask beyond the cap fails at once, not after {took:?}");
                    first.get_or_insert(msg);
                }
            }
        }
        eprintln!(
            "asks: {attempts} asks beyond the cap refused, slowest in {} ms; first: {}",
            slowest.as_millis(),
            first.unwrap_or_default()
        );
        prober.finish("asks: while asks beyond the cap are refused").await;
        assert_growth(&format!("asks: {attempts} asks beyond the cap"), baseline, sampler.stop(), CAPPED_GROWTH_MIB);

        // Another session's ask is sent as usual (the cap is per session).
        let other = legacy_session(&mut conn, caps()).await;
        assert!(
            matches!(ask_and_hang_up(server.addr, &other, json!("other")).await, Outcome::Asked),
            "another session asks"
        );
        assert_serves(server.addr, "asks: after").await;
    });
}
