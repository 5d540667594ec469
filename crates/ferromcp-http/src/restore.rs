//! Legacy sessions that outlive the process: on `initialize` the session's record is
//! saved in the event store; a later request for an id this process does not know is
//! served if the store has the record (after a restart, with a durable store).

use std::sync::Arc;

use ferromcp_core::events::SessionRecord;
use ferromcp_core::session::{ClientInit, Session};
use ferromcp_core::state::Principal;

use crate::AppState;

/// Saves `session`'s record (best effort: a failure only makes the session unresumable).
pub(crate) async fn save(st: &AppState, session: &Session) {
    let (Some(store), Some(init)) = (st.cfg.event_store.as_ref(), session.init()) else { return };
    let record = SessionRecord {
        id: session.id().to_owned(),
        principal: session.principal().map(str::to_owned),
        version: init.version.to_owned(),
        capabilities: serde_json::to_value(&*init.capabilities).unwrap_or_default(),
        client_info: init.info.as_ref().and_then(|i| serde_json::to_value(i).ok()),
    };
    if let Err(e) = store.0.save_session(&record).await {
        tracing::warn!("could not persist a session record: {e}");
    }
}

/// The session `id`, from memory or restored from the store, if `principal` may use it.
pub(crate) async fn find(st: &AppState, id: &str, principal: Option<&Principal>) -> Option<Arc<Session>> {
    if let Some(s) = st.server.sessions().get(id) {
        return crate::auth::may_use(&s, principal).then_some(s);
    }
    let store = st.cfg.event_store.as_ref()?;
    let record = match store.0.load_session(id).await {
        Ok(Some(r)) => r,
        Ok(None) => return None,
        Err(e) => {
            tracing::warn!("could not load a session record: {e}");
            return None;
        }
    };
    if record.principal.as_deref() != principal.map(Principal::hashed) {
        return None;
    }
    let version = ferromcp_core::protocol::LEGACY_VERSIONS.iter().copied().find(|v| *v == record.version)?;
    let session = Session::with_id(record.id.as_str().into(), record.principal.as_deref().map(Arc::from));
    session.set_init(ClientInit {
        version,
        capabilities: Arc::new(serde_json::from_value(record.capabilities).unwrap_or_default()),
        info: record.client_info.and_then(|v| serde_json::from_value(v).ok()),
    });
    session.mark_initialized();
    // A concurrent request may have restored it first: use the registered one.
    let session = st.server.sessions().insert(session);
    tracing::info!(session = %id, "legacy session restored from the event store");
    Some(session)
}

/// Ends a session everywhere: registry (firing hooks), state and event store, before
/// answering.
pub(crate) async fn remove(st: &AppState, session: &Arc<Session>) -> bool {
    let removed = st.server.end_scope(session).await;
    if let Some(store) = &st.cfg.event_store
        && let Err(e) = store.0.remove_session(session.id()).await
    {
        tracing::warn!("could not remove a session's events: {e}");
    }
    removed
}
