//! The one owner of the state key space: every key the server writes to its
//! [`StateStore`](crate::state::StateStore) is built here, nowhere else.
//!
//! | key | owner |
//! |---|---|
//! | `{ns}session:{id}:{key}` | a legacy Streamable HTTP session (`Mcp-Session-Id`) |
//! | `{ns}connection:{id}:{key}` | one stdio / in-memory / HTTP+SSE connection |
//! | `{ns}principal:{hash}:{key}` | an authenticated principal (modern era) |
//! | `{ns}handle:{id}:{key}` | an explicit session handle |
//! | `{ns}process:{id}:{key}` | this process (modern-era stdio) |
//! | `{ns}handle:{id}` | the record of a session handle (the principal it is bound to) |
//! | `{scope}__ferromcp_visibility` | a scope's component-visibility overlay |
//!
//! `{ns}` is [`ServerConfig::state_namespace`](crate::ServerConfig::state_namespace);
//! the `kind:id:` part of a scope is [`SessionScope::key_prefix`], so the key layout
//! depends on `state`, never the other way round.
//! A scope's keys all start with its prefix, so deleting the prefix ends the scope's
//! state (see [`Server::end_scope`](crate::Server::end_scope)).

use std::sync::Arc;

use crate::resources::Resources;
use crate::session::Session;
use crate::state::{SessionScope, StateStore};

/// The state key (inside a scope) of the scope's visibility overlay.
pub(crate) const VISIBILITY: &str = "__ferromcp_visibility";

/// Builds state keys under one namespace.
#[derive(Debug, Clone)]
pub(crate) struct Keys {
    ns: Arc<str>,
}

impl Keys {
    /// Keys under namespace `ns`.
    pub(crate) fn new(ns: &str) -> Self {
        Keys { ns: ns.into() }
    }

    /// The full prefix of every key of `scope`; `None` without a scope.
    pub(crate) fn scope_prefix(&self, scope: &SessionScope) -> Option<String> {
        scope.key_prefix().map(|p| format!("{}{p}", self.ns))
    }

    /// The full key of `key` in `scope`; `None` without a scope.
    pub(crate) fn scope_key(&self, scope: &SessionScope, key: &str) -> Option<String> {
        scope.key_prefix().map(|p| format!("{}{p}{key}", self.ns))
    }

    /// The record of session handle `id`.
    pub(crate) fn handle_record(&self, id: &str) -> String {
        format!("{}handle:{id}", self.ns)
    }

    /// The full prefix of the state of `session` (its session or connection scope).
    pub(crate) fn session_prefix(&self, session: &Session) -> String {
        let scope = if session.is_connection() {
            SessionScope::Connection(session.id_arc())
        } else {
            SessionScope::Session(session.id_arc())
        };
        self.scope_prefix(&scope).unwrap_or_default()
    }
}

/// The end hook the server registers first on its session table: a session that left
/// it without [`Server::end_scope`] (reaped, shed, removed directly) has its state
/// deleted and its resources closed in the background.
pub(crate) fn on_session_end(
    keys: Keys,
    store: Arc<dyn StateStore>,
    resources: Arc<Resources>,
) -> impl Fn(&Arc<Session>) + Send + Sync {
    move |s| {
        if !s.claim_cleanup() {
            return;
        }
        crate::resources::close_in_background(resources.take(s.id()));
        let (prefix, store) = (keys.session_prefix(s), store.clone());
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            rt.spawn(async move { clear_prefix(&*store, &prefix).await });
        }
    }
}

pub(crate) async fn clear_prefix(store: &dyn StateStore, prefix: &str) {
    if let Err(e) = store.delete_prefix(prefix).await {
        tracing::warn!("could not clear the state of an ended session: {e}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_key_of_a_scope_starts_with_its_prefix() {
        let keys = Keys::new("ns:");
        let scope = SessionScope::Principal("abc".into());
        let prefix = keys.scope_prefix(&scope).unwrap();
        assert_eq!(prefix, "ns:principal:abc:");
        assert_eq!(keys.scope_key(&scope, "k").unwrap(), "ns:principal:abc:k");
        assert_eq!(scope.key_prefix().as_deref(), Some("principal:abc:"));
        assert_eq!(keys.scope_prefix(&SessionScope::None), None);
        assert_eq!(keys.handle_record("h1"), "ns:handle:h1");
        // A handle's record is not inside the handle's own scope, so clearing the scope
        // keeps the record until the handle itself is ended.
        let handle_scope = keys.scope_prefix(&SessionScope::Handle("h1".into())).unwrap();
        assert!(!keys.handle_record("h1").starts_with(&handle_scope));
        let http = Session::new(None);
        let conn = Session::connection(None, None);
        assert_eq!(keys.session_prefix(&http), format!("ns:session:{}:", http.id()));
        assert_eq!(keys.session_prefix(&conn), format!("ns:connection:{}:", conn.id()));
        let conn_scope = SessionScope::Connection(conn.id_arc());
        assert_eq!(keys.scope_prefix(&conn_scope).unwrap(), keys.session_prefix(&conn));
    }
}
