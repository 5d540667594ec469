//! Session-scoped state: the [`StateStore`] trait every backend implements, the
//! in-memory default ([`MemoryStore`]), the encryption wrapper ([`EncryptedStore`]),
//! the reusable [`contract`] test suite, and the typed [`State`] handle handlers use
//! through [`Context::state`](crate::Context::state).
//!
//! Values cross the trait boundary as `serde_json::Value` (the memory store keeps them
//! as they are, with no string round trip; network stores serialize them). Every entry
//! carries a [`Version`] so updates can be atomic: [`StateStore::compare_and_swap`] is
//! the one primitive, and [`update`] builds a retrying read-modify-write on it.
//!
//! A complete custom store is four small methods plus prefix deletion:
//!
//! ```
//! use std::collections::HashMap;
//! use std::sync::Mutex;
//! use std::time::Duration;
//! use ferromcp_core::state::{Entry, StateStore, StoreError, StoreFuture, Version};
//! use serde_json::Value;
//!
//! /// A toy store without TTLs, for illustration.
//! #[derive(Default)]
//! struct MapStore(Mutex<HashMap<String, (Value, u64)>>);
//!
//! impl StateStore for MapStore {
//!     fn get<'a>(&'a self, key: &'a str) -> StoreFuture<'a, Result<Option<Entry>, StoreError>> {
//!         let found = self.0.lock().unwrap().get(key).cloned();
//!         Box::pin(async move { Ok(found.map(|(value, v)| Entry { value, version: Version::Counter(v) })) })
//!     }
//!     fn put<'a>(&'a self, key: &'a str, value: Value, _ttl: Option<Duration>) -> StoreFuture<'a, Result<(), StoreError>> {
//!         let mut m = self.0.lock().unwrap();
//!         let v = m.get(key).map_or(1, |(_, v)| v + 1);
//!         m.insert(key.to_owned(), (value, v));
//!         Box::pin(async { Ok(()) })
//!     }
//!     fn delete<'a>(&'a self, key: &'a str) -> StoreFuture<'a, Result<bool, StoreError>> {
//!         let existed = self.0.lock().unwrap().remove(key).is_some();
//!         Box::pin(async move { Ok(existed) })
//!     }
//!     fn compare_and_swap<'a>(&'a self, key: &'a str, expected: Option<&'a Version>, new: Option<Value>, _ttl: Option<Duration>) -> StoreFuture<'a, Result<bool, StoreError>> {
//!         let mut m = self.0.lock().unwrap();
//!         let current = m.get(key).map(|(_, v)| Version::Counter(*v));
//!         let ok = current.as_ref() == expected;
//!         if ok {
//!             match new {
//!                 Some(value) => { let v = m.get(key).map_or(1, |(_, v)| v + 1); m.insert(key.to_owned(), (value, v)); }
//!                 None => { m.remove(key); }
//!             }
//!         }
//!         Box::pin(async move { Ok(ok) })
//!     }
//!     fn delete_prefix<'a>(&'a self, prefix: &'a str) -> StoreFuture<'a, Result<u64, StoreError>> {
//!         let mut m = self.0.lock().unwrap();
//!         let before = m.len();
//!         m.retain(|k, _| !k.starts_with(prefix));
//!         let n = (before - m.len()) as u64;
//!         Box::pin(async move { Ok(n) })
//!     }
//! }
//! ```

pub mod contract;
mod encrypted;
mod handle;
mod memory;
pub(crate) mod scope;
mod visibility;

use std::time::Duration;

use serde_json::Value;

pub use encrypted::EncryptedStore;
pub(crate) use handle::HandleRecord;
pub use handle::{HANDLE_MARKER, SessionHandle};
pub use memory::{MemoryStore, MemoryStoreConfig};
pub use scope::{Claims, Principal, SessionScope};
pub use visibility::{ComponentFilter, ComponentKind, Visibility};

pub use crate::error::StoreError;

use std::future::Future;
use std::pin::Pin;

