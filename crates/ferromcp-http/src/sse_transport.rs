//! The 2024-11-05 HTTP+SSE transport, for clients that predate Streamable HTTP (enabled
//! with [`HttpConfig::legacy_sse`](crate::HttpConfig::legacy_sse)).
//!
//! `GET sse_path` opens a connection: one [`Session`] (its id fixed before `initialize`),
//! registered in the server's session registry (so it is bounded and counted like any
//! other) and bound to the caller's principal. The stream's first event is
//! `event: endpoint` with `data: <messages_path>?session_id=<id>`; the client POSTs each
//! JSON-RPC message there and gets `202 Accepted`. Every response, notification and
//! server→client request goes to the GET stream as an `event: message`, as on stdio:
//! requests run concurrently (a tool can wait for an elicitation answered by a later
//! POST), list changes and resource updates reach initialized connections, and `:`
//! comments keep the stream alive. When the stream closes (or the registry ends the
//! session) in-flight requests are cancelled, the session leaves the registry and its
//! connection-scoped state is deleted.
//!
//! POSTs get the same Host/Origin guard, authentication and body limit as Streamable
//! HTTP; an unknown `session_id`, or another principal's, is 404. Only the legacy era is
//! served here: a request naming a 2026-07-28 version in `_meta` gets `-32022`.
//!
//! # Backpressure
//! Everything for a session goes through bounded queues (its [`Outbound`], then the
//! stream's body), and each request holds one of the session's
//! [`sse_max_in_flight`](crate::HttpConfig::sse_max_in_flight) places from its POST until
//! its answer is queued. A client that does not read its stream fills the queues, its
//! requests keep their places, and its next POST waits up to
//! [`sse_backpressure_wait`](crate::HttpConfig::sse_backpressure_wait) for one: then 503
//! (the stream is not being read) or 429 (too many requests in flight), with
//! `Retry-After`. Nothing grows without bound, and when the stream closes the session,
//! its queues and its waiting answers are dropped. Streams count against
//! [`max_open_streams`](crate::HttpConfig::max_open_streams).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use axum::Router;
use axum::body::Body;
use axum::extract::NestedPath;
use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::Response;
use axum::routing::{get, post};
use bytes::Bytes;
use ferromcp_core::engine::{Connection, ConnectionOptions, EraRule, Incoming};
use ferromcp_core::error::code;
use ferromcp_core::jsonrpc::Message;
use ferromcp_core::outbound::{Frames, Outbound};
use ferromcp_core::state::Principal;
use ferromcp_core::{ProtocolError, Reply, TransportKind};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc};

use crate::AppState;
use crate::extract::{Caller, HostOrigin, JsonContentType};
use crate::limits::{counted_body, overloaded};
use crate::negotiate::{AcceptEventStream, JsonRpcBody};
use crate::post::error_response;
use crate::resume::CONN_BUFFER;
use crate::stream::{sse_event, sse_response};

/// One open SSE connection: the engine's connection (session, outbound stream) and its
/// places for requests in flight.
struct Conn {
    engine: Connection,
    /// Places for requests in flight (`sse_max_in_flight`).
    in_flight: Arc<Semaphore>,
}

/// State of the HTTP+SSE routes: the app and the open connections by session id.
struct SseState {
    app: Arc<AppState>,
    conns: Mutex<HashMap<Arc<str>, Arc<Conn>>>,
}

impl crate::extract::HasApp for Arc<SseState> {
    fn app(&self) -> &AppState {
        &self.app
    }
}

impl SseState {
    fn conns(&self) -> MutexGuard<'_, HashMap<Arc<str>, Arc<Conn>>> {
        self.conns.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The connection `id` if it is still registered and `principal` may use it.
    fn find(&self, id: &str, principal: Option<&Principal>) -> Option<Arc<Conn>> {
        let conn = self.conns().get(id).cloned()?;
        // `get` also marks the session active for the idle reaper.
        let s = self.app.server.sessions().get(id)?;
        (Arc::ptr_eq(&s, conn.engine.session()) && crate::auth::may_use(&s, principal)).then_some(conn)
    }
}

