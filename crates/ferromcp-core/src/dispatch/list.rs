//! The four `*/list` methods as one generic function: the capability check, the
//! caller's visibility overlay, the kind's list hook, one page, cache hints.
//!
//! Cursors are opaque to clients: `base64url("o:" + offset)`. A cursor that does not
//! decode, or points past the end, is `invalid params` (start again without one).

use std::collections::BTreeMap;
use std::sync::Mutex;

use base64::Engine as _;
use serde::Deserialize;
use serde_json::Value;

use super::{R, params, require_capability, write};
use crate::context::Context;
use crate::era::ResultKind;
use crate::error::{Error, ProtocolError};
use crate::jsonrpc::Request;
use crate::middleware::{HookFn, MwFuture, run_chain, select};
use crate::registry::{Component, PromptDef, ResourceDef, ResourceTemplateDef, ToolDef};
use crate::server::Server;

/// A kind of component with a `*/list` method.
pub(super) trait Listed: Component {
    /// The server capability the method needs.
    const CAPABILITY: &'static str;
    /// The result field holding the page.
    const FIELD: &'static str;
    /// The middleware hook around the full list.
    const HOOK: HookFn<(), crate::Result<Vec<Self::Listed>>>;
}

impl Listed for ToolDef {
    const CAPABILITY: &'static str = "tools";
    const FIELD: &'static str = "tools";
    const HOOK: HookFn<(), crate::Result<Vec<Self::Listed>>> = select::on_list_tools;
}

impl Listed for ResourceDef {
    const CAPABILITY: &'static str = "resources";
    const FIELD: &'static str = "resources";
    const HOOK: HookFn<(), crate::Result<Vec<Self::Listed>>> = select::on_list_resources;
}

impl Listed for ResourceTemplateDef {
    const CAPABILITY: &'static str = "resources";
    const FIELD: &'static str = "resourceTemplates";
    const HOOK: HookFn<(), crate::Result<Vec<Self::Listed>>> = select::on_list_resource_templates;
}

impl Listed for PromptDef {
    const CAPABILITY: &'static str = "prompts";
    const FIELD: &'static str = "prompts";
    const HOOK: HookFn<(), crate::Result<Vec<Self::Listed>>> = select::on_list_prompts;
}

/// Serves `tools/list`, `resources/list`, `resources/templates/list` or `prompts/list`.
pub(super) async fn list<T: Listed>(server: &Server, ctx: &Context, req: &Request) -> R {
    require_capability(server, T::CAPABILITY, &req.method)?;
    let vis = ctx.visibility().await.map_err(Error::into_protocol)?;
    let snapshot = server.registry().snapshot();
    let items = snapshot.listed_for::<T>(vis.as_ref(), ctx.principal());
    let mut cache = server.config().list_cache;
    // A list that depends on the caller's scopes is for that caller only.
    cache.public &= !snapshot.any_scoped::<T>();
    let items = if server.inner.middleware.is_empty() {
        items
    } else {
        let slot = Mutex::new(Some(items));
        let endpoint = |_ctx: &Context, (): ()| -> MwFuture<'static, crate::Result<Vec<T::Listed>>> {
            let v = slot.lock().unwrap_or_else(|p| p.into_inner()).take().unwrap_or_default();
            Box::pin(std::future::ready(Ok(v)))
        };
        run_chain(&server.inner.middleware, ctx, (), T::HOOK, &endpoint).await.map_err(Error::into_protocol)?
    };
    let (s, e, next) = page_bounds(server, req, items.len())?;
    let mut out = BTreeMap::new();
    out.insert(T::FIELD, serde_json::to_value(&items[s..e]).map_err(|e| ProtocolError::internal(e.to_string()))?);
    if let Some(n) = next {
        out.insert("nextCursor", Value::String(n));
    }
    write(server, ctx.era(), &req.id, ResultKind::Cacheable(cache), &out)
}

#[derive(Deserialize, Default)]
struct ListParams {
    #[serde(default)]
    cursor: Option<String>,
}

fn page_bounds(server: &Server, req: &Request, total: usize) -> Result<(usize, usize, Option<String>), ProtocolError> {
    let p: ListParams = params(req)?;
    let e = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let start = match p.cursor.as_deref() {
        None | Some("") => 0,
        Some(c) => e
            .decode(c)
            .ok()
            .and_then(|b| String::from_utf8(b).ok())
            .and_then(|s| s.strip_prefix("o:").and_then(|n| n.parse::<usize>().ok()))
            .filter(|n| *n <= total)
            .ok_or_else(|| ProtocolError::invalid_params("Invalid cursor; start again without one"))?,
    };
    let end = (start + server.config().page_size).min(total);
    Ok((start, end, (end < total).then(|| e.encode(format!("o:{end}")))))
}
