//! [`RedisSessionDirectory`]: the legacy session directory on Redis, so any node serves
//! any request of any legacy session and each session ends once for the cluster.
//!
//! # How sessions are kept
//! Under `key_prefix + "ferromcp:dir:"`:
//! - `s:<id>`: a hash per session: `d` (its [`SessionRecord`] as JSON), `l` (log level
//!   rank), `o` (`1` if it has a visibility overlay), `r` (the change counter) and one
//!   field `s:<uri>` per resource subscription. Its TTL is twice the idle timeout plus a
//!   minute: the cluster's sweep claims idle sessions long before, the TTL only cleans up
//!   after a cluster that stopped for good.
//! - `seen`: a sorted set of session ids by the Redis time they were last seen (ms).
//!
//! Every operation is one Lua script (one round trip, atomic across nodes):
//! - create sheds the least recently seen sessions while `seen` holds
//!   [`max_sessions`](ferromcp_core::session::SessionLimits::max_sessions) or more, then
//!   writes the hash and files the session in `seen`;
//! - touch (every request of a legacy session) refuses a session idle past the timeout,
//!   else refiles it in `seen`, refreshes the TTL and returns either "unchanged" (the
//!   caller's revision is current) or the whole hash;
//! - update changes one field and increments `r`, only if the hash exists;
//! - remove and the sweep *claim*: they take the session out of `seen` and delete its
//!   hash in one script, so of all nodes exactly one gets the record back and ends it.
//!
//! The scripts build the hash keys of shed and swept sessions themselves, so this
//! directory needs a standalone Redis (or a single shard), not Redis Cluster. Times are
//! Redis's `TIME`, so nodes' clocks do not matter.

use std::collections::BTreeSet;
use std::sync::LazyLock;
use std::time::Duration;

use ferromcp_core::events::SessionRecord;
use ferromcp_core::session::{Change, DirectoryRecord, SessionDirectory, SessionLimits, Touched};
use ferromcp_core::state::{StoreError, StoreFuture};
use redis::{Script, Value};

use crate::keys::ttl_millis;
use crate::store::{Failure, unavailable};
use crate::{RedisStore, RedisStoreConfig};

/// The namespace of the directory's keys, after the configured key prefix.
const NAMESPACE: &str = "ferromcp:dir:";

const NOW_LUA: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
";

/// KEYS: hash, seen. ARGV: id, record JSON, level, ttl ms, max sessions, hash prefix,
/// overlay, subscriptions...
const CREATE_LUA: &str = r"
local out = {}
local max = tonumber(ARGV[5])
while redis.call('ZCARD', KEYS[2]) >= max do
  local v = redis.call('ZRANGE', KEYS[2], 0, 0)[1]
  if not v then break end
  redis.call('ZREM', KEYS[2], v)
  local k = ARGV[6] .. v
  out[#out + 1] = v
  out[#out + 1] = redis.call('HGETALL', k)
  redis.call('DEL', k)
end
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], 'd', ARGV[2], 'l', ARGV[3], 'r', 1, 'o', ARGV[7])
for i = 8, #ARGV do redis.call('HSET', KEYS[1], 's:' .. ARGV[i], 1) end
local ttl = tonumber(ARGV[4])
if ttl > 0 then redis.call('PEXPIRE', KEYS[1], ttl) end
redis.call('ZADD', KEYS[2], string.format('%.0f', now), ARGV[1])
return out
";

/// KEYS: hash, seen. ARGV: id, known revision, idle ms (0: none), ttl ms (0: none).
const TOUCH_LUA: &str = r"
local score = redis.call('ZSCORE', KEYS[2], ARGV[1])
if not score then return false end
local idle = tonumber(ARGV[3])
if idle > 0 and now - tonumber(score) > idle then return false end
local rev = redis.call('HGET', KEYS[1], 'r')
if not rev then return false end
redis.call('ZADD', KEYS[2], string.format('%.0f', now), ARGV[1])
local ttl = tonumber(ARGV[4])
if ttl > 0 then redis.call('PEXPIRE', KEYS[1], ttl) end
if rev == ARGV[2] then return 1 end
return redis.call('HGETALL', KEYS[1])
";

