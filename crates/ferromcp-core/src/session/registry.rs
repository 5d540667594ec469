//! [`SessionRegistry`]: the table of legacy sessions, its lifecycle hooks, its limits
//! (idle expiry by a reaper task owned by a guard, a global bound that sheds the least
//! recently used idle session of the client holding the most sessions, a per-client
//! bound) and its counters. The ordered indexes that make shedding and expiry cheap live
//! in `index.rs`.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::{EndReason, Session, SessionLimits, SessionMetrics, index, lock};
use crate::error::ProtocolError;

// `Session::hooks` bits: the created hooks have returned; the session has ended (its
// reason in the two bits above). Whichever of inserter and ender comes second runs the
// end hooks, so they always follow the created hooks and run exactly once.
const HOOK_CREATED_DONE: u8 = 1;
const HOOK_ENDED: u8 = 2;
const HOOK_REASON_SHIFT: u8 = 2;

/// A new session was refused: its client is at [`SessionLimits::max_per_client`] and
/// none of its sessions is idle. Its `Display` names the limit and what to do; as a
/// [`ProtocolError`] it is JSON-RPC -32600 with HTTP status 429.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct SessionRefused {
    /// The per-client cap in force.
    pub limit: usize,
}

impl std::fmt::Display for SessionRefused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Too many sessions for this client: it has {} (SessionLimits::max_per_client), all in use; \
             end one (DELETE) or let one go idle, then retry",
            self.limit
        )
    }
}

impl std::error::Error for SessionRefused {}

impl From<SessionRefused> for ProtocolError {
    fn from(e: SessionRefused) -> Self {
        ProtocolError::invalid_request(e.to_string()).with_status(429)
    }
}

type CreatedHook = Arc<dyn Fn(&Arc<Session>) + Send + Sync>;
type EndHook = Arc<dyn Fn(&Arc<Session>, EndReason) + Send + Sync>;

/// Runs one hook; a panicking hook is logged and does not stop the others (or the reaper).
fn run_hook(what: &str, f: impl FnOnce()) {
    if std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).is_err() {
        tracing::error!("a session {what} hook panicked");
    }
}

/// The legacy HTTP session table.
///
/// # Lifecycle hooks
/// [`on_created`](Self::on_created) hooks run once per session, when [`insert`](Self::insert)
/// adds it; [`on_end`](Self::on_end) hooks run once per session, when it leaves
/// ([`remove`](Self::remove), [`reap`](Self::reap), or shedding in `insert`). A session's
/// end hooks always run after its created hooks have returned (if it ends while they run,
/// the end hooks run right after them, on the inserting thread). No hook runs under the
/// registry's lock, so hooks may call back into the registry; a panicking hook is logged.
///
/// Sessions cached from a [`SessionDirectory`](super::SessionDirectory)
/// ([`Session::is_cached`]) fire no hook here: the directory decides when they really
/// end, and the server runs the hooks then (see `engine::directory`).
pub struct SessionRegistry {
    pub(super) sessions: Mutex<index::Table>,
    limits: SessionLimits,
    epoch: Instant,
    created: AtomicU64,
    ended: AtomicU64,
    expired: AtomicU64,
    shed: AtomicU64,
    on_created: Mutex<Arc<[CreatedHook]>>,
    on_end: Mutex<Arc<[EndHook]>>,
}

impl SessionRegistry {
    /// An empty registry with `limits`.
    pub fn new(limits: SessionLimits) -> Self {
        SessionRegistry {
            sessions: Mutex::new(index::Table::default()),
            limits,
            epoch: Instant::now(),
            created: AtomicU64::new(0),
            ended: AtomicU64::new(0),
            expired: AtomicU64::new(0),
            shed: AtomicU64::new(0),
            on_created: Mutex::new(Arc::new([])),
            on_end: Mutex::new(Arc::new([])),
        }
    }

    fn now_ms(&self) -> u64 {
        self.epoch.elapsed().as_millis() as u64
    }

    /// The limits in force.
    pub fn limits(&self) -> SessionLimits {
        self.limits
    }

    /// Registers a hook called once for every session that enters the registry. Keep it
    /// cheap: it runs on the request that created the session.
    pub fn on_created(&self, f: impl Fn(&Arc<Session>) + Send + Sync + 'static) {
        let mut hooks = lock(&self.on_created);
        *hooks = hooks.iter().cloned().chain([Arc::new(f) as CreatedHook]).collect();
    }

