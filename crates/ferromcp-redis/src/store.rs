//! [`RedisStore`]: construction, the time bound every command runs under, and the
//! mapping of redis-rs errors and replies to [`StoreError`].

use std::future::Future;
use std::time::Duration;

use ferromcp_core::state::{Entry, StoreError, Version};
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{AsyncConnectionConfig, Client, ErrorKind, RedisError, RedisResult};

use crate::RedisStoreConfig;

/// Connection attempts per reconnection round after the first, and the pause before
/// the retry (plus jitter). Short on purpose: calls wait on the round in progress, so a
/// long backoff (redis-rs's default is 6 retries, over 6 s) would make every call during
/// an outage run into the response timeout, and would delay noticing that Redis is back.
/// A failed round is not repeated in the background; the next call starts a new one, so
/// there is at most one attempt in flight at a time.
const RECONNECT_RETRIES: usize = 1;
const RECONNECT_DELAY: Duration = Duration::from_millis(50);

/// A [`StateStore`](ferromcp_core::state::StateStore) on Redis.
///
/// Values are stored as JSON strings under the (optionally prefixed) key; an entry's
/// version is that exact string ([`Version::Raw`]). TTLs are native Redis expirations.
/// Compare-and-swap runs as one Lua script, so it is atomic across every process that
/// shares the database.
///
/// All commands go through one multiplexed connection (a redis-rs
/// [`ConnectionManager`]) that reconnects by itself after Redis restarts or the network
/// drops. Every call is bounded by [`RedisStoreConfig::response_timeout`]: while Redis
/// is unreachable calls fail fast with [`StoreError::Unavailable`], and succeed again
/// once it is back, with nothing to do on the caller's side.
///
/// Cloning is cheap and clones share the connection.
#[derive(Clone)]
pub struct RedisStore {
    pub(crate) con: ConnectionManager,
    pub(crate) key_prefix: Option<String>,
    pub(crate) response_timeout: Duration,
}

impl std::fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisStore")
            .field("key_prefix", &self.key_prefix)
            .field("response_timeout", &self.response_timeout)
            .finish_non_exhaustive()
    }
}

impl RedisStore {
    /// Connects to the Redis at `url` with default settings (see [`RedisStoreConfig`]).
    ///
    /// Fails with [`StoreError::Unavailable`] if the URL is invalid or Redis does not
    /// answer a `PING` within the connection and response timeouts.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        Self::with_config(RedisStoreConfig::new(url)).await
    }

    /// Connects with explicit settings; fails like [`RedisStore::connect`].
    pub async fn with_config(cfg: RedisStoreConfig) -> Result<Self, StoreError> {
        let client =
            Client::open(cfg.url.as_str()).map_err(|e| StoreError::Unavailable(format!("invalid redis URL: {e}")))?;
        let bound = cfg.connection_timeout + cfg.response_timeout;
        // One direct attempt first: it fails fast and with the real cause (refused,
        // authentication, unknown database), where the manager would retry with backoff.
        let probe_cfg = AsyncConnectionConfig::new()
            .set_connection_timeout(Some(cfg.connection_timeout))
            .set_response_timeout(Some(cfg.response_timeout));
        let probe = async {
            let mut con = client.get_multiplexed_async_connection_with_config(&probe_cfg).await?;
            redis::cmd("PING").query_async::<()>(&mut con).await
        };
        bounded(bound, "connect", probe).await.map_err(|e| unavailable("connect", e))?;
        let manager_cfg = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(cfg.connection_timeout))
            .set_response_timeout(Some(cfg.response_timeout))
            .set_number_of_retries(RECONNECT_RETRIES)
            .set_min_delay(RECONNECT_DELAY)
            .set_max_delay(RECONNECT_DELAY);
        let con = bounded(bound, "connect", ConnectionManager::new_with_config(client, manager_cfg))
            .await
            .map_err(|e| unavailable("connect", e))?;
        Ok(RedisStore { con, key_prefix: cfg.key_prefix, response_timeout: cfg.response_timeout })
    }

    /// The prefix prepended to every key, if any.
    pub fn key_prefix(&self) -> Option<&str> {
        self.key_prefix.as_deref()
    }

    /// Sends a `PING`; a health check for readiness probes.
    pub async fn ping(&self) -> Result<(), StoreError> {
        let mut con = self.con.clone();
        self.run("PING", async move { redis::cmd("PING").query_async::<()>(&mut con).await })
            .await
            .map_err(|e| unavailable("PING", e))
    }

    /// The Redis key for a store key.
    pub(crate) fn full_key(&self, key: &str) -> String {
        match &self.key_prefix {
            Some(p) => format!("{p}{key}"),
            None => key.to_owned(),
        }
    }

    /// Runs one round trip under the response timeout.
    pub(crate) async fn run<T>(
        &self,
        what: &'static str,
        fut: impl Future<Output = RedisResult<T>>,
    ) -> Result<T, Failure> {
        bounded(self.response_timeout, what, fut).await
    }
}

/// Why a round trip failed: Redis said no, or said nothing in time.
#[derive(Debug)]
pub(crate) enum Failure {
    Redis(RedisError),
    TimedOut(&'static str, Duration),
}

async fn bounded<T>(
    limit: Duration,
    what: &'static str,
    fut: impl Future<Output = RedisResult<T>>,
) -> Result<T, Failure> {
    match tokio::time::timeout(limit, fut).await {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(Failure::Redis(e)),
        Err(_) => Err(Failure::TimedOut(what, limit)),
    }
}

/// Maps a failure that concerns no stored value.
pub(crate) fn unavailable(what: &str, f: Failure) -> StoreError {
    match f {
        Failure::TimedOut(what, limit) => {
            StoreError::Unavailable(format!("redis did not answer {what} within {limit:?}"))
        }
        Failure::Redis(e) if is_bad_reply(&e) => StoreError::Unavailable(format!("unexpected reply to {what}: {e}")),
        Failure::Redis(e) => StoreError::Unavailable(format!("redis {what} failed: {e}")),
    }
}

/// Maps a failure of a command on `key`: a key holding a non-string (`WRONGTYPE`) is
/// [`StoreError::Corrupt`]; everything else is [`StoreError::Unavailable`].
pub(crate) fn key_error(what: &str, key: &str, f: Failure) -> StoreError {
    match f {
        Failure::Redis(e) if e.code() == Some("WRONGTYPE") => {
            StoreError::Corrupt { key: key.to_owned(), reason: "the Redis key holds a non-string value".into() }
        }
        f => unavailable(what, f),
    }
}

/// Whether Redis answered, but not with the shape the command promises.
fn is_bad_reply(e: &RedisError) -> bool {
    matches!(e.kind(), ErrorKind::UnexpectedReturnType | ErrorKind::Parse)
}

/// Decodes a stored string into an entry; anything but UTF-8 JSON is `Corrupt`.
pub(crate) fn decode(key: &str, raw: Vec<u8>) -> Result<Entry, StoreError> {
    let corrupt = |reason: String| StoreError::Corrupt { key: key.to_owned(), reason };
    let text = String::from_utf8(raw).map_err(|_| corrupt("the stored value is not UTF-8".into()))?;
    let value = serde_json::from_str(&text).map_err(|e| corrupt(format!("the stored value is not JSON: {e}")))?;
    Ok(Entry { value, version: Version::Raw(text) })
}

/// Encodes a value for storage.
pub(crate) fn encode(key: &str, value: &serde_json::Value) -> Result<String, StoreError> {
    serde_json::to_string(value).map_err(|e| StoreError::Corrupt { key: key.to_owned(), reason: e.to_string() })
}
