//! [`RedisBus`]: the [bus](ferromcp_core::bus) between the nodes of a deployment, on
//! Redis pub/sub.
//!
//! # Channels
//! Two channels per node, both under a channel prefix (default: the store's key prefix,
//! else `ferromcp:`, followed by `db{N}:` for the URL's database number, because pub/sub
//! ignores the database: two clusters on databases 1 and 2 of one Redis do not hear
//! each other; set [`RedisBus::channel_prefix`] to tell apart clusters on one database):
//!
//! - `{prefix}bus:all`: broadcasts, every node hears them: server-wide notices
//!   (`list_changed`, resource updates) and notifications for sessions
//!   ([`Server::broadcast`](ferromcp_core::Server::broadcast)). A node keeps what
//!   concerns the streams it holds and ignores its own messages.
//! - `{prefix}bus:node:{tag}`: answers to asks, for the one node that asked (the ask's
//!   id carries the node tag, see [`ferromcp_core::bus`]).
//!
//! # Why one broadcast channel rather than a channel per session
//! A notification costs one `PUBLISH`, whichever node holds the session's stream, and no
//! node needs to know where a stream is: no directory lookup, no `SUBSCRIBE` per stream
//! opened. The cost is fan-out: every node reads every broadcast and drops those for
//! streams it does not hold, O(nodes) work per notification, which is fine for the
//! few-node clusters this targets. Answers go point to point (one node reads them).
//!
//! # Hot path
//! Nothing a request awaits touches the bus: [`RedisBus::publish`] queues the message
//! for one publisher task (bounded queue; a full queue drops with a warning rather than
//! block a handler), which sends it with `PUBLISH` on its own multiplexed connection,
//! in order. A stateless call publishes nothing. Receiving is one dedicated subscriber
//! connection per node, re-established with backoff (50 ms doubling to 5 s) when Redis
//! goes away; messages published meanwhile are lost (pub/sub does not store them),
//! which a client sees as an ask that times out or a notification it missed. The
//! subscriber task of a dropped server ends with the next message it receives.

use std::sync::Arc;
use std::time::Duration;

use ferromcp_core::bus::{Bus, BusSink, Envelope, random_node_tag};
use ferromcp_core::state::StoreError;
use futures_util::StreamExt;
use redis::Client;
use tokio::sync::mpsc;

use crate::{RedisStore, RedisStoreConfig};

/// One message for the publisher: its channel and payload.
type Outgoing = (String, Vec<u8>);

/// Messages queued for the publisher before [`RedisBus::publish`] drops them.
const QUEUE: usize = 4096;
const BACKOFF_MIN: Duration = Duration::from_millis(50);
const BACKOFF_MAX: Duration = Duration::from_secs(5);

/// The bus on Redis pub/sub (see the module docs).
///
/// ```no_run
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// use std::sync::Arc;
/// let bus = ferromcp_redis::RedisBus::connect("redis://127.0.0.1:6379/3").await?;
/// let server = ferromcp_core::Server::builder("notes", "1")
///     .sealing_key(b"the key every node shares".to_vec())
///     .bus(Arc::new(bus))
///     .build();
/// # let _ = server; Ok(()) }
/// ```
pub struct RedisBus {
    node: u32,
    client: Client,
    prefix: String,
    tx: mpsc::Sender<Outgoing>,
    rx: std::sync::Mutex<Option<mpsc::Receiver<Outgoing>>>,
    publisher: RedisStore,
}

impl std::fmt::Debug for RedisBus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisBus").field("node", &self.node).field("prefix", &self.prefix).finish_non_exhaustive()
    }
}

