//! ferromcp-client against the official TypeScript reference server
//! (`@modelcontextprotocol/server-everything`, pinned in `tests/foreign-ts/package.json`)
//! over Streamable HTTP: tools, progress on the call's own stream, logging, elicitation,
//! sampling and roots through the client's handlers, resources, prompts, completions,
//! and concurrent calls whose server requests each reach the handler with their call.
//!
//! The server speaks 2025-11-25 only, so `ClientEra::Auto` must settle on the legacy era.

mod foreign_support;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ferromcp_client::{CallInfo, Client, ClientEra, ClientHandlers, ClientOptions, CompletionRef};
use foreign_support::{Foreign, WAIT};
use serde_json::{Value, json};
use tokio::time::timeout;

/// (tag of the call the handler was given, what the server asked).
type Seen = Arc<Mutex<Vec<(Option<String>, Value)>>>;

/// Handlers whose answers come from the call attached to each question, so a question
/// paired with the wrong call yields a wrong result in that call.
fn handlers(seen: Seen, roots_asked: Arc<Mutex<Vec<bool>>>) -> ClientHandlers {
    let s1 = seen.clone();
    ClientHandlers::new()
        .elicitation_for_call(move |params: Value, call: Option<Arc<CallInfo>>| {
            let seen = s1.clone();
            async move {
                let tag = call.as_ref().and_then(|c| c.tag.clone());
                seen.lock().expect("lock").push((tag.clone(), params["message"].clone()));
                Ok(json!({
                    "action": "accept",
                    "content": {"name": tag.unwrap_or_else(|| "no call".into()), "check": true, "email": "ada@example.com"}
                }))
            }
        })
        .sampling_for_call(move |params: Value, call: Option<Arc<CallInfo>>| {
            let seen = seen.clone();
            async move {
                let tag = call.as_ref().and_then(|c| c.tag.clone());
                let asked = params["messages"][0]["content"]["text"].clone();
                seen.lock().expect("lock").push((tag, asked));
                let prompt = call
                    .as_ref()
                    .and_then(|c| c.arguments.as_ref())
                    .and_then(|a| a["prompt"].as_str())
                    .unwrap_or("no call")
                    .to_owned();
                Ok(json!({
                    "role": "assistant",
                    "content": {"type": "text", "text": format!("answer to {prompt}")},
                    "model": "test-model",
                    "stopReason": "endTurn"
                }))
            }
        })
        .roots_for_call(move |_params: Value, call: Option<Arc<CallInfo>>| {
            roots_asked.lock().expect("lock").push(call.is_some());
            async move { Ok(json!({"roots": [{"uri": "file:///srv/ferro", "name": "ferro"}]})) }
        })
}

async fn connect(server: &Foreign, handlers: ClientHandlers) -> Client {
    let opts = ClientOptions::default()
        .handlers(handlers)
        .request_timeout(Duration::from_secs(30));
    timeout(WAIT, Client::connect_http(&server.url, opts))
        .await
        .expect("connect in time")
        .unwrap_or_else(|e| panic!("connect: {e}\nserver log:\n{}", server.log()))
}

