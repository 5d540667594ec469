//! Tools: [`ToolDef`] (the definition plus its handler) and its builder.
//!
//! ```
//! use ferromcp_core::{ToolDef, Context};
//! #[derive(serde::Deserialize, schemars::JsonSchema)]
//! struct Add { a: i64, b: i64 }
//! let add = ToolDef::new("add")
//!     .description("Add two integers")
//!     .handler(|_ctx: Context, Add { a, b }: Add| async move { a + b });
//! assert_eq!(add.name(), "add");
//! assert_eq!(add.tool().input_schema["required"], serde_json::json!(["a", "b"]));
//! ```

use std::collections::BTreeSet;
use std::future::Future;
use std::sync::Arc;

use schemars::JsonSchema;
use serde::de::DeserializeOwned;
use serde_json::value::RawValue;
use serde_json::{Map, Value};

use super::output::IntoCallToolResult;
use super::{BoxFuture, TypedFn};
use crate::context::Context;
use crate::error::{Error, Result};
use crate::protocol::{CallToolResult, ContentBlock, Icon, JsonObject, Tool, ToolAnnotations};
use crate::schema::{empty_object_schema, object_schema_for, validate};

/// Runs a tool: decodes the arguments, calls the user's function, converts the result.
pub trait ToolHandler: Send + Sync + 'static {
    /// Calls the tool. `args` is the raw `arguments` object (absent if the client sent none).
    fn call(&self, ctx: Context, args: Option<&RawValue>) -> BoxFuture<Result<CallToolResult>>;
}

/// The argument type of a tool that takes no arguments; accepts an absent or empty object.
#[derive(Debug, Clone, Copy, Default, serde::Deserialize)]
pub struct NoArgs {}

impl JsonSchema for NoArgs {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "NoArgs".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({"type": "object", "properties": {}})
    }
}

/// A tool: its protocol description, handler, tags and enabled flag.
#[derive(Clone)]
pub struct ToolDef {
    pub(crate) tool: Tool,
    pub(crate) handler: Option<Arc<dyn ToolHandler>>,
    pub(crate) tags: BTreeSet<String>,
    pub(crate) enabled: bool,
    pub(crate) header_params: Vec<(String, String)>,
    pub(crate) session_arg: bool,
    pub(crate) scopes: Vec<String>,
}

impl std::fmt::Debug for ToolDef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ToolDef")
            .field("tool", &self.tool)
            .field("tags", &self.tags)
            .field("enabled", &self.enabled)
            .finish()
    }
}

/// Argument decoding failures are tool execution errors (SEP-1303): the model sees them.
fn bad_arguments(tool: &str, e: impl std::fmt::Display) -> Error {
    Error::tool(format!("Invalid arguments for tool `{tool}`: {e}"))
}

fn decode_args<A: DeserializeOwned>(tool: &str, args: Option<&RawValue>) -> Result<A> {
    let text = args.map(RawValue::get).unwrap_or("{}");
    serde_json::from_str(text).map_err(|e| bad_arguments(tool, e))
}

impl<F, A, Fut, R> ToolHandler for TypedFn<F, A>
where
    F: Fn(Context, A) -> Fut + Send + Sync + 'static,
    A: DeserializeOwned + Send + 'static,
    Fut: Future<Output = R> + Send + 'static,
    R: IntoCallToolResult,
{
    fn call(&self, ctx: Context, args: Option<&RawValue>) -> BoxFuture<Result<CallToolResult>> {
        match self.start(ctx, args) {
            Ok(fut) => Box::pin(async move { fut.await.into_call_tool_result() }),
            Err(e) => Box::pin(std::future::ready(Err(bad_arguments(self.name(), e)))),
        }
    }
}

struct BlockingFn<F, A> {
    name: Arc<str>,
    f: Arc<F>,
    _a: std::marker::PhantomData<fn(A)>,
}

impl<F, A, R> ToolHandler for BlockingFn<F, A>
where
    F: Fn(Context, A) -> R + Send + Sync + 'static,
    A: DeserializeOwned + Send + 'static,
    R: IntoCallToolResult + Send + 'static,
{
    fn call(&self, ctx: Context, args: Option<&RawValue>) -> BoxFuture<Result<CallToolResult>> {
        match decode_args::<A>(&self.name, args) {
            Ok(a) => {
                let f = self.f.clone();
                Box::pin(async move {
                    match tokio::task::spawn_blocking(move || f(ctx, a).into_call_tool_result()).await {
                        Ok(r) => r,
                        Err(e) => Err(Error::Other(format!("blocking tool panicked or was cancelled: {e}"))),
                    }
                })
            }
            Err(e) => Box::pin(std::future::ready(Err(e))),
        }
    }
}

struct RawFn<F> {
    name: Arc<str>,
    schema: Value,
    f: F,
}

