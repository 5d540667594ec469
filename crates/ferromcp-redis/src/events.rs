//! [`RedisEventStore`]: the log behind resumable Streamable HTTP streams, on Redis
//! Streams, so a client can resume a stream with `Last-Event-ID` on any node.
//!
//! # How events are kept
//! Under `key_prefix + "ferromcp:ev:"`:
//! - `s:<stream>`: a Redis Stream holding the stream's events; the entry id of event
//!   `<stream>.<seq>` is `<seq>-0`, its fields are `t` (the Redis time of the append, in
//!   milliseconds) and `d` (the payload, byte for byte).
//! - `m:<stream>`: a hash with the stream's owner session (`s`), last seq (`q`) and the
//!   bytes its retained events count for (`b`, see [`Retention::event_cost`]).
//! - `x:<session>`: the set of the session's streams; `r:<session>`: its
//!   [`SessionRecord`] as JSON.
//! - `lru` (a sorted set of streams by last append) and `clock` (the counter that
//!   orders it), which bound the number of streams.
//!
//! Every operation is one Lua script (one round trip, atomic across nodes):
//! - an append increments the seq, `XADD`s the event (unless it alone exceeds
//!   [`Retention::max_bytes_per_stream`]: it is sent but not kept), drops the stream's
//!   oldest events beyond [`Retention::max_events_per_stream`] and
//!   `max_bytes_per_stream` (the hash keeps the stream's byte count, `b`) and those
//!   older than [`Retention::max_age`], with `XTRIM MINID`, gives the stream key a TTL of `max_age`
//!   (a stream nobody appends to disappears whole), refreshes the session's keys and
//!   evicts the least recently appended streams beyond [`Retention::max_streams`];
//! - a replay checks the stream's owner, then returns the events after the given seq
//!   with `XRANGE`, or nothing if any of them was trimmed, evicted or is too old.
//!
//! The total byte bound, [`Retention::max_bytes`], is not enforced (the per-stream
//! bounds and [`Retention::max_streams`] bound what the store holds). The
//! scripts build the keys of evicted streams themselves, so this store needs a
//! standalone Redis (or a single-shard setup), not Redis Cluster, of version 6.2 or
//! later (`XTRIM MINID`).
//!
//! A session record lives [`RedisEventStore::with_session_ttl`] (default 30 minutes)
//! after it is saved or after the session's last event, whichever is later, so any node
//! can restore an active session; [`EventStore::remove_session`] deletes it with the
//! session's streams.

use std::sync::LazyLock;
use std::time::Duration;

use bytes::Bytes;
use ferromcp_core::events::{EventId, EventStore, Retention, SessionRecord, StoredEvent, StreamKey};
use ferromcp_core::state::{StoreError, StoreFuture};
use redis::{Script, Value};

use crate::keys::ttl_millis;
use crate::store::{Failure, unavailable};
use crate::{RedisStore, RedisStoreConfig};

/// The namespace of the event store's keys, after the configured key prefix.
const NAMESPACE: &str = "ferromcp:ev:";

/// The shortest lifetime of a stream's seq counter and of a session's stream index
/// after the last append: a stream whose events all expired continues its seqs when
/// appended to again within this time.
const MIN_META_TTL: Duration = Duration::from_secs(3600);

/// The most stream entries examined per `XRANGE` while looking for the oldest event to
/// keep (by count, bytes and age; the first round reads one entry, or the excess over
/// the count bound, and each further round twice as many), and the most such rounds
/// per append (each round's entries are trimmed, so the work is paid once per event).
const TRIM_BATCH: u32 = 128;
const TRIM_ROUNDS: u32 = 64;

/// `KEYS`: meta, stream, session index, lru, clock, session record.
/// `ARGV`: session, data, max events, max age (ms), meta TTL (ms), max streams,
/// namespace (full prefix), stream id, session TTL (ms), trim batch, trim rounds,
/// per-event overhead, max bytes per stream.
/// Returns the new seq; an error reply if the stream belongs to another session.
const APPEND_LUA: &str = r"
local owner = redis.call('HGET', KEYS[1], 's')
if owner and owner ~= ARGV[1] then
  return redis.error_reply('FERRO stream belongs to another session')
