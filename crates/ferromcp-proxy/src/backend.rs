//! One backend: its connections (a pool in fresh mode, one per frontend session in
//! affinity mode) and the forwarding of one call on behalf of one frontend Context.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use ferromcp_client::{CallToolOutcome, Client, ClientEra, ClientError, ClientOptions};
use ferromcp_core::error::code;
#[allow(deprecated)]
use ferromcp_core::protocol::{CallToolResult, GetPromptResult, LoggingLevel, ResourceContents};
use ferromcp_core::{Context, Error, ProtocolError};
use serde_json::{Map, Value, json};
use tokio::process::Command;
use tokio::sync::mpsc;

use crate::bridge::{Bridges, Event};
use crate::config::{BackendConfig, BackendKind, Mode};
use crate::route::{Routes, Target, lock};

/// Idle fresh-mode connections kept per backend.
const POOL_MAX: usize = 8;

/// One connection to a backend, with the routes of the calls in flight on it.
pub(crate) struct Conn {
    pub(crate) client: Client,
    routes: Arc<Routes>,
    /// Held for a whole call where asks cannot be attributed (affinity on stdio).
    serial: tokio::sync::Mutex<()>,
    /// When a call last took or left this connection (for the affinity idle timeout).
    used: Mutex<Instant>,
}

impl Conn {
    fn touch(&self) {
        *lock(&self.used) = Instant::now();
    }

    /// Whether no call is in flight and none took or left it for `idle`.
    fn idle_for(&self, idle: Duration) -> bool {
        self.routes.is_empty() && lock(&self.used).elapsed() >= idle
    }
}

/// A mounted backend.
pub(crate) struct Backend {
    pub(crate) cfg: BackendConfig,
    pool: Mutex<Vec<Arc<Conn>>>,
    sessions: Mutex<HashMap<String, Arc<Conn>>>,
    /// Serialises affinity connection creation so one session gets one connection.
    connecting: tokio::sync::Mutex<()>,
    /// Calls waiting across the rounds of 2026-07-28 frontends (see `bridge.rs`).
    pub(crate) bridges: Bridges,
    /// Whether the backend speaks 2026-07-28 (learnt on the first connection).
    modern: AtomicBool,
}

pub(crate) enum Note {
    Progress(Value),
    Log(Value),
}

impl Backend {
    pub(crate) fn new(cfg: BackendConfig) -> Arc<Backend> {
        let idle = cfg.idle_timeout.filter(|_| cfg.mode == Mode::Affinity);
        let backend = Arc::new(Backend {
            cfg,
            pool: Mutex::new(Vec::new()),
            sessions: Mutex::new(HashMap::new()),
            connecting: tokio::sync::Mutex::new(()),
            bridges: Bridges::default(),
            modern: AtomicBool::new(false),
        });
        if let (Some(idle), Ok(rt)) = (idle, tokio::runtime::Handle::try_current()) {
            rt.spawn(reap_idle(Arc::downgrade(&backend), idle));
        }
        backend
    }

    /// Closes the affinity connections idle for `idle`.
    async fn close_idle(&self, idle: Duration) {
        // Under the creation lock: a call taking its session's connection marks it used
        // before this can look at it.
        let idle_conns: Vec<Arc<Conn>> = {
            let _creating = self.connecting.lock().await;
            let mut sessions = lock(&self.sessions);
            let ids: Vec<String> = sessions.iter().filter(|(_, c)| c.idle_for(idle)).map(|(k, _)| k.clone()).collect();
            ids.iter().filter_map(|id| sessions.remove(id)).collect()
        };
        for conn in idle_conns {
            tracing::debug!(backend = %self.cfg.name, "closing an affinity connection idle for {idle:?}");
            conn.client.close().await;
        }
    }

    /// Whether a call from `ctx` is relayed round by round (both sides 2026-07-28).
    fn relays(&self, ctx: &Context) -> bool {
        ctx.era().is_modern() && self.modern.load(Ordering::Relaxed)
    }

    /// Whether the transport cannot tie an ask to its call (stdio, HTTP+SSE): affinity
    /// connections then carry one call at a time.
    fn is_stdio(&self) -> bool {
        matches!(self.cfg.kind, BackendKind::Stdio { .. }) || self.cfg.legacy_sse
    }

