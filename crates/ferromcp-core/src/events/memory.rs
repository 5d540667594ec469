//! [`MemoryEventStore`]: the default event store, a bounded ring of events per stream.
//!
//! Each stream keeps its newest events in a `VecDeque`, at most `max_events_per_stream`
//! of them and at most `max_bytes_per_stream` bytes (payload plus
//! [`Retention::EVENT_OVERHEAD`] each); across streams at most `max_bytes` are kept, the
//! oldest events of all streams going first (found through the expiry index, so an
//! append stays O(log streams) amortised: each event is dropped once). Events
//! older than `max_age` are dropped lazily when their stream is touched and by a purge
//! task — owned by the store, spawned on first use inside a runtime, and ended when the
//! last handle drops — that sleeps until the next event expires (the layout of
//! mini-redis's `db.rs`). At most `max_streams` streams are kept: a new stream evicts
//! the least recently appended one. An index `session -> streams` makes
//! [`remove_session`](EventStore::remove_session) proportional to the session's streams.
//!
//! A stream whose events all expired keeps its last seq (a few dozen bytes, counted
//! against `max_streams`), so an append after a long pause never reuses an id a client
//! may hold. A `std::sync::Mutex` guards the data: critical sections are short and never
//! await. Session records are not kept: memory does not outlive the process.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};

use bytes::Bytes;
use tokio::time::Instant;

use super::{EventId, EventStore, Retention, StoredEvent, StreamKey};
use crate::purge::Purger;
use crate::state::{StoreError, StoreFuture};

#[derive(Default)]
struct Ring {
    stream: Arc<str>,
    session: Arc<str>,
    /// `(seq, appended_at, data)`, oldest first; the seqs are contiguous.
    events: VecDeque<(u64, Instant, Bytes)>,
    /// What `events` count for ([`Retention::event_cost`]).
    bytes: usize,
    /// The last seq handed out (kept when its event is dropped: seqs never repeat).
    last_seq: u64,
    /// This ring's key in `Data::lru`.
    touched: u64,
    /// A stable id, the tie-breaker in `Data::expirations`.
    id: u64,
    /// This ring's key in `Data::expirations`: when its oldest event was appended.
    expiry: Option<(Instant, u64)>,
}

#[derive(Default)]
struct Data {
    streams: HashMap<Arc<str>, Ring>,
    sessions: HashMap<Arc<str>, HashSet<Arc<str>>>,
    /// Streams by last append, least recent first.
    lru: BTreeMap<u64, Arc<str>>,
    /// Streams by the time of their oldest event, oldest first.
    expirations: BTreeMap<(Instant, u64), Arc<str>>,
    events: usize,
    /// What every kept event counts for ([`Retention::event_cost`]).
    bytes: usize,
    tick: u64,
}

impl Data {
    fn remove_stream(&mut self, stream: &str) {
        let Some(ring) = self.streams.remove(stream) else { return };
        self.lru.remove(&ring.touched);
        if let Some(e) = ring.expiry {
            self.expirations.remove(&e);
        }
        self.events -= ring.events.len();
        self.bytes -= ring.bytes;
        if let Some(set) = self.sessions.get_mut(&ring.session) {
            set.remove(stream);
            if set.is_empty() {
                self.sessions.remove(&ring.session);
            }
        }
    }

    /// Drops `stream`'s events beyond the count and byte caps or older than `max_age`
    /// (oldest first) and re-files its expiry; true if that expiry is now the earliest
    /// (the purge task must wake).
    fn trim(&mut self, stream: &str, now: Instant, retention: &Retention) -> bool {
        let Data { streams, events, bytes, .. } = self;
        let Some(ring) = streams.get_mut(stream) else { return false };
        while ring.events.len() > retention.max_events_per_stream
            || ring.bytes > retention.max_bytes_per_stream
            || ring.events.front().is_some_and(|(_, at, _)| now.saturating_duration_since(*at) >= retention.max_age)
        {
            let Some((_, _, data)) = ring.events.pop_front() else { break };
            let cost = Retention::event_cost(data.len());
            ring.bytes -= cost;
            *bytes -= cost;
            *events -= 1;
        }
        self.refile(stream)
    }

    /// Drops the oldest events of all streams until at most `max_bytes` are kept. Only
    /// moves expiries later: the purge task needs no wake-up.
    fn trim_total(&mut self, retention: &Retention) {
        while self.bytes > retention.max_bytes {
            let Some(stream) = self.expirations.values().next().cloned() else { break };
            let Some(ring) = self.streams.get_mut(&stream) else { break };
            let Some((_, _, data)) = ring.events.pop_front() else { break };
            let cost = Retention::event_cost(data.len());
            ring.bytes -= cost;
            self.bytes -= cost;
            self.events -= 1;
            self.refile(&stream);
        }
    }