/// The `GET sse_path` and `POST messages_path` routes.
pub(crate) fn routes(app: Arc<AppState>) -> Router {
    let (sse_path, messages_path) = (app.cfg.sse_path.clone(), app.cfg.messages_path.clone());
    let st = Arc::new(SseState { app, conns: Mutex::default() });
    // A session the registry ends (shed, DELETE) takes its connection with it.
    let weak = Arc::downgrade(&st);
    st.app.server.sessions().on_end(move |s, _why| {
        if let Some(conn) = weak.upgrade().and_then(|st| st.conns().remove(s.id())) {
            conn.engine.cancel_token().cancel();
        }
    });
    Router::new().route(&sse_path, get(open)).route(&messages_path, post(message)).with_state(st)
}

fn refuse(status: u16, msg: impl Into<String>) -> Response {
    error_response(&ProtocolError::invalid_request(msg).with_status(status), None)
}

async fn open(
    State(st): State<Arc<SseState>>,
    _: HostOrigin,
    Caller(principal): Caller,
    _: AcceptEventStream,
    parts: axum::http::request::Parts,
) -> Response {
    let Some(slot) = st.app.streams.try_open() else { return st.app.streams.refusal() };
    let peer = crate::client_ip(&parts.extensions);
    let opts = ConnectionOptions::new(TransportKind::Sse, EraRule::LegacyOnly).principal(principal).addr(peer);
    let (engine, frames) = match st.app.server.connection(opts) {
        Ok(c) => c,
        Err(e) => return error_response(&e.into(), None),
    };
    let session = engine.session().clone();
    let in_flight = Arc::new(Semaphore::new(st.app.cfg.sse_max_in_flight.max(1)));
    let conn = Arc::new(Conn { engine, in_flight });
    st.conns().insert(session.id_arc(), conn.clone());
    if session.is_closed() {
        // Ended by a created hook before it was in the map: the stream ends at once.
        conn.engine.cancel_token().cancel();
    }
    // Behind `Router::nest`, the message URL carries the nesting prefix too.
    let prefix = parts.extensions.get::<NestedPath>().map_or("", |p| p.as_str().trim_end_matches('/'));
    let endpoint =
        format!("event: endpoint\ndata: {prefix}{}?session_id={}\n\n", st.app.cfg.messages_path, session.id());
    let (tx, rx) = mpsc::channel(CONN_BUFFER);
    let _ = tx.try_send(Bytes::from(endpoint));
    tokio::spawn(run(st, conn, frames, tx));
    sse_response(counted_body(rx, slot), HeaderMap::new())
}

/// Serves one connection's stream until the client goes away or the session ends.
async fn run(st: Arc<SseState>, conn: Arc<Conn>, mut frames: Frames, tx: mpsc::Sender<Bytes>) {
    let mut notifications = conn.engine.notifications();
    let session = conn.engine.session().clone();
    let cancel = conn.engine.cancel_token().clone();
    let mut tick = tokio::time::interval(st.app.cfg.keep_alive);
    tick.tick().await;
    loop {
        let event = tokio::select! {
            _ = tx.closed() => break,
            _ = cancel.cancelled() => break,
            _ = tick.tick() => {
                if session.is_closed() {
                    break;
                }
                Some(Bytes::from_static(b": keep-alive\n\n"))
            }
            // An empty frame asks to drop the connection for a resumable reconnect,
            // which this transport cannot do: ignored.
            f = frames.recv() => match f {
                Some(f) if f.is_empty() => None,
                Some(f) => Some(sse_event(&f)),
                None => break,
            },
            // List changes and resource updates (once past `initialize`).
            n = notifications.next() => match n {
                Some(n) => Some(sse_event(&n)),
                None => break,
            },
        };
        // A stream nobody reads blocks here: the session's requests then wait for their
        // answers' places (backpressure), and the session's end still stops the stream.
        if let Some(e) = event {
            tokio::select! {
                sent = tx.send(e) => if sent.is_err() { break },
                _ = cancel.cancelled() => break,
            }
        }
    }
    // The connection was this client's session: it ends, and its state goes with it.
    st.conns().remove(session.id());
    conn.engine.end().await;
}

/// The `session_id` query parameter.
fn session_param(query: Option<&str>) -> Option<&str> {
    query?.split('&').find_map(|kv| kv.strip_prefix("session_id=")).filter(|v| !v.is_empty())
}

