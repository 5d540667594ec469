//! The purge task shared by the in-memory stores ([`crate::state::MemoryStore`],
//! [`crate::events::MemoryEventStore`]): it frees expired entries, sleeping exactly until
//! the next deadline (or until woken because an earlier one appeared). It holds only a
//! weak reference to its store between rounds, starts on first use inside a runtime, and
//! is aborted when the store is dropped (mini-redis's `db.rs` layout).

use std::sync::{Arc, OnceLock, Weak};

use tokio::sync::Notify;
use tokio::time::Instant;

/// Frees what expired at `now` in the store; returns the next deadline, if any.
pub(crate) type PurgeFn<T> = fn(&T, Instant) -> Option<Instant>;

/// Owns a store's purge task.
#[derive(Default)]
pub(crate) struct Purger {
    wake: Arc<Notify>,
    task: OnceLock<tokio::task::JoinHandle<()>>,
}

impl Purger {
    /// Starts the task for `owner` if it is not running and a runtime is available.
    pub(crate) fn ensure<T: Send + Sync + 'static>(&self, owner: &Arc<T>, purge: PurgeFn<T>) {
        if self.task.get().is_some() {
            return;
        }
        let Ok(rt) = tokio::runtime::Handle::try_current() else { return };
        let (weak, wake) = (Arc::downgrade(owner), self.wake.clone());
        let _ = self.task.get_or_init(|| rt.spawn(purge_loop(weak, wake, purge)));
    }

    /// Tells the task an earlier deadline appeared.
    pub(crate) fn wake(&self) {
        self.wake.notify_one();
    }
}

impl Drop for Purger {
    fn drop(&mut self) {
        if let Some(t) = self.task.get() {
            t.abort();
        }
    }
}

async fn purge_loop<T>(weak: Weak<T>, wake: Arc<Notify>, purge: PurgeFn<T>) {
    loop {
        let next = {
            let Some(owner) = weak.upgrade() else { return };
            purge(&owner, Instant::now())
        };
        let woken = wake.notified();
        match next {
            Some(at) => {
                tokio::select! {
                    _ = tokio::time::sleep_until(at) => {}
                    _ = woken => {}
                }
            }
            None => woken.await,
        }
    }
}
