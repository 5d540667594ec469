//! Method dispatch and the methods that are not MRTR-capable: lifecycle, discovery,
//! lists, completion, subscriptions. The MRTR-capable ones live in `calls.rs`.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use base64::Engine as _;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::Reply;
use super::calls;
use crate::context::Context;
use crate::era::{self, Era, Method, ResultKind};
use crate::error::{Error, ProtocolError};
use crate::jsonrpc::{self, Request, RequestId, parse_level};
use crate::middleware::{HookFn, MwFuture, run_chain, select};
use crate::protocol::{ClientCapabilities, Implementation, Prompt, Resource, ResourceTemplate, Tool};
use crate::registry::{CompletionRequest, Components, PromptDef, ResourceDef, ResourceTemplateDef, ToolDef};
use crate::server::Server;
use crate::session::ClientInit;
use crate::state::{ComponentKind, Visibility};

pub(super) type R = Result<Reply, ProtocolError>;

/// Runs the `on_request` chain around the method.
pub(super) async fn serve(
    server: &Server,
    ctx: &Context,
    method: Method,
    req: Request,
    scope_error: Option<Error>,
) -> Reply {
    if server.inner.middleware.is_empty() {
        dispatch(server, ctx, method, req, scope_error).await
    } else {
        Box::pin(serve_chain(server, ctx, method, req, scope_error)).await
    }
}

async fn serve_chain(
    server: &Server,
    ctx: &Context,
    method: Method,
    req: Request,
    scope_error: Option<Error>,
) -> Reply {
    let chain = &server.inner.middleware;
    let scope_error = Mutex::new(scope_error);
    let id = req.id.clone();
    let slot = Mutex::new(Some(req));
    let endpoint = |ctx: &Context, (): ()| -> MwFuture<'static, Reply> {
        let taken = slot.lock().unwrap_or_else(|p| p.into_inner()).take();
        let (id, server, ctx) = (id.clone(), server.clone(), ctx.clone());
        let scope_error = scope_error.lock().unwrap_or_else(|p| p.into_inner()).take();
        Box::pin(async move {
            match taken {
                Some(req) => dispatch(&server, &ctx, method, req, scope_error).await,
                None => Reply::error(Some(&id), &ProtocolError::internal("a middleware called `next` twice")),
            }
        })
    };
    run_chain(chain, ctx, (), select::on_request, &endpoint).await
}

/// Each method's future is boxed so the request future stays small (it is moved by
/// every layer above; a few hundred bytes instead of several kilobytes).
async fn dispatch(server: &Server, ctx: &Context, method: Method, req: Request, scope_error: Option<Error>) -> Reply {
    let id = req.id.clone();
    let r = match method {
        Method::Initialize => Box::pin(initialize(server, ctx, req)).await,
        Method::Ping => empty(server, &id, ctx.era()),
        Method::SetLevel => set_level(server, ctx, &req),
        Method::Discover => Box::pin(discover(server, ctx, &req)).await,
        Method::ListTools => Box::pin(list_tools(server, ctx, &req)).await,
        Method::ListResources => Box::pin(list_resources(server, ctx, &req)).await,
        Method::ListResourceTemplates => Box::pin(list_templates(server, ctx, &req)).await,
        Method::ListPrompts => Box::pin(list_prompts(server, ctx, &req)).await,
        Method::CallTool => Box::pin(calls::call_tool(server, ctx, req, scope_error)).await,
        Method::ReadResource => Box::pin(calls::read_resource(server, ctx, req)).await,
        Method::GetPrompt => Box::pin(calls::get_prompt(server, ctx, req)).await,
        Method::Complete => Box::pin(complete(server, ctx, req)).await,
        Method::Subscribe | Method::Unsubscribe => subscribe(server, ctx, &req, method == Method::Subscribe),
        Method::Listen => Box::pin(super::listen::listen(server, ctx, req)).await,
    };
    calls::reply_of(r, &id)
}

pub(super) fn params_text(req: &Request) -> &str {
    req.params.as_deref().unwrap_or("{}")
}

fn params<'a, T: Deserialize<'a>>(req: &'a Request) -> Result<T, ProtocolError> {
    serde_json::from_str(params_text(req))
        .map_err(|e| ProtocolError::invalid_params(format!("Invalid params for {}: {e}", req.method)))
}

pub(crate) fn write<T: Serialize>(server: &Server, era: Era, id: &RequestId, kind: ResultKind, v: &T) -> R {
    era::write_response(era, id, kind, server.info_json(), v).map(Reply::ok)
}

