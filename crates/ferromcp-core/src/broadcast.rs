//! Broadcasts: one notification to every session, to the sessions of a principal, or
//! to one session by id, from a tool ([`Context::broadcast`]) or from outside a request
//! ([`Server::broadcast`]), across every node of a deployment that shares a
//! [bus](crate::bus).
//!
//! A broadcast goes to each receiving session's *standalone* stream: the legacy GET
//! stream (Streamable HTTP) or the connection (stdio, in-memory, HTTP+SSE). A session
//! without one open misses it (as a notification sent while nobody listens), and a
//! full stream drops it rather than block the sender. Modern (2026-07-28) clients have
//! no session stream: they receive server-wide notices through `subscriptions/listen`.

use serde_json::Value;

use crate::bus::{Audience, Envelope, Payload};
use crate::context::Context;
use crate::jsonrpc;
use crate::notify::deliver_local;
use crate::server::Server;

impl Server {
    /// Sends the notification `method` with `params` to the sessions in `audience`, on
    /// this node and (with a [bus](crate::ServerBuilder::bus)) every other. Returns how
    /// many sessions of *this* node it was queued for; other nodes deliver on their own.
    ///
    /// One session by id is served here if its stream is open here, else handed to the
    /// bus; everyone else is served here and on every other node.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// use ferromcp_core::bus::Audience;
    /// let server = ferromcp_core::Server::builder("chat", "1").build();
    /// let reached = server.broadcast(
    ///     Audience::All,
    ///     "notifications/message",
    ///     serde_json::json!({ "level": "info", "data": "maintenance in 5 minutes" }),
    /// );
    /// assert_eq!(reached, 0, "no session is open yet");
    /// # }
    /// ```
    pub fn broadcast(&self, audience: Audience, method: &str, params: Value) -> usize {
        let mut buf = Vec::with_capacity(64);
        if jsonrpc::write_notification(&mut buf, method, &params).is_err() {
            return 0;
        }
        let reached = deliver_local(&self.inner.sessions, &audience, &buf);
        let Some(bus) = &self.inner.bus else { return reached };
        if reached > 0 && matches!(audience, Audience::Session(_)) {
            return reached;
        }
        let message = String::from_utf8(buf).unwrap_or_default();
        bus.publish(Envelope { from: bus.node(), payload: Payload::Notify { audience, message } });
        reached
    }
}

impl Context {
    /// [`Server::broadcast`] from a handler: e.g. tell every session of the caller's
    /// principal, or one other session, that something changed.
    ///
    /// ```no_run
    /// # fn f(ctx: ferromcp_core::Context) {
    /// use ferromcp_core::bus::Audience;
    /// if let Some(p) = ctx.principal() {
    ///     ctx.broadcast(Audience::principal(p), "notifications/message", serde_json::json!({"level": "info", "data": "saved"}));
    /// }
    /// # }
    /// ```
    pub fn broadcast(&self, audience: Audience, method: &str, params: Value) -> usize {
        self.server().broadcast(audience, method, params)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;
    use std::time::Duration;

    use std::sync::Arc;

    use crate::Server;
    use crate::bus::{Audience, Bus, BusSink, Envelope, NODE_SHIFT};
    use crate::error::ProtocolError;
    use crate::jsonrpc::RequestId;
    use crate::jsonrpc::Response;
    use crate::notify::Notice;
    use crate::outbound::Outbound;
    use crate::protocol::ListChanged;
    use crate::session::{ClientInit, Session};

    /// An in-process bus between servers of one test: every envelope goes (as JSON, like
    /// on a real bus) to every other node's sink.
    type Hub = Arc<Mutex<Vec<(u32, Arc<dyn BusSink>)>>>;

    struct LoopBus {
        node: u32,
        hub: Hub,
    }

    impl Bus for LoopBus {
        fn node(&self) -> u32 {
            self.node
        }
        fn publish(&self, envelope: Envelope) {
            let bytes = envelope.to_json();
            for (_, sink) in self.hub.lock().unwrap().iter().filter(|(n, _)| *n != self.node) {
                sink.deliver(Envelope::from_json(&bytes).unwrap());
            }
        }
        fn start(&self, sink: Arc<dyn BusSink>) {
            self.hub.lock().unwrap().push((self.node, sink));
        }
    }

    fn node(tag: u32, hub: &Hub) -> Server {
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

    #[tokio::test]
    async fn a_principals_broadcast_reaches_only_its_sessions_on_other_nodes() {
        let hub = Arc::new(Mutex::new(Vec::new()));
        let (a, b) = (node(7, &hub), node(8, &hub));
        let (alice, bob) = (crate::state::Principal::new("alice"), crate::state::Principal::new("bob"));
        let mut streams = Vec::new();
        for (id, who) in [("alice-1", &alice), ("alice-2", &alice), ("bob-1", &bob)] {
            let s = Session::with_id(id.into(), Some(Arc::from(who.hashed())));
            s.set_init(ClientInit {
                version: crate::protocol::V_2025_11_25,
                capabilities: Default::default(),
                info: None,
            });
            let s = b.sessions().insert(s);
            let (out, frames) = Outbound::channel();
            s.set_stream(Some(out));
            streams.push((id, frames));
        }
        let params = serde_json::json!({"data": "for alice"});
        assert_eq!(a.broadcast(Audience::principal(&alice), "notifications/message", params), 0, "none on A");
        for (id, frames) in &mut streams {
            let got = frames.try_recv().map(|f| String::from_utf8(f.to_vec()).unwrap());
            if id.starts_with("alice") {
                assert!(got.expect("alice's session on B got it").contains("for alice"), "{id}");
            } else {
                assert!(got.is_none(), "bob's session must not get alice's broadcast");
            }
        }
    }

    #[test]
    fn a_bus_needs_a_shared_sealing_key() {
        let hub = Arc::new(Mutex::new(Vec::new()));
        let r = Server::builder("t", "1").bus(Arc::new(LoopBus { node: 1, hub })).try_build();
        assert!(matches!(r, Err(crate::BuildError::MissingSealingKey)));
    }
}
