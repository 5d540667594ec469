//! 2025-11-25 specifics: handshake details, ping, logging/setLevel, real server→client
//! requests, subscriptions and list_changed notifications.

mod common;

use std::time::Duration;

use common::{connect, wait_for};
use ferromcp_client::{Client, ClientError, ClientOptions};
use ferromcp_core::transport::{LineConfig, serve_io};
use ferromcp_core::{Context, NoArgs, ProtocolError, ToolDef};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

#[tokio::test]
async fn ping_and_set_log_level_work_and_discover_is_refused() {
    let client = connect(ClientOptions::legacy()).await;
    client.ping().await.expect("ping");
    client.set_log_level("error").await.expect("setLevel");
    let mut rx = client.notifications();
    client.call_tool("chatty", json!({})).await.expect("chatty");
    let logs: Vec<Value> = common::drain(&mut rx)
        .into_iter()
        .filter(|n| n["method"] == "notifications/message")
        .collect();
    assert!(logs.is_empty(), "info/debug are below `error`: {logs:?}");

    let err = client
        .set_log_level("loud")
        .await
        .expect_err("unknown level");
    assert_eq!(err.protocol_code(), Some(-32602));
    let err = client.discover().await.expect_err("no discover on legacy");
    assert!(
        matches!(&err, ClientError::Usage(m) if m.contains("server_info")),
        "{err}"
    );
    client.close().await;
}

/// Reads what the client sends to a hand-driven server end.
#[tokio::test]
async fn the_handshake_is_initialize_then_initialized() {
    let (client_end, server_end) = tokio::io::duplex(1 << 16);
    let (sr, mut sw) = tokio::io::split(server_end);
    let (cr, cw) = tokio::io::split(client_end);
    let opts = ClientOptions::legacy()
        .name("probe")
        .version("3.1")
        .on_roots(|_| async { Ok(json!({"roots": []})) });
    let connecting = tokio::spawn(Client::connect_io(cr, cw, opts));
    let mut lines = BufReader::new(sr).lines();
    let init: Value = serde_json::from_str(&lines.next_line().await.unwrap().unwrap()).unwrap();
    assert_eq!(init["method"], "initialize");
    assert_eq!(init["params"]["protocolVersion"], "2025-11-25");
    assert_eq!(
        init["params"]["clientInfo"],
        json!({"name": "probe", "version": "3.1"})
    );
    assert_eq!(init["params"]["capabilities"], json!({"roots": {}}));
    assert!(init["params"].get("_meta").is_none(), "no _meta on legacy");
    // Noise before the answer is ignored.
    sw.write_all(b"not json\n[1]\n").await.unwrap();
    let answer = json!({"jsonrpc": "2.0", "id": init["id"], "result": {
        "protocolVersion": "2025-06-18", "capabilities": {"tools": {}},
        "serverInfo": {"name": "hand", "version": "0"}}});
    sw.write_all(format!("{answer}\n").as_bytes())
        .await
        .unwrap();
    let initialized: Value =
        serde_json::from_str(&lines.next_line().await.unwrap().unwrap()).unwrap();
    assert_eq!(initialized["method"], "notifications/initialized");
    assert!(initialized.get("id").is_none());
    let client = connecting.await.unwrap().expect("connected");
    assert_eq!(
        client.server_info().protocol_version,
        "2025-06-18",
        "negotiated down"
    );
    assert_eq!(client.server_info().name, "hand");

    // A server request is answered with the same id; unknown methods get -32601.
    let ask = json!({"jsonrpc": "2.0", "id": "s-1", "method": "roots/list", "params": {}});
    let unknown = json!({"jsonrpc": "2.0", "id": 99, "method": "tasks/get", "params": {}});
    sw.write_all(format!("{ask}\n{unknown}\n").as_bytes())
        .await
        .unwrap();
    let mut replies = Vec::new();
    for _ in 0..2 {
        replies.push(
            serde_json::from_str::<Value>(&lines.next_line().await.unwrap().unwrap()).unwrap(),
        );
    }
    replies.sort_by_key(|r| r["id"].is_number());
    assert_eq!(
        replies[0],
        json!({"jsonrpc": "2.0", "id": "s-1", "result": {"roots": []}})
    );
    assert_eq!(replies[1]["id"], 99);
    assert_eq!(replies[1]["error"]["code"], -32601);

    // The server going away fails in-flight requests with Closed.
    let c = client.clone();
    let pending = tokio::spawn(async move { c.ping().await });
    let ping: Value = serde_json::from_str(&lines.next_line().await.unwrap().unwrap()).unwrap();
    assert_eq!(ping["method"], "ping");
    drop(sw);
    drop(lines);
    let err = pending.await.unwrap().expect_err("server closed");
    assert!(matches!(err, ClientError::Closed), "{err:?}");
    assert!(client.is_closed());
}

