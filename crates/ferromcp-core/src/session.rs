//! Connections and legacy sessions: what a 2025-11-25 client established with
//! `initialize`, and the bookkeeping that goes with it.
//!
//! A [`Session`] is one stdio/in-memory connection or one Streamable HTTP session
//! (`Mcp-Session-Id`). Its id is fixed when it is created, before `initialize` runs.
//! It is deliberately small (no task, no channel while idle): a few atomics, the client's
//! initialize data, and maps that stay unallocated until used.
//!
//! [`SessionRegistry`] holds the HTTP sessions: ids from the OS CSPRNG (128 bits,
//! base64url), an idle timeout enforced by a reaper task owned by a guard, and a bound
//! that sheds instead of refusing new clients: the least recently used idle session of
//! the client (principal, else address) holding the most. A second bound, per client,
//! makes a client at its cap shed its *own* least recently used idle session, so one
//! client cannot evict the others' sessions. Shedding and expiry use ordered indexes
//! (`session/index.rs`), O(log n) amortised.

pub mod directory;
pub mod directory_contract;
mod index;
mod registry;

pub(crate) use directory::sweep_period;
pub use directory::{Change, DirectoryRecord, MemorySessionDirectory, SessionDirectory, Touched};
pub use registry::{ReaperGuard, SessionRefused, SessionRegistry};

use std::collections::{BTreeSet, HashMap};
use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU8, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use serde_json::value::RawValue;
use tokio::sync::oneshot;
use tokio_util::sync::CancellationToken;

use crate::error::ProtocolError;
use crate::jsonrpc::RequestId;
use crate::outbound::Outbound;
use crate::protocol::{ClientCapabilities, Implementation, LoggingLevel};

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// What the client said in `initialize`.
#[derive(Debug, Clone)]
pub struct ClientInit {
    /// The negotiated protocol version.
    pub version: &'static str,
    /// The client's capabilities.
    pub capabilities: Arc<ClientCapabilities>,
    /// The client's name and version.
    pub info: Option<Implementation>,
}

type Waiter = oneshot::Sender<Result<Box<RawValue>, ProtocolError>>;

/// Where the client's answer to one server→client request arrives.
pub type AnswerReceiver = oneshot::Receiver<Result<Box<RawValue>, ProtocolError>>;

/// Pending server→client requests of one session, correlated by id.
#[derive(Default)]
pub struct PeerRequests {
    next_id: AtomicI64,
    pending: Mutex<HashMap<i64, Waiter>>,
}

impl PeerRequests {
    /// Allocates an id and registers a waiter for its response.
    pub fn register(&self) -> (i64, oneshot::Receiver<Result<Box<RawValue>, ProtocolError>>) {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed) + 1;
        let (tx, rx) = oneshot::channel();
        lock(&self.pending).insert(id, tx);
        (id, rx)
    }
    /// Like [`register`](Self::register), unless `max` asks already wait: then `None`
    /// and nothing is registered.
    pub fn try_register(&self, max: usize) -> Option<(i64, AnswerReceiver)> {
        let mut pending = lock(&self.pending);
        if pending.len() >= max {
            return None;
        }
        let id = self.next_id.fetch_add(1, Ordering::Relaxed) + 1;
        let (tx, rx) = oneshot::channel();
        pending.insert(id, tx);
        Some((id, rx))
    }
    /// Drops a waiter (timeout or cancellation).
    pub fn forget(&self, id: i64) {
        lock(&self.pending).remove(&id);
    }
    /// Delivers a client response; false if nobody waits for that id.
    pub fn complete(&self, id: &RequestId, outcome: Result<Box<RawValue>, ProtocolError>) -> bool {
        let RequestId::Number(n) = id else { return false };
        match lock(&self.pending).remove(n) {
            Some(tx) => tx.send(outcome).is_ok(),
            None => false,
        }
    }
    /// How many asks are waiting.
    pub fn len(&self) -> usize {
        lock(&self.pending).len()
    }
    /// Whether no ask is waiting.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Fails every waiting ask at once (its handler sees `AskUnavailable`): for when no
    /// answer can arrive any more, e.g. the connection's input ended.
    pub fn fail_all(&self) {
        lock(&self.pending).clear();
    }
}

