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
//!
//! Not carried yet: a client's `notifications/cancelled` for a request running on
//! another node (it cancels only requests of the node that receives it).

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::error::ProtocolError;

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
    fn start(&self, sink: Arc<dyn BusSink>);
}

/// Where a bus hands what other nodes sent: the server that started it. The server
/// holds it weakly, so a bus does not keep a dropped server alive.
pub trait BusSink: Send + Sync + 'static {
    /// Delivers one envelope from another node; `false` if it was not for this node or
    /// nobody here could take it. Envelopes with this node's own tag are ignored.
    fn deliver(&self, envelope: Envelope) -> bool;
    /// Whether the server is still there (a bus stops delivering once it is not).
    fn is_open(&self) -> bool;
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn envelopes_round_trip_and_answers_name_their_node() {
        let raw = serde_json::value::RawValue::from_string(r#"{"action":"accept"}"#.into()).unwrap();
        let id = (7i64 << NODE_SHIFT) | 3;
        let e = answer(9, "s1", id, &Ok(raw));
        let back = Envelope::from_json(&e.to_json()).unwrap();
        assert_eq!(back, e);
        assert_eq!(back.target_node(), Some(7));
        let n = Envelope { from: 9, payload: Payload::Notice(WireNotice::ResourceUpdated("file:///a".into())) };
        assert_eq!(Envelope::from_json(&n.to_json()).unwrap().target_node(), None);
        assert_eq!(node_of(3), None, "an untagged id belongs to no node");
        assert_eq!(node_of(-5), None);
        assert!(Envelope::from_json(b"{not json").is_none());
    }
}
