//! Attack 2: filling the in-memory event store (legacy Streamable HTTP resumability).
//!
//! - A `progressToken` of 1 MiB (and a request id of 2 KiB) on the progress tool: refused
//!   with -32602 before anything is stored; the server does not grow.
//! - Allowed input that is stored: many progress calls with a 1000-byte token (each
//!   stores its progress events and result), then many elicitations whose 1 MiB message
//!   (the tool's own output) is stored on the call's stream. RSS growth stays under the
//!   event store's byte cap plus slack.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use serde_json::{Value, json};

use crate::support::*;

/// Refused tokens keep nothing; only the transient buffers of one 1 MiB request at a time.
const REFUSED_GROWTH_MIB: u64 = 16;
/// The store's default byte caps keep what one client can make it hold to a few tens of
/// MiB (issue 8); add the transient copies of the 1 MiB requests in flight (2 at a time).
const STORED_GROWTH_MIB: u64 = 96;

fn progress_call(id: &Value, token: &str) -> String {
    call_body(id, "test_tool_with_progress", json!({}), Some(json!({"progressToken": token})))
}

#[test]
fn an_oversized_progress_token_or_request_id_is_refused_and_nothing_is_stored() {
    run("events/oversized-echo", async {
        let calls: usize = pick(20, 200);
        let server = ServerProc::http(&[]);
        let mut conn = Conn::open(server.addr).await;
        let sid = legacy_session(&mut conn, json!({})).await;
        let warm = conn.send(in_session(&sid, progress_call(&json!(1), "warm-up"))).await;
        assert_eq!(result_text(&warm.reply(&json!(1))), "Progress test completed");
        let baseline = server.rss_kib();
        let sampler = server.sampler();
        let prober = Prober::start(server.addr);

        let token = "t".repeat(1 << 20);
        let mut refused = 0;
        let mut first = None;
        for i in 0..calls {
            let id = json!(i + 10);
            let r = conn.send(in_session(&sid, progress_call(&id, &token))).await;
            let v = r.reply(&id);
            if v["error"]["code"] == INVALID_PARAMS {
                refused += 1;
            }
            first.get_or_insert((r.status, v));
        }
        let long_id = json!("i".repeat(2048));
        let r = conn.send(in_session(&sid, progress_call(&long_id, "small"))).await;
        let id_answer = r.messages().into_iter().find(|m| m.get("error").is_some() || m.get("result").is_some());

        prober.finish("events: during 1 MiB progress tokens").await;
        let peak = sampler.stop();
        let (status, v) = first.expect("one call");
        eprintln!("events: 1 MiB progressToken: HTTP {status}, {}", &v.to_string()[..v.to_string().len().min(300)]);
        eprintln!("events: {refused} of {calls} calls with a 1 MiB progressToken refused with -32602");
        assert_growth(&format!("events: {calls} calls with a 1 MiB progressToken"), baseline, peak, REFUSED_GROWTH_MIB);
        assert_eq!(refused, calls, "every 1 MiB progressToken is refused with -32602");
        let id_answer = id_answer.expect("an answer to a 2 KiB request id");
        assert_eq!(id_answer["error"]["code"], INVALID_PARAMS, "a 2 KiB request id: {}", r.text());

        // Normal calls still work, in this session and for a new client.
        let ok = conn.send(in_session(&sid, progress_call(&json!(2), "after"))).await;
        assert_eq!(result_text(&ok.reply(&json!(2))), "Progress test completed");
        assert_serves(server.addr, "events: after the oversized tokens").await;
    });
}

/// One `test_elicitation` call whose ask carries `message`, answered at once; the final
/// message. `conn` streams the call, `answer` carries the client's reply.
async fn elicit_and_answer(conn: &mut Conn, answer: &mut Conn, sid: &str, id: Value, message: &str) -> Value {
    let body = call_body(&id, "test_elicitation", json!({"message": message}), None);
    let resp = conn.start(in_session(sid, body)).await;
    let sse = resp.headers().get("content-type").is_some_and(|v| v.as_bytes().starts_with(b"text/event-stream"));
    if !sse {
        let bytes = http_body_util::BodyExt::collect(resp.into_body()).await.expect("body").to_bytes();
        return serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    }
    let mut reader = SseReader::new(resp.into_body());
    loop {
        let (_, data) = reader.event(WAIT).await.expect("the call's stream ended without its answer");
        let msg = head_of(&data);
        if msg.get("id") == Some(&id) && (msg.get("result").is_some() || msg.get("error").is_some()) {
            return serde_json::from_str(&data).unwrap_or(msg);
        }
        if msg["method"] == "elicitation/create" {
            let reply = json!({"jsonrpc": "2.0", "id": msg["id"], "result": {
                "action": "accept", "content": {"username": "u", "email": "e@example.com"}}});
            let r = answer.send(in_session(sid, reply.to_string())).await;
            assert_eq!(r.status, 202, "the elicitation answer: {}", r.text());
        }
    }
}