    /// Files `stream` in `expirations` under its oldest event (releasing the queue's
    /// memory once it is empty); true if that is now the earliest expiry.
    fn refile(&mut self, stream: &str) -> bool {
        let Data { streams, expirations, .. } = self;
        let Some(ring) = streams.get_mut(stream) else { return false };
        if ring.events.is_empty() && ring.events.capacity() > 0 {
            ring.events = VecDeque::new();
        }
        let expiry = ring.events.front().map(|(_, at, _)| (*at, ring.id));
        if expiry == ring.expiry {
            return false;
        }
        if let Some(old) = ring.expiry.take() {
            expirations.remove(&old);
        }
        ring.expiry = expiry;
        let Some(e) = expiry else { return false };
        let earliest = expirations.keys().next().is_none_or(|first| e < *first);
        expirations.insert(e, ring.stream.clone());
        earliest
    }

    /// Drops every expired event; returns when the next one expires.
    fn purge(&mut self, now: Instant, retention: &Retention) -> Option<Instant> {
        loop {
            let (&(at, _), stream) = self.expirations.iter().next()?;
            let deadline = at.checked_add(retention.max_age)?;
            if deadline > now {
                return Some(deadline);
            }
            let stream = stream.clone();
            self.trim(&stream, now, retention);
        }
    }

    fn append(&mut self, key: &StreamKey, data: Bytes, retention: &Retention) -> Result<(u64, bool), StoreError> {
        let now = Instant::now();
        if let Some(ring) = self.streams.get(&*key.stream) {
            if ring.session != key.session {
                let reason = "the stream belongs to another session".into();
                return Err(StoreError::Corrupt { key: key.stream.to_string(), reason });
            }
        } else {
            while self.streams.len() >= retention.max_streams.max(1) {
                let Some(oldest) = self.lru.values().next().cloned() else { break };
                self.remove_stream(&oldest);
            }
            self.tick += 1;
            let (stream, session, id) = (key.stream.clone(), key.session.clone(), self.tick);
            self.streams.insert(key.stream.clone(), Ring { stream, session, id, ..Ring::default() });
            self.sessions.entry(key.session.clone()).or_default().insert(key.stream.clone());
        }
        self.tick += 1;
        let tick = self.tick;
        let Some(ring) = self.streams.get_mut(&*key.stream) else { unreachable!("the stream was just ensured") };
        ring.last_seq += 1;
        let seq = ring.last_seq;
        let old_tick = std::mem::replace(&mut ring.touched, tick);
        let cost = Retention::event_cost(data.len());
        ring.events.push_back((seq, now, data));
        ring.bytes += cost;
        self.lru.remove(&old_tick);
        self.lru.insert(tick, key.stream.clone());
        self.events += 1;
        self.bytes += cost;
        let wake = self.trim(&key.stream, now, retention);
        self.trim_total(retention);
        Ok((seq, wake))
    }

    fn replay(&mut self, session: &str, last: &EventId, retention: &Retention) -> Option<Vec<StoredEvent>> {
        // Trimming only moves an expiry later: the purge task needs no wake-up.
        self.trim(&last.stream, Instant::now(), retention);
        let ring = self.streams.get(&*last.stream)?;
        if &*ring.session != session || last.seq > ring.last_seq {
            return None;
        }
        let first = ring.events.front().map_or(ring.last_seq.saturating_add(1), |(seq, ..)| *seq);
        if last.seq.saturating_add(1) < first {
            // Events after `last` are gone: a clear miss beats a silent gap.
            return None;
        }
        let skip = usize::try_from(last.seq + 1 - first).unwrap_or(usize::MAX).min(ring.events.len());
        let events = ring
            .events
            .range(skip..)
            .map(|(seq, _, data)| StoredEvent {
                id: EventId { stream: ring.stream.clone(), seq: *seq },
                data: data.clone(),
            })
            .collect();
        Some(events)
    }
}

struct Shared {
    data: Mutex<Data>,
    retention: Retention,
    purger: Purger,
}

/// The in-memory event store (the default): a bounded ring of events per stream.
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// use ferromcp_core::events::{EventStore, MemoryEventStore, StreamKey};
///
/// let store = MemoryEventStore::new(); // or `with_retention(Retention { .. })`
/// let key = StreamKey::new("session-1".into());
/// let first = store.append(&key, "".into()).await.unwrap(); // a priming event
/// let second = store.append(&key, r#"{"jsonrpc":"2.0"}"#.into()).await.unwrap();
/// assert_eq!((first.seq, second.seq), (1, 2));
///
/// let missed = store.replay_after("session-1", &first).await.unwrap().unwrap();
/// assert_eq!(missed.len(), 1);
/// assert_eq!(missed[0].id, second);
/// assert!(store.replay_after("another-session", &first).await.unwrap().is_none());
/// # });
/// ```
#[derive(Clone)]
pub struct MemoryEventStore {
    shared: Arc<Shared>,
}

