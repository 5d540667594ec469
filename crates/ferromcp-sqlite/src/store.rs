//! [`SqliteEventStore`]: the handle, the blocking-pool plumbing, the group commit of
//! appends and the purge task.

use std::collections::VecDeque;
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, Weak};
use std::time::Duration;

use bytes::Bytes;
use ferromcp_core::events::{EventId, EventStore, Retention, SessionRecord, StoredEvent, StreamKey};
use ferromcp_core::state::{StoreError, StoreFuture};
use rusqlite::Connection;
use tokio::sync::oneshot;

use crate::ops::{self, Db};

/// Most expired events one purge round deletes while holding the connection.
const PURGE_BATCH: usize = 1000;

/// Most appends written in one transaction (group commit).
const MAX_BATCH: usize = 256;

/// An append waiting for its batch: the event and where its seq goes once committed.
struct Waiting {
    event: ops::NewEvent,
    done: oneshot::Sender<Result<u64, StoreError>>,
}

/// Appends not yet written, oldest first, and whether a writer is draining them.
#[derive(Default)]
struct Queue {
    waiting: VecDeque<Waiting>,
    writing: bool,
}

struct Inner {
    conn: Mutex<Connection>,
    queue: Mutex<Queue>,
    purger: OnceLock<tokio::task::JoinHandle<()>>,
}

impl Inner {
    fn lock(&self) -> MutexGuard<'_, Connection> {
        // A panic mid-transaction rolled that transaction back: the connection is sound.
        self.conn.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn queue(&self) -> MutexGuard<'_, Queue> {
        self.queue.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The writer (on the blocking pool): while appends are queued, writes up to
    /// [`MAX_BATCH`] of them, in queue order, in one transaction, then resolves each
    /// one's future with its seq (or error). An acknowledged append is committed.
    fn write_queued(&self, retention: &Retention) {
        let mut guard = WriterGuard(Some(self));
        loop {
            let batch: Vec<Waiting> = {
                let mut q = self.queue();
                if q.waiting.is_empty() {
                    q.writing = false;
                    guard.0 = None;
                    return;
                }
                let n = q.waiting.len().min(MAX_BATCH);
                q.waiting.drain(..n).collect()
            };
            let (events, senders): (Vec<_>, Vec<_>) = batch.into_iter().map(|w| (w.event, w.done)).unzip();
            match ops::append_batch(&mut self.lock(), retention, &events) {
                Ok(seqs) => senders.into_iter().zip(seqs).for_each(|(s, seq)| drop(s.send(seq))),
                Err(e) => senders.into_iter().for_each(|s| drop(s.send(Err(e.clone())))),
            }
        }
    }
}

/// If the writer panics, fails the appends still queued (their futures see an error
/// instead of waiting forever) and lets the next append start a new writer.
struct WriterGuard<'a>(Option<&'a Inner>);

impl Drop for WriterGuard<'_> {
    fn drop(&mut self) {
        if let Some(inner) = self.0 {
            let mut q = inner.queue();
            q.waiting.clear();
            q.writing = false;
        }
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        if let Some(t) = self.purger.get() {
            t.abort();
        }
    }
}

/// An [`EventStore`] in a SQLite database: resumable streams and session records that
/// survive restarts.
///
/// Every operation runs on tokio's blocking pool against one connection (WAL mode,
/// `synchronous=NORMAL`, statements cached). Appends are group-committed: those queued
/// while a batch is written go together (up to 256) in the next transaction, and each
/// append's future resolves once its batch is committed, so an acknowledged event
/// survives a crash of the process (with `synchronous=NORMAL` in WAL mode, a power loss
/// or OS crash may lose the last commits, never reorder them or corrupt the file). Retention is enforced on append (the
/// per-stream cap and `max_streams`), on replay (expired events count as gone) and by a
/// purge task that deletes expired events in small batches; it starts on first use
/// inside a runtime and ends when the store drops.
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// use ferromcp_core::events::{EventStore, Retention, StreamKey};
/// use ferromcp_sqlite::SqliteEventStore;
///
/// let store = SqliteEventStore::open_in_memory()?
///     .with_retention(Retention { max_events_per_stream: 1000, ..Retention::default() });
/// let key = StreamKey::new("session-1".into());
/// let first = store.append(&key, "".into()).await?;
/// store.append(&key, r#"{"jsonrpc":"2.0"}"#.into()).await?;
/// let missed = store.replay_after("session-1", &first).await?.expect("retained");
/// assert_eq!(missed[0].data, r#"{"jsonrpc":"2.0"}"#);
/// # Ok::<(), ferromcp_core::state::StoreError>(())
/// # }).unwrap();
/// ```
pub struct SqliteEventStore {
    inner: Arc<Inner>,
    retention: Retention,
}

impl std::fmt::Debug for SqliteEventStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteEventStore").field("retention", &self.retention).finish_non_exhaustive()
    }
}

