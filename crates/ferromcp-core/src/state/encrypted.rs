//! [`EncryptedStore`]: encryption at rest for any [`StateStore`]. Values are serialized,
//! sealed with ChaCha20-Poly1305 (a fresh random nonce per write, the key name as
//! associated data so a ciphertext cannot be moved to another key) and stored as a
//! string. The inner store never sees plain text; a tampered or foreign ciphertext reads
//! as [`StoreError::Corrupt`], never as a wrong value.

use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};
use serde_json::Value;
use sha2::{Digest, Sha256};

use super::{Entry, ScopeLimit, StateStore, StoreError, StoreFuture, Version};

const TAG: &str = "fenc1:";

/// Wraps a store so everything it holds is encrypted.
///
/// ```
/// use ferromcp_core::state::{EncryptedStore, MemoryStore};
/// let store = EncryptedStore::new(MemoryStore::new(), b"key material from configuration");
/// # let _ = store;
/// ```
pub struct EncryptedStore<S: ?Sized> {
    inner: Arc<S>,
    cipher: ChaCha20Poly1305,
}

impl<S: ?Sized> std::fmt::Debug for EncryptedStore<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("EncryptedStore")
    }
}

impl<S: StateStore> EncryptedStore<S> {
    /// Encrypts with a key derived (SHA-256) from `key_material`; every node of a
    /// deployment must use the same material.
    pub fn new(inner: S, key_material: &[u8]) -> Self {
        Self::from_arc(Arc::new(inner), key_material)
    }
}

impl<S: StateStore + ?Sized> EncryptedStore<S> {
    /// Like [`EncryptedStore::new`] for a shared inner store.
    pub fn from_arc(inner: Arc<S>, key_material: &[u8]) -> Self {
        let digest = Sha256::digest(key_material);
        let cipher = ChaCha20Poly1305::new(Key::from_slice(&digest));
        EncryptedStore { inner, cipher }
    }

    /// The wrapped store (it holds only ciphertext).
    pub fn inner(&self) -> &S {
        &self.inner
    }

    fn seal(&self, key: &str, v: &Value) -> Result<Value, StoreError> {
        let plain =
            serde_json::to_vec(v).map_err(|e| StoreError::Corrupt { key: key.into(), reason: e.to_string() })?;
        let mut nonce = [0u8; 12];
        getrandom::fill(&mut nonce).map_err(|e| StoreError::Unavailable(format!("no randomness: {e}")))?;
        let ct = self
            .cipher
            .encrypt(Nonce::from_slice(&nonce), Payload { msg: &plain, aad: key.as_bytes() })
            .map_err(|_| StoreError::Corrupt { key: key.into(), reason: "encryption failed".into() })?;
        let mut out = Vec::with_capacity(12 + ct.len());
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&ct);
        Ok(Value::String(format!("{TAG}{}", base64::engine::general_purpose::STANDARD_NO_PAD.encode(out))))
    }

    fn open(&self, key: &str, stored: Value) -> Result<Value, StoreError> {
        let corrupt = |reason: &str| StoreError::Corrupt { key: key.into(), reason: reason.into() };
        let Value::String(s) = stored else { return Err(corrupt("not an encrypted value")) };
        let body = s.strip_prefix(TAG).ok_or_else(|| corrupt("not an encrypted value"))?;
        let raw = base64::engine::general_purpose::STANDARD_NO_PAD.decode(body).map_err(|_| corrupt("bad encoding"))?;
        if raw.len() < 12 {
            return Err(corrupt("truncated"));
        }
        let (nonce, ct) = raw.split_at(12);
        let plain = self
            .cipher
            .decrypt(Nonce::from_slice(nonce), Payload { msg: ct, aad: key.as_bytes() })
            .map_err(|_| corrupt("authentication failed (tampered, or sealed with another key)"))?;
        serde_json::from_slice(&plain).map_err(|e| corrupt(&e.to_string()))
    }
}

impl<S: StateStore + ?Sized> StateStore for EncryptedStore<S> {
    fn get<'a>(&'a self, key: &'a str) -> StoreFuture<'a, Result<Option<Entry>, StoreError>> {
        Box::pin(async move {
            match self.inner.get(key).await? {
                None => Ok(None),
                Some(e) => {
                    // The inner version already identifies this exact ciphertext.
                    let value = self.open(key, e.value)?;
                    Ok(Some(Entry { value, version: e.version }))
                }
            }
        })
    }

