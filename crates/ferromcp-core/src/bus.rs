//! The bus: what one node of a cluster tells the others. Behind the one notifier
//! (`crate::notify`) and the routing of the client's answers to server→client requests.
//!
//! Without a bus (the default) everything stays in-process, as on a single node: no
//! task, no allocation, no branch on the hot path beyond an `Option` check on the paths
//! that can need a bus (answers, announcements, broadcasts). With one
//! ([`ServerBuilder::bus`](crate::ServerBuilder::bus), e.g. `ferromcp_redis::RedisBus`):
//!
//! - **Answers.** A legacy ask's JSON-RPC id carries the asking node's tag in its high
//!   bits ([`Bus::node`] `<< 32`). A node that receives the client's answer for an ask it
//!   does not hold publishes it to the owner ([`Envelope::Answer`]), which completes it.
//! - **Notifications for sessions.** [`Server::broadcast`](crate::Server::broadcast)
//!   delivers to the sessions whose standalone stream (legacy GET stream, or the
//!   connection) this node holds, and publishes [`Envelope::Notify`] so every other node
//!   does the same for its streams. A session holds one standalone stream in the
//!   cluster, so each session receives the message once.
//! - **Server-wide notices.** `list_changed` of this node's registry and
//!   [`Server::notify_resource_updated`](crate::Server::notify_resource_updated) are
//!   published as [`Envelope::Notice`]; received notices reach local legacy sessions and
//!   `subscriptions/listen` streams exactly as local ones, and are never re-published.
//!
//! A bus implementation moves [`Envelope`]s (JSON, see [`Envelope::to_json`]) and hands
//! what other nodes sent to the [`BusSink`] it was started with.

use std::sync::{Arc, Weak};

use serde::{Deserialize, Serialize};

use crate::error::ProtocolError;
use crate::jsonrpc::RequestId;
use crate::notify::Notice;
use crate::protocol::ListChanged;
use crate::server::Inner;

/// Bits of a legacy ask id below the node tag.
pub(crate) const NODE_SHIFT: u32 = 32;
/// Node tags are below this, so a tagged id stays below 2^53 (exact in JavaScript).
pub const MAX_NODE_TAG: u32 = 1 << 20;

/// Who a broadcast reaches (see [`Server::broadcast`](crate::Server::broadcast)).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Audience {
    /// Every session and connection of every node.
    All,
    /// The sessions bound to one principal, by its hashed id
    /// ([`Principal::hashed`](crate::state::Principal::hashed); see [`Audience::principal`]).
    Principal(String),
    /// One session, by id (`Mcp-Session-Id`).
    Session(String),
}

impl Audience {
    /// The sessions of `principal`.
    ///
    /// ```
    /// use ferromcp_core::bus::Audience;
    /// use ferromcp_core::state::Principal;
    /// let a = Audience::principal(&Principal::new("alice"));
    /// assert!(matches!(a, Audience::Principal(h) if h != "alice"), "matched by hash, never the raw subject");
    /// ```
    pub fn principal(principal: &crate::state::Principal) -> Self {
        Audience::Principal(principal.hashed().to_owned())
    }

    /// Whether `session` is in the audience.
    pub fn includes(&self, session: &crate::session::Session) -> bool {
        match self {
            Audience::All => true,
            Audience::Principal(p) => session.principal() == Some(p.as_str()),
            Audience::Session(id) => session.id() == id,
        }
    }
}

/// A server-wide notice on the wire.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum WireNotice {
    /// `notifications/{tools,resources,prompts}/list_changed`, by kind (`tools`, …).
    ListChanged(String),
    /// `notifications/resources/updated` for this URI.
    ResourceUpdated(String),
}

impl WireNotice {
    fn of(n: &Notice) -> Self {
        match n {
            Notice::ListChanged(ListChanged::Tools) => WireNotice::ListChanged("tools".into()),
            Notice::ListChanged(ListChanged::Resources) => WireNotice::ListChanged("resources".into()),
            Notice::ListChanged(ListChanged::Prompts) => WireNotice::ListChanged("prompts".into()),
            Notice::ResourceUpdated(uri) => WireNotice::ResourceUpdated(uri.to_string()),
        }
    }
    fn notice(&self) -> Option<Notice> {
        Some(match self {
            WireNotice::ListChanged(k) => Notice::ListChanged(match k.as_str() {
                "tools" => ListChanged::Tools,
                "resources" => ListChanged::Resources,
                "prompts" => ListChanged::Prompts,
                _ => return None,
            }),
            WireNotice::ResourceUpdated(uri) => Notice::ResourceUpdated(uri.as_str().into()),
        })
    }
}

