//! [`MemoryStore`]: the default state store. Values stay `serde_json::Value` in memory
//! (no serialization round trip); the store is bounded by entries and bytes; TTLs are
//! real: reads never return an expired entry, and a background purge task — owned by the
//! store and stopped when the last handle drops — frees expired entries.
//!
//! Expirations live in a `BTreeMap<(Instant, u64), String>` ordered by deadline, so the
//! purge task sleeps exactly until the next one (the layout of mini-redis's `db.rs`). A
//! `std::sync::Mutex` guards the data: critical sections are short and never await, so
//! an async mutex would only add cost.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use serde_json::Value;
use tokio::time::Instant;

use super::{Entry, ScopeLimit, StateStore, StoreError, StoreFuture, Version};
use crate::purge::Purger;

/// Bounds of a [`MemoryStore`].
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub struct MemoryStoreConfig {
    /// Most entries held at once.
    pub max_entries: usize,
    /// Most bytes held at once (an estimate of keys plus values).
    pub max_bytes: usize,
}

impl Default for MemoryStoreConfig {
    fn default() -> Self {
        MemoryStoreConfig { max_entries: 1_000_000, max_bytes: 512 * 1024 * 1024 }
    }
}

struct Slot {
    value: Value,
    version: u64,
    expires: Option<(Instant, u64)>,
    size: usize,
}

/// Keys are ordered (a `BTreeMap`) so deleting a scope's keys is a range walk, not a
/// scan of the whole store.
#[derive(Default)]
struct Data {
    map: BTreeMap<String, Slot>,
    expirations: BTreeMap<(Instant, u64), String>,
    bytes: usize,
    seq: u64,
}

struct Shared {
    data: Mutex<Data>,
    cfg: MemoryStoreConfig,
    purger: Purger,
}

/// The in-memory state store (the default).
///
/// ```
/// # tokio_test_block_on(async {
/// use ferromcp_core::state::{MemoryStore, StateStore};
/// let store = MemoryStore::new();
/// store.put("k", serde_json::json!(1), None).await.unwrap();
/// assert_eq!(store.get("k").await.unwrap().unwrap().value, 1);
/// # });
/// # fn tokio_test_block_on<F: std::future::Future>(f: F) -> F::Output {
/// #     tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(f)
/// # }
/// ```
#[derive(Clone)]
pub struct MemoryStore {
    shared: Arc<Shared>,
}

impl Default for MemoryStore {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Debug for MemoryStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let d = self.lock();
        f.debug_struct("MemoryStore").field("entries", &d.map.len()).field("bytes", &d.bytes).finish()
    }
}

/// An estimate of the heap a value holds.
fn value_size(v: &Value) -> usize {
    match v {
        Value::Null | Value::Bool(_) | Value::Number(_) => 16,
        Value::String(s) => 24 + s.len(),
        Value::Array(a) => 24 + a.iter().map(value_size).sum::<usize>(),
        Value::Object(m) => 48 + m.iter().map(|(k, v)| 24 + k.len() + value_size(v)).sum::<usize>(),
    }
}

impl MemoryStore {
    /// A store with default bounds (one million entries, 512 MiB).
    pub fn new() -> Self {
        Self::with_config(MemoryStoreConfig::default())
    }

    /// A store with the given bounds.
    pub fn with_config(cfg: MemoryStoreConfig) -> Self {
        MemoryStore { shared: Arc::new(Shared { data: Mutex::new(Data::default()), cfg, purger: Purger::default() }) }
    }

    fn lock(&self) -> MutexGuard<'_, Data> {
        self.shared.data.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// How many live entries (expired ones not yet purged are counted).
    pub fn len(&self) -> usize {
        self.lock().map.len()
    }

    /// Whether the store holds nothing.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Estimated bytes held.
    pub fn bytes(&self) -> usize {
        self.lock().bytes
    }

    /// Starts the purge task on first use inside a runtime.
    fn ensure_purger(&self) {
        self.shared
            .purger
            .ensure(&self.shared, |sh, now| purge_expired(&mut sh.data.lock().unwrap_or_else(|p| p.into_inner()), now));
    }

