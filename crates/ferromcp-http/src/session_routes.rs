//! GET (the legacy standalone SSE stream of a session, or the resumption of any of its
//! streams with `Last-Event-ID`) and DELETE (end a session). Modern clients use neither:
//! without a session both answer 405. A session has at most one standalone stream (a
//! second GET without a resumable `Last-Event-ID` gets 409), and every GET stream counts
//! against `HttpConfig::max_open_streams` (503 beyond it).

use std::sync::Arc;

use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use axum::response::Response;
use bytes::Bytes;
use ferromcp_core::ProtocolError;
use ferromcp_core::error::code;
use ferromcp_core::events::EventId;
use ferromcp_core::outbound::Outbound;
use ferromcp_core::session::Session;
use tokio::sync::mpsc;

use crate::AppState;
use crate::extract::{Caller, HostOrigin};
use crate::headers::{SESSION_ID, str_header};
use crate::legacy_stream::Resumable;
use crate::limits::counted_body;
use crate::negotiate::AcceptEventStream;
use crate::post::error_response;
use crate::resume::{CONN_BUFFER, Resumed, resume};
use crate::stream::{empty_response, sse_event, sse_response};

const LAST_EVENT_ID: HeaderName = HeaderName::from_static("last-event-id");

fn method_not_allowed() -> Response {
    let e = ProtocolError::new(
        code::METHOD_NOT_FOUND,
        "Method Not Allowed: this endpoint takes POST; GET and DELETE need a legacy Mcp-Session-Id",
    )
    .with_status(405);
    let mut r = error_response(&e, None);
    r.headers_mut().insert(header::ALLOW, HeaderValue::from_static("POST"));
    r
}

fn not_found() -> Response {
    error_response(&ProtocolError::new(code::SESSION_NOT_FOUND, "Session not found").with_status(404), None)
}

/// The legacy session named by `Mcp-Session-Id`, for its caller: 405 without the
/// header (modern clients have no session), 404 if unknown or another principal's.
pub(crate) struct LegacySession(Arc<Session>);

impl FromRequestParts<Arc<AppState>> for LegacySession {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, st: &Arc<AppState>) -> Result<Self, Response> {
        let Caller(principal) = Caller::from_request_parts(parts, st).await?;
        st.ensure_reaper();
        let Some(id) = str_header(&parts.headers, &SESSION_ID) else { return Err(method_not_allowed()) };
        match st.server.lookup_session(id, principal.as_deref(), st.events()).await {
            Ok(Some(session)) => Ok(LegacySession(session)),
            Ok(None) => Err(not_found()),
            // The session directory cannot be reached: 503, not a misleading 404.
            Err(e) => Err(error_response(&e, None)),
        }
    }
}

pub(crate) async fn delete(
    State(st): State<Arc<AppState>>,
    _: HostOrigin,
    LegacySession(session): LegacySession,
) -> Response {
    match st.server.try_end_session(&session, st.events()).await {
        Ok(true) => empty_response(StatusCode::OK),
        Ok(false) => not_found(),
        Err(e) => error_response(&e, None),
    }
}

pub(crate) async fn get(
    State(st): State<Arc<AppState>>,
    _: HostOrigin,
    LegacySession(session): LegacySession,
    _: AcceptEventStream,
    headers: HeaderMap,
) -> Response {
    let last = str_header(&headers, &LAST_EVENT_ID).and_then(EventId::parse);
    let resumable = st.resumable(&session);
    if (last.is_none() || resumable.is_none()) && session.has_stream() {
        let e =
            ProtocolError::invalid_request("Conflict: this session already has an open GET stream").with_status(409);
        return error_response(&e, None);
    }
    let Some(slot) = st.streams.try_open() else { return st.streams.refusal() };
    let (tx, rx) = mpsc::channel(CONN_BUFFER);
    tokio::spawn(run_get(st, session, last, resumable, tx));
    sse_response(counted_body(rx, slot), HeaderMap::new())
}

