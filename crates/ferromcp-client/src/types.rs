//! Typed views of results: [`ServerInfo`], [`CallToolOutcome`], [`CompletionRef`] and
//! [`Completion`]. Each keeps the raw JSON so nothing the server sent is lost.

use serde_json::{Value, json};

use crate::error::{ClientError, Result};

/// What the server said about itself, from `initialize` (legacy) or `server/discover`
/// (modern).
#[derive(Debug, Clone, PartialEq)]
pub struct ServerInfo {
    /// The protocol version in force: the negotiated legacy version, or the modern one.
    pub protocol_version: String,
    /// Versions the server supports (modern: `supportedVersions`; legacy: the
    /// negotiated one).
    pub supported_versions: Vec<String>,
    /// The server's name (empty if it did not say).
    pub name: String,
    /// The server's version (empty if it did not say).
    pub version: String,
    /// The server's capabilities object.
    pub capabilities: Value,
    /// Instructions for the model, if any.
    pub instructions: Option<String>,
    /// The whole `initialize` / `server/discover` result.
    pub raw: Value,
}

impl ServerInfo {
    /// Whether the server declared a capability (`"tools"`, `"resources"`, `"prompts"`,
    /// `"completions"`, `"logging"`, …).
    pub fn has_capability(&self, name: &str) -> bool {
        self.capabilities.get(name).is_some()
    }

    pub(crate) fn from_initialize(result: Value) -> Result<ServerInfo> {
        let version = str_field(&result, "protocolVersion").ok_or_else(|| {
            ClientError::Decode(format!(
                "`initialize` result has no `protocolVersion`: {result}"
            ))
        })?;
        let info = result.get("serverInfo").cloned().unwrap_or(Value::Null);
        Ok(ServerInfo {
            supported_versions: vec![version.clone()],
            protocol_version: version,
            name: str_field(&info, "name").unwrap_or_default(),
            version: str_field(&info, "version").unwrap_or_default(),
            capabilities: result
                .get("capabilities")
                .cloned()
                .unwrap_or_else(|| json!({})),
            instructions: str_field(&result, "instructions"),
            raw: result,
        })
    }

    pub(crate) fn from_discover(result: Value, wanted: &str) -> Result<ServerInfo> {
        let supported: Vec<String> = result
            .get("supportedVersions")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_owned)
                    .collect()
            })
            .ok_or_else(|| {
                ClientError::Decode(format!(
                    "`server/discover` result has no `supportedVersions` array: {result}"
                ))
            })?;
        if !supported.iter().any(|v| v == wanted) {
            return Err(ClientError::Usage(format!(
                "the server does not support protocol version {wanted} (it supports {}); connect with another era",
                supported.join(", ")
            )));
        }
        let info = result
            .pointer("/_meta/io.modelcontextprotocol~1serverInfo")
            .cloned()
            .unwrap_or(Value::Null);
        Ok(ServerInfo {
            protocol_version: wanted.to_owned(),
            supported_versions: supported,
            name: str_field(&info, "name").unwrap_or_default(),
            version: str_field(&info, "version").unwrap_or_default(),
            capabilities: result
                .get("capabilities")
                .cloned()
                .unwrap_or_else(|| json!({})),
            instructions: str_field(&result, "instructions"),
            raw: result,
        })
    }
}

fn str_field(v: &Value, key: &str) -> Option<String> {
    v.get(key).and_then(Value::as_str).map(str::to_owned)
}

/// The result of `tools/call`: the raw JSON plus accessors.
///
/// ```
/// use ferromcp_client::CallToolOutcome;
/// use serde_json::json;
/// let out = CallToolOutcome::new(json!({
///     "content": [{"type": "text", "text": "3"}],
///     "structuredContent": {"result": 3}
/// }));
/// assert!(!out.is_error());
/// assert_eq!(out.text(), "3");
/// assert_eq!(out.structured().unwrap()["result"], 3);
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct CallToolOutcome {
    /// The whole result object.
    pub value: Value,
}

impl CallToolOutcome {
    /// Wraps a `tools/call` result.
    pub fn new(value: Value) -> Self {
        CallToolOutcome { value }
    }
    /// Whether the tool reported an error (`isError: true`); the model should see it.
    pub fn is_error(&self) -> bool {
        self.value
            .get("isError")
            .and_then(Value::as_bool)
            .unwrap_or(false)
    }
    /// The content blocks.
    pub fn content(&self) -> &[Value] {
        self.value
            .get("content")
            .and_then(Value::as_array)
            .map_or(&[], Vec::as_slice)
    }
    /// The text of every text block, joined with newlines.
    pub fn text(&self) -> String {
        let texts: Vec<&str> = self
            .content()
            .iter()
            .filter(|b| b.get("type").and_then(Value::as_str) == Some("text"))
            .filter_map(|b| b.get("text").and_then(Value::as_str))
            .collect();
        texts.join("\n")
    }
    /// `structuredContent`, if present.
    pub fn structured(&self) -> Option<&Value> {
        self.value.get("structuredContent")
    }
    /// Decodes the result into the MCP model type.
    pub fn to_result(&self) -> Result<ferromcp_core::protocol::CallToolResult> {
        serde_json::from_value(self.value.clone())
            .map_err(|e| ClientError::Decode(format!("not a CallToolResult: {e}")))
    }
}

/// What `completion/complete` completes: a prompt argument or a resource-template
/// variable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CompletionRef {
    /// `{"type": "ref/prompt", "name": ..}`.
    Prompt(String),
    /// `{"type": "ref/resource", "uri": ..}` (the template's URI template).
    Resource(String),
}

impl CompletionRef {
    /// The wire form.
    pub fn to_json(&self) -> Value {
        match self {
            CompletionRef::Prompt(name) => json!({ "type": "ref/prompt", "name": name }),
            CompletionRef::Resource(uri) => json!({ "type": "ref/resource", "uri": uri }),
        }
    }
}

/// The result of `completion/complete`.
#[derive(Debug, Clone, PartialEq)]
pub struct Completion {
    /// Suggested values.
    pub values: Vec<String>,
    /// The total number of matches, if the server said.
    pub total: Option<u64>,
    /// Whether more matches exist than were returned.
    pub has_more: bool,
    /// The whole result object.
    pub raw: Value,
}

impl Completion {
    pub(crate) fn from_result(raw: Value) -> Result<Completion> {
        let c = raw.get("completion").ok_or_else(|| {
            ClientError::Decode(format!(
                "`completion/complete` result has no `completion`: {raw}"
            ))
        })?;
        let values = c
            .get("values")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_owned)
                    .collect()
            })
            .ok_or_else(|| {
                ClientError::Decode(format!("`completion.values` is not an array: {c}"))
            })?;
        Ok(Completion {
            values,
            total: c.get("total").and_then(Value::as_u64),
            has_more: c.get("hasMore").and_then(Value::as_bool).unwrap_or(false),
            raw,
        })
    }
}
