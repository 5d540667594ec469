//! `completion/complete`: argument completion for prompts and resource templates.
//! At most 100 values are returned; `total` and `hasMore` say how many there were.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::{R, params, require_capability, write};
use crate::context::Context;
use crate::era::ResultKind;
use crate::error::{Error, ProtocolError};
use crate::jsonrpc::Request;
use crate::registry::CompletionRequest;
use crate::server::Server;

#[derive(Deserialize)]
struct CompleteParams {
    #[serde(rename = "ref")]
    reference: RefParam,
    argument: ArgParam,
    #[serde(default)]
    context: Option<CompleteContext>,
}

#[derive(Deserialize)]
#[serde(tag = "type")]
enum RefParam {
    #[serde(rename = "ref/prompt")]
    Prompt { name: String },
    #[serde(rename = "ref/resource")]
    Resource { uri: String },
}

#[derive(Deserialize)]
struct ArgParam {
    name: String,
    #[serde(default)]
    value: String,
}

#[derive(Deserialize)]
struct CompleteContext {
    #[serde(default)]
    arguments: BTreeMap<String, String>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct CompletionOut {
    values: Vec<String>,
    total: usize,
    has_more: bool,
}

#[derive(Serialize)]
struct CompleteOut {
    completion: CompletionOut,
}

pub(super) async fn complete(server: &Server, ctx: &Context, req: Request) -> R {
    require_capability(server, "completions", &req.method)?;
    let p: CompleteParams = params(&req)?;
    let snapshot = server.registry().snapshot();
    let completer = match &p.reference {
        RefParam::Prompt { name } => {
            let prompt = snapshot
                .prompts
                .get(name)
                .ok_or_else(|| ProtocolError::invalid_params(format!("Unknown prompt: {name}")))?;
            prompt.completers.iter().find(|(a, _)| *a == p.argument.name).map(|(_, c)| c.clone())
        }
        RefParam::Resource { uri } => {
            let t = snapshot
                .templates
                .get(uri)
                .ok_or_else(|| ProtocolError::invalid_params(format!("Unknown resource template: {uri}")))?;
            t.completers.iter().find(|(a, _)| *a == p.argument.name).map(|(_, c)| c.clone())
        }
    };
    let values = match completer {
        None => Vec::new(),
        Some(c) => {
            let creq = CompletionRequest {
                argument: p.argument.name,
                value: p.argument.value,
                context: p.context.map(|c| c.arguments).unwrap_or_default(),
            };
            c.complete(ctx.clone(), creq).await.map_err(Error::into_protocol)?
        }
    };
    let total = values.len();
    let shown: Vec<String> = values.into_iter().take(100).collect();
    let out = CompleteOut { completion: CompletionOut { has_more: total > shown.len(), values: shown, total } };
    write(server, ctx.era(), &req.id, ResultKind::Complete, &out)
}