/// Resumes the stream named by `last` if there is one; otherwise serves the session's
/// standalone stream on `conn`.
async fn run_get(
    st: Arc<AppState>,
    session: Arc<Session>,
    last: Option<EventId>,
    resumable: Option<Resumable>,
    conn: mpsc::Sender<Bytes>,
) {
    let conn = match (&last, &resumable) {
        (Some(last), Some(r)) => match resume(&r.hub, &*r.store, &r.session, last, conn).await {
            Resumed::Unknown(conn) => {
                tracing::debug!(%last, "Last-Event-ID unknown or expired; serving a fresh stream");
                conn
            }
            Resumed::Replayed(Some(conn)) => conn,
            Resumed::Replayed(None) | Resumed::Attached => return,
        },
        _ => conn,
    };
    if session.has_stream() {
        return;
    }
    standalone(st, session, resumable, conn).await;
}

/// The standalone stream: list changes, resource updates, and anything sent on the
/// session's stream; resumable (ids, priming) when the session has an event store.
async fn standalone(st: Arc<AppState>, session: Arc<Session>, resumable: Option<Resumable>, conn: mpsc::Sender<Bytes>) {
    let (out, mut frames) = Outbound::channel();
    // A concurrent GET may have attached first: one standalone stream per session.
    if !session.try_set_stream(out) {
        return;
    }
    let mut notifications = st.server.session_notifications(&session);
    let weak = Arc::downgrade(&session);
    drop(session);
    let live = resumable.as_ref().map(|r| r.hub.open(r.session.clone(), conn.clone(), true));
    let sender = Sender { live: live.clone(), resumable: resumable.clone(), conn };
    if !sender.prime().await {
        return finish(&weak, &resumable, live).await;
    }
    let mut tick = tokio::time::interval(st.cfg.keep_alive);
    tick.tick().await;
    loop {
        let message: Option<Vec<u8>> = tokio::select! {
            _ = sender.closed() => break,
            _ = tick.tick() => {
                if !sender.comment().await { break }
                None
            }
            f = frames.recv() => match f {
                Some(f) if f.is_empty() => None,
                Some(f) => Some(f.to_vec()),
                None => break,
            },
            n = notifications.next() => match n {
                Some(n) => Some(n),
                None => break,
            },
        };
        if let Some(m) = message
            && !sender.send(&m).await
        {
            break;
        }
    }
    finish(&weak, &resumable, live).await;
}

async fn finish(
    weak: &std::sync::Weak<Session>,
    resumable: &Option<Resumable>,
    live: Option<Arc<crate::resume::LiveStream>>,
) {
    if let Some(s) = weak.upgrade() {
        s.set_stream(None);
    }
    if let (Some(r), Some(l)) = (resumable, live) {
        r.hub.finish(&l).await;
    }
}

/// Sends on the standalone stream, through the event store when resumable.
struct Sender {
    live: Option<Arc<crate::resume::LiveStream>>,
    resumable: Option<Resumable>,
    conn: mpsc::Sender<Bytes>,
}

impl Sender {
    async fn prime(&self) -> bool {
        match (&self.live, &self.resumable) {
            (Some(l), Some(r)) => l.emit(&*r.store, b"", Some(r.retry_ms)).await,
            _ => true,
        }
    }
    async fn send(&self, m: &[u8]) -> bool {
        match (&self.live, &self.resumable) {
            (Some(l), Some(r)) => l.emit(&*r.store, m, None).await,
            _ => self.conn.send(sse_event(m)).await.is_ok(),
        }
    }
    async fn comment(&self) -> bool {
        let c = Bytes::from_static(b": keep-alive\n\n");
        match &self.live {
            Some(l) => l.send_raw(c).await,
            None => self.conn.send(c).await.is_ok(),
        }
    }
    /// Resolves when no connection is left: with resumability, a client that resumes the
    /// stream keeps it alive on its new connection.
    async fn closed(&self) {
        match &self.live {
            Some(l) => l.connection_closed().await,
            None => self.conn.closed().await,
        }
    }
}
