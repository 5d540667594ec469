//! `tools/call`. A tool's failure is a result the model sees (`isError: true`), not a
//! protocol error; so are problems with the call's session it can fix.

use serde_json::value::RawValue;

use super::asking::{self, Target};
use super::{R, Reply, write, write_with_meta};
use crate::context::Context;
use crate::era::{self, ResultKind};
use crate::error::{Error, ProtocolError};
use crate::jsonrpc::{Request, RequestId};
use crate::middleware::{MwFuture, ToolCall, select};
use crate::protocol::{CallToolResult, ContentBlock, Method};
use crate::registry::ToolDef;
use crate::server::Server;

fn tool_error(server: &Server, ctx: &Context, id: &RequestId, msg: String) -> R {
    let mut r = CallToolResult::error(vec![ContentBlock::text(msg)]);
    r.result_type = None;
    write(server, ctx.era(), id, ResultKind::Complete, &r)
}

/// Errors about the call's session that the model should see (and can fix, e.g. by
/// opening a session) rather than protocol failures.
fn is_session_error(e: &Error) -> bool {
    matches!(e, Error::NoScope(_) | Error::InvalidSession)
}

pub(super) async fn call(server: &Server, ctx: &Context, req: Request, scope_error: Option<Error>) -> R {
    let snapshot = server.registry().snapshot();
    if !snapshot.has_capability("tools") {
        return Err(ProtocolError::method_not_found(&req.method));
    }
    if let Some(e) = scope_error {
        return tool_error(server, ctx, &req.id, e.to_string());
    }
    // The envelope decoder already located `name` and `arguments`.
    let Some(name) = req.name.as_deref() else {
        return Err(ProtocolError::invalid_params("tools/call needs a string `name`"));
    };
    let args_text = req.arguments();
    if args_text.is_some_and(|a| !a.starts_with('{')) {
        return Err(ProtocolError::invalid_params("`arguments` must be an object"));
    }
    let args: Option<&RawValue> = match args_text {
        Some(t) => Some(serde_json::from_str(t).map_err(|e| ProtocolError::invalid_params(e.to_string()))?),
        None => None,
    };
    let vis = ctx.visibility().await.map_err(Error::into_protocol)?;
    let Some(tool) = snapshot.visible::<ToolDef>(name, vis.as_ref()).cloned() else {
        return Err(ProtocolError::invalid_params(format!("Unknown tool: {name}")));
    };
    if let Some(need) = snapshot.missing_scopes("tools/call", name, ctx.principal()) {
        return Err(crate::auth::insufficient_scope(&format!("tool `{name}`"), &need));
    }
    let fut = if server.inner.middleware.is_empty() {
        // No chain: no `ToolCall` to build, the handler is called directly.
        tool.call(ctx.clone(), args)
    } else {
        let call = ToolCall { name: name.to_owned(), arguments: args.map(RawValue::to_owned) };
        let endpoint = move |ctx: &Context, call: ToolCall| -> MwFuture<'static, crate::Result<CallToolResult>> {
            match snapshot.visible::<ToolDef>(&call.name, vis.as_ref()) {
                Some(t) => t.call(ctx.clone(), call.arguments.as_deref()),
                None => {
                    Box::pin(std::future::ready(Err(Error::invalid_params(format!("Unknown tool: {}", call.name)))))
                }
            }
        };
        asking::chained(server, ctx, call, select::on_call_tool, endpoint)
    };
    let target = Target { method: Method::CallTool, name, args };
    asking::run(server, ctx, &req.id, target, fut, |out| match out {
        Ok(mut result) => {
            result.result_type = None;
            match result.meta.take() {
                None => era::write_response_with(ctx.era(), &req.id, ResultKind::Complete, server.info_json(), |buf| {
                    super::tool_json::write(buf, &result)
                })
                .map(Reply::ok),
                Some(meta) => write_with_meta(server, ctx.era(), &req.id, ResultKind::Complete, &result, Some(meta.0)),
            }
        }
        Err(Error::Tool(msg)) => tool_error(server, ctx, &req.id, msg),
        Err(e) if is_session_error(&e) => tool_error(server, ctx, &req.id, e.to_string()),
        Err(e) => Err(e.into_protocol()),
    })
    .await
}
