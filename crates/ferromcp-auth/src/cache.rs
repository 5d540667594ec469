//! Verified tokens, keyed by the SHA-256 of the token (the token itself is not kept),
//! each until its expiry (capped), in a bounded map: a token seen again is not
//! verified again (no signature check, no introspection round trip).
//!
//! The bound is enforced on insert: expired entries are dropped first, and if the map
//! is still full it is emptied (the entries are only a cache; a cleared cache costs one
//! verification per live token).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use ferromcp_core::state::Principal;
use sha2::{Digest, Sha256};

/// A bounded map of verified tokens.
pub(crate) struct TokenCache {
    map: Mutex<HashMap<[u8; 32], (Principal, Instant)>>,
    max_entries: usize,
    max_ttl: Duration,
}

/// The cache key of a token.
pub(crate) fn token_key(token: &str) -> [u8; 32] {
    let mut out = [0u8; 32];
    out.copy_from_slice(&Sha256::digest(token.as_bytes()));
    out
}

/// Seconds since the Unix epoch.
pub(crate) fn unix_now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

impl TokenCache {
    pub(crate) fn new(max_entries: usize, max_ttl: Duration) -> Self {
        TokenCache { map: Mutex::new(HashMap::new()), max_entries, max_ttl }
    }

    /// The principal of a cached, unexpired token.
    pub(crate) fn get(&self, key: &[u8; 32]) -> Option<Principal> {
        if self.max_entries == 0 {
            return None;
        }
        let map = self.map.lock().unwrap_or_else(|p| p.into_inner());
        let (p, until) = map.get(key)?;
        (Instant::now() < *until).then(|| p.clone())
    }

    /// Caches `principal` until its expiry (`expires_at`, Unix seconds), at most the
    /// cache's TTL; a principal without expiry is not cached.
    pub(crate) fn insert(&self, key: [u8; 32], principal: &Principal) {
        let Some(exp) = principal.expires_at() else { return };
        let left = Duration::from_secs(exp.saturating_sub(unix_now())).min(self.max_ttl);
        if left.is_zero() || self.max_entries == 0 {
            return;
        }
        let now = Instant::now();
        let mut map = self.map.lock().unwrap_or_else(|p| p.into_inner());
        if map.len() >= self.max_entries {
            map.retain(|_, (_, until)| *until > now);
            if map.len() >= self.max_entries {
                map.clear();
            }
        }
        map.insert(key, (principal.clone(), now + left));
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.map.lock().unwrap_or_else(|p| p.into_inner()).len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_expire_and_the_map_stays_bounded() {
        let c = TokenCache::new(3, Duration::from_secs(60));
        let p = Principal::new("alice").with_expiry(unix_now() + 30);
        c.insert(token_key("a"), &p);
        assert_eq!(c.get(&token_key("a")).map(|p| p.subject().to_owned()), Some("alice".into()));
        assert!(c.get(&token_key("b")).is_none());
        // Expired or expiry-less principals are not cached.
        c.insert(token_key("old"), &Principal::new("x").with_expiry(unix_now() - 1));
        c.insert(token_key("noexp"), &Principal::new("x"));
        assert_eq!(c.len(), 1);
        for t in ["b", "c", "d", "e", "f"] {
            c.insert(token_key(t), &p);
            assert!(c.len() <= 3);
        }
    }
}
