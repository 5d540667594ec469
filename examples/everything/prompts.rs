//! Prompts, including the argument completion and the 2026-07-28 MRTR prompt.

use ferromcp::context::Elicitation;
use ferromcp::prelude::*;
use ferromcp::protocol::{GetPromptResult, PromptMessage, ResourceContents, Role};
use ferromcp::{Completer, PromptDef, ServerBuilder};

#[derive(Deserialize, JsonSchema)]
struct TwoArgs {
    /// First test argument.
    arg1: String,
    /// Second test argument.
    arg2: String,
}

#[derive(Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
struct ResourceArg {
    /// URI of the resource to embed.
    resource_uri: String,
}

#[derive(Deserialize, JsonSchema)]
struct ContextAnswer {
    context: String,
}

pub fn register(b: ServerBuilder) -> ServerBuilder {
    b.prompt(
        PromptDef::new("test_simple_prompt")
            .description("A simple prompt without arguments")
            .handler(|_ctx: Context, _: NoArgs| async { "This is a simple prompt for testing." }),
    )
    .prompt(
        PromptDef::new("test_prompt_with_arguments")
            .description("A prompt with two required arguments")
            .complete("arg1", Completer::fixed(["test", "testing", "tested", "value1", "value2"]))
            .handler(|_ctx: Context, a: TwoArgs| async move {
                format!("Prompt with arguments: arg1='{}', arg2='{}'", a.arg1, a.arg2)
            }),
    )
    .prompt(
        PromptDef::new("test_prompt_with_embedded_resource").description("A prompt that embeds a resource").handler(
            |_ctx: Context, a: ResourceArg| async move {
                let res = ResourceContents::text("Embedded resource content for testing.", a.resource_uri)
                    .with_mime_type("text/plain");
                vec![
                    PromptMessage::new(Role::User, ContentBlock::resource(res)),
                    PromptMessage::new_text(Role::User, "Please process the embedded resource above."),
                ]
            },
        ),
    )
    .prompt(PromptDef::new("test_prompt_with_image").description("A prompt with an image").handler(
        |_ctx: Context, _: NoArgs| async {
            vec![
                PromptMessage::new(Role::User, ContentBlock::image(crate::tools::PNG, "image/png")),
                PromptMessage::new_text(Role::User, "Please analyze the image above."),
            ]
        },
    ))
    .prompt(
        PromptDef::new("test_input_required_result_prompt")
            .description("Asks the user for context before rendering (MRTR on 2026-07-28)")
            .handler(|ctx: Context, _: NoArgs| async move {
                let c = ctx.elicit::<ContextAnswer>("What context should the prompt use?").key("user_context").await?;
                let context = match c {
                    Elicitation::Accept(c) => c.context,
                    _ => "(none)".into(),
                };
                Ok::<_, Error>(GetPromptResult::new(vec![PromptMessage::new_text(
                    Role::User,
                    format!("Use this context: {context}"),
                )]))
            }),
    )
}
