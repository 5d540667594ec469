//! The one notifier: every unsolicited notification (registry `list_changed`, resource
//! updates) leaves the server through here, fanned out to legacy sessions and
//! connections ([`SessionNotifications`]) and to `subscriptions/listen` streams
//! ([`Notices`] plus the stream's own filter).
//!
//! # The cross-node seam
//! [`Notifier::publish`] is where a notice enters and [`Notifier::subscribe`] where
//! every receiver reads from. With a [bus](crate::bus), a notice published here also
//! goes to the other nodes (and this node's registry changes are forwarded by a task
//! started with the bus); notices from other nodes arrive through
//! [`Notifier::deliver_remote`] on a third channel that every [`Notices`] reads and that
//! is never published again, so nothing loops. No transport changes.

use std::sync::{Arc, Weak};

use serde_json::json;
use tokio::sync::broadcast::{self, error::RecvError};

use crate::bus::Bus;
use crate::jsonrpc;
use crate::registry::{ListChanged, Registry};
use crate::session::Session;

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
            bus.publish(crate::bus::notice(bus.node(), &notice));
        }
        match notice {
            Notice::ListChanged(c) => registry.notify(c),
            Notice::ResourceUpdated(uri) => {
                let _ = self.updates.send(uri);
            }
        }
    }

    /// A notice from another node: to every local receiver, never to the bus again.
    /// False if nobody listens.
    pub(crate) fn deliver_remote(&self, notice: Notice) -> bool {
        self.remote.send(notice).is_ok()
    }

    /// Forwards this node's registry changes to the bus until the registry is gone.
    pub(crate) fn forward_list_changes(&self, registry: &Registry) {
        let Some(bus) = self.bus.clone() else { return };
        let mut changes = registry.subscribe();
        tokio::spawn(async move {
            loop {
                match changes.recv().await {
                    Ok(c) => bus.publish(crate::bus::notice(bus.node(), &Notice::ListChanged(c))),
                    Err(RecvError::Lagged(n)) => tracing::warn!(missed = n, "list changes not forwarded to the bus"),
                    Err(RecvError::Closed) => return,
                }
            }
        });
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
