//! The keys-per-scope limit on Redis: writes of a scope's keys keep an index of the
//! scope, checked and updated by the same Lua script as the write, so the limit holds
//! atomically across every node and costs no extra round trip.
//!
//! The index of a scope is a sorted set under [`index_key`] of the scope's prefix. Its
//! members are the scope's keys (without the prefix), scored by their expiry time in
//! Redis milliseconds (`+inf` for no expiry), so members of expired keys are dropped
//! with one `ZREMRANGEBYSCORE` before counting. The index expires with its
//! longest-lived member, an emptied index disappears (Redis removes empty sorted sets),
//! and `delete_prefix` of the scope removes it with the scope's keys.
//!
//! Keys written with a plain `put` (not through the state API) are not indexed and not
//! counted; a key deleted with a plain `delete` keeps its slot until its expiry. Keys
//! written before the index existed are not counted either, but overwriting them is
//! never refused.

use std::sync::LazyLock;
use std::time::Duration;

use ferromcp_core::state::{ScopeLimit, StoreError};
use redis::Script;

use crate::RedisStore;
use crate::keys::{index_key, ttl_millis};
use crate::store::key_error;

/// Write, compare-and-swap or delete one key of a scope, and keep the scope's index.
///
/// `KEYS[1]`: the key, `KEYS[2]`: the scope's index. `ARGV[1]`: the member (the key
/// without the scope prefix). `ARGV[2]`: the most keys of the scope. `ARGV[3]`: the
/// condition, `any` (none), `absent` (the key must not exist) or `equal` (the key must
/// hold `ARGV[4]`). `ARGV[5]`: `set` (write `ARGV[6]`, with `PX ARGV[7]` unless it is
/// `"0"`) or `del`. Returns -1 if the write would add a key to a full scope (nothing
/// changed), 0 if the condition failed, 1 if it wrote; a `del` under `any` returns how
/// many keys it deleted (0 or 1).
///
/// `TIME` makes the script non-deterministic; Redis 7 replicates a script's effects
/// (its writes), not the script, and `replicate_commands` asks Redis 5 and 6 to do the
/// same.
const SCOPED_LUA: &str = r"
if redis.replicate_commands then redis.replicate_commands() end
if ARGV[3] ~= 'any' then
  local cur = redis.call('GET', KEYS[1])
  if ARGV[3] == 'equal' then
    if cur ~= ARGV[4] then return 0 end
  elseif cur then
    return 0
  end
end
if ARGV[5] == 'del' then
  local n = redis.call('DEL', KEYS[1])
  redis.call('ZREM', KEYS[2], ARGV[1])
  if ARGV[3] == 'any' then return n end
  return 1
end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', '(' .. string.format('%.0f', now))
if not redis.call('ZSCORE', KEYS[2], ARGV[1])
  and redis.call('ZCARD', KEYS[2]) >= tonumber(ARGV[2])
  and redis.call('EXISTS', KEYS[1]) == 0 then
  return -1
end
if ARGV[7] ~= '0' then
  redis.call('SET', KEYS[1], ARGV[6], 'PX', ARGV[7])
  redis.call('ZADD', KEYS[2], string.format('%.0f', now + tonumber(ARGV[7])), ARGV[1])
else
  redis.call('SET', KEYS[1], ARGV[6])
  redis.call('ZADD', KEYS[2], '+inf', ARGV[1])
end
local last = redis.call('ZRANGE', KEYS[2], -1, -1, 'WITHSCORES')
if last[2] == 'inf' then
  redis.call('PERSIST', KEYS[2])
else
  redis.call('PEXPIREAT', KEYS[2], string.format('%.0f', tonumber(last[2])))
end
return 1
";

/// Loaded once per process, like the compare-and-swap script.
static SCOPED_SCRIPT: LazyLock<Script> = LazyLock::new(|| Script::new(SCOPED_LUA));

/// What must hold before a scoped write.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Condition<'a> {
    /// Nothing (a plain write or delete).
    Any,
    /// The key is absent.
    Absent,
    /// The key holds exactly this text.
    Equal(&'a str),
}

/// Whether a scoped write happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// Written (for a delete under [`Condition::Any`]: the key existed).
    Done,
    /// The condition failed (for a delete under [`Condition::Any`]: the key was absent).
    NotDone,
}

impl RedisStore {
    /// Runs [`SCOPED_LUA`] for `key` of `scope` in one round trip: writes `new` (`None`
    /// deletes) if `cond` holds and the scope has room, and keeps the scope's index.
    pub(crate) async fn scoped_write(
        &self,
        what: &'static str,
        key: &str,
        scope: ScopeLimit<'_>,
        cond: Condition<'_>,
        new: Option<&str>,
        ttl: Option<Duration>,
    ) -> Result<Outcome, StoreError> {
        // The state API's keys always start with their scope's prefix; a key that does
        // not is indexed under its full name, which keeps the count right all the same.
        let member = key.strip_prefix(scope.prefix).unwrap_or(key);
        let (check, expected) = match cond {
            Condition::Any => ("any", ""),
            Condition::Absent => ("absent", ""),
            Condition::Equal(text) => ("equal", text),
        };
        let mut inv = SCOPED_SCRIPT.prepare_invoke();
        inv.key(self.full_key(key))
            .key(index_key(&self.full_key(scope.prefix)))
            .arg(member)
            .arg(scope.max_keys)
            .arg(check)
            .arg(expected)
            .arg(if new.is_some() { "set" } else { "del" })
            .arg(new.unwrap_or(""))
            .arg(ttl.map_or(0, ttl_millis));
        let mut con = self.con.clone();
        let n: i64 = self
            .run(what, async move { inv.invoke_async(&mut con).await })
            .await
            .map_err(|f| key_error(what, key, f))?;
        match n {
            -1 => Err(scope.exceeded()),
            0 => Ok(Outcome::NotDone),
            _ => Ok(Outcome::Done),
        }
    }
}