impl<F, Fut, R> ToolHandler for RawFn<F>
where
    F: Fn(Context, JsonObject) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = R> + Send + 'static,
    R: IntoCallToolResult,
{
    fn call(&self, ctx: Context, args: Option<&RawValue>) -> BoxFuture<Result<CallToolResult>> {
        let decoded = decode_args::<Value>(&self.name, args).and_then(|v| {
            validate(&self.schema, &v).map_err(|e| bad_arguments(&self.name, e))?;
            match v {
                Value::Object(m) => Ok(m),
                _ => Err(bad_arguments(&self.name, "arguments must be an object")),
            }
        });
        match decoded {
            Ok(a) => {
                let fut = (self.f)(ctx, a);
                Box::pin(async move { fut.await.into_call_tool_result() })
            }
            Err(e) => Box::pin(std::future::ready(Err(e))),
        }
    }
}

impl ToolDef {
    /// Starts a tool named `name`. Add a description and a handler.
    pub fn new(name: impl Into<String>) -> Self {
        let name: String = name.into();
        ToolDef {
            tool: Tool::new(name, String::new(), empty_object_schema()),
            handler: None,
            tags: BTreeSet::new(),
            enabled: true,
            header_params: Vec::new(),
            session_arg: false,
            scopes: Vec::new(),
        }
    }

    /// The tool's name.
    pub fn name(&self) -> &str {
        &self.tool.name
    }

    /// The protocol description (`tools/list` entry).
    pub fn tool(&self) -> &Tool {
        &self.tool
    }

    /// Tags, for filtering and visibility rules.
    pub fn tags(&self) -> &BTreeSet<String> {
        &self.tags
    }

    /// Whether the tool is listed and callable.
    pub fn is_enabled(&self) -> bool {
        self.enabled
    }

    shared_setters!("tool", tool);

    /// Sets annotations (hints such as read-only or destructive).
    pub fn annotations(mut self, a: ToolAnnotations) -> Self {
        self.tool.annotations = Some(a);
        self
    }

    /// Sets icons.
    pub fn icons(mut self, icons: Vec<Icon>) -> Self {
        self.tool.icons = Some(icons);
        self
    }

    /// Replaces the input schema (kept verbatim). Use with [`ToolDef::raw_handler`].
    pub fn input_schema(mut self, schema: JsonObject) -> Self {
        self.tool.input_schema = Arc::new(schema);
        self.header_params = find_header_params(&self.tool.input_schema);
        self.session_arg = takes_session_handle(&self.tool.input_schema);
        self
    }

    /// Replaces the output schema.
    pub fn output_schema(mut self, schema: JsonObject) -> Self {
        self.tool.output_schema = Some(Arc::new(schema));
        self
    }

    /// Sets an async handler `f(ctx, args)`; the input schema comes from `A` and the
    /// output schema from the return type.
    pub fn handler<A, F, Fut, R>(mut self, f: F) -> Self
    where
        F: Fn(Context, A) -> Fut + Send + Sync + 'static,
        A: DeserializeOwned + JsonSchema + Send + 'static,
        Fut: Future<Output = R> + Send + 'static,
        R: IntoCallToolResult,
    {
        self.set_schemas::<A, R>();
        self.handler = Some(Arc::new(TypedFn::new(self.tool.name.to_string(), f)));
        self
    }

    /// Sets a synchronous handler; it runs on the blocking pool (`spawn_blocking`) so it
    /// never stalls the async workers.
    pub fn blocking<A, F, R>(mut self, f: F) -> Self
    where
        F: Fn(Context, A) -> R + Send + Sync + 'static,
        A: DeserializeOwned + JsonSchema + Send + 'static,
        R: IntoCallToolResult + Send + 'static,
    {
        self.set_schemas::<A, R>();
        self.handler = Some(Arc::new(BlockingFn {
            name: self.tool.name.to_string().into(),
            f: Arc::new(f),
            _a: std::marker::PhantomData,
        }));
        self
    }

    /// Sets a handler that takes the arguments as a JSON object, validated against the
    /// schema given with [`ToolDef::input_schema`].
    pub fn raw_handler<F, Fut, R>(mut self, f: F) -> Self
    where
        F: Fn(Context, JsonObject) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = R> + Send + 'static,
        R: IntoCallToolResult,
    {
        let schema = Value::Object((*self.tool.input_schema).clone());
        if let Some(out) = R::output_schema() {
            self.tool.output_schema.get_or_insert(out);
        }
        self.handler = Some(Arc::new(RawFn { name: self.tool.name.to_string().into(), schema, f }));
        self
    }

    /// Sets a handler implemented by hand.
    pub fn handler_impl(mut self, h: Arc<dyn ToolHandler>) -> Self {
        self.handler = Some(h);
        self
    }

    fn set_schemas<A: JsonSchema, R: IntoCallToolResult>(&mut self) {
        self.tool.input_schema = object_schema_for::<A>();
        self.header_params = find_header_params(&self.tool.input_schema);
        self.session_arg = takes_session_handle(&self.tool.input_schema);
        if let Some(out) = R::output_schema() {
            self.tool.output_schema = Some(out);
        }
    }

    /// Calls the handler (a tool without one answers with a tool error).
    pub(crate) fn call(&self, ctx: Context, args: Option<&RawValue>) -> BoxFuture<Result<CallToolResult>> {
        match &self.handler {
            Some(h) => h.call(ctx, args),
            None => {
                let msg = format!("tool `{}` has no handler", self.tool.name);
                Box::pin(async move { Ok(CallToolResult::error(vec![ContentBlock::text(msg)])) })
            }
        }
    }

