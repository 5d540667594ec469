//! The one notifier: every unsolicited notification (registry `list_changed`, resource
//! updates) leaves the server through here, fanned out to legacy sessions and
//! connections ([`SessionNotifications`]) and to `subscriptions/listen` streams
//! ([`Notices`] plus the stream's own filter).
//!
//! # The cross-node seam
//! [`Notifier::publish`] is where a notice enters and [`Notifier::subscribe`] where
//! every receiver reads from. With a [bus](crate::bus), a notice published here also
//! goes to the other nodes (and this node's registry changes are forwarded by a task
//! started with the bus); what other nodes send arrives through the bus's sink (`Sink`,
//! here): answers to the session's asks, notifications to the standalone streams this
//! node holds, and notices on a third channel that every [`Notices`] reads and that is
//! never published again, so nothing loops. No transport changes.

use std::sync::{Arc, Weak};

use serde_json::json;
use tokio::sync::broadcast::{self, error::RecvError};

use crate::bus::{Audience, Bus, BusSink, Envelope, NODE_SHIFT, Payload, WireNotice, WireOutcome, node_of};
use crate::error::ProtocolError;
use crate::jsonrpc;
use crate::jsonrpc::RequestId;
use crate::registry::{ListChanged, Registry};
use crate::session::{Session, SessionRegistry};

/// One notice the notifier fans out.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Notice {
    /// A component list changed (tools, resources or prompts).
    ListChanged(ListChanged),
    /// Resource `uri` changed.
    ResourceUpdated(Arc<str>),
}

impl Notice {
    /// The notification for a legacy session, without `_meta`: `(method, params)`.
    pub fn legacy_notification(&self) -> (&'static str, serde_json::Value) {
        match self {
            Notice::ListChanged(c) => (c.method(), json!({})),
            Notice::ResourceUpdated(uri) => ("notifications/resources/updated", json!({ "uri": &**uri })),
        }
    }
}

/// Owns the resource-update channel and the channel of other nodes' notices; list
/// changes come from the registry.
pub(crate) struct Notifier {
    updates: broadcast::Sender<Arc<str>>,
    remote: broadcast::Sender<Notice>,
    bus: Option<Arc<dyn Bus>>,
}

impl Notifier {
    pub(crate) fn new(bus: Option<Arc<dyn Bus>>) -> Self {
        Notifier { updates: broadcast::channel(256).0, remote: broadcast::channel(256).0, bus }
    }

    /// Announces a notice to every receiver (list changes are announced by the registry
    /// itself when it changes), on this node and, with a bus, the others.
    pub(crate) fn publish(&self, registry: &Registry, notice: Notice) {
        if let Some(bus) = &self.bus
            && let Notice::ResourceUpdated(_) = &notice
        {
            // List changes reach the bus through the registry forwarder.
            bus.publish(notice_envelope(bus.node(), &notice));
        }
        match notice {
            Notice::ListChanged(c) => registry.notify(c),
            Notice::ResourceUpdated(uri) => {
                let _ = self.updates.send(uri);
            }
        }
    }

    /// Forwards this node's registry changes to the bus until the registry is gone.
    pub(crate) fn forward_list_changes(&self, registry: &Registry) {
        let Some(bus) = self.bus.clone() else { return };
        let mut changes = registry.subscribe();
        tokio::spawn(async move {
            loop {
                match changes.recv().await {
                    Ok(c) => bus.publish(notice_envelope(bus.node(), &Notice::ListChanged(c))),
                    Err(RecvError::Lagged(n)) => tracing::warn!(missed = n, "list changes not forwarded to the bus"),
                    Err(RecvError::Closed) => return,
                }
            }
        });
    }

    /// The sink a bus delivers other nodes' envelopes to, for the server whose session
    /// table is `sessions` (held weakly).
    pub(crate) fn sink(&self, sessions: &Arc<SessionRegistry>, node: u32) -> Arc<dyn BusSink> {
        Arc::new(Sink { sessions: Arc::downgrade(sessions), remote: self.remote.clone(), node })
    }

    /// Every notice from now on.
    pub(crate) fn subscribe(&self, registry: &Registry) -> Notices {
        Notices { changes: registry.subscribe(), updates: self.updates.subscribe(), remote: self.remote.subscribe() }
    }

    /// The raw resource-update channel (for [`Server::resource_updates`](crate::Server::resource_updates)).
    pub(crate) fn resource_updates(&self) -> broadcast::Receiver<Arc<str>> {
        self.updates.subscribe()
    }
}

/// A subscription to every notice (see [`Server::notices`](crate::Server::notices)).
pub struct Notices {
    changes: broadcast::Receiver<ListChanged>,
    updates: broadcast::Receiver<Arc<str>>,
    remote: broadcast::Receiver<Notice>,
}

impl std::fmt::Debug for Notices {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Notices").finish_non_exhaustive()
    }
}

impl Notices {
    /// The next notice; `None` once the server is gone. Notices missed because this
    /// receiver lagged are skipped. Cancel-safe (usable in `tokio::select!`).
    pub async fn recv(&mut self) -> Option<Notice> {
        loop {
            tokio::select! {
                c = self.changes.recv() => match c {
                    Ok(c) => return Some(Notice::ListChanged(c)),
                    Err(RecvError::Lagged(_)) => {}
                    Err(RecvError::Closed) => return None,
                },
                u = self.updates.recv() => match u {
                    Ok(uri) => return Some(Notice::ResourceUpdated(uri)),
                    Err(RecvError::Lagged(_)) => {}
                    Err(RecvError::Closed) => return None,
                },
                r = self.remote.recv() => match r {
                    Ok(n) => return Some(n),
                    Err(RecvError::Lagged(_)) => {}
                    Err(RecvError::Closed) => return None,
                },
            }
        }
    }
}

