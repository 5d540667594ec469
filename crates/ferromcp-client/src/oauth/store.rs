//! [`TokenStore`]: where tokens live between requests (and, for a persistent store,
//! between runs). [`MemoryTokenStore`] is the default; [`super::FileTokenStore`] keeps
//! them in a private file.
//!
//! A custom store (a file, the OS keychain) implements three methods:
//!
//! ```
//! use ferromcp_client::oauth::{OAuthError, StoredTokens, TokenStore};
//! use futures_util::future::BoxFuture;
//! use std::sync::Mutex;
//!
//! /// Keeps only the last token, whatever the key.
//! #[derive(Default)]
//! struct LastOnly(Mutex<Option<StoredTokens>>);
//! impl TokenStore for LastOnly {
//!     fn load<'a>(&'a self, _key: &'a str) -> BoxFuture<'a, Result<Option<StoredTokens>, OAuthError>> {
//!         Box::pin(async move { Ok(self.0.lock().map_err(|_| OAuthError::Store("poisoned".into()))?.clone()) })
//!     }
//!     fn save<'a>(&'a self, _key: &'a str, t: StoredTokens) -> BoxFuture<'a, Result<(), OAuthError>> {
//!         Box::pin(async move { *self.0.lock().map_err(|_| OAuthError::Store("poisoned".into()))? = Some(t); Ok(()) })
//!     }
//!     fn clear<'a>(&'a self, _key: &'a str) -> BoxFuture<'a, Result<(), OAuthError>> {
//!         Box::pin(async move { *self.0.lock().map_err(|_| OAuthError::Store("poisoned".into()))? = None; Ok(()) })
//!     }
//! }
//! ```

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::SystemTime;

use futures_util::future::BoxFuture;

use super::OAuthError;

/// The tokens obtained for one MCP server.
#[derive(Clone, PartialEq, Eq)]
pub struct StoredTokens {
    /// The bearer token.
    pub access_token: String,
    /// The refresh token, if the server issued one.
    pub refresh_token: Option<String>,
    /// When the access token expires, if the server said.
    pub expires_at: Option<SystemTime>,
    /// The scopes granted (or requested, when the server did not say).
    pub scopes: Vec<String>,
    /// The authorization server that issued them; tokens never cross servers.
    pub issuer: String,
}

impl std::fmt::Debug for StoredTokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoredTokens")
            .field("refresh_token", &self.refresh_token.is_some())
            .field("expires_at", &self.expires_at)
            .field("scopes", &self.scopes)
            .field("issuer", &self.issuer)
            .finish_non_exhaustive()
    }
}

impl StoredTokens {
    /// Whether the access token has expired (with 30 s of margin).
    pub fn expired(&self) -> bool {
        self.expires_at.is_some_and(|t| {
            t.duration_since(SystemTime::now())
                .map(|left| left.as_secs() < 30)
                .unwrap_or(true)
        })
    }
}

/// Where the OAuth client keeps tokens, keyed by the MCP server URL.
pub trait TokenStore: Send + Sync {
    /// The tokens for `key`, if any.
    fn load<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<Option<StoredTokens>, OAuthError>>;
    /// Replaces the tokens for `key`.
    fn save<'a>(
        &'a self,
        key: &'a str,
        tokens: StoredTokens,
    ) -> BoxFuture<'a, Result<(), OAuthError>>;
    /// Forgets the tokens for `key`.
    fn clear<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<(), OAuthError>>;
}

/// Tokens in memory, lost when the process ends.
///
/// A std `Mutex`: every operation is a map access, never held across an await.
#[derive(Debug, Default)]
pub struct MemoryTokenStore {
    map: Mutex<HashMap<String, StoredTokens>>,
}

impl MemoryTokenStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn with<R>(
        &self,
        f: impl FnOnce(&mut HashMap<String, StoredTokens>) -> R,
    ) -> Result<R, OAuthError> {
        let mut g = self.map.lock().map_err(|_| {
            OAuthError::Store("a thread panicked while holding the store lock".into())
        })?;
        Ok(f(&mut g))
    }
}

impl TokenStore for MemoryTokenStore {
    fn load<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<Option<StoredTokens>, OAuthError>> {
        Box::pin(async move { self.with(|m| m.get(key).cloned()) })
    }

    fn save<'a>(
        &'a self,
        key: &'a str,
        tokens: StoredTokens,
    ) -> BoxFuture<'a, Result<(), OAuthError>> {
        Box::pin(async move {
            self.with(|m| {
                m.insert(key.to_owned(), tokens);
            })
        })
    }

    fn clear<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<(), OAuthError>> {
        Box::pin(async move {
            self.with(|m| {
                m.remove(key);
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn tokens(expires_in: u64) -> StoredTokens {
        StoredTokens {
            access_token: "a".into(),
            refresh_token: None,
            expires_at: Some(SystemTime::now() + Duration::from_secs(expires_in)),
            scopes: vec![],
            issuer: "https://as".into(),
        }
    }

    #[tokio::test]
    async fn memory_store_round_trip() {
        let s = MemoryTokenStore::new();
        assert_eq!(s.load("k").await.unwrap(), None);
        s.save("k", tokens(3600)).await.unwrap();
        assert_eq!(
            s.load("k").await.unwrap().map(|t| t.access_token),
            Some("a".into())
        );
        s.clear("k").await.unwrap();
        assert_eq!(s.load("k").await.unwrap(), None);
    }

    #[test]
    fn expiry_has_margin() {
        assert!(!tokens(3600).expired());
        assert!(tokens(5).expired());
        assert!(!format!("{:?}", tokens(1)).contains("access_token"));
    }
}
