//! The 2026-07-28 routing headers: `Mcp-Method`, `Mcp-Name` and the `Mcp-Param-*`
//! mirrors of tool arguments marked `"x-mcp-header"` in the tool's input schema.
//!
//! A value that is not plain visible ASCII (or has leading/trailing spaces, or looks
//! like the encoded form) is sent as `=?base64?<base64 of the UTF-8>?=`.

use std::collections::HashMap;

use base64::Engine;
use serde_json::Value;

/// The header naming the JSON-RPC method.
pub(crate) const MCP_METHOD: &str = "mcp-method";
/// The header naming the tool, prompt or resource.
pub(crate) const MCP_NAME: &str = "mcp-name";
/// The prefix of the argument-mirroring headers.
pub(crate) const MCP_PARAM_PREFIX: &str = "mcp-param-";
/// The session header (2025-11-25).
pub(crate) const SESSION_ID: &str = "mcp-session-id";
/// The protocol version header.
pub(crate) const PROTOCOL_VERSION: &str = "mcp-protocol-version";

/// Per tool: (argument name, header suffix) pairs.
pub(crate) type ToolHeaders = HashMap<String, Vec<(String, String)>>;

/// A header value as sent: literal when safe, otherwise base64-wrapped.
pub(crate) fn encode_value(v: &str) -> String {
    let plain = v.bytes().all(|b| (0x20..=0x7e).contains(&b))
        && !v.starts_with(' ')
        && !v.ends_with(' ')
        && !v.starts_with("=?");
    if plain {
        v.to_owned()
    } else {
        let b64 = base64::engine::general_purpose::STANDARD.encode(v.as_bytes());
        format!("=?base64?{b64}?=")
    }
}

/// The header form of an argument: strings, integers and booleans; anything else
/// (and `null`) is not mirrored.
fn param_value(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(encode_value(s)),
        Value::Bool(b) => Some(b.to_string()),
        Value::Number(n) if n.is_i64() || n.is_u64() => Some(n.to_string()),
        _ => None,
    }
}

/// Whether `c` may appear in a header name (RFC 9110 `tchar`).
fn is_tchar(c: char) -> bool {
    c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c)
}

/// Why a tool's `x-mcp-header` marks are invalid, if they are: a mark must be a
/// non-empty header-name token, unique (case-insensitively), on a string, integer or
/// boolean property. Clients exclude such tools (SEP-2243).
///
pub(crate) fn invalid_marks(schema: &Value) -> Option<String> {
    let props = schema.get("properties")?.as_object()?;
    let mut seen = std::collections::HashSet::new();
    for (name, prop) in props {
        let Some(mark) = prop.get("x-mcp-header") else {
            continue;
        };
        let Some(header) = mark.as_str() else {
            return Some(format!("`{name}`: x-mcp-header is not a string"));
        };
        if header.is_empty() || !header.chars().all(is_tchar) {
            return Some(format!(
                "`{name}`: x-mcp-header {header:?} is not a valid header name"
            ));
        }
        if !seen.insert(header.to_ascii_lowercase()) {
            return Some(format!("`{name}`: x-mcp-header {header:?} is used twice"));
        }
        let ty = prop.get("type").and_then(Value::as_str);
        if !matches!(ty, Some("string" | "integer" | "boolean")) {
            return Some(format!(
                "`{name}`: x-mcp-header is only allowed on string, integer or boolean properties"
            ));
        }
    }
    None
}

/// The `x-mcp-header` marks of a tool's input schema: (property, header suffix).
pub(crate) fn schema_headers(schema: &Value) -> Vec<(String, String)> {
    let Some(props) = schema.get("properties").and_then(Value::as_object) else {
        return Vec::new();
    };
    props
        .iter()
        .filter_map(|(name, prop)| {
            let header = prop.get("x-mcp-header")?.as_str()?;
            let valid = !header.is_empty() && header.chars().all(is_tchar);
            valid.then(|| (name.clone(), header.to_owned()))
        })
        .collect()
}

/// Learns the `x-mcp-header` marks of every tool in a `tools/list` result.
pub(crate) fn learn_tools(result: &Value, into: &mut ToolHeaders) {
    let Some(tools) = result.get("tools").and_then(Value::as_array) else {
        return;
    };
    for tool in tools {
        let (Some(name), Some(schema)) = (
            tool.get("name").and_then(Value::as_str),
            tool.get("inputSchema"),
        ) else {
            continue;
        };
        let marks = schema_headers(schema);
        if marks.is_empty() || invalid_marks(schema).is_some() {
            into.remove(name);
        } else {
            into.insert(name.to_owned(), marks);
        }
    }
}

