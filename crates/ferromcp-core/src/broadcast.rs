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
use crate::server::Server;
use crate::session::SessionRegistry;

/// Sends `message` on the open standalone stream of every local session in `audience`;
/// returns how many it was queued on.
pub(crate) fn deliver_local(sessions: &SessionRegistry, audience: &Audience, message: &[u8]) -> usize {
    let send = |s: &crate::session::Session| s.stream().is_some_and(|out| out.try_send(message.to_vec()).is_ok());
    match audience {
        Audience::Session(id) => sessions.get(id).is_some_and(|s| send(&s)) as usize,
        _ => sessions.all().iter().filter(|s| audience.includes(s) && send(s)).count(),
    }
}

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
