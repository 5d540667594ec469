//! Event stores: the log behind resumable Streamable HTTP streams (2025-11-25).
//!
//! Every SSE event a legacy POST stream carries is appended to the session's
//! [`EventStore`] before it is sent; its SSE `id` is the [`EventId`] the store returns,
//! which encodes the stream (`<stream>.<seq>`). A client that lost its connection sends
//! `GET` with `Last-Event-ID`; the server replays exactly the events of *that* stream
//! after that id, once, and then keeps streaming live events of the same stream.
//!
//! Backends: [`MemoryEventStore`] (a bounded ring per stream, the default) and, in
//! `ferromcp-sqlite`, a SQLite store that survives restarts. Every backend runs the
//! [`contract`] suite.

pub mod contract;
mod memory;

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;

pub use memory::MemoryEventStore;

use crate::state::{StoreError, StoreFuture};

/// One SSE stream of one session.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct StreamKey {
    /// The session the stream belongs to.
    pub session: Arc<str>,
    /// The stream's id: random, unique across sessions, visible ASCII without `.`.
    pub stream: Arc<str>,
}

impl StreamKey {
    /// A new stream of `session` with a fresh random id.
    pub fn new(session: Arc<str>) -> Self {
        // base64url never contains `.`, the separator of event ids.
        StreamKey { session, stream: crate::ids::new_session_id() }
    }
}

/// An event id: `<stream>.<seq>`; `seq` starts at 1 and grows by one per event.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct EventId {
    /// The stream.
    pub stream: Arc<str>,
    /// The position in the stream.
    pub seq: u64,
}

impl EventId {
    /// The longest stream id [`parse`](Self::parse) accepts (the ids ferromcp mints are
    /// 23 characters at most): a client's `Last-Event-ID` is never copied beyond this.
    pub const MAX_STREAM_LEN: usize = 128;

    /// Parses `<stream>.<seq>`; `None` for anything else.
    ///
    /// ```
    /// use ferromcp_core::events::EventId;
    /// let id = EventId::parse("abc.42").unwrap();
    /// assert_eq!((&*id.stream, id.seq), ("abc", 42));
    /// assert_eq!(id.to_string(), "abc.42");
    /// assert!(EventId::parse("nodot").is_none());
    /// assert!(EventId::parse(&format!("{}.1", "a".repeat(129))).is_none());
    /// ```
    pub fn parse(s: &str) -> Option<EventId> {
        let (stream, seq) = s.trim().rsplit_once('.')?;
        if stream.is_empty()
            || stream.len() > Self::MAX_STREAM_LEN
            || !stream.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return None;
        }
        Some(EventId { stream: stream.into(), seq: seq.parse().ok()? })
    }
}

impl fmt::Display for EventId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.stream, self.seq)
    }
}

/// A stored event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredEvent {
    /// Its id.
    pub id: EventId,
    /// The serialized JSON-RPC message (empty for a priming event).
    pub data: Bytes,
}

/// Retention limits of an event store.
///
/// The defaults keep what one client can make the server hold small: at most
/// 1 MiB of events per stream, 32 MiB in total, for 5 minutes (a client that lost its
/// connection resumes within seconds; 5 minutes leaves room for a laptop waking up).
/// The byte bounds count each event's payload plus [`Retention::EVENT_OVERHEAD`] bytes
/// (its id, time and slot); they are enforced by [`MemoryEventStore`]. Stores that keep
/// events on disk (SQLite) enforce the counts and the age only.
///
/// ```
/// use std::time::Duration;
/// use ferromcp_core::events::Retention;
/// let r = Retention::default()
///     .with_max_bytes_per_stream(256 * 1024)
///     .with_max_bytes(8 << 20)
///     .with_max_age(Duration::from_secs(60));
/// assert_eq!((r.max_bytes_per_stream, r.max_bytes, r.max_age.as_secs()), (256 * 1024, 8 << 20, 60));
/// ```
#[derive(Debug, Clone, Copy)]
pub struct Retention {
    /// Most events kept per stream (older ones are dropped first). Default 10,000.
    pub max_events_per_stream: usize,
    /// Events older than this are dropped. Default 5 minutes.
    pub max_age: Duration,
    /// Most streams kept in total (the least recently appended are dropped first).
    /// Default 100,000.
    pub max_streams: usize,
    /// Most bytes of events kept per stream (the stream's oldest events are dropped
    /// first; an event larger than this is sent but not kept). Default 1 MiB.
    pub max_bytes_per_stream: usize,
    /// Most bytes of events kept in total (the oldest events of all streams are dropped
    /// first). Default 32 MiB.
    pub max_bytes: usize,
}