/// The message's `id`, `method`, `result` and `error` without building its (1 MiB) params:
/// parsing them in this unoptimised test build would cost more than the server's work.
fn head_of(data: &str) -> Value {
    #[derive(serde::Deserialize)]
    struct Head {
        id: Option<Value>,
        method: Option<String>,
        result: Option<serde::de::IgnoredAny>,
        error: Option<Value>,
    }
    let Ok(h) = serde_json::from_str::<Head>(data) else { return Value::Null };
    let mut v = json!({"id": h.id, "method": h.method, "error": h.error});
    if h.result.is_some() {
        v["result"] = json!({});
    }
    v
}

#[test]
fn stored_events_are_bounded_in_bytes() {
    run("events/byte-cap", async {
        let (allowed, elicits): (usize, usize) = pick((200, 90), (20_000, 600));
        let server = ServerProc::http(&[]);
        let mut conn = Conn::open(server.addr).await;
        let sid = legacy_session(&mut conn, json!({"elicitation": {}})).await;
        let mut answer = Conn::open(server.addr).await;
        let v = elicit_and_answer(&mut conn, &mut answer, &sid, json!("warm"), "warm-up").await;
        assert!(result_text(&v).contains("action=accept"), "{v}");
        let baseline = server.rss_kib();
        let sampler = server.sampler();
        let prober = Prober::start(server.addr);

        // Allowed echo: a 1000-byte progress token and a ~900-byte id on every call.
        let token = Arc::new("p".repeat(1000));
        let next = Arc::new(AtomicUsize::new(0));
        let workers: Vec<_> = (0..16)
            .map(|_| {
                let (token, next, sid, addr) = (token.clone(), next.clone(), sid.clone(), server.addr);
                tokio::spawn(async move {
                    let mut c = Conn::open(addr).await;
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        if i >= allowed {
                            break;
                        }
                        let id = json!(format!("{i:0>900}"));
                        let v = c.send(in_session(&sid, progress_call(&id, &token))).await.reply(&id);
                        assert_eq!(result_text(&v), "Progress test completed", "a 1000-byte token is allowed");
                    }
                })
            })
            .collect();
        for w in workers {
            w.await.expect("a progress client failed");
        }
        eprintln!("events: {allowed} progress calls with a 1000-byte token and a 900-byte id served");

        // Stored output: elicitations of 1 MiB each, answered at once, 2 at a time.
        let message = Arc::new("m".repeat(1 << 20));
        let next = Arc::new(AtomicUsize::new(0));
        let workers: Vec<_> = (0..2)
            .map(|_| {
                let (message, next, sid, addr) = (message.clone(), next.clone(), sid.clone(), server.addr);
                tokio::spawn(async move {
                    let (mut c, mut a) = (Conn::open(addr).await, Conn::open(addr).await);
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        if i >= elicits {
                            break;
                        }
                        let v = elicit_and_answer(&mut c, &mut a, &sid, json!(i), &message).await;
                        assert!(v.get("result").is_some() || v.get("error").is_some(), "{v}");
                    }
                })
            })
            .collect();
        for w in workers {
            w.await.expect("an elicitation client failed");
        }
        prober.finish("events: while filling the event store").await;
        tokio::time::sleep(Duration::from_millis(200)).await;
        let peak = sampler.stop();
        assert_growth(
            &format!("events: {allowed} progress calls + {elicits} stored 1 MiB elicitations"),
            baseline,
            peak,
            STORED_GROWTH_MIB,
        );
        let ok = conn.send(in_session(&sid, progress_call(&json!("after"), "after"))).await;
        assert_eq!(result_text(&ok.reply(&json!("after"))), "Progress test completed");
        assert_serves(server.addr, "events: after filling the store").await;
    });
}
