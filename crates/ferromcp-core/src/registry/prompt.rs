//! Prompts: [`PromptDef`], with typed arguments whose names, descriptions and
//! required flags come from the argument type's schema.
//!
//! ```
//! use ferromcp_core::{Context, PromptDef};
//! #[derive(serde::Deserialize, schemars::JsonSchema)]
//! struct Review {
//!     /// The code to review.
//!     code: String,
//!     /// The language, if known.
//!     language: Option<String>,
//! }
//! let p = PromptDef::new("review").description("Review code").handler(
//!     |_ctx: Context, r: Review| async move { format!("Review this {}: {}", r.language.unwrap_or_default(), r.code) },
//! );
//! let args = p.prompt().arguments.clone().unwrap();
//! assert_eq!(args[0].name, "code");
//! assert_eq!(args[0].required, Some(true));
//! assert_eq!(args[1].required, Some(false));
//! ```

use std::collections::BTreeSet;
use std::future::Future;
use std::sync::Arc;

use schemars::JsonSchema;
use serde::de::DeserializeOwned;
use serde_json::Value;
use serde_json::value::RawValue;

use super::completion::Completer;
use super::output::IntoGetPromptResult;
use super::{BoxFuture, TypedFn};
use crate::context::Context;
use crate::error::{Error, Result};
use crate::protocol::{GetPromptResult, Icon, Prompt, PromptArgument};
use crate::schema::object_schema_for;

/// Renders a prompt.
pub trait PromptHandler: Send + Sync + 'static {
    /// Renders the prompt from its raw `arguments` object.
    fn get(&self, ctx: Context, args: Option<&RawValue>) -> BoxFuture<Result<GetPromptResult>>;
}

impl<F, A, Fut, R> PromptHandler for TypedFn<F, A>
where
    F: Fn(Context, A) -> Fut + Send + Sync + 'static,
    A: DeserializeOwned + Send + 'static,
    Fut: Future<Output = R> + Send + 'static,
    R: IntoGetPromptResult,
{
    fn get(&self, ctx: Context, args: Option<&RawValue>) -> BoxFuture<Result<GetPromptResult>> {
        match self.start(ctx, args) {
            Ok(fut) => Box::pin(async move { fut.await.into_prompt_result() }),
            Err(e) => {
                let msg = format!("Invalid arguments for prompt `{}`: {e}", self.name());
                Box::pin(std::future::ready(Err(Error::invalid_params(msg))))
            }
        }
    }
}

/// A prompt: its protocol description, handler and argument completers.
#[derive(Clone)]
pub struct PromptDef {
    pub(crate) prompt: Prompt,
    pub(crate) handler: Option<Arc<dyn PromptHandler>>,
    pub(crate) completers: Vec<(String, Completer)>,
    pub(crate) tags: BTreeSet<String>,
    pub(crate) enabled: bool,
    pub(crate) scopes: Vec<String>,
}

impl PromptDef {
    /// Starts a prompt named `name`.
    pub fn new(name: impl Into<String>) -> Self {
        PromptDef {
            prompt: Prompt::new(name.into(), None::<String>, None),
            handler: None,
            completers: Vec::new(),
            tags: BTreeSet::new(),
            enabled: true,
            scopes: Vec::new(),
        }
    }
    /// The prompt's name.
    pub fn name(&self) -> &str {
        &self.prompt.name
    }
    /// The protocol description (`prompts/list` entry).
    pub fn prompt(&self) -> &Prompt {
        &self.prompt
    }
    shared_setters!("prompt", prompt);
    /// Sets icons.
    pub fn icons(mut self, icons: Vec<Icon>) -> Self {
        self.prompt.icons = Some(icons);
        self
    }
    /// Adds a completer for argument `arg`.
    pub fn complete(mut self, arg: impl Into<String>, c: Completer) -> Self {
        self.completers.push((arg.into(), c));
        self
    }
    /// Sets the async handler `f(ctx, args)`; the prompt's arguments come from `A`.
    pub fn handler<A, F, Fut, R>(mut self, f: F) -> Self
    where
        F: Fn(Context, A) -> Fut + Send + Sync + 'static,
        A: DeserializeOwned + JsonSchema + Send + 'static,
        Fut: Future<Output = R> + Send + 'static,
        R: IntoGetPromptResult,
    {
        let args = arguments_from_schema(&Value::Object((*object_schema_for::<A>()).clone()));
        self.prompt.arguments = if args.is_empty() { None } else { Some(args) };
        self.handler = Some(Arc::new(TypedFn::new(self.prompt.name.clone(), f)));
        self
    }
    /// Sets a handler implemented by hand, with explicit arguments.
    pub fn handler_impl(mut self, arguments: Vec<PromptArgument>, h: Arc<dyn PromptHandler>) -> Self {
        self.prompt.arguments = if arguments.is_empty() { None } else { Some(arguments) };
        self.handler = Some(h);
        self
    }
}

fn arguments_from_schema(schema: &Value) -> Vec<PromptArgument> {
    let required: Vec<&str> = schema
        .get("required")
        .and_then(Value::as_array)
        .map(|r| r.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let Some(props) = schema.get("properties").and_then(Value::as_object) else { return Vec::new() };
    props
        .iter()
        .map(|(name, p)| {
            let mut a = PromptArgument::new(name.clone()).with_required(required.contains(&name.as_str()));
            if let Some(d) = p.get("description").and_then(Value::as_str) {
                a = a.with_description(d);
            }
            a
        })
        .collect()
}