impl Default for Retention {
    fn default() -> Self {
        Retention {
            max_events_per_stream: 10_000,
            max_age: Duration::from_secs(5 * 60),
            max_streams: 100_000,
            max_bytes_per_stream: 1 << 20,
            max_bytes: 32 << 20,
        }
    }
}

impl Retention {
    /// Bytes counted per stored event on top of its payload: its seq, timestamp, slot
    /// and buffer header.
    pub const EVENT_OVERHEAD: usize = 64;

    /// Sets [`max_events_per_stream`](Self::max_events_per_stream).
    pub fn with_max_events_per_stream(mut self, n: usize) -> Self {
        self.max_events_per_stream = n;
        self
    }
    /// Sets [`max_age`](Self::max_age).
    pub fn with_max_age(mut self, age: Duration) -> Self {
        self.max_age = age;
        self
    }
    /// Sets [`max_streams`](Self::max_streams).
    pub fn with_max_streams(mut self, n: usize) -> Self {
        self.max_streams = n;
        self
    }
    /// Sets [`max_bytes_per_stream`](Self::max_bytes_per_stream).
    pub fn with_max_bytes_per_stream(mut self, bytes: usize) -> Self {
        self.max_bytes_per_stream = bytes;
        self
    }
    /// Sets [`max_bytes`](Self::max_bytes).
    pub fn with_max_bytes(mut self, bytes: usize) -> Self {
        self.max_bytes = bytes;
        self
    }
    /// The bytes one stored event with `payload` bytes counts for.
    pub fn event_cost(payload: usize) -> usize {
        payload.saturating_add(Self::EVENT_OVERHEAD)
    }
}

/// The durable part of a legacy session, so a session can be resumed by another
/// process (after a restart, or on another node).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SessionRecord {
    /// The session id.
    pub id: String,
    /// The hashed principal the session is bound to.
    pub principal: Option<String>,
    /// The negotiated protocol version.
    pub version: String,
    /// The client's capabilities (JSON).
    pub capabilities: serde_json::Value,
    /// The client's info (JSON), if it sent any.
    pub client_info: Option<serde_json::Value>,
}

/// An append-only log of SSE events per stream, with bounded retention.
pub trait EventStore: Send + Sync + 'static {
    /// Appends `data` to `key`'s stream and returns the new event's id.
    fn append<'a>(&'a self, key: &'a StreamKey, data: Bytes) -> StoreFuture<'a, Result<EventId, StoreError>>;
    /// The events after `last` in `last`'s stream, if that stream belongs to `session` and
    /// is still retained; `None` otherwise (unknown, foreign or expired).
    fn replay_after<'a>(
        &'a self,
        session: &'a str,
        last: &'a EventId,
    ) -> StoreFuture<'a, Result<Option<Vec<StoredEvent>>, StoreError>>;
    /// Forgets every stream of `session` (and its record).
    fn remove_session<'a>(&'a self, session: &'a str) -> StoreFuture<'a, Result<(), StoreError>>;
    /// Persists a session record (no-op for stores that do not outlive the process).
    fn save_session<'a>(&'a self, _record: &'a SessionRecord) -> StoreFuture<'a, Result<(), StoreError>> {
        Box::pin(std::future::ready(Ok(())))
    }
    /// Loads a persisted session record.
    fn load_session<'a>(&'a self, _id: &'a str) -> StoreFuture<'a, Result<Option<SessionRecord>, StoreError>> {
        Box::pin(std::future::ready(Ok(None)))
    }
}