    fn remove_slot(d: &mut Data, key: &str) -> Option<Slot> {
        let slot = d.map.remove(key)?;
        d.bytes = d.bytes.saturating_sub(slot.size);
        if let Some(exp) = slot.expires {
            d.expirations.remove(&exp);
        }
        Some(slot)
    }

    /// Writes under the lock; returns whether the purge task must be woken.
    fn write(&self, d: &mut Data, key: &str, value: Value, ttl: Option<Duration>) -> Result<bool, StoreError> {
        let size = key.len() + value_size(&value) + 64;
        let old = Self::remove_slot(d, key);
        if d.map.len() >= self.shared.cfg.max_entries || d.bytes + size > self.shared.cfg.max_bytes {
            purge_expired(d, Instant::now());
            if d.map.len() >= self.shared.cfg.max_entries || d.bytes + size > self.shared.cfg.max_bytes {
                if let Some(old) = old {
                    // Put the previous value back: a failed write changes nothing.
                    let exp = old.expires;
                    d.bytes += old.size;
                    if let Some(e) = exp {
                        d.expirations.insert(e, key.to_owned());
                    }
                    d.map.insert(key.to_owned(), old);
                }
                return Err(StoreError::Full(format!(
                    "{} entries / {} bytes (bounds {} / {})",
                    d.map.len(),
                    d.bytes,
                    self.shared.cfg.max_entries,
                    self.shared.cfg.max_bytes
                )));
            }
        }
        d.seq += 1;
        let version = d.seq;
        let expires = ttl.map(|t| (Instant::now() + t, d.seq));
        let mut wake = false;
        if let Some(e) = expires {
            wake = d.expirations.keys().next().is_none_or(|first| e < *first);
            d.expirations.insert(e, key.to_owned());
        }
        d.bytes += size;
        d.map.insert(key.to_owned(), Slot { value, version, expires, size });
        Ok(wake)
    }

    fn live<'d>(d: &'d Data, key: &str) -> Option<&'d Slot> {
        d.map.get(key).filter(|s| s.expires.is_none_or(|(at, _)| at > Instant::now()))
    }

    /// Live keys under `prefix`, counted no further than `limit`: O(min(keys under the
    /// prefix, limit)).
    fn count_live(d: &Data, prefix: &str, limit: u64) -> u64 {
        let now = Instant::now();
        let live = d
            .map
            .range::<str, _>((std::ops::Bound::Included(prefix), std::ops::Bound::Unbounded))
            .take_while(|(k, _)| k.starts_with(prefix))
            .filter(|(_, s)| s.expires.is_none_or(|(at, _)| at > now));
        live.take(usize::try_from(limit).unwrap_or(usize::MAX)).count() as u64
    }

    /// Whether writing `key` would add a key to a full scope (checked under the lock, so
    /// together with the write).
    fn refuses(d: &Data, key: &str, scope: Option<ScopeLimit<'_>>) -> bool {
        scope.is_some_and(|s| Self::live(d, key).is_none() && Self::count_live(d, s.prefix, s.max_keys) >= s.max_keys)
    }

    fn put_checked(
        &self,
        key: &str,
        value: Value,
        ttl: Option<Duration>,
        scope: Option<ScopeLimit<'_>>,
    ) -> Result<(), StoreError> {
        self.ensure_purger();
        let r = {
            let mut d = self.lock();
            match scope {
                Some(s) if Self::refuses(&d, key, scope) => Err(s.exceeded()),
                _ => self.write(&mut d, key, value, ttl),
            }
        };
        if let Ok(true) = r {
            self.shared.purger.wake();
        }
        r.map(|_| ())
    }

    fn compare_and_swap_checked(
        &self,
        key: &str,
        expected: Option<&Version>,
        new: Option<Value>,
        ttl: Option<Duration>,
        scope: Option<ScopeLimit<'_>>,
    ) -> Result<bool, StoreError> {
        self.ensure_purger();
        let r = {
            let mut d = self.lock();
            let current = Self::live(&d, key).map(|s| Version::Counter(s.version));
            if current.as_ref() != expected {
                Ok((false, false))
            } else {
                match (new, scope) {
                    (Some(_), Some(s)) if Self::refuses(&d, key, scope) => Err(s.exceeded()),
                    (Some(v), _) => self.write(&mut d, key, v, ttl).map(|wake| (true, wake)),
                    (None, _) => {
                        Self::remove_slot(&mut d, key);
                        Ok((true, false))
                    }
                }
            }
        };
        if let Ok((_, true)) = r {
            self.shared.purger.wake();
        }
        r.map(|(ok, _)| ok)
    }
}