/// KEYS: hash. ARGV: op (`l`, `o`, `+`, `-`), value.
const UPDATE_LUA: &str = r"
if redis.call('EXISTS', KEYS[1]) == 0 then return false end
local op = ARGV[1]
if op == 'l' or op == 'o' then
  redis.call('HSET', KEYS[1], op, ARGV[2])
elseif op == '+' then
  redis.call('HSET', KEYS[1], 's:' .. ARGV[2], 1)
else
  redis.call('HDEL', KEYS[1], 's:' .. ARGV[2])
end
return redis.call('HINCRBY', KEYS[1], 'r', 1)
";

/// KEYS: hash, seen. ARGV: id.
const REMOVE_LUA: &str = r"
local z = redis.call('ZREM', KEYS[2], ARGV[1])
local d = redis.call('HGETALL', KEYS[1])
local k = redis.call('DEL', KEYS[1])
if z == 0 and k == 0 then return false end
return d
";

/// KEYS: seen. ARGV: idle ms, max, hash prefix.
const SWEEP_LUA: &str = r"
local bound = '(' .. string.format('%.0f', now - tonumber(ARGV[1]))
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', bound, 'LIMIT', 0, tonumber(ARGV[2]))
local out = {}
for _, id in ipairs(ids) do
  redis.call('ZREM', KEYS[1], id)
  local k = ARGV[3] .. id
  out[#out + 1] = id
  out[#out + 1] = redis.call('HGETALL', k)
  redis.call('DEL', k)
end
return out
";

static CREATE: LazyLock<Script> = LazyLock::new(|| Script::new(&format!("{NOW_LUA}{CREATE_LUA}")));
static TOUCH: LazyLock<Script> = LazyLock::new(|| Script::new(&format!("{NOW_LUA}{TOUCH_LUA}")));
static UPDATE: LazyLock<Script> = LazyLock::new(|| Script::new(UPDATE_LUA));
static REMOVE: LazyLock<Script> = LazyLock::new(|| Script::new(REMOVE_LUA));
static SWEEP: LazyLock<Script> = LazyLock::new(|| Script::new(&format!("{NOW_LUA}{SWEEP_LUA}")));

/// A [`SessionDirectory`] on Redis: give every node of a deployment one (same Redis,
/// same key prefix) with
/// [`ServerBuilder::session_directory`](ferromcp_core::ServerBuilder::session_directory).
///
/// Each call is one round trip (a Lua script) on the multiplexed, self-reconnecting
/// connection of a [`RedisStore`], bounded by its response timeout; an unreachable Redis
/// gives [`StoreError::Unavailable`], which requests that need the directory answer with
/// HTTP 503. See the [module docs](self) for the layout.
///
/// ```no_run
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// use ferromcp_redis::{RedisSessionDirectory, RedisStore, RedisStoreConfig};
/// let redis = RedisStore::with_config(RedisStoreConfig::new("redis://127.0.0.1/").key_prefix("app1:")).await?;
/// let server = ferromcp_core::Server::builder("demo", "1.0.0")
///     .sealing_key(std::env::var("SEALING_KEY")?.into_bytes())
///     .state_store(redis.clone())
///     .session_directory(RedisSessionDirectory::from_store(&redis))
///     .build();
/// # let _ = server;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct RedisSessionDirectory {
    redis: RedisStore,
    namespace: String,
}

impl std::fmt::Debug for RedisSessionDirectory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisSessionDirectory").field("namespace", &self.namespace).finish_non_exhaustive()
    }
}

impl RedisSessionDirectory {
    /// Connects to the Redis at `url` with default settings; fails with
    /// [`StoreError::Unavailable`] like [`RedisStore::connect`].
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        Ok(Self::from_store(&RedisStore::connect(url).await?))
    }

    /// Connects with explicit settings (key prefix: several clusters share one Redis,
    /// told apart by prefix; timeouts).
    pub async fn with_config(cfg: RedisStoreConfig) -> Result<Self, StoreError> {
        Ok(Self::from_store(&RedisStore::with_config(cfg).await?))
    }

    /// Shares the connection, key prefix and timeout of a state store (no new connection).
    pub fn from_store(store: &RedisStore) -> Self {
        let namespace = format!("{}{NAMESPACE}", store.key_prefix.as_deref().unwrap_or(""));
        RedisSessionDirectory { redis: store.clone(), namespace }
    }

    fn hash_key(&self, id: &str) -> String {
        format!("{}s:{id}", self.namespace)
    }

    fn seen_key(&self) -> String {
        format!("{}seen", self.namespace)
    }

    async fn eval(&self, what: &'static str, inv: redis::ScriptInvocation<'static>) -> Result<Value, StoreError> {
        let mut con = self.redis.con.clone();
        self.redis.run(what, async move { inv.invoke_async(&mut con).await }).await.map_err(|f| dir_error(what, f))
    }
}