/// One connection (stdio, in-memory) or one legacy HTTP session.
pub struct Session {
    id: Arc<str>,
    init: OnceLock<ClientInit>,
    initialized: AtomicBool,
    /// `LoggingLevel` as a number (0 = debug … 7 = emergency).
    log_level: AtomicU8,
    peer: PeerRequests,
    inflight: Mutex<HashMap<RequestId, CancellationToken>>,
    subscriptions: Mutex<BTreeSet<String>>,
    stream: Mutex<Option<Outbound>>,
    principal: Option<Arc<str>>,
    last_seen_ms: AtomicU64,
    /// The time the registry's index files this session under (changed under its lock).
    filed_ms: AtomicU64,
    /// The client's address, for the per-client cap of unauthenticated sessions.
    addr: Option<IpAddr>,
    closed: AtomicBool,
    /// Lifecycle-hook bookkeeping (see [`SessionRegistry`]): `HOOK_*` bits, plus
    /// [`FLAG_CONNECTION`], [`FLAG_CLEANUP_CLAIMED`], [`FLAG_CACHED`] and [`FLAG_OVERLAY`].
    hooks: AtomicU8,
    /// With a [`SessionDirectory`]: the revision of the directory record this node applied
    /// (low 32 bits; a wrapped counter only makes the next touch reload the record).
    rev: AtomicU32,
}

/// In [`Session::hooks`]: the session's record lives in a [`SessionDirectory`]; this node
/// only caches it, so its registry drops it without hooks and without deleting anything.
const FLAG_CACHED: u8 = 1 << 4;
/// In [`Session::hooks`]: the session has a visibility overlay (set on any node).
const FLAG_OVERLAY: u8 = 1 << 7;

/// In [`Session::hooks`]: the session is one connection (stdio, in-memory, HTTP+SSE),
/// so its state lives in the connection scope. Bits 0-3 belong to the registry.
const FLAG_CONNECTION: u8 = 1 << 5;
/// In [`Session::hooks`]: whoever set it deletes the session's state (exactly once).
const FLAG_CLEANUP_CLAIMED: u8 = 1 << 6;

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session").field("id", &self.id).finish_non_exhaustive()
    }
}

/// Numeric rank of a logging level (debug = 0 … emergency = 7).
pub fn level_rank(l: LoggingLevel) -> u8 {
    match l {
        LoggingLevel::Debug => 0,
        LoggingLevel::Info => 1,
        LoggingLevel::Notice => 2,
        LoggingLevel::Warning => 3,
        LoggingLevel::Error => 4,
        LoggingLevel::Critical => 5,
        LoggingLevel::Alert => 6,
        LoggingLevel::Emergency => 7,
    }
}

pub use crate::ids::new_session_id;

impl Session {
    /// A new session with a fresh id, bound to `principal` (if authenticated).
    pub fn new(principal: Option<Arc<str>>) -> Arc<Session> {
        Self::with_id(new_session_id(), principal)
    }

    /// A session with a known id: one restored from a persisted record.
    pub fn with_id(id: Arc<str>, principal: Option<Arc<str>>) -> Arc<Session> {
        Self::build(id, principal, None)
    }

    /// A new session for a client at `addr` (counted against that address's share of
    /// [`SessionLimits::max_per_client`] when `principal` is `None`).
    pub fn for_client(principal: Option<Arc<str>>, addr: Option<IpAddr>) -> Arc<Session> {
        Self::build(new_session_id(), principal, addr)
    }

    /// A new connection (stdio, in-memory, HTTP+SSE) for a client at `addr`: its state
    /// lives in the connection scope rather than the session scope.
    pub fn connection(principal: Option<Arc<str>>, addr: Option<IpAddr>) -> Arc<Session> {
        let s = Self::build(new_session_id(), principal, addr);
        s.hooks.fetch_or(FLAG_CONNECTION, Ordering::Relaxed);
        s
    }