/// The client's answer to an ask, on the wire: the JSON text of `result`, or the error.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WireOutcome {
    /// The `result` member, as JSON text.
    Result(String),
    /// The `error` member.
    Error {
        /// JSON-RPC error code.
        code: i32,
        /// Its message.
        message: String,
        /// Its `data`, as JSON text.
        data: Option<String>,
    },
}

/// One message between nodes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Payload {
    /// The client's answer to ask `id` (tagged with the owner's node) of `session`.
    Answer {
        /// The session that asked.
        session: String,
        /// The ask's id as the client saw it (node tag in the high bits).
        id: i64,
        /// What the client answered.
        outcome: WireOutcome,
    },
    /// A serialized JSON-RPC notification for the standalone streams of `audience`.
    Notify {
        /// Who receives it.
        audience: Audience,
        /// The JSON-RPC notification, as JSON text.
        message: String,
    },
    /// A server-wide notice.
    Notice(WireNotice),
}

/// One message between nodes: its sender's tag and what it carries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Envelope {
    /// The sending node's tag ([`Bus::node`]).
    pub from: u32,
    /// The message.
    pub payload: Payload,
}

impl Envelope {
    /// The envelope as JSON bytes (what a bus carries).
    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec(self).unwrap_or_default()
    }
    /// An envelope from JSON bytes; `None` if they are not one (logged and dropped by
    /// the caller, never fatal).
    pub fn from_json(bytes: &[u8]) -> Option<Self> {
        serde_json::from_slice(bytes).ok()
    }
    /// The node a [`Payload::Answer`] is for, from its id; `None` for broadcasts.
    pub fn target_node(&self) -> Option<u32> {
        match &self.payload {
            Payload::Answer { id, .. } => node_of(*id),
            _ => None,
        }
    }
}

/// A random node tag (1 ≤ tag < [`MAX_NODE_TAG`]) from the OS CSPRNG: two nodes of a
/// deployment share one with probability about n²/2²¹ (1 in ~230,000 for three nodes).
pub fn random_node_tag() -> u32 {
    let mut b = [0u8; 4];
    if getrandom::fill(&mut b).is_err() {
        // No OS randomness: the time's low bits still tell nodes apart in practice.
        let t = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
        b = t.subsec_nanos().to_le_bytes();
    }
    (u32::from_le_bytes(b) % (MAX_NODE_TAG - 1)) + 1
}

/// The node tag in a legacy ask id, if it has one.
pub fn node_of(id: i64) -> Option<u32> {
    let tag = (id >> NODE_SHIFT) as u64;
    (id > 0 && tag > 0 && tag < u64::from(MAX_NODE_TAG)).then_some(tag as u32)
}

/// A channel between the nodes of one deployment (see the module docs).
///
/// Implementations deliver every envelope published by *another* node to the
/// [`BusSink`] given to [`start`](Bus::start): broadcasts ([`Envelope::target_node`] is
/// `None`) to every node, answers to the node they name. Messages from the node itself
/// must not come back (or are ignored by the sink: it drops envelopes with its own tag).
pub trait Bus: Send + Sync + 'static {
    /// This node's tag: nonzero, below [`MAX_NODE_TAG`], unique in the deployment (a
    /// random tag is what the provided implementations use).
    fn node(&self) -> u32;
    /// Sends `envelope` to the other nodes. Must not block: queue it, drop it (with a
    /// log) when the bus is down.
    fn publish(&self, envelope: Envelope);
    /// Starts delivering other nodes' envelopes to `sink` (called once, by
    /// [`ServerBuilder::try_build`](crate::ServerBuilder::try_build), inside a Tokio runtime).
    fn start(&self, sink: BusSink);
}

/// Where a bus hands what other nodes sent: the server that started it (held weakly:
/// a bus does not keep a dropped server alive).
#[derive(Clone)]
pub struct BusSink {
    server: Weak<Inner>,
    node: u32,
}

