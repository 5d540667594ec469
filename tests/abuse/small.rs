//! Attack 8, the smaller items: media types compared case-sensitively, `Origin: null`
//! accepted on a loopback bind, and a `requestState` grown past what a client can send.

use serde_json::json;

use crate::support::*;

#[test]
fn upper_case_media_types_are_accepted() {
    run("small/accept-case", async {
        let server = ServerProc::http(&[]);
        let mut conn = Conn::open(server.addr).await;
        let accept = "APPLICATION/JSON, TEXT/EVENT-STREAM";
        let id = json!("upper");
        let r =
            conn.send(modern_call(&id, "test_simple_text", json!({}), json!({}), None).header("accept", accept)).await;
        eprintln!("small: Accept: {accept} on a modern call: HTTP {}", r.status);
        assert_eq!(r.status, 200, "Accept: {accept}: {}", r.text());
        assert!(result_text(&r.reply(&id)).starts_with("This is a simple text"));
        let r = conn.send(Req::post("/mcp", initialize_body(json!({}))).header("accept", accept)).await;
        assert_eq!(r.status, 200, "initialize with Accept: {accept}: {}", r.text());
        assert_serves(server.addr, "small: after upper-case media types").await;
    });
}

#[test]
fn origin_null_is_refused_on_a_loopback_bind() {
    run("small/origin-null", async {
        let server = ServerProc::http(&["--legacy-sse"]);
        let mut conn = Conn::open(server.addr).await;
        let id = json!("o");
        let good = conn
            .send(modern_call(&id, "test_simple_text", json!({}), json!({}), None).header("origin", "http://localhost"))
            .await;
        assert_eq!(good.status, 200, "a loopback Origin is accepted: {}", good.text());
        let r =
            conn.send(modern_call(&id, "test_simple_text", json!({}), json!({}), None).header("origin", "null")).await;
        eprintln!("small: Origin: null on POST /mcp: HTTP {}", r.status);
        assert_eq!(r.status, 403, "Origin: null on a loopback bind: {}", r.text());
        let mut c = Conn::open(server.addr).await;
        let r = c.start(Req::get("/sse").header("accept", "text/event-stream").header("origin", "null")).await;
        assert_eq!(r.status(), 403, "Origin: null on GET /sse");
        assert_serves(server.addr, "small: after Origin: null").await;
    });
}

#[test]
fn a_request_state_past_the_size_limit_is_a_clear_error() {
    run("small/request-state-size", async {
        let server = ServerProc::http(&[]);
        let mut conn = Conn::open(server.addr).await;
        let tool = "test_input_required_result_multi_round";
        let caps = json!({"elicitation": {}});
        let id = json!("r1");
        let first = conn.send(modern_call(&id, tool, json!({}), caps.clone(), None)).await.reply(&id);
        assert_eq!(first["result"]["resultType"], "input_required", "{first}");
        let state = first["result"]["requestState"].as_str().expect("a requestState").to_owned();
        // A 3 MiB answer: sealed into the next round's state it would make a retry larger
        // than the 4 MiB body limit, impossible to send.
        let big = "n".repeat(3 << 20);
        let params = json!({
            "arguments": {},
            "inputResponses": {"step1": {"action": "accept", "content": {"name": big}}},
            "requestState": state,
        });
        let id = json!("r2");
        let r = conn.send(modern_call(&id, tool, params, caps, None)).await;
        let v = r.reply(&id);
        let state_len = v["result"]["requestState"].as_str().map(str::len);
        eprintln!(
            "small: a 3 MiB answer: HTTP {}, error {}, next requestState {state_len:?} bytes",
            r.status,
            v.get("error").map_or("none".into(), |e| e.to_string())
        );
        let message = v["error"]["message"].as_str().unwrap_or_else(|| {
            panic!("a requestState past the limit must be an error, got a result with a requestState of {state_len:?} bytes")
        });
        let lower = message.to_ascii_lowercase();
        assert!(
            lower.contains("requeststate") && ["limit", "bytes", "large", "size"].iter().any(|w| lower.contains(w)),
            "the error names the requestState limit: {message}"
        );
        assert_serves(server.addr, "small: after an oversized requestState").await;
    });
}