    fn build(id: Arc<str>, principal: Option<Arc<str>>, addr: Option<IpAddr>) -> Arc<Session> {
        Arc::new(Session {
            id,
            init: OnceLock::new(),
            initialized: AtomicBool::new(false),
            log_level: AtomicU8::new(0),
            peer: PeerRequests::default(),
            inflight: Mutex::new(HashMap::new()),
            subscriptions: Mutex::new(BTreeSet::new()),
            stream: Mutex::new(None),
            principal,
            last_seen_ms: AtomicU64::new(0),
            filed_ms: AtomicU64::new(0),
            addr,
            closed: AtomicBool::new(false),
            hooks: AtomicU8::new(0),
            rev: AtomicU32::new(0),
        })
    }
    /// The session id (also the `Mcp-Session-Id` header on HTTP).
    pub fn id(&self) -> &str {
        &self.id
    }
    /// The id as a shared string.
    pub fn id_arc(&self) -> Arc<str> {
        self.id.clone()
    }
    /// The principal this session is bound to.
    pub fn principal(&self) -> Option<&str> {
        self.principal.as_deref()
    }
    /// The client address the session was opened from, if known.
    pub fn client_addr(&self) -> Option<IpAddr> {
        self.addr
    }
    /// Whether this is one connection (stdio, in-memory, HTTP+SSE) rather than a
    /// Streamable HTTP session: it decides the scope its state lives in.
    pub fn is_connection(&self) -> bool {
        self.hooks.load(Ordering::Relaxed) & FLAG_CONNECTION != 0
    }
    /// Whether the session's record lives in a [`SessionDirectory`] and this node only
    /// caches it.
    pub fn is_cached(&self) -> bool {
        self.hooks.load(Ordering::Relaxed) & FLAG_CACHED != 0
    }
    /// Marks the session as a cached copy of a directory record (before it is registered).
    pub(crate) fn mark_cached(&self) {
        self.hooks.fetch_or(FLAG_CACHED, Ordering::Relaxed);
    }
    /// Whether the session has a visibility overlay in its state (set on this node, or on
    /// another node and learnt from the directory).
    pub fn has_overlay(&self) -> bool {
        self.hooks.load(Ordering::Relaxed) & FLAG_OVERLAY != 0
    }
    /// Records that the session has a visibility overlay.
    pub(crate) fn set_overlay(&self) {
        self.hooks.fetch_or(FLAG_OVERLAY, Ordering::Relaxed);
    }
    /// The directory revision this node applied last (0: none).
    pub(crate) fn rev(&self) -> u64 {
        u64::from(self.rev.load(Ordering::Acquire))
    }
    /// Notes that the directory record reached `rev` with a change this node made itself.
    pub(crate) fn set_rev(&self, rev: u64) {
        self.rev.store(rev as u32, Ordering::Release);
    }
    /// Applies the mutable part of a directory record: log level, subscriptions, overlay.
    pub(crate) fn apply_record(&self, rec: &DirectoryRecord) {
        self.log_level.store(rec.log_level.min(7), Ordering::Relaxed);
        *lock(&self.subscriptions) = rec.subscriptions.clone();
        if rec.overlay {
            self.set_overlay();
        }
        self.set_rev(rec.rev);
    }
    /// The directory record of an initialized session (`None` before `initialize`).
    pub fn directory_record(&self) -> Option<DirectoryRecord> {
        let init = self.init()?;
        let mut rec = DirectoryRecord::new(crate::events::SessionRecord {
            id: self.id().to_owned(),
            principal: self.principal().map(str::to_owned),
            version: init.version.to_owned(),
            capabilities: serde_json::to_value(&*init.capabilities).unwrap_or_default(),
            client_info: init.info.as_ref().and_then(|i| serde_json::to_value(i).ok()),
        });
        rec.log_level = self.log_rank();
        rec.subscriptions = lock(&self.subscriptions).clone();
        rec.overlay = self.has_overlay();
        Some(rec)
    }
    /// True exactly once: for the caller that must delete the session's state.
    pub(crate) fn claim_cleanup(&self) -> bool {
        self.hooks.fetch_or(FLAG_CLEANUP_CLAIMED, Ordering::AcqRel) & FLAG_CLEANUP_CLAIMED == 0
    }
    /// Records `initialize`; false if the session was already initialized.
    pub fn set_init(&self, init: ClientInit) -> bool {
        self.init.set(init).is_ok()
    }
    /// What the client sent in `initialize`, once it has.
    pub fn init(&self) -> Option<&ClientInit> {
        self.init.get()
    }
    /// Marks `notifications/initialized` as received.
    pub fn mark_initialized(&self) {
        self.initialized.store(true, Ordering::Relaxed);
    }
    /// Whether `notifications/initialized` was received.
    pub fn is_initialized(&self) -> bool {
        self.initialized.load(Ordering::Relaxed)
    }
    /// The current minimum log level (set by `logging/setLevel`).
    pub fn log_rank(&self) -> u8 {
        self.log_level.load(Ordering::Relaxed)
    }
    /// Sets the minimum log level.
    pub fn set_log_level(&self, level: LoggingLevel) {
        self.log_level.store(level_rank(level), Ordering::Relaxed);
    }
    /// Pending server→client requests.
    pub fn peer(&self) -> &PeerRequests {
        &self.peer
    }
    /// Registers an in-flight request so `notifications/cancelled` can reach it.
    pub fn track(&self, id: RequestId, token: CancellationToken) {
        lock(&self.inflight).insert(id, token);
    }
    /// Forgets an in-flight request.
    pub fn untrack(&self, id: &RequestId) {
        lock(&self.inflight).remove(id);
    }
    /// Cancels an in-flight request; false for unknown or finished ids.
    pub fn cancel(&self, id: &RequestId) -> bool {
        match lock(&self.inflight).remove(id) {
            Some(t) => {
                t.cancel();
                true
            }
            None => false,
        }
    }
    /// Subscribes to updates of `uri`.
    pub fn subscribe(&self, uri: String) {
        lock(&self.subscriptions).insert(uri);
    }
    /// Unsubscribes from `uri`.
    pub fn unsubscribe(&self, uri: &str) {
        lock(&self.subscriptions).remove(uri);
    }
    /// Whether the session subscribed to `uri`.
    pub fn is_subscribed(&self, uri: &str) -> bool {
        lock(&self.subscriptions).contains(uri)
    }
    /// Attaches the session's standalone stream (HTTP GET, or the stdio connection).
    pub fn set_stream(&self, out: Option<Outbound>) {
        *lock(&self.stream) = out;
    }
    /// Attaches `out` as the standalone stream unless an open one is attached already
    /// (then `out` is dropped and false returned): one standalone stream per session.
    pub fn try_set_stream(&self, out: Outbound) -> bool {
        let mut slot = lock(&self.stream);
        if slot.as_ref().is_some_and(Outbound::is_open) {
            return false;
        }
        *slot = Some(out);
        true
    }
    /// The standalone stream, if one is open.
    pub fn stream(&self) -> Option<Outbound> {
        lock(&self.stream).as_ref().filter(|o| o.is_open()).cloned()
    }
    /// Whether the standalone stream is currently open.
    pub fn has_stream(&self) -> bool {
        lock(&self.stream).as_ref().is_some_and(Outbound::is_open)
    }
    fn touch(&self, now_ms: u64) {
        self.last_seen_ms.store(now_ms, Ordering::Relaxed);
    }
    /// Marks the session closed: in-flight requests are cancelled, waiting asks fail,
    /// subscriptions end and the standalone stream is detached.
    pub fn close(&self) {
        self.closed.store(true, Ordering::Relaxed);
        for (_, t) in lock(&self.inflight).drain() {
            t.cancel();
        }
        lock(&self.peer.pending).clear();
        lock(&self.subscriptions).clear();
        self.set_stream(None);
    }
    /// Whether the session was closed.
    pub fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Relaxed)
    }
    pub(crate) fn busy(&self) -> bool {
        !lock(&self.inflight).is_empty() || self.has_stream()
    }
}

