//! Per-scope component visibility: an overlay of enable/disable rules over the shared
//! registry, stored in the scope's state (so it follows the session to any node).
//! Rules apply in order and the last match wins; with no overlay a component is
//! visible when it is enabled in the registry.
//!
//! ```
//! use ferromcp_core::state::{ComponentFilter, ComponentKind, Visibility};
//! let mut v = Visibility::default();
//! v.push(false, ComponentFilter::tags(["admin"]));
//! v.push(true, ComponentFilter::names(["rotate_keys"]));
//! assert!(!v.visible(ComponentKind::Tool, "drop_db", &["admin"], true));
//! assert!(v.visible(ComponentKind::Tool, "rotate_keys", &["admin"], true));
//! assert!(v.visible(ComponentKind::Tool, "add", &[], true));
//! ```

use serde::{Deserialize, Serialize};

/// Which kind of component a rule applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ComponentKind {
    /// Tools.
    Tool,
    /// Static resources.
    Resource,
    /// Resource templates.
    Template,
    /// Prompts.
    Prompt,
}

/// Selects components by name, tag and kind. Empty names and tags select every
/// component (of the selected kinds).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ComponentFilter {
    /// Component names (tool/prompt names, resource URIs, template URIs).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub names: Vec<String>,
    /// Tags.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
    /// Kinds (empty = all kinds).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub kinds: Vec<ComponentKind>,
}

impl ComponentFilter {
    /// Every component.
    pub fn all() -> Self {
        Self::default()
    }
    /// Components with these names.
    pub fn names<I: IntoIterator<Item = S>, S: Into<String>>(names: I) -> Self {
        ComponentFilter { names: names.into_iter().map(Into::into).collect(), ..Self::default() }
    }
    /// Components with any of these tags.
    pub fn tags<I: IntoIterator<Item = S>, S: Into<String>>(tags: I) -> Self {
        ComponentFilter { tags: tags.into_iter().map(Into::into).collect(), ..Self::default() }
    }
    /// Restricts the filter to these kinds.
    pub fn kinds<I: IntoIterator<Item = ComponentKind>>(mut self, kinds: I) -> Self {
        self.kinds = kinds.into_iter().collect();
        self
    }
    fn matches(&self, kind: ComponentKind, name: &str, has_tag: &dyn Fn(&str) -> bool) -> bool {
        if !self.kinds.is_empty() && !self.kinds.contains(&kind) {
            return false;
        }
        if self.names.is_empty() && self.tags.is_empty() {
            return true;
        }
        self.names.iter().any(|n| n == name) || self.tags.iter().any(|t| has_tag(t))
    }
    /// The kinds this filter can affect.
    pub fn affected_kinds(&self) -> Vec<ComponentKind> {
        if self.kinds.is_empty() {
            vec![ComponentKind::Tool, ComponentKind::Resource, ComponentKind::Template, ComponentKind::Prompt]
        } else {
            self.kinds.clone()
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Rule {
    enable: bool,
    #[serde(flatten)]
    filter: ComponentFilter,
}

/// The ordered overlay of one scope.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Visibility {
    rules: Vec<Rule>,
}

impl Visibility {
    /// Appends a rule.
    pub fn push(&mut self, enable: bool, filter: ComponentFilter) {
        self.rules.push(Rule { enable, filter });
    }
    /// Whether a component is visible under this overlay.
    pub fn visible(&self, kind: ComponentKind, name: &str, tags: &[&str], enabled: bool) -> bool {
        self.decide(kind, name, &|t| tags.contains(&t), enabled)
    }

    fn decide(&self, kind: ComponentKind, name: &str, has_tag: &dyn Fn(&str) -> bool, enabled: bool) -> bool {
        self.rules.iter().rev().find(|r| r.filter.matches(kind, name, has_tag)).map_or(enabled, |r| r.enable)
    }

    /// Whether a component with `tags` and registry flag `enabled` is shown under an
    /// optional overlay (no overlay: the registry flag decides).
    pub fn shows(
        overlay: Option<&Visibility>,
        kind: ComponentKind,
        name: &str,
        tags: &std::collections::BTreeSet<String>,
        enabled: bool,
    ) -> bool {
        match overlay {
            None => enabled,
            Some(v) => v.decide(kind, name, &|t| tags.contains(t), enabled),
        }
    }
    /// Whether the overlay has no rules.
    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }
}