impl Default for MemoryEventStore {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Debug for MemoryEventStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let d = self.lock();
        f.debug_struct("MemoryEventStore")
            .field("streams", &d.streams.len())
            .field("events", &d.events)
            .field("bytes", &d.bytes)
            .finish()
    }
}

impl MemoryEventStore {
    /// A store with the default [`Retention`]. Needs no runtime: the purge task starts
    /// on first use inside one.
    pub fn new() -> Self {
        Self::with_retention(Retention::default())
    }

    /// A store with the given retention limits.
    pub fn with_retention(retention: Retention) -> Self {
        MemoryEventStore {
            shared: Arc::new(Shared { data: Mutex::new(Data::default()), retention, purger: Purger::default() }),
        }
    }

    /// How many streams are kept (including streams whose events all expired).
    pub fn stream_count(&self) -> usize {
        self.lock().streams.len()
    }

    /// How many events are kept (expired ones not yet purged are counted).
    pub fn event_count(&self) -> usize {
        self.lock().events
    }

    /// What the kept events count for against the byte bounds (payloads plus
    /// [`Retention::EVENT_OVERHEAD`] each).
    pub fn byte_count(&self) -> usize {
        self.lock().bytes
    }

    fn lock(&self) -> MutexGuard<'_, Data> {
        self.shared.data.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Starts the purge task on first use inside a runtime.
    fn ensure_purger(&self) {
        self.shared.purger.ensure(&self.shared, |sh, now| {
            sh.data.lock().unwrap_or_else(|p| p.into_inner()).purge(now, &sh.retention)
        });
    }
}

impl EventStore for MemoryEventStore {
    fn append<'a>(&'a self, key: &'a StreamKey, data: Bytes) -> StoreFuture<'a, Result<EventId, StoreError>> {
        self.ensure_purger();
        let r = self.lock().append(key, data, &self.shared.retention);
        let r = r.map(|(seq, wake)| {
            if wake {
                self.shared.purger.wake();
            }
            EventId { stream: key.stream.clone(), seq }
        });
        Box::pin(std::future::ready(r))
    }

