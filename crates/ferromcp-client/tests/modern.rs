//! 2026-07-28 specifics: `_meta` stamping, discovery, the MRTR loop driven by hand,
//! tampered `requestState`, the round limit and handler failures.

mod common;

use common::{Calls, connect, with_elicitation};
use ferromcp_client::mrtr::{MAX_ROUNDS, is_input_required};
use ferromcp_client::{Client, ClientError, ClientOptions};
use ferromcp_core::ProtocolError;
use ferromcp_core::error::code;
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

#[tokio::test]
async fn discover_and_legacy_only_methods() {
    let client = connect(ClientOptions::modern()).await;
    let d = client.discover().await.expect("discover");
    assert_eq!(d["supportedVersions"], json!(["2026-07-28"]));
    assert_eq!(
        d["_meta"]["io.modelcontextprotocol/serverInfo"]["name"],
        "test-server"
    );
    for err in [
        client.ping().await.expect_err("ping"),
        client.set_log_level("info").await.expect_err("setLevel"),
        client
            .subscribe_resource("docs://readme")
            .await
            .expect_err("subscribe"),
    ] {
        assert!(
            matches!(&err, ClientError::Usage(m) if m.contains("2026-07-28")),
            "{err}"
        );
    }
    // Sent anyway through `request`, the server says the method does not exist.
    let err = client
        .request("ping", json!({}))
        .await
        .expect_err("no ping");
    assert_eq!(err.protocol_code(), Some(code::METHOD_NOT_FOUND));
    client.close().await;
}

#[tokio::test]
async fn every_request_carries_meta_and_caller_meta_wins() {
    let (client_end, server_end) = tokio::io::duplex(1 << 16);
    let (sr, mut sw) = tokio::io::split(server_end);
    let (cr, cw) = tokio::io::split(client_end);
    let opts = ClientOptions::modern()
        .name("probe")
        .version("2")
        .log_level("warning")
        .on_sampling(|_| async { Ok(json!({})) });
    let connecting = tokio::spawn(Client::connect_io(cr, cw, opts));
    let mut lines = BufReader::new(sr).lines();
    let discover: Value = serde_json::from_str(&lines.next_line().await.unwrap().unwrap()).unwrap();
    assert_eq!(discover["method"], "server/discover");
    let meta = &discover["params"]["_meta"];
    assert_eq!(
        meta["io.modelcontextprotocol/protocolVersion"],
        "2026-07-28"
    );
    assert_eq!(
        meta["io.modelcontextprotocol/clientCapabilities"],
        json!({"sampling": {}})
    );
    assert_eq!(
        meta["io.modelcontextprotocol/clientInfo"],
        json!({"name": "probe", "version": "2"})
    );
    assert_eq!(meta["io.modelcontextprotocol/logLevel"], "warning");
    let answer = json!({"jsonrpc": "2.0", "id": discover["id"], "result": {
        "resultType": "complete", "supportedVersions": ["2026-07-28"], "capabilities": {}}});
    sw.write_all(format!("{answer}\n").as_bytes())
        .await
        .unwrap();
    let client = connecting.await.unwrap().expect("connected");
    assert_eq!(client.server_info().name, "", "no serverInfo was sent");

    let c = client.clone();
    let call =
        tokio::spawn(async move { c.call_tool_with_progress("t", json!({"x": 1}), "p").await });
    let req: Value = serde_json::from_str(&lines.next_line().await.unwrap().unwrap()).unwrap();
    assert_eq!(req["params"]["name"], "t");
    assert_eq!(req["params"]["arguments"], json!({"x": 1}));
    assert_eq!(req["params"]["_meta"]["progressToken"], "p");
    assert_eq!(
        req["params"]["_meta"]["io.modelcontextprotocol/protocolVersion"],
        "2026-07-28"
    );
    let error = json!({"jsonrpc": "2.0", "id": req["id"], "error": {"code": -32000, "message": "nah", "data": [1]}});
    sw.write_all(format!("{error}\n").as_bytes()).await.unwrap();
    let err = call.await.unwrap().expect_err("error answer");
    let p = err.as_protocol().expect("protocol");
    assert_eq!(
        (
            p.code,
            p.message.as_str(),
            p.data.as_ref().map(|d| d[0].clone())
        ),
        (-32000, "nah", Some(json!(1)))
    );

    // Caller-provided `_meta` fields win over the client's.
    let c = client.clone();
    let raw = tokio::spawn(async move {
        c.request(
            "tools/list",
            json!({"_meta": {"io.modelcontextprotocol/protocolVersion": "1999-01-01"}}),
        )
        .await
    });
    let req: Value = serde_json::from_str(&lines.next_line().await.unwrap().unwrap()).unwrap();
    assert_eq!(
        req["params"]["_meta"]["io.modelcontextprotocol/protocolVersion"],
        "1999-01-01"
    );
    assert_eq!(
        req["params"]["_meta"]["io.modelcontextprotocol/clientInfo"]["name"],
        "probe"
    );
    let ok = json!({"jsonrpc": "2.0", "id": req["id"], "result": {"tools": []}});
    sw.write_all(format!("{ok}\n").as_bytes()).await.unwrap();
    assert_eq!(raw.await.unwrap().expect("raw")["tools"], json!([]));
    client.close().await;
}

