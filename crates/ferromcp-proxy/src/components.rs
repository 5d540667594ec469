//! Forwarding resources, resource templates, prompts and completions: static resources
//! and templates keep their URIs (so they stay addressable) and get prefixed names with
//! several backends; prompts are prefixed like tools. Completions of prompt arguments
//! and template variables are forwarded to the backend that owns them.

use std::sync::Arc;

use ferromcp_core::protocol::{GetPromptResult, Prompt, Resource, ResourceContents, ResourceTemplate};
use ferromcp_core::registry::completion::{Completer, CompletionRequest};
use ferromcp_core::registry::template::TemplateVars;
use ferromcp_core::registry::{BoxFuture, PromptHandler, ResourceHandler};
use ferromcp_core::{Context, PromptDef, ResourceDef, ResourceTemplateDef, Result};
use serde_json::value::RawValue;
use serde_json::{Map, Value, json};

use crate::backend::Backend;
use crate::expand::expand;

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

/// A frontend template forwarding reads (and, with `completes`, completions of its
/// variables) to `backend`'s template `t`, named `name`.
pub(crate) fn template(
    backend: &Arc<Backend>,
    t: &ResourceTemplate,
    name: String,
    completes: bool,
) -> std::result::Result<ResourceTemplateDef, String> {
    let raw = t.uri_template.clone();
    let mut def = ResourceTemplateDef::new(raw.clone(), name)?;
    if let Some(d) = &t.description {
        def = def.description(d.clone());
    }
    if let Some(m) = &t.mime_type {
        def = def.mime_type(m.clone());
    }
    if completes {
        let vars: Vec<String> = def.template().variables().into_iter().map(str::to_owned).collect();
        for var in vars {
            let reference = json!({ "type": "ref/resource", "uri": raw });
            def = def.complete(var, completer(backend, reference));
        }
    }
    let (b, tmpl) = (backend.clone(), raw);
    Ok(def.handler(move |ctx: Context, vars: TemplateVars| {
        let (b, uri) = (b.clone(), expand(&tmpl, &vars));
        async move { b.read_resource(ctx, &uri).await }
    }))
}

/// A completer asking `backend` to complete an argument of `reference`.
fn completer(backend: &Arc<Backend>, reference: Value) -> Completer {
    let backend = backend.clone();
    Completer::new(move |ctx: Context, req: CompletionRequest| {
        let (backend, reference) = (backend.clone(), reference.clone());
        async move {
            let context: Map<String, Value> = req.context.into_iter().map(|(k, v)| (k, Value::String(v))).collect();
            backend.complete(ctx, reference, &req.argument, &req.value, context).await
        }
    })
}

/// A frontend prompt `exposed` forwarding to `backend`'s prompt `p` (and, with
/// `completes`, completions of its arguments).
pub(crate) fn prompt(backend: &Arc<Backend>, p: &Prompt, exposed: String, completes: bool) -> PromptDef {
    let mut def = PromptDef::new(exposed);
    if let Some(d) = &p.description {
        def = def.description(d.clone());
    }
    if completes {
        for arg in p.arguments.iter().flatten() {
            let reference = json!({ "type": "ref/prompt", "name": p.name });
            def = def.complete(arg.name.clone(), completer(backend, reference));
        }
    }
    let handler = ForwardPrompt { backend: backend.clone(), name: p.name.clone() };
    def.handler_impl(p.arguments.clone().unwrap_or_default(), Arc::new(handler))
}