/// Maps a failure of a directory script.
fn dir_error(what: &'static str, f: Failure) -> StoreError {
    match f {
        Failure::Redis(e) if e.code() == Some("WRONGTYPE") => StoreError::Corrupt {
            key: what.to_owned(),
            reason: "a key of the session directory holds another Redis type; give the directory its own key prefix"
                .into(),
        },
        f => unavailable(what, f),
    }
}

/// The TTL of a session hash: twice the idle timeout plus a minute (0: no expiry).
fn hash_ttl_ms(limits: &SessionLimits) -> u64 {
    limits.idle_timeout.map_or(0, |t| ttl_millis(t.saturating_mul(2).saturating_add(Duration::from_secs(60))))
}

fn idle_ms(limits: &SessionLimits) -> u64 {
    limits.idle_timeout.map_or(0, |t| ttl_millis(t).max(1))
}

fn corrupt(id: &str, reason: impl Into<String>) -> StoreError {
    StoreError::Corrupt { key: format!("session directory record {id}"), reason: reason.into() }
}

fn text(v: &Value) -> Option<String> {
    match v {
        Value::BulkString(b) => String::from_utf8(b.clone()).ok(),
        Value::SimpleString(s) => Some(s.clone()),
        Value::Int(i) => Some(i.to_string()),
        _ => None,
    }
}

/// Decodes an `HGETALL` reply of session `id`; an empty one (the hash expired before it
/// was claimed) is [`DirectoryRecord::lost`].
fn decode(id: &str, fields: &[Value]) -> Result<DirectoryRecord, StoreError> {
    let mut rec: Option<SessionRecord> = None;
    let (mut level, mut rev, mut overlay, mut subs) = (0u8, 1u64, false, BTreeSet::new());
    for pair in fields.chunks(2) {
        let [k, v] = pair else { return Err(corrupt(id, "odd number of hash fields")) };
        let (Some(k), Some(v)) = (text(k), text(v)) else { return Err(corrupt(id, "a field is not UTF-8")) };
        match k.as_str() {
            "d" => rec = Some(serde_json::from_str(&v).map_err(|e| corrupt(id, format!("bad record JSON: {e}")))?),
            "l" => level = v.parse().map_err(|_| corrupt(id, "bad log level"))?,
            "r" => rev = v.parse().map_err(|_| corrupt(id, "bad revision"))?,
            "o" => overlay = v == "1",
            _ => {
                if let Some(uri) = k.strip_prefix("s:") {
                    subs.insert(uri.to_owned());
                }
            }
        }
    }
    let Some(session) = rec else { return Ok(DirectoryRecord::lost(id)) };
    Ok(DirectoryRecord { session, log_level: level, subscriptions: subs, overlay, rev })
}

/// Decodes `[id, fields, id, fields, …]` (shed and swept sessions).
fn decode_claims(v: Value) -> Result<Vec<DirectoryRecord>, StoreError> {
    let Value::Array(items) = v else { return Ok(Vec::new()) };
    let mut out = Vec::with_capacity(items.len() / 2);
    for pair in items.chunks(2) {
        let [id, fields] = pair else { return Err(corrupt("?", "odd claim list")) };
        let id = text(id).ok_or_else(|| corrupt("?", "a claimed id is not UTF-8"))?;
        let fields = match fields {
            Value::Array(f) => f.as_slice(),
            _ => &[],
        };
        out.push(decode(&id, fields)?);
    }
    Ok(out)
}

