//! What handlers may return: conversions into tool results, resource contents and
//! prompt results.
//!
//! Tools: text-like values become one text block; numbers and booleans also become
//! structured content `{"result": v}` with an output schema (as FastMCP does), and
//! [`Json<T>`] returns `T` as structured content with `T`'s schema as output schema.

use std::sync::Arc;

use base64::Engine as _;
use schemars::JsonSchema;
use serde::Serialize;
use serde_json::{Map, Value};

use crate::error::{Error, Result};
use crate::protocol::{
    CallToolResult, ContentBlock, GetPromptResult, JsonObject, PromptMessage, ResourceContents, Role,
};
use crate::schema::object_schema_for;

/// Structured output: `T` is sent as `structuredContent` (and as JSON text), and `T`'s
/// schema is the tool's output schema.
///
/// ```
/// use ferromcp_core::registry::{Json, IntoCallToolResult};
/// #[derive(serde::Serialize, schemars::JsonSchema)]
/// struct Weather { celsius: f64 }
/// let r = Json(Weather { celsius: 21.5 }).into_call_tool_result().unwrap();
/// assert_eq!(r.structured_content.unwrap()["celsius"], 21.5);
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct Json<T>(pub T);

/// Conversion of a tool handler's return value into a `CallToolResult`.
pub trait IntoCallToolResult {
    /// Converts the value.
    fn into_call_tool_result(self) -> Result<CallToolResult>;
    /// The output schema this type produces, if it has structured output.
    fn output_schema() -> Option<Arc<JsonObject>> {
        None
    }
}

impl IntoCallToolResult for CallToolResult {
    fn into_call_tool_result(self) -> Result<CallToolResult> {
        Ok(self)
    }
}

impl IntoCallToolResult for String {
    fn into_call_tool_result(self) -> Result<CallToolResult> {
        Ok(CallToolResult::success(vec![ContentBlock::text(self)]))
    }
}

impl IntoCallToolResult for &'static str {
    fn into_call_tool_result(self) -> Result<CallToolResult> {
        Ok(CallToolResult::success(vec![ContentBlock::text(self)]))
    }
}

impl IntoCallToolResult for () {
    fn into_call_tool_result(self) -> Result<CallToolResult> {
        Ok(CallToolResult::success(Vec::new()))
    }
}

impl IntoCallToolResult for ContentBlock {
    fn into_call_tool_result(self) -> Result<CallToolResult> {
        Ok(CallToolResult::success(vec![self]))
    }
}

impl IntoCallToolResult for Vec<ContentBlock> {
    fn into_call_tool_result(self) -> Result<CallToolResult> {
        Ok(CallToolResult::success(self))
    }
}

/// Untyped JSON: the text is the JSON itself; an object is also structured content
/// (anything else is not, since without an output schema a wrapper would be ambiguous).
impl IntoCallToolResult for Value {
    fn into_call_tool_result(self) -> Result<CallToolResult> {
        let text = self.to_string();
        let mut r = CallToolResult::success(vec![ContentBlock::text(text)]);
        if self.is_object() {
            r.structured_content = Some(self);
        }
        Ok(r)
    }
}

fn wrap(v: Value) -> Value {
    let mut m = Map::with_capacity(1);
    m.insert("result".into(), v);
    Value::Object(m)
}

#[derive(JsonSchema)]
#[allow(dead_code)]
struct Wrapped<T> {
    result: T,
}

macro_rules! scalar_output {
    ($($t:ty),*) => {$(
        impl IntoCallToolResult for $t {
            fn into_call_tool_result(self) -> Result<CallToolResult> {
                let mut r = CallToolResult::success(vec![ContentBlock::text(self.to_string())]);
                r.structured_content = Some(wrap(serde_json::json!(self)));
                Ok(r)
            }
            fn output_schema() -> Option<Arc<JsonObject>> {
                Some(object_schema_for::<Wrapped<$t>>())
            }
        }
    )*};
}
scalar_output!(i8, i16, i32, i64, u8, u16, u32, u64, usize, isize, f32, f64, bool);

impl<T: Serialize + JsonSchema> IntoCallToolResult for Json<T> {
    fn into_call_tool_result(self) -> Result<CallToolResult> {
        let v = serde_json::to_value(&self.0)?;
        let structured = if v.is_object() { v } else { wrap(v) };
        let text = structured.to_string();
        let mut r = CallToolResult::success(vec![ContentBlock::text(text)]);
        r.structured_content = Some(structured);
        Ok(r)
    }
    fn output_schema() -> Option<Arc<JsonObject>> {
        let s = object_schema_for::<T>();
        if s.get("type").and_then(Value::as_str) == Some("object") {
            Some(s)
        } else {
            Some(object_schema_for::<Wrapped<T>>())
        }
    }
}

