//! ferromcp-client against a FastMCP server (Python, `tests/fastmcp_server.py`, run by
//! the test venv) over Streamable HTTP, in both eras: tools, progress and log messages on
//! the call's own streams, elicitation and sampling through the client's handlers
//! (server→client requests on 2025-11-25, `input_required` rounds on 2026-07-28),
//! resources, prompts, completions, and concurrent eliciting calls each answered from
//! their own arguments.

mod foreign_support;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use ferromcp_client::{CallInfo, Client, ClientEra, ClientHandlers, ClientOptions, CompletionRef};
use foreign_support::{Foreign, WAIT};
use serde_json::{Value, json};
use tokio::time::timeout;

/// (the call's tool name and arguments as the handler saw them, what the server asked).
type Seen = Arc<Mutex<Vec<(Option<Value>, Value)>>>;

/// The argument `key` of the call attached to a question.
fn arg(call: &Option<Arc<CallInfo>>, key: &str) -> Option<String> {
    call.as_ref()?.arguments.as_ref()?[key]
        .as_str()
        .map(str::to_owned)
}

/// Handlers that answer from the attached call's arguments: `ask(name)` gets the code
/// `code-NAME`, `summarize(topic)` gets the text `about TOPIC`.
fn handlers(seen: Seen) -> ClientHandlers {
    let s1 = seen.clone();
    ClientHandlers::new()
        .elicitation_for_call(move |params: Value, call: Option<Arc<CallInfo>>| {
            let seen = s1.clone();
            async move {
                let name = arg(&call, "name");
                seen.lock().expect("lock").push((
                    call.as_ref().and_then(|c| c.arguments.clone()),
                    params["message"].clone(),
                ));
                let code = format!("code-{}", name.unwrap_or_else(|| "no call".into()));
                // FastMCP wraps a scalar answer in `{"value": ..}` (legacy `ctx.elicit`);
                // the modern tool asks for `{"code": ..}`. Answer what the schema asks.
                let field = if params["requestedSchema"]["properties"]
                    .get("code")
                    .is_some()
                {
                    "code"
                } else {
                    "value"
                };
                Ok(json!({"action": "accept", "content": {field: code}}))
            }
        })
        .sampling_for_call(move |params: Value, call: Option<Arc<CallInfo>>| {
            let seen = seen.clone();
            async move {
                let topic = arg(&call, "topic").unwrap_or_else(|| "no call".into());
                seen.lock().expect("lock").push((
                    call.as_ref().and_then(|c| c.arguments.clone()),
                    params["messages"][0]["content"]["text"].clone(),
                ));
                Ok(json!({
                    "role": "assistant",
                    "content": {"type": "text", "text": format!("about {topic}")},
                    "model": "test-model",
                    "stopReason": "endTurn"
                }))
            }
        })
}