fn purge_expired(d: &mut Data, now: Instant) -> Option<Instant> {
    while let Some((&(at, seq), _)) = d.expirations.iter().next() {
        if at > now {
            return Some(at);
        }
        if let Some(key) = d.expirations.remove(&(at, seq))
            && let Some(slot) = d.map.remove(&key)
        {
            d.bytes = d.bytes.saturating_sub(slot.size);
        }
    }
    None
}

impl StateStore for MemoryStore {
    fn get<'a>(&'a self, key: &'a str) -> StoreFuture<'a, Result<Option<Entry>, StoreError>> {
        let found = {
            let d = self.lock();
            Self::live(&d, key).map(|s| Entry { value: s.value.clone(), version: Version::Counter(s.version) })
        };
        Box::pin(std::future::ready(Ok(found)))
    }

    fn put<'a>(&'a self, key: &'a str, value: Value, ttl: Option<Duration>) -> StoreFuture<'a, Result<(), StoreError>> {
        Box::pin(std::future::ready(self.put_checked(key, value, ttl, None)))
    }

    fn delete<'a>(&'a self, key: &'a str) -> StoreFuture<'a, Result<bool, StoreError>> {
        let existed = {
            let mut d = self.lock();
            let live = Self::live(&d, key).is_some();
            Self::remove_slot(&mut d, key);
            live
        };
        Box::pin(std::future::ready(Ok(existed)))
    }

