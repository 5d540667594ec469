//! Tools the proxy tests call through `examples/proxy`: each one's output is derived
//! from its arguments, so a test can tell every caller's answers, progress and logs
//! apart, and `proxy_whoami` says which backend process and session served a call and
//! when (to check how the proxy shares backend connections).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use ferromcp::context::{SamplingRequest, sampled_text};
use ferromcp::prelude::*;
use ferromcp::{ServerBuilder, ToolDef};
use serde_json::json;

#[derive(Deserialize, JsonSchema)]
struct Tagged {
    /// A caller-chosen label echoed in every message of the call.
    tag: String,
}

#[derive(Deserialize, JsonSchema)]
struct Hold {
    /// How long the call takes, in milliseconds (at most 10,000).
    #[serde(default)]
    hold_ms: u64,
}

fn now_ms() -> u128 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis()).unwrap_or(0)
}

pub fn register(b: ServerBuilder) -> ServerBuilder {
    b.tool(
        ToolDef::new("proxy_elicit_tagged")
            .description("Asks `tag: what is your value?`; returns the tag and the answer")
            .handler(|ctx: Context, a: Tagged| async move {
                let schema =
                    json!({"type": "object", "properties": {"value": {"type": "string"}}, "required": ["value"]});
                let r = ctx.elicit_schema(format!("{}: what is your value?", a.tag), schema).await?;
                let value =
                    r.content.as_ref().and_then(|c| c.get("value")).and_then(|v| v.as_str()).unwrap_or("(none)");
                Ok::<_, Error>(format!("tag={} value={value}", a.tag))
            }),
    )
    .tool(
        ToolDef::new("proxy_sample_tagged")
            .description("Samples with prompt `tag`; returns the tag and the completion")
            .handler(|ctx: Context, a: Tagged| async move {
                let r = ctx.sample(SamplingRequest::user(a.tag.clone()).max_tokens(20)).await?;
                Ok::<_, Error>(format!("tag={} sampled={}", a.tag, sampled_text(&r).unwrap_or_default()))
            }),
    )
    .tool(
        ToolDef::new("proxy_progress_tagged")
            .description("Reports progress 1..3 of 3 with message `tag:i`, and logs `tag`")
            .handler(|ctx: Context, a: Tagged| async move {
                ctx.info(format!("log:{}", a.tag)).await;
                for i in 1..=3 {
                    ctx.report_progress(f64::from(i), Some(3.0), Some(&format!("{}:{i}", a.tag))).await;
                    tokio::time::sleep(Duration::from_millis(30)).await;
                }
                format!("tag={} done", a.tag)
            }),
    )
    .tool(
        ToolDef::new("proxy_whoami")
            .description("Holds `hold_ms`, then returns {pid, session, start_ms, end_ms}")
            .handler(|ctx: Context, a: Hold| async move {
                let start = now_ms();
                tokio::time::sleep(Duration::from_millis(a.hold_ms.min(10_000))).await;
                json!({
                    "pid": std::process::id(),
                    "session": ctx.session_id(),
                    "start_ms": start as u64,
                    "end_ms": now_ms() as u64,
                })
                .to_string()
            }),
    )
}
