//! Resumable legacy streams (2025-11-25, SEP-1699): every SSE event of a session's
//! streams is appended to the [`EventStore`] first and sent with its id; a client that
//! lost its connection sends `GET` with `Last-Event-ID` and receives exactly the events
//! of that stream it missed, once, then the stream's live events.
//!
//! A [`LiveStream`] owns the current connection of one stream. Appending and
//! (re)attaching happen under its lock, so an event is either in the replay a resuming
//! client reads or sent on the connection it attaches — never both, never neither.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use bytes::{BufMut, Bytes, BytesMut};
use ferromcp_core::events::{EventId, EventStore, StoredEvent, StreamKey};
use tokio::sync::mpsc;

/// Capacity of a connection's frame queue.
pub(crate) const CONN_BUFFER: usize = 64;

/// One SSE event with an id (`data` empty = priming event, with `retry`).
pub(crate) fn sse_event_with_id(id: &EventId, data: &[u8], retry_ms: Option<u64>) -> Bytes {
    let mut b = BytesMut::with_capacity(data.len() + 64);
    b.put_slice(b"id: ");
    b.put_slice(id.to_string().as_bytes());
    b.put_u8(b'\n');
    if let Some(r) = retry_ms {
        b.put_slice(b"retry: ");
        b.put_slice(r.to_string().as_bytes());
        b.put_u8(b'\n');
    }
    if data.is_empty() {
        b.put_slice(b"data: \n\n");
    } else {
        b.put_slice(b"event: message\ndata: ");
        b.put_slice(data);
        b.put_slice(b"\n\n");
    }
    b.freeze()
}

struct LiveInner {
    conn: Option<mpsc::Sender<Bytes>>,
    done: bool,
}

/// The live half of one resumable stream.
pub(crate) struct LiveStream {
    pub(crate) key: StreamKey,
    inner: tokio::sync::Mutex<LiveInner>,
    /// Woken when a resuming client takes the stream over, so a send blocked on the
    /// old (stalled) connection gives up: the event is stored and replayed anyway.
    replaced: tokio::sync::Notify,
}

/// Prefix of the ids of standalone (GET) streams, which outlive their connections.
pub(crate) const STANDALONE_PREFIX: char = 'G';

/// Live streams by stream id, so a resuming GET can attach to a stream still running.
#[derive(Default)]
pub(crate) struct StreamHub {
    live: Mutex<HashMap<Arc<str>, Arc<LiveStream>>>,
}

impl StreamHub {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Arc<str>, Arc<LiveStream>>> {
        self.live.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Registers a new stream of `session`, attached to `conn`; `standalone` marks the
    /// session's GET stream.
    pub(crate) fn open(&self, session: Arc<str>, conn: mpsc::Sender<Bytes>, standalone: bool) -> Arc<LiveStream> {
        let mut key = StreamKey::new(session);
        if standalone {
            key.stream = format!("{STANDALONE_PREFIX}{}", key.stream).into();
        }
        let live = Arc::new(LiveStream {
            key,
            inner: tokio::sync::Mutex::new(LiveInner { conn: Some(conn), done: false }),
            replaced: tokio::sync::Notify::new(),
        });
        self.lock().insert(live.key.stream.clone(), live.clone());
        live
    }

    fn get(&self, stream: &str) -> Option<Arc<LiveStream>> {
        self.lock().get(stream).cloned()
    }

