//! `read_resource_tagged` and `get_prompt_tagged`: a question a resource read or a
//! prompt asks reaches the handler with the caller's tag, the method and the name, as a
//! tagged tool call's does (2026-07-28, where the `input_required` result says which
//! request asked; in memory and over Streamable HTTP).

mod http_support;

use std::sync::{Arc, Mutex};

use ferromcp_client::{CallInfo, Client, ClientEra, ClientHandlers, ClientOptions};
use ferromcp_core::context::Elicitation;
use ferromcp_core::{Context, NoArgs, PromptDef, ResourceDef, Server};
use http_support::TestServer;
use serde_json::json;

#[derive(serde::Deserialize, schemars::JsonSchema)]
struct Name {
    name: String,
}

async fn ask(ctx: &Context) -> String {
    match ctx.elicit::<Name>("Who?").key("name").await {
        Ok(Elicitation::Accept(n)) => n.name,
        _ => "nobody".to_string(),
    }
}

fn server() -> Server {
    Server::builder("tagged", "1")
        .resource(
            ResourceDef::new("memo://who", "who")
                .handler(|ctx: Context| async move { ask(&ctx).await }),
        )
        .prompt(
            PromptDef::new("greet").handler(|ctx: Context, _: NoArgs| async move {
                format!("Greet {}", ask(&ctx).await)
            }),
        )
        .build()
}

/// Answers every question with the asking request's tag, and records its call.
fn handlers(seen: Arc<Mutex<Vec<Option<Arc<CallInfo>>>>>) -> ClientHandlers {
    ClientHandlers::new().elicitation_for_call(move |_p, call: Option<Arc<CallInfo>>| {
        seen.lock().expect("lock").push(call.clone());
        let name = call
            .and_then(|c| c.tag.clone())
            .unwrap_or_else(|| "untagged".into());
        async move { Ok(json!({"action": "accept", "content": {"name": name}})) }
    })
}

async fn check(client: &Client, seen: &Arc<Mutex<Vec<Option<Arc<CallInfo>>>>>, how: &str) {
    let read = client
        .read_resource_tagged("memo://who", "r-tag")
        .await
        .expect("read");
    assert_eq!(read["contents"][0]["text"], "r-tag", "{how}: {read}");
    let prompt = client
        .get_prompt_tagged("greet", json!({}), "p-tag")
        .await
        .expect("prompt");
    assert_eq!(
        prompt["messages"][0]["content"]["text"], "Greet p-tag",
        "{how}: {prompt}"
    );
    let untagged = client.read_resource("memo://who").await.expect("read");
    assert_eq!(untagged["contents"][0]["text"], "untagged", "{how}");
    let calls: Vec<_> = seen
        .lock()
        .expect("lock")
        .iter()
        .map(|c| {
            c.as_ref()
                .map(|c| (c.method.clone(), c.name.clone(), c.tag.clone()))
        })
        .collect();
    assert_eq!(
        calls,
        vec![
            Some((
                "resources/read".into(),
                Some("memo://who".into()),
                Some("r-tag".into())
            )),
            Some((
                "prompts/get".into(),
                Some("greet".into()),
                Some("p-tag".into())
            )),
            Some(("resources/read".into(), Some("memo://who".into()), None)),
        ],
        "{how}"
    );
}

#[tokio::test]
async fn tagged_reads_and_prompts_reach_the_handler_with_their_tag_in_memory() {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let opts = ClientOptions::new(ClientEra::Modern).handlers(handlers(seen.clone()));
    let client = Client::in_memory(server(), opts).await.expect("connect");
    check(&client, &seen, "in memory").await;
    client.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tagged_reads_and_prompts_reach_the_handler_with_their_tag_over_http() {
    let srv = TestServer::start(server());
    for era in [ClientEra::Modern, ClientEra::Legacy] {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let opts = ClientOptions::new(era).handlers(handlers(seen.clone()));
        let client = Client::connect_http(&srv.url(), opts)
            .await
            .expect("connect");
        check(&client, &seen, &format!("HTTP {era:?}")).await;
        client.close().await;
    }
}