    /// Opens a new connection, bounded by the backend's timeout.
    pub(crate) async fn connect(&self) -> Result<Arc<Conn>, Error> {
        let routes = Arc::new(Routes::default());
        let era = match self.cfg.protocol_version.as_deref() {
            Some("2025-11-25") => ClientEra::Legacy,
            Some("2026-07-28") => ClientEra::Modern,
            _ => ClientEra::Auto,
        };
        let mut options = ClientOptions::new(era)
            .name("ferromcp-proxy")
            .request_timeout(self.cfg.timeout)
            // Every log the backend has: the frontend filters by its own caller's level.
            .log_level("debug")
            .handlers(routes.handlers());
        let name = &self.cfg.name;
        let connecting = async {
            match &self.cfg.kind {
                BackendKind::Stdio { command, args, env, cwd } => {
                    let mut cmd = Command::new(command);
                    cmd.args(args).envs(env);
                    if let Some(dir) = cwd {
                        cmd.current_dir(dir);
                    }
                    Client::spawn(cmd, options).await
                }
                BackendKind::Http { url, headers } => {
                    for (k, v) in headers {
                        options = options.header(k, v);
                    }
                    if self.cfg.legacy_sse {
                        Client::connect_legacy_sse(url, options).await
                    } else {
                        Client::connect_http(url, options).await
                    }
                }
            }
        };
        let client = match tokio::time::timeout(self.cfg.timeout, connecting).await {
            Ok(Ok(c)) => c,
            Ok(Err(e)) => {
                return Err(Error::tool(format!(
                    "backend `{name}` is unreachable ({e}); check its command or url in the proxy configuration"
                )));
            }
            Err(_) => {
                return Err(Error::tool(format!(
                    "backend `{name}` did not finish connecting within {} ms",
                    self.cfg.timeout.as_millis()
                )));
            }
        };
        let modern = client.era() == ClientEra::Modern;
        self.modern.store(modern, Ordering::Relaxed);
        if !modern && client.server_info().has_capability("logging") {
            // Best effort: a backend that refuses still serves calls.
            let _ = client.set_log_level("debug").await;
        }
        Ok(Arc::new(Conn { client, routes, serial: tokio::sync::Mutex::new(()), used: Mutex::new(Instant::now()) }))
    }

    /// Returns a connection to the fresh pool after a call that left it healthy.
    pub(crate) fn release(&self, conn: Arc<Conn>) {
        let mut pool = lock(&self.pool);
        if !conn.client.is_closed() && pool.len() < POOL_MAX {
            pool.push(conn);
        }
    }

    async fn acquire(&self, session: &str) -> Result<Arc<Conn>, Error> {
        match self.cfg.mode {
            Mode::Fresh => loop {
                let pooled = lock(&self.pool).pop();
                match pooled {
                    Some(c) if c.client.is_closed() => continue,
                    Some(c) => return Ok(c),
                    None => return self.connect().await,
                }
            },
            Mode::Affinity => {
                let _creating = self.connecting.lock().await;
                if let Some(c) = lock(&self.sessions).get(session).filter(|c| !c.client.is_closed()) {
                    c.touch();
                    return Ok(c.clone());
                }
                let conn = self.connect().await?;
                lock(&self.sessions).insert(session.to_owned(), conn.clone());
                Ok(conn)
            }
        }
    }

    /// Closes the affinity connection of frontend session `id`, if any.
    pub(crate) fn end_session(&self, id: &str) {
        let conn = lock(&self.sessions).remove(id);
        if let (Some(conn), Ok(rt)) = (conn, tokio::runtime::Handle::try_current()) {
            rt.spawn(async move { conn.client.close().await });
        }
    }

    /// Drops a connection that failed, so the next call reconnects.
    fn discard(&self, session: &str, conn: &Arc<Conn>) {
        if self.cfg.mode == Mode::Affinity {
            let mut sessions = lock(&self.sessions);
            if sessions.get(session).is_some_and(|c| Arc::ptr_eq(c, conn)) {
                sessions.remove(session);
            }
        }
        let conn = conn.clone();
        tokio::spawn(async move { conn.client.close().await });
    }

    /// Calls backend tool `tool` on behalf of the frontend call `ctx`.
    pub(crate) async fn call_tool(
        self: &Arc<Self>,
        ctx: Context,
        tool: &str,
        args: Map<String, Value>,
    ) -> Result<CallToolResult, Error> {
        if self.relays(&ctx) {
            let base = json_map([("name", Value::from(tool)), ("arguments", Value::Object(args))]);
            let value = self.relay(&ctx, "tools/call", base, tool).await?;
            return CallToolOutcome::new(value).to_result().map_err(|e| malformed_result(&self.cfg.name, e));
        }
        let wants_progress = ctx.progress_token().is_some();
        let name = tool.to_owned();
        let op = move |conn: Arc<Conn>, tag: String, tx: mpsc::UnboundedSender<Note>| async move {
            let (ptx, ltx) = (tx.clone(), tx);
            let mut call = conn.client.tool_call(name).arguments(Value::Object(args)).tag(tag);
            if wants_progress {
                call = call.on_progress(move |p| {
                    let _ = ptx.send(Note::Progress(p));
                });
            }
            call = call.on_log(move |p| {
                let _ = ltx.send(Note::Log(p));
            });
            // Decoded once, below, into the frontend's result.
            Ok(call.send().await?.value)
        };
        let value = if ctx.era().is_modern() {
            self.bridged(&ctx, tool, op).await?
        } else {
            self.forward(ctx, tool, op).await?
        };
        decode(&self.cfg.name, value)
    }

