//! Asking the client: elicitation, sampling and roots, with one API for both eras.
//!
//! - Legacy (2025-11-25): a real JSON-RPC request on this request's own stream,
//!   correlated by id through the session, with a timeout and cancellation. Waiting asks
//!   are bounded per session and per server
//!   ([`ServerConfig::max_pending_asks_per_session`](crate::ServerConfig::max_pending_asks_per_session),
//!   [`max_pending_asks`](crate::ServerConfig::max_pending_asks)): one more fails at once
//!   with [`Error::TooManyAsks`]. An ask whose stream closes (the client went away and
//!   cannot resume) fails at once instead of waiting out its timeout.
//! - Modern (2026-07-28): MRTR. Each ask has a key (explicit, or `ask-N` in call order).
//!   An ask whose answer is known (from this retry's `inputResponses` or the sealed
//!   `requestState`) returns it at once; an unanswered ask parks the handler, and the
//!   dispatcher ends the call with an `InputRequiredResult` listing every ask that
//!   parked in the same poll (so `tokio::join!` of several asks becomes one round).
//!   On the retry the handler runs again and replays (deterministic replay).
//!
//! Asking for a capability the client did not declare is [`Error::MissingCapability`],
//! never a hang.

use std::collections::BTreeMap;
use std::future::{Future, IntoFuture};
use std::marker::PhantomData;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use schemars::JsonSchema;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value, json};

use super::Context;
use crate::era::Era;
use crate::error::{Error, ProtocolError, Result};
use crate::jsonrpc::{self, RequestId};
use crate::mrtr::Continuation;
use crate::protocol::{ClientCapability, CreateMessageResult, ElicitResult, ElicitationAction, ListRootsResult, Root};
use crate::session::{AnswerReceiver, Session};

/// The user's answer to an elicitation.
#[derive(Debug, Clone, PartialEq)]
pub enum Elicitation<T> {
    /// The user accepted and provided content.
    Accept(T),
    /// The user declined.
    Decline,
    /// The user dismissed the request.
    Cancel,
}

impl<T> Elicitation<T> {
    /// The accepted content, if any.
    pub fn accepted(self) -> Option<T> {
        match self {
            Elicitation::Accept(t) => Some(t),
            _ => None,
        }
    }
}

/// Per-request MRTR bookkeeping (modern era only).
#[derive(Debug, Default)]
pub(crate) struct MrtrState {
    pub(crate) prior: Continuation,
    pub(crate) responses: Map<String, Value>,
    pub(crate) used: BTreeMap<String, Value>,
    pub(crate) once: BTreeMap<String, Value>,
    pub(crate) pending: BTreeMap<String, Value>,
}

impl MrtrState {
    /// The continuation to seal for the next round.
    pub(crate) fn next_continuation(&self) -> Continuation {
        Continuation { answers: self.used.clone(), once: self.once.clone(), round: self.prior.round + 1 }
    }
}

pub(crate) type MrtrSlot = Mutex<MrtrState>;

/// The text of a sampling result (all text blocks, joined), if it has any.
///
/// ```
/// let r: ferromcp_core::protocol::CreateMessageResult = serde_json::from_value(serde_json::json!({
///     "role": "assistant", "content": {"type": "text", "text": "Paris"}, "model": "m"
/// })).unwrap();
/// assert_eq!(ferromcp_core::context::sampled_text(&r).as_deref(), Some("Paris"));
/// ```
pub fn sampled_text(r: &CreateMessageResult) -> Option<String> {
    use crate::protocol::SamplingMessageContentBlock as B;
    let texts: Vec<String> = r
        .message
        .content
        .clone()
        .into_vec()
        .into_iter()
        .filter_map(|b| match b {
            B::Text(t) => Some(t.text),
            _ => None,
        })
        .collect();
    if texts.is_empty() { None } else { Some(texts.join("")) }
}

/// A sampling request (`sampling/createMessage`).
///
/// ```
/// use ferromcp_core::context::SamplingRequest;
/// let req = SamplingRequest::user("What is the capital of France?").max_tokens(100);
/// # let _ = req;
/// ```
#[derive(Debug, Clone)]
pub struct SamplingRequest {
    params: Map<String, Value>,
}

