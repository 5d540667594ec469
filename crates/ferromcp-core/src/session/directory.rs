//! [`SessionDirectory`]: where the durable record of every legacy Streamable HTTP session
//! lives when several servers (nodes) serve one deployment, so that any node serves any
//! POST, GET or DELETE of any session, and a session's end is decided once for the cluster.
//!
//! Without a directory (the default) a server keeps its sessions in its own
//! [`SessionRegistry`](super::SessionRegistry) and nothing here runs: the in-memory path
//! costs nothing more. With one
//! ([`ServerBuilder::session_directory`](crate::ServerBuilder::session_directory)):
//! - the registry becomes a per-node *cache* of sessions: dropping a cached session (idle
//!   locally, or shed by the local bound) fires no hook and deletes nothing;
//! - `initialize` [`create`](SessionDirectory::create)s the record (the cluster-wide
//!   [`SessionLimits::max_sessions`](super::SessionLimits::max_sessions) is checked there:
//!   a full directory sheds its least recently seen session);
//! - every request of a legacy session [`touch`](SessionDirectory::touch)es the record
//!   (one round trip) and learns whether it changed since this node cached it (log
//!   level, subscriptions, visibility overlay, each change bumps the record's `rev`);
//! - DELETE [`remove`](SessionDirectory::remove)s it, and the periodic
//!   [`sweep`](SessionDirectory::sweep) claims the sessions idle longer than
//!   [`SessionLimits::idle_timeout`](super::SessionLimits::idle_timeout): both are atomic
//!   claims, so exactly one node runs the end hooks and deletes the session's state and
//!   events.
//!
//! Backends: [`MemorySessionDirectory`] (one process; for tests and for several servers
//! in one process) and, in `ferromcp-redis`, `RedisSessionDirectory`. Both run the
//! [`contract`](super::directory_contract) suite.
//!
//! # A custom directory
//! A directory is six operations on records; errors are [`StoreError`]s
//! (`Unavailable` becomes a 503 answer). See [`MemorySessionDirectory`]'s source for a
//! complete one in under 150 lines.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::{SessionLimits, lock};
use crate::events::SessionRecord;
use crate::state::{StoreError, StoreFuture};

/// A legacy session as the directory keeps it: what `initialize` established (the
/// [`SessionRecord`]) and what the client changed since.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirectoryRecord {
    /// Id, principal, negotiated version, client capabilities and info.
    pub session: SessionRecord,
    /// The minimum log level as a rank (0 = debug … 7 = emergency; see
    /// [`level_rank`](super::level_rank)).
    pub log_level: u8,
    /// The resource URIs the session subscribed to.
    pub subscriptions: BTreeSet<String>,
    /// Whether the session has a visibility overlay in its state (so every node reads it).
    pub overlay: bool,
    /// The change counter: 1 at creation, one more per [`Change`]. Nodes compare it with
    /// the revision they cached.
    pub rev: u64,
}

impl DirectoryRecord {
    /// A fresh record (revision 1, no change yet) of `session`.
    pub fn new(session: SessionRecord) -> Self {
        DirectoryRecord { session, log_level: 0, subscriptions: BTreeSet::new(), overlay: false, rev: 1 }
    }

    /// The record of a session whose data is lost (its key expired before it was claimed):
    /// only the id is known.
    pub fn lost(id: &str) -> Self {
        Self::new(SessionRecord {
            id: id.to_owned(),
            principal: None,
            version: String::new(),
            capabilities: serde_json::Value::Null,
            client_info: None,
        })
    }

    /// The session id.
    pub fn id(&self) -> &str {
        &self.session.id
    }

    /// Applies `change` (without bumping `rev`: the directory does that).
    pub fn apply(&mut self, change: &Change) {
        match change {
            Change::LogLevel(l) => self.log_level = *l,
            Change::Subscribe(uri) => {
                self.subscriptions.insert(uri.clone());
            }
            Change::Unsubscribe(uri) => {
                self.subscriptions.remove(uri);
            }
            Change::Overlay(on) => self.overlay = *on,
        }
    }
}