impl RedisBus {
    /// Connects to the Redis at `url` (default settings, see [`RedisStoreConfig`]).
    /// Fails with [`StoreError::Unavailable`] if Redis does not answer.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        Self::with_config(RedisStoreConfig::new(url)).await
    }

    /// Connects with explicit settings (the key prefix seeds the channel prefix).
    pub async fn with_config(cfg: RedisStoreConfig) -> Result<Self, StoreError> {
        let client =
            Client::open(cfg.url.as_str()).map_err(|e| StoreError::Unavailable(format!("invalid redis URL: {e}")))?;
        let db = client.get_connection_info().redis_settings().db();
        let prefix = format!("{}db{db}:", cfg.key_prefix.as_deref().unwrap_or("ferromcp:"));
        let publisher = RedisStore::with_config(cfg).await?;
        let (tx, rx) = mpsc::channel(QUEUE);
        Ok(RedisBus { node: random_node_tag(), client, prefix, tx, rx: std::sync::Mutex::new(Some(rx)), publisher })
    }

    /// Replaces the channel prefix (before the server starts the bus): clusters that
    /// share one Redis database need different ones.
    pub fn channel_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }

    /// The channel every node hears.
    pub fn broadcast_channel(&self) -> String {
        format!("{}bus:all", self.prefix)
    }

    /// The channel of node `tag`.
    pub fn node_channel(&self, tag: u32) -> String {
        format!("{}bus:node:{tag}", self.prefix)
    }
}

impl Bus for RedisBus {
    fn node(&self) -> u32 {
        self.node
    }

    fn publish(&self, envelope: Envelope) {
        let channel = match envelope.target_node() {
            Some(tag) => self.node_channel(tag),
            None => self.broadcast_channel(),
        };
        if self.tx.try_send((channel, envelope.to_json())).is_err() {
            tracing::warn!("the Redis bus queue is full or closed: a message to other nodes was dropped");
        }
    }

    fn start(&self, sink: Arc<dyn BusSink>) {
        let Some(rx) = self.rx.lock().unwrap_or_else(|p| p.into_inner()).take() else {
            tracing::warn!("RedisBus::start called twice; a bus serves one server");
            return;
        };
        tokio::spawn(publish_loop(self.publisher.clone(), rx));
        let channels = [self.broadcast_channel(), self.node_channel(self.node)];
        tokio::spawn(subscribe_loop(self.client.clone(), channels, sink));
    }
}

/// Sends queued messages in order until every sender is gone.
async fn publish_loop(store: RedisStore, mut rx: mpsc::Receiver<Outgoing>) {
    while let Some((channel, payload)) = rx.recv().await {
        let mut con = store.con.clone();
        let sent = store
            .run("PUBLISH", async move {
                redis::cmd("PUBLISH").arg(&channel).arg(payload).query_async::<i64>(&mut con).await
            })
            .await;
        if let Err(e) = sent {
            tracing::warn!("a message to other nodes was lost (Redis PUBLISH failed: {e:?})");
        }
    }
}

/// Receives the node's channels, reconnecting with backoff, until the server is gone.
async fn subscribe_loop(client: Client, channels: [String; 2], sink: Arc<dyn BusSink>) {
    let mut backoff = BACKOFF_MIN;
    while sink.is_open() {
        match client.get_async_pubsub().await {
            Ok(mut pubsub) => match pubsub.subscribe(&channels[..]).await {
                Ok(()) => {
                    backoff = BACKOFF_MIN;
                    tracing::debug!(?channels, "bus subscribed");
                    let mut messages = pubsub.on_message();
                    while let Some(msg) = messages.next().await {
                        if !sink.is_open() {
                            return;
                        }
                        match Envelope::from_json(msg.get_payload_bytes()) {
                            Some(e) => {
                                sink.deliver(e);
                            }
                            None => tracing::warn!(channel = msg.get_channel_name(), "not a bus message; ignored"),
                        }
                    }
                    tracing::warn!("the Redis bus subscription ended; reconnecting");
                }
                Err(e) => tracing::warn!("Redis bus SUBSCRIBE failed: {e}"),
            },
            Err(e) => tracing::warn!("Redis bus cannot connect: {e}"),
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(BACKOFF_MAX);
    }
}