impl SamplingRequest {
    /// A request with one user text message and `maxTokens` 1000.
    pub fn user(text: impl Into<String>) -> Self {
        let mut params = Map::new();
        params
            .insert("messages".into(), json!([{ "role": "user", "content": { "type": "text", "text": text.into() } }]));
        params.insert("maxTokens".into(), json!(1000));
        SamplingRequest { params }
    }
    /// Sets `maxTokens`.
    pub fn max_tokens(mut self, n: u32) -> Self {
        self.params.insert("maxTokens".into(), json!(n));
        self
    }
    /// Sets the system prompt.
    pub fn system_prompt(mut self, s: impl Into<String>) -> Self {
        self.params.insert("systemPrompt".into(), json!(s.into()));
        self
    }
    /// Sets the temperature.
    pub fn temperature(mut self, t: f64) -> Self {
        self.params.insert("temperature".into(), json!(t));
        self
    }
    /// Sets any other parameter (e.g. `modelPreferences`, `stopSequences`).
    pub fn param(mut self, key: impl Into<String>, value: Value) -> Self {
        self.params.insert(key.into(), value);
        self
    }
}

type Decode<T> = fn(Value) -> std::result::Result<T, String>;

/// A pending ask; `.key(..)` names it (MRTR input key), `.timeout(..)` bounds it
/// (legacy), `.await` sends it.
#[must_use = "an ask does nothing until awaited"]
pub struct Ask<T> {
    ctx: Context,
    method: &'static str,
    capability: ClientCapability,
    params: Value,
    key: Option<String>,
    timeout: Option<Duration>,
    decode: Decode<T>,
    _t: PhantomData<fn() -> T>,
}

impl<T> Ask<T> {
    /// Names this ask: the key of its entry in `inputRequests` on the modern era.
    pub fn key(mut self, key: impl Into<String>) -> Self {
        self.key = Some(key.into());
        self
    }
    /// Overrides the server's ask timeout (legacy era).
    pub fn timeout(mut self, t: Duration) -> Self {
        self.timeout = Some(t);
        self
    }
}

impl<T: Send + 'static> IntoFuture for Ask<T> {
    type Output = Result<T>;
    type IntoFuture = std::pin::Pin<Box<dyn Future<Output = Result<T>> + Send + 'static>>;
    fn into_future(self) -> Self::IntoFuture {
        Box::pin(run(self))
    }
}

fn decode_elicit<T: DeserializeOwned>(v: Value) -> std::result::Result<Elicitation<T>, String> {
    let r: ElicitResult = serde_json::from_value(v).map_err(|e| format!("not an ElicitResult: {e}"))?;
    Ok(match r.action {
        ElicitationAction::Accept => {
            let content = r.content.unwrap_or(Value::Object(Map::new()));
            Elicitation::Accept(
                serde_json::from_value(content)
                    .map_err(|e| format!("content does not match the requested schema: {e}"))?,
            )
        }
        ElicitationAction::Decline => Elicitation::Decline,
        _ => Elicitation::Cancel,
    })
}

fn decode_raw_elicit(v: Value) -> std::result::Result<ElicitResult, String> {
    serde_json::from_value(v).map_err(|e| format!("not an ElicitResult: {e}"))
}

fn decode_sample(v: Value) -> std::result::Result<CreateMessageResult, String> {
    serde_json::from_value(v).map_err(|e| format!("not a CreateMessageResult: {e}"))
}

fn decode_roots(v: Value) -> std::result::Result<Vec<Root>, String> {
    serde_json::from_value::<ListRootsResult>(v).map(|r| r.roots).map_err(|e| format!("not a ListRootsResult: {e}"))
}

/// The flat object schema elicitation needs, from a type.
fn elicitation_schema<T: JsonSchema>() -> Value {
    let mut s = (*crate::schema::object_schema_for::<T>()).clone();
    s.remove("$schema");
    Value::Object(s)
}

impl Context {
    fn ask<T>(&self, method: &'static str, capability: ClientCapability, params: Value, decode: Decode<T>) -> Ask<T> {
        Ask { ctx: self.clone(), method, capability, params, key: None, timeout: None, decode, _t: PhantomData }
    }