    /// Registers a hook called once whenever a session leaves the registry. Keep it cheap:
    /// it runs on the request or the reaper that ended the session.
    pub fn on_end(&self, f: impl Fn(&Arc<Session>, EndReason) + Send + Sync + 'static) {
        let mut hooks = lock(&self.on_end);
        *hooks = hooks.iter().cloned().chain([Arc::new(f) as EndHook]).collect();
    }

    /// Runs the created hooks of a session just inserted, then its end hooks if it ended
    /// meanwhile.
    fn announce(&self, s: &Arc<Session>) {
        if s.is_cached() {
            return;
        }
        let hooks = lock(&self.on_created).clone();
        for h in hooks.iter() {
            run_hook("created", || h(s));
        }
        let prev = s.hooks.fetch_or(HOOK_CREATED_DONE, Ordering::AcqRel);
        if prev & HOOK_ENDED != 0 {
            self.run_end_hooks(s, EndReason::from_bits(prev >> HOOK_REASON_SHIFT));
        }
    }

    /// Closes a session that left the map and runs its end hooks (or leaves them to
    /// `announce` if its created hooks have not returned yet).
    fn fire_end(&self, s: &Arc<Session>, why: EndReason) {
        s.close();
        if s.is_cached() {
            // A cached copy of a directory record: the directory decides its real end.
            return;
        }
        let prev = s.hooks.fetch_or(HOOK_ENDED | (why.bits() << HOOK_REASON_SHIFT), Ordering::AcqRel);
        if prev & HOOK_CREATED_DONE != 0 {
            self.run_end_hooks(s, why);
        }
    }

    fn run_end_hooks(&self, s: &Arc<Session>, why: EndReason) {
        let hooks = lock(&self.on_end).clone();
        for h in hooks.iter() {
            run_hook("end", || h(s, why));
        }
    }

    /// Inserts a session and returns the session now registered under its id: `s`, or the
    /// one already there (a session restored twice concurrently is registered, and
    /// announced, once).
    ///
    /// If `s`'s client is at [`SessionLimits::max_per_client`], its own least recently
    /// used idle session is shed first (if it has none idle, `s` is inserted anyway: use
    /// [`try_insert`](Self::try_insert) to refuse instead). If the registry is full, the
    /// least recently used idle session of the client that holds the most sessions is
    /// shed (ties: the client whose least recent session is oldest), so a client opening
    /// many sessions sheds its own, never the others'. If that client's sessions are all
    /// busy, the next heaviest client's is taken (up to 8 clients are tried), else the
    /// least recently used idle session of all, else the least recently used one.
    /// Sessions with neither a principal nor an address count as one client here.
    pub fn insert(&self, s: Arc<Session>) -> Arc<Session> {
        match self.insert_inner(s, false) {
            Ok(s) => s,
            Err((s, _)) => s,
        }
    }

    /// Like [`insert`](Self::insert), but refuses the session when its client is at
    /// [`SessionLimits::max_per_client`] with no idle session to shed.
    pub fn try_insert(&self, s: Arc<Session>) -> Result<Arc<Session>, SessionRefused> {
        self.insert_inner(s, true).map_err(|(_, e)| e)
    }

    /// Whether a new session of `s`'s client would be refused right now (a cheap check
    /// before running `initialize`; [`try_insert`](Self::try_insert) decides for good).
    pub fn admits(&self, s: &Session) -> Result<(), SessionRefused> {
        let Some(cap) = self.limits.max_per_client else { return Ok(()) };
        let key = index::ClientKey::of(s);
        let mut t = lock(&self.sessions);
        if !key.capped() || t.count(&key) < cap {
            return Ok(());
        }
        let mut n = t.count(&key);
        match t.pick(Some(&key), self.now_ms(), &mut n, false) {
            Some(_) => Ok(()),
            None => Err(SessionRefused { limit: cap }),
        }
    }

