//! The three MRTR-capable methods — `tools/call`, `resources/read`, `prompts/get` — and
//! the preparation they need before a [`Context`] exists (MRTR state, handle scope).

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use serde_json::value::RawValue;

use super::drive::{Drive, Driven};
use super::methods::{R, params_text, require_capability, write, write_with_meta};
use super::{Reply, RequestEnv};
use crate::context::{Context, MrtrState};
use crate::era::{self, Era, Method, ResultKind};
use crate::error::{Error, ProtocolError};
use crate::jsonrpc::{Request, RequestId};
use crate::middleware::{PromptCall, ToolCall, run_chain, select};
use crate::mrtr::{Binding, digest_arguments};
use crate::protocol::{CallToolResult, ContentBlock, GetPromptResult, ResourceContents};
use crate::registry::{Components, ResourceHandler, TemplateVars};
use crate::server::Server;
use crate::state::{ComponentKind, Principal, SessionScope, Visibility};

/// Fields shared by the MRTR-capable methods, plus the target (`name` or `uri`).
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct MrtrParams<'a> {
    #[serde(borrow, default)]
    pub(super) name: Option<Cow<'a, str>>,
    #[serde(default)]
    pub(super) uri: Option<String>,
    #[serde(borrow, default)]
    pub(super) arguments: Option<&'a RawValue>,
    #[serde(borrow, default, deserialize_with = "some_raw")]
    input_responses: Option<&'a RawValue>,
    #[serde(default)]
    request_state: Option<String>,
}

fn some_raw<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<&'de RawValue>, D::Error> {
    <&RawValue>::deserialize(d).map(Some)
}

impl MrtrParams<'_> {
    fn target(&self) -> &str {
        self.name.as_deref().or(self.uri.as_deref()).unwrap_or_default()
    }
    fn args(&self) -> Option<&RawValue> {
        self.arguments.filter(|a| a.get() != "null")
    }
}

/// What a request needs before its context is built.
#[derive(Default)]
pub(super) struct Prepared {
    pub(super) mrtr: Option<MrtrState>,
    pub(super) scope: Option<SessionScope>,
    /// A `session` handle that failed validation: the call answers with a tool error.
    pub(super) scope_error: Option<Error>,
}

/// The preparation of requests that need no I/O (the common case): `None` when
/// [`prepare`] must run (an MRTR retry, or a tool taking a session handle).
pub(super) fn prepare_fast(server: &Server, method: Method, req: &Request, env: &RequestEnv) -> Option<Prepared> {
    if !env.era.is_modern() || !matches!(method, Method::CallTool | Method::ReadResource | Method::GetPrompt) {
        return Some(Prepared::default());
    }
    let takes_handle = method == Method::CallTool
        && req
            .name
            .as_deref()
            .is_some_and(|n| server.registry().snapshot().tools.get(n).is_some_and(|t| t.session_arg));
    if takes_handle || req.mrtr_retry {
        return None;
    }
    Some(Prepared { mrtr: Some(MrtrState::default()), ..Prepared::default() })
}

/// Verifies MRTR state and resolves a `session` handle argument.
pub(super) async fn prepare(
    server: &Server,
    method: Method,
    req: &Request,
    env: &RequestEnv,
) -> Result<Prepared, ProtocolError> {
    let text = params_text(req);
    let takes_handle = method == Method::CallTool
        && req
            .name
            .as_deref()
            .is_some_and(|n| server.registry().snapshot().tools.get(n).is_some_and(|t| t.session_arg));
    let p: MrtrParams<'_> = serde_json::from_str(text)
        .map_err(|e| ProtocolError::invalid_params(format!("Invalid {} params: {e}", req.method)))?;
    let principal = env.principal.as_deref();
    let mrtr = Some(mrtr_state(server, principal, method.as_str(), p.target(), &p)?);
    let (mut scope, mut scope_error) = (None, None);
    if takes_handle {
        match handle_scope(server, env, p.args()).await {
            Ok(s) => scope = s,
            Err(e) => scope_error = Some(e),
        }
    }
    Ok(Prepared { mrtr, scope, scope_error })
}