/// The open connection named by the `session_id` query parameter (400 without it, 404
/// if unknown or another principal's).
struct SseConn {
    conn: Arc<Conn>,
    principal: Option<Arc<Principal>>,
}

impl FromRequestParts<Arc<SseState>> for SseConn {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, st: &Arc<SseState>) -> Result<Self, Response> {
        let Caller(principal) = Caller::from_request_parts(parts, st).await?;
        let Some(id) = session_param(parts.uri.query()) else {
            return Err(refuse(
                400,
                "Bad Request: the session_id query parameter is required (open the SSE stream first)",
            ));
        };
        match st.find(id, principal.as_deref()) {
            Some(conn) => Ok(SseConn { conn, principal }),
            None => {
                let e = ProtocolError::new(code::SESSION_NOT_FOUND, "Session not found; open a new SSE stream")
                    .with_status(404);
                Err(error_response(&e, None))
            }
        }
    }
}

async fn message(
    State(st): State<Arc<SseState>>,
    _: HostOrigin,
    _: JsonContentType,
    SseConn { conn, principal }: SseConn,
    JsonRpcBody { message: msg, .. }: JsonRpcBody,
) -> Response {
    let cfg = &st.app.cfg;
    if let Message::Request(r) = &msg
        && let Some(refused) = crate::auth::scope_refusal(cfg.auth.as_ref(), &st.app.server, r, principal.as_deref())
    {
        return refused;
    }
    // A request first takes one of the session's places (or is refused, undispatched).
    let place = match &msg {
        Message::Request(_) => match in_flight_place(&conn, cfg).await {
            Ok(p) => Some(p),
            Err(refused) => return refused,
        },
        _ => None,
    };
    let out = conn.engine.outbound().clone();
    match conn.engine.receive_from(msg, principal) {
        Incoming::Handled => {}
        Incoming::Refused(reply) => {
            tokio::spawn(async move { send(&out, reply, place).await });
        }
        Incoming::Request { reply, .. } => {
            tokio::spawn(async move { send(&out, reply.await, place).await });
        }
    }
    accepted()
}

/// Queues a request's answer on the session's stream, then frees its place.
async fn send(out: &Outbound, reply: Reply, place: Option<OwnedSemaphorePermit>) {
    if let Some(body) = reply.body {
        let _ = out.send(body).await;
    }
    drop(place);
}

/// A place for one more request of `conn` in flight, waiting at most
/// `sse_backpressure_wait`; then the refusal (503 when the stream is not being read,
/// 429 when the client just has too many requests running).
async fn in_flight_place(conn: &Conn, cfg: &crate::HttpConfig) -> Result<OwnedSemaphorePermit, Response> {
    let wait = tokio::time::timeout(cfg.sse_backpressure_wait, conn.in_flight.clone().acquire_owned());
    if let Ok(Ok(place)) = wait.await {
        return Ok(place);
    }
    let max = cfg.sse_max_in_flight;
    Err(if conn.engine.outbound().has_room() {
        overloaded(
            429,
            format!(
                "Too Many Requests: {max} requests of this session are in flight (sse_max_in_flight); \
                 wait for their answers on the SSE stream, then retry"
            ),
        )
    } else {
        overloaded(
            503,
            format!(
                "Service Unavailable: this session's SSE stream is not being read and its answers \
                 are queued ({max} requests wait, sse_max_in_flight); read the stream, then retry"
            ),
        )
    })
}

fn accepted() -> Response {
    let mut r = Response::new(Body::from("Accepted"));
    *r.status_mut() = StatusCode::ACCEPTED;
    r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain; charset=utf-8"));
    r
}

#[cfg(test)]
mod tests {
    use super::session_param;

    #[test]
    fn the_session_id_is_read_from_the_query() {
        assert_eq!(session_param(Some("session_id=abc")), Some("abc"));
        assert_eq!(session_param(Some("x=1&session_id=abc&y=2")), Some("abc"));
        assert_eq!(session_param(Some("session_id=")), None);
        assert_eq!(session_param(Some("sessionid=abc")), None);
        assert_eq!(session_param(None), None);
    }
}
