//! The one pipeline of the methods that can ask the client for input — `tools/call`,
//! `resources/read`, `prompts/get` — and the preparation they need before a
//! [`Context`] exists (MRTR state, a `session` handle's scope).
//!
//! On 2025-11-25 an ask is a server→client request on the call's own stream, so the
//! pipeline just runs the handler. On 2026-07-28 (MRTR) an unanswered ask parks the
//! handler: [`run`] notices, drops it and answers `input_required` with the asks and a
//! sealed `requestState` bound to the caller, the method, the target and the arguments;
//! the retry carries the answers and replays the handler.

use std::borrow::Cow;
use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use serde_json::value::RawValue;

use super::drive::{Drive, Driven};
use super::{R, RequestEnv, params_text, write};
use crate::context::{Context, MrtrState};
use crate::era::ResultKind;
use crate::error::{Error, ProtocolError};
use crate::jsonrpc::{Request, RequestId};
use crate::middleware::{HookFn, MwFuture, run_chain};
use crate::mrtr::{Binding, digest_arguments};
use crate::protocol::Method;
use crate::server::Server;
use crate::state::{Principal, SessionScope};

/// Fields shared by the methods that can ask, plus the target (`name` or `uri`).
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct AskingParams<'a> {
    #[serde(borrow, default)]
    pub(super) name: Option<Cow<'a, str>>,
    #[serde(default)]
    pub(super) uri: Option<String>,
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

impl<'a> AskingParams<'a> {
    /// Parses the params of `req` (a method that can ask).
    pub(super) fn parse(req: &'a Request) -> Result<Self, ProtocolError> {
        serde_json::from_str(params_text(req))
            .map_err(|e| ProtocolError::invalid_params(format!("Invalid {} params: {e}", req.method)))
    }
    fn target(&self) -> &str {
        self.name.as_deref().or(self.uri.as_deref()).unwrap_or_default()
    }
    /// The `arguments`, unless absent or `null`.
    pub(super) fn args(&self) -> Option<&'a RawValue> {
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

fn takes_handle(server: &Server, method: Method, req: &Request) -> bool {
    method == Method::CallTool
        && req.name.as_deref().is_some_and(|n| server.registry().snapshot().tools.get(n).is_some_and(|t| t.session_arg))
}

/// The preparation of requests that need no I/O (the common case): `None` when
/// [`prepare`] must run (an MRTR retry, or a tool taking a session handle).
pub(super) fn prepare_fast(server: &Server, method: Method, req: &Request, env: &RequestEnv) -> Option<Prepared> {
    if !env.era.is_modern() || !matches!(method, Method::CallTool | Method::ReadResource | Method::GetPrompt) {
        return Some(Prepared::default());
    }
    if takes_handle(server, method, req) || req.mrtr_retry {
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
    let takes_handle = takes_handle(server, method, req);
    let p = AskingParams::parse(req)?;
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
    p: &AskingParams<'_>,
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
    crate::context::resolve_handle(server, principal, &handle).await.map(Some)
}

/// What a call that can ask is about; its `requestState` is bound to it.
pub(super) struct Target<'a> {
    /// The method.
    pub(super) method: Method,
    /// The tool or prompt name, or the resource URI.
    pub(super) name: &'a str,
    /// The call's arguments.
    pub(super) args: Option<&'a RawValue>,
}

/// The handler future of a call: `endpoint` behind the `hook` chain (directly when the
/// server has no middleware).
pub(super) fn chained<I, O>(
    server: &Server,
    ctx: &Context,
    input: I,
    hook: HookFn<I, crate::Result<O>>,
    endpoint: impl Fn(&Context, I) -> MwFuture<'static, crate::Result<O>> + Send + Sync + 'static,
) -> MwFuture<'static, crate::Result<O>>
where
    I: Send + 'static,
    O: Send + 'static,
{
    if server.inner.middleware.is_empty() {
        return endpoint(ctx, input);
    }
    let chain = server.inner.middleware.clone();
    let ctx = ctx.clone();
    Box::pin(async move { run_chain(&chain, &ctx, input, hook, &endpoint).await })
}

/// Runs a call that can ask: drives `call` until it finishes (answered by `finish`) or
/// parks on asks the client must answer first (answered `input_required`).
pub(super) async fn run<O>(
    server: &Server,
    ctx: &Context,
    id: &RequestId,
    target: Target<'_>,
    call: MwFuture<'static, crate::Result<O>>,
    finish: impl FnOnce(crate::Result<O>) -> R,
) -> R {
    match Drive::new(call, ctx.clone()).await {
        Driven::InputRequired => input_required(server, ctx, id, &target),
        Driven::Done(out) => finish(out),
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct InputRequiredOut {
    input_requests: BTreeMap<String, Value>,
    request_state: String,
}

fn input_required(server: &Server, ctx: &Context, id: &RequestId, target: &Target<'_>) -> R {
    let Some(slot) = &ctx.inner.mrtr else { return Err(ProtocolError::internal("input required outside MRTR")) };
    let st = slot.lock().unwrap_or_else(|p| p.into_inner());
    let bound = binding(ctx.principal(), target.method.as_str(), target.name, target.args);
    let state = server.sealer().seal(&bound, &st.next_continuation());
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

/// The protocol error for a failed `resources/read` or `prompts/get` handler (a tool
/// error there is an internal error: only tools have error results).
pub(super) fn handler_error(e: Error) -> ProtocolError {
    match e {
        Error::Tool(msg) => ProtocolError::internal(msg),
        other => other.into_protocol(),
    }
}