/// Verifies `requestState` (against the caller and the request) and reads `inputResponses`.
fn mrtr_state(
    server: &Server,
    principal: Option<&Principal>,
    method: &str,
    target: &str,
    p: &MrtrParams<'_>,
) -> Result<MrtrState, ProtocolError> {
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
        let limit = server.config().max_request_state_bytes;
        if state.len() > limit {
            // Never handed out by this server: refused before any decoding or MAC work.
            return Err(ProtocolError::invalid_params(format!(
                "Invalid requestState: longer than the server's limit of {limit} bytes \
                 (ServerConfig::max_request_state_bytes); retry the original request without it"
            )));
        }
        st.prior = server.sealer().open(state, &binding(principal, method, target, p.args()))?;
        st.once = st.prior.once.clone();
    }
    Ok(st)
}

/// The binding of a request's state: its caller (hashed principal; none when
/// unauthenticated), method, target and arguments.
fn binding(principal: Option<&Principal>, method: &str, target: &str, args: Option<&RawValue>) -> Binding {
    let v: Option<Value> = args.and_then(|a| serde_json::from_str(a.get()).ok());
    Binding::new(principal, method, target, digest_arguments(v.as_ref()))
}

/// The scope named by a tool's `session` handle argument, validated against the caller.
async fn handle_scope(
    server: &Server,
    env: &RequestEnv,
    args: Option<&RawValue>,
) -> Result<Option<SessionScope>, Error> {
    #[derive(Deserialize)]
    struct SessionArg {
        #[serde(default)]
        session: Option<String>,
    }
    let handle = args.and_then(|a| serde_json::from_str::<SessionArg>(a.get()).ok()).and_then(|a| a.session);
    let Some(handle) = handle else { return Ok(None) };
    let principal = env.principal.as_ref().map(|p| p.hashed());
    crate::state::resolve_handle(server, principal, &handle).await.map(Some)
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
    let Some(slot) = &ctx.inner.mrtr else { return Err(ProtocolError::internal("input required outside MRTR")) };
    let st = slot.lock().unwrap_or_else(|p| p.into_inner());
    let state = server.sealer().seal(&binding(ctx.principal(), method, target, args), &st.next_continuation());
    let limit = server.config().max_request_state_bytes;
    if state.len() > limit {
        return Err(ProtocolError::invalid_params(format!(
            "the requestState of this call would be {} bytes, over the server's limit of {limit} bytes \
             (ServerConfig::max_request_state_bytes), so its retry could not be sent; \
             answer with smaller input responses, or raise the limit",
            state.len()
        )));
    }
    let out = InputRequiredOut { input_requests: st.pending.clone(), request_state: state };
    write(server, ctx.era(), id, ResultKind::InputRequired, &out)
}

fn handler_error(e: Error) -> ProtocolError {
    match e {
        Error::Tool(msg) => ProtocolError::internal(msg),
        other => other.into_protocol(),
    }
}

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

