//! Resources and resource templates: [`ResourceDef`] and [`ResourceTemplateDef`].
//!
//! ```
//! use ferromcp_core::{Context, ResourceDef, ResourceTemplateDef};
//! let readme = ResourceDef::new("docs://readme", "readme")
//!     .mime_type("text/markdown")
//!     .handler(|_ctx: Context| async { "# Hello" });
//! let user = ResourceTemplateDef::new("users://{id}/profile", "user-profile")
//!     .unwrap()
//!     .handler(|_ctx: Context, vars| async move { format!("user {}", vars["id"]) });
//! assert_eq!(user.template().variables(), vec!["id"]);
//! # let _ = readme;
//! ```

use std::collections::BTreeSet;
use std::future::Future;
use std::sync::Arc;

use super::BoxFuture;
use super::completion::Completer;
use super::output::IntoResourceContents;
use super::template::{TemplateVars, UriTemplate};
use crate::context::Context;
use crate::error::Result;
use crate::protocol::{Annotations, Icon, Resource, ResourceContents, ResourceTemplate};

/// Reads a resource.
pub trait ResourceHandler: Send + Sync + 'static {
    /// Reads `uri`; `vars` holds template variables (empty for static resources).
    fn read(&self, ctx: Context, uri: String, vars: TemplateVars) -> BoxFuture<Result<Vec<ResourceContents>>>;
}

struct StaticFn<F> {
    f: F,
    mime: Option<String>,
}

impl<F, Fut, R> ResourceHandler for StaticFn<F>
where
    F: Fn(Context) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = R> + Send + 'static,
    R: IntoResourceContents,
{
    fn read(&self, ctx: Context, uri: String, _vars: TemplateVars) -> BoxFuture<Result<Vec<ResourceContents>>> {
        let fut = (self.f)(ctx);
        let mime = self.mime.clone();
        Box::pin(async move { fut.await.into_contents(&uri, mime.as_deref()) })
    }
}

struct TemplateFn<F> {
    f: F,
    mime: Option<String>,
}

impl<F, Fut, R> ResourceHandler for TemplateFn<F>
where
    F: Fn(Context, TemplateVars) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = R> + Send + 'static,
    R: IntoResourceContents,
{
    fn read(&self, ctx: Context, uri: String, vars: TemplateVars) -> BoxFuture<Result<Vec<ResourceContents>>> {
        let fut = (self.f)(ctx, vars);
        let mime = self.mime.clone();
        Box::pin(async move { fut.await.into_contents(&uri, mime.as_deref()) })
    }
}

/// A static resource at a fixed URI.
#[derive(Clone)]
pub struct ResourceDef {
    pub(crate) resource: Resource,
    pub(crate) handler: Option<Arc<dyn ResourceHandler>>,
    pub(crate) tags: BTreeSet<String>,
    pub(crate) enabled: bool,
    pub(crate) scopes: Vec<String>,
}

impl ResourceDef {
    /// Starts a resource at `uri` named `name`.
    pub fn new(uri: impl Into<String>, name: impl Into<String>) -> Self {
        ResourceDef {
            resource: Resource::new(uri, name),
            handler: None,
            tags: BTreeSet::new(),
            enabled: true,
            scopes: Vec::new(),
        }
    }
    /// The resource's URI.
    pub fn uri(&self) -> &str {
        &self.resource.uri
    }
    /// The protocol description (`resources/list` entry).
    pub fn resource(&self) -> &Resource {
        &self.resource
    }
    shared_setters!("resource", resource);
    /// Sets the MIME type (also used for the contents the handler returns).
    pub fn mime_type(mut self, m: impl Into<String>) -> Self {
        self.resource.mime_type = Some(m.into());
        self
    }
    /// Sets icons.
    pub fn icons(mut self, icons: Vec<Icon>) -> Self {
        self.resource.icons = Some(icons);
        self
    }
    /// Sets annotations.
    pub fn annotations(mut self, a: Annotations) -> Self {
        self.resource.annotations = Some(a);
        self
    }
    /// Sets the async handler `f(ctx)`.
    pub fn handler<F, Fut, R>(mut self, f: F) -> Self
    where
        F: Fn(Context) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = R> + Send + 'static,
        R: IntoResourceContents,
    {
        self.handler = Some(Arc::new(StaticFn { f, mime: self.resource.mime_type.clone() }));
        self
    }
    /// Sets a handler implemented by hand.
    pub fn handler_impl(mut self, h: Arc<dyn ResourceHandler>) -> Self {
        self.handler = Some(h);
        self
    }
}

/// A family of resources addressed by an RFC 6570 URI template.
#[derive(Clone)]
pub struct ResourceTemplateDef {
    pub(crate) template: ResourceTemplate,
    pub(crate) matcher: UriTemplate,
    pub(crate) handler: Option<Arc<dyn ResourceHandler>>,
    pub(crate) completers: Vec<(String, Completer)>,
    pub(crate) tags: BTreeSet<String>,
    pub(crate) enabled: bool,
    pub(crate) scopes: Vec<String>,
}

impl ResourceTemplateDef {
    /// Starts a template; fails if `uri_template` is not a valid RFC 6570 template.
    pub fn new(uri_template: impl Into<String>, name: impl Into<String>) -> std::result::Result<Self, String> {
        let raw: String = uri_template.into();
        let matcher = UriTemplate::parse(&raw)?;
        Ok(ResourceTemplateDef {
            template: ResourceTemplate::new(raw, name),
            matcher,
            handler: None,
            completers: Vec::new(),
            tags: BTreeSet::new(),
            enabled: true,
            scopes: Vec::new(),
        })
    }
    /// The parsed template.
    pub fn template(&self) -> &UriTemplate {
        &self.matcher
    }
    /// The protocol description (`resources/templates/list` entry).
    pub fn resource_template(&self) -> &ResourceTemplate {
        &self.template
    }
    shared_setters!("resource template", template);
    /// Sets the MIME type.
    pub fn mime_type(mut self, m: impl Into<String>) -> Self {
        self.template.mime_type = Some(m.into());
        self
    }
    /// Adds a completer for template variable `var` (`completion/complete` with `ref/resource`).
    pub fn complete(mut self, var: impl Into<String>, c: Completer) -> Self {
        self.completers.push((var.into(), c));
        self
    }
    /// Sets the async handler `f(ctx, vars)`.
    pub fn handler<F, Fut, R>(mut self, f: F) -> Self
    where
        F: Fn(Context, TemplateVars) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = R> + Send + 'static,
        R: IntoResourceContents,
    {
        self.handler = Some(Arc::new(TemplateFn { f, mime: self.template.mime_type.clone() }));
        self
    }
}