/// The future a store method returns.
pub type StoreFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Opaque version of a stored entry, compared by [`StateStore::compare_and_swap`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Version {
    /// A per-entry counter (in-process stores).
    Counter(u64),
    /// The entry's stored representation (network stores compare it byte for byte).
    Raw(String),
}

/// A stored value and its version.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    /// The value.
    pub value: Value,
    /// Its version, for compare-and-swap.
    pub version: Version,
}

/// The key-count bound of one state scope, passed to the `*_in_scope` writes of a
/// [`StateStore`] so the store can check it together with the write: a write that would
/// add a key to a scope holding `max_keys` live keys already fails with
/// [`StoreError::ScopeFull`]; overwriting a key the scope holds always passes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ScopeLimit<'a> {
    /// The scope's key prefix: every key written under this limit starts with it.
    pub prefix: &'a str,
    /// Most live keys under `prefix`.
    pub max_keys: u64,
}

impl ScopeLimit<'_> {
    /// The error a store returns when a write would pass this limit.
    pub fn exceeded(&self) -> StoreError {
        StoreError::ScopeFull { prefix: self.prefix.to_owned(), max_keys: self.max_keys }
    }

    /// Whether the store says the scope is full (best effort: built on
    /// [`StateStore::count_prefix`], false when the store cannot count).
    async fn is_full<S: StateStore + ?Sized>(&self, store: &S) -> Result<bool, StoreError> {
        let counted = store.count_prefix(self.prefix, self.max_keys).await?;
        Ok(counted.is_some_and(|n| n >= self.max_keys))
    }
}

/// A key-value store for session state. Implementations must make
/// [`compare_and_swap`](StateStore::compare_and_swap) atomic; everything else follows.
/// Run [`contract::run`] against a new backend.
pub trait StateStore: Send + Sync + 'static {
    /// Reads `key` (expired entries are absent).
    fn get<'a>(&'a self, key: &'a str) -> StoreFuture<'a, Result<Option<Entry>, StoreError>>;
    /// Writes `key` with an optional TTL.
    fn put<'a>(&'a self, key: &'a str, value: Value, ttl: Option<Duration>) -> StoreFuture<'a, Result<(), StoreError>>;
    /// Deletes `key`; true if it existed.
    fn delete<'a>(&'a self, key: &'a str) -> StoreFuture<'a, Result<bool, StoreError>>;
    /// Atomically: if the current version of `key` equals `expected` (`None` = absent),
    /// write `new` (`None` = delete) and return true; otherwise change nothing and return
    /// false.
    fn compare_and_swap<'a>(
        &'a self,
        key: &'a str,
        expected: Option<&'a Version>,
        new: Option<Value>,
        ttl: Option<Duration>,
    ) -> StoreFuture<'a, Result<bool, StoreError>>;
    /// Deletes every key starting with `prefix`; returns how many.
    fn delete_prefix<'a>(&'a self, prefix: &'a str) -> StoreFuture<'a, Result<u64, StoreError>>;
    /// How many live keys start with `prefix`, counting no further than `limit` (a
    /// store may stop there and return `limit`). The state API calls it before a write
    /// to enforce [`ServerConfig::max_state_keys_per_scope`](crate::ServerConfig), so it
    /// must be cheap for small scopes.
    ///
    /// The default returns `None`: the store cannot count a prefix cheaply, and the
    /// default `*_in_scope` methods do not enforce the keys-per-scope limit on it (the
    /// value-size limit still holds). The memory store counts with a bounded walk of its
    /// ordered keys; a network store whose only way to count is a scan of its whole
    /// keyspace (Redis `SCAN`) should keep this default and enforce the limit in its
    /// `*_in_scope` methods instead (the Redis store keeps an index per scope).
    fn count_prefix<'a>(&'a self, _prefix: &'a str, _limit: u64) -> StoreFuture<'a, Result<Option<u64>, StoreError>> {
        Box::pin(std::future::ready(Ok(None)))
    }
    /// [`put`](StateStore::put) of a key of the scope `scope`, refused with
    /// [`StoreError::ScopeFull`] (nothing written) if `key` is not live and the scope
    /// already holds `scope.max_keys` live keys. The state API writes through it.
    ///
    /// The default checks with [`count_prefix`](StateStore::count_prefix) and
    /// [`get`](StateStore::get) before the write: best effort (concurrent writes of new
    /// keys may pass the limit by their number) and no check at all on a store that
    /// cannot count. A store should override it to check atomically with the write, with
    /// no extra round trip; [`contract::scope_limit_is_atomic`] tests that.
    fn put_in_scope<'a>(
        &'a self,
        key: &'a str,
        value: Value,
        ttl: Option<Duration>,
        scope: ScopeLimit<'a>,
    ) -> StoreFuture<'a, Result<(), StoreError>> {
        Box::pin(async move {
            if scope.is_full(self).await? && self.get(key).await?.is_none() {
                return Err(scope.exceeded());
            }
            self.put(key, value, ttl).await
        })
    }
    /// [`compare_and_swap`](StateStore::compare_and_swap) of a key of the scope `scope`:
    /// a swap that would create `key` is refused with [`StoreError::ScopeFull`] (nothing
    /// written) if the scope already holds `scope.max_keys` live keys. The default is
    /// best effort, like [`put_in_scope`](StateStore::put_in_scope)'s.
    fn compare_and_swap_in_scope<'a>(
        &'a self,
        key: &'a str,
        expected: Option<&'a Version>,
        new: Option<Value>,
        ttl: Option<Duration>,
        scope: ScopeLimit<'a>,
    ) -> StoreFuture<'a, Result<bool, StoreError>> {
        Box::pin(async move {
            if expected.is_none() && new.is_some() && scope.is_full(self).await? {
                // Only a swap from "absent" creates a key; a present key makes it fail anyway.
                if self.get(key).await?.is_none() {
                    return Err(scope.exceeded());
                }
                return Ok(false);
            }
            self.compare_and_swap(key, expected, new, ttl).await
        })
    }
    /// [`delete`](StateStore::delete) of a key of the scope whose prefix is `prefix`
    /// (a store that keeps per-scope bookkeeping for the `*_in_scope` writes updates it
    /// here). The default is a plain `delete`.
    fn delete_in_scope<'a>(&'a self, key: &'a str, prefix: &'a str) -> StoreFuture<'a, Result<bool, StoreError>> {
        let _ = prefix;
        self.delete(key)
    }
}