pub(super) async fn call_tool(server: &Server, ctx: &Context, req: Request, scope_error: Option<Error>) -> R {
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
    let args_raw: Option<&RawValue> = match args_text {
        Some(t) => Some(serde_json::from_str(t).map_err(|e| ProtocolError::invalid_params(e.to_string()))?),
        None => None,
    };
    let vis = ctx.visibility().await.map_err(Error::into_protocol)?;
    let visible = |n: &str| {
        snapshot.tools.get(n).filter(|t| Visibility::shows(vis.as_ref(), ComponentKind::Tool, n, &t.tags, t.enabled))
    };
    let Some(tool) = visible(name).cloned() else {
        return Err(ProtocolError::invalid_params(format!("Unknown tool: {name}")));
    };
    let chain = &server.inner.middleware;
    let fut = if chain.is_empty() {
        tool.call(ctx.clone(), args_raw)
    } else {
        let call = ToolCall { name: name.to_owned(), arguments: args_raw.map(RawValue::to_owned) };
        let snapshot = snapshot.clone();
        let vis = vis.clone();
        let endpoint = move |ctx: &Context,
                             call: ToolCall|
              -> crate::middleware::MwFuture<'static, crate::Result<CallToolResult>> {
            let tool = snapshot
                .tools
                .get(&call.name)
                .filter(|t| Visibility::shows(vis.as_ref(), ComponentKind::Tool, &call.name, &t.tags, t.enabled));
            match tool {
                Some(t) => t.call(ctx.clone(), call.arguments.as_deref()),
                None => {
                    Box::pin(std::future::ready(Err(Error::invalid_params(format!("Unknown tool: {}", call.name)))))
                }
            }
        };
        let chain = chain.clone();
        let ctx2 = ctx.clone();
        Box::pin(async move { run_chain(&chain, &ctx2, call, select::on_call_tool, &endpoint).await })
    };
    match Drive::new(fut, ctx.clone()).await {
        Driven::InputRequired => input_required(server, ctx, &req.id, "tools/call", name, args_raw),
        Driven::Done(Ok(mut result)) => {
            result.result_type = None;
            match result.meta.take() {
                None => era::write_response_with(ctx.era(), &req.id, ResultKind::Complete, server.info_json(), |buf| {
                    super::tool_json::write(buf, &result)
                })
                .map(Reply::ok),
                Some(meta) => write_with_meta(server, ctx.era(), &req.id, ResultKind::Complete, &result, Some(meta.0)),
            }
        }
        Driven::Done(Err(Error::Tool(msg))) => tool_error(server, ctx, &req.id, msg),
        Driven::Done(Err(e)) if is_session_error(&e) => tool_error(server, ctx, &req.id, e.to_string()),
        Driven::Done(Err(e)) => Err(e.into_protocol()),
    }
}

#[derive(Serialize)]
struct ReadOut<'a> {
    contents: &'a [ResourceContents],
}

pub(super) fn not_found(era: Era, uri: &str) -> ProtocolError {
    match era {
        Era::Modern(_) => era::modern::resource_not_found(uri),
        Era::Legacy(_) => era::legacy::resource_not_found(uri),
    }
}

type Found = (Arc<dyn ResourceHandler>, TemplateVars);

fn resolve_resource(c: &Components, uri: &str, vis: Option<&Visibility>) -> Option<Found> {
    if let Some(r) = c.resources.get(uri)
        && Visibility::shows(vis, ComponentKind::Resource, uri, &r.tags, r.enabled)
    {
        return Some((r.handler.clone()?, TemplateVars::default()));
    }
    let (t, vars) = c.templates.iter().find_map(|t| {
        let name = &t.template.uri_template;
        let shown = Visibility::shows(vis, ComponentKind::Template, name, &t.tags, t.enabled);
        if shown { t.matcher.matches(uri).map(|v| (t, v)) } else { None }
    })?;
    Some((t.handler.clone()?, vars))
}

