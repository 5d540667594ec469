//! Which call a server question belongs to, over the in-memory (line) transport: known
//! in the 2026-07-28 era (the `input_required` result says), unknown in the 2025-11-25
//! era (the protocol cannot say), and the client reports which is the case.

use std::sync::{Arc, Mutex};

use ferromcp_client::{CallInfo, Client, ClientEra, ClientHandlers, ClientOptions};
use ferromcp_core::context::Elicitation;
use ferromcp_core::{Context, NoArgs, Server, ToolDef};
use serde_json::json;

#[derive(serde::Deserialize, schemars::JsonSchema)]
struct Name {
    name: String,
}

fn server() -> Server {
    Server::builder("attribution", "1")
        .tool(
            ToolDef::new("ask").handler(|ctx: Context, _: NoArgs| async move {
                match ctx.elicit::<Name>("Who?").key("name").await {
                    Ok(Elicitation::Accept(n)) => n.name,
                    _ => "nobody".to_string(),
                }
            }),
        )
        .build()
}

#[tokio::test]
async fn modern_calls_are_attributed_and_legacy_line_calls_are_not() {
    for (era, knows) in [(ClientEra::Modern, true), (ClientEra::Legacy, false)] {
        let seen: Arc<Mutex<Vec<Option<Arc<CallInfo>>>>> = Arc::new(Mutex::new(Vec::new()));
        let s = seen.clone();
        let handlers = ClientHandlers::new().elicitation_for_call(move |_p, call| {
            s.lock().expect("lock").push(call);
            async { Ok(json!({"action": "accept", "content": {"name": "Ada"}})) }
        });
        let client = Client::in_memory(server(), ClientOptions::new(era).handlers(handlers))
            .await
            .expect("connect");
        assert_eq!(client.attributes_server_requests(), knows, "{era:?}");
        let out = client
            .tool_call("ask")
            .tag("t1")
            .send()
            .await
            .expect("call");
        assert_eq!(out.text(), "Ada");
        let seen = seen.lock().expect("lock").clone();
        assert_eq!(seen.len(), 1, "{era:?}");
        let tag = seen[0].as_ref().and_then(|c| c.tag.clone());
        let name = seen[0].as_ref().and_then(|c| c.name.clone());
        if knows {
            assert_eq!(
                (tag.as_deref(), name.as_deref()),
                (Some("t1"), Some("ask")),
                "{era:?}"
            );
        } else {
            assert!(
                seen[0].is_none(),
                "{era:?}: the line protocol cannot say which call asked"
            );
        }
        client.close().await;
    }
}
