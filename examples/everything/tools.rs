//! Tools both eras call: content types, logging, progress, errors, and the legacy
//! server→client asks (sampling, elicitation with defaults and enums).

use std::time::Duration;

use ferromcp::ServerBuilder;
use ferromcp::context::{SamplingRequest, sampled_text};
use ferromcp::prelude::*;
use ferromcp::protocol::{ContentBlock, ElicitResult, ResourceContents};
use ferromcp::registry::tool::object_schema;
use serde_json::{Value, json};

/// A 1×1 PNG.
pub const PNG: &str =
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==";
/// A minimal (silent) WAV file.
pub const WAV: &str = "UklGRiQAAABXQVZFZm10IBAAAAABAAEARKwAAIhYAQACABAAZGF0YQAAAAA=";

#[derive(Deserialize, JsonSchema)]
struct PromptArg {
    /// The prompt to send to the LLM.
    prompt: String,
}

#[derive(Deserialize, JsonSchema)]
struct MessageArg {
    /// The message to show the user.
    message: String,
}

fn describe(r: &ElicitResult) -> String {
    let action = serde_json::to_value(&r.action).unwrap_or(Value::Null);
    let content = r.content.clone().unwrap_or(Value::Null);
    format!("action={}, content={}", action.as_str().unwrap_or("unknown"), content)
}

fn simple(name: &str, f: fn() -> ferromcp::Result<Vec<ContentBlock>>) -> ToolDef {
    ToolDef::new(name)
        .description(format!("Conformance fixture `{name}`"))
        .handler(move |_ctx: Context, _: NoArgs| async move { f() })
}