pub(super) async fn read_resource(server: &Server, ctx: &Context, req: Request) -> R {
    require_capability(server, "resources", &req.method)?;
    let p: MrtrParams<'_> = serde_json::from_str(params_text(&req))
        .map_err(|e| ProtocolError::invalid_params(format!("Invalid resources/read params: {e}")))?;
    let Some(uri) = p.uri.clone() else {
        return Err(ProtocolError::invalid_params("resources/read needs a string `uri`"));
    };
    let vis = ctx.visibility().await.map_err(Error::into_protocol)?;
    let snapshot = server.registry().snapshot();
    if resolve_resource(&snapshot, &uri, vis.as_ref()).is_none() {
        return Err(not_found(ctx.era(), &uri));
    }
    let endpoint = move |ctx: &Context,
                         uri: String|
          -> crate::middleware::MwFuture<'static, crate::Result<Vec<ResourceContents>>> {
        match resolve_resource(&snapshot, &uri, vis.as_ref()) {
            Some((h, vars)) => h.read(ctx.clone(), uri, vars),
            None => {
                let e = not_found(ctx.era(), &uri);
                Box::pin(std::future::ready(Err(Error::Protocol(e))))
            }
        }
    };
    let chain = server.inner.middleware.clone();
    let ctx2 = ctx.clone();
    let uri2 = uri.clone();
    let fut = Box::pin(async move { run_chain(&chain, &ctx2, uri2, select::on_read_resource, &endpoint).await });
    match Drive::new(fut, ctx.clone()).await {
        Driven::InputRequired => input_required(server, ctx, &req.id, "resources/read", &uri, None),
        Driven::Done(Ok(contents)) => {
            let kind = ResultKind::Cacheable(server.config().read_cache);
            write(server, ctx.era(), &req.id, kind, &ReadOut { contents: &contents })
        }
        Driven::Done(Err(e)) => Err(handler_error(e)),
    }
}

impl Server {
    pub(crate) async fn read_resource_in_process(
        &self,
        ctx: Context,
        uri: &str,
    ) -> crate::Result<Vec<ResourceContents>> {
        let vis = ctx.visibility().await?;
        let snapshot = self.registry().snapshot();
        let (handler, vars) =
            resolve_resource(&snapshot, uri, vis.as_ref()).ok_or_else(|| Error::Protocol(not_found(ctx.era(), uri)))?;
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

pub(super) async fn get_prompt(server: &Server, ctx: &Context, req: Request) -> R {
    require_capability(server, "prompts", &req.method)?;
    let p: MrtrParams<'_> = serde_json::from_str(params_text(&req))
        .map_err(|e| ProtocolError::invalid_params(format!("Invalid prompts/get params: {e}")))?;
    let Some(name) = p.name.as_deref() else {
        return Err(ProtocolError::invalid_params("prompts/get needs a string `name`"));
    };
    let vis = ctx.visibility().await.map_err(Error::into_protocol)?;
    let snapshot = server.registry().snapshot();
    let find = move |n: &str| {
        snapshot
            .prompts
            .get(n)
            .cloned()
            .filter(|p| Visibility::shows(vis.as_ref(), ComponentKind::Prompt, n, &p.tags, p.enabled))
    };
    let Some(prompt) = find(name) else { return Err(ProtocolError::invalid_params(format!("Unknown prompt: {name}"))) };
    let endpoint = move |ctx: &Context,
                         call: PromptCall|
          -> crate::middleware::MwFuture<'static, crate::Result<GetPromptResult>> {
        match find(&call.name).and_then(|p| p.handler.clone()) {
            Some(h) => h.get(ctx.clone(), call.arguments.as_deref()),
            None => Box::pin(std::future::ready(Err(Error::invalid_params(format!("Unknown prompt: {}", call.name))))),
        }
    };
    let call = PromptCall { name: name.to_owned(), arguments: p.args().map(RawValue::to_owned) };
    let chain = server.inner.middleware.clone();
    let ctx2 = ctx.clone();
    let fut = Box::pin(async move { run_chain(&chain, &ctx2, call, select::on_get_prompt, &endpoint).await });
    match Drive::new(fut, ctx.clone()).await {
        Driven::InputRequired => input_required(server, ctx, &req.id, "prompts/get", name, p.args()),
        Driven::Done(Ok(mut result)) => {
            result.result_type = None;
            if result.description.is_none() {
                result.description = prompt.prompt.description.clone();
            }
            let meta = result.meta.take().map(|m| m.0);
            write_with_meta(server, ctx.era(), &req.id, ResultKind::Complete, &result, meta)
        }
        Driven::Done(Err(e)) => Err(handler_error(e)),
    }
}

pub(super) fn reply_of(r: R, id: &RequestId) -> Reply {
    r.unwrap_or_else(|e| Reply::error(Some(id), &e))
}
