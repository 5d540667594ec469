//! The client over Streamable HTTP against the real `everything` example (both eras,
//! JSON and SSE answers): tools, progress, logs, elicitation and sampling through
//! handlers with the call attached, resources, prompts, completions, concurrent calls.

mod http_support;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use ferromcp_client::{CallInfo, Client, ClientEra, ClientHandlers, ClientOptions, CompletionRef};
use http_support::{Everything, WAIT};
use serde_json::{Value, json};
use tokio::time::timeout;

/// What the handlers saw: (the call's tag, the question's text).
type Seen = Arc<Mutex<Vec<(Option<String>, Value)>>>;

/// Handlers that answer from the call they belong to: the elicitation echoes the call's
/// tag, and both record (tag, the question's message) so tests can check the pairing.
fn recording_handlers(seen: Seen) -> ClientHandlers {
    let s1 = seen.clone();
    ClientHandlers::new()
        .elicitation_for_call(move |params: Value, call: Option<Arc<CallInfo>>| {
            let seen = s1.clone();
            async move {
                let tag = call.as_ref().and_then(|c| c.tag.clone());
                let asked = call
                    .as_ref()
                    .and_then(|c| c.arguments.as_ref())
                    .map(|a| a["message"].clone())
                    .unwrap_or(Value::Null);
                // A question paired with another call's arguments fails the comparison below
                // (no panic here: it would only leave the call unanswered).
                let tag_seen = if params["message"] == asked { tag.clone() } else { Some("MISMATCH".into()) };
                seen.lock().expect("lock").push((tag_seen, params["message"].clone()));
                Ok(json!({"action": "accept", "content": {"username": tag.unwrap_or_default(), "email": "a@b.c"}}))
            }
        })
        .sampling_for_call(move |params: Value, call: Option<Arc<CallInfo>>| {
            let seen = seen.clone();
            async move {
                let tag = call.as_ref().and_then(|c| c.tag.clone());
                seen.lock().expect("lock").push((tag, params["messages"][0]["content"]["text"].clone()));
                Ok(json!({"role": "assistant", "content": {"type": "text", "text": "sampled"}, "model": "m", "stopReason": "endTurn"}))
            }
        })
}