pub fn register(b: ServerBuilder) -> ServerBuilder {
    b.tool(simple("test_simple_text", || Ok(vec![ContentBlock::text("This is a simple text response for testing.")])))
        .tool(simple("test_image_content", || Ok(vec![ContentBlock::image(PNG, "image/png")])))
        .tool(simple("test_audio_content", || Ok(vec![ContentBlock::audio(WAV, "audio/wav")])))
        .tool(simple("test_embedded_resource", || {
            Ok(vec![ContentBlock::resource(
                ResourceContents::text("This is an embedded resource content.", "test://embedded-resource").with_mime_type("text/plain"),
            )])
        }))
        .tool(simple("test_multiple_content_types", || {
            Ok(vec![
                ContentBlock::text("Multiple content types test:"),
                ContentBlock::image(PNG, "image/png"),
                ContentBlock::resource(
                    ResourceContents::text(r#"{"test":"data","value":123}"#, "test://mixed-content-resource").with_mime_type("application/json"),
                ),
            ])
        }))
        .tool(simple("test_error_handling", || Err(Error::tool("This tool intentionally returns an error for testing"))))
        .tool(ToolDef::new("test_tool_with_logging").description("Logs three info messages ~50 ms apart").handler(
            |ctx: Context, _: NoArgs| async move {
                ctx.info("Tool execution started").await;
                tokio::time::sleep(Duration::from_millis(50)).await;
                ctx.info("Tool processing data").await;
                tokio::time::sleep(Duration::from_millis(50)).await;
                ctx.info("Tool execution completed").await;
                "Logging test completed"
            },
        ))
        .tool(ToolDef::new("test_logging_tool").description("Logs only when the request carries a log level (2026-07-28)").handler(
            |ctx: Context, _: NoArgs| async move {
                ctx.info("logging tool: started").await;
                ctx.debug("logging tool: details").await;
                ctx.info("logging tool: done").await;
                "Logging tool completed"
            },
        ))
        .tool(ToolDef::new("test_tool_with_progress").description("Reports progress 0, 50, 100 of 100").handler(
            |ctx: Context, _: NoArgs| async move {
                // Every step, the last included, is followed by ~50 ms of work: clients that
                // handle notifications asynchronously (the TypeScript SDK) would otherwise
                // see the result before the final progress and drop that progress.
                for p in [0.0, 50.0, 100.0] {
                    ctx.report_progress(p, Some(100.0), Some("working")).await;
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                "Progress test completed"
            },
        ))
        .tool(ToolDef::new("test_sampling").description("Asks the client's LLM (sampling/createMessage)").handler(
            |ctx: Context, a: PromptArg| async move {
                let r = ctx.sample(SamplingRequest::user(a.prompt).max_tokens(100)).await?;
                Ok::<_, Error>(format!("LLM response: {}", sampled_text(&r).unwrap_or_default()))
            },
        ))
        .tool(ToolDef::new("test_elicitation").description("Asks the user for a username and email").handler(
            |ctx: Context, a: MessageArg| async move {
                let schema = json!({
                    "type": "object",
                    "properties": {
                        "username": {"type": "string", "description": "User's response"},
                        "email": {"type": "string", "description": "User's email address"}
                    },
                    "required": ["username", "email"]
                });
                let r = ctx.elicit_schema(a.message, schema).await?;
                Ok::<_, Error>(format!("User response: {}", describe(&r)))
            },
        ))
        .tool(ToolDef::new("test_elicitation_sep1034_defaults").description("Elicits a form with defaults (SEP-1034)").handler(
            |ctx: Context, _: NoArgs| async move {
                let schema = json!({
                    "type": "object",
                    "properties": {
                        "name": {"type": "string", "default": "John Doe"},
                        "age": {"type": "integer", "default": 30},
                        "score": {"type": "number", "default": 95.5},
                        "status": {"type": "string", "enum": ["active", "inactive", "pending"], "default": "active"},
                        "verified": {"type": "boolean", "default": true}
                    }
                });
                let r = ctx.elicit_schema("Please review your profile", schema).await?;
                Ok::<_, Error>(format!("Elicitation completed: {}", describe(&r)))
            },
        ))
        .tool(ToolDef::new("test_elicitation_sep1330_enums").description("Elicits every enum shape (SEP-1330)").handler(
            |ctx: Context, _: NoArgs| async move {
                let schema = json!({
                    "type": "object",
                    "properties": {
                        "untitledSingle": {"type": "string", "enum": ["option1", "option2", "option3"]},
                        "titledSingle": {"type": "string", "oneOf": [
                            {"const": "value1", "title": "First Option"},
                            {"const": "value2", "title": "Second Option"},
                            {"const": "value3", "title": "Third Option"}
                        ]},
                        "legacyEnum": {"type": "string", "enum": ["opt1", "opt2", "opt3"], "enumNames": ["Option One", "Option Two", "Option Three"]},
                        "untitledMulti": {"type": "array", "items": {"type": "string", "enum": ["option1", "option2", "option3"]}},
                        "titledMulti": {"type": "array", "items": {"anyOf": [
                            {"const": "value1", "title": "First Choice"},
                            {"const": "value2", "title": "Second Choice"},
                            {"const": "value3", "title": "Third Choice"}
                        ]}}
                    }
                });
                let r = ctx.elicit_schema("Please pick your options", schema).await?;
                Ok::<_, Error>(format!("Elicitation completed: {}", describe(&r)))
            },
        ))
        .tool(ToolDef::new("test_reconnection").description("Closes its SSE connection mid-call; the result arrives after the client resumes (SEP-1699)").handler(
            |ctx: Context, _: NoArgs| async move {
                ctx.close_sse_stream().await;
                tokio::time::sleep(Duration::from_millis(300)).await;
                "Reconnection test completed"
            },
        ))
        .tool(json_schema_tool())
        .tool(header_tool())
}

/// The JSON Schema 2020-12 fixture, kept verbatim.
fn json_schema_tool() -> ToolDef {
    let schema = json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "type": "object",
        "$defs": {"address": {"$anchor": "addressDef", "type": "object", "properties": {"street": {"type": "string"}, "city": {"type": "string"}}}},
        "properties": {
            "name": {"type": "string"},
            "address": {"$ref": "#/$defs/address"},
            "contactMethod": {"type": "string", "enum": ["phone", "email"]},
            "phone": {"type": "string"},
            "email": {"type": "string"}
        },
        "allOf": [{"anyOf": [{"required": ["phone"]}, {"required": ["email"]}]}],
        "if": {"properties": {"contactMethod": {"const": "phone"}}, "required": ["contactMethod"]},
        "then": {"required": ["phone"]},
        "else": {"required": ["email"]},
        "additionalProperties": false
    });
    let Value::Object(schema) = schema else { unreachable!("literal object") };
    ToolDef::new("json_schema_2020_12_tool")
        .description("Its input schema uses JSON Schema 2020-12 keywords and is served verbatim")
        .input_schema(schema)
        .raw_handler(|_ctx: Context, _args| async { "ok" })
}

/// A tool whose `region` argument is mirrored into the `Mcp-Param-Region` header.
fn header_tool() -> ToolDef {
    let schema = object_schema(&[("region", json!({"type": "string", "x-mcp-header": "Region"}))], &["region"]);
    ToolDef::new("test_header_param")
        .description("Echoes the region (its argument is mirrored in Mcp-Param-Region)")
        .input_schema(schema)
        .raw_handler(|_ctx: Context, args| async move {
            format!("region={}", args.get("region").and_then(Value::as_str).unwrap_or(""))
        })
}
