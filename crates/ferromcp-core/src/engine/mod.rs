//! The engine: what every transport adapts to. Transports own bytes and framing; the
//! engine owns sessions, their state and their end.
//!
//! - [`Server::connection`]: the engine side of a stream transport (stdio, in-memory,
//!   HTTP+SSE): session creation, era, asks, notifications, end of connection.
//! - [`Server::exchange`]: the engine side of Streamable HTTP: era, session lookup,
//!   restore from a persisted record, registration after `initialize`.
//! - `directory`: the same for sessions shared through a
//!   [`SessionDirectory`](crate::session::SessionDirectory) (cache, touch, claims, sweep).
//! - `crate::keys`: the one owner of the state key space.
//! - `crate::notify`: the one notifier ([`Server::session_notifications`],
//!   [`Server::notices`]); where a cross-node bus will plug in.
//! - [`Server::end_scope`]: the one way a session or connection scope ends (registry
//!   and lifecycle hooks, in-flight requests and asks, subscriptions, state); the idle
//!   reaper and shedding reach the same cleanup through the registry's end hook.

mod connection;
mod directory;
mod exchange;

use std::sync::Arc;

use crate::server::Server;
use crate::session::Session;
use crate::state::SessionScope;

pub(crate) use crate::keys::Keys;
use crate::keys::clear_prefix;
pub use crate::notify::{Notice, Notices, SessionNotifications};
pub use connection::{Connection, ConnectionOptions, EraRule, Incoming, RequestFuture};
pub use exchange::{Exchange, ExchangeRequest};

impl Server {
    /// Ends the scope of a session or connection: it leaves the session table (its end
    /// hooks run once, with [`EndReason::Closed`](crate::session::EndReason::Closed)),
    /// its in-flight requests are cancelled and its waiting asks fail, its session
    /// resources are closed and its state is deleted before this returns. Ending a scope twice, or one the reaper already
    /// ended, does nothing more. Returns whether the session was still in the table.
    pub async fn end_scope(&self, session: &Arc<Session>) -> bool {
        let mine = session.claim_cleanup();
        let removed = self.inner.sessions.remove(session.id());
        session.close();
        if mine {
            crate::resources::close_all(self.inner.resources.take(session.id())).await;
            let prefix = self.inner.keys.session_prefix(session);
            clear_prefix(&*self.inner.store, &prefix).await;
        }
        removed
    }

    /// Deletes every key of `scope` (nothing without a scope).
    pub(crate) async fn clear_scope(&self, scope: &SessionScope) -> crate::Result<u64> {
        match self.inner.keys.scope_prefix(scope) {
            Some(prefix) => Ok(self.inner.store.delete_prefix(&prefix).await?),
            None => Ok(0),
        }
    }

    /// Every notice (list changes, resource updates) from now on: what
    /// `subscriptions/listen` streams filter. See [`Notices`].
    pub fn notices(&self) -> Notices {
        self.inner.notifier.subscribe(&self.inner.registry)
    }

    /// The notifications `session` (a legacy session or connection) receives from now
    /// on: every transport's stream of unsolicited notifications reads from this.
    pub fn session_notifications(&self, session: &Arc<Session>) -> SessionNotifications {
        SessionNotifications::new(self.notices(), session)
    }

    /// The state key builder.
    pub(crate) fn keys(&self) -> &Keys {
        &self.inner.keys
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use serde_json::json;

    use super::*;

    #[tokio::test]
    async fn end_scope_deletes_the_scopes_state_once_and_the_end_hook_covers_other_ends() {
        let server = Server::builder("t", "1").build();
        let store = server.state_store().clone();
        let conn = server.sessions().insert(Session::connection(None, None));
        let http = server.sessions().insert(Session::new(None));
        let (conn_key, http_key) =
            (format!("{}k", server.keys().session_prefix(&conn)), format!("{}k", server.keys().session_prefix(&http)));
        assert!(conn_key.contains(":connection:") && http_key.contains(":session:"));
        store.put(&conn_key, json!(1), None).await.unwrap();
        store.put(&http_key, json!(2), None).await.unwrap();

        assert!(server.end_scope(&conn).await, "the connection was registered");
        assert!(store.get(&conn_key).await.unwrap().is_none(), "its state is gone when end_scope returns");
        assert!(conn.is_closed());
        assert!(!server.end_scope(&conn).await, "a second end finds nothing to end");

        // Removed from the table directly (as the reaper and shedding do): the end hook
        // deletes the state in the background.
        assert!(server.sessions().remove(http.id()));
        for _ in 0..200 {
            if store.get(&http_key).await.unwrap().is_none() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        panic!("the state of a session removed from the table was not deleted");
    }
}
