//! The server side of a [`SessionDirectory`]: how a node looks a legacy session up (its
//! cache, then the directory, one round trip per request), registers one after
//! `initialize`, ends one on DELETE, persists the client's changes, and takes part in the
//! cluster's expiry sweep.
//!
//! The rule that keeps nodes from hurting each other: a node's registry only *caches*
//! directory sessions ([`Session::is_cached`]), and dropping a cached session does nothing
//! but drop it. A session really ends when one node *claims* it in the directory (DELETE,
//! the sweep of idle sessions, or shedding by a full directory); that node alone runs the
//! end hooks and deletes the session's state and events. Nothing here runs without a
//! directory: the default registry path is unchanged.

use std::sync::Arc;

use crate::error::{ProtocolError, code};
use crate::events::EventStore;
use crate::protocol::{Implementation, LEGACY_VERSIONS};
use crate::server::{Server, SessionHook};
use crate::session::{
    Change, ClientInit, DirectoryRecord, EndReason, ReaperGuard, Session, SessionDirectory, SessionInfo, Touched,
};
use crate::state::{SessionScope, StoreError};

/// Sessions claimed per sweep round; rounds repeat until one claims fewer.
const SWEEP_BATCH: usize = 256;

/// The answer to a request that needs the directory while it cannot be reached.
pub(crate) fn directory_unavailable(e: &StoreError) -> ProtocolError {
    ProtocolError::new(
        code::INTERNAL_ERROR,
        format!("Service Unavailable: the session directory cannot be reached ({e}); retry shortly"),
    )
    .with_status(503)
}

/// Runs one user hook; a panicking hook is logged and does not stop the others.
fn run_hooks(hooks: &[SessionHook], info: &SessionInfo<'_>) {
    for h in hooks {
        if std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| h(info))).is_err() {
            tracing::error!("a session hook panicked");
        }
    }
}

impl Server {
    /// The session directory, if the server shares its legacy sessions through one.
    pub fn session_directory(&self) -> Option<&Arc<dyn SessionDirectory>> {
        self.inner.directory.as_ref()
    }

    /// The directory path of session lookup: the cached session (touched in the
    /// directory, reloaded if another node changed it) or the record loaded into a new
    /// cached session. One directory round trip either way.
    pub(crate) async fn lookup_in_directory(
        &self,
        dir: &Arc<dyn SessionDirectory>,
        id: &str,
        hashed: Option<&str>,
    ) -> Result<Option<Arc<Session>>, ProtocolError> {
        let limits = self.inner.config.session_limits;
        let cached = self.inner.sessions.get(id);
        if let Some(s) = &cached
            && s.principal() != hashed
        {
            return Ok(None);
        }
        let known = cached.as_ref().map_or(0, |s| s.rev());
        let touched = dir.touch(id, known, &limits).await.map_err(|e| directory_unavailable(&e))?;
        match (touched, cached) {
            (Touched::Gone, Some(s)) => {
                // Ended elsewhere (or idle past the timeout): drop the copy, nothing more.
                self.inner.sessions.remove(id);
                s.close();
                Ok(None)
            }
            (Touched::Gone, None) => Ok(None),
            (Touched::Unchanged, Some(s)) => Ok(Some(s)),
            (Touched::Changed(rec), Some(s)) => {
                s.apply_record(&rec);
                Ok(Some(s))
            }
            (Touched::Unchanged, None) => Ok(None),
            (Touched::Changed(rec), None) => Ok(self.cache_record(&rec, hashed)),
        }
    }

    /// A cached session made from a directory record, registered in this node's table
    /// (or the one a concurrent request registered first).
    fn cache_record(&self, rec: &DirectoryRecord, hashed: Option<&str>) -> Option<Arc<Session>> {
        if rec.session.principal.as_deref() != hashed {
            return None;
        }
        let version = LEGACY_VERSIONS.iter().copied().find(|v| *v == rec.session.version)?;
        let session = Session::with_id(rec.id().into(), rec.session.principal.as_deref().map(Arc::from));
        session.set_init(ClientInit {
            version,
            capabilities: Arc::new(serde_json::from_value(rec.session.capabilities.clone()).unwrap_or_default()),
            info: rec.session.client_info.clone().and_then(|v| serde_json::from_value(v).ok()),
        });
        session.mark_initialized();
        session.mark_cached();
        session.apply_record(rec);
        Some(self.inner.sessions.insert(session))
    }