impl SqliteEventStore {
    /// Opens (or creates) the database at `path` with the default [`Retention`].
    /// Blocks briefly: call it at startup.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, StoreError> {
        Self::from_connection(Connection::open(path).db()?)
    }

    /// A private in-memory database (for tests): nothing survives the store.
    pub fn open_in_memory() -> Result<Self, StoreError> {
        Self::from_connection(Connection::open_in_memory().db()?)
    }

    fn from_connection(conn: Connection) -> Result<Self, StoreError> {
        ops::init(&conn)?;
        let inner = Arc::new(Inner { conn: Mutex::new(conn), queue: Mutex::default(), purger: OnceLock::new() });
        Ok(SqliteEventStore { inner, retention: Retention::default() })
    }

    /// Sets the retention limits. Call it before first use: the purge task keeps the
    /// limits it starts with.
    pub fn with_retention(mut self, retention: Retention) -> Self {
        self.retention = retention;
        self
    }

    /// How many events are stored (expired ones not yet purged are counted).
    pub async fn event_count(&self) -> Result<u64, StoreError> {
        self.run(|conn, _| ops::event_count(conn)).await
    }

    /// Runs `f` on the blocking pool with the connection.
    async fn run<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection, &Retention) -> Result<T, StoreError> + Send + 'static,
    {
        self.ensure_purger();
        let (inner, retention) = (self.inner.clone(), self.retention);
        tokio::task::spawn_blocking(move || f(&mut inner.lock(), &retention))
            .await
            .map_err(|e| StoreError::Unavailable(format!("sqlite task failed: {e}")))?
    }

    /// Starts the purge task on first use inside a runtime.
    fn ensure_purger(&self) {
        if self.inner.purger.get().is_some() {
            return;
        }
        let Ok(handle) = tokio::runtime::Handle::try_current() else { return };
        let weak = Arc::downgrade(&self.inner);
        let retention = self.retention;
        let _ = self.inner.purger.get_or_init(|| handle.spawn(purge_loop(weak, retention)));
    }
}

/// Every `max_age / 4` (between one second and a minute), deletes expired events in
/// batches. Holds only a weak reference between rounds, so dropping the store ends it.
async fn purge_loop(weak: Weak<Inner>, retention: Retention) {
    let every = (retention.max_age / 4).clamp(Duration::from_secs(1), Duration::from_secs(60));
    loop {
        tokio::time::sleep(every).await;
        loop {
            let Some(inner) = weak.upgrade() else { return };
            let round = tokio::task::spawn_blocking(move || ops::purge(&mut inner.lock(), &retention, PURGE_BATCH));
            match round.await {
                Ok(Ok(n)) if n == PURGE_BATCH => continue,
                Ok(Ok(_)) => break,
                Ok(Err(e)) => {
                    // Retried next round; replay treats expired events as gone meanwhile.
                    tracing::warn!("sqlite event store purge failed: {e}");
                    break;
                }
                Err(_) => return,
            }
        }
    }
}

impl EventStore for SqliteEventStore {
    fn append<'a>(&'a self, key: &'a StreamKey, data: Bytes) -> StoreFuture<'a, Result<EventId, StoreError>> {
        Box::pin(async move {
            let (done, seq) = oneshot::channel();
            let event = ops::NewEvent { stream: key.stream.clone(), session: key.session.clone(), data };
            let start = {
                let mut q = self.inner.queue();
                q.waiting.push_back(Waiting { event, done });
                !std::mem::replace(&mut q.writing, true)
            };
            if start {
                self.ensure_purger();
                let (inner, retention) = (self.inner.clone(), self.retention);
                drop(tokio::task::spawn_blocking(move || inner.write_queued(&retention)));
            }
            let seq = seq.await.map_err(|_| StoreError::Unavailable("sqlite append task failed".into()))??;
            Ok(EventId { stream: key.stream.clone(), seq })
        })
    }

    fn replay_after<'a>(
        &'a self,
        session: &'a str,
        last: &'a EventId,
    ) -> StoreFuture<'a, Result<Option<Vec<StoredEvent>>, StoreError>> {
        let (session, stream, after) = (session.to_owned(), last.stream.clone(), last.seq);
        Box::pin(async move {
            let s = stream.clone();
            let rows = self.run(move |conn, r| ops::replay(conn, r, &session, &s, after)).await?;
            Ok(rows.map(|rows| {
                let event = |(seq, data): ops::Row| StoredEvent {
                    id: EventId { stream: stream.clone(), seq },
                    data: Bytes::from(data),
                };
                rows.into_iter().map(event).collect()
            }))
        })
    }

    fn remove_session<'a>(&'a self, session: &'a str) -> StoreFuture<'a, Result<(), StoreError>> {
        let session = session.to_owned();
        Box::pin(self.run(move |conn, _| ops::remove_session(conn, &session)))
    }

    fn save_session<'a>(&'a self, record: &'a SessionRecord) -> StoreFuture<'a, Result<(), StoreError>> {
        let id = record.id.clone();
        let json = serde_json::to_string(record);
        Box::pin(async move {
            let json = json.map_err(|e| StoreError::Unavailable(format!("session record: {e}")))?;
            self.run(move |conn, r| ops::save_session(conn, r, &id, &json)).await
        })
    }

    fn load_session<'a>(&'a self, id: &'a str) -> StoreFuture<'a, Result<Option<SessionRecord>, StoreError>> {
        Box::pin(async move {
            let owned = id.to_owned();
            let Some(json) = self.run(move |conn, _| ops::load_session(conn, &owned)).await? else { return Ok(None) };
            let record: SessionRecord = serde_json::from_str(&json).map_err(|e| ops::corrupt(id, e.to_string()))?;
            if record.id != id {
                return Err(ops::corrupt(id, format!("the record is for session `{}`", record.id)));
            }
            Ok(Some(record))
        })
    }
}