fn empty(server: &Server, id: &RequestId, era: Era) -> R {
    write(server, era, id, ResultKind::Complete, &Map::new())
}

pub(super) fn require_capability(server: &Server, name: &str, method: &str) -> Result<(), ProtocolError> {
    if server.has_capability(name) { Ok(()) } else { Err(ProtocolError::method_not_found(method)) }
}

/// Runs a `Result<()>` hook chain (initialize, discover) with a no-op endpoint.
async fn unit_hook(server: &Server, ctx: &Context, hook: HookFn<(), crate::Result<()>>) -> Result<(), ProtocolError> {
    let chain = &server.inner.middleware;
    if chain.is_empty() {
        return Ok(());
    }
    let endpoint =
        |_ctx: &Context, (): ()| -> MwFuture<'static, crate::Result<()>> { Box::pin(std::future::ready(Ok(()))) };
    run_chain(chain, ctx, (), hook, &endpoint).await.map_err(Error::into_protocol)
}

/// Writes an rmcp result type whose own `_meta` must be merged with the era's.
pub(crate) fn write_with_meta<T: Serialize>(
    server: &Server,
    era: Era,
    id: &RequestId,
    kind: ResultKind,
    v: &T,
    meta: Option<Map<String, Value>>,
) -> R {
    let Some(mut m) = meta else { return write(server, era, id, kind, v) };
    let mut obj = match serde_json::to_value(v) {
        Ok(Value::Object(o)) => o,
        _ => return Err(ProtocolError::internal("result is not an object")),
    };
    if era.is_modern() {
        m.insert(
            crate::protocol::META_SERVER_INFO.into(),
            serde_json::from_str(server.info_json()).unwrap_or(Value::Null),
        );
        obj.insert("resultType".into(), "complete".into());
        obj.insert("_meta".into(), Value::Object(m));
        let body = serde_json::to_vec(&obj).map_err(|e| ProtocolError::internal(e.to_string()))?;
        let mut buf = Vec::with_capacity(body.len() + 40);
        jsonrpc::write_result_raw(&mut buf, id, &body);
        return Ok(Reply::ok(buf));
    }
    obj.insert("_meta".into(), Value::Object(m));
    write(server, era, id, kind, &obj)
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct InitializeParams {
    protocol_version: String,
    #[serde(default)]
    capabilities: ClientCapabilities,
    #[serde(default)]
    client_info: Option<Implementation>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct InitializeOut<'a> {
    protocol_version: &'a str,
    capabilities: Value,
    server_info: &'a Implementation,
    #[serde(skip_serializing_if = "Option::is_none")]
    instructions: Option<&'a str>,
}

async fn initialize(server: &Server, ctx: &Context, req: Request) -> R {
    let p: InitializeParams = params(&req)?;
    let version = era::legacy::negotiate(&p.protocol_version);
    if let Some(s) = ctx.session() {
        let init = ClientInit { version, capabilities: Arc::new(p.capabilities), info: p.client_info };
        if !s.set_init(init) {
            return Err(ProtocolError::invalid_request(
                "this session is already initialized; open a new session instead",
            ));
        }
    }
    unit_hook(server, ctx, select::on_initialize).await?;
    let out = InitializeOut {
        protocol_version: version,
        capabilities: server.capabilities(),
        server_info: server.info(),
        instructions: server.instructions(),
    };
    write(server, Era::Legacy(version), &req.id, ResultKind::Complete, &out)
}

#[derive(Deserialize)]
struct SetLevelParams {
    level: String,
}

fn set_level(server: &Server, ctx: &Context, req: &Request) -> R {
    let p: SetLevelParams = params(req)?;
    let level = parse_level(&p.level)
        .ok_or_else(|| ProtocolError::invalid_params(format!("Unknown log level {:?}", p.level)))?;
    if let Some(s) = ctx.session() {
        s.set_log_level(level);
    }
    empty(server, &req.id, ctx.era())
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct DiscoverOut<'a> {
    supported_versions: &'a [&'a str],
    capabilities: Value,
    #[serde(skip_serializing_if = "Option::is_none")]
    instructions: Option<&'a str>,
}

