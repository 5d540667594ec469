//! Following each backend's changes: one watching connection per backend receives its
//! `list_changed` and `resources/updated` notifications (2025-11-25: `resources/subscribe`
//! to every mounted resource and the connection's notifications; 2026-07-28 over HTTP:
//! one `subscriptions/listen` stream). A list change re-lists that backend and adds,
//! re-registers (a definition that changed under the same name) or removes its frontend
//! tools, prompts or resources — one generic path for the three kinds (`Kind`); the
//! frontend then announces its own `list_changed` to the sessions listening. A resource
//! update is announced to the frontend sessions subscribed to that URI.
//!
//! A watcher that loses its connection reconnects after a pause; a 2026-07-28 stdio
//! backend is not watched (its notifications are not tied to a listen stream the client
//! can open).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use ferromcp_client::{ClientEra, ClientError, Listen};
use ferromcp_core::Server;
use ferromcp_core::protocol::ListChanged;
use ferromcp_core::registry::{Components, Registry};
use serde_json::Value;

use crate::backend::Conn;
use crate::components;
use crate::config::BackendKind;
use crate::mount::{Mounted, listing, tool_def};

/// Pause before a watcher reconnects (doubling after each failure, up to the max).
const RETRY: Duration = Duration::from_secs(2);
const MAX_RETRY: Duration = Duration::from_secs(60);

/// Starts one watcher task per mounted backend.
pub(crate) fn start(server: &Server, mounted: Vec<Mounted>) {
    if tokio::runtime::Handle::try_current().is_err() {
        return;
    }
    for m in mounted.into_iter().filter(|m| m.listens) {
        let server = server.clone();
        tokio::spawn(async move {
            let mut m = m;
            let mut pause = RETRY;
            loop {
                match watch_once(&server, &mut m).await {
                    Ok(Watch::Ended) => pause = RETRY,
                    Ok(Watch::Unsupported) => return,
                    Err(e) => {
                        tracing::debug!(backend = %m.backend.cfg.name, "watcher: {e}");
                        pause = (pause * 2).min(MAX_RETRY);
                    }
                }
                tokio::time::sleep(pause).await;
            }
        });
    }
}

/// How a watching connection ended.
enum Watch {
    /// The connection or stream ended: reconnect.
    Ended,
    /// This backend cannot be watched (2026-07-28 over stdio): stop.
    Unsupported,
}

/// One watching connection, until it ends.
async fn watch_once(server: &Server, m: &mut Mounted) -> Result<Watch, String> {
    let conn = m.backend.connect().await.map_err(|e| e.to_string())?;
    let result = follow(server, m, &conn).await;
    conn.client.close().await;
    result
}

async fn follow(server: &Server, m: &mut Mounted, conn: &Arc<Conn>) -> Result<Watch, String> {
    let uris: Vec<String> = m.uris.keys().cloned().collect();
    if conn.client.era() == ClientEra::Modern {
        if !matches!(m.backend.cfg.kind, BackendKind::Http { .. }) {
            return Ok(Watch::Unsupported);
        }
        let mut listen = Listen::new().tools_list_changed().prompts_list_changed().resources_list_changed();
        for uri in &uris {
            listen = listen.resource(uri.clone());
        }
        let mut sub = conn.client.listen(listen).await.map_err(|e| e.to_string())?;
        while let Some(msg) = sub.next().await {
            apply(server, m, conn, &msg).await;
        }
        return Ok(Watch::Ended);
    }
    let mut notes = conn.client.notifications();
    if m.subscribes {
        for uri in &uris {
            conn.client.subscribe_resource(uri).await.map_err(|e| format!("resources/subscribe {uri}: {e}"))?;
        }
    }
    loop {
        match notes.recv().await {
            Ok(msg) => apply(server, m, conn, &msg).await,
            Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {
                // Missed some: re-list everything rather than miss a change.
                for kind in [Kind::Tools, Kind::Prompts, Kind::Resources] {
                    resync(server, m, conn, kind).await;
                }
            }
            Err(tokio::sync::broadcast::error::RecvError::Closed) => return Ok(Watch::Ended),
        }
        if conn.client.is_closed() {
            return Ok(Watch::Ended);
        }
    }
}

async fn apply(server: &Server, m: &mut Mounted, conn: &Arc<Conn>, msg: &Value) {
    let method = msg.get("method").and_then(Value::as_str).unwrap_or_default();
    match method {
        "notifications/resources/updated" => {
            if let Some(uri) = msg.pointer("/params/uri").and_then(Value::as_str) {
                server.notify_resource_updated(uri);
            }
        }
        "notifications/tools/list_changed" => resync(server, m, conn, Kind::Tools).await,
        "notifications/prompts/list_changed" => resync(server, m, conn, Kind::Prompts).await,
        "notifications/resources/list_changed" => resync(server, m, conn, Kind::Resources).await,
        _ => {}
    }
}