/// One change of a session's mutable part.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Change {
    /// `logging/setLevel` (a rank, see [`level_rank`](super::level_rank)).
    LogLevel(u8),
    /// `resources/subscribe`.
    Subscribe(String),
    /// `resources/unsubscribe`.
    Unsubscribe(String),
    /// The session's visibility overlay was set (or dropped).
    Overlay(bool),
}

/// What [`SessionDirectory::touch`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Touched {
    /// No such session, or idle past the timeout (the sweep will end it): answer 404.
    Gone,
    /// The session is live and its record is still at the revision the caller knows.
    Unchanged,
    /// The session is live and its record differs from the caller's revision.
    Changed(Box<DirectoryRecord>),
}

/// The shared table of legacy sessions (see the [module docs](self)).
///
/// Every operation is atomic with respect to the others, across every node sharing the
/// directory: [`remove`](Self::remove) and [`sweep`](Self::sweep) *claim* a session —
/// of all concurrent callers exactly one gets its record back.
pub trait SessionDirectory: Send + Sync + 'static {
    /// Adds `record` (a new session) and marks it seen now. If the directory holds
    /// `limits.max_sessions` sessions or more, the least recently seen ones are claimed
    /// and returned to make room: the caller ends them ([`EndReason::Shed`](super::EndReason::Shed)).
    fn create<'a>(
        &'a self,
        record: &'a DirectoryRecord,
        limits: &'a SessionLimits,
    ) -> StoreFuture<'a, Result<Vec<DirectoryRecord>, StoreError>>;
    /// The record of `id`, without marking it seen; `None` if it is not in the directory.
    fn load<'a>(&'a self, id: &'a str) -> StoreFuture<'a, Result<Option<DirectoryRecord>, StoreError>>;
    /// Marks `id` seen now and says whether its record moved past `known_rev` (pass 0 to
    /// get the record whatever its revision). A session idle longer than
    /// `limits.idle_timeout` is [`Touched::Gone`] and is not revived.
    fn touch<'a>(
        &'a self,
        id: &'a str,
        known_rev: u64,
        limits: &'a SessionLimits,
    ) -> StoreFuture<'a, Result<Touched, StoreError>>;
    /// Applies `change` to `id`'s record and bumps its revision; the new revision, or
    /// `None` if the session is not in the directory (nothing is created).
    fn update<'a>(&'a self, id: &'a str, change: &'a Change) -> StoreFuture<'a, Result<Option<u64>, StoreError>>;
    /// Claims `id` (the client ended it): its record if this call removed it, `None` if it
    /// was not there (never created, or already claimed by another node).
    fn remove<'a>(&'a self, id: &'a str) -> StoreFuture<'a, Result<Option<DirectoryRecord>, StoreError>>;
    /// Claims up to `max` sessions not seen for longer than `limits.idle_timeout` (none
    /// without a timeout) and returns their records: the caller ends them
    /// ([`EndReason::Expired`](super::EndReason::Expired)).
    fn sweep<'a>(
        &'a self,
        limits: &'a SessionLimits,
        max: usize,
    ) -> StoreFuture<'a, Result<Vec<DirectoryRecord>, StoreError>>;
}

struct Entry {
    record: DirectoryRecord,
    seen: Instant,
}

/// A [`SessionDirectory`] in this process's memory: several servers built with clones of
/// one directory share their sessions, as nodes sharing a Redis do.
///
/// Creation sheds and sweeps scan the table (O(n)): it is meant for tests and small
/// deployments in one process, not as a replacement for the default registry.
///
/// ```
/// use ferromcp_core::session::{MemorySessionDirectory, SessionLimits, SessionDirectory, DirectoryRecord, Touched};
/// use ferromcp_core::events::SessionRecord;
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let dir = MemorySessionDirectory::new();
/// let rec = DirectoryRecord::new(SessionRecord {
///     id: "s1".into(), principal: None, version: "2025-11-25".into(),
///     capabilities: serde_json::json!({}), client_info: None,
/// });
/// let limits = SessionLimits::default();
/// assert!(dir.create(&rec, &limits).await.unwrap().is_empty());
/// assert_eq!(dir.touch("s1", 1, &limits).await.unwrap(), Touched::Unchanged);
/// assert!(dir.remove("s1").await.unwrap().is_some());
/// assert_eq!(dir.touch("s1", 1, &limits).await.unwrap(), Touched::Gone);
/// # });
/// ```
#[derive(Clone, Default)]
pub struct MemorySessionDirectory {
    table: Arc<Mutex<HashMap<String, Entry>>>,
}

