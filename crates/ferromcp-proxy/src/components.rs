//! Forwarding resources and prompts: static resources keep their URIs (so they stay
//! addressable) and get prefixed names with several backends; prompts are prefixed like
//! tools.

use std::sync::Arc;

use ferromcp_core::protocol::{GetPromptResult, Prompt, Resource, ResourceContents};
use ferromcp_core::registry::template::TemplateVars;
use ferromcp_core::registry::{BoxFuture, PromptHandler, ResourceHandler};
use ferromcp_core::{Context, PromptDef, ResourceDef, Result};
use serde_json::Value;
use serde_json::value::RawValue;

use crate::backend::Backend;

struct ForwardResource {
    backend: Arc<Backend>,
}

impl ResourceHandler for ForwardResource {
    fn read(&self, ctx: Context, uri: String, _vars: TemplateVars) -> BoxFuture<Result<Vec<ResourceContents>>> {
        let backend = self.backend.clone();
        Box::pin(async move { backend.read_resource(ctx, &uri).await })
    }
}

struct ForwardPrompt {
    backend: Arc<Backend>,
    name: String,
}

impl PromptHandler for ForwardPrompt {
    fn get(&self, ctx: Context, args: Option<&RawValue>) -> BoxFuture<Result<GetPromptResult>> {
        let args: Value = args.and_then(|a| serde_json::from_str(a.get()).ok()).unwrap_or(Value::Null);
        let (backend, name) = (self.backend.clone(), self.name.clone());
        Box::pin(async move { backend.get_prompt(ctx, &name, args).await })
    }
}

/// A frontend resource forwarding to `backend`'s resource `r`, named `name`.
pub(crate) fn resource(backend: &Arc<Backend>, r: &Resource, name: String) -> ResourceDef {
    let mut def = ResourceDef::new(r.uri.clone(), name);
    if let Some(d) = &r.description {
        def = def.description(d.clone());
    }
    if let Some(m) = &r.mime_type {
        def = def.mime_type(m.clone());
    }
    def.handler_impl(Arc::new(ForwardResource { backend: backend.clone() }))
}

/// A frontend prompt `exposed` forwarding to `backend`'s prompt `p`.
pub(crate) fn prompt(backend: &Arc<Backend>, p: &Prompt, exposed: String) -> PromptDef {
    let mut def = PromptDef::new(exposed);
    if let Some(d) = &p.description {
        def = def.description(d.clone());
    }
    let handler = ForwardPrompt { backend: backend.clone(), name: p.name.clone() };
    def.handler_impl(p.arguments.clone().unwrap_or_default(), Arc::new(handler))
}
