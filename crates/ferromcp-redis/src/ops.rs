//! The [`StateStore`] operations of [`RedisStore`].

use std::sync::LazyLock;
use std::time::Duration;

use ferromcp_core::state::{Entry, ScopeLimit, StateStore, StoreError, StoreFuture, Version};
use redis::Script;
use serde_json::Value;

use crate::RedisStore;
use crate::keys::{is_index_key, prefix_pattern, ttl_millis};
use crate::scoped::{Condition, Outcome};
use crate::store::{decode, encode, key_error, unavailable};

/// Compare-and-swap, atomic because Redis runs a script without interleaving.
///
/// `KEYS[1]`: the key. `ARGV[1]`: `"1"` if a current value is expected (`ARGV[2]`), `"0"`
/// if the key must be absent. `ARGV[3]`: `"set"` (write `ARGV[4]`, with `PX ARGV[5]`
/// unless it is `"0"`) or `"del"`. Returns 1 if it swapped, 0 if not.
const CAS_LUA: &str = r"
local cur = redis.call('GET', KEYS[1])
if ARGV[1] == '1' then
  if cur ~= ARGV[2] then return 0 end
elseif cur then
  return 0
end
if ARGV[3] == 'del' then
  redis.call('DEL', KEYS[1])
elseif ARGV[5] ~= '0' then
  redis.call('SET', KEYS[1], ARGV[4], 'PX', ARGV[5])
else
  redis.call('SET', KEYS[1], ARGV[4])
end
return 1
";

/// Loaded once per process; `invoke_async` sends `EVALSHA` and falls back to loading
/// the script when Redis answers `NOSCRIPT` (for instance after a restart).
static CAS_SCRIPT: LazyLock<Script> = LazyLock::new(|| Script::new(CAS_LUA));

/// Keys asked for per `SCAN` round (a hint to Redis) and deleted per `UNLINK`.
const SCAN_BATCH: usize = 1000;

/// A bound on `SCAN` rounds, so a misbehaving server cannot keep one call going forever
/// (a billion keys at the batch size).
const MAX_SCAN_ROUNDS: u64 = 1_000_000;

impl StateStore for RedisStore {
    fn get<'a>(&'a self, key: &'a str) -> StoreFuture<'a, Result<Option<Entry>, StoreError>> {
        Box::pin(async move {
            let full = self.full_key(key);
            let mut con = self.con.clone();
            let raw: Option<Vec<u8>> = self
                .run("GET", async move { redis::cmd("GET").arg(&full).query_async(&mut con).await })
                .await
                .map_err(|f| key_error("GET", key, f))?;
            raw.map(|raw| decode(key, raw)).transpose()
        })
    }

    fn put<'a>(&'a self, key: &'a str, value: Value, ttl: Option<Duration>) -> StoreFuture<'a, Result<(), StoreError>> {
        Box::pin(async move {
            let text = encode(key, &value)?;
            let mut cmd = redis::cmd("SET");
            cmd.arg(self.full_key(key)).arg(text);
            if let Some(ttl) = ttl {
                cmd.arg("PX").arg(ttl_millis(ttl));
            }
            let mut con = self.con.clone();
            self.run("SET", async move { cmd.query_async::<()>(&mut con).await })
                .await
                .map_err(|f| key_error("SET", key, f))
        })
    }

    fn delete<'a>(&'a self, key: &'a str) -> StoreFuture<'a, Result<bool, StoreError>> {
        Box::pin(async move {
            let full = self.full_key(key);
            let mut con = self.con.clone();
            let n: u64 = self
                .run("DEL", async move { redis::cmd("DEL").arg(&full).query_async(&mut con).await })
                .await
                .map_err(|f| key_error("DEL", key, f))?;
            Ok(n > 0)
        })
    }

