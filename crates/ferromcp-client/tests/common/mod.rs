//! A test server exercising every client feature, and client options for both eras.

#![allow(dead_code)]
// Sampling and roots are deprecated by SEP-2577 but part of 2025-11-25.
#![allow(deprecated)]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use ferromcp_client::{Client, ClientEra, ClientOptions};
use ferromcp_core::context::{Elicitation, SamplingRequest};
use ferromcp_core::registry::completion::Completer;
use ferromcp_core::{
    Context, Error, NoArgs, PromptDef, ProtocolError, ResourceDef, ResourceTemplateDef, Server,
    ToolDef,
};
use serde::Deserialize;
use serde_json::{Value, json};

/// Both eras, for tests that run in each.
pub const ERAS: [ClientEra; 2] = [ClientEra::Legacy, ClientEra::Modern];

#[derive(Deserialize, schemars::JsonSchema)]
pub struct Add {
    pub a: i64,
    pub b: i64,
}

#[derive(Deserialize, schemars::JsonSchema)]
pub struct Name {
    pub name: String,
}

#[derive(Deserialize, schemars::JsonSchema)]
pub struct Review {
    /// The code to review.
    pub code: String,
    /// The language, if known.
    pub language: Option<String>,
}

#[derive(Deserialize, schemars::JsonSchema)]
pub struct Millis {
    pub ms: u64,
}

#[derive(Deserialize, schemars::JsonSchema)]
pub struct Rounds {
    pub n: u32,
}

async fn ask_name(ctx: &Context, key: &str, message: &str) -> Result<String, Error> {
    Ok(match ctx.elicit::<Name>(message).key(key).await? {
        Elicitation::Accept(n) => n.name,
        Elicitation::Decline => "<declined>".into(),
        Elicitation::Cancel => "<cancelled>".into(),
    })
}

/// The page size of every list, small so lists paginate.
pub const PAGE_SIZE: usize = 3;

/// Names of every tool the test server has.
pub const TOOLS: &[&str] = &[
    "add",
    "chatty",
    "greet",
    "two_names",
    "both_at_once",
    "sample",
    "roots",
    "ask_forever",
    "fail",
    "slow",
];

/// A server with tools, resources, a template and prompts covering the client's features.
pub fn server() -> Server {
    Server::builder("test-server", "0.9.0")
        .instructions("Use `add` to add.")
        .page_size(PAGE_SIZE)
        .tool(
            ToolDef::new("add")
                .description("Add two integers")
                .handler(|_ctx: Context, a: Add| async move { a.a + a.b }),
        )
        .tool(
            ToolDef::new("chatty").handler(|ctx: Context, _: NoArgs| async move {
                ctx.info("starting").await;
                ctx.report_progress(50.0, Some(100.0), Some("half way"))
                    .await;
                ctx.debug("a detail").await;
                ctx.report_progress(100.0, Some(100.0), None).await;
                ctx.info("done").await;
                "ok"
            }),
        )
        .tool(
            ToolDef::new("greet").handler(|ctx: Context, _: NoArgs| async move {
                ask_name(&ctx, "name", "What is your name?")
                    .await
                    .map(|n| format!("hello {n}"))
            }),
        )
        .tool(
            ToolDef::new("two_names").handler(|ctx: Context, _: NoArgs| async move {
                let first = ask_name(&ctx, "first", "First name?").await?;
                let last = ask_name(&ctx, "last", "Last name?").await?;
                Ok::<_, Error>(format!("{first} {last}"))
            }),
        )
        .tool(
            ToolDef::new("both_at_once").handler(|ctx: Context, _: NoArgs| async move {
                let (a, b) = tokio::join!(
                    ask_name(&ctx, "left", "Left?"),
                    ask_name(&ctx, "right", "Right?")
                );
                Ok::<_, Error>(format!("{}|{}", a?, b?))
            }),
        )
        .tool(
            ToolDef::new("sample").handler(|ctx: Context, _: NoArgs| async move {
                let r = ctx
                    .sample(SamplingRequest::user("hi").max_tokens(5))
                    .key("llm")
                    .await?;
                let v = serde_json::to_value(&r)?;
                let text = v["content"]["text"]
                    .as_str()
                    .unwrap_or("<no text>")
                    .to_owned();
                Ok::<_, Error>(format!("{} said {}", r.model, text))
            }),
        )
        .tool(
            ToolDef::new("roots").handler(|ctx: Context, _: NoArgs| async move {
                let roots = ctx.list_roots().await?;
                let uris: Vec<String> = roots.iter().map(|r| r.uri.clone()).collect();
                Ok::<_, Error>(uris.join(","))
            }),
        )
        .tool(
            ToolDef::new("ask_forever").handler(|ctx: Context, r: Rounds| async move {
                for i in 0..r.n {
                    ask_name(&ctx, &format!("k{i}"), "Again?").await?;
                }
                Ok::<_, Error>(format!("asked {} times", r.n))
            }),
        )
        .tool(
            ToolDef::new("fail").handler(|_ctx: Context, _: NoArgs| async {
                Err::<String, _>(Error::tool("boom"))
            }),
        )
        .tool(
            ToolDef::new("slow").handler(|_ctx: Context, m: Millis| async move {
                tokio::time::sleep(Duration::from_millis(m.ms)).await;
                "slept"
            }),
        )
        .resource(
            ResourceDef::new("docs://readme", "readme")
                .mime_type("text/markdown")
                .handler(|_ctx: Context| async { "# Hello" }),
        )
        .resource(
            ResourceDef::new("docs://secret", "secret").handler(|ctx: Context| async move {
                ask_name(&ctx, "who", "Who reads the secret?")
                    .await
                    .map(|n| format!("secret for {n}"))
            }),
        )
        .template(
            ResourceTemplateDef::new("users://{id}/profile", "user-profile")
                .expect("valid template")
                .complete("id", Completer::fixed(["1", "12", "2"]))
                .handler(|_ctx: Context, vars| async move { format!("user {}", vars["id"]) }),
        )
        .prompt(
            PromptDef::new("review")
                .description("Review code")
                .complete("language", Completer::fixed(["python", "rust", "ruby"]))
                .handler(|_ctx: Context, r: Review| async move {
                    format!("Review this {}: {}", r.language.unwrap_or_default(), r.code)
                }),
        )
        .prompt(
            PromptDef::new("personal").handler(|ctx: Context, _: NoArgs| async move {
                ask_name(&ctx, "who", "Who is this for?")
                    .await
                    .map(|n| format!("Write to {n}"))
            }),
        )
        .build()
}

