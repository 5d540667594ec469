//! [`Component`]: what every kind of registered component (tool, resource, resource
//! template, prompt) shares — its key, its tags and registry flag, its protocol
//! description — so lookups under a visibility overlay and the `*/list` methods are
//! written once, not once per kind.

use std::collections::BTreeSet;
use std::sync::Arc;

use serde::Serialize;

use super::{Components, Ordered, PromptDef, ResourceDef, ResourceHandler, ResourceTemplateDef, TemplateVars, ToolDef};
use crate::protocol::{Prompt, Resource, ResourceTemplate, Tool};
use crate::state::{ComponentKind, Visibility};

/// One kind of registered component.
pub(crate) trait Component: Sized + Send + Sync + 'static {
    /// The kind, for visibility rules.
    const KIND: ComponentKind;
    /// The protocol description listed by `*/list`.
    type Listed: Serialize + Clone + Send + Sync + 'static;
    /// The key the registry holds it under (name, URI or URI template).
    fn key(&self) -> &str;
    /// Its tags and registry `enabled` flag.
    fn flags(&self) -> (&BTreeSet<String>, bool);
    /// Its protocol description.
    fn listed(&self) -> &Self::Listed;
    /// The OAuth scopes a caller needs to see and use it.
    fn required_scopes(&self) -> &[String];
    /// Every component of this kind in a snapshot.
    fn all(c: &Components) -> &Ordered<Self>;

    /// Whether the component is shown under an optional overlay.
    fn shown(&self, vis: Option<&Visibility>) -> bool {
        let (tags, enabled) = self.flags();
        Visibility::shows(vis, Self::KIND, self.key(), tags, enabled)
    }
}

macro_rules! component {
    ($def:ty, $kind:ident, $listed:ty, $field:ident, $all:ident, $key:expr) => {
        impl Component for $def {
            const KIND: ComponentKind = ComponentKind::$kind;
            type Listed = $listed;
            fn key(&self) -> &str {
                let key: fn(&Self) -> &str = $key;
                key(self)
            }
            fn flags(&self) -> (&BTreeSet<String>, bool) {
                (&self.tags, self.enabled)
            }
            fn required_scopes(&self) -> &[String] {
                &self.scopes
            }
            fn listed(&self) -> &$listed {
                &self.$field
            }
            fn all(c: &Components) -> &Ordered<Self> {
                &c.$all
            }
        }
    };
}

component!(ToolDef, Tool, Tool, tool, tools, |d| &d.tool.name);
component!(ResourceDef, Resource, Resource, resource, resources, |d| &d.resource.uri);
component!(ResourceTemplateDef, Template, ResourceTemplate, template, templates, |d| &d.template.uri_template);
component!(PromptDef, Prompt, Prompt, prompt, prompts, |d| &d.prompt.name);

impl Components {
    /// The component of kind `T` under `key`, if it is shown under `vis`.
    pub(crate) fn visible<T: Component>(&self, key: &str, vis: Option<&Visibility>) -> Option<&Arc<T>> {
        T::all(self).get(key).filter(|c| c.shown(vis))
    }

    /// The handler that serves `uri` under `vis`: a static resource, else the first
    /// matching template (with its variables). A shown static resource without a handler
    /// serves nothing, templates included.
    pub(crate) fn resolve_resource(
        &self,
        uri: &str,
        vis: Option<&Visibility>,
    ) -> Option<(Arc<dyn ResourceHandler>, TemplateVars)> {
        if let Some(r) = self.visible::<ResourceDef>(uri, vis) {
            return Some((r.handler.clone()?, TemplateVars::default()));
        }
        let (t, vars) = self
            .templates
            .iter()
            .find_map(|t| if t.shown(vis) { t.matcher.matches(uri).map(|v| (t, v)) } else { None })?;
        Some((t.handler.clone()?, vars))
    }
}