/// Atomic read-modify-write on any store: reads, applies `f`, and compare-and-swaps,
/// retrying on conflict. `f` returns the new value (`None` deletes). Returns the value
/// written.
pub async fn update<S, F>(store: &S, key: &str, ttl: Option<Duration>, mut f: F) -> Result<Option<Value>, StoreError>
where
    S: StateStore + ?Sized,
    F: FnMut(Option<&Value>) -> Option<Value>,
{
    let mut retry = CasRetry::default();
    loop {
        let current = store.get(key).await?;
        let new = f(current.as_ref().map(|e| &e.value));
        if store.compare_and_swap(key, current.as_ref().map(|e| &e.version), new.clone(), ttl).await? {
            return Ok(new);
        }
        retry.conflict(key).await?;
    }
}

/// The one compare-and-swap retry policy of every read-modify-write: after a conflict,
/// [`conflict`](Self::conflict) yields to the scheduler and lets the caller try again,
/// at most [`MAX_ATTEMPTS`](Self::MAX_ATTEMPTS) times in all; then it fails with
/// [`StoreError::Contention`].
#[derive(Debug, Default)]
pub(crate) struct CasRetry {
    attempts: u32,
}

impl CasRetry {
    /// The most compare-and-swap attempts of one read-modify-write.
    pub(crate) const MAX_ATTEMPTS: u32 = 1000;

    /// Records a lost compare-and-swap of `key`: `Ok` to try again, or the contention
    /// error once the attempts are used up.
    pub(crate) async fn conflict(&mut self, key: &str) -> Result<(), StoreError> {
        self.attempts += 1;
        if self.attempts >= Self::MAX_ATTEMPTS {
            return Err(StoreError::Contention(key.to_owned()));
        }
        tokio::task::yield_now().await;
        Ok(())
    }
}