/// Why a session left the registry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EndReason {
    /// The client ended it: DELETE on Streamable HTTP, or its connection closed (HTTP+SSE).
    Closed,
    /// Idle longer than the timeout; reaped by the server.
    Expired,
    /// Shed to make room when the registry was full; an end by the server, like expiry.
    Shed,
}

impl EndReason {
    fn bits(self) -> u8 {
        match self {
            EndReason::Closed => 0,
            EndReason::Expired => 1,
            EndReason::Shed => 2,
        }
    }
    fn from_bits(b: u8) -> Self {
        match b & 3 {
            0 => EndReason::Closed,
            1 => EndReason::Expired,
            _ => EndReason::Shed,
        }
    }
    /// Whether the server ended the session (idle expiry or shedding), not the client.
    pub fn by_server(self) -> bool {
        !matches!(self, EndReason::Closed)
    }
}

/// What the session lifecycle hooks learn about a session (see
/// [`ServerBuilder::on_session_created`](crate::ServerBuilder::on_session_created)).
///
/// It borrows from the session, so building one costs nothing: copy out what you keep.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub struct SessionInfo<'a> {
    /// The session id (`Mcp-Session-Id`).
    pub id: &'a str,
    /// The principal the session is bound to, hashed (never the raw subject).
    pub principal: Option<&'a str>,
    /// The negotiated protocol version (`None` before `initialize`).
    pub protocol_version: Option<&'static str>,
    /// The client's name and version, if it sent them.
    pub client_info: Option<&'a Implementation>,
    /// Why the session ended: `None` for the created hook.
    pub end_reason: Option<EndReason>,
}