    /// Registers a session whose `initialize` succeeded: in this node's table (the
    /// per-client cap) and in the directory (the cluster-wide bound, which may shed the
    /// least recently seen session of the cluster). Runs the created hooks.
    pub(crate) async fn register_in_directory(
        &self,
        dir: &Arc<dyn SessionDirectory>,
        s: &Arc<Session>,
        events: Option<&Arc<dyn EventStore>>,
    ) -> Result<(), ProtocolError> {
        let Some(record) = s.directory_record() else {
            return Err(ProtocolError::internal("a session without initialize data cannot be registered"));
        };
        s.mark_cached();
        self.inner.sessions.try_insert(s.clone())?;
        let limits = self.inner.config.session_limits;
        let shed = match dir.create(&record, &limits).await {
            Ok(shed) => shed,
            Err(e) => {
                self.inner.sessions.remove(s.id());
                return Err(directory_unavailable(&e));
            }
        };
        s.set_rev(record.rev);
        run_hooks(&self.inner.hooks.created, &SessionInfo::of(s, None));
        for rec in shed {
            self.end_claimed(&rec, EndReason::Shed, events).await;
        }
        Ok(())
    }

    /// DELETE of a directory session: claims it; the claiming node drops its copy,
    /// deletes its state and events and runs the ended hooks. `Ok(false)` if another node
    /// (or the sweep) claimed it first.
    pub(crate) async fn end_in_directory(
        &self,
        dir: &Arc<dyn SessionDirectory>,
        s: &Arc<Session>,
        events: Option<&Arc<dyn EventStore>>,
    ) -> Result<bool, ProtocolError> {
        let claimed = dir.remove(s.id()).await.map_err(|e| directory_unavailable(&e))?;
        self.inner.sessions.remove(s.id());
        s.close();
        if claimed.is_none() {
            return Ok(false);
        }
        self.clear_session_data(s.id(), events).await;
        run_hooks(&self.inner.hooks.ended, &SessionInfo::of(s, Some(EndReason::Closed)));
        Ok(true)
    }

    /// Ends a session this node claimed in the directory (swept or shed): drops the
    /// local copy, deletes state and events, runs the expired hooks.
    async fn end_claimed(&self, rec: &DirectoryRecord, why: EndReason, events: Option<&Arc<dyn EventStore>>) {
        if let Some(s) = self.inner.sessions.get(rec.id()) {
            self.inner.sessions.remove(rec.id());
            s.close();
        }
        self.clear_session_data(rec.id(), events).await;
        let info: Option<Implementation> = rec.session.client_info.clone().and_then(|v| serde_json::from_value(v).ok());
        let view = SessionInfo {
            id: rec.id(),
            principal: rec.session.principal.as_deref(),
            protocol_version: LEGACY_VERSIONS.iter().copied().find(|v| *v == rec.session.version),
            client_info: info.as_ref(),
            end_reason: Some(why),
        };
        run_hooks(&self.inner.hooks.expired, &view);
    }

    /// Deletes the state and the events of session `id` (best effort, logged).
    async fn clear_session_data(&self, id: &str, events: Option<&Arc<dyn EventStore>>) {
        let scope = SessionScope::Session(id.into());
        if let Err(e) = self.clear_scope(&scope).await {
            tracing::warn!(session = %id, "could not delete an ended session's state: {e}");
        }
        if let Some(store) = events
            && let Err(e) = store.remove_session(id).await
        {
            tracing::warn!(session = %id, "could not delete an ended session's events: {e}");
        }
    }

    /// Persists a change the client made to its session (log level, subscription,
    /// visibility overlay) so every node sees it. Nothing to do without a directory.
    pub(crate) async fn persist_change(&self, s: &Session, change: Change) -> Result<(), ProtocolError> {
        let Some(dir) = self.inner.directory.as_ref().filter(|_| s.is_cached()) else { return Ok(()) };
        let before = s.rev();
        match dir.update(s.id(), &change).await {
            // Only when no other node changed the record meanwhile: otherwise the next
            // touch brings every change.
            Ok(Some(rev)) if rev == before + 1 => s.set_rev(rev),
            Ok(_) => {}
            Err(e) => return Err(directory_unavailable(&e)),
        }
        Ok(())
    }

    /// One round of the cluster's expiry: touches the sessions this node is busy with
    /// (a request in flight or a stream open keeps a session alive everywhere), then
    /// claims idle sessions in batches and ends each one claimed.
    pub(crate) async fn sweep_directory(&self, events: Option<&Arc<dyn EventStore>>) {
        let Some(dir) = self.inner.directory.clone() else { return };
        let limits = self.inner.config.session_limits;
        for s in self.inner.sessions.all().into_iter().filter(|s| s.is_cached() && s.busy()) {
            if let Err(e) = dir.touch(s.id(), s.rev(), &limits).await {
                tracing::warn!("session directory sweep: {e}");
                return;
            }
        }
        loop {
            let claimed = match dir.sweep(&limits, SWEEP_BATCH).await {
                Ok(c) => c,
                Err(e) => {
                    tracing::warn!("session directory sweep: {e}");
                    return;
                }
            };
            for rec in &claimed {
                self.end_claimed(rec, EndReason::Expired, events).await;
            }
            if claimed.len() < SWEEP_BATCH {
                return;
            }
        }
    }