impl std::fmt::Debug for MemorySessionDirectory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemorySessionDirectory").field("sessions", &lock(&self.table).len()).finish()
    }
}

impl MemorySessionDirectory {
    /// An empty directory.
    pub fn new() -> Self {
        Self::default()
    }
}

fn idle(e: &Entry, limits: &SessionLimits, now: Instant) -> bool {
    limits.idle_timeout.is_some_and(|t| now.saturating_duration_since(e.seen) > t)
}

fn ready<'a, T: Send + 'a>(v: T) -> StoreFuture<'a, T> {
    Box::pin(std::future::ready(v))
}

impl SessionDirectory for MemorySessionDirectory {
    fn create<'a>(
        &'a self,
        record: &'a DirectoryRecord,
        limits: &'a SessionLimits,
    ) -> StoreFuture<'a, Result<Vec<DirectoryRecord>, StoreError>> {
        let mut t = lock(&self.table);
        let mut shed = Vec::new();
        while t.len() >= limits.max_sessions.max(1) {
            let Some(oldest) = t.iter().min_by_key(|(_, e)| e.seen).map(|(k, _)| k.clone()) else { break };
            if let Some(e) = t.remove(&oldest) {
                shed.push(e.record);
            }
        }
        t.insert(record.id().to_owned(), Entry { record: record.clone(), seen: Instant::now() });
        ready(Ok(shed))
    }

    fn load<'a>(&'a self, id: &'a str) -> StoreFuture<'a, Result<Option<DirectoryRecord>, StoreError>> {
        ready(Ok(lock(&self.table).get(id).map(|e| e.record.clone())))
    }

    fn touch<'a>(
        &'a self,
        id: &'a str,
        known_rev: u64,
        limits: &'a SessionLimits,
    ) -> StoreFuture<'a, Result<Touched, StoreError>> {
        let now = Instant::now();
        let mut t = lock(&self.table);
        let out = match t.get_mut(id) {
            Some(e) if !idle(e, limits, now) => {
                e.seen = now;
                if e.record.rev == known_rev {
                    Touched::Unchanged
                } else {
                    Touched::Changed(Box::new(e.record.clone()))
                }
            }
            _ => Touched::Gone,
        };
        ready(Ok(out))
    }

    fn update<'a>(&'a self, id: &'a str, change: &'a Change) -> StoreFuture<'a, Result<Option<u64>, StoreError>> {
        let out = lock(&self.table).get_mut(id).map(|e| {
            e.record.apply(change);
            e.record.rev += 1;
            e.record.rev
        });
        ready(Ok(out))
    }

    fn remove<'a>(&'a self, id: &'a str) -> StoreFuture<'a, Result<Option<DirectoryRecord>, StoreError>> {
        ready(Ok(lock(&self.table).remove(id).map(|e| e.record)))
    }

    fn sweep<'a>(
        &'a self,
        limits: &'a SessionLimits,
        max: usize,
    ) -> StoreFuture<'a, Result<Vec<DirectoryRecord>, StoreError>> {
        let now = Instant::now();
        let mut t = lock(&self.table);
        let ids: Vec<String> =
            t.iter().filter(|(_, e)| idle(e, limits, now)).map(|(k, _)| k.clone()).take(max).collect();
        ready(Ok(ids.iter().filter_map(|id| t.remove(id)).map(|e| e.record).collect()))
    }
}

/// How long the sweep of a directory waits between rounds for `idle_timeout`: a quarter
/// of it, between 50 ms and 30 s (as the registry's reaper).
pub(crate) fn sweep_period(idle_timeout: Duration) -> Duration {
    (idle_timeout / 4).clamp(Duration::from_millis(50), Duration::from_secs(30))
}