impl std::fmt::Debug for BusSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BusSink").field("node", &self.node).finish_non_exhaustive()
    }
}

impl BusSink {
    pub(crate) fn new(server: &Arc<Inner>, node: u32) -> Self {
        BusSink { server: Arc::downgrade(server), node }
    }

    /// Whether the server is still there (a bus stops delivering once it is not).
    pub fn is_open(&self) -> bool {
        self.server.strong_count() > 0
    }

    /// Delivers one envelope from another node; `false` if it was not for this node or
    /// nobody here could take it.
    pub fn deliver(&self, envelope: Envelope) -> bool {
        let Some(inner) = self.server.upgrade() else { return false };
        if envelope.from == self.node {
            return false;
        }
        match envelope.payload {
            Payload::Answer { session, id, outcome } => {
                if node_of(id) != Some(self.node) {
                    return false;
                }
                let outcome = match outcome {
                    WireOutcome::Result(text) => serde_json::value::RawValue::from_string(text)
                        .map_err(|e| ProtocolError::invalid_params(format!("the client's result is not JSON: {e}"))),
                    WireOutcome::Error { code, message, data } => {
                        let mut e = ProtocolError::new(code, message);
                        if let Some(d) = data.and_then(|d| serde_json::from_str(&d).ok()) {
                            e = e.with_data(d);
                        }
                        Err(e)
                    }
                };
                let local = RequestId::Number(id & ((1i64 << NODE_SHIFT) - 1));
                let done = inner.sessions.get(&session).is_some_and(|s| s.peer().complete(&local, outcome));
                tracing::debug!(session, id, from = envelope.from, done, "answer from another node delivered");
                done
            }
            Payload::Notify { audience, message } => {
                crate::broadcast::deliver_local(&inner.sessions, &audience, message.as_bytes()) > 0
            }
            Payload::Notice(n) => match n.notice() {
                Some(n) => inner.notifier.deliver_remote(n),
                None => false,
            },
        }
    }
}

/// The envelope of a client's answer to ask `id` of `session`, for its owner node.
pub(crate) fn answer(
    from: u32,
    session: &str,
    id: i64,
    outcome: &Result<Box<serde_json::value::RawValue>, ProtocolError>,
) -> Envelope {
    let outcome = match outcome {
        Ok(raw) => WireOutcome::Result(raw.get().to_owned()),
        Err(e) => WireOutcome::Error {
            code: e.code,
            message: e.message.clone(),
            data: e.data.as_ref().map(|d| d.to_string()),
        },
    };
    Envelope { from, payload: Payload::Answer { session: session.to_owned(), id, outcome } }
}