impl<'a> SessionInfo<'a> {
    /// What the hooks are told about `s`.
    pub fn of(s: &'a Session, end_reason: Option<EndReason>) -> Self {
        let init = s.init();
        SessionInfo {
            id: s.id(),
            principal: s.principal(),
            protocol_version: init.map(|i| i.version),
            client_info: init.and_then(|i| i.info.as_ref()),
            end_reason,
        }
    }
}

/// Limits of the legacy session registry.
///
/// ```
/// use ferromcp_core::session::SessionLimits;
/// let l = SessionLimits::default().max_per_client(Some(50));
/// assert_eq!((l.max_sessions, l.max_per_client), (100_000, Some(50)));
/// ```
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub struct SessionLimits {
    /// Sessions idle longer than this are reaped (`None` = never).
    pub idle_timeout: Option<Duration>,
    /// At most this many sessions. A new one in a full table sheds the least recently used
    /// idle session of the client (as for `max_per_client`; sessions with neither are one
    /// client here) holding the most sessions, ties to the one with the oldest session: a
    /// flood sheds only the flooder's own. If the heaviest have none idle, the least
    /// recently used idle session of all goes. Default 100,000.
    pub max_sessions: usize,
    /// At most this many sessions per client: per principal when authenticated, else per
    /// client address (IPv4 address or IPv6 /64; sessions with neither, such as stdio,
    /// are not counted). A client at its cap that opens another session sheds its own
    /// least recently used idle session; if none is idle the new session is refused
    /// ([`SessionRefused`], HTTP 429). `None` = no per-client cap. Default 1,000.
    ///
    /// Behind a reverse proxy every unauthenticated client has the proxy's address:
    /// authenticate clients, or raise this (or set `None`).
    pub max_per_client: Option<usize>,
}

impl Default for SessionLimits {
    fn default() -> Self {
        SessionLimits {
            idle_timeout: Some(Duration::from_secs(30 * 60)),
            max_sessions: 100_000,
            max_per_client: Some(1_000),
        }
    }
}

impl SessionLimits {
    /// Sets how long an idle session lives (`None`: forever); see [`idle_timeout`](Self::idle_timeout).
    pub fn idle_timeout(mut self, t: Option<Duration>) -> Self {
        self.idle_timeout = t;
        self
    }
    /// Sets the most sessions at once; see [`max_sessions`](Self::max_sessions).
    pub fn max_sessions(mut self, n: usize) -> Self {
        self.max_sessions = n;
        self
    }
    /// Sets the most sessions of one client address; see [`max_per_client`](Self::max_per_client).
    pub fn max_per_client(mut self, n: Option<usize>) -> Self {
        self.max_per_client = n;
        self
    }
}

/// Counters of the session registry.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SessionMetrics {
    /// Sessions open now.
    pub open: u64,
    /// Sessions created since start.
    pub created: u64,
    /// Sessions ended by DELETE or close.
    pub ended: u64,
    /// Sessions reaped for idleness.
    pub expired: u64,
    /// Sessions shed because the registry was full.
    pub shed: u64,
}

impl SessionMetrics {
    /// The counters in the Prometheus text exposition format (version 0.0.4):
    /// `ferromcp_sessions_open` (gauge) and `ferromcp_sessions_{created,ended,expired,shed}_total`
    /// (counters), each with `# HELP` and `# TYPE` lines.
    ///
    /// ```
    /// let text = ferromcp_core::session::SessionMetrics { open: 2, created: 5, ..Default::default() }.to_prometheus();
    /// assert!(text.contains("# TYPE ferromcp_sessions_open gauge\nferromcp_sessions_open 2\n"));
    /// assert!(text.contains("ferromcp_sessions_created_total 5\n"));
    /// ```
    pub fn to_prometheus(&self) -> String {
        use std::fmt::Write as _;
        let rows: [(&str, &str, &str, u64); 5] = [
            ("ferromcp_sessions_open", "gauge", "Legacy MCP sessions open now.", self.open),
            ("ferromcp_sessions_created_total", "counter", "Legacy MCP sessions created.", self.created),
            ("ferromcp_sessions_ended_total", "counter", "Legacy MCP sessions ended by the client.", self.ended),
            ("ferromcp_sessions_expired_total", "counter", "Legacy MCP sessions reaped for idleness.", self.expired),
            ("ferromcp_sessions_shed_total", "counter", "Legacy MCP sessions shed by a full registry.", self.shed),
        ];
        let mut out = String::with_capacity(800);
        for (name, kind, help, value) in rows {
            let _ = write!(out, "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}\n");
        }
        out
    }
}

#[cfg(test)]
mod tests;
