//! Store metrics: every state-store and event-store operation counted by outcome and
//! timed, through the [`metrics`] facade (like the request metrics of `dispatch`):
//!
//! - `ferromcp_store_operations_total{store, op, outcome}`: a counter; `store` is
//!   `state` or `events`, `op` the trait method (`get`, `put_in_scope`, `append`, ...),
//!   `outcome` `ok` or `error`.
//! - `ferromcp_store_operation_duration_seconds{store, op}`: a histogram.
//!
//! The server wraps its state store in [`MeteredStateStore`] at build; `ferromcp-http`
//! wraps the event store of its config in [`MeteredEventStore`]. While metrics are off
//! (`ferromcp_core::dispatch::set_metrics_enabled`, turned on by the
//! HTTP metrics route) a wrapper hands back the inner store's future as is: no extra
//! allocation, nothing recorded.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use serde_json::Value;

use std::sync::atomic::{AtomicBool, Ordering};

use crate::events::{EventId, EventStore, SessionRecord, StoredEvent, StreamKey};
use crate::state::{Entry, ScopeLimit, StateStore, StoreError, StoreFuture, Version};

/// Store operations, by `store`, `op` and `outcome` (a counter).
pub const STORE_OPERATIONS_TOTAL: &str = "ferromcp_store_operations_total";
/// Store operation latency, by `store` and `op` (a histogram, seconds).
pub const STORE_OPERATION_DURATION_SECONDS: &str = "ferromcp_store_operation_duration_seconds";

/// Whether store metrics are recorded; set with the request metrics by
/// `dispatch::set_metrics_enabled` (this module does not name `dispatch`, which depends
/// on the server, which wraps its store here).
static ENABLED: AtomicBool = AtomicBool::new(false);

pub(crate) fn set_enabled(on: bool) {
    ENABLED.store(on, Ordering::Relaxed);
}

fn observe<'a, T: 'a>(
    store: &'static str,
    op: &'static str,
    fut: StoreFuture<'a, Result<T, StoreError>>,
) -> StoreFuture<'a, Result<T, StoreError>> {
    if !ENABLED.load(Ordering::Relaxed) {
        return fut;
    }
    Box::pin(async move {
        let start = Instant::now();
        let out = fut.await;
        let outcome = if out.is_ok() { "ok" } else { "error" };
        metrics::counter!(STORE_OPERATIONS_TOTAL, "store" => store, "op" => op, "outcome" => outcome).increment(1);
        metrics::histogram!(STORE_OPERATION_DURATION_SECONDS, "store" => store, "op" => op)
            .record(start.elapsed().as_secs_f64());
        out
    })
}

/// A [`StateStore`] that records [store metrics](self) for another.
pub struct MeteredStateStore(pub Arc<dyn StateStore>);

impl StateStore for MeteredStateStore {
    fn get<'a>(&'a self, key: &'a str) -> StoreFuture<'a, Result<Option<Entry>, StoreError>> {
        observe("state", "get", self.0.get(key))
    }
    fn put<'a>(&'a self, key: &'a str, value: Value, ttl: Option<Duration>) -> StoreFuture<'a, Result<(), StoreError>> {
        observe("state", "put", self.0.put(key, value, ttl))
    }
    fn delete<'a>(&'a self, key: &'a str) -> StoreFuture<'a, Result<bool, StoreError>> {
        observe("state", "delete", self.0.delete(key))
    }
    fn compare_and_swap<'a>(
        &'a self,
        key: &'a str,
        expected: Option<&'a Version>,
        new: Option<Value>,
        ttl: Option<Duration>,
    ) -> StoreFuture<'a, Result<bool, StoreError>> {
        observe("state", "compare_and_swap", self.0.compare_and_swap(key, expected, new, ttl))
    }
    fn delete_prefix<'a>(&'a self, prefix: &'a str) -> StoreFuture<'a, Result<u64, StoreError>> {
        observe("state", "delete_prefix", self.0.delete_prefix(prefix))
    }
    fn count_prefix<'a>(&'a self, prefix: &'a str, limit: u64) -> StoreFuture<'a, Result<Option<u64>, StoreError>> {
        observe("state", "count_prefix", self.0.count_prefix(prefix, limit))
    }
    fn put_in_scope<'a>(
        &'a self,
        key: &'a str,
        value: Value,
        ttl: Option<Duration>,
        scope: ScopeLimit<'a>,
    ) -> StoreFuture<'a, Result<(), StoreError>> {
        observe("state", "put_in_scope", self.0.put_in_scope(key, value, ttl, scope))
    }
    fn compare_and_swap_in_scope<'a>(
        &'a self,
        key: &'a str,
        expected: Option<&'a Version>,
        new: Option<Value>,
        ttl: Option<Duration>,
        scope: ScopeLimit<'a>,
    ) -> StoreFuture<'a, Result<bool, StoreError>> {
        observe("state", "compare_and_swap_in_scope", self.0.compare_and_swap_in_scope(key, expected, new, ttl, scope))
    }
    fn delete_in_scope<'a>(&'a self, key: &'a str, prefix: &'a str) -> StoreFuture<'a, Result<bool, StoreError>> {
        observe("state", "delete_in_scope", self.0.delete_in_scope(key, prefix))
    }
}

/// An [`EventStore`] that records [store metrics](self) for another.
pub struct MeteredEventStore(pub Arc<dyn EventStore>);

impl EventStore for MeteredEventStore {
    fn append<'a>(&'a self, key: &'a StreamKey, data: Bytes) -> StoreFuture<'a, Result<EventId, StoreError>> {
        observe("events", "append", self.0.append(key, data))
    }
    fn replay_after<'a>(
        &'a self,
        session: &'a str,
        last: &'a EventId,
    ) -> StoreFuture<'a, Result<Option<Vec<StoredEvent>>, StoreError>> {
        observe("events", "replay_after", self.0.replay_after(session, last))
    }
    fn remove_session<'a>(&'a self, session: &'a str) -> StoreFuture<'a, Result<(), StoreError>> {
        observe("events", "remove_session", self.0.remove_session(session))
    }
    fn save_session<'a>(&'a self, record: &'a SessionRecord) -> StoreFuture<'a, Result<(), StoreError>> {
        observe("events", "save_session", self.0.save_session(record))
    }
    fn load_session<'a>(&'a self, id: &'a str) -> StoreFuture<'a, Result<Option<SessionRecord>, StoreError>> {
        observe("events", "load_session", self.0.load_session(id))
    }
}