/// Re-lists one kind of component on the backend and brings the frontend in line: new
/// ones added, changed ones (same name, new description, schema, …) registered again,
/// gone ones removed — each of which the frontend announces. The backend said its list
/// changed, so the frontend's changes too even when nothing visible moved. A name another
/// backend already exposes is left alone (logged), never replaced.
async fn resync(server: &Server, m: &mut Mounted, conn: &Arc<Conn>, kind: Kind) {
    let listed = match kind.list(m, conn).await {
        Ok(l) => l,
        Err(e) => {
            tracing::debug!(backend = %m.backend.cfg.name, "watcher: re-listing failed: {e}");
            return;
        }
    };
    let reg = server.registry();
    let snapshot = reg.snapshot();
    let bname = m.backend.cfg.name.clone();
    let mine = kind.mine(m);
    let mut now = HashMap::new();
    let mut moved = false;
    for Listed { key, listing, register } in listed {
        match mine.get(&key) {
            None if kind.exposed(&snapshot, &key) => {
                tracing::warn!(backend = %bname, "new component `{key}` clashes with another backend's; not exposed");
                continue;
            }
            Some(before) if *before == listing => {}
            _ => {
                register(reg);
                moved = true;
            }
        }
        now.insert(key, listing);
    }
    for gone in mine.keys().filter(|k| !now.contains_key(*k)) {
        kind.remove(reg, gone);
        moved = true;
    }
    if !moved {
        reg.notify(kind.changed());
    }
    *mine = now;
}

/// The three kinds of listed components a backend announces changes of.
#[derive(Clone, Copy)]
pub(crate) enum Kind {
    Tools,
    Prompts,
    Resources,
}

/// One component as the backend lists it now: the key the frontend exposes it under,
/// the backend's listing (to tell a changed definition from an unchanged one), and how
/// to register it on the frontend.
struct Listed {
    key: String,
    listing: Value,
    register: Box<dyn FnOnce(&Registry) + Send>,
}

impl Kind {
    fn changed(self) -> ListChanged {
        match self {
            Kind::Tools => ListChanged::Tools,
            Kind::Prompts => ListChanged::Prompts,
            Kind::Resources => ListChanged::Resources,
        }
    }

    /// Whether the frontend already exposes `key` (for another backend, when it is not
    /// this backend's).
    fn exposed(self, c: &Components, key: &str) -> bool {
        match self {
            Kind::Tools => c.tools.get(key).is_some(),
            Kind::Prompts => c.prompts.get(key).is_some(),
            Kind::Resources => c.resources.get(key).is_some(),
        }
    }

    fn remove(self, reg: &Registry, key: &str) {
        match self {
            Kind::Tools => reg.remove_tool(key),
            Kind::Prompts => reg.remove_prompt(key),
            Kind::Resources => reg.remove_resource(key),
        };
    }

    /// The keys (and listings) this backend exposes of this kind.
    fn mine(self, m: &mut Mounted) -> &mut HashMap<String, Value> {
        match self {
            Kind::Tools => &mut m.tools,
            Kind::Prompts => &mut m.prompts,
            Kind::Resources => &mut m.uris,
        }
    }

    /// Lists this kind on the backend, as frontend registrations.
    async fn list(self, m: &Mounted, conn: &Conn) -> Result<Vec<Listed>, ClientError> {
        let backend = &m.backend;
        let bname = &backend.cfg.name;
        let name_for = |n: &str| if m.prefix { format!("{bname}_{n}") } else { n.to_owned() };
        let mut out = Vec::new();
        match self {
            Kind::Tools => {
                for tool in conn.client.list_tools().await? {
                    let Some(exposed) = backend.cfg.tools.apply(&tool.name) else { continue };
                    let key = name_for(&exposed);
                    let def = tool_def(backend, &tool, key.clone());
                    out.push(Listed { key, listing: listing(&tool), register: Box::new(move |r| r.add_tool(def)) });
                }
            }
            Kind::Prompts => {
                for p in conn.client.list_prompts().await? {
                    let key = name_for(&p.name);
                    let def = components::prompt(backend, &p, key.clone(), m.completes);
                    out.push(Listed { key, listing: listing(&p), register: Box::new(move |r| r.add_prompt(def)) });
                }
            }
            Kind::Resources => {
                for res in conn.client.list_resources().await? {
                    let def = components::resource(backend, &res, name_for(&res.name));
                    let key = res.uri.clone();
                    out.push(Listed { key, listing: listing(&res), register: Box::new(move |r| r.add_resource(def)) });
                }
            }
        }
        Ok(out)
    }
}