    /// Marks a stream finished and forgets it (its events stay in the store).
    pub(crate) async fn finish(&self, live: &LiveStream) {
        let mut g = live.inner.lock().await;
        g.done = true;
        // Dropping the connection ends its body once the queued events are read.
        g.conn = None;
        drop(g);
        self.lock().remove(&live.key.stream);
    }
}

impl LiveStream {
    /// Stores `data` and sends it on the current connection; returns false once the
    /// connection is gone (the event is still stored for a resuming client).
    ///
    /// The event is appended under the stream's lock (so a resume sees it either in its
    /// replay or on its connection), but the send happens after the lock is released: a
    /// stalled old connection must not keep a resuming client waiting.
    pub(crate) async fn emit(&self, store: &dyn EventStore, data: &[u8], retry_ms: Option<u64>) -> bool {
        let (frame, tx) = {
            let g = self.inner.lock().await;
            let frame = match store.append(&self.key, Bytes::copy_from_slice(data)).await {
                Ok(id) => sse_event_with_id(&id, data, retry_ms),
                Err(e) => {
                    tracing::warn!("event store append failed, the event cannot be resumed: {e}");
                    crate::stream::sse_event(data)
                }
            };
            (frame, g.conn.clone())
        };
        let Some(tx) = tx else { return false };
        let replaced = self.replaced.notified();
        let sent = tokio::select! {
            r = tx.send(frame) => r.is_ok(),
            _ = replaced => return true,
        };
        if !sent {
            let mut g = self.inner.lock().await;
            if g.conn.as_ref().is_some_and(|c| c.same_channel(&tx)) {
                g.conn = None;
            }
        }
        sent
    }

    /// Waits until the connection attached now (or any that replaces it) is closed and
    /// none is attached.
    pub(crate) async fn connection_closed(&self) {
        loop {
            let current = self.inner.lock().await.conn.clone();
            match current {
                Some(tx) => tx.closed().await,
                None => return,
            }
            let mut g = self.inner.lock().await;
            if g.conn.as_ref().is_none_or(|c| c.is_closed()) {
                g.conn = None;
                return;
            }
        }
    }

    /// Sends bytes that are not an event (an SSE comment) if a connection is attached.
    pub(crate) async fn send_raw(&self, frame: Bytes) -> bool {
        let tx = self.inner.lock().await.conn.clone();
        match tx {
            Some(tx) => tx.try_send(frame).is_ok() || !tx.is_closed(),
            None => false,
        }
    }

    /// Drops the current connection (SEP-1699 polling: the client will resume).
    pub(crate) async fn detach(&self) {
        self.inner.lock().await.conn = None;
    }
}

/// The outcome of a resume.
pub(crate) enum Resumed {
    /// The stream is unknown, foreign or expired: the connection comes back unused.
    Unknown(mpsc::Sender<Bytes>),
    /// The stream had finished: its missed events were replayed. A standalone stream's
    /// connection comes back (it goes on as the session's new standalone stream); a
    /// POST stream's is closed.
    Replayed(Option<mpsc::Sender<Bytes>>),
    /// The stream is live: missed events were replayed and the connection attached.
    Attached,
}

/// Replays the events of `last`'s stream after `last` into `conn` and, if the stream is
/// still live, attaches `conn` for what follows. Call it from a task that does not stop
/// the connection's body from being read (the replay may exceed its queue).
pub(crate) async fn resume(
    hub: &StreamHub,
    store: &dyn EventStore,
    session: &str,
    last: &EventId,
    conn: mpsc::Sender<Bytes>,
) -> Resumed {
    let live = hub.get(&last.stream).filter(|l| &*l.key.session == session);
    let mut guard = match &live {
        Some(l) => Some(l.inner.lock().await),
        None => None,
    };
    let events: Vec<StoredEvent> = match store.replay_after(session, last).await {
        Ok(Some(ev)) => ev,
        Ok(None) => return Resumed::Unknown(conn),
        Err(e) => {
            tracing::warn!("event store replay failed: {e}");
            return Resumed::Unknown(conn);
        }
    };
    for ev in &events {
        if conn.send(sse_event_with_id(&ev.id, &ev.data, None)).await.is_err() {
            return Resumed::Replayed(None);
        }
    }
    match (guard.as_mut(), &live) {
        (Some(g), Some(l)) if !g.done => {
            g.conn = Some(conn);
            l.replaced.notify_waiters();
            Resumed::Attached
        }
        _ if last.stream.starts_with(STANDALONE_PREFIX) => Resumed::Replayed(Some(conn)),
        _ => Resumed::Replayed(None),
    }
}