    fn compare_and_swap<'a>(
        &'a self,
        key: &'a str,
        expected: Option<&'a Version>,
        new: Option<Value>,
        ttl: Option<Duration>,
    ) -> StoreFuture<'a, Result<bool, StoreError>> {
        Box::pin(std::future::ready(self.compare_and_swap_checked(key, expected, new, ttl, None)))
    }

    fn delete_prefix<'a>(&'a self, prefix: &'a str) -> StoreFuture<'a, Result<u64, StoreError>> {
        let n = {
            let mut d = self.lock();
            let keys: Vec<String> = d
                .map
                .range(prefix.to_owned()..)
                .map(|(k, _)| k)
                .take_while(|k| k.starts_with(prefix))
                .cloned()
                .collect();
            for k in &keys {
                Self::remove_slot(&mut d, k);
            }
            keys.len() as u64
        };
        Box::pin(std::future::ready(Ok(n)))
    }

    /// A walk of the ordered keys under `prefix` that stops at `limit`: O(min(keys in
    /// the scope, limit)) under the lock.
    fn count_prefix<'a>(&'a self, prefix: &'a str, limit: u64) -> StoreFuture<'a, Result<Option<u64>, StoreError>> {
        let n = Self::count_live(&self.lock(), prefix, limit);
        Box::pin(std::future::ready(Ok(Some(n))))
    }

    /// Checks the scope's key count under the same lock as the write: atomic, and a walk
    /// of at most `max_keys` keys only when `key` is new.
    fn put_in_scope<'a>(
        &'a self,
        key: &'a str,
        value: Value,
        ttl: Option<Duration>,
        scope: ScopeLimit<'a>,
    ) -> StoreFuture<'a, Result<(), StoreError>> {
        Box::pin(std::future::ready(self.put_checked(key, value, ttl, Some(scope))))
    }

    fn compare_and_swap_in_scope<'a>(
        &'a self,
        key: &'a str,
        expected: Option<&'a Version>,
        new: Option<Value>,
        ttl: Option<Duration>,
        scope: ScopeLimit<'a>,
    ) -> StoreFuture<'a, Result<bool, StoreError>> {
        Box::pin(std::future::ready(self.compare_and_swap_checked(key, expected, new, ttl, Some(scope))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn passes_the_store_contract() {
        super::super::contract::run(MemoryStore::new).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_scope_limit_holds_under_concurrent_writes() {
        super::super::contract::scope_limit_is_atomic(Arc::new(MemoryStore::new())).await;
    }

    /// A store that only counts: the trait's default `*_in_scope` methods.
    struct CountingOnly(MemoryStore);

    impl StateStore for CountingOnly {
        fn get<'a>(&'a self, key: &'a str) -> StoreFuture<'a, Result<Option<Entry>, StoreError>> {
            self.0.get(key)
        }
        fn put<'a>(
            &'a self,
            key: &'a str,
            value: Value,
            ttl: Option<Duration>,
        ) -> StoreFuture<'a, Result<(), StoreError>> {
            self.0.put(key, value, ttl)
        }
        fn delete<'a>(&'a self, key: &'a str) -> StoreFuture<'a, Result<bool, StoreError>> {
            self.0.delete(key)
        }
        fn compare_and_swap<'a>(
            &'a self,
            key: &'a str,
            expected: Option<&'a Version>,
            new: Option<Value>,
            ttl: Option<Duration>,
        ) -> StoreFuture<'a, Result<bool, StoreError>> {
            self.0.compare_and_swap(key, expected, new, ttl)
        }
        fn delete_prefix<'a>(&'a self, prefix: &'a str) -> StoreFuture<'a, Result<u64, StoreError>> {
            self.0.delete_prefix(prefix)
        }
        fn count_prefix<'a>(&'a self, prefix: &'a str, limit: u64) -> StoreFuture<'a, Result<Option<u64>, StoreError>> {
            self.0.count_prefix(prefix, limit)
        }
    }

    #[tokio::test]
    async fn the_default_scoped_writes_enforce_the_limit_on_a_store_that_counts() {
        super::super::contract::run(|| CountingOnly(MemoryStore::new())).await;
        let s = CountingOnly(MemoryStore::new());
        let scope = ScopeLimit { prefix: "s:", max_keys: 1 };
        s.put_in_scope("s:a", Value::from(1), None, scope).await.unwrap();
        assert!(matches!(s.put_in_scope("s:b", Value::from(1), None, scope).await, Err(StoreError::ScopeFull { .. })));
    }

    #[tokio::test]
    async fn bounds_are_enforced_and_a_failed_write_changes_nothing() {
        let s = MemoryStore::with_config(MemoryStoreConfig { max_entries: 2, max_bytes: 1 << 20 });
        s.put("a", Value::from(1), None).await.unwrap();
        s.put("b", Value::from(2), None).await.unwrap();
        assert!(matches!(s.put("c", Value::from(3), None).await, Err(StoreError::Full(_))));
        s.put("a", Value::from(10), None).await.unwrap();
        assert_eq!(s.get("a").await.unwrap().unwrap().value, 10);
        assert_eq!(s.len(), 2);
    }

    #[tokio::test(start_paused = true)]
    async fn count_prefix_counts_live_keys_of_the_prefix_up_to_the_limit() {
        let s = MemoryStore::new();
        for i in 0..5 {
            s.put(&format!("a:{i}"), Value::from(i), None).await.unwrap();
        }
        s.put("a:short", Value::from(1), Some(Duration::from_secs(1))).await.unwrap();
        s.put("a", Value::from(1), None).await.unwrap();
        s.put("b:0", Value::from(1), None).await.unwrap();
        assert_eq!(s.count_prefix("a:", 100).await.unwrap(), Some(6));
        assert_eq!(s.count_prefix("a:", 3).await.unwrap(), Some(3), "counting stops at the limit");
        assert_eq!(s.count_prefix("c:", 100).await.unwrap(), Some(0));
        tokio::time::sleep(Duration::from_secs(2)).await;
        assert_eq!(s.count_prefix("a:", 100).await.unwrap(), Some(5), "expired keys do not count");
    }

    #[tokio::test(start_paused = true)]
    async fn the_purge_task_frees_expired_entries() {
        let s = MemoryStore::new();
        for i in 0..100 {
            s.put(&format!("k{i}"), Value::from(i), Some(Duration::from_secs(5))).await.unwrap();
        }
        s.put("forever", Value::from(1), None).await.unwrap();
        assert_eq!(s.len(), 101);
        tokio::time::sleep(Duration::from_secs(6)).await;
        tokio::task::yield_now().await;
        assert_eq!(s.len(), 1, "expired entries are purged without being read");
        assert!(s.bytes() < 1000);
    }
}
