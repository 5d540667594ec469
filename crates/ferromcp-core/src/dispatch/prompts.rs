//! `prompts/get`, a method that can ask. (`prompts/list` is in `list`.)

use serde_json::value::RawValue;

use super::asking::{self, AskingParams, Target, handler_error};
use super::{R, require_capability, write_with_meta};
use crate::context::Context;
use crate::era::ResultKind;
use crate::error::{Error, ProtocolError};
use crate::jsonrpc::Request;
use crate::middleware::{MwFuture, PromptCall, select};
use crate::protocol::{GetPromptResult, Method};
use crate::registry::PromptDef;
use crate::server::Server;

pub(super) async fn get(server: &Server, ctx: &Context, req: Request) -> R {
    require_capability(server, "prompts", &req.method)?;
    let p = AskingParams::parse(&req)?;
    let Some(name) = p.name.as_deref() else {
        return Err(ProtocolError::invalid_params("prompts/get needs a string `name`"));
    };
    let vis = ctx.visibility().await.map_err(Error::into_protocol)?;
    let snapshot = server.registry().snapshot();
    let Some(prompt) = snapshot.visible::<PromptDef>(name, vis.as_ref()).cloned() else {
        return Err(ProtocolError::invalid_params(format!("Unknown prompt: {name}")));
    };
    if let Some(need) = snapshot.missing_scopes("prompts/get", name, ctx.principal()) {
        return Err(crate::auth::insufficient_scope(&format!("prompt `{name}`"), &need));
    }
    let endpoint = move |ctx: &Context, call: PromptCall| -> MwFuture<'static, crate::Result<GetPromptResult>> {
        match snapshot.visible::<PromptDef>(&call.name, vis.as_ref()).and_then(|p| p.handler.clone()) {
            Some(h) => h.get(ctx.clone(), call.arguments.as_deref()),
            None => Box::pin(std::future::ready(Err(Error::invalid_params(format!("Unknown prompt: {}", call.name))))),
        }
    };
    let call = PromptCall { name: name.to_owned(), arguments: p.args().map(RawValue::to_owned) };
    let fut = asking::chained(server, ctx, call, select::on_get_prompt, endpoint);
    let target = Target { method: Method::GetPrompt, name, args: p.args() };
    asking::run(server, ctx, &req.id, target, fut, |out| match out {
        Ok(mut result) => {
            result.result_type = None;
            if result.description.is_none() {
                result.description = prompt.prompt.description.clone();
            }
            let meta = result.meta.take().map(|m| m.0);
            write_with_meta(server, ctx.era(), &req.id, ResultKind::Complete, &result, meta)
        }
        Err(e) => Err(handler_error(e)),
    })
    .await
}
