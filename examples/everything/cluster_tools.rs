//! Tools that show a cluster at work (`--redis`): which node served a call, and
//! broadcasts to the caller's session or to every session, on whichever node holds
//! their streams.

use ferromcp::ServerBuilder;
use ferromcp::bus::Audience;
use ferromcp::prelude::*;
use serde_json::json;

#[derive(Deserialize, JsonSchema)]
struct NotifyArgs {
    /// How many notifications to send.
    count: u32,
    /// A label copied into each message (`LABEL #i`).
    label: String,
    /// Every session instead of only the caller's.
    #[serde(default)]
    everyone: bool,
}

/// The tools.
pub fn register(b: ServerBuilder) -> ServerBuilder {
    b.tool(
        ToolDef::new("cluster_node")
            .description("The process id of the node serving this call")
            .handler(|_ctx: Context, _: NoArgs| async move { std::process::id().to_string() }),
    )
    .tool(
        ToolDef::new("notify_session")
            .description(
                "Sends `count` log notifications (`LABEL #i`) to the standalone stream (GET) of the caller's \
                 session, or of every session: delivered by whichever node holds the stream",
            )
            .handler(|ctx: Context, a: NotifyArgs| async move {
                let Some(id) = ctx.session_id().map(str::to_owned) else {
                    return Err(Error::tool("notify_session needs a legacy session (Mcp-Session-Id)"));
                };
                let audience = if a.everyone { Audience::All } else { Audience::Session(id) };
                let mut here = 0;
                for i in 1..=a.count {
                    let data = format!("{} #{i}", a.label);
                    here += ctx.broadcast(
                        audience.clone(),
                        "notifications/message",
                        json!({ "level": "info", "data": data }),
                    );
                }
                Ok(format!("sent {}; {here} delivered by this node", a.count))
            }),
    )
}