    fn compare_and_swap<'a>(
        &'a self,
        key: &'a str,
        expected: Option<&'a Version>,
        new: Option<Value>,
        ttl: Option<Duration>,
    ) -> StoreFuture<'a, Result<bool, StoreError>> {
        Box::pin(async move {
            let expected = match expected {
                None => None,
                Some(Version::Raw(raw)) => Some(raw.as_str()),
                // Versions of this store are always `Raw`; another store's never matches.
                Some(_) => return Ok(false),
            };
            let new = new.map(|v| encode(key, &v)).transpose()?;
            let mut inv = CAS_SCRIPT.prepare_invoke();
            inv.key(self.full_key(key))
                .arg(if expected.is_some() { "1" } else { "0" })
                .arg(expected.unwrap_or(""))
                .arg(if new.is_some() { "set" } else { "del" })
                .arg(new.as_deref().unwrap_or(""))
                .arg(ttl.map_or(0, ttl_millis));
            let mut con = self.con.clone();
            let swapped: i64 = self
                .run("compare-and-swap", async move { inv.invoke_async(&mut con).await })
                .await
                .map_err(|f| key_error("compare-and-swap", key, f))?;
            Ok(swapped == 1)
        })
    }

    fn delete_prefix<'a>(&'a self, prefix: &'a str) -> StoreFuture<'a, Result<u64, StoreError>> {
        Box::pin(async move {
            let pattern = prefix_pattern(&self.full_key(prefix));
            let mut cursor: u64 = 0;
            let mut deleted: u64 = 0;
            for _ in 0..MAX_SCAN_ROUNDS {
                let mut con = self.con.clone();
                let mut scan = redis::cmd("SCAN");
                scan.arg(cursor).arg("MATCH").arg(&pattern).arg("COUNT").arg(SCAN_BATCH);
                let (next, keys): (u64, Vec<Vec<u8>>) = self
                    .run("SCAN", async move { scan.query_async(&mut con).await })
                    .await
                    .map_err(|f| unavailable("SCAN", f))?;
                // Scope indexes go too, but only values count.
                let (indexes, values): (Vec<_>, Vec<_>) = keys.into_iter().partition(|k| is_index_key(k));
                for batch in values.chunks(SCAN_BATCH) {
                    deleted += self.unlink(batch).await?;
                }
                if !indexes.is_empty() {
                    self.unlink(&indexes).await?;
                }
                if next == 0 {
                    return Ok(deleted);
                }
                cursor = next;
            }
            Err(StoreError::Unavailable(format!("SCAN did not finish after {MAX_SCAN_ROUNDS} rounds")))
        })
    }

    // Redis cannot count a prefix without a scan, so `count_prefix` keeps its default;
    // the scoped writes check an index of the scope instead (see `scoped`), in the
    // script that writes.

    fn put_in_scope<'a>(
        &'a self,
        key: &'a str,
        value: Value,
        ttl: Option<Duration>,
        scope: ScopeLimit<'a>,
    ) -> StoreFuture<'a, Result<(), StoreError>> {
        Box::pin(async move {
            let text = encode(key, &value)?;
            self.scoped_write("scoped SET", key, scope, Condition::Any, Some(&text), ttl).await.map(|_| ())
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
            let cond = match expected {
                None => Condition::Absent,
                Some(Version::Raw(raw)) => Condition::Equal(raw),
                // Versions of this store are always `Raw`; another store's never matches.
                Some(_) => return Ok(false),
            };
            let new = new.map(|v| encode(key, &v)).transpose()?;
            let done = self.scoped_write("scoped compare-and-swap", key, scope, cond, new.as_deref(), ttl).await?;
            Ok(done == Outcome::Done)
        })
    }

    fn delete_in_scope<'a>(&'a self, key: &'a str, prefix: &'a str) -> StoreFuture<'a, Result<bool, StoreError>> {
        Box::pin(async move {
            // A delete never adds a key, so the limit plays no part.
            let scope = ScopeLimit { prefix, max_keys: u64::MAX };
            let done = self.scoped_write("scoped DEL", key, scope, Condition::Any, None, None).await?;
            Ok(done == Outcome::Done)
        })
    }
}

impl RedisStore {
    /// Unlinks `keys`; returns how many existed (a key `SCAN` reported twice, or one
    /// deleted meanwhile by another client, counts once or not at all).
    async fn unlink(&self, keys: &[Vec<u8>]) -> Result<u64, StoreError> {
        let mut con = self.con.clone();
        let mut cmd = redis::cmd("UNLINK");
        cmd.arg(keys);
        self.run("UNLINK", async move { cmd.query_async(&mut con).await }).await.map_err(|f| unavailable("UNLINK", f))
    }
}