/// The envelope of a server-wide notice.
pub(crate) fn notice(from: u32, n: &Notice) -> Envelope {
    Envelope { from, payload: Payload::Notice(WireNotice::of(n)) }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;
    use std::time::Duration;

    use super::*;
    use crate::Server;
    use crate::jsonrpc::Response;
    use crate::outbound::Outbound;
    use crate::session::{ClientInit, Session};

    /// An in-process bus between servers of one test: every envelope goes (as JSON, like
    /// on a real bus) to every other node's sink.
    struct LoopBus {
        node: u32,
        hub: Arc<Mutex<Vec<BusSink>>>,
    }

    impl Bus for LoopBus {
        fn node(&self) -> u32 {
            self.node
        }
        fn publish(&self, envelope: Envelope) {
            let bytes = envelope.to_json();
            for sink in self.hub.lock().unwrap().iter().filter(|s| s.node != self.node) {
                sink.deliver(Envelope::from_json(&bytes).unwrap());
            }
        }
        fn start(&self, sink: BusSink) {
            self.hub.lock().unwrap().push(sink);
        }
    }

    fn node(tag: u32, hub: &Arc<Mutex<Vec<BusSink>>>) -> Server {
        Server::builder("t", "1")
            .sealing_key(b"a key shared by both nodes".to_vec())
            .bus(Arc::new(LoopBus { node: tag, hub: hub.clone() }))
            .build()
    }

    fn restored(server: &Server, id: &str) -> Arc<Session> {
        let s = Session::with_id(id.into(), None);
        s.set_init(ClientInit { version: crate::protocol::V_2025_11_25, capabilities: Default::default(), info: None });
        server.sessions().insert(s)
    }

    #[tokio::test]
    async fn answers_broadcasts_and_notices_cross_nodes_once() {
        let hub = Arc::new(Mutex::new(Vec::new()));
        let (a, b) = (node(5, &hub), node(6, &hub));
        let (sa, sb) = (restored(&a, "shared"), restored(&b, "shared"));

        // An ask held by A, answered on B.
        let (local, rx) = sa.peer().register();
        let wire = (5i64 << NODE_SHIFT) | local;
        let raw = serde_json::value::RawValue::from_string(r#"{"ok":true}"#.into()).unwrap();
        let r = Response { id: RequestId::Number(wire), outcome: Ok(raw) };
        assert!(crate::dispatch::handle_response(&b, r, Some(&sb)), "B forwards an answer it does not hold");
        let got = tokio::time::timeout(Duration::from_secs(1), rx).await.unwrap().unwrap().unwrap();
        assert_eq!(got.get(), r#"{"ok":true}"#);
        let stray =
            Response { id: RequestId::Number((5i64 << NODE_SHIFT) | 999), outcome: Err(ProtocolError::new(-1, "x")) };
        assert!(crate::dispatch::handle_response(&b, stray, Some(&sb)), "forwarded; A finds nobody waiting");

        // B holds the session's stream: a broadcast from A reaches it once.
        let (out, mut frames) = Outbound::channel();
        sb.set_stream(Some(out));
        assert_eq!(
            a.broadcast(Audience::Session("shared".into()), "notifications/message", serde_json::json!({"data": 1})),
            0
        );
        let f = frames.try_recv().expect("delivered on B");
        assert!(std::str::from_utf8(&f).unwrap().contains(r#""data":1"#));
        assert_eq!(b.broadcast(Audience::All, "notifications/message", serde_json::json!({"data": 2})), 1);
        assert!(frames.try_recv().is_some());
        assert!(frames.try_recv().is_none(), "once: A has no stream of the session");
        let other = Audience::Principal("someone-else".into());
        assert_eq!(a.broadcast(other, "notifications/message", serde_json::json!({})), 0);
        assert!(frames.try_recv().is_none(), "not the session's principal");

        // A resource update announced on A reaches B's notice receivers, once.
        let mut notices = b.notices();
        a.notify_resource_updated("file:///x");
        let n = tokio::time::timeout(Duration::from_secs(1), notices.recv()).await.unwrap();
        assert_eq!(n, Some(Notice::ResourceUpdated("file:///x".into())));
        assert!(tokio::time::timeout(Duration::from_millis(50), notices.recv()).await.is_err(), "not re-published");

        // A registry change on A is forwarded by its task.
        a.registry().notify(ListChanged::Tools);
        let n = tokio::time::timeout(Duration::from_secs(1), notices.recv()).await.unwrap();
        assert_eq!(n, Some(Notice::ListChanged(ListChanged::Tools)));
    }

    #[test]
    fn a_bus_needs_a_shared_sealing_key() {
        let hub = Arc::new(Mutex::new(Vec::new()));
        let r = Server::builder("t", "1").bus(Arc::new(LoopBus { node: 1, hub })).try_build();
        assert!(matches!(r, Err(crate::BuildError::MissingSealingKey)));
    }

    #[test]
    fn envelopes_round_trip_and_answers_name_their_node() {
        let raw = serde_json::value::RawValue::from_string(r#"{"action":"accept"}"#.into()).unwrap();
        let id = (7i64 << NODE_SHIFT) | 3;
        let e = answer(9, "s1", id, &Ok(raw));
        let back = Envelope::from_json(&e.to_json()).unwrap();
        assert_eq!(back, e);
        assert_eq!(back.target_node(), Some(7));
        let n = notice(9, &Notice::ResourceUpdated("file:///a".into()));
        assert_eq!(Envelope::from_json(&n.to_json()).unwrap().target_node(), None);
        assert_eq!(node_of(3), None, "an untagged id belongs to no node");
        assert_eq!(node_of(-5), None);
        assert!(Envelope::from_json(b"{not json").is_none());
    }
}
