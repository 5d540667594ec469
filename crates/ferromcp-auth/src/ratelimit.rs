//! Per-principal rate limiting.
//!
//! - [`LocalRateLimiter`]: GCRA (the `governor` crate) per key, in this process: a
//!   sustained rate plus a burst. For several nodes use
//!   `ferromcp_redis::RedisRateLimiter`, which runs the same algorithm in Redis.
//! - [`RateLimit`]: a middleware applying any
//!   [`RateLimiter`] to every request, keyed by the caller's principal (else its
//!   session scope): over-rate requests get a JSON-RPC error naming the wait (stdio,
//!   in-memory). HTTP servers configure the limiter on `HttpAuth::rate_limit` instead,
//!   which answers 429 with `Retry-After` before the request is read.
//!
//! ```
//! # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
//! use ferromcp_auth::LocalRateLimiter;
//! use ferromcp_core::auth::RateLimiter;
//! let l = LocalRateLimiter::per_second(1, 2);
//! assert!(l.check("alice").await.is_ok());
//! assert!(l.check("alice").await.is_ok());
//! assert!(l.check("alice").await.is_err()); // burst of 2 used up
//! assert!(l.check("bob").await.is_ok()); // bob has his own allowance
//! # });
//! ```

use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use ferromcp_core::auth::RateLimiter;
use ferromcp_core::middleware::{Middleware, MwFuture, Next};
use ferromcp_core::state::StoreFuture;
use ferromcp_core::{Context, ProtocolError, Reply};
use governor::clock::{Clock, DefaultClock};
use governor::state::keyed::DefaultKeyedStateStore;
use governor::{Quota, RateLimiter as Gcra};

/// Keys kept before idle ones are dropped.
const SHRINK_AT: usize = 10_000;

/// An in-process GCRA limiter per key.
pub struct LocalRateLimiter {
    gcra: Gcra<String, DefaultKeyedStateStore<String>, DefaultClock>,
    clock: DefaultClock,
}

impl std::fmt::Debug for LocalRateLimiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalRateLimiter").finish_non_exhaustive()
    }
}

impl LocalRateLimiter {
    /// `per_second` requests a second sustained, bursts of up to `burst` (zeros are
    /// taken as one).
    pub fn per_second(per_second: u32, burst: u32) -> Self {
        let quota = Quota::per_second(nz(per_second)).allow_burst(nz(burst));
        Self::with_quota(quota)
    }
    /// One request per `period` sustained, bursts of up to `burst`.
    pub fn per_period(period: Duration, burst: u32) -> Self {
        let quota = Quota::with_period(period.max(Duration::from_nanos(1)))
            .unwrap_or_else(|| Quota::per_second(nz(1)))
            .allow_burst(nz(burst));
        Self::with_quota(quota)
    }
    fn with_quota(quota: Quota) -> Self {
        let clock = DefaultClock::default();
        LocalRateLimiter { gcra: Gcra::new(quota, DefaultKeyedStateStore::default(), clock.clone()), clock }
    }
}

fn nz(n: u32) -> NonZeroU32 {
    NonZeroU32::new(n).unwrap_or(NonZeroU32::MIN)
}

impl RateLimiter for LocalRateLimiter {
    fn check<'a>(&'a self, key: &'a str) -> StoreFuture<'a, Result<(), Duration>> {
        if self.gcra.len() > SHRINK_AT {
            self.gcra.retain_recent();
        }
        let out = self.gcra.check_key(&key.to_owned()).map_err(|not_until| not_until.wait_time_from(self.clock.now()));
        Box::pin(std::future::ready(out))
    }
}

/// The JSON-RPC error code of a request refused by a rate limiter.
pub const RATE_LIMITED: i32 = -32029;

/// The refusal of an over-rate request: code [`RATE_LIMITED`], HTTP status 429,
/// `data.retryAfterMs`.
pub fn rate_limited(wait: Duration) -> ProtocolError {
    let secs = wait.as_secs_f64();
    ProtocolError::new(RATE_LIMITED, format!("Rate limit exceeded; retry in {secs:.1} s"))
        .with_data(serde_json::json!({"retryAfterMs": wait.as_millis() as u64}))
        .with_status(429)
}

/// A middleware that applies a [`RateLimiter`] to every request, keyed by the caller's
/// principal (its hashed subject), else its session scope, else one shared
/// `anonymous` key. On HTTP prefer `HttpAuth::rate_limit` (429 + `Retry-After`); do not
/// give the same limiter to both, or each request counts twice.
#[derive(Clone)]
pub struct RateLimit {
    limiter: Arc<dyn RateLimiter>,
}

impl std::fmt::Debug for RateLimit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RateLimit").finish_non_exhaustive()
    }
}

impl RateLimit {
    /// Limits with `limiter`.
    pub fn new(limiter: impl RateLimiter) -> Self {
        RateLimit { limiter: Arc::new(limiter) }
    }
    /// Limits with a shared limiter.
    pub fn from_arc(limiter: Arc<dyn RateLimiter>) -> Self {
        RateLimit { limiter }
    }
}

/// The rate-limit key of a request.
pub fn caller_key(ctx: &Context) -> String {
    match (ctx.principal(), ctx.scope().key_prefix()) {
        (Some(p), _) => format!("principal:{}", p.hashed()),
        (None, Some(scope)) => scope,
        (None, None) => "anonymous".to_owned(),
    }
}

impl Middleware for RateLimit {
    fn on_request<'a>(&'a self, ctx: &'a Context, input: (), next: Next<'a, (), Reply>) -> MwFuture<'a, Reply> {
        Box::pin(async move {
            let key = caller_key(ctx);
            match self.limiter.check(&key).await {
                Ok(()) => next.run(ctx, input).await,
                Err(wait) => Reply::error(Some(ctx.request_id()), &rate_limited(wait)),
            }
        })
    }
}