    /// Reads backend resource `uri` on behalf of `ctx`.
    pub(crate) async fn read_resource(
        self: &Arc<Self>,
        ctx: Context,
        uri: &str,
    ) -> Result<Vec<ResourceContents>, Error> {
        let mut value = if self.relays(&ctx) {
            self.relay(&ctx, "resources/read", json_map([("uri", Value::from(uri))]), uri).await?
        } else {
            let owned = uri.to_owned();
            let op = move |conn: Arc<Conn>, _tag, _tx| async move { conn.client.read_resource(&owned).await };
            if ctx.era().is_modern() { self.bridged(&ctx, uri, op).await? } else { self.forward(ctx, uri, op).await? }
        };
        decode(&self.cfg.name, value.get_mut("contents").map(Value::take).unwrap_or(Value::Null))
    }

    /// Gets backend prompt `prompt` on behalf of `ctx`.
    pub(crate) async fn get_prompt(
        self: &Arc<Self>,
        ctx: Context,
        prompt: &str,
        args: Value,
    ) -> Result<GetPromptResult, Error> {
        let value = if self.relays(&ctx) {
            let mut base = json_map([("name", Value::from(prompt))]);
            if !args.is_null() {
                base.insert("arguments".into(), args);
            }
            self.relay(&ctx, "prompts/get", base, prompt).await?
        } else {
            let owned = prompt.to_owned();
            let op = move |conn: Arc<Conn>, _tag, _tx| async move { conn.client.get_prompt(&owned, args).await };
            if ctx.era().is_modern() {
                self.bridged(&ctx, prompt, op).await?
            } else {
                self.forward(ctx, prompt, op).await?
            }
        };
        decode(&self.cfg.name, strip_envelope(value))
    }

    /// Asks the backend to complete `argument` of `reference` (a `ref/prompt` or
    /// `ref/resource` object) on behalf of `ctx`; returns the values.
    pub(crate) async fn complete(
        &self,
        ctx: Context,
        reference: Value,
        argument: &str,
        value: &str,
        context: Map<String, Value>,
    ) -> Result<Vec<String>, Error> {
        let mut params = json!({ "ref": reference, "argument": { "name": argument, "value": value } });
        if !context.is_empty() {
            params["context"] = json!({ "arguments": context });
        }
        let out = self
            .forward(ctx, "completion/complete", move |conn, _tag, _tx| async move {
                conn.client.request("completion/complete", params).await
            })
            .await?;
        let values = out.pointer("/completion/values").cloned().unwrap_or(Value::Null);
        decode(&self.cfg.name, values)
    }

    /// Runs one backend request on behalf of the frontend request `ctx`: takes a
    /// connection for the mode, enters `ctx` in the connection's routes under the tag
    /// given to `op`, forwards the progress/log notes `op` sends, bounds the whole by the
    /// backend's timeout, and drops a connection that failed.
    pub(crate) async fn forward<F, Fut>(&self, ctx: Context, what: &str, op: F) -> Result<Value, Error>
    where
        F: FnOnce(Arc<Conn>, String, mpsc::UnboundedSender<Note>) -> Fut,
        Fut: Future<Output = Result<Value, ClientError>>,
    {
        self.forward_as(session_key(&ctx), Target::Direct(ctx), what, op).await
    }

