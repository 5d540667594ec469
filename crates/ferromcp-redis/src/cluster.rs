//! [`RedisCluster`]: the one switch that puts a whole server on Redis: state
//! ([`RedisStore`]), legacy sessions ([`RedisSessionDirectory`]: any node serves any
//! session, expiry decided once for the cluster), resumable streams
//! ([`RedisEventStore`]) and the bus between nodes ([`RedisBus`]), on one URL.

use std::sync::Arc;

use ferromcp_core::ServerBuilder;
use ferromcp_core::state::StoreError;

use crate::{RedisBus, RedisEventStore, RedisSessionDirectory, RedisStore, RedisStoreConfig};

/// Everything a node needs to be one of several behind a load balancer, on one Redis.
///
/// ```no_run
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// let redis = ferromcp_redis::RedisCluster::connect("redis://127.0.0.1:6379/3").await?;
/// let server = redis
///     .server(ferromcp_core::Server::builder("notes", "1").sealing_key(b"shared by every node".to_vec()))
///     .build();
/// // ferromcp::http::HttpConfig::default().event_store(redis.events())
/// # let _ = server; Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct RedisCluster {
    store: RedisStore,
    events: RedisEventStore,
    directory: RedisSessionDirectory,
    bus: Arc<RedisBus>,
}

impl RedisCluster {
    /// Connects the store, the event store (sharing the store's connection) and the bus.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        Self::with_config(RedisStoreConfig::new(url)).await
    }

    /// Connects with explicit settings; the key prefix namespaces keys and bus channels.
    pub async fn with_config(cfg: RedisStoreConfig) -> Result<Self, StoreError> {
        let store = RedisStore::with_config(cfg.clone()).await?;
        let events = RedisEventStore::from_store(&store);
        let directory = RedisSessionDirectory::from_store(&store);
        let bus = Arc::new(RedisBus::with_config(cfg).await?);
        Ok(RedisCluster { store, events, directory, bus })
    }

    /// `builder` with the Redis state store, the session directory and the bus (which
    /// make it [`multi_node`](ServerBuilder::multi_node): it needs a shared sealing key).
    pub fn server(&self, builder: ServerBuilder) -> ServerBuilder {
        builder.state_store(self.store.clone()).session_directory(self.directory.clone()).bus(self.bus.clone())
    }

    /// The event store, for the HTTP transport (`HttpConfig::event_store`).
    pub fn events(&self) -> RedisEventStore {
        self.events.clone()
    }

    /// The state store.
    pub fn store(&self) -> &RedisStore {
        &self.store
    }

    /// The session directory.
    pub fn directory(&self) -> &RedisSessionDirectory {
        &self.directory
    }

    /// The bus.
    pub fn bus(&self) -> &Arc<RedisBus> {
        &self.bus
    }
}
