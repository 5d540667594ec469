//! One function per method. Era differences are delegated to [`crate::era`].

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::sync::Arc;

use base64::Engine as _;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use serde_json::{Map, Value};

use super::drive::{Drive, Driven};
use super::{Reply, RequestEnv};
use crate::context::{Context, MrtrState};
use crate::era::{self, Era, Method, ResultKind};
use crate::error::{Error, ProtocolError};
use crate::jsonrpc::{self, Request, RequestId, parse_level};
use crate::mrtr::{Binding, digest_arguments};
use crate::protocol::{
    CallToolResult, ClientCapabilities, ContentBlock, GetPromptResult, Implementation, Prompt, Resource,
    ResourceContents, ResourceTemplate, Tool,
};
use crate::registry::{CompletionRequest, Components};
use crate::server::Server;
use crate::session::ClientInit;

pub(super) async fn serve(server: &Server, method: Method, req: Request, env: RequestEnv) -> Reply {
    let id = req.id.clone();
    let r = match method {
        Method::Initialize => initialize(server, req, env),
        Method::Ping => empty(server, &id, env.era),
        Method::SetLevel => set_level(server, &req, &env),
        Method::Discover => discover(server, &req, env.era),
        Method::ListTools => list_tools(server, &req, env.era),
        Method::ListResources => list_resources(server, &req, env.era),
        Method::ListResourceTemplates => list_templates(server, &req, env.era),
        Method::ListPrompts => list_prompts(server, &req, env.era),
        Method::CallTool => call_tool(server, req, env).await,
        Method::ReadResource => read_resource(server, req, env).await,
        Method::GetPrompt => get_prompt(server, req, env).await,
        Method::Complete => complete(server, req, env).await,
        Method::Subscribe | Method::Unsubscribe => subscribe(server, &req, &env, method == Method::Subscribe),
        Method::Listen => crate::listen::listen(server, req, env).await,
    };
    match r {
        Ok(reply) => reply,
        Err(e) => Reply::error(Some(&id), &e),
    }
}

type R = Result<Reply, ProtocolError>;

fn params<'a, T: Deserialize<'a>>(req: &'a Request) -> Result<T, ProtocolError> {
    let text = req.params.as_deref().map(RawValue::get).unwrap_or("{}");
    serde_json::from_str(text)
        .map_err(|e| ProtocolError::invalid_params(format!("Invalid params for {}: {e}", req.method)))
}

pub(crate) fn write<T: Serialize>(server: &Server, era: Era, id: &RequestId, kind: ResultKind, v: &T) -> R {
    era::write_response(era, id, kind, server.info_json(), v).map(Reply::ok)
}

fn empty(server: &Server, id: &RequestId, era: Era) -> R {
    write(server, era, id, ResultKind::Complete, &Map::new())
}

fn require_capability(server: &Server, name: &str, method: &str) -> Result<(), ProtocolError> {
    if server.has_capability(name) { Ok(()) } else { Err(ProtocolError::method_not_found(method)) }
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

fn initialize(server: &Server, req: Request, env: RequestEnv) -> R {
    let p: InitializeParams = params(&req)?;
    let version = era::legacy::negotiate(&p.protocol_version);
    if let Some(s) = &env.session {
        let init = ClientInit { version, capabilities: Arc::new(p.capabilities), info: p.client_info };
        if !s.set_init(init) {
            return Err(ProtocolError::invalid_request(
                "this session is already initialized; open a new session instead",
            ));
        }
    }
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

fn set_level(server: &Server, req: &Request, env: &RequestEnv) -> R {
    let p: SetLevelParams = params(req)?;
    let level = parse_level(&p.level)
        .ok_or_else(|| ProtocolError::invalid_params(format!("Unknown log level {:?}", p.level)))?;
    if let Some(s) = &env.session {
        s.set_log_level(level);
    }
    empty(server, &req.id, env.era)
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct DiscoverOut<'a> {
    supported_versions: &'a [&'a str],
    capabilities: Value,
    #[serde(skip_serializing_if = "Option::is_none")]
    instructions: Option<&'a str>,
}

fn discover(server: &Server, req: &Request, era: Era) -> R {
    let out = DiscoverOut {
        supported_versions: crate::protocol::MODERN_VERSIONS,
        capabilities: server.capabilities(),
        instructions: server.instructions(),
    };
    write(server, era, &req.id, ResultKind::Cacheable(server.config().list_cache), &out)
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
    let next = (end < total).then(|| e.encode(format!("o:{end}")));
    Ok((start, end, next))
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ListOut<'a, T: Serialize> {
    #[serde(flatten)]
    items: T,
    #[serde(skip_serializing_if = "Option::is_none")]
    next_cursor: Option<&'a str>,
}

#[derive(Serialize)]
struct ToolsField<'a> {
    tools: Vec<&'a Tool>,
}
#[derive(Serialize)]
struct ResourcesField<'a> {
    resources: Vec<&'a Resource>,
}
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct TemplatesField<'a> {
    resource_templates: Vec<&'a ResourceTemplate>,
}
#[derive(Serialize)]
struct PromptsField<'a> {
    prompts: Vec<&'a Prompt>,
}

