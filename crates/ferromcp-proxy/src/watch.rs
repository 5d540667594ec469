//! Following each backend's changes: one watching connection per backend receives its
//! `list_changed` and `resources/updated` notifications (2025-11-25: `resources/subscribe`
//! to every mounted resource and the connection's notifications; 2026-07-28 over HTTP:
//! one `subscriptions/listen` stream). A list change re-lists that backend and adds or
//! removes its frontend tools, prompts or resources (the frontend then announces its own
//! `list_changed` to the sessions listening); a resource update is announced to the
//! frontend sessions subscribed to that URI.
//!
//! A watcher that loses its connection reconnects after a pause; a 2026-07-28 stdio
//! backend is not watched (its notifications are not tied to a listen stream the client
//! can open).

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use ferromcp_client::{ClientEra, Listen};
use ferromcp_core::Server;
use ferromcp_core::protocol::ListChanged;
use serde_json::Value;

use crate::backend::Conn;
use crate::components;
use crate::config::BackendKind;
use crate::mount::{Mounted, tool_def};

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
    let uris: Vec<String> = m.uris.iter().cloned().collect();
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
                for kind in ["tools", "prompts", "resources"] {
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
        "notifications/tools/list_changed" => resync(server, m, conn, "tools").await,
        "notifications/prompts/list_changed" => resync(server, m, conn, "prompts").await,
        "notifications/resources/list_changed" => resync(server, m, conn, "resources").await,
        _ => {}
    }
}

/// Re-lists one kind of component on the backend and brings the frontend in line:
/// new ones added, gone ones removed. A name another backend already exposes is left
/// alone (logged), never replaced.
async fn resync(server: &Server, m: &mut Mounted, conn: &Arc<Conn>, kind: &str) {
    let reg = server.registry();
    let bname = m.backend.cfg.name.clone();
    let name_for = |n: &str| if m.prefix { format!("{bname}_{n}") } else { n.to_owned() };
    match kind {
        "tools" => {
            let Ok(tools) = conn.client.list_tools().await else { return };
            let mut now = HashSet::new();
            for tool in tools {
                let Some(exposed) = m.backend.cfg.tools.apply(&tool.name) else { continue };
                let exposed = name_for(&exposed);
                if !m.tools.contains(&exposed) && reg.snapshot().tools.get(&exposed).is_some() {
                    tracing::warn!(backend = %bname, "new tool `{exposed}` clashes with another backend's; not exposed");
                    continue;
                }
                if !m.tools.contains(&exposed) {
                    reg.add_tool(tool_def(&m.backend, &tool, exposed.clone()));
                }
                now.insert(exposed);
            }
            for gone in m.tools.difference(&now) {
                reg.remove_tool(gone);
            }
            // The backend said its list changed: so does the frontend's, even when only
            // a description moved (a changed name is an add and a remove, announced above).
            if now == m.tools {
                reg.notify(ListChanged::Tools);
            }
            m.tools = now;
        }
        "prompts" => {
            let Ok(prompts) = conn.client.list_prompts().await else { return };
            let mut now = HashSet::new();
            for p in prompts {
                let exposed = name_for(&p.name);
                if !m.prompts.contains(&exposed) && reg.snapshot().prompts.get(&exposed).is_some() {
                    continue;
                }
                if !m.prompts.contains(&exposed) {
                    reg.add_prompt(components::prompt(&m.backend, &p, exposed.clone(), m.completes));
                }
                now.insert(exposed);
            }
            for gone in m.prompts.difference(&now) {
                reg.remove_prompt(gone);
            }
            // The backend said its list changed: so does the frontend's, even when only
            // a description moved (a changed name is an add and a remove, announced above).
            if now == m.prompts {
                reg.notify(ListChanged::Prompts);
            }
            m.prompts = now;
        }
        _ => {
            let Ok(resources) = conn.client.list_resources().await else { return };
            let mut now = HashSet::new();
            for r in resources {
                if !m.uris.contains(&r.uri) && reg.snapshot().resources.get(&r.uri).is_some() {
                    continue;
                }
                if !m.uris.contains(&r.uri) {
                    reg.add_resource(components::resource(&m.backend, &r, name_for(&r.name)));
                }
                now.insert(r.uri.clone());
            }
            for gone in m.uris.difference(&now) {
                reg.remove_resource(gone);
            }
            // The backend said its list changed: so does the frontend's, even when only
            // a description moved (a changed name is an add and a remove, announced above).
            if now == m.uris {
                reg.notify(ListChanged::Resources);
            }
            m.uris = now;
        }
    }
}