async fn connect(url: &str, era: ClientEra, handlers: ClientHandlers) -> Client {
    let opts = ClientOptions::new(era)
        .handlers(handlers)
        .log_level("debug")
        .request_timeout(Duration::from_secs(30));
    timeout(WAIT, Client::connect_http(url, opts))
        .await
        .expect("connect in time")
        .expect("connect")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn both_eras_list_call_read_prompt_and_complete() {
    let server = Everything::start();
    for era in [ClientEra::Legacy, ClientEra::Modern, ClientEra::Auto] {
        let client = connect(&server.url, era, ClientHandlers::new()).await;
        let want = if era == ClientEra::Legacy {
            ClientEra::Legacy
        } else {
            ClientEra::Modern
        };
        assert_eq!(client.era(), want, "{era:?}");
        assert!(
            client.attributes_server_requests(),
            "Streamable HTTP says which call asked"
        );
        assert_eq!(client.server_info().name, "ferromcp-everything");
        let tools = client.list_tools().await.expect("tools/list");
        assert!(
            tools.iter().any(|t| t.name == "test_simple_text"),
            "{era:?}"
        );
        let out = client
            .call_tool("test_simple_text", json!({}))
            .await
            .expect("call");
        assert_eq!(out.text(), "This is a simple text response for testing.");
        let err = client
            .call_tool("test_error_handling", ())
            .await
            .expect("tool error is a result");
        assert!(err.is_error(), "{era:?}");
        let unknown = client
            .call_tool("no_such_tool", ())
            .await
            .expect_err("unknown tool");
        assert!(unknown.protocol_code().is_some(), "{era:?}: {unknown}");

        let resources = client.list_resources().await.expect("resources/list");
        assert!(
            resources.iter().any(|r| r.uri == "test://static-text"),
            "{era:?}"
        );
        let read = client
            .read_resource("test://static-text")
            .await
            .expect("read");
        assert_eq!(read["contents"][0]["uri"], "test://static-text");
        let templates = client.list_resource_templates().await.expect("templates");
        assert!(!templates.is_empty());

        let prompts = client.list_prompts().await.expect("prompts/list");
        assert!(
            prompts
                .iter()
                .any(|p| p.name == "test_prompt_with_arguments")
        );
        let prompt = client
            .get_prompt(
                "test_prompt_with_arguments",
                json!({"arg1": "a", "arg2": "b"}),
            )
            .await
            .expect("prompts/get");
        assert!(
            prompt["messages"].as_array().is_some_and(|m| !m.is_empty()),
            "{prompt}"
        );
        let done = client
            .complete(
                CompletionRef::Prompt("test_prompt_with_arguments".into()),
                "arg1",
                "te",
            )
            .await
            .expect("complete");
        assert!(done.values.iter().any(|v| v == "test"), "{:?}", done.values);
        client.close().await;
        assert!(client.is_closed());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn progress_and_logs_reach_their_call() {
    let server = Everything::start();
    for era in [ClientEra::Legacy, ClientEra::Modern] {
        let client = connect(&server.url, era, ClientHandlers::new()).await;
        let mut events = client.events();
        let progress = Arc::new(Mutex::new(Vec::new()));
        let p = progress.clone();
        let out = client
            .tool_call("test_tool_with_progress")
            .tag("prog")
            .on_progress(move |n| p.lock().expect("lock").push(n["progress"].clone()))
            .send()
            .await
            .expect("progress tool");
        assert_eq!(out.text(), "Progress test completed");
        assert_eq!(
            *progress.lock().expect("lock"),
            vec![json!(0.0), json!(50.0), json!(100.0)],
            "{era:?}"
        );

        let logs = Arc::new(Mutex::new(Vec::new()));
        let l = logs.clone();
        let out = client
            .tool_call("test_tool_with_logging")
            .tag("logs")
            .on_log(move |n| l.lock().expect("lock").push(n["data"].clone()))
            .send()
            .await
            .expect("logging tool");
        assert_eq!(out.text(), "Logging test completed");
        assert_eq!(
            *logs.lock().expect("lock"),
            vec![
                json!("Tool execution started"),
                json!("Tool processing data"),
                json!("Tool execution completed")
            ],
            "{era:?}"
        );
        // The event stream carries the same notifications, each with its call's tag.
        let mut tagged = Vec::new();
        while let Ok(ev) = events.try_recv() {
            if matches!(
                ev.method(),
                "notifications/progress" | "notifications/message"
            ) {
                tagged.push((ev.method().to_owned(), ev.call.and_then(|c| c.tag.clone())));
            }
        }
        assert_eq!(tagged.len(), 6, "{era:?}: {tagged:?}");
        assert!(
            tagged.iter().all(|(m, t)| {
                let want = if m == "notifications/progress" {
                    "prog"
                } else {
                    "logs"
                };
                t.as_deref() == Some(want)
            }),
            "{era:?}: {tagged:?}"
        );
        client.close().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_elicitations_each_reach_the_handler_with_their_call() {
    let server = Everything::start();
    for era in [ClientEra::Legacy, ClientEra::Modern] {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let client = connect(&server.url, era, recording_handlers(seen.clone())).await;
        let calls = (0..4).map(|i| {
            let client = client.clone();
            async move {
                client
                    .tool_call("test_elicitation")
                    .arguments(json!({"message": format!("question {i}")}))
                    .tag(format!("call-{i}"))
                    .send()
                    .await
            }
        });
        let outs = timeout(WAIT, futures_util::future::join_all(calls))
            .await
            .expect("in time");
        for (i, out) in outs.into_iter().enumerate() {
            let out = out.expect("elicitation call");
            assert!(
                out.text().contains(&format!("\"username\":\"call-{i}\"")),
                "{era:?}: {}",
                out.text()
            );
        }
        let mut pairs = seen.lock().expect("lock").clone();
        pairs.sort_by(|a, b| a.0.cmp(&b.0));
        let want: Vec<_> = (0..4)
            .map(|i| (Some(format!("call-{i}")), json!(format!("question {i}"))))
            .collect();
        assert_eq!(pairs, want, "{era:?}");

        let out = client
            .tool_call("test_sampling")
            .arguments(json!({"prompt": "hi"}))
            .tag("sample")
            .send()
            .await
            .expect("sampling call");
        assert!(out.text().contains("sampled"), "{era:?}: {}", out.text());
        assert!(
            seen.lock()
                .expect("lock")
                .contains(&(Some("sample".into()), json!("hi"))),
            "{era:?}"
        );
        client.close().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sep1034_defaults_fill_what_the_handler_left_out() {
    let server = Everything::start();
    let handlers = ClientHandlers::new()
        .elicitation(|_| async { Ok(json!({"action": "accept", "content": {}})) });
    for era in [ClientEra::Legacy, ClientEra::Modern] {
        let client = connect(&server.url, era, handlers.clone()).await;
        let out = client
            .call_tool("test_elicitation_sep1034_defaults", ())
            .await
            .expect("call");
        assert!(
            out.text().contains("action=accept"),
            "{era:?}: {}",
            out.text()
        );
        assert!(
            !out.text().contains("content={}"),
            "defaults applied: {}",
            out.text()
        );
        client.close().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn everything_reconnection_tool_completes_after_the_stream_closes() {
    let server = Everything::start();
    let client = connect(&server.url, ClientEra::Legacy, ClientHandlers::new()).await;
    let out = timeout(WAIT, client.call_tool("test_reconnection", ()))
        .await
        .expect("in time")
        .expect("reconnection tool");
    assert_eq!(out.text(), "Reconnection test completed");
    client.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_listen_stream_carries_list_changes_until_dropped() {
    let server = Everything::start();
    let client = connect(&server.url, ClientEra::Modern, ClientHandlers::new()).await;
    let mut sub = client
        .listen(ferromcp_client::Listen::new().tools_list_changed())
        .await
        .expect("listen");
    assert_eq!(
        sub.acknowledged()["method"],
        "notifications/subscriptions/acknowledged"
    );
    assert_eq!(
        sub.acknowledged()["params"]["notifications"]["toolsListChanged"],
        true
    );
    client
        .call_tool("test_trigger_tool_change", ())
        .await
        .expect("trigger");
    let note = timeout(WAIT, sub.next())
        .await
        .expect("in time")
        .expect("a notification");
    assert_eq!(note["method"], "notifications/tools/list_changed");
    assert!(
        note["params"]["_meta"]["io.modelcontextprotocol/subscriptionId"].is_number()
            || note["params"]["_meta"]["io.modelcontextprotocol/subscriptionId"].is_string(),
        "{note}"
    );
    let tools = client.list_tools().await.expect("tools/list");
    assert!(tools.iter().any(|t| t.name == "test_dynamic_tool"));
    drop(sub);
    // Listening is a 2026-07-28 stream: the legacy era says what to use instead.
    let legacy = connect(&server.url, ClientEra::Legacy, ClientHandlers::new()).await;
    let err = legacy
        .listen(ferromcp_client::Listen::new())
        .await
        .expect_err("legacy");
    assert!(
        matches!(err, ferromcp_client::ClientError::Usage(_)),
        "{err}"
    );
    client.close().await;
    legacy.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_2024_11_05_http_sse_transport_serves_old_servers() {
    let server = Everything::start_with(&["--legacy-sse"]);
    let seen: Seen = Arc::new(Mutex::new(Vec::new()));
    let opts = ClientOptions::default()
        .handlers(recording_handlers(seen.clone()))
        .request_timeout(Duration::from_secs(30));
    let sse_url = format!("{}/sse", server.base);
    let client = timeout(WAIT, Client::connect_legacy_sse(&sse_url, opts))
        .await
        .expect("in time")
        .expect("connect over HTTP+SSE");
    assert_eq!(client.era(), ClientEra::Legacy);
    assert_eq!(client.server_info().name, "ferromcp-everything");
    assert!(
        !client.attributes_server_requests(),
        "HTTP+SSE in the 2025-11-25 era"
    );
    let tools = client.list_tools().await.expect("tools/list");
    assert!(tools.iter().any(|t| t.name == "test_simple_text"));
    let progress = Arc::new(Mutex::new(Vec::new()));
    let p = progress.clone();
    let out = client
        .tool_call("test_tool_with_progress")
        .on_progress(move |n| p.lock().expect("lock").push(n["progress"].clone()))
        .send()
        .await
        .expect("progress tool");
    assert_eq!(out.text(), "Progress test completed");
    assert_eq!(
        *progress.lock().expect("lock"),
        vec![json!(0.0), json!(50.0), json!(100.0)]
    );
    // The elicitation is answered, but this transport cannot say which call asked:
    // the handler sees no call (and so no arguments to compare with).
    let attributed = Arc::new(Mutex::new(Vec::new()));
    let a2 = attributed.clone();
    let handlers = ClientHandlers::new().elicitation_for_call(move |_p, call: Option<Arc<CallInfo>>| {
        a2.lock().expect("lock").push(call.is_some());
        async move { Ok(json!({"action": "accept", "content": {"username": "u", "email": "e"}})) }
    });
    let other = Client::connect_legacy_sse(&sse_url, ClientOptions::default().handlers(handlers))
        .await
        .expect("second connection");
    let out = other
        .call_tool("test_elicitation", json!({"message": "who?"}))
        .await
        .expect("elicitation over HTTP+SSE");
    assert!(out.text().contains("action=accept"), "{}", out.text());
    assert_eq!(
        *attributed.lock().expect("lock"),
        vec![false],
        "HTTP+SSE cannot attribute server requests"
    );
    other.close().await;
    client.close().await;
    let modern = Client::connect_legacy_sse(&sse_url, ClientOptions::modern())
        .await
        .expect_err("modern refused");
    assert!(
        matches!(modern, ferromcp_client::ClientError::Usage(_)),
        "{modern}"
    );
}