impl<T: IntoCallToolResult, E: Into<Error>> IntoCallToolResult for std::result::Result<T, E> {
    fn into_call_tool_result(self) -> Result<CallToolResult> {
        match self {
            Ok(v) => v.into_call_tool_result(),
            Err(e) => Err(e.into()),
        }
    }
    fn output_schema() -> Option<Arc<JsonObject>> {
        T::output_schema()
    }
}

impl<T: IntoCallToolResult> IntoCallToolResult for Option<T> {
    fn into_call_tool_result(self) -> Result<CallToolResult> {
        match self {
            Some(v) => v.into_call_tool_result(),
            None => Value::Null.into_call_tool_result(),
        }
    }
}

/// Binary content for a resource; sent base64-encoded as `blob`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Blob(pub Vec<u8>);

/// Conversion of a resource handler's return value into resource contents.
pub trait IntoResourceContents {
    /// Converts the value; `uri` and `mime` are the resource's.
    fn into_contents(self, uri: &str, mime: Option<&str>) -> Result<Vec<ResourceContents>>;
}

fn with_mime(c: ResourceContents, mime: Option<&str>) -> ResourceContents {
    match mime {
        Some(m) => c.with_mime_type(m),
        None => c,
    }
}

impl IntoResourceContents for String {
    fn into_contents(self, uri: &str, mime: Option<&str>) -> Result<Vec<ResourceContents>> {
        Ok(vec![with_mime(ResourceContents::text(self, uri), mime)])
    }
}

impl IntoResourceContents for &'static str {
    fn into_contents(self, uri: &str, mime: Option<&str>) -> Result<Vec<ResourceContents>> {
        self.to_owned().into_contents(uri, mime)
    }
}

impl IntoResourceContents for Blob {
    fn into_contents(self, uri: &str, mime: Option<&str>) -> Result<Vec<ResourceContents>> {
        let b64 = base64::engine::general_purpose::STANDARD.encode(self.0);
        Ok(vec![with_mime(ResourceContents::blob(b64, uri), mime)])
    }
}

impl IntoResourceContents for Value {
    fn into_contents(self, uri: &str, mime: Option<&str>) -> Result<Vec<ResourceContents>> {
        let c = ResourceContents::text(self.to_string(), uri);
        Ok(vec![with_mime(c, Some(mime.unwrap_or("application/json")))])
    }
}

impl IntoResourceContents for ResourceContents {
    fn into_contents(self, _uri: &str, _mime: Option<&str>) -> Result<Vec<ResourceContents>> {
        Ok(vec![self])
    }
}

impl IntoResourceContents for Vec<ResourceContents> {
    fn into_contents(self, _uri: &str, _mime: Option<&str>) -> Result<Vec<ResourceContents>> {
        Ok(self)
    }
}

impl<T: IntoResourceContents, E: Into<Error>> IntoResourceContents for std::result::Result<T, E> {
    fn into_contents(self, uri: &str, mime: Option<&str>) -> Result<Vec<ResourceContents>> {
        self.map_err(Into::into)?.into_contents(uri, mime)
    }
}

/// Conversion of a prompt handler's return value into a `GetPromptResult`.
pub trait IntoGetPromptResult {
    /// Converts the value.
    fn into_prompt_result(self) -> Result<GetPromptResult>;
}

impl IntoGetPromptResult for GetPromptResult {
    fn into_prompt_result(self) -> Result<GetPromptResult> {
        Ok(self)
    }
}

impl IntoGetPromptResult for Vec<PromptMessage> {
    fn into_prompt_result(self) -> Result<GetPromptResult> {
        Ok(GetPromptResult::new(self))
    }
}

impl IntoGetPromptResult for PromptMessage {
    fn into_prompt_result(self) -> Result<GetPromptResult> {
        Ok(GetPromptResult::new(vec![self]))
    }
}

impl IntoGetPromptResult for String {
    fn into_prompt_result(self) -> Result<GetPromptResult> {
        Ok(GetPromptResult::new(vec![PromptMessage::new_text(Role::User, self)]))
    }
}

impl IntoGetPromptResult for &'static str {
    fn into_prompt_result(self) -> Result<GetPromptResult> {
        self.to_owned().into_prompt_result()
    }
}

impl<T: IntoGetPromptResult, E: Into<Error>> IntoGetPromptResult for std::result::Result<T, E> {
    fn into_prompt_result(self) -> Result<GetPromptResult> {
        self.map_err(Into::into)?.into_prompt_result()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integers_are_structured_and_schema_described() {
        let r = 3i64.into_call_tool_result().unwrap();
        assert_eq!(r.structured_content.unwrap()["result"], 3);
        let s = i64::output_schema().unwrap();
        assert_eq!(s["properties"]["result"]["type"], "integer");
    }

    #[test]
    fn errors_stay_errors() {
        let r: std::result::Result<String, Error> = Err(Error::tool("nope"));
        assert!(matches!(r.into_call_tool_result(), Err(Error::Tool(_))));
    }
}