/// Counts handler calls.
#[derive(Clone, Default)]
pub struct Calls(pub Arc<AtomicUsize>);

impl Calls {
    pub fn get(&self) -> usize {
        self.0.load(Ordering::SeqCst)
    }
    fn bump(&self) -> usize {
        self.0.fetch_add(1, Ordering::SeqCst) + 1
    }
}

/// Options with an elicitation handler that answers `Ada` for "First name?"/"Left?"/…,
/// `Lovelace` for "Last name?", and counts its calls.
pub fn with_elicitation(era: ClientEra, calls: Calls) -> ClientOptions {
    ClientOptions::new(era)
        .request_timeout(Duration::from_secs(20))
        .on_elicitation(move |p: Value| {
            let calls = calls.clone();
            async move {
                calls.bump();
                let name = match p["message"].as_str() {
                    Some("Last name?") => "Lovelace",
                    Some("Right?") => "Byron",
                    _ => "Ada",
                };
                if !p["requestedSchema"]["properties"]["name"].is_object() {
                    return Err(ProtocolError::invalid_params(format!(
                        "no `name` in the schema: {p}"
                    )));
                }
                Ok(json!({ "action": "accept", "content": { "name": name } }))
            }
        })
}

/// Options with every handler set.
pub fn full(era: ClientEra) -> ClientOptions {
    with_elicitation(era, Calls::default())
        .on_sampling(|p: Value| async move {
            let asked = p["messages"][0]["content"]["text"]
                .as_str()
                .unwrap_or_default()
                .to_owned();
            Ok(json!({
                "role": "assistant",
                "content": { "type": "text", "text": format!("echo {asked}") },
                "model": "test-model",
                "stopReason": "endTurn"
            }))
        })
        .on_roots(|_p: Value| async move {
            Ok(json!({ "roots": [
                { "uri": "file:///work", "name": "work" },
                { "uri": "file:///tmp" }
            ] }))
        })
}

/// An in-memory client of [`server`].
pub async fn connect(options: ClientOptions) -> Client {
    match Client::in_memory(server(), options).await {
        Ok(c) => c,
        Err(e) => panic!("connecting failed: {e}"),
    }
}

/// Collects notifications until one with `method` and `pred` arrives (or 5 s pass).
pub async fn wait_for(
    rx: &mut tokio::sync::broadcast::Receiver<Value>,
    mut pred: impl FnMut(&Value) -> bool,
) -> Vec<Value> {
    let mut seen = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        match tokio::time::timeout_at(deadline, rx.recv()).await {
            Ok(Ok(n)) => {
                let done = pred(&n);
                seen.push(n);
                if done {
                    return seen;
                }
            }
            Ok(Err(e)) => panic!("notification stream ended: {e}; saw {seen:?}"),
            Err(_) => panic!("timed out waiting for a notification; saw {seen:?}"),
        }
    }
}

/// Every notification already received, without waiting.
pub fn drain(rx: &mut tokio::sync::broadcast::Receiver<Value>) -> Vec<Value> {
    let mut out = Vec::new();
    while let Ok(n) = rx.try_recv() {
        out.push(n);
    }
    out
}