/// The notifications one legacy session or connection receives (see
/// [`Server::session_notifications`](crate::Server::session_notifications)): list
/// changes once it is initialized, and updates of the resources it subscribed to.
#[derive(Debug)]
pub struct SessionNotifications {
    notices: Notices,
    session: Weak<Session>,
}

impl SessionNotifications {
    pub(crate) fn new(notices: Notices, session: &Arc<Session>) -> Self {
        SessionNotifications { notices, session: Arc::downgrade(session) }
    }

    /// The next notification for the session, serialized as a JSON-RPC message; `None`
    /// once the session or the server is gone. Cancel-safe.
    pub async fn next(&mut self) -> Option<Vec<u8>> {
        loop {
            let notice = self.notices.recv().await?;
            let session = self.session.upgrade()?;
            // Only legacy sessions get unsolicited notifications (modern clients use
            // subscriptions/listen), and only once initialized.
            let wanted = session.init().is_some()
                && match &notice {
                    Notice::ListChanged(_) => true,
                    Notice::ResourceUpdated(uri) => session.is_subscribed(uri),
                };
            if wanted {
                let (method, params) = notice.legacy_notification();
                let mut buf = Vec::new();
                let _ = jsonrpc::write_notification(&mut buf, method, &params);
                return Some(buf);
            }
        }
    }
}

/// A server-wide notice on the wire.
fn wire(n: &Notice) -> WireNotice {
    match n {
        Notice::ListChanged(ListChanged::Tools) => WireNotice::ListChanged("tools".into()),
        Notice::ListChanged(ListChanged::Resources) => WireNotice::ListChanged("resources".into()),
        Notice::ListChanged(ListChanged::Prompts) => WireNotice::ListChanged("prompts".into()),
        Notice::ResourceUpdated(uri) => WireNotice::ResourceUpdated(uri.to_string()),
    }
}

/// A notice from the wire; `None` for a kind this version does not know.
fn unwire(w: &WireNotice) -> Option<Notice> {
    Some(match w {
        WireNotice::ListChanged(k) => Notice::ListChanged(match k.as_str() {
            "tools" => ListChanged::Tools,
            "resources" => ListChanged::Resources,
            "prompts" => ListChanged::Prompts,
            _ => return None,
        }),
        WireNotice::ResourceUpdated(uri) => Notice::ResourceUpdated(uri.as_str().into()),
    })
}

/// The envelope of a server-wide notice.
fn notice_envelope(from: u32, n: &Notice) -> Envelope {
    Envelope { from, payload: Payload::Notice(wire(n)) }
}

/// Sends `message` on the open standalone stream of every local session in `audience`;
/// returns how many it was queued on.
pub(crate) fn deliver_local(sessions: &SessionRegistry, audience: &Audience, message: &[u8]) -> usize {
    let send = |s: &Session| s.stream().is_some_and(|out| out.try_send(message.to_vec()).is_ok());
    match audience {
        Audience::Session(id) => sessions.get(id).is_some_and(|s| send(&s)) as usize,
        _ => sessions.all().iter().filter(|s| audience.includes(s) && send(s)).count(),
    }
}

/// What a bus delivers to (see [`BusSink`]): the session table, for answers and
/// notifications to sessions, and the channel of other nodes' notices.
struct Sink {
    sessions: Weak<SessionRegistry>,
    remote: broadcast::Sender<Notice>,
    node: u32,
}

impl BusSink for Sink {
    fn is_open(&self) -> bool {
        self.sessions.strong_count() > 0
    }

    fn deliver(&self, envelope: Envelope) -> bool {
        let Some(sessions) = self.sessions.upgrade() else { return false };
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
                let done = sessions.get(&session).is_some_and(|s| s.peer().complete(&local, outcome));
                tracing::debug!(target: "ferromcp_core::bus", session, id, from = envelope.from, done, "answer from another node delivered");
                done
            }
            Payload::Notify { audience, message } => deliver_local(&sessions, &audience, message.as_bytes()) > 0,
            Payload::Notice(n) => unwire(&n).is_some_and(|n| self.remote.send(n).is_ok()),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use crate::Server;
    use crate::registry::ListChanged;
    use crate::session::{ClientInit, Session};

    async fn next(feed: &mut super::SessionNotifications) -> Option<String> {
        let n = tokio::time::timeout(Duration::from_millis(50), feed.next()).await.ok()??;
        Some(String::from_utf8(n).unwrap())
    }

    #[tokio::test]
    async fn a_session_gets_list_changes_once_initialized_and_only_its_subscriptions() {
        let server = Server::builder("t", "1").build();
        let session = Session::connection(None, None);
        let mut feed = server.session_notifications(&session);
        server.registry().notify(ListChanged::Tools);
        assert_eq!(next(&mut feed).await, None, "nothing before initialize");
        session.set_init(ClientInit {
            version: crate::protocol::V_2025_11_25,
            capabilities: Default::default(),
            info: None,
        });
        server.registry().notify(ListChanged::Prompts);
        let n = next(&mut feed).await.expect("a list change");
        assert!(n.contains("notifications/prompts/list_changed"), "{n}");
        session.subscribe("file:///a".into());
        server.notify_resource_updated("file:///b");
        server.notify_resource_updated("file:///a");
        let n = next(&mut feed).await.expect("the subscribed update");
        assert!(n.contains("notifications/resources/updated") && n.contains("file:///a"), "{n}");
        assert_eq!(next(&mut feed).await, None, "file:///b was not subscribed");
        drop(session);
        server.registry().notify(ListChanged::Tools);
        assert!(feed.next().await.is_none(), "the feed ends with its session");
    }
}