end
local seq = redis.call('HINCRBY', KEYS[1], 'q', 1)
if not owner then redis.call('HSET', KEYS[1], 's', ARGV[1]) end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local maxage = tonumber(ARGV[4])
local overhead = tonumber(ARGV[12])
local maxbytes = tonumber(ARGV[13])
local maxev = tonumber(ARGV[3])
local n = redis.call('XLEN', KEYS[2])
local b = 0
if n > 0 then b = tonumber(redis.call('HGET', KEYS[1], 'b') or '0') end
local cost = string.len(ARGV[2]) + overhead
if cost <= maxbytes then
  redis.call('XADD', KEYS[2], string.format('%d-0', seq), 't', string.format('%d', now), 'd', ARGV[2])
  n = n + 1
  b = b + cost
end
local cutoff = now - maxage
local batchmax = tonumber(ARGV[10])
local count = math.max(1, math.min(n - maxev, batchmax))
local dropped = false
for _ = 1, tonumber(ARGV[11]) do
  if n == 0 then break end
  local batch = redis.call('XRANGE', KEYS[2], '-', '+', 'COUNT', count)
  if #batch == 0 then n = 0; break end
  count = math.min(count * 2, batchmax)
  local keep = nil
  for _, e in ipairs(batch) do
    if n > maxev or b > maxbytes or tonumber(e[2][2]) < cutoff then
      n = n - 1
      b = b - (string.len(e[2][4]) + overhead)
      dropped = true
    else
      keep = e[1]
      break
    end
  end
  if keep then
    if dropped then redis.call('XTRIM', KEYS[2], 'MINID', keep) end
    break
  end
  local last = tonumber(string.match(batch[#batch][1], '^(%d+)'))
  redis.call('XTRIM', KEYS[2], 'MINID', string.format('%d-0', last + 1))
end
if n <= 0 then b = 0 end
redis.call('HSET', KEYS[1], 'b', b)
redis.call('PEXPIRE', KEYS[2], maxage)
redis.call('PEXPIRE', KEYS[1], ARGV[5])
redis.call('SADD', KEYS[3], ARGV[8])
redis.call('PEXPIRE', KEYS[3], ARGV[5])
redis.call('PEXPIRE', KEYS[6], ARGV[9])
local clock = redis.call('INCR', KEYS[5])
redis.call('ZADD', KEYS[4], clock, ARGV[8])
local excess = redis.call('ZCARD', KEYS[4]) - tonumber(ARGV[6])
if excess > 0 then
  local gone = redis.call('ZPOPMIN', KEYS[4], excess)
  for i = 1, #gone, 2 do
    local s = gone[i]
    local m = ARGV[7] .. 'm:' .. s
    local sess = redis.call('HGET', m, 's')
    if sess then redis.call('SREM', ARGV[7] .. 'x:' .. sess, s) end
    redis.call('DEL', m, ARGV[7] .. 's:' .. s)
  end
end
return seq
";

/// `KEYS`: meta, stream. `ARGV`: session, last seq, max events, max age (ms).
/// Returns nil when the replay misses, else a flat array `seq, data, seq, data, ...`.
const REPLAY_LUA: &str = r"
local m = redis.call('HMGET', KEYS[1], 's', 'q')
if not m[1] or m[1] ~= ARGV[1] then return false end
local cur = tonumber(m[2])
local last = tonumber(ARGV[2])
if not cur or not last or last > cur then return false end
if last == cur then return {} end
if last + 1 < cur - tonumber(ARGV[3]) + 1 then return false end
local es = redis.call('XRANGE', KEYS[2], string.format('%d-0', last + 1), '+')
if #es ~= cur - last then return false end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
if tonumber(es[1][2][2]) < now - tonumber(ARGV[4]) then return false end
local out = {}
for _, e in ipairs(es) do
  out[#out + 1] = tonumber(string.match(e[1], '^(%d+)'))
  out[#out + 1] = e[2][4]
end
return out
";

/// `KEYS`: session index, session record, lru. `ARGV`: namespace (full prefix).
const REMOVE_LUA: &str = r"
local streams = redis.call('SMEMBERS', KEYS[1])
for _, s in ipairs(streams) do
  redis.call('DEL', ARGV[1] .. 's:' .. s, ARGV[1] .. 'm:' .. s)
  redis.call('ZREM', KEYS[3], s)
end
redis.call('DEL', KEYS[1], KEYS[2])
return #streams
";

static APPEND_SCRIPT: LazyLock<Script> = LazyLock::new(|| Script::new(APPEND_LUA));
static REPLAY_SCRIPT: LazyLock<Script> = LazyLock::new(|| Script::new(REPLAY_LUA));
static REMOVE_SCRIPT: LazyLock<Script> = LazyLock::new(|| Script::new(REMOVE_LUA));

/// An [`EventStore`] on Redis Streams: every node sharing the Redis replays every
/// node's events, so `Last-Event-ID` works behind a load balancer without stickiness.
///
/// Each call is one round trip (a Lua script) on the multiplexed, self-reconnecting
/// connection of a [`RedisStore`], bounded by its response timeout; an unreachable
/// Redis gives [`StoreError::Unavailable`]. See the [module docs](self) for the layout.
///
/// ```no_run
/// # async fn run() -> Result<(), ferromcp_core::state::StoreError> {
/// use std::time::Duration;
/// use ferromcp_core::events::Retention;
/// use ferromcp_redis::RedisEventStore;
/// let events = RedisEventStore::connect("redis://127.0.0.1/")
///     .await?
///     .with_retention(Retention::default().with_max_age(Duration::from_secs(60)))
///     .with_session_ttl(Duration::from_secs(1800));
/// // HttpConfig::default().event_store(events)
/// # let _ = events;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct RedisEventStore {
    redis: RedisStore,
    retention: Retention,
    session_ttl: Duration,
    namespace: String,
}

impl std::fmt::Debug for RedisEventStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisEventStore")
            .field("namespace", &self.namespace)
            .field("retention", &self.retention)
            .field("session_ttl", &self.session_ttl)
            .finish_non_exhaustive()
    }
}

impl RedisEventStore {
    /// How long a session record lives after it is saved or after the session's last
    /// event, by default: 30 minutes, the default session idle timeout.
    pub const DEFAULT_SESSION_TTL: Duration = Duration::from_secs(30 * 60);

    /// Connects to the Redis at `url` with default settings; fails with
    /// [`StoreError::Unavailable`] like [`RedisStore::connect`].
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        Ok(Self::from_store(&RedisStore::connect(url).await?))
    }

    /// Connects with explicit settings (key prefix, timeouts).
    pub async fn with_config(cfg: RedisStoreConfig) -> Result<Self, StoreError> {
        Ok(Self::from_store(&RedisStore::with_config(cfg).await?))
    }

    /// Shares the connection, key prefix and timeout of a state store (no new
    /// connection): the natural choice when state and events live in one Redis.
    pub fn from_store(store: &RedisStore) -> Self {
        let namespace = format!("{}{NAMESPACE}", store.key_prefix.as_deref().unwrap_or(""));
        RedisEventStore {
            redis: store.clone(),
            retention: Retention::default(),
            session_ttl: Self::DEFAULT_SESSION_TTL,
            namespace,
        }
    }

    /// Sets the retention limits (event count and bytes per stream, age, number of
    /// streams; the total byte bound is not enforced by this store).
    pub fn with_retention(mut self, retention: Retention) -> Self {
        self.retention = retention;
        self
    }

    /// Sets how long a session record lives after it is saved or after the session's
    /// last event (set it to the server's session idle timeout).
    pub fn with_session_ttl(mut self, ttl: Duration) -> Self {
        self.session_ttl = ttl;
        self
    }

    /// The retention limits in force.
    pub fn retention(&self) -> &Retention {
        &self.retention
    }

    fn key(&self, kind: &str, id: &str) -> String {
        format!("{}{kind}:{id}", self.namespace)
    }

    fn max_age_ms(&self) -> u64 {
        ttl_millis(self.retention.max_age)
    }

    fn meta_ttl_ms(&self) -> u64 {
        ttl_millis(self.retention.max_age.saturating_mul(4).max(MIN_META_TTL).max(self.session_ttl))
    }

    async fn eval<T: redis::FromRedisValue + Send + 'static>(
        &self,
        what: &'static str,
        inv: redis::ScriptInvocation<'static>,
    ) -> Result<T, StoreError> {
        let mut con = self.redis.con.clone();
        self.redis.run(what, async move { inv.invoke_async(&mut con).await }).await.map_err(|f| event_error(what, f))
    }
}