/// The routing headers of a 2026-07-28 request: `Mcp-Method`, then `Mcp-Name` and the
/// `Mcp-Param-*` mirrors where they apply.
pub(crate) fn routing(method: &str, params: &Value, tools: &ToolHeaders) -> Vec<(String, String)> {
    let mut out = vec![(MCP_METHOD.to_owned(), encode_value(method))];
    let name_field = match method {
        "tools/call" | "prompts/get" => Some("name"),
        "resources/read" => Some("uri"),
        "tasks/get" | "tasks/update" | "tasks/cancel" => Some("taskId"),
        _ => None,
    };
    let name = name_field
        .and_then(|f| params.get(f))
        .and_then(Value::as_str);
    if let Some(name) = name {
        out.push((MCP_NAME.to_owned(), encode_value(name)));
    }
    if method == "tools/call"
        && let Some(marks) = name.and_then(|n| tools.get(n))
    {
        let args = params.get("arguments");
        for (prop, header) in marks {
            if let Some(v) = args.and_then(|a| a.get(prop)).and_then(param_value) {
                out.push((format!("{MCP_PARAM_PREFIX}{header}"), v));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn invalid_marks_are_found() {
        let ok = json!({"properties": {"r": {"type": "string", "x-mcp-header": "Region"}}});
        assert_eq!(invalid_marks(&ok), None);
        for bad in [
            json!({"properties": {"r": {"type": "string", "x-mcp-header": ""}}}),
            json!({"properties": {"r": {"type": "number", "x-mcp-header": "R"}}}),
            json!({"properties": {"r": {"type": "object", "x-mcp-header": "R"}}}),
            json!({"properties": {"r": {"type": "string", "x-mcp-header": "My R"}}}),
            json!({"properties": {"r": {"type": "string", "x-mcp-header": "Ré"}}}),
            json!({"properties": {"a": {"type": "string", "x-mcp-header": "R"}, "b": {"type": "string", "x-mcp-header": "r"}}}),
        ] {
            assert!(invalid_marks(&bad).is_some(), "{bad}");
        }
    }

    #[test]
    fn values_are_literal_or_base64() {
        assert_eq!(encode_value(""), "");
        assert_eq!(encode_value("us west 1"), "us west 1");
        assert_eq!(encode_value("line1\nline2"), "=?base64?bGluZTEKbGluZTI=?=");
        assert_eq!(encode_value("tools/call"), "tools/call");
        assert_eq!(encode_value("  tool  "), "=?base64?ICB0b29sICA=?=");
        assert_eq!(encode_value("héllo"), "=?base64?aMOpbGxv?=");
        assert!(encode_value("=?base64?x?=").starts_with("=?base64?"));
    }

    #[test]
    fn tool_arguments_marked_in_the_schema_are_mirrored() {
        let list = json!({"tools": [{"name": "t", "inputSchema": {"type": "object", "properties": {
            "region": {"type": "string", "x-mcp-header": "Region"},
            "n": {"type": "integer", "x-mcp-header": "Count"},
            "x": {"type": "number"},
            "plain": {"type": "string"}}}}]});
        let mut tools = ToolHeaders::new();
        learn_tools(&list, &mut tools);
        let params =
            json!({"name": "t", "arguments": {"region": "eu", "n": 3, "x": 1.5, "plain": "p"}});
        let mut h = routing("tools/call", &params, &tools);
        h.sort();
        assert_eq!(
            h,
            vec![
                ("mcp-method".to_owned(), "tools/call".to_owned()),
                ("mcp-name".to_owned(), "t".to_owned()),
                ("mcp-param-Count".to_owned(), "3".to_owned()),
                ("mcp-param-Region".to_owned(), "eu".to_owned()),
            ]
        );
        // A tool with an invalid mark (on a number) mirrors nothing.
        let bad = json!({"tools": [{"name": "t", "inputSchema": {"type": "object", "properties": {
            "region": {"type": "string", "x-mcp-header": "Region"},
            "x": {"type": "number", "x-mcp-header": "X"}}}}]});
        learn_tools(&bad, &mut tools);
        assert_eq!(routing("tools/call", &params, &tools).len(), 2);
        let read = routing("resources/read", &json!({"uri": "test://a"}), &tools);
        assert_eq!(read[1], ("mcp-name".to_owned(), "test://a".to_owned()));
    }
}