async fn connect(server: &Foreign, era: ClientEra, handlers: ClientHandlers) -> Client {
    let opts = ClientOptions::new(era)
        .handlers(handlers)
        .log_level("debug")
        .request_timeout(Duration::from_secs(30));
    timeout(WAIT, Client::connect_http(&server.url, opts))
        .await
        .expect("connect in time")
        .unwrap_or_else(|e| panic!("connect ({era:?}): {e}\nserver log:\n{}", server.log()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fastmcp_both_eras_tools_resources_prompts_completions() {
    let Some(server) = Foreign::fastmcp() else {
        return;
    };
    for era in [ClientEra::Auto, ClientEra::Legacy, ClientEra::Modern] {
        let client = connect(&server, era, ClientHandlers::new()).await;
        let want = if era == ClientEra::Legacy {
            ClientEra::Legacy
        } else {
            ClientEra::Modern
        };
        assert_eq!(client.era(), want, "{era:?}: FastMCP speaks both revisions");
        assert_eq!(client.server_info().name, "ferro-foreign-fastmcp");

        let tools = client.list_tools().await.expect("tools/list");
        let names: Vec<&str> = tools.iter().map(|t| t.name.as_ref()).collect();
        assert_eq!(
            names,
            ["add", "count", "chatty", "ask", "summarize"],
            "{era:?}"
        );
        let out = client
            .call_tool("add", json!({"a": 40, "b": 2}))
            .await
            .expect("add");
        assert!(!out.is_error(), "{era:?}: {out:?}");
        assert_eq!(out.structured(), Some(&json!({"result": 42})), "{era:?}");
        let bad = client.call_tool("add", json!({"a": "forty"})).await;
        assert!(
            matches!(&bad, Ok(o) if o.is_error())
                || bad.as_ref().is_err_and(|e| e.protocol_code().is_some()),
            "{era:?}: invalid arguments are a tool error or a protocol error: {bad:?}"
        );

        let resources = client.list_resources().await.expect("resources/list");
        assert!(
            resources.iter().any(|r| r.uri == "memo://greeting"),
            "{era:?}: {resources:?}"
        );
        let read = client.read_resource("memo://greeting").await.expect("read");
        assert_eq!(
            read["contents"][0]["text"], "hello from fastmcp",
            "{era:?}: {read}"
        );
        let templates = client.list_resource_templates().await.expect("templates");
        assert!(
            templates
                .iter()
                .any(|t| t.uri_template == "memo://items/{item}"),
            "{era:?}: {templates:?}"
        );
        let read = client
            .read_resource("memo://items/bolt")
            .await
            .expect("read a template");
        assert_eq!(read["contents"][0]["text"], "BOLT", "{era:?}: {read}");

        let prompts = client.list_prompts().await.expect("prompts/list");
        assert!(prompts.iter().any(|p| p.name == "haiku"), "{era:?}");
        let prompt = client
            .get_prompt("haiku", json!({"theme": "rust"}))
            .await
            .expect("prompts/get");
        assert_eq!(
            prompt["messages"][0]["content"]["text"], "Write a haiku about rust",
            "{era:?}: {prompt}"
        );
        let done = client
            .complete(CompletionRef::Prompt("haiku".into()), "theme", "a")
            .await
            .expect("complete");
        assert_eq!(done.values, vec!["autumn", "avalanche"], "{era:?}");
        client.close().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fastmcp_progress_and_logs_reach_the_calls_own_streams() {
    let Some(server) = Foreign::fastmcp() else {
        return;
    };
    for era in [ClientEra::Legacy, ClientEra::Modern] {
        let client = connect(&server, era, ClientHandlers::new()).await;
        let mut events = client.events();
        let progress = Arc::new(Mutex::new(Vec::new()));
        let p = progress.clone();
        let out = client
            .tool_call("count")
            .arguments(json!({"steps": 4}))
            .tag("count")
            .on_progress(move |n| {
                p.lock()
                    .expect("lock")
                    .push((n["progress"].clone(), n["total"].clone()))
            })
            .send()
            .await
            .expect("count");
        assert_eq!(out.text(), "counted 4", "{era:?}");
        let want: Vec<_> = (1..=4).map(|i| (json!(f64::from(i)), json!(4.0))).collect();
        let got = progress.lock().expect("lock").clone();
        let as_f64 = |v: &[(Value, Value)]| {
            v.iter()
                .map(|(a, b)| (a.as_f64(), b.as_f64()))
                .collect::<Vec<_>>()
        };
        assert_eq!(
            as_f64(&got),
            as_f64(&want),
            "{era:?}: every step once, in order"
        );

        let logs = Arc::new(Mutex::new(Vec::new()));
        let l = logs.clone();
        let out = client
            .tool_call("chatty")
            .arguments(json!({"word": "kiwi"}))
            .tag("chatty")
            .on_log(move |n| {
                l.lock()
                    .expect("lock")
                    .push((n["level"].clone(), n["data"].clone()))
            })
            .send()
            .await
            .expect("chatty");
        assert_eq!(out.text(), "logged kiwi", "{era:?}");
        let logs = logs.lock().expect("lock").clone();
        let data: Vec<_> = logs
            .iter()
            .map(|(level, d)| {
                (
                    level.clone(),
                    d.get("msg").cloned().unwrap_or_else(|| d.clone()),
                )
            })
            .collect();
        assert_eq!(
            data,
            vec![
                (json!("info"), json!("info kiwi")),
                (json!("warning"), json!("warning kiwi"))
            ],
            "{era:?}: {logs:?}"
        );
        let mut tagged = Vec::new();
        while let Ok(ev) = events.try_recv() {
            if matches!(
                ev.method(),
                "notifications/progress" | "notifications/message"
            ) {
                tagged.push((ev.method().to_owned(), ev.call.and_then(|c| c.tag.clone())));
            }
        }
        let mut want = vec![
            (
                "notifications/progress".to_owned(),
                Some("count".to_owned())
            );
            4
        ];
        want.extend(vec![
            (
                "notifications/message".to_owned(),
                Some("chatty".to_owned())
            );
            2
        ]);
        assert_eq!(tagged, want, "{era:?}: the event stream names each call");
        client.close().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fastmcp_concurrent_elicitations_and_samplings_are_answered_from_their_calls() {
    let Some(server) = Foreign::fastmcp() else {
        return;
    };
    for era in [ClientEra::Legacy, ClientEra::Modern] {
        let seen: Seen = Arc::default();
        let client = connect(&server, era, handlers(seen.clone())).await;
        let names = ["ada", "grace", "linus", "ken"];
        let calls = names.iter().map(|name| {
            let client = client.clone();
            async move {
                client
                    .tool_call("ask")
                    .arguments(json!({"name": name}))
                    .tag(*name)
                    .send()
                    .await
            }
        });
        let outs = timeout(WAIT, futures_util::future::join_all(calls))
            .await
            .expect("in time");
        for (name, out) in names.iter().zip(outs) {
            let out = out.unwrap_or_else(|e| panic!("{era:?}: ask {name}: {e}\n{}", server.log()));
            assert!(!out.is_error(), "{era:?}: {out:?}");
            assert_eq!(out.text(), format!("{name}=code-{name}"), "{era:?}");
        }

        let topics = ["tides", "comets", "moss"];
        let calls = topics.iter().map(|topic| {
            let client = client.clone();
            async move {
                client
                    .tool_call("summarize")
                    .arguments(json!({"topic": topic}))
                    .send()
                    .await
            }
        });
        let outs = timeout(WAIT, futures_util::future::join_all(calls))
            .await
            .expect("in time");
        for (topic, out) in topics.iter().zip(outs) {
            let out =
                out.unwrap_or_else(|e| panic!("{era:?}: summarize {topic}: {e}\n{}", server.log()));
            assert_eq!(out.text(), format!("{topic}: about {topic}"), "{era:?}");
        }

        // Every question reached the handler with the call that asked it.
        let mut pairs: Vec<(String, String)> = seen
            .lock()
            .expect("lock")
            .iter()
            .map(|(args, asked)| {
                (
                    args.clone().unwrap_or_default().to_string(),
                    asked.as_str().unwrap_or_default().to_owned(),
                )
            })
            .collect();
        pairs.sort();
        let mut want: Vec<(String, String)> = names
            .iter()
            .map(|n| {
                (
                    json!({"name": n}).to_string(),
                    format!("What is the code for {n}?"),
                )
            })
            .chain(
                topics
                    .iter()
                    .map(|t| (json!({"topic": t}).to_string(), format!("Summarize {t}"))),
            )
            .collect();
        want.sort();
        assert_eq!(pairs, want, "{era:?}");
        client.close().await;
    }
}