fn new_seen() -> (Seen, Arc<Mutex<Vec<bool>>>) {
    (Arc::default(), Arc::default())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn typescript_everything_tools_resources_prompts_completions_and_roots() {
    let Some(server) = Foreign::typescript() else {
        return;
    };
    let (seen, roots_asked) = new_seen();
    let client = connect(&server, handlers(seen, roots_asked.clone())).await;
    assert_eq!(
        client.era(),
        ClientEra::Legacy,
        "the TS server speaks 2025-11-25"
    );
    assert_eq!(client.server_info().name, "mcp-servers/everything");
    assert!(client.attributes_server_requests());

    let tools = client.list_tools().await.expect("tools/list");
    let names: Vec<&str> = tools.iter().map(|t| t.name.as_ref()).collect();
    for want in [
        "echo",
        "get-sum",
        "trigger-long-running-operation",
        "trigger-elicitation-request",
        "trigger-sampling-request",
        "get-roots-list",
    ] {
        assert!(names.contains(&want), "{want} missing from {names:?}");
    }
    let out = client
        .call_tool("echo", json!({"message": "ferro"}))
        .await
        .expect("echo");
    assert_eq!(out.text(), "Echo: ferro");
    let out = client
        .call_tool("get-sum", json!({"a": 19, "b": 23}))
        .await
        .expect("get-sum");
    assert_eq!(out.text(), "The sum of 19 and 23 is 42.");
    let bad = client.call_tool("get-sum", json!({"a": "x"})).await;
    assert!(
        matches!(&bad, Ok(o) if o.is_error())
            || bad.as_ref().is_err_and(|e| e.protocol_code().is_some()),
        "invalid arguments are a tool error or a protocol error: {bad:?}"
    );

    let resources = client.list_resources().await.expect("resources/list");
    assert!(
        resources
            .iter()
            .any(|r| r.uri.starts_with("demo://resource/static/document/")),
        "{resources:?}"
    );
    let templates = client.list_resource_templates().await.expect("templates");
    assert!(
        templates
            .iter()
            .any(|t| t.uri_template == "demo://resource/dynamic/text/{resourceId}"),
        "{templates:?}"
    );
    let read = client
        .read_resource("demo://resource/dynamic/text/7")
        .await
        .expect("read");
    assert_eq!(
        read["contents"][0]["uri"], "demo://resource/dynamic/text/7",
        "{read}"
    );
    assert!(
        read["contents"][0]["text"]
            .as_str()
            .is_some_and(|t| !t.is_empty()),
        "{read}"
    );

    let prompts = client.list_prompts().await.expect("prompts/list");
    for want in ["simple-prompt", "args-prompt", "completable-prompt"] {
        assert!(
            prompts.iter().any(|p| p.name == want),
            "{want}: {prompts:?}"
        );
    }
    let prompt = client
        .get_prompt("args-prompt", json!({"city": "Lyon", "state": "Rhône"}))
        .await
        .expect("prompts/get");
    assert_eq!(
        prompt["messages"][0]["content"]["text"], "What's weather in Lyon, Rhône?",
        "{prompt}"
    );
    let done = client
        .complete(
            CompletionRef::Prompt("completable-prompt".into()),
            "department",
            "Ma",
        )
        .await
        .expect("complete");
    assert_eq!(done.values, vec!["Marketing"]);
    let done = client
        .complete(
            CompletionRef::Resource("demo://resource/dynamic/text/{resourceId}".into()),
            "resourceId",
            "12",
        )
        .await
        .expect("complete a template variable");
    assert_eq!(done.values, vec!["12"]);

    // The server asks for roots on its own (no call caused it, and the client says so);
    // its tool then lists what the handler answered.
    let start = Instant::now();
    loop {
        let out = client
            .call_tool("get-roots-list", ())
            .await
            .expect("get-roots-list");
        if out.text().contains("file:///srv/ferro") {
            break;
        }
        assert!(
            start.elapsed() < WAIT,
            "roots never arrived: {}",
            out.text()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let asked = roots_asked.lock().expect("lock").clone();
    assert!(!asked.is_empty(), "the roots handler ran");
    client.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn typescript_everything_progress_reaches_the_calls_own_stream() {
    let Some(server) = Foreign::typescript() else {
        return;
    };
    let client = connect(&server, ClientHandlers::new()).await;
    let mut events = client.events();
    let progress = Arc::new(Mutex::new(Vec::new()));
    let p = progress.clone();
    let out = timeout(
        WAIT,
        client
            .tool_call("trigger-long-running-operation")
            .arguments(json!({"duration": 1, "steps": 5}))
            .tag("long")
            .on_progress(move |n| {
                p.lock()
                    .expect("lock")
                    .push((n["progress"].clone(), n["total"].clone()))
            })
            .send(),
    )
    .await
    .expect("in time")
    .expect("long running operation");
    assert_eq!(
        out.text(),
        "Long running operation completed. Duration: 1 seconds, Steps: 5."
    );
    let want: Vec<_> = (1..=5).map(|i| (json!(i), json!(5))).collect();
    assert_eq!(
        *progress.lock().expect("lock"),
        want,
        "every step once, in order"
    );
    let mut tagged = Vec::new();
    while let Ok(ev) = events.try_recv() {
        if ev.method() == "notifications/progress" {
            tagged.push(ev.call.and_then(|c| c.tag.clone()));
        }
    }
    assert_eq!(
        tagged,
        vec![Some("long".to_owned()); 5],
        "the event stream names the call"
    );
    client.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn typescript_everything_log_messages_arrive_at_the_chosen_level() {
    let Some(server) = Foreign::typescript() else {
        return;
    };
    let client = connect(&server, ClientHandlers::new()).await;
    client
        .set_log_level("debug")
        .await
        .expect("logging/setLevel");
    let mut notes = client.notifications();
    let out = client
        .call_tool("toggle-simulated-logging", ())
        .await
        .expect("toggle on");
    assert!(
        out.text().starts_with("Started simulated"),
        "{}",
        out.text()
    );
    // One message at once, then one every 5 s; wait for two.
    let mut got = Vec::new();
    let deadline = Instant::now() + WAIT;
    while got.len() < 2 {
        let left = deadline.saturating_duration_since(Instant::now());
        let note = timeout(left, notes.recv())
            .await
            .unwrap_or_else(|_| {
                panic!("only {} log message(s) within {WAIT:?}: {got:?}", got.len())
            })
            .expect("notification stream open");
        if note["method"] == "notifications/message" {
            got.push(note["params"].clone());
        }
    }
    for params in &got {
        let data = params["data"].as_str().unwrap_or_default();
        assert!(data.contains("message - SessionId "), "{params}");
        assert!(params["level"].is_string(), "{params}");
    }
    let out = client
        .call_tool("toggle-simulated-logging", ())
        .await
        .expect("toggle off");
    assert!(
        out.text().starts_with("Stopped simulated"),
        "{}",
        out.text()
    );
    client.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn typescript_everything_concurrent_elicitations_and_samplings_reach_their_calls() {
    let Some(server) = Foreign::typescript() else {
        return;
    };
    let (seen, roots) = new_seen();
    let client = connect(&server, handlers(seen.clone(), roots)).await;

    // Four elicitations at once: the tool takes no arguments, so only the call attached
    // to each question tells them apart; the handler answers with that call's tag and
    // each call must get its own tag back.
    let calls = (0..4).map(|i| {
        let client = client.clone();
        async move {
            client
                .tool_call("trigger-elicitation-request")
                .tag(format!("elicit-{i}"))
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
            out.text()
                .contains("User provided the requested information"),
            "{}",
            out.text()
        );
        assert!(
            out.text().contains(&format!("- Name: elicit-{i}\n")),
            "call {i}: {}",
            out.text()
        );
    }

    // Four samplings at once, with distinguishable prompts: the handler answers from the
    // attached call's arguments.
    let calls = (0..4).map(|i| {
        let client = client.clone();
        async move {
            client
                .tool_call("trigger-sampling-request")
                .arguments(json!({"prompt": format!("p{i}"), "maxTokens": 20}))
                .tag(format!("sample-{i}"))
                .send()
                .await
        }
    });
    let outs = timeout(WAIT, futures_util::future::join_all(calls))
        .await
        .expect("in time");
    for (i, out) in outs.into_iter().enumerate() {
        let out = out.expect("sampling call");
        assert!(
            out.text()
                .contains(&format!("\"text\": \"answer to p{i}\"")),
            "call {i}: {}",
            out.text()
        );
    }

    let mut pairs = seen.lock().expect("lock").clone();
    pairs.sort_by(|a, b| a.0.cmp(&b.0));
    let mut want: Vec<_> = (0..4)
        .map(|i| {
            (
                Some(format!("elicit-{i}")),
                json!("Please provide inputs for the following fields:"),
            )
        })
        .collect();
    want.extend((0..4).map(|i| {
        (
            Some(format!("sample-{i}")),
            json!(format!("Resource trigger-sampling-request context: p{i}")),
        )
    }));
    assert_eq!(
        pairs, want,
        "each question reached the handler once, with its own call"
    );
    client.close().await;
}