async fn discover(server: &Server, ctx: &Context, req: &Request) -> R {
    unit_hook(server, ctx, select::on_discover).await?;
    let out = DiscoverOut {
        supported_versions: crate::protocol::MODERN_VERSIONS,
        capabilities: server.capabilities(),
        instructions: server.instructions(),
    };
    write(server, ctx.era(), &req.id, ResultKind::Cacheable(server.config().list_cache), &out)
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

/// Runs a list hook chain around `items` and writes one page of the result under `field`.
async fn list_page<T: Serialize + Clone + Send + Sync + 'static>(
    server: &Server,
    ctx: &Context,
    req: &Request,
    field: &str,
    items: Vec<T>,
    hook: HookFn<(), crate::Result<Vec<T>>>,
) -> R {
    let items = if server.inner.middleware.is_empty() {
        items
    } else {
        let slot = Mutex::new(Some(items));
        let endpoint = |_ctx: &Context, (): ()| -> MwFuture<'static, crate::Result<Vec<T>>> {
            let v = slot.lock().unwrap_or_else(|p| p.into_inner()).take().unwrap_or_default();
            Box::pin(std::future::ready(Ok(v)))
        };
        run_chain(&server.inner.middleware, ctx, (), hook, &endpoint).await.map_err(Error::into_protocol)?
    };
    let (s, e, next) = page_bounds(server, req, items.len())?;
    let mut out = BTreeMap::new();
    out.insert(field, serde_json::to_value(&items[s..e]).map_err(|e| ProtocolError::internal(e.to_string()))?);
    if let Some(n) = next {
        out.insert("nextCursor", Value::String(n));
    }
    write(server, ctx.era(), &req.id, ResultKind::Cacheable(server.config().list_cache), &out)
}

/// A `*/list` method: the capability check, the caller's overlay, the visible items, one
/// page.
async fn list<T: Serialize + Clone + Send + Sync + 'static>(
    server: &Server,
    ctx: &Context,
    req: &Request,
    capability: &str,
    field: &str,
    hook: HookFn<(), crate::Result<Vec<T>>>,
    visible: impl FnOnce(&Components, Option<&Visibility>) -> Vec<T>,
) -> R {
    require_capability(server, capability, &req.method)?;
    let vis = ctx.visibility().await.map_err(Error::into_protocol)?;
    let items = visible(&server.registry().snapshot(), vis.as_ref());
    list_page(server, ctx, req, field, items, hook).await
}

async fn list_tools(server: &Server, ctx: &Context, req: &Request) -> R {
    list(server, ctx, req, "tools", "tools", select::on_list_tools, |c, vis| {
        let shown = |t: &&Arc<ToolDef>| Visibility::shows(vis, ComponentKind::Tool, &t.tool.name, &t.tags, t.enabled);
        c.tools.iter().filter(shown).map(|t| t.tool.clone()).collect::<Vec<Tool>>()
    })
    .await
}

async fn list_resources(server: &Server, ctx: &Context, req: &Request) -> R {
    list(server, ctx, req, "resources", "resources", select::on_list_resources, |c, vis| {
        let shown = |r: &&Arc<ResourceDef>| {
            Visibility::shows(vis, ComponentKind::Resource, &r.resource.uri, &r.tags, r.enabled)
        };
        c.resources.iter().filter(shown).map(|r| r.resource.clone()).collect::<Vec<Resource>>()
    })
    .await
}

async fn list_templates(server: &Server, ctx: &Context, req: &Request) -> R {
    list(server, ctx, req, "resources", "resourceTemplates", select::on_list_resource_templates, |c, vis| {
        let shown = |t: &&Arc<ResourceTemplateDef>| {
            Visibility::shows(vis, ComponentKind::Template, &t.template.uri_template, &t.tags, t.enabled)
        };
        c.templates.iter().filter(shown).map(|t| t.template.clone()).collect::<Vec<ResourceTemplate>>()
    })
    .await
}

async fn list_prompts(server: &Server, ctx: &Context, req: &Request) -> R {
    list(server, ctx, req, "prompts", "prompts", select::on_list_prompts, |c, vis| {
        let shown =
            |p: &&Arc<PromptDef>| Visibility::shows(vis, ComponentKind::Prompt, &p.prompt.name, &p.tags, p.enabled);
        c.prompts.iter().filter(shown).map(|p| p.prompt.clone()).collect::<Vec<Prompt>>()
    })
    .await
}

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

async fn complete(server: &Server, ctx: &Context, req: Request) -> R {
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

#[derive(Deserialize)]
struct UriParam {
    uri: String,
}

fn subscribe(server: &Server, ctx: &Context, req: &Request, on: bool) -> R {
    require_capability(server, "resources", &req.method)?;
    let UriParam { uri } = params(req)?;
    if let Some(s) = ctx.session() {
        if on { s.subscribe(uri) } else { s.unsubscribe(&uri) }
    }
    empty(server, &req.id, ctx.era())
}
