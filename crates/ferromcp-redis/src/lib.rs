//! ferromcp-redis: a [`StateStore`](ferromcp_core::state::StateStore) on Redis, so
//! session state survives restarts and is shared by every node behind a load balancer,
//! and an [`EventStore`](ferromcp_core::events::EventStore) on Redis Streams
//! ([`RedisEventStore`]), so a stream is resumed with `Last-Event-ID` on any node.
//!
//! ```no_run
//! # use ferromcp_core as ferromcp; // no dev-dependency cycle: `ferromcp` re-exports this crate
//! use ferromcp_redis::RedisStore; // or `ferromcp::redis::RedisStore`
//!
//! # #[tokio::main]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let server = ferromcp::Server::builder("notes", "1.0.0")
//!     .state_store(RedisStore::connect("redis://127.0.0.1/").await?)
//!     .build();
//! # let _ = server;
//! # Ok(())
//! # }
//! ```
//!
//! Several applications can share one database with a key prefix, and state can be
//! encrypted at rest by wrapping the store:
//!
//! ```no_run
//! # use ferromcp_core as ferromcp;
//! use std::time::Duration;
//! use ferromcp_core::state::EncryptedStore; // or `ferromcp::state::EncryptedStore`
//! use ferromcp_redis::{RedisStore, RedisStoreConfig};
//!
//! # async fn run(key_material: &[u8]) -> Result<(), ferromcp_core::state::StoreError> {
//! let cfg = RedisStoreConfig::new("redis://:password@redis.internal:6379/2")
//!     .key_prefix("notes:")
//!     .response_timeout(Duration::from_millis(500));
//! let redis = RedisStore::with_config(cfg).await?;
//! let server = ferromcp::Server::builder("notes", "1.0.0").state_store(EncryptedStore::new(redis, key_material)).build();
//! # let _ = server;
//! # Ok(())
//! # }
//! ```
//!
//! # How data is kept
//! - A value is stored as its JSON text under `key_prefix + key` (a plain Redis string),
//!   and its [`Version`](ferromcp_core::state::Version) is [`Version::Raw`] of that
//!   text. Two writes of the same value therefore have the same version: a
//!   compare-and-swap cannot tell them apart, which is harmless for read-modify-write
//!   since the value it read is the value it replaces.
//! - TTLs are native (`SET … PX`); a write without a TTL stores without expiry.
//! - Compare-and-swap is one Lua script (`EVALSHA`, reloaded after a Redis restart).
//! - `delete_prefix` walks the keyspace with `SCAN MATCH` (glob characters in the prefix
//!   are escaped, so they match literally) and removes keys with `UNLINK` in batches.
//!   It is not atomic: keys written under the prefix while it runs may survive.
//! - The state API's limit on keys per scope
//!   ([`max_state_keys_per_scope`](ferromcp_core::ServerConfig::max_state_keys_per_scope))
//!   holds atomically: the script that writes a scope's key also checks and updates an
//!   index of the scope, a sorted set of its keys by expiry under the scope's prefix
//!   followed by the bytes `\xFFkeys` (never a key of a value: those are UTF-8). It is
//!   one round trip per write, like a plain `SET`; `delete_prefix` of the scope removes
//!   the index too. Scripts use `TIME`, so they need Redis 5 or later (7 recommended).
//!
//! # Failures
//! Every call is bounded by [`RedisStoreConfig::response_timeout`]. An unreachable or
//! failing Redis gives [`StoreError::Unavailable`](ferromcp_core::state::StoreError),
//! the connection is re-established in the background, and calls succeed again once
//! Redis answers. A key that holds something other than this store's JSON text (another
//! Redis type, bytes that are not UTF-8 JSON) reads as `StoreError::Corrupt`.
//!
//! [`Version::Raw`]: ferromcp_core::state::Version::Raw
//!
//! # Layout
//! - [`config`]: the settings, [`RedisStoreConfig`].
//! - `store`: [`RedisStore`] construction, timeouts and error mapping.
//! - `ops`: the `StateStore` operations and the compare-and-swap script.
//! - `scoped`: the writes of a scope's keys and the script that keeps the scope's index.
//! - `keys`: `SCAN` patterns, index key names and TTL conversion.
//! - `ratelimit`: [`RedisRateLimiter`], GCRA in a Lua script, shared by several nodes.
//! - [`directory`]: [`RedisSessionDirectory`], the legacy session directory (any node
//!   serves any session; expiry claimed once for the cluster).
//! - [`events`]: [`RedisEventStore`], the event store behind resumable streams, on
//!   Redis Streams (`Last-Event-ID` replay on any node).
//! - [`bus`]: [`RedisBus`], the bus between nodes on Redis pub/sub (answers to asks,
//!   notifications, broadcasts).
//! - `cluster`: [`RedisCluster`], the one switch: state, events and bus on one URL.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod bus;
mod cluster;
pub mod config;
pub mod directory;
pub mod events;
mod keys;
mod ops;
mod ratelimit;
mod scoped;
mod store;

pub use bus::RedisBus;
pub use cluster::RedisCluster;
pub use config::RedisStoreConfig;
pub use directory::RedisSessionDirectory;
pub use events::RedisEventStore;
pub use ratelimit::RedisRateLimiter;
pub use store::RedisStore;