#[tokio::test]
async fn an_unsupported_version_is_the_servers_error() {
    let client = connect(ClientOptions::modern()).await;
    let err = client
        .request(
            "tools/list",
            json!({"_meta": {"io.modelcontextprotocol/protocolVersion": "1999-01-01"}}),
        )
        .await
        .expect_err("old version");
    assert_eq!(
        err.protocol_code(),
        Some(code::UNSUPPORTED_PROTOCOL_VERSION)
    );
    client.close().await;
}

#[tokio::test]
async fn one_round_driven_by_hand_and_a_tampered_request_state() {
    let calls = Calls::default();
    let client = connect(with_elicitation(
        ferromcp_client::ClientEra::Modern,
        calls.clone(),
    ))
    .await;
    let first = client
        .request("tools/call", json!({"name": "greet", "arguments": {}}))
        .await
        .expect("round 1");
    assert!(is_input_required(&first), "{first}");
    assert_eq!(
        first["inputRequests"]["name"]["method"],
        "elicitation/create"
    );
    assert_eq!(
        first["inputRequests"]["name"]["params"]["message"],
        "What is your name?"
    );
    let state = first["requestState"]
        .as_str()
        .expect("requestState")
        .to_owned();
    let responses = client
        .answer_input_requests(&first)
        .await
        .expect("answered");
    assert_eq!(responses["name"]["content"]["name"], "Ada");
    assert_eq!(calls.get(), 1);

    // Tampered state: flip one character in the middle.
    let mut chars: Vec<char> = state.chars().collect();
    let mid = chars.len() / 2;
    chars[mid] = if chars[mid] == 'A' { 'B' } else { 'A' };
    let tampered: String = chars.into_iter().collect();
    let err = client
        .request("tools/call", json!({"name": "greet", "arguments": {}, "inputResponses": responses, "requestState": tampered}))
        .await
        .expect_err("tampered requestState");
    assert_eq!(err.protocol_code(), Some(code::INVALID_PARAMS), "{err}");

    // State bound to another tool is refused too.
    let err = client
        .request("tools/call", json!({"name": "two_names", "arguments": {}, "inputResponses": responses, "requestState": state}))
        .await
        .expect_err("foreign requestState");
    assert_eq!(err.protocol_code(), Some(code::INVALID_PARAMS), "{err}");

    // The untouched state completes the call.
    let done = client
        .request("tools/call", json!({"name": "greet", "arguments": {}, "inputResponses": responses, "requestState": state}))
        .await
        .expect("round 2");
    assert_eq!(done["resultType"], "complete");
    assert_eq!(done["content"][0]["text"], "hello Ada");
    client.close().await;
}

#[tokio::test]
async fn the_loop_stops_after_the_round_limit() {
    let calls = Calls::default();
    let client = connect(with_elicitation(
        ferromcp_client::ClientEra::Modern,
        calls.clone(),
    ))
    .await;
    let n = MAX_ROUNDS as u32;
    let out = client
        .call_tool("ask_forever", json!({"n": n}))
        .await
        .expect("exactly the limit");
    assert_eq!(out.text(), format!("asked {n} times"));
    assert_eq!(calls.get(), MAX_ROUNDS);

    let err = client
        .call_tool("ask_forever", json!({"n": n + 1}))
        .await
        .expect_err("one too many");
    assert!(
        matches!(&err, ClientError::TooManyRounds { method, rounds } if method == "tools/call" && *rounds == MAX_ROUNDS),
        "{err:?}"
    );
    client.close().await;
}

#[tokio::test]
async fn a_failing_handler_ends_the_call_locally() {
    let opts = ClientOptions::modern()
        .on_elicitation(|_| async { Err(ProtocolError::new(-32042, "the user walked away")) });
    let client = connect(opts).await;
    let err = client
        .call_tool("greet", json!({}))
        .await
        .expect_err("handler failed");
    match err {
        ClientError::Handler { method, error } => {
            assert_eq!(method, "elicitation/create");
            assert_eq!(error.code, -32042);
        }
        other => panic!("expected a handler error, got {other:?}"),
    }
    client.close().await;
}

#[tokio::test]
async fn an_invalid_log_level_is_refused_before_connecting() {
    let err = Client::in_memory(common::server(), ClientOptions::modern().log_level("loud"))
        .await
        .expect_err("bad level");
    assert!(
        matches!(&err, ClientError::Usage(m) if m.contains("loud")),
        "{err}"
    );
}

#[tokio::test]
async fn a_decline_is_an_answer_not_an_error() {
    let opts =
        ClientOptions::modern().on_elicitation(|_| async { Ok(json!({"action": "decline"})) });
    let client = connect(opts).await;
    let r = client
        .read_resource("docs://secret")
        .await
        .expect("declined is a result");
    assert_eq!(r["contents"][0]["text"], "secret for <declined>");
    let out = client
        .call_tool("greet", json!({}))
        .await
        .expect("declined");
    assert_eq!(out.text(), "hello <declined>");
    client.close().await;
}