    /// Marks the tool's `session` argument as a
    /// [`SessionHandle`](crate::state::SessionHandle): before the call, the handle is
    /// validated against the caller and the call's state scope becomes the handle's.
    /// The `#[tool]` macro calls this when a parameter's type is `SessionHandle`;
    /// [`handler`](Self::handler) finds it from the argument type's schema.
    pub fn session_handle_argument(mut self) -> Self {
        self.session_arg = true;
        self
    }

    /// Whether the tool's `session` argument is a session handle (see
    /// [`session_handle_argument`](Self::session_handle_argument)).
    pub fn has_session_handle_argument(&self) -> bool {
        self.session_arg
    }

    /// `(property, header name)` pairs of `x-mcp-header` parameters.
    pub fn header_params(&self) -> &[(String, String)] {
        &self.header_params
    }
}

/// Whether the schema's `session` property is a [`SessionHandle`](crate::state::SessionHandle):
/// its schema carries the handle's marker key, directly, through an `anyOf`/`oneOf`/`allOf`
/// branch (an `Option<SessionHandle>`) or through a `$ref` into `$defs`. The `#[tool]`
/// macro does not need this: it knows the parameter's Rust type.
fn takes_session_handle(schema: &JsonObject) -> bool {
    let Some(Value::Object(props)) = schema.get("properties") else { return false };
    props.get("session").is_some_and(|p| is_handle_schema(schema, p, 0))
}

fn is_handle_schema(root: &JsonObject, s: &Value, depth: u8) -> bool {
    let Value::Object(o) = s else { return false };
    if o.get(crate::state::HANDLE_MARKER) == Some(&Value::Bool(true)) {
        return true;
    }
    if depth >= 4 {
        return false;
    }
    let referenced = o.get("$ref").and_then(Value::as_str).and_then(|r| r.strip_prefix("#/$defs/"));
    if let Some(def) = referenced.and_then(|name| root.get("$defs")?.get(name)) {
        return is_handle_schema(root, def, depth + 1);
    }
    ["anyOf", "oneOf", "allOf"].iter().any(|k| {
        o.get(*k).and_then(Value::as_array).is_some_and(|a| a.iter().any(|b| is_handle_schema(root, b, depth + 1)))
    })
}

fn find_header_params(schema: &JsonObject) -> Vec<(String, String)> {
    let Some(Value::Object(props)) = schema.get("properties") else { return Vec::new() };
    props.iter().filter_map(|(k, v)| Some((k.clone(), v.get("x-mcp-header")?.as_str()?.to_owned()))).collect::<Vec<_>>()
}

/// Builds an object schema from `(name, schema)` pairs; handy for raw tools.
pub fn object_schema(props: &[(&str, Value)], required: &[&str]) -> JsonObject {
    let mut p = Map::new();
    for (k, v) in props {
        p.insert((*k).into(), v.clone());
    }
    let mut m = Map::new();
    m.insert("type".into(), "object".into());
    m.insert("properties".into(), Value::Object(p));
    if !required.is_empty() {
        m.insert("required".into(), required.iter().map(|r| Value::from(*r)).collect());
    }
    m
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::state::SessionHandle;

    fn object(v: Value) -> JsonObject {
        match v {
            Value::Object(m) => m,
            _ => panic!("not an object"),
        }
    }

    #[derive(serde::Deserialize, JsonSchema)]
    #[allow(dead_code)]
    struct Plain {
        session: SessionHandle,
    }

    #[derive(serde::Deserialize, JsonSchema)]
    #[allow(dead_code)]
    struct Optional {
        session: Option<SessionHandle>,
        other: String,
    }

    #[test]
    fn a_session_handle_is_found_in_the_schema_structure_of_typed_arguments() {
        assert!(takes_session_handle(&object_schema_for::<Plain>()));
        assert!(takes_session_handle(&object_schema_for::<Optional>()));
        let by_ref = object(json!({
            "properties": {"session": {"$ref": "#/$defs/H"}},
            "$defs": {"H": {"anyOf": [{"type": "string", "x-ferromcp-session-handle": true}, {"type": "null"}]}}
        }));
        assert!(takes_session_handle(&by_ref));
    }

    #[test]
    fn the_marker_text_elsewhere_is_not_a_session_handle() {
        let in_text = object(json!({
            "properties": {"session": {"type": "string", "description": "not an x-ferromcp-session-handle"}}
        }));
        assert!(!takes_session_handle(&in_text), "text mentioning the marker is not the marker");
        let other_property = object(json!({
            "properties": {
                "session": {"type": "string"},
                "h": {"$ref": "#/$defs/H"}
            },
            "$defs": {"H": {"type": "string", "x-ferromcp-session-handle": true}}
        }));
        assert!(!takes_session_handle(&other_property), "a handle in another property is not `session`");
        let marker_false = object(json!({"properties": {"session": {"x-ferromcp-session-handle": false}}}));
        assert!(!takes_session_handle(&marker_false));
    }
}
