//! Tools of the 2026-07-28 MRTR scenarios. The same `ctx.elicit/sample/list_roots` calls
//! work on 2025-11-25 too (as real server→client requests).

use ferromcp::context::{Elicitation, SamplingRequest, sampled_text};
use ferromcp::prelude::*;
use ferromcp::{ServerBuilder, ToolDef};
use serde_json::json;

#[derive(Deserialize, JsonSchema)]
struct Name {
    name: String,
}

#[derive(Deserialize, JsonSchema)]
struct Color {
    color: String,
}

#[derive(Deserialize, JsonSchema)]
struct Confirm {
    ok: bool,
}

fn name_of(e: Elicitation<Name>) -> String {
    match e {
        Elicitation::Accept(n) => n.name,
        Elicitation::Decline => "(declined)".into(),
        Elicitation::Cancel => "(cancelled)".into(),
    }
}

fn tool(name: &str, description: &str) -> ToolDef {
    ToolDef::new(name).description(description)
}

// Roots are deprecated by SEP-2577 (2026-07-28) but remain part of 2025-11-25.
#[allow(deprecated)]
pub fn register(b: ServerBuilder) -> ServerBuilder {
    b.tool(tool("test_input_required_result_elicitation", "Asks for the user's name, then greets").handler(
        |ctx: Context, _: NoArgs| async move {
            let n = ctx.elicit::<Name>("What is your name?").key("user_name").await?;
            Ok::<_, Error>(format!("Hello, {}!", name_of(n)))
        },
    ))
    .tool(tool("test_input_required_result_sampling", "Asks the client's LLM a question").handler(
        |ctx: Context, _: NoArgs| async move {
            let r = ctx
                .sample(SamplingRequest::user("What is the capital of France?").max_tokens(100))
                .key("capital_question")
                .await?;
            Ok::<_, Error>(format!("The LLM said: {}", sampled_text(&r).unwrap_or_default()))
        },
    ))
    .tool(tool("test_input_required_result_list_roots", "Lists the client's roots").handler(
        |ctx: Context, _: NoArgs| async move {
            let roots = ctx.list_roots().key("client_roots").await?;
            let uris: Vec<String> = roots.iter().map(|r| r.uri.clone()).collect();
            Ok::<_, Error>(format!("Client roots: {}", uris.join(", ")))
        },
    ))
    .tool(tool("test_input_required_result_request_state", "Round-trips sealed requestState").handler(
        |ctx: Context, _: NoArgs| async move {
            // Recorded in the sealed requestState on round 1, replayed (verified) on round 2.
            let marker = ctx.once("marker", || async { "state-ok".to_string() }).await?;
            let c = ctx.elicit::<Confirm>("Please confirm").key("confirm").await?;
            let ok = matches!(c, Elicitation::Accept(Confirm { ok: true }));
            Ok::<_, Error>(format!("{marker}: confirmed={ok}"))
        },
    ))
    .tool(tool("test_input_required_result_multiple_inputs", "Asks for three inputs in one round").handler(
        |ctx: Context, _: NoArgs| async move {
            let (name, greeting, roots) = tokio::join!(
                ctx.elicit::<Name>("What is your name?").key("user_name").into_future(),
                ctx.sample(SamplingRequest::user("Generate a greeting").max_tokens(50)).key("greeting").into_future(),
                ctx.list_roots().key("client_roots").into_future(),
            );
            let (name, greeting, roots) = (name?, greeting?, roots?);
            Ok::<_, Error>(format!(
                "name={}, greeting={}, roots={}",
                name_of(name),
                sampled_text(&greeting).unwrap_or_default(),
                roots.len()
            ))
        },
    ))
    .tool(tool("test_input_required_result_multi_round", "Asks two questions in two rounds").handler(
        |ctx: Context, _: NoArgs| async move {
            let n = ctx.elicit::<Name>("Step 1: What is your name?").key("step1").await?;
            let c = ctx.elicit::<Color>("Step 2: What is your favorite color?").key("step2").await?;
            let color = c.accepted().map(|c| c.color).unwrap_or_default();
            Ok::<_, Error>(format!("{} likes {color}", name_of(n)))
        },
    ))
    .tool(tool("test_input_required_result_tampered_state", "Rejects tampered requestState").handler(
        |ctx: Context, _: NoArgs| async move {
            let c = ctx.elicit::<Confirm>("Please confirm").key("confirm").await?;
            Ok::<_, Error>(format!("confirmed={}", matches!(c, Elicitation::Accept(Confirm { ok: true }))))
        },
    ))
    .tool(tool("test_input_required_result_capabilities", "Asks only for what the client declared").handler(
        |ctx: Context, _: NoArgs| async move {
            let mut parts = Vec::new();
            if ctx.client_supports(ClientCapability::Elicitation) {
                let n = ctx.elicit::<Name>("What is your name?").key("user_name").await?;
                parts.push(format!("name={}", name_of(n)));
            }
            if ctx.client_supports(ClientCapability::Sampling) {
                let r = ctx.sample(SamplingRequest::user("Say hello").max_tokens(50)).key("hello").await?;
                parts.push(format!("sampled={}", sampled_text(&r).unwrap_or_default()));
            }
            if ctx.client_supports(ClientCapability::Roots) {
                let roots = ctx.list_roots().key("client_roots").await?;
                parts.push(format!("roots={}", roots.len()));
            }
            Ok::<_, Error>(if parts.is_empty() { "no client capabilities to use".into() } else { parts.join(", ") })
        },
    ))
    .tool(tool("test_missing_capability", "Needs the client's sampling capability").handler(
        |ctx: Context, _: NoArgs| async move {
            // No capability check on purpose: an undeclared capability is a typed error (-32021).
            let r = ctx.sample(SamplingRequest::user("ping").max_tokens(10)).key("sample").await?;
            Ok::<_, Error>(sampled_text(&r).unwrap_or_default())
        },
    ))
    .tool(tool("test_streaming_elicitation", "Asks for input; never sends a request on the stream").handler(
        |ctx: Context, _: NoArgs| async move {
            ctx.report_progress(0.0, None, Some("asking")).await;
            let n = ctx.elicit::<Name>("What is your name?").key("user_name").await?;
            Ok::<_, Error>(format!("Hello, {}!", name_of(n)))
        },
    ))
    .tool(tool("test_trigger_tool_change", "Changes the tool list (sends tools/list_changed)").handler(
        |ctx: Context, _: NoArgs| async move {
            ctx.server().registry().add_tool(
                ToolDef::new("test_dynamic_tool")
                    .description("Added at runtime")
                    .handler(|_c: Context, _: NoArgs| async { "dynamic" }),
            );
            "tool list changed"
        },
    ))
    .tool(tool("test_trigger_prompt_change", "Changes the prompt list (sends prompts/list_changed)").handler(
        |ctx: Context, _: NoArgs| async move {
            ctx.server().registry().add_prompt(
                ferromcp::PromptDef::new("test_dynamic_prompt")
                    .description("Added at runtime")
                    .handler(|_c: Context, _: NoArgs| async { "dynamic prompt" }),
            );
            let _ = json!({});
            "prompt list changed"
        },
    ))
}
