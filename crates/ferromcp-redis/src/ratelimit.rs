//! [`RedisRateLimiter`]: GCRA (the generic cell rate algorithm, as `governor` runs in
//! process) in one Lua script, so several server nodes sharing a Redis hold one limit
//! per key together. The script reads Redis's own clock (`TIME`), so node clocks need
//! not agree. Each key stores one number (its theoretical arrival time) that expires
//! once it no longer matters.
//!
//! If Redis is unreachable the request is let through (with a warning): a rate limiter
//! that fails closed would turn a Redis outage into a full outage.

use std::sync::LazyLock;
use std::time::Duration;

use ferromcp_core::auth::RateLimiter;
use ferromcp_core::state::{StoreError, StoreFuture};
use redis::Script;

use crate::RedisStore;

const GCRA_LUA: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local interval = tonumber(ARGV[1])
local tolerance = tonumber(ARGV[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or now)
if tat < now then tat = now end
local allow_at = tat - tolerance
if now < allow_at then
  return allow_at - now
end
local new_tat = tat + interval
redis.call('SET', KEYS[1], new_tat, 'PX', math.ceil((new_tat - now) / 1000) + 1000)
return 0
";

static GCRA_SCRIPT: LazyLock<Script> = LazyLock::new(|| Script::new(GCRA_LUA));

/// A GCRA rate limiter per key, shared through Redis.
///
/// ```no_run
/// # async fn run() -> Result<(), ferromcp_core::state::StoreError> {
/// use ferromcp_redis::RedisRateLimiter;
/// // 5 requests a second per principal, bursts of 10, across every node.
/// let limiter = RedisRateLimiter::connect("redis://127.0.0.1:6379/", 5, 10).await?;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct RedisRateLimiter {
    store: RedisStore,
    prefix: String,
    /// Microseconds between two requests at the sustained rate.
    interval_us: u64,
    /// How far ahead of the sustained rate a burst may run, in microseconds.
    tolerance_us: u64,
}

impl std::fmt::Debug for RedisRateLimiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisRateLimiter")
            .field("prefix", &self.prefix)
            .field("interval_us", &self.interval_us)
            .finish_non_exhaustive()
    }
}

impl RedisRateLimiter {
    /// `per_second` requests a second sustained, bursts of up to `burst` (zeros are
    /// taken as one), on the connection of `store`. Keys are `ferromcp:ratelimit:KEY`
    /// (after the store's own prefix).
    pub fn new(store: &RedisStore, per_second: u32, burst: u32) -> Self {
        Self::per_period(store, Duration::from_secs(1) / per_second.max(1), burst)
    }
    /// One request per `period` sustained, bursts of up to `burst`.
    pub fn per_period(store: &RedisStore, period: Duration, burst: u32) -> Self {
        let interval_us = (period.as_micros() as u64).max(1);
        RedisRateLimiter {
            store: store.clone(),
            prefix: "ferromcp:ratelimit:".into(),
            interval_us,
            tolerance_us: interval_us * u64::from(burst.max(1) - 1),
        }
    }
    /// Connects to the Redis at `url` (see [`RedisStore::connect`]) and limits as
    /// [`new`](Self::new).
    pub async fn connect(url: &str, per_second: u32, burst: u32) -> Result<Self, StoreError> {
        Ok(Self::new(&RedisStore::connect(url).await?, per_second, burst))
    }
    /// Replaces the key prefix (e.g. one per deployment or per test).
    pub fn key_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }
}

impl RateLimiter for RedisRateLimiter {
    fn check<'a>(&'a self, key: &'a str) -> StoreFuture<'a, Result<(), Duration>> {
        Box::pin(async move {
            let mut inv = GCRA_SCRIPT.prepare_invoke();
            inv.key(self.store.full_key(&format!("{}{key}", self.prefix))).arg(self.interval_us).arg(self.tolerance_us);
            let mut con = self.store.con.clone();
            match self.store.run("rate limit", async move { inv.invoke_async::<i64>(&mut con).await }).await {
                Ok(0) => Ok(()),
                Ok(wait_us) => Err(Duration::from_micros(wait_us.max(1) as u64)),
                Err(e) => {
                    tracing::warn!("rate limiter: Redis did not answer ({e:?}); request let through");
                    Ok(())
                }
            }
        })
    }
}