    /// [`Backend::forward`] with the call's asks and notes going to `target`; `session`
    /// chooses the connection in affinity mode.
    pub(crate) async fn forward_as<F, Fut>(
        &self,
        session: String,
        target: Target,
        what: &str,
        op: F,
    ) -> Result<Value, Error>
    where
        F: FnOnce(Arc<Conn>, String, mpsc::UnboundedSender<Note>) -> Fut,
        Fut: Future<Output = Result<Value, ClientError>>,
    {
        let tool = what;
        let conn = self.acquire(&session).await?;
        let serial =
            if self.is_stdio() && self.cfg.mode == Mode::Affinity { Some(conn.serial.lock().await) } else { None };
        let (tag, route) = conn.routes.enter(target.clone());
        // The call's progress and logs are forwarded from this task while the call runs
        // (no task of their own: a spawn and its cross-thread wake-ups per call cost more
        // than the whole backend call).
        let (tx, mut rx) = mpsc::unbounded_channel::<Note>();
        let call = tokio::time::timeout(self.cfg.timeout, op(conn.clone(), tag, tx));
        tokio::pin!(call);
        let outcome = loop {
            tokio::select! {
                biased;
                out = &mut call => break out,
                Some(note) = rx.recv() => deliver(&target, note).await,
            }
        };
        // Whatever the call sent before its result reaches the caller before the result.
        while let Ok(note) = rx.try_recv() {
            deliver(&target, note).await;
        }
        // The call is over on this connection before anyone else may use it.
        drop(route);
        conn.touch();
        drop(serial);
        let name = &self.cfg.name;
        let (result, healthy) = match outcome {
            Ok(Ok(out)) => (Ok(out), true),
            // The frontend could not answer one of the backend's input requests (e.g. it
            // lacks the capability): that is the frontend's answer, not a broken backend.
            Ok(Err(ClientError::Handler { error, .. })) if !conn.client.is_closed() => {
                (Err(Error::Protocol(relayed_error(&error))), true)
            }
            Ok(Err(e)) => match e.as_protocol() {
                Some(p) if !conn.client.is_closed() => (Err(Error::Protocol(relayed_error(p))), true),
                _ => (
                    Err(Error::tool(format!("backend `{name}` failed during `{tool}`: {e}; the next call reconnects"))),
                    false,
                ),
            },
            Err(_) => (
                Err(Error::tool(format!(
                    "backend `{name}` did not answer `{tool}` within {} ms; the next call reconnects",
                    self.cfg.timeout.as_millis()
                ))),
                false,
            ),
        };
        if !healthy {
            self.discard(&session, &conn);
        } else if self.cfg.mode == Mode::Fresh {
            self.release(conn);
        }
        result
    }
}

/// Closes `backend`'s idle affinity connections every half `idle`, until the backend
/// is dropped.
async fn reap_idle(backend: Weak<Backend>, idle: Duration) {
    let every = (idle / 2).max(Duration::from_millis(10));
    loop {
        tokio::time::sleep(every).await;
        let Some(b) = backend.upgrade() else { return };
        b.close_idle(idle).await;
    }
}

/// Hands one progress/log note of a call to where the call's asks go.
async fn deliver(target: &Target, note: Note) {
    match target {
        Target::Direct(c) => match note {
            Note::Progress(p) => forward_progress(c, &p).await,
            Note::Log(p) => forward_log(c, &p).await,
        },
        Target::Bridge(events) => {
            let _ = events.send(Event::Note(note));
        }
    }
}

/// A backend's protocol error as the frontend answers it: the same code, message and
/// data, with the HTTP status the code calls for (the client does not keep it).
fn relayed_error(p: &ProtocolError) -> ProtocolError {
    let p = p.clone();
    if p.code == code::MISSING_CLIENT_CAPABILITY { p.with_status(400) } else { p }
}

/// A JSON object from pairs.
fn json_map<const N: usize>(pairs: [(&str, Value); N]) -> Map<String, Value> {
    pairs.into_iter().map(|(k, v)| (k.to_owned(), v)).collect()
}

/// A backend result without the 2026-07-28 envelope fields the frontend sets itself.
fn strip_envelope(mut v: Value) -> Value {
    if let Value::Object(m) = &mut v {
        m.remove("resultType");
    }
    v
}

fn malformed_result(backend: &str, e: ClientError) -> Error {
    Error::Protocol(ProtocolError::internal(format!("backend `{backend}` sent a malformed result: {e}")))
}

/// Decodes a backend result into the frontend's type.
fn decode<T: serde::de::DeserializeOwned>(backend: &str, v: Value) -> Result<T, Error> {
    serde_json::from_value(v).map_err(|e| {
        Error::Protocol(ProtocolError::internal(format!("backend `{backend}` sent a malformed result: {e}")))
    })
}

/// The frontend session scope an affinity connection belongs to.
pub(crate) fn session_key(ctx: &Context) -> String {
    ctx.session_id().unwrap_or_default().to_owned()
}

pub(crate) async fn forward_progress(ctx: &Context, p: &Value) {
    let Some(progress) = p.get("progress").and_then(Value::as_f64) else { return };
    let total = p.get("total").and_then(Value::as_f64);
    ctx.report_progress(progress, total, p.get("message").and_then(Value::as_str)).await;
}

#[allow(deprecated)] // SEP-2577 deprecates logging; 2025-11-25 backends still log.
pub(crate) async fn forward_log(ctx: &Context, p: &Value) {
    let level = p
        .get("level")
        .cloned()
        .and_then(|l| serde_json::from_value::<LoggingLevel>(l).ok())
        .unwrap_or(LoggingLevel::Info);
    let data = p.get("data").cloned().unwrap_or(Value::Null);
    ctx.log(level, p.get("logger").and_then(Value::as_str), data).await;
}