impl SessionDirectory for RedisSessionDirectory {
    fn create<'a>(
        &'a self,
        record: &'a DirectoryRecord,
        limits: &'a SessionLimits,
    ) -> StoreFuture<'a, Result<Vec<DirectoryRecord>, StoreError>> {
        Box::pin(async move {
            let json = serde_json::to_string(&record.session).map_err(|e| corrupt(record.id(), e.to_string()))?;
            let mut inv = CREATE.prepare_invoke();
            inv.key(self.hash_key(record.id()))
                .key(self.seen_key())
                .arg(record.id())
                .arg(json)
                .arg(record.log_level)
                .arg(hash_ttl_ms(limits))
                .arg(limits.max_sessions.max(1))
                .arg(self.hash_key(""))
                .arg(if record.overlay { "1" } else { "0" });
            for s in &record.subscriptions {
                inv.arg(s);
            }
            decode_claims(self.eval("session create", inv).await?)
        })
    }

    fn load<'a>(&'a self, id: &'a str) -> StoreFuture<'a, Result<Option<DirectoryRecord>, StoreError>> {
        Box::pin(async move {
            let mut con = self.redis.con.clone();
            let key = self.hash_key(id);
            let fields: Value = self
                .redis
                .run("session load", async move { redis::cmd("HGETALL").arg(key).query_async(&mut con).await })
                .await
                .map_err(|f| dir_error("session load", f))?;
            match fields {
                Value::Array(f) if !f.is_empty() => Ok(Some(decode(id, &f)?)),
                Value::Map(m) if !m.is_empty() => {
                    let flat: Vec<Value> = m.into_iter().flat_map(|(k, v)| [k, v]).collect();
                    Ok(Some(decode(id, &flat)?))
                }
                _ => Ok(None),
            }
        })
    }

    fn touch<'a>(
        &'a self,
        id: &'a str,
        known_rev: u64,
        limits: &'a SessionLimits,
    ) -> StoreFuture<'a, Result<Touched, StoreError>> {
        Box::pin(async move {
            let mut inv = TOUCH.prepare_invoke();
            inv.key(self.hash_key(id))
                .key(self.seen_key())
                .arg(id)
                .arg(known_rev)
                .arg(idle_ms(limits))
                .arg(hash_ttl_ms(limits));
            match self.eval("session touch", inv).await? {
                Value::Nil => Ok(Touched::Gone),
                Value::Int(_) => Ok(Touched::Unchanged),
                Value::Array(f) => Ok(Touched::Changed(Box::new(decode(id, &f)?))),
                other => Err(corrupt(id, format!("unexpected touch reply {other:?}"))),
            }
        })
    }

    fn update<'a>(&'a self, id: &'a str, change: &'a Change) -> StoreFuture<'a, Result<Option<u64>, StoreError>> {
        Box::pin(async move {
            let (op, value) = match change {
                Change::LogLevel(l) => ("l", l.to_string()),
                Change::Overlay(on) => ("o", if *on { "1" } else { "0" }.to_owned()),
                Change::Subscribe(uri) => ("+", uri.clone()),
                Change::Unsubscribe(uri) => ("-", uri.clone()),
                other => return Err(corrupt(id, format!("unsupported change {other:?}"))),
            };
            let mut inv = UPDATE.prepare_invoke();
            inv.key(self.hash_key(id)).arg(op).arg(value);
            match self.eval("session update", inv).await? {
                Value::Int(rev) => Ok(Some(rev as u64)),
                _ => Ok(None),
            }
        })
    }

    fn remove<'a>(&'a self, id: &'a str) -> StoreFuture<'a, Result<Option<DirectoryRecord>, StoreError>> {
        Box::pin(async move {
            let mut inv = REMOVE.prepare_invoke();
            inv.key(self.hash_key(id)).key(self.seen_key()).arg(id);
            match self.eval("session remove", inv).await? {
                Value::Array(f) => Ok(Some(decode(id, &f)?)),
                _ => Ok(None),
            }
        })
    }

    fn sweep<'a>(
        &'a self,
        limits: &'a SessionLimits,
        max: usize,
    ) -> StoreFuture<'a, Result<Vec<DirectoryRecord>, StoreError>> {
        Box::pin(async move {
            if limits.idle_timeout.is_none() || max == 0 {
                return Ok(Vec::new());
            }
            let mut inv = SWEEP.prepare_invoke();
            inv.key(self.seen_key()).arg(idle_ms(limits)).arg(max).arg(self.hash_key(""));
            decode_claims(self.eval("session sweep", inv).await?)
        })
    }
}