    /// Asks the user for structured input whose schema comes from `T`.
    ///
    /// ```no_run
    /// # async fn f(ctx: ferromcp_core::Context) -> ferromcp_core::Result<()> {
    /// use ferromcp_core::context::Elicitation;
    /// #[derive(serde::Deserialize, schemars::JsonSchema)]
    /// struct Name { name: String }
    /// match ctx.elicit::<Name>("What is your name?").key("user_name").await? {
    ///     Elicitation::Accept(n) => println!("hello {}", n.name),
    ///     Elicitation::Decline | Elicitation::Cancel => {}
    /// }
    /// # Ok(()) }
    /// ```
    pub fn elicit<T: DeserializeOwned + JsonSchema>(&self, message: impl Into<String>) -> Ask<Elicitation<T>> {
        let params = json!({ "message": message.into(), "requestedSchema": elicitation_schema::<T>() });
        self.ask("elicitation/create", ClientCapability::Elicitation, params, decode_elicit::<T>)
    }

    /// Asks the user for input with a hand-written `requestedSchema`; returns the raw result.
    pub fn elicit_schema(&self, message: impl Into<String>, requested_schema: Value) -> Ask<ElicitResult> {
        let params = json!({ "message": message.into(), "requestedSchema": requested_schema });
        self.ask("elicitation/create", ClientCapability::Elicitation, params, decode_raw_elicit)
    }

    /// Asks the client's LLM for a completion.
    pub fn sample(&self, request: SamplingRequest) -> Ask<CreateMessageResult> {
        self.ask("sampling/createMessage", ClientCapability::Sampling, Value::Object(request.params), decode_sample)
    }

    /// Asks the client for its roots.
    pub fn list_roots(&self) -> Ask<Vec<Root>> {
        self.ask("roots/list", ClientCapability::Roots, json!({}), decode_roots)
    }

    /// Runs `f` once per logical call: on the modern era its value is recorded in the
    /// sealed `requestState` and replayed on MRTR retries instead of running again.
    pub async fn once<T, F, Fut>(&self, key: &str, f: F) -> Result<T>
    where
        T: Serialize + DeserializeOwned,
        F: FnOnce() -> Fut,
        Fut: Future<Output = T>,
    {
        let Some(slot) = &self.inner.mrtr else { return Ok(f().await) };
        let known = lock(slot).once.get(key).cloned();
        if let Some(v) = known {
            return serde_json::from_value(v)
                .map_err(|e| Error::invalid_params(format!("requestState value `{key}` is invalid: {e}")));
        }
        let v = f().await;
        let stored = serde_json::to_value(&v)?;
        lock(slot).once.insert(key.to_owned(), stored);
        Ok(v)
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

async fn run<T>(ask: Ask<T>) -> Result<T> {
    let ctx = &ask.ctx;
    if !ctx.client_supports(ask.capability) {
        return Err(Error::MissingCapability(ask.capability.name()));
    }
    let n = ctx.inner.ask_counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
    match ctx.inner.era {
        Era::Modern(_) => {
            let key = ask.key.clone().unwrap_or_else(|| format!("ask-{n}"));
            run_modern(&ask, key).await
        }
        Era::Legacy(_) => run_legacy(&ask).await,
    }
}

async fn run_modern<T>(ask: &Ask<T>, key: String) -> Result<T> {
    let Some(slot) = &ask.ctx.inner.mrtr else {
        return Err(Error::AskUnavailable(format!(
            "`{}` can only ask the client from tools/call, prompts/get or resources/read",
            ask.ctx.inner.method.as_str()
        )));
    };
    let answer = {
        let mut st = lock(slot);
        let found = st.responses.get(&key).cloned().or_else(|| st.prior.answers.get(&key).cloned());
        match found {
            Some(v) => {
                st.used.insert(key.clone(), v.clone());
                Some(v)
            }
            None => {
                st.pending.insert(key.clone(), json!({ "method": ask.method, "params": ask.params }));
                None
            }
        }
    };
    match answer {
        Some(v) => (ask.decode)(v).map_err(|e| {
            Error::Protocol(ProtocolError::invalid_params(format!("inputResponses[{key:?}] is invalid: {e}")))
        }),
        // Parked: the dispatcher sees the pending ask after this poll and ends the call
        // with an InputRequiredResult.
        None => std::future::pending().await,
    }
}

/// One legacy ask counted in the server's total and registered in its session. Dropping
/// it (answer, timeout, cancellation, a closed stream, or a handler that drops the ask
/// future) forgets the waiter and gives the slot back, so neither count can leak.
struct Parked<'a> {
    total: &'a AtomicUsize,
    session: &'a Session,
    id: Option<i64>,
}

impl Parked<'_> {
    /// Takes a slot in the server's total and then in `session`, or fails with the limit
    /// crossed; nothing stays registered on failure.
    fn take<'a>(ctx: &'a Context, session: &'a Session) -> Result<(Parked<'a>, AnswerReceiver)> {
        let cfg = ctx.inner.server.config();
        let total = &ctx.inner.server.inner.pending_asks;
        if total.fetch_add(1, Ordering::AcqRel) >= cfg.max_pending_asks {
            total.fetch_sub(1, Ordering::AcqRel);
            return Err(Error::TooManyAsks { limit: "max_pending_asks", max: cfg.max_pending_asks });
        }
        let mut parked = Parked { total, session, id: None };
        let Some((id, rx)) = session.peer().try_register(cfg.max_pending_asks_per_session) else {
            let max = cfg.max_pending_asks_per_session;
            return Err(Error::TooManyAsks { limit: "max_pending_asks_per_session", max });
        };
        parked.id = Some(id);
        Ok((parked, rx))
    }
}