    fn replay_after<'a>(
        &'a self,
        session: &'a str,
        last: &'a EventId,
    ) -> StoreFuture<'a, Result<Option<Vec<StoredEvent>>, StoreError>> {
        let events = self.lock().replay(session, last, &self.shared.retention);
        Box::pin(std::future::ready(Ok(events)))
    }

    fn remove_session<'a>(&'a self, session: &'a str) -> StoreFuture<'a, Result<(), StoreError>> {
        let mut d = self.lock();
        for stream in d.sessions.remove(session).unwrap_or_default() {
            d.remove_stream(&stream);
        }
        drop(d);
        Box::pin(std::future::ready(Ok(())))
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn key(session: &str) -> StreamKey {
        StreamKey::new(session.into())
    }
    async fn seqs(s: &MemoryEventStore, session: &str, stream: &Arc<str>, after: u64) -> Option<Vec<u64>> {
        let last = EventId { stream: stream.clone(), seq: after };
        Some(s.replay_after(session, &last).await.unwrap()?.iter().map(|e| e.id.seq).collect())
    }

    #[tokio::test]
    async fn passes_the_event_store_contract() {
        super::super::contract::run(MemoryEventStore::new).await;
        super::super::contract::run_retention(MemoryEventStore::with_retention).await;
        super::super::contract::run_byte_bounds(MemoryEventStore::with_retention).await;
    }

    #[tokio::test]
    async fn byte_counts_follow_appends_drops_and_removals() {
        let per_stream = 4 * Retention::event_cost(1000);
        let r = Retention::default().with_max_bytes_per_stream(per_stream).with_max_bytes(3 * per_stream);
        let s = MemoryEventStore::with_retention(r);
        let keys: Vec<StreamKey> = (0..5).map(|i| key(if i < 3 { "a" } else { "b" })).collect();
        for round in 0..20 {
            for k in &keys {
                s.append(k, Bytes::from(vec![b'x'; 1000])).await.unwrap();
                let d = s.lock();
                let sum: usize = d.streams.values().map(|r| r.bytes).sum();
                let counted: usize =
                    d.streams.values().flat_map(|r| &r.events).map(|(_, _, b)| Retention::event_cost(b.len())).sum();
                assert_eq!((d.bytes, sum), (counted, counted), "round {round}: byte counts are exact");
                assert!(d.bytes <= 3 * per_stream, "round {round}: the total cap holds");
                assert!(d.streams.values().all(|r| r.bytes <= per_stream), "round {round}: the stream cap holds");
            }
        }
        assert_eq!(s.byte_count(), 3 * per_stream, "the store is full, not over");
        s.remove_session("a").await.unwrap();
        let left: usize = s.lock().streams.values().map(|r| r.bytes).sum();
        assert_eq!(s.byte_count(), left);
        s.remove_session("b").await.unwrap();
        assert_eq!((s.byte_count(), s.event_count()), (0, 0));
    }

    /// Issue 8's attack: 200 calls whose progress events each echo a 1 MiB token. The
    /// store keeps at most its byte bounds, not 200 MiB.
    #[tokio::test]
    async fn a_flood_of_large_events_stays_within_the_default_bounds() {
        let s = MemoryEventStore::new();
        let r = Retention::default();
        let big = Bytes::from(vec![b'p'; 1 << 20]);
        for i in 0..200 {
            let k = key(if i % 2 == 0 { "a" } else { "b" });
            for _ in 0..2 {
                s.append(&k, big.clone()).await.unwrap();
            }
            s.append(&k, Bytes::from_static(b"{}")).await.unwrap();
            assert!(s.byte_count() <= r.max_bytes, "call {i}: {} bytes kept", s.byte_count());
        }
        assert!(s.byte_count() <= 32 << 20);
    }

    #[tokio::test]
    async fn the_ring_keeps_the_newest_events() {
        let s = MemoryEventStore::with_retention(Retention { max_events_per_stream: 3, ..Retention::default() });
        let k = key("a");
        for i in 0..10u8 {
            s.append(&k, Bytes::from(vec![i])).await.unwrap();
        }
        assert_eq!(s.event_count(), 3);
        assert_eq!(seqs(&s, "a", &k.stream, 7).await, Some(vec![8, 9, 10]));
        assert_eq!(seqs(&s, "a", &k.stream, 6).await, None, "event 7 was dropped");
    }

    #[tokio::test(start_paused = true)]
    async fn old_events_expire_without_being_read_and_seqs_never_repeat() {
        let s =
            MemoryEventStore::with_retention(Retention { max_age: Duration::from_secs(10), ..Retention::default() });
        let k = key("a");
        s.append(&k, "1".into()).await.unwrap();
        s.append(&k, "2".into()).await.unwrap();
        tokio::time::sleep(Duration::from_secs(6)).await;
        s.append(&k, "3".into()).await.unwrap();
        tokio::time::sleep(Duration::from_secs(5)).await;
        tokio::task::yield_now().await;
        assert_eq!(s.event_count(), 1, "the purge task dropped the two old events");
        assert_eq!(seqs(&s, "a", &k.stream, 2).await, Some(vec![3]));
        assert_eq!(seqs(&s, "a", &k.stream, 1).await, None, "event 2 expired");
        tokio::time::sleep(Duration::from_secs(6)).await;
        tokio::task::yield_now().await;
        assert_eq!((s.event_count(), s.stream_count()), (0, 1), "the stream keeps its last seq");
        assert_eq!(seqs(&s, "a", &k.stream, 3).await, Some(vec![]), "a client that saw everything resumes");
        assert_eq!(s.append(&k, "4".into()).await.unwrap().seq, 4, "seqs continue after a pause");
    }

    #[tokio::test]
    async fn the_least_recently_appended_stream_goes_first() {
        let s = MemoryEventStore::with_retention(Retention { max_streams: 2, ..Retention::default() });
        let (k1, k2, k3) = (key("a"), key("a"), key("b"));
        for k in [&k1, &k2, &k1, &k3] {
            s.append(k, "x".into()).await.unwrap();
        }
        assert_eq!(s.stream_count(), 2);
        assert_eq!(seqs(&s, "a", &k2.stream, 0).await, None, "k2 was appended to least recently");
        assert_eq!(seqs(&s, "a", &k1.stream, 1).await, Some(vec![2]));
        assert_eq!(seqs(&s, "b", &k3.stream, 0).await, Some(vec![1]));
    }

    #[tokio::test]
    async fn removing_a_session_drops_its_streams_only() {
        let s = MemoryEventStore::new();
        let (a1, a2, b) = (key("a"), key("a"), key("b"));
        for k in [&a1, &a2, &b] {
            s.append(k, "x".into()).await.unwrap();
        }
        s.remove_session("a").await.unwrap();
        assert_eq!((s.stream_count(), s.event_count()), (1, 1));
        assert!(!s.lock().sessions.contains_key("a"), "the session index is cleaned");
        assert_eq!(seqs(&s, "a", &a1.stream, 0).await, None);
        assert_eq!(seqs(&s, "b", &b.stream, 0).await, Some(vec![1]));
        let stolen = StreamKey { session: "a".into(), stream: b.stream.clone() };
        assert!(s.append(&stolen, "x".into()).await.is_err(), "a stream never changes session");
    }
}