#[tokio::test]
async fn handler_errors_and_declines_reach_the_tool() {
    let opts = ClientOptions::legacy().on_elicitation(|p: Value| async move {
        if p["message"] == "What is your name?" {
            Err(ProtocolError::new(-32042, "the user walked away"))
        } else {
            Ok(json!({"action": "decline"}))
        }
    });
    let client = connect(opts).await;
    let err = client
        .call_tool("greet", json!({}))
        .await
        .expect_err("the ask failed");
    let p = err.as_protocol().expect("protocol error");
    assert_eq!(
        p.code, -32042,
        "the client's error is the call's error: {p}"
    );
    assert_eq!(p.message, "the user walked away");
    let out = client
        .read_resource("docs://secret")
        .await
        .expect("declined");
    assert_eq!(out["contents"][0]["text"], "secret for <declined>");
    client.close().await;
}

#[tokio::test]
async fn subscriptions_and_list_changes_are_notified() {
    let server = common::server();
    let client = Client::in_memory(server.clone(), ClientOptions::legacy())
        .await
        .expect("connect");
    let mut rx = client.notifications();
    client
        .subscribe_resource("docs://readme")
        .await
        .expect("subscribe");
    server.notify_resource_updated("docs://readme");
    let seen = wait_for(&mut rx, |n| {
        n["method"] == "notifications/resources/updated"
    })
    .await;
    assert_eq!(seen.last().unwrap()["params"]["uri"], "docs://readme");

    server
        .registry()
        .add_tool(ToolDef::new("late").handler(|_c: Context, _: NoArgs| async { "late" }));
    wait_for(&mut rx, |n| {
        n["method"] == "notifications/tools/list_changed"
    })
    .await;
    let tools = client.list_tools().await.expect("list");
    assert!(tools.iter().any(|t| t.name == "late"));
    assert_eq!(
        client.call_tool("late", ()).await.expect("late").text(),
        "late"
    );

    client
        .unsubscribe_resource("docs://readme")
        .await
        .expect("unsubscribe");
    client.close().await;
}

#[tokio::test]
async fn connect_io_works_over_any_stream_pair() {
    let (a, b) = tokio::io::duplex(4096);
    let (sr, sw) = tokio::io::split(b);
    tokio::spawn(serve_io(common::server(), sr, sw, LineConfig::default()));
    let (cr, cw) = tokio::io::split(a);
    let opts = ClientOptions::legacy().request_timeout(Duration::from_secs(10));
    let client = Client::connect_io(cr, cw, opts).await.expect("connect");
    // Larger than the pipe buffer in both directions.
    let big = "x".repeat(50_000);
    let out = client
        .call_tool("add", json!({"a": 1, "b": 2, "pad": big}))
        .await
        .expect("call");
    assert_eq!(out.structured().unwrap()["result"], 3);
    client.close().await;
}

#[tokio::test]
async fn a_timed_out_request_is_cancelled_and_a_late_answer_ignored() {
    let (client_end, server_end) = tokio::io::duplex(1 << 16);
    let (sr, mut sw) = tokio::io::split(server_end);
    let (cr, cw) = tokio::io::split(client_end);
    let opts = ClientOptions::legacy().request_timeout(Duration::from_millis(100));
    let connecting = tokio::spawn(Client::connect_io(cr, cw, opts));
    let mut lines = BufReader::new(sr).lines();
    let mut next = async || -> Value {
        let line = lines.next_line().await.expect("read").expect("a line");
        serde_json::from_str(&line).expect("JSON")
    };
    let init = next().await;
    let answer = json!({"jsonrpc": "2.0", "id": init["id"], "result": {
        "protocolVersion": "2025-11-25", "capabilities": {}, "serverInfo": {"name": "s", "version": "1"}}});
    sw.write_all(format!("{answer}\n").as_bytes())
        .await
        .unwrap();
    assert_eq!(next().await["method"], "notifications/initialized");
    let client = connecting.await.unwrap().expect("connected");

    let err = client.ping().await.expect_err("nobody answers");
    assert!(
        matches!(&err, ClientError::Timeout { method, .. } if method == "ping"),
        "{err:?}"
    );
    assert!(
        err.to_string().contains("request_timeout"),
        "actionable: {err}"
    );
    let ping = next().await;
    let cancelled = next().await;
    assert_eq!(cancelled["method"], "notifications/cancelled");
    assert_eq!(cancelled["params"]["requestId"], ping["id"]);

    // The late answer is dropped; the next request still gets its own answer.
    let late = json!({"jsonrpc": "2.0", "id": ping["id"], "result": {}});
    sw.write_all(format!("{late}\n").as_bytes()).await.unwrap();
    let c = client.clone();
    let second = tokio::spawn(async move { c.request("tools/list", json!({})).await });
    let req = next().await;
    assert_ne!(req["id"], ping["id"]);
    let reply = json!({"jsonrpc": "2.0", "id": req["id"], "result": {"tools": [], "x": 1}});
    sw.write_all(format!("{reply}\n").as_bytes()).await.unwrap();
    assert_eq!(second.await.unwrap().expect("answered")["x"], 1);
    client.close().await;
}