impl Drop for Parked<'_> {
    fn drop(&mut self) {
        if let Some(id) = self.id {
            self.session.peer().forget(id);
        }
        self.total.fetch_sub(1, Ordering::AcqRel);
    }
}

async fn run_legacy<T>(ask: &Ask<T>) -> Result<T> {
    let ctx = &ask.ctx;
    let Some(session) = &ctx.inner.session else {
        return Err(Error::AskUnavailable(
            "this request has no session (stateless HTTP); server→client requests need a legacy session or the 2026-07-28 era".into(),
        ));
    };
    if !ctx.inner.outbound.is_open() {
        return Err(Error::AskUnavailable("the request's stream is closed".into()));
    }
    let (parked, rx) = Parked::take(ctx, session)?;
    let id = parked.id.unwrap_or_default();
    // With a bus, the id names this node, so an answer POSTed to another node comes back.
    let wire_id = match &ctx.inner.server.inner.bus {
        Some(bus) => (i64::from(bus.node()) << crate::bus::NODE_SHIFT) | id,
        None => id,
    };
    let mut buf = Vec::with_capacity(128);
    jsonrpc::write_request(&mut buf, &RequestId::Number(wire_id), ask.method, &ask.params)?;
    if ctx.inner.outbound.send(buf).await.is_err() {
        return Err(Error::AskUnavailable("the request's stream is closed".into()));
    }
    let timeout = ask.timeout.unwrap_or(ctx.inner.server.config().ask_timeout);
    // A stream that closes cannot carry the answer's context any more (a transport that
    // can resume keeps it open until the request ends): the ask fails at once.
    let outcome = tokio::select! {
        r = rx => r,
        _ = tokio::time::sleep(timeout) => return Err(Error::AskTimeout(ask.method.to_owned())),
        _ = ctx.inner.cancel.cancelled() => return Err(Error::Cancelled),
        _ = ctx.inner.outbound.closed() => {
            return Err(Error::AskUnavailable(format!(
                "the client's stream closed before it answered `{}`; the request goes on without the answer",
                ask.method
            )));
        }
    };
    drop(parked);
    match outcome {
        Ok(Ok(raw)) => {
            let v: Value = serde_json::from_str(raw.get())?;
            (ask.decode)(v)
                .map_err(|e| Error::Other(format!("the client's answer to `{}` is invalid: {e}", ask.method)))
        }
        Ok(Err(error)) => Err(Error::AskFailed { method: ask.method.to_owned(), error }),
        Err(_) => Err(Error::AskUnavailable("the session closed before the client answered".into())),
    }
}