fn list_kind(server: &Server) -> ResultKind {
    ResultKind::Cacheable(server.config().list_cache)
}

fn list_tools(server: &Server, req: &Request, era: Era) -> R {
    require_capability(server, "tools", &req.method)?;
    let c = server.registry().snapshot();
    let visible: Vec<&Tool> = c.tools.iter().filter(|t| t.enabled).map(|t| &t.tool).collect();
    let (s, e, next) = page_bounds(server, req, visible.len())?;
    let out = ListOut { items: ToolsField { tools: visible[s..e].to_vec() }, next_cursor: next.as_deref() };
    write(server, era, &req.id, list_kind(server), &out)
}

fn list_resources(server: &Server, req: &Request, era: Era) -> R {
    require_capability(server, "resources", &req.method)?;
    let c = server.registry().snapshot();
    let visible: Vec<&Resource> = c.resources.iter().filter(|r| r.enabled).map(|r| &r.resource).collect();
    let (s, e, next) = page_bounds(server, req, visible.len())?;
    let out = ListOut { items: ResourcesField { resources: visible[s..e].to_vec() }, next_cursor: next.as_deref() };
    write(server, era, &req.id, list_kind(server), &out)
}

fn list_templates(server: &Server, req: &Request, era: Era) -> R {
    require_capability(server, "resources", &req.method)?;
    let c = server.registry().snapshot();
    let visible: Vec<&ResourceTemplate> = c.templates.iter().filter(|t| t.enabled).map(|t| &t.template).collect();
    let (s, e, next) = page_bounds(server, req, visible.len())?;
    let out =
        ListOut { items: TemplatesField { resource_templates: visible[s..e].to_vec() }, next_cursor: next.as_deref() };
    write(server, era, &req.id, list_kind(server), &out)
}

fn list_prompts(server: &Server, req: &Request, era: Era) -> R {
    require_capability(server, "prompts", &req.method)?;
    let c = server.registry().snapshot();
    let visible: Vec<&Prompt> = c.prompts.iter().filter(|p| p.enabled).map(|p| &p.prompt).collect();
    let (s, e, next) = page_bounds(server, req, visible.len())?;
    let out = ListOut { items: PromptsField { prompts: visible[s..e].to_vec() }, next_cursor: next.as_deref() };
    write(server, era, &req.id, list_kind(server), &out)
}

/// Fields shared by the three MRTR-capable methods (plus the target: `name` or `uri`).
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct MrtrParams<'a> {
    #[serde(borrow, default)]
    name: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    arguments: Option<&'a RawValue>,
    #[serde(borrow, default, deserialize_with = "some_raw")]
    input_responses: Option<&'a RawValue>,
    #[serde(default)]
    request_state: Option<String>,
}

fn some_raw<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<&'de RawValue>, D::Error> {
    <&RawValue>::deserialize(d).map(Some)
}

/// Builds the MRTR state of a modern request: verifies `requestState`, reads
/// `inputResponses`.
fn mrtr_state(server: &Server, method: &str, target: &str, p: &MrtrParams<'_>) -> Result<MrtrState, ProtocolError> {
    let mut st = MrtrState::default();
    if let Some(raw) = p.input_responses {
        match serde_json::from_str::<Value>(raw.get()) {
            Ok(Value::Object(m)) => st.responses = m,
            _ => {
                return Err(ProtocolError::invalid_params(
                    "`inputResponses` must be an object mapping input keys to results",
                ));
            }
        }
    }
    if let Some(state) = &p.request_state {
        let b = binding(method, target, p.arguments);
        st.prior = server.sealer().open(state, &b)?;
        st.once = st.prior.once.clone();
    }
    Ok(st)
}