    fn insert_inner(&self, s: Arc<Session>, refuse: bool) -> Result<Arc<Session>, (Arc<Session>, SessionRefused)> {
        let now = self.now_ms();
        s.touch(now);
        let key = index::ClientKey::of(&s);
        let mut shed: [Option<Arc<Session>>; 2] = [None, None];
        {
            let mut t = lock(&self.sessions);
            if let Some(existing) = t.map.get(&s.id) {
                existing.touch(now);
                return Ok(existing.clone());
            }
            if let Some(cap) = self.limits.max_per_client
                && key.capped()
                && t.count(&key) >= cap
            {
                let mut n = t.count(&key);
                match t.pick(Some(&key), now, &mut n, false) {
                    Some(v) => shed[0] = t.take(&v.id),
                    None if refuse => return Err((s, SessionRefused { limit: cap })),
                    None => {}
                }
            }
            if t.map.len() >= self.limits.max_sessions
                && let Some(v) = t.pick_to_shed(now)
            {
                shed[1] = t.take(&v.id);
            }
            t.add(s.clone(), now);
        }
        self.created.fetch_add(1, Ordering::Relaxed);
        for v in shed.iter().flatten() {
            self.shed.fetch_add(1, Ordering::Relaxed);
            self.fire_end(v, EndReason::Shed);
        }
        self.announce(&s);
        Ok(s)
    }

    /// Looks a session up and marks it active.
    pub fn get(&self, id: &str) -> Option<Arc<Session>> {
        let s = lock(&self.sessions).map.get(id).cloned()?;
        s.touch(self.now_ms());
        Some(s)
    }

    /// Removes a session (DELETE, or its connection closed); false if it did not exist.
    pub fn remove(&self, id: &str) -> bool {
        let s = lock(&self.sessions).take(id);
        match s {
            Some(s) => {
                self.ended.fetch_add(1, Ordering::Relaxed);
                self.fire_end(&s, EndReason::Closed);
                true
            }
            None => false,
        }
    }

    /// Reaps sessions idle longer than the timeout; returns how many. Works in batches
    /// (the registry's lock is released between them) from the front of the last-seen
    /// index: it never scans the sessions that are not expired.
    pub fn reap(&self) -> usize {
        const BATCH: usize = 1024;
        let Some(timeout) = self.limits.idle_timeout else { return 0 };
        let limit = timeout.as_millis() as u64;
        let mut reaped = 0;
        loop {
            let now = self.now_ms();
            let (victims, more) = {
                let mut t = lock(&self.sessions);
                let batch = t.reap_batch(now, limit, BATCH);
                t.shrink();
                batch
            };
            for s in &victims {
                self.expired.fetch_add(1, Ordering::Relaxed);
                self.fire_end(s, EndReason::Expired);
            }
            reaped += victims.len();
            if !more {
                return reaped;
            }
        }
    }

    /// Starts the idle reaper on the current tokio runtime; it stops when the guard drops.
    pub fn start_reaper(self: &Arc<Self>) -> ReaperGuard {
        let Some(timeout) = self.limits.idle_timeout else { return ReaperGuard(Vec::new()) };
        let period = (timeout / 4).clamp(Duration::from_millis(50), Duration::from_secs(30));
        let weak = Arc::downgrade(self);
        let task = tokio::spawn(async move {
            let mut tick = tokio::time::interval(period);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                let Some(reg) = weak.upgrade() else { break };
                reg.reap();
            }
        });
        ReaperGuard(vec![task])
    }

    /// A snapshot of the counters.
    pub fn metrics(&self) -> SessionMetrics {
        SessionMetrics {
            open: lock(&self.sessions).map.len() as u64,
            created: self.created.load(Ordering::Relaxed),
            ended: self.ended.load(Ordering::Relaxed),
            expired: self.expired.load(Ordering::Relaxed),
            shed: self.shed.load(Ordering::Relaxed),
        }
    }

    /// Every open session (for broadcasts such as list_changed).
    pub fn all(&self) -> Vec<Arc<Session>> {
        lock(&self.sessions).map.values().cloned().collect()
    }
}

/// Owns the reaper task (and, with a session directory, the cluster sweep); dropping it
/// stops them.
#[must_use = "the reaper stops when the guard is dropped"]
pub struct ReaperGuard(Vec<tokio::task::JoinHandle<()>>);

impl ReaperGuard {
    /// The guard also owns `task`.
    pub(crate) fn with(mut self, task: tokio::task::JoinHandle<()>) -> Self {
        self.0.push(task);
        self
    }
}

impl Drop for ReaperGuard {
    fn drop(&mut self) {
        for t in self.0.drain(..) {
            t.abort();
        }
    }
}