    /// Starts the idle-session reaper on the current tokio runtime: the registry's
    /// reaper, and with a session directory the cluster sweep (which deletes the events
    /// of the sessions it ends from `events`). Both stop when the guard drops.
    pub fn start_reaper(&self, events: Option<Arc<dyn EventStore>>) -> ReaperGuard {
        let guard = self.inner.sessions.start_reaper();
        let (Some(_), Some(timeout)) = (&self.inner.directory, self.inner.config.session_limits.idle_timeout) else {
            return guard;
        };
        let period = crate::session::sweep_period(timeout);
        let weak = Arc::downgrade(&self.inner);
        guard.with(tokio::spawn(async move {
            let mut tick = tokio::time::interval(period);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                let Some(inner) = weak.upgrade() else { break };
                Server { inner }.sweep_directory(events.as_ref()).await;
            }
        }))
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    use serde_json::json;

    use super::*;
    use crate::protocol::V_2025_11_25;
    use crate::session::{MemorySessionDirectory, SessionLimits};
    use crate::state::{MemoryStore, StateStore};

    #[tokio::test]
    async fn a_node_that_drops_its_cached_copy_ends_nothing_and_the_sweep_ends_it_once() {
        let dir = MemorySessionDirectory::new();
        let store: Arc<dyn StateStore> = Arc::new(MemoryStore::new());
        let idle = Duration::from_millis(150);
        let limits = SessionLimits::default().idle_timeout(Some(idle));
        let (expired, ended) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
        let node = || {
            let (x, e) = (expired.clone(), ended.clone());
            Server::builder("t", "1")
                .sealing_key([1u8; 32])
                .session_limits(limits)
                .state_store_arc(store.clone())
                .session_directory(dir.clone())
                .on_session_expired(move |_| {
                    x.fetch_add(1, Ordering::SeqCst);
                })
                .on_session_ended(move |_| {
                    e.fetch_add(1, Ordering::SeqCst);
                })
                .build()
        };
        let (a, b) = (node(), node());
        let s = Session::new(None);
        s.set_init(ClientInit { version: V_2025_11_25, capabilities: Arc::default(), info: None });
        s.mark_initialized();
        let dir_a = a.session_directory().unwrap().clone();
        a.register_in_directory(&dir_a, &s, None).await.unwrap();
        let key = format!("{}k", a.keys().session_prefix(&s));
        store.put(&key, json!(1), None).await.unwrap();
        let on_b = b.lookup_session(s.id(), None, None).await.unwrap().expect("B serves the session");
        assert!(on_b.is_cached());

        // The session stays in use on A while B's copy goes idle and B's reaper drops it.
        tokio::time::sleep(idle / 2).await;
        assert!(a.lookup_session(s.id(), None, None).await.unwrap().is_some());
        tokio::time::sleep(idle / 2 + Duration::from_millis(30)).await;
        assert!(a.lookup_session(s.id(), None, None).await.unwrap().is_some());
        assert_eq!(b.sessions().reap(), 1, "B drops its idle copy");
        b.sweep_directory(None).await;
        assert_eq!((expired.load(Ordering::SeqCst), ended.load(Ordering::SeqCst)), (0, 0), "no hook ran");
        assert!(store.get(&key).await.unwrap().is_some(), "dropping a copy deletes no state");
        assert!(b.lookup_session(s.id(), None, None).await.unwrap().is_some(), "B serves it again");

        // Idle everywhere: one sweep ends it, once, and its state goes with it.
        tokio::time::sleep(idle + Duration::from_millis(50)).await;
        a.sweep_directory(None).await;
        b.sweep_directory(None).await;
        a.sweep_directory(None).await;
        assert_eq!((expired.load(Ordering::SeqCst), ended.load(Ordering::SeqCst)), (1, 0), "expired once");
        assert!(store.get(&key).await.unwrap().is_none(), "the claiming node deleted the state");
        assert!(a.lookup_session(s.id(), None, None).await.unwrap().is_none());
        assert!(b.lookup_session(s.id(), None, None).await.unwrap().is_none());
    }

    #[test]
    fn a_directory_without_a_sealing_key_refuses_to_build() {
        let err = Server::builder("t", "1").session_directory(MemorySessionDirectory::new()).try_build().unwrap_err();
        let text = err.to_string();
        assert!(text.contains("ServerBuilder::sealing_key") && text.contains("FERROMCP_SEALING_KEYS"), "{text}");
    }
}
