//! `subscriptions/listen` (2026-07-28): a long-lived response stream that carries the
//! list-changed and resource-updated notifications the client asked for, each tagged
//! with `_meta.subscriptionId` (= the listen request's id). The first message is
//! `notifications/subscriptions/acknowledged` with the honoured subset.

use std::collections::BTreeSet;

use serde::Deserialize;
use serde_json::{Map, Value, json};

use crate::context::Context;
use crate::dispatch::Reply;
use crate::era::ResultKind;
use crate::error::ProtocolError;
use crate::jsonrpc::{self, Request};
use crate::notify::Notice;
use crate::protocol::META_SUBSCRIPTION_ID;
use crate::registry::ListChanged;
use crate::server::Server;

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct Wanted {
    #[serde(default)]
    tools_list_changed: bool,
    #[serde(default)]
    prompts_list_changed: bool,
    #[serde(default)]
    resources_list_changed: bool,
    #[serde(default)]
    resource_subscriptions: Vec<String>,
}

#[derive(Deserialize, Default)]
struct ListenParams {
    #[serde(default)]
    notifications: Wanted,
}

pub(crate) async fn listen(server: &Server, ctx: &Context, req: Request) -> Result<Reply, ProtocolError> {
    let outbound = &ctx.inner.outbound;
    let cancel = &ctx.inner.cancel;
    let p: ListenParams = match req.params.as_deref() {
        Some(raw) => serde_json::from_str(raw)
            .map_err(|e| ProtocolError::invalid_params(format!("Invalid subscriptions/listen params: {e}")))?,
        None => ListenParams::default(),
    };
    let caps = server.capabilities();
    let w = p.notifications;
    let tools = w.tools_list_changed && caps.get("tools").is_some();
    let prompts = w.prompts_list_changed && caps.get("prompts").is_some();
    let has_resources = caps.get("resources").is_some();
    let resources = w.resources_list_changed && has_resources;
    let subs: BTreeSet<String> =
        if has_resources { w.resource_subscriptions.into_iter().collect() } else { BTreeSet::new() };

    let id = serde_json::to_value(&req.id).unwrap_or(Value::Null);
    let mut honoured = Map::new();
    if tools {
        honoured.insert("toolsListChanged".into(), true.into());
    }
    if prompts {
        honoured.insert("promptsListChanged".into(), true.into());
    }
    if resources {
        honoured.insert("resourcesListChanged".into(), true.into());
    }
    if !subs.is_empty() {
        honoured.insert("resourceSubscriptions".into(), subs.iter().cloned().collect());
    }
    let mut notices = server.notices();
    let meta = json!({ META_SUBSCRIPTION_ID: id });
    let mut buf = Vec::new();
    let ack = json!({ "_meta": meta, "notifications": honoured });
    let _ = jsonrpc::write_notification(&mut buf, "notifications/subscriptions/acknowledged", &ack);
    if outbound.send(buf).await.is_err() {
        return Ok(Reply::none());
    }
    loop {
        let frame = tokio::select! {
            _ = cancel.cancelled() => break,
            n = notices.recv() => match n {
                None => break,
                Some(Notice::ListChanged(c)) => {
                    let wanted = match c {
                        ListChanged::Tools => tools,
                        ListChanged::Prompts => prompts,
                        ListChanged::Resources => resources,
                    };
                    wanted.then(|| (c.method(), json!({ "_meta": meta })))
                }
                Some(Notice::ResourceUpdated(uri)) => subs
                    .contains(&*uri)
                    .then(|| ("notifications/resources/updated", json!({ "uri": &*uri, "_meta": meta }))),
            },
        };
        if let Some((method, params)) = frame {
            let mut buf = Vec::new();
            let _ = jsonrpc::write_notification(&mut buf, method, &params);
            if outbound.send(buf).await.is_err() {
                break;
            }
        }
    }
    let mut m = Map::new();
    m.insert(META_SUBSCRIPTION_ID.into(), id);
    crate::dispatch::write_with_meta(server, ctx.era(), &req.id, ResultKind::Complete, &Map::new(), Some(m))
}