    fn put<'a>(&'a self, key: &'a str, value: Value, ttl: Option<Duration>) -> StoreFuture<'a, Result<(), StoreError>> {
        Box::pin(async move {
            let sealed = self.seal(key, &value)?;
            self.inner.put(key, sealed, ttl).await
        })
    }

    fn delete<'a>(&'a self, key: &'a str) -> StoreFuture<'a, Result<bool, StoreError>> {
        self.inner.delete(key)
    }

    fn compare_and_swap<'a>(
        &'a self,
        key: &'a str,
        expected: Option<&'a Version>,
        new: Option<Value>,
        ttl: Option<Duration>,
    ) -> StoreFuture<'a, Result<bool, StoreError>> {
        Box::pin(async move {
            let sealed = match new {
                Some(v) => Some(self.seal(key, &v)?),
                None => None,
            };
            self.inner.compare_and_swap(key, expected, sealed, ttl).await
        })
    }

    fn delete_prefix<'a>(&'a self, prefix: &'a str) -> StoreFuture<'a, Result<u64, StoreError>> {
        self.inner.delete_prefix(prefix)
    }

    fn count_prefix<'a>(&'a self, prefix: &'a str, limit: u64) -> StoreFuture<'a, Result<Option<u64>, StoreError>> {
        // Keys are stored in the clear: the inner store counts them.
        self.inner.count_prefix(prefix, limit)
    }

    // The scoped writes go to the inner store's, so its atomic check applies.
    fn put_in_scope<'a>(
        &'a self,
        key: &'a str,
        value: Value,
        ttl: Option<Duration>,
        scope: ScopeLimit<'a>,
    ) -> StoreFuture<'a, Result<(), StoreError>> {
        Box::pin(async move {
            let sealed = self.seal(key, &value)?;
            self.inner.put_in_scope(key, sealed, ttl, scope).await
        })
    }

    fn compare_and_swap_in_scope<'a>(
        &'a self,
        key: &'a str,
        expected: Option<&'a Version>,
        new: Option<Value>,
        ttl: Option<Duration>,
        scope: ScopeLimit<'a>,
    ) -> StoreFuture<'a, Result<bool, StoreError>> {
        Box::pin(async move {
            let sealed = match new {
                Some(v) => Some(self.seal(key, &v)?),
                None => None,
            };
            self.inner.compare_and_swap_in_scope(key, expected, sealed, ttl, scope).await
        })
    }

    fn delete_in_scope<'a>(&'a self, key: &'a str, prefix: &'a str) -> StoreFuture<'a, Result<bool, StoreError>> {
        self.inner.delete_in_scope(key, prefix)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::MemoryStore;

    #[tokio::test]
    async fn passes_the_store_contract_over_memory() {
        crate::state::contract::run(|| EncryptedStore::new(MemoryStore::new(), b"k")).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_scope_limit_of_the_inner_store_holds_under_concurrent_writes() {
        let store = EncryptedStore::new(MemoryStore::new(), b"k");
        crate::state::contract::scope_limit_is_atomic(Arc::new(store)).await;
    }

    #[tokio::test]
    async fn the_inner_store_holds_no_plain_text_and_tampering_is_detected() {
        let inner = Arc::new(MemoryStore::new());
        let s = EncryptedStore::from_arc(inner.clone(), b"secret");
        s.put("user:1", serde_json::json!({"email": "alice@example.com"}), None).await.unwrap();
        let raw = inner.get("user:1").await.unwrap().unwrap().value;
        assert!(!raw.to_string().contains("alice"), "ciphertext leaks plain text: {raw}");
        // Moving a ciphertext to another key fails authentication.
        inner.put("user:2", raw.clone(), None).await.unwrap();
        assert!(matches!(s.get("user:2").await, Err(StoreError::Corrupt { .. })));
        // Another key cannot read it.
        let other = EncryptedStore::from_arc(inner.clone(), b"other");
        assert!(matches!(other.get("user:1").await, Err(StoreError::Corrupt { .. })));
        // A flipped character is detected.
        let Value::String(mut t) = raw else { panic!("string") };
        let last = t.pop().unwrap();
        t.push(if last == 'A' { 'B' } else { 'A' });
        inner.put("user:1", Value::String(t), None).await.unwrap();
        assert!(matches!(s.get("user:1").await, Err(StoreError::Corrupt { .. })));
    }
}