fn binding(method: &str, target: &str, args: Option<&RawValue>) -> Binding {
    let v: Option<Value> = args.and_then(|a| serde_json::from_str(a.get()).ok());
    Binding {
        principal: String::new(),
        method: method.to_owned(),
        target: target.to_owned(),
        args_digest: digest_arguments(v.as_ref()),
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct InputRequiredOut {
    input_requests: BTreeMap<String, Value>,
    request_state: String,
}

fn input_required(
    server: &Server,
    ctx: &Context,
    id: &RequestId,
    method: &str,
    target: &str,
    args: Option<&RawValue>,
) -> R {
    let Some(slot) = &ctx.inner.mrtr else {
        return Err(ProtocolError::internal("input required outside MRTR"));
    };
    let st = slot.lock().unwrap_or_else(|p| p.into_inner());
    let state = server.sealer().seal(&binding(method, target, args), &st.next_continuation());
    let out = InputRequiredOut { input_requests: st.pending.clone(), request_state: state };
    write(server, ctx.era(), id, ResultKind::InputRequired, &out)
}

/// Writes an rmcp result type that carries `resultType` and `_meta` fields of its own.
pub(crate) fn write_with_meta<T: Serialize>(
    server: &Server,
    era: Era,
    id: &RequestId,
    kind: ResultKind,
    v: &T,
    meta: Option<Map<String, Value>>,
) -> R {
    match (era, meta) {
        (Era::Modern(_), Some(mut m)) => {
            let mut obj = match serde_json::to_value(v) {
                Ok(Value::Object(o)) => o,
                _ => return Err(ProtocolError::internal("result is not an object")),
            };
            m.insert(
                crate::protocol::META_SERVER_INFO.into(),
                serde_json::from_str(server.info_json()).unwrap_or(Value::Null),
            );
            obj.insert("resultType".into(), "complete".into());
            obj.insert("_meta".into(), Value::Object(m));
            let mut buf = Vec::new();
            let body = serde_json::to_vec(&obj).map_err(|e| ProtocolError::internal(e.to_string()))?;
            jsonrpc::write_result_raw(&mut buf, id, &body);
            Ok(Reply::ok(buf))
        }
        (Era::Legacy(_), Some(m)) => {
            let mut obj = match serde_json::to_value(v) {
                Ok(Value::Object(o)) => o,
                _ => return Err(ProtocolError::internal("result is not an object")),
            };
            obj.insert("_meta".into(), Value::Object(m));
            write(server, era, id, kind, &obj)
        }
        (_, None) => write(server, era, id, kind, v),
    }
}

async fn call_tool(server: &Server, mut req: Request, env: RequestEnv) -> R {
    require_capability(server, "tools", &req.method)?;
    let raw = req.params.take();
    let text = raw.as_deref().map(RawValue::get).unwrap_or("{}");
    let p: MrtrParams<'_> = serde_json::from_str(text)
        .map_err(|e| ProtocolError::invalid_params(format!("Invalid tools/call params: {e}")))?;
    let Some(name) = p.name.clone() else {
        return Err(ProtocolError::invalid_params("tools/call needs a string `name`"));
    };
    if p.arguments.is_some_and(|a| !a.get().starts_with('{') && a.get() != "null") {
        return Err(ProtocolError::invalid_params("`arguments` must be an object"));
    }
    let snapshot = server.registry().snapshot();
    let Some(tool) = snapshot.tools.get(&name).filter(|t| t.enabled).cloned() else {
        return Err(ProtocolError::invalid_params(format!("Unknown tool: {name}")));
    };
    let mrtr = match env.era {
        Era::Modern(_) => Some(mrtr_state(server, "tools/call", &name, &p)?),
        Era::Legacy(_) => None,
    };
    let era = env.era;
    let args = p.arguments.filter(|a| a.get() != "null");
    let scope = match (era, tool.session_arg) {
        (Era::Modern(_), true) => handle_scope(server, &env, args).await?,
        _ => None,
    };
    let ctx = server.context(&mut req, Method::CallTool, env, mrtr, scope);
    let fut = tool.call(ctx.clone(), args);
    let outcome = Drive::new(fut, ctx.clone()).await;
    match outcome {
        Driven::InputRequired => input_required(server, &ctx, &req.id, "tools/call", &name, args),
        Driven::Done(Ok(mut result)) => {
            result.result_type = None;
            let meta = result.meta.take().map(|m| m.0);
            write_with_meta(server, era, &req.id, ResultKind::Complete, &result, meta)
        }
        Driven::Done(Err(Error::Tool(msg))) => {
            let r = CallToolResult::error(vec![ContentBlock::text(msg)]);
            let mut r = r;
            r.result_type = None;
            write(server, era, &req.id, ResultKind::Complete, &r)
        }
        Driven::Done(Err(e)) => Err(e.into_protocol()),
    }
}

/// The scope named by a tool's `session` handle argument, validated against the caller.
async fn handle_scope(
    server: &Server,
    env: &RequestEnv,
    args: Option<&RawValue>,
) -> Result<Option<crate::state::SessionScope>, ProtocolError> {
    #[derive(Deserialize)]
    struct SessionArg {
        #[serde(default)]
        session: Option<String>,
    }
    let handle = args.and_then(|a| serde_json::from_str::<SessionArg>(a.get()).ok()).and_then(|a| a.session);
    let Some(handle) = handle else { return Ok(None) };
    let principal = env.principal.as_ref().map(|p| p.hashed());
    crate::state::api::resolve_handle(server, principal, &handle).await.map(Some).map_err(Error::into_protocol)
}

#[derive(Deserialize)]
struct UriParam {
    uri: String,
}

#[derive(Serialize)]
struct ReadOut<'a> {
    contents: &'a [ResourceContents],
}

fn not_found(era: Era, uri: &str) -> ProtocolError {
    match era {
        Era::Modern(_) => era::modern::resource_not_found(uri),
        Era::Legacy(_) => era::legacy::resource_not_found(uri),
    }
}

async fn read_resource(server: &Server, mut req: Request, env: RequestEnv) -> R {
    require_capability(server, "resources", &req.method)?;
    let raw = req.params.take();
    let text = raw.as_deref().map(RawValue::get).unwrap_or("{}");
    let UriParam { uri } = serde_json::from_str(text)
        .map_err(|e| ProtocolError::invalid_params(format!("resources/read needs a string `uri`: {e}")))?;
    let p: MrtrParams<'_> = serde_json::from_str(text)
        .map_err(|e| ProtocolError::invalid_params(format!("Invalid resources/read params: {e}")))?;
    let snapshot = server.registry().snapshot();
    let (handler, vars) = resolve_resource(&snapshot, &uri).ok_or_else(|| not_found(env.era, &uri))?;
    let mrtr = match env.era {
        Era::Modern(_) => Some(mrtr_state(server, "resources/read", &uri, &p)?),
        Era::Legacy(_) => None,
    };
    let era = env.era;
    let ctx = server.context(&mut req, Method::ReadResource, env, mrtr, None);
    let fut = handler.read(ctx.clone(), uri.clone(), vars);
    match Drive::new(fut, ctx.clone()).await {
        Driven::InputRequired => input_required(server, &ctx, &req.id, "resources/read", &uri, None),
        Driven::Done(Ok(contents)) => write(
            server,
            era,
            &req.id,
            ResultKind::Cacheable(server.config().read_cache),
            &ReadOut { contents: &contents },
        ),
        Driven::Done(Err(e)) => Err(match e {
            Error::Tool(msg) => ProtocolError::internal(msg),
            other => other.into_protocol(),
        }),
    }
}

type Handler = Arc<dyn crate::registry::ResourceHandler>;

fn resolve_resource(c: &Components, uri: &str) -> Option<(Handler, crate::registry::TemplateVars)> {
    if let Some(r) = c.resources.get(uri).filter(|r| r.enabled) {
        return Some((r.handler.clone()?, Default::default()));
    }
    let (t, vars) = c.match_template(uri)?;
    Some((t.handler.clone()?, vars))
}

impl Server {
    pub(crate) async fn read_resource_in_process(
        &self,
        ctx: Context,
        uri: &str,
    ) -> crate::Result<Vec<ResourceContents>> {
        let snapshot = self.registry().snapshot();
        let (handler, vars) =
            resolve_resource(&snapshot, uri).ok_or_else(|| Error::Protocol(not_found(ctx.era(), uri)))?;
        handler.read(ctx, uri.to_owned(), vars).await
    }

    pub(crate) async fn get_prompt_in_process(
        &self,
        ctx: Context,
        name: &str,
        arguments: Value,
    ) -> crate::Result<GetPromptResult> {
        let snapshot = self.registry().snapshot();
        let p = snapshot
            .prompts
            .get(name)
            .filter(|p| p.enabled)
            .cloned()
            .ok_or_else(|| Error::invalid_params(format!("Unknown prompt: {name}")))?;
        let raw = serde_json::value::to_raw_value(&arguments)?;
        match &p.handler {
            Some(h) => h.get(ctx, Some(&raw)).await,
            None => Err(Error::Other(format!("prompt `{name}` has no handler"))),
        }
    }
}

async fn get_prompt(server: &Server, mut req: Request, env: RequestEnv) -> R {
    require_capability(server, "prompts", &req.method)?;
    let raw = req.params.take();
    let text = raw.as_deref().map(RawValue::get).unwrap_or("{}");
    let p: MrtrParams<'_> = serde_json::from_str(text)
        .map_err(|e| ProtocolError::invalid_params(format!("Invalid prompts/get params: {e}")))?;
    let Some(name) = p.name.clone() else {
        return Err(ProtocolError::invalid_params("prompts/get needs a string `name`"));
    };
    let snapshot = server.registry().snapshot();
    let Some(prompt) = snapshot.prompts.get(&name).filter(|p| p.enabled).cloned() else {
        return Err(ProtocolError::invalid_params(format!("Unknown prompt: {name}")));
    };
    let Some(handler) = prompt.handler.clone() else {
        return Err(ProtocolError::internal(format!("prompt `{name}` has no handler")));
    };
    let mrtr = match env.era {
        Era::Modern(_) => Some(mrtr_state(server, "prompts/get", &name, &p)?),
        Era::Legacy(_) => None,
    };
    let era = env.era;
    let ctx = server.context(&mut req, Method::GetPrompt, env, mrtr, None);
    let args = p.arguments.filter(|a| a.get() != "null");
    let fut = handler.get(ctx.clone(), args);
    match Drive::new(fut, ctx.clone()).await {
        Driven::InputRequired => input_required(server, &ctx, &req.id, "prompts/get", &name, args),
        Driven::Done(Ok(mut result)) => {
            result.result_type = None;
            if result.description.is_none() {
                result.description = prompt.prompt.description.clone();
            }
            let meta = result.meta.take().map(|m| m.0);
            write_with_meta(server, era, &req.id, ResultKind::Complete, &result, meta)
        }
        Driven::Done(Err(e)) => Err(match e {
            Error::Tool(msg) => ProtocolError::internal(msg),
            other => other.into_protocol(),
        }),
    }
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

async fn complete(server: &Server, mut req: Request, env: RequestEnv) -> R {
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
    let era = env.era;
    let id = req.id.clone();
    let values = match completer {
        None => Vec::new(),
        Some(c) => {
            let ctx = server.context(&mut req, Method::Complete, env, None, None);
            let creq = CompletionRequest {
                argument: p.argument.name,
                value: p.argument.value,
                context: p.context.map(|c| c.arguments).unwrap_or_default(),
            };
            c.complete(ctx, creq).await.map_err(Error::into_protocol)?
        }
    };
    let total = values.len();
    let shown: Vec<String> = values.into_iter().take(100).collect();
    let out = CompleteOut { completion: CompletionOut { has_more: total > shown.len(), values: shown, total } };
    write(server, era, &id, ResultKind::Complete, &out)
}

fn subscribe(server: &Server, req: &Request, env: &RequestEnv, on: bool) -> R {
    require_capability(server, "resources", &req.method)?;
    let UriParam { uri } = params(req)?;
    if let Some(s) = &env.session {
        if on { s.subscribe(uri) } else { s.unsubscribe(&uri) }
    }
    empty(server, &req.id, env.era)
}
