//! A 2026-07-28 frontend call over a 2025-11-25 backend: the backend call outlives the
//! frontend's rounds.
//!
//! A legacy backend asks with real requests while its call is in flight; a modern
//! frontend can only be asked by ending its call with an `InputRequiredResult`. So the
//! backend call runs in a task of its own, registered under an id the proxy draws for
//! it; the id is memoised with `Context::once`, so it travels in the proxy's own sealed
//! `requestState`, bound to the frontend caller, method, target and arguments. Each
//! backend ask is parked in that call's [`Pending`] entry and becomes an ask of the
//! frontend call (key `proxy-ask-N`); the frontend call ends `input_required` while
//! the backend call waits. The retry's handler finds the entry by the sealed id, hands
//! the answer to the waiting backend request, and goes on with the next ask, progress,
//! log or the result. A backend call waits for a retry at most the backend's timeout;
//! then it fails (and its entry is dropped), and a late retry gets a clear error.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use ferromcp_client::ClientError;
use ferromcp_core::error::code;
use ferromcp_core::{Context, Error, ProtocolError};
use futures_util::future::join_all;
use serde_json::{Value, json};
use tokio::sync::{mpsc, oneshot};

use crate::backend::{Backend, Conn, Note, forward_log, forward_progress, session_key};
use crate::relay::ask_frontend;
use crate::route::{Target, lock};

/// What a bridged backend call reports to the frontend rounds that drive it.
pub(crate) enum Event {
    /// The backend asks (elicitation, sampling, roots) and waits for the answer.
    Ask(PendingAsk),
    /// A progress or log notification of the call.
    Note(Note),
    /// The call ended.
    Done(Result<Value, Error>),
}

/// A backend ask waiting for the frontend's answer.
pub(crate) struct PendingAsk {
    method: &'static str,
    params: Value,
    reply: oneshot::Sender<Result<Value, ProtocolError>>,
}

/// One bridged backend call.
pub(crate) struct Pending {
    inner: tokio::sync::Mutex<Inner>,
}

struct Inner {
    events: mpsc::UnboundedReceiver<Event>,
    /// Asks received and not yet answered, with their sequence numbers.
    asked: Vec<(u64, PendingAsk)>,
    next: u64,
}

/// The bridged calls of one backend, by id.
#[derive(Default)]
pub(crate) struct Bridges {
    calls: Mutex<HashMap<String, Arc<Pending>>>,
}

/// Parks one backend ask in the bridged call behind `tx` and waits for its answer.
pub(crate) async fn ask(
    tx: &mpsc::UnboundedSender<Event>,
    method: &'static str,
    params: Value,
) -> Result<Value, ProtocolError> {
    let (reply, rx) = oneshot::channel();
    tx.send(Event::Ask(PendingAsk { method, params, reply })).map_err(|_| gone())?;
    rx.await.map_err(|_| gone())?
}

fn gone() -> ProtocolError {
    ProtocolError::new(
        code::INVALID_REQUEST,
        "the frontend call this request belongs to has ended or gave up; no answer will come",
    )
}

/// An id no other bridged call of this process had, nor one of an earlier process.
fn new_id() -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let started = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0);
    format!("{}-{started}-{}", std::process::id(), NEXT.fetch_add(1, Ordering::Relaxed))
}

impl Backend {
    /// Runs `op` for the modern frontend call `ctx` as a bridged call: started on the
    /// first round, continued by the retries (see the module docs).
    pub(crate) async fn bridged<F, Fut>(self: &Arc<Self>, ctx: &Context, what: &str, op: F) -> Result<Value, Error>
    where
        F: FnOnce(Arc<Conn>, String, mpsc::UnboundedSender<Note>) -> Fut + Send + 'static,
        Fut: Future<Output = Result<Value, ClientError>> + Send + 'static,
    {
        let mut fresh = false;
        let id: String = ctx
            .once("proxy-bridged-call", || async {
                fresh = true;
                new_id()
            })
            .await?;
        let pending = if fresh {
            let (tx, events) = mpsc::unbounded_channel();
            let inner = Inner { events, asked: Vec::new(), next: 0 };
            let pending = Arc::new(Pending { inner: tokio::sync::Mutex::new(inner) });
            lock(&self.bridges.calls).insert(id.clone(), pending.clone());
            let (backend, session, what, key) = (self.clone(), session_key(ctx), what.to_owned(), id.clone());
            tokio::spawn(async move {
                let out = backend.forward_as(session, Target::Bridge(tx.clone()), &what, op).await;
                let _ = tx.send(Event::Done(out));
                // Nobody came back for the result (the frontend gave up): forget it.
                tokio::time::sleep(backend.cfg.timeout).await;
                lock(&backend.bridges.calls).remove(&key);
            });
            pending
        } else {
            lock(&self.bridges.calls).get(&id).cloned().ok_or_else(|| {
                Error::Protocol(ProtocolError::invalid_params(format!(
                    "the backend call this retry continues is gone (it waited longer than {} ms, or the proxy \
                     restarted); call `{what}` again without requestState",
                    self.cfg.timeout.as_millis()
                )))
            })?
        };
        // If the frontend must be asked, this future parks and is dropped: the entry
        // stays for the retry. Any other end removes it.
        let out = drive(&pending, ctx, self.cfg.timeout).await;
        lock(&self.bridges.calls).remove(&id);
        out
    }
}

/// Serves one frontend round of a bridged call: answers the asks the frontend has
/// answered, forwards notes, and ends with the result or by parking on a new ask.
async fn drive(pending: &Pending, ctx: &Context, timeout: Duration) -> Result<Value, Error> {
    let mut inner = pending.inner.lock().await;
    loop {
        if !inner.asked.is_empty() {
            let asks = inner.asked.iter().map(|(seq, a)| {
                let req = json!({ "method": a.method, "params": a.params });
                async move { ask_frontend(ctx, &req, format!("proxy-ask-{seq}")).await }
            });
            let answers = join_all(asks).await;
            for ((_, a), answer) in inner.asked.drain(..).zip(answers) {
                let _ = a.reply.send(answer.map_err(Error::into_protocol));
            }
        }
        let event = match tokio::time::timeout(timeout, inner.events.recv()).await {
            Ok(Some(e)) => e,
            Ok(None) => return Err(Error::tool("the bridged backend call ended without a result; call again")),
            Err(_) => {
                return Err(Error::tool(format!(
                    "the backend sent nothing within {} ms; call again",
                    timeout.as_millis()
                )));
            }
        };
        match event {
            Event::Ask(a) => {
                park(&mut inner, a);
                // Asks sent together (a handler joining several) become one round.
                while let Ok(Some(event)) = tokio::time::timeout(COALESCE, inner.events.recv()).await {
                    match event {
                        Event::Ask(a) => park(&mut inner, a),
                        Event::Note(n) => note(ctx, n).await,
                        Event::Done(out) => return out,
                    }
                }
            }
            Event::Note(n) => note(ctx, n).await,
            Event::Done(out) => return out,
        }
    }
}

/// How long a round waits for more asks after the first before it parks.
const COALESCE: Duration = Duration::from_millis(20);

fn park(inner: &mut Inner, a: PendingAsk) {
    let seq = inner.next;
    inner.next += 1;
    inner.asked.push((seq, a));
}

async fn note(ctx: &Context, n: Note) {
    match n {
        Note::Progress(p) => forward_progress(ctx, &p).await,
        Note::Log(p) => forward_log(ctx, &p).await,
    }
}
