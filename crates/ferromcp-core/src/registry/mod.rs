//! The component registry: tools, resources, resource templates, prompts and their
//! completers, shared by every session.
//!
//! The registry is a copy-on-write snapshot behind a lock: a request takes the current
//! snapshot (one `Arc` clone) and never holds the lock while running a handler.
//! Changes (adding, removing, enabling) swap in a new snapshot and announce a
//! [`ListChanged`] event that transports turn into `notifications/*/list_changed`.

/// The builder setters every kind of component shares — description, title, tags,
/// enabled — written once. `$desc` is the field holding the protocol description.
macro_rules! shared_setters {
    ($what:literal, $desc:ident) => {
        #[doc = concat!("Sets the description (shown to the model in the ", $what, " list).")]
        pub fn description(mut self, d: impl Into<String>) -> Self {
            self.$desc.description = Some(Into::<String>::into(d).into());
            self
        }
        /// Sets a human-readable title.
        pub fn title(mut self, t: impl Into<String>) -> Self {
            self.$desc.title = Some(t.into());
            self
        }
        /// Adds a tag, for filtering and visibility rules.
        pub fn tag(mut self, tag: impl Into<String>) -> Self {
            self.tags.insert(tag.into());
            self
        }
        #[doc = concat!("Requires these OAuth scopes: callers whose token lacks one do not see the ", $what, " in lists and are refused with `insufficient_scope` (HTTP 403).")]
        pub fn scopes<I: IntoIterator<Item = S>, S: Into<String>>(mut self, scopes: I) -> Self {
            self.scopes.extend(scopes.into_iter().map(Into::into));
            self
        }
        /// The OAuth scopes a caller needs (empty: none).
        pub fn required_scopes(&self) -> &[String] {
            &self.scopes
        }
        #[doc = concat!("Enables or disables the ", $what, " (a disabled one is neither listed nor served).")]
        pub fn enabled(mut self, on: bool) -> Self {
            self.enabled = on;
            self
        }
    };
}

pub mod completion;
mod component;
pub mod output;
pub mod prompt;
pub mod resource;
mod scopes;
pub mod template;
pub mod tool;

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, RwLock};

pub use completion::{Completer, CompletionRequest};
pub(crate) use component::Component;
pub use output::{Blob, IntoCallToolResult, IntoGetPromptResult, IntoResourceContents, Json};
pub use prompt::{PromptDef, PromptHandler};
pub use resource::{ResourceDef, ResourceHandler, ResourceTemplateDef};
pub use template::{TemplateVars, UriTemplate};
pub use tool::{NoArgs, ToolDef, ToolHandler};

pub use crate::protocol::ListChanged;

/// A boxed, sendable future: what handlers return.
pub type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;

/// A user's async function `f(ctx, args)` whose arguments decode from the raw
/// `arguments` object: the handler behind `ToolDef::handler` and `PromptDef::handler`,
/// which differ only in how they convert the result and report bad arguments.
pub(crate) struct TypedFn<F, A> {
    name: Arc<str>,
    f: F,
    _a: std::marker::PhantomData<fn(A)>,
}

impl<F, A, Fut> TypedFn<F, A>
where
    F: Fn(crate::Context, A) -> Fut,
    A: serde::de::DeserializeOwned,
{
    pub(crate) fn new(name: impl Into<Arc<str>>, f: F) -> Self {
        TypedFn { name: name.into(), f, _a: std::marker::PhantomData }
    }
    /// The component's name, for error messages.
    pub(crate) fn name(&self) -> &str {
        &self.name
    }
    /// Decodes `args` (absent: `{}`) and starts the call.
    pub(crate) fn start(
        &self,
        ctx: crate::Context,
        args: Option<&serde_json::value::RawValue>,
    ) -> std::result::Result<Fut, serde_json::Error> {
        let text = args.map(serde_json::value::RawValue::get).unwrap_or("{}");
        serde_json::from_str::<A>(text).map(|a| (self.f)(ctx, a))
    }
}

/// An ordered name → item map (insertion order is list order).
#[derive(Clone)]
pub struct Ordered<T> {
    items: Vec<Arc<T>>,
    index: HashMap<String, usize>,
}

impl<T> Default for Ordered<T> {
    fn default() -> Self {
        Ordered { items: Vec::new(), index: HashMap::new() }
    }
}

impl<T> Ordered<T> {
    pub(crate) fn insert_def(&mut self, key: String, item: T) {
        self.insert(key, item)
    }
    fn insert(&mut self, key: String, item: T) {
        match self.index.get(&key) {
            Some(&i) => self.items[i] = Arc::new(item),
            None => {
                self.index.insert(key, self.items.len());
                self.items.push(Arc::new(item));
            }
        }
    }
    fn remove(&mut self, key: &str) -> bool {
        let Some(i) = self.index.remove(key) else { return false };
        self.items.remove(i);
        for v in self.index.values_mut() {
            if *v > i {
                *v -= 1;
            }
        }
        true
    }
    /// The item under `key`.
    pub fn get(&self, key: &str) -> Option<&Arc<T>> {
        self.index.get(key).map(|&i| &self.items[i])
    }
    /// All items, in order.
    pub fn iter(&self) -> impl Iterator<Item = &Arc<T>> {
        self.items.iter()
    }
    /// How many items.
    pub fn len(&self) -> usize {
        self.items.len()
    }
    /// Whether empty.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }
}