/// Maps a failure of an event-store script.
fn event_error(what: &'static str, f: Failure) -> StoreError {
    match f {
        Failure::Redis(e) if e.code() == Some("WRONGTYPE") => StoreError::Corrupt {
            key: what.to_owned(),
            reason: "a key of the event store holds another Redis type; give the event store its own key prefix".into(),
        },
        Failure::Redis(e) if e.to_string().contains("FERRO stream belongs to another session") => {
            StoreError::Corrupt { key: what.to_owned(), reason: "the stream id belongs to another session".into() }
        }
        f => unavailable(what, f),
    }
}

/// Whether `s` can be a stream id this store has written (the form [`EventId::parse`]
/// accepts): look-ups of anything else miss without a round trip.
fn valid_stream(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= EventId::MAX_STREAM_LEN
        && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// Decodes the replay script's flat `seq, data, ...` array.
fn decode_events(stream: &str, values: Vec<Value>) -> Result<Vec<StoredEvent>, StoreError> {
    let bad = |reason: &str| StoreError::Corrupt { key: format!("stream {stream}"), reason: reason.to_owned() };
    if !values.len().is_multiple_of(2) {
        return Err(bad("the replay script returned an odd number of values"));
    }
    let stream: std::sync::Arc<str> = stream.into();
    let mut out = Vec::with_capacity(values.len() / 2);
    let mut it = values.into_iter();
    while let (Some(seq), Some(data)) = (it.next(), it.next()) {
        let seq = match seq {
            Value::Int(n) => u64::try_from(n).map_err(|_| bad("a negative seq"))?,
            _ => return Err(bad("a seq that is not an integer")),
        };
        let data = match data {
            Value::BulkString(b) => Bytes::from(b),
            Value::SimpleString(s) => Bytes::from(s.into_bytes()),
            _ => return Err(bad("an event payload that is not a string")),
        };
        out.push(StoredEvent { id: EventId { stream: stream.clone(), seq }, data });
    }
    Ok(out)
}

impl EventStore for RedisEventStore {
    fn append<'a>(&'a self, key: &'a StreamKey, data: Bytes) -> StoreFuture<'a, Result<EventId, StoreError>> {
        Box::pin(async move {
            let mut inv = APPEND_SCRIPT.prepare_invoke();
            inv.key(self.key("m", &key.stream))
                .key(self.key("s", &key.stream))
                .key(self.key("x", &key.session))
                .key(format!("{}lru", self.namespace))
                .key(format!("{}clock", self.namespace))
                .key(self.key("r", &key.session))
                .arg(&*key.session)
                .arg(&data[..])
                .arg(self.retention.max_events_per_stream.max(1))
                .arg(self.max_age_ms())
                .arg(self.meta_ttl_ms())
                .arg(self.retention.max_streams.max(1))
                .arg(&self.namespace)
                .arg(&*key.stream)
                .arg(ttl_millis(self.session_ttl))
                .arg(TRIM_BATCH)
                .arg(TRIM_ROUNDS)
                .arg(Retention::EVENT_OVERHEAD)
                .arg(self.retention.max_bytes_per_stream);
            let seq: u64 = self.eval("event append", inv).await?;
            Ok(EventId { stream: key.stream.clone(), seq })
        })
    }

    fn replay_after<'a>(
        &'a self,
        session: &'a str,
        last: &'a EventId,
    ) -> StoreFuture<'a, Result<Option<Vec<StoredEvent>>, StoreError>> {
        Box::pin(async move {
            if session.is_empty() || !valid_stream(&last.stream) {
                return Ok(None);
            }
            let mut inv = REPLAY_SCRIPT.prepare_invoke();
            inv.key(self.key("m", &last.stream))
                .key(self.key("s", &last.stream))
                .arg(session)
                .arg(last.seq)
                .arg(self.retention.max_events_per_stream.max(1))
                .arg(self.max_age_ms());
            let got: Option<Vec<Value>> = self.eval("event replay", inv).await?;
            got.map(|values| decode_events(&last.stream, values)).transpose()
        })
    }

    fn remove_session<'a>(&'a self, session: &'a str) -> StoreFuture<'a, Result<(), StoreError>> {
        Box::pin(async move {
            let mut inv = REMOVE_SCRIPT.prepare_invoke();
            inv.key(self.key("x", session))
                .key(self.key("r", session))
                .key(format!("{}lru", self.namespace))
                .arg(&self.namespace);
            let _: u64 = self.eval("session removal", inv).await?;
            Ok(())
        })
    }

    fn save_session<'a>(&'a self, record: &'a SessionRecord) -> StoreFuture<'a, Result<(), StoreError>> {
        Box::pin(async move {
            let key = self.key("r", &record.id);
            let text = serde_json::to_string(record)
                .map_err(|e| StoreError::Corrupt { key: key.clone(), reason: e.to_string() })?;
            let mut cmd = redis::cmd("SET");
            cmd.arg(&key).arg(text).arg("PX").arg(ttl_millis(self.session_ttl));
            let mut con = self.redis.con.clone();
            self.redis
                .run("session save", async move { cmd.query_async::<()>(&mut con).await })
                .await
                .map_err(|f| event_error("session save", f))
        })
    }

    fn load_session<'a>(&'a self, id: &'a str) -> StoreFuture<'a, Result<Option<SessionRecord>, StoreError>> {
        Box::pin(async move {
            let key = self.key("r", id);
            let mut cmd = redis::cmd("GET");
            cmd.arg(&key);
            let mut con = self.redis.con.clone();
            let raw: Option<Vec<u8>> = self
                .redis
                .run("session load", async move { cmd.query_async(&mut con).await })
                .await
                .map_err(|f| event_error("session load", f))?;
            raw.map(|raw| {
                serde_json::from_slice(&raw).map_err(|e| StoreError::Corrupt {
                    key,
                    reason: format!("the stored session record is not valid JSON: {e}"),
                })
            })
            .transpose()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stream_ids_are_checked_like_event_ids() {
        assert!(valid_stream("abc-_09"));
        for bad in ["", "a b", "a.b", "*", "%", "\u{2603}", &"a".repeat(129)] {
            assert!(!valid_stream(bad), "{bad:?}");
        }
    }

    #[test]
    fn replies_decode_or_are_corrupt() {
        let ok = decode_events("s", vec![Value::Int(2), Value::BulkString(b"\0x".to_vec())]).unwrap();
        assert_eq!((ok[0].id.to_string(), &ok[0].data[..]), ("s.2".to_owned(), &b"\0x"[..]));
        assert!(decode_events("s", vec![Value::Int(2)]).is_err());
        assert!(decode_events("s", vec![Value::Int(-1), Value::BulkString(vec![])]).is_err());
        assert!(decode_events("s", vec![Value::Nil, Value::BulkString(vec![])]).is_err());
    }
}
