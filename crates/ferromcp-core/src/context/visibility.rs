//! `ctx.enable_components` / `disable_components` / `reset_visibility`: per-scope
//! visibility overlays, with `list_changed` sent to that scope only.

use crate::context::Context;
use crate::error::{Error, Result};
use crate::jsonrpc;
use crate::keys::VISIBILITY as KEY;
use crate::protocol::ListChanged;
use crate::state::{ComponentFilter, ComponentKind, Visibility};

impl Context {
    /// Shows matching components to this session only (they need not be enabled
    /// globally). Sends `list_changed` to this session.
    pub async fn enable_components(&self, filter: ComponentFilter) -> Result<()> {
        self.change_visibility(Some((true, filter))).await
    }

    /// Hides matching components from this session only (they cannot be listed nor
    /// called). Sends `list_changed` to this session.
    pub async fn disable_components(&self, filter: ComponentFilter) -> Result<()> {
        self.change_visibility(Some((false, filter))).await
    }

    /// Drops this session's overlay; everyone's defaults apply again.
    pub async fn reset_visibility(&self) -> Result<()> {
        self.change_visibility(None).await
    }

    async fn change_visibility(&self, rule: Option<(bool, ComponentFilter)>) -> Result<()> {
        self.server().inner.visibility_used.store(true, std::sync::atomic::Ordering::Relaxed);
        if let Some(s) = self.session().filter(|s| !s.has_overlay()) {
            // Other nodes of a session directory learn of the overlay from the record.
            s.set_overlay();
            self.server().persist_change(s, crate::session::Change::Overlay(true)).await?;
        }
        let kinds = match &rule {
            Some((_, f)) => f.affected_kinds(),
            None => ComponentFilter::all().affected_kinds(),
        };
        match rule {
            Some((enable, filter)) => {
                self.state()
                    .update(KEY, |old: Option<Visibility>| {
                        let mut v = old.unwrap_or_default();
                        v.push(enable, filter.clone());
                        v
                    })
                    .await?;
            }
            None => {
                self.state().delete(KEY).await?;
            }
        }
        self.announce(&kinds).await;
        Ok(())
    }

    /// This scope's overlay, if overlays are in use and it has one.
    pub(crate) async fn visibility(&self) -> Result<Option<Visibility>> {
        // The per-process flag covers overlays set here; a session's own flag, those set
        // on another node of a session directory.
        let used = self.server().inner.visibility_used.load(std::sync::atomic::Ordering::Relaxed)
            || self.session().is_some_and(|s| s.has_overlay());
        if !used || self.scope().id().is_none() {
            return Ok(None);
        }
        match self.state().get::<Visibility>(KEY).await {
            Ok(v) => Ok(v.filter(|v| !v.is_empty())),
            Err(Error::NoScope(_)) => Ok(None),
            Err(e) => Err(e),
        }
    }

    async fn announce(&self, kinds: &[ComponentKind]) {
        let mut changes = Vec::new();
        for k in kinds {
            let c = match k {
                ComponentKind::Tool => ListChanged::Tools,
                ComponentKind::Resource | ComponentKind::Template => ListChanged::Resources,
                ComponentKind::Prompt => ListChanged::Prompts,
            };
            if !changes.contains(&c) {
                changes.push(c);
            }
        }
        let standalone = self.session().and_then(|s| s.stream());
        for c in changes {
            let mut buf = Vec::new();
            let _ = jsonrpc::write_notification(&mut buf, c.method(), &serde_json::json!({}));
            if self.inner.outbound.send(buf.clone()).await.is_err()
                && let Some(s) = &standalone
            {
                let _ = s.send(buf).await;
            }
        }
    }
}
