//! [`RedisStoreConfig`]: where the store connects and how long it waits.

use std::time::Duration;

/// Settings of a [`RedisStore`](crate::RedisStore).
///
/// ```
/// use std::time::Duration;
/// use ferromcp_redis::RedisStoreConfig;
/// let cfg = RedisStoreConfig::new("redis://127.0.0.1:6379/0")
///     .key_prefix("notes-app:")
///     .response_timeout(Duration::from_millis(500));
/// assert_eq!(cfg.key_prefix.as_deref(), Some("notes-app:"));
/// # let _ = cfg;
/// ```
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct RedisStoreConfig {
    /// A redis-rs connection URL: `redis://[user:password@]host[:port][/db]`, or
    /// `redis+unix:///path/to/socket`.
    pub url: String,
    /// Prepended to every key, so several applications can share one Redis database.
    /// `None` (the default) uses keys as given.
    pub key_prefix: Option<String>,
    /// Upper bound of every store call, including any wait for a reconnection: a call
    /// that has no answer by then fails with
    /// [`StoreError::Unavailable`](ferromcp_core::state::StoreError::Unavailable).
    /// Default: 2 s.
    pub response_timeout: Duration,
    /// Upper bound of each attempt to open a TCP connection (at start-up and when
    /// reconnecting). Default: 2 s.
    pub connection_timeout: Duration,
}

impl RedisStoreConfig {
    /// The default settings for `url`.
    pub fn new(url: impl Into<String>) -> Self {
        RedisStoreConfig { url: url.into(), ..Self::default() }
    }
    /// Prepends `prefix` to every key (see [`key_prefix`](Self::key_prefix)).
    pub fn key_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.key_prefix = Some(prefix.into());
        self
    }
    /// Bounds every store call (see [`response_timeout`](Self::response_timeout)).
    pub fn response_timeout(mut self, t: Duration) -> Self {
        self.response_timeout = t;
        self
    }
    /// Bounds each connection attempt (see [`connection_timeout`](Self::connection_timeout)).
    pub fn connection_timeout(mut self, t: Duration) -> Self {
        self.connection_timeout = t;
        self
    }
}

impl Default for RedisStoreConfig {
    /// `redis://127.0.0.1/`, no key prefix, 2 s timeouts.
    fn default() -> Self {
        RedisStoreConfig {
            url: "redis://127.0.0.1/".into(),
            key_prefix: None,
            response_timeout: Duration::from_secs(2),
            connection_timeout: Duration::from_secs(2),
        }
    }
}

impl std::fmt::Debug for RedisStoreConfig {
    /// Leaves out the URL: it may hold a password.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisStoreConfig")
            .field("key_prefix", &self.key_prefix)
            .field("response_timeout", &self.response_timeout)
            .field("connection_timeout", &self.connection_timeout)
            .finish_non_exhaustive()
    }
}