/// One snapshot of every component.
#[derive(Clone, Default)]
pub struct Components {
    /// Tools by name.
    pub tools: Ordered<ToolDef>,
    /// Static resources by URI.
    pub resources: Ordered<ResourceDef>,
    /// Resource templates by template text.
    pub templates: Ordered<ResourceTemplateDef>,
    /// Prompts by name.
    pub prompts: Ordered<PromptDef>,
}

impl Components {
    /// Whether these components warrant capability `name` (`tools`, `resources`,
    /// `prompts`, `completions`, `logging`).
    pub fn has_capability(&self, name: &str) -> bool {
        match name {
            "tools" => !self.tools.is_empty(),
            "resources" => !self.resources.is_empty() || !self.templates.is_empty(),
            "prompts" => !self.prompts.is_empty(),
            "completions" => {
                self.prompts.iter().any(|p| !p.completers.is_empty())
                    || self.templates.iter().any(|t| !t.completers.is_empty())
            }
            "logging" => true,
            _ => false,
        }
    }

    /// Finds the template that matches `uri`, with its variables.
    pub fn match_template(&self, uri: &str) -> Option<(&Arc<ResourceTemplateDef>, TemplateVars)> {
        self.templates.iter().filter(|t| t.enabled).find_map(|t| t.matcher.matches(uri).map(|v| (t, v)))
    }
}

/// The live registry: a snapshot behind a lock plus a change feed.
pub struct Registry {
    current: RwLock<Arc<Components>>,
    changes: tokio::sync::broadcast::Sender<ListChanged>,
}

impl Registry {
    pub(crate) fn new(c: Components) -> Self {
        let (changes, _) = tokio::sync::broadcast::channel(64);
        Registry { current: RwLock::new(Arc::new(c)), changes }
    }

    /// The current snapshot.
    pub fn snapshot(&self) -> Arc<Components> {
        match self.current.read() {
            Ok(g) => g.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Subscribes to list changes.
    pub fn subscribe(&self) -> tokio::sync::broadcast::Receiver<ListChanged> {
        self.changes.subscribe()
    }

    fn update(&self, what: ListChanged, f: impl FnOnce(&mut Components) -> bool) -> bool {
        let changed = {
            let mut guard = match self.current.write() {
                Ok(g) => g,
                Err(poisoned) => poisoned.into_inner(),
            };
            let mut next = (**guard).clone();
            let changed = f(&mut next);
            if changed {
                *guard = Arc::new(next);
            }
            changed
        };
        if changed {
            let _ = self.changes.send(what);
        }
        changed
    }

    /// Adds or replaces a tool; announces `tools/list_changed`.
    pub fn add_tool(&self, t: ToolDef) {
        self.update(ListChanged::Tools, |c| {
            c.tools.insert(t.tool.name.to_string(), t);
            true
        });
    }
    /// Removes a tool; returns whether it existed.
    pub fn remove_tool(&self, name: &str) -> bool {
        self.update(ListChanged::Tools, |c| c.tools.remove(name))
    }
    /// Enables or disables a tool for everyone.
    pub fn set_tool_enabled(&self, name: &str, on: bool) -> bool {
        self.update(ListChanged::Tools, |c| {
            let Some(t) = c.tools.get(name) else { return false };
            if t.enabled == on {
                return false;
            }
            let t = ToolDef { enabled: on, ..(**t).clone() };
            c.tools.insert(name.to_owned(), t);
            true
        })
    }
    /// Adds or replaces a resource; announces `resources/list_changed`.
    pub fn add_resource(&self, r: ResourceDef) {
        self.update(ListChanged::Resources, |c| {
            c.resources.insert(r.resource.uri.clone(), r);
            true
        });
    }
    /// Removes a resource.
    pub fn remove_resource(&self, uri: &str) -> bool {
        self.update(ListChanged::Resources, |c| c.resources.remove(uri))
    }
    /// Adds or replaces a resource template.
    pub fn add_template(&self, t: ResourceTemplateDef) {
        self.update(ListChanged::Resources, |c| {
            c.templates.insert(t.template.uri_template.clone(), t);
            true
        });
    }
    /// Adds or replaces a prompt; announces `prompts/list_changed`.
    pub fn add_prompt(&self, p: PromptDef) {
        self.update(ListChanged::Prompts, |c| {
            c.prompts.insert(p.prompt.name.clone(), p);
            true
        });
    }
    /// Removes a prompt.
    pub fn remove_prompt(&self, name: &str) -> bool {
        self.update(ListChanged::Prompts, |c| c.prompts.remove(name))
    }
    /// Announces a change without modifying anything (e.g. content behind a list moved).
    pub fn notify(&self, what: ListChanged) {
        let _ = self.changes.send(what);
    }
}
