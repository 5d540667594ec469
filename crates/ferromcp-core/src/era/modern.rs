//! Rules of the 2026-07-28 era: required `_meta`, routing-header validation (SEP-2243),
//! version checks, the modern method table, result stamping (`resultType`, `serverInfo`,
//! cache hints) and modern error shapes.
//!
//! Validation order follows the spec digest §3.6: `_meta` fields (400/-32602), headers
//! (400/-32020), version (400/-32022), method (404/-32601), capabilities (400/-32021,
//! raised by the handler that needs them).

use base64::Engine as _;

use super::{Method, ResultKind};
use crate::error::{ProtocolError, code};
use crate::jsonrpc::Request;
use crate::protocol::{META_SERVER_INFO, MODERN_VERSIONS};

/// Whether the modern era has `method`.
pub fn has_method(method: Method) -> bool {
    !matches!(method, Method::Initialize | Method::Ping | Method::SetLevel | Method::Subscribe | Method::Unsubscribe)
}

/// The routing headers every modern POST carries (SEP-2243).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RoutingHeader {
    /// `MCP-Protocol-Version`.
    ProtocolVersion,
    /// `Mcp-Method`.
    Method,
    /// `Mcp-Name` (tools/call, resources/read, prompts/get).
    Name,
}

impl RoutingHeader {
    /// The header's name, lowercase.
    pub fn name(self) -> &'static str {
        match self {
            RoutingHeader::ProtocolVersion => "mcp-protocol-version",
            RoutingHeader::Method => "mcp-method",
            RoutingHeader::Name => "mcp-name",
        }
    }
}

/// Read access to request headers, so era rules need no HTTP types.
pub trait HeaderLookup {
    /// The value of header `name` (case-insensitive), if present.
    fn header(&self, name: &str) -> Option<&[u8]>;
    /// The value of a routing header. The default looks it up by [`RoutingHeader::name`];
    /// a transport with prebuilt header names overrides it (it runs on every request).
    fn routing(&self, which: RoutingHeader) -> Option<&[u8]> {
        self.header(which.name())
    }
}

/// Checks `_meta` and resolves the version. `headers` is `None` off HTTP (stdio).
///
/// Returns the served version on success.
pub fn validate(req: &Request, headers: Option<&dyn HeaderLookup>) -> Result<&'static str, ProtocolError> {
    let meta = &req.meta;
    let (Some(version), Some(_)) = (&meta.protocol_version, &meta.client_capabilities) else {
        let missing = if meta.protocol_version.is_none() {
            "io.modelcontextprotocol/protocolVersion"
        } else {
            "io.modelcontextprotocol/clientCapabilities"
        };
        return Err(ProtocolError::invalid_params(format!(
            "Missing required `_meta` field `{missing}` (2026-07-28 requests carry protocolVersion and clientCapabilities in params._meta)"
        ))
        .with_status(400));
    };
    if let Some(h) = headers {
        validate_headers(req, version, h)?;
    }
    let Some(served) = MODERN_VERSIONS.iter().copied().find(|v| v == version) else {
        return Err(unsupported_version(version));
    };
    if let Some(Err(level)) = &meta.log_level {
        return Err(ProtocolError::invalid_params(format!(
            "Invalid log level {level:?}; use one of debug, info, notice, warning, error, critical, alert, emergency"
        ))
        .with_status(400));
    }
    Ok(served)
}

/// `-32022` with `data.supported` and `data.requested`.
pub fn unsupported_version(requested: &str) -> ProtocolError {
    ProtocolError::new(code::UNSUPPORTED_PROTOCOL_VERSION, format!("Unsupported protocol version {requested:?}"))
        .with_data(serde_json::json!({ "supported": MODERN_VERSIONS, "requested": requested }))
        .with_status(400)
}

/// `-32601` for a method the modern era does not have, with HTTP 404.
pub fn method_not_found(method: &str) -> ProtocolError {
    ProtocolError::method_not_found(method).with_status(404)
}

fn header_mismatch(msg: String) -> ProtocolError {
    ProtocolError::new(code::HEADER_MISMATCH, msg).with_status(400)
}

/// Decodes a routing header value: trims OWS, unwraps `=?base64?...?=`.
pub fn decode_header_value(raw: &[u8]) -> Option<std::borrow::Cow<'_, str>> {
    let s = std::str::from_utf8(raw).ok()?.trim_matches(|c| c == ' ' || c == '\t');
    if let Some(inner) = s.strip_prefix("=?base64?").and_then(|r| r.strip_suffix("?=")) {
        let bytes = base64::engine::general_purpose::STANDARD.decode(inner).ok()?;
        return String::from_utf8(bytes).ok().map(std::borrow::Cow::Owned);
    }
    Some(std::borrow::Cow::Borrowed(s))
}

fn validate_headers(req: &Request, version: &str, h: &dyn HeaderLookup) -> Result<(), ProtocolError> {
    match h.routing(RoutingHeader::ProtocolVersion).and_then(decode_header_value) {
        None => {
            return Err(header_mismatch(
                "Missing MCP-Protocol-Version header (required on every 2026-07-28 POST)".into(),
            ));
        }
        Some(v) if v != *version => {
            return Err(header_mismatch(format!(
                "MCP-Protocol-Version header {v:?} does not match _meta protocolVersion {version:?}"
            )));
        }
        Some(_) => {}
    }
    match h.routing(RoutingHeader::Method).and_then(decode_header_value) {
        None => return Err(header_mismatch("Missing Mcp-Method header".into())),
        Some(m) if m != req.method => {
            return Err(header_mismatch(format!("Mcp-Method header {m:?} does not match method {:?}", req.method)));
        }
        Some(_) => {}
    }
    if matches!(&*req.method, "tools/call" | "resources/read" | "prompts/get") {
        let body = req.name.as_deref().unwrap_or_default();
        match h.routing(RoutingHeader::Name).and_then(decode_header_value) {
            None => return Err(header_mismatch("Missing Mcp-Name header".into())),
            Some(n) if n != body => {
                return Err(header_mismatch(format!("Mcp-Name header {n:?} does not match {body:?}")));
            }
            Some(_) => {}
        }
    }
    Ok(())
}

/// Checks one `x-mcp-header` parameter: `header` is the `Mcp-Param-*` value, `arg` the
/// body's argument (absent or null means no header is expected).
pub fn validate_param_header(
    name: &str,
    header: Option<&[u8]>,
    arg: Option<&serde_json::Value>,
) -> Result<(), ProtocolError> {
    let arg = arg.filter(|a| !a.is_null());
    match (header, arg) {
        (None, None) => Ok(()),
        (Some(_), None) => Err(header_mismatch(format!("Mcp-Param-{name} sent but the argument is absent"))),
        (None, Some(_)) => Err(header_mismatch(format!("Missing Mcp-Param-{name} header"))),
        (Some(raw), Some(v)) => {
            let h =
                decode_header_value(raw).ok_or_else(|| header_mismatch(format!("Mcp-Param-{name} is not valid")))?;
            let same = match v {
                serde_json::Value::String(s) => *s == *h,
                serde_json::Value::Bool(b) => h == if *b { "true" } else { "false" },
                serde_json::Value::Number(n) => match (n.as_i64(), h.parse::<i64>()) {
                    (Some(a), Ok(b)) => a == b,
                    _ => false,
                },
                _ => false,
            };
            if same {
                Ok(())
            } else {
                Err(header_mismatch(format!("Mcp-Param-{name} header does not match the argument")))
            }
        }
    }
}

/// Validates every `Mcp-Param-*` header of a `tools/call` against the arguments, for a
/// tool whose input schema marks `(property, header)` pairs with `x-mcp-header`.
pub fn validate_tool_param_headers(
    req: &Request,
    params: &[(String, String)],
    h: &dyn HeaderLookup,
) -> Result<(), ProtocolError> {
    if params.is_empty() {
        return Ok(());
    }
    #[derive(serde::Deserialize)]
    struct Args {
        #[serde(default)]
        arguments: Option<serde_json::Map<String, serde_json::Value>>,
    }
    let args = req
        .params
        .as_deref()
        .and_then(|p| serde_json::from_str::<Args>(p).ok())
        .and_then(|a| a.arguments)
        .unwrap_or_default();
    for (prop, header) in params {
        let name = format!("mcp-param-{}", header.to_ascii_lowercase());
        validate_param_header(header, h.header(&name), args.get(prop))?;
    }
    Ok(())
}

/// The modern "resource not found": `-32602` with `data.uri` (SEP-2164).
pub fn resource_not_found(uri: &str) -> ProtocolError {
    ProtocolError::invalid_params(format!("Resource not found: {uri}")).with_data(serde_json::json!({ "uri": uri }))
}

/// Writes the opening of a modern result object with its era fields, ending in `,`.
pub(crate) fn write_stamp(out: &mut Vec<u8>, kind: ResultKind, server_info_json: &str) {
    out.extend_from_slice(b"{\"resultType\":");
    match kind {
        ResultKind::InputRequired => out.extend_from_slice(b"\"input_required\""),
        _ => out.extend_from_slice(b"\"complete\""),
    }
    if let ResultKind::Cacheable(hint) = kind {
        out.extend_from_slice(b",\"ttlMs\":");
        out.extend_from_slice(hint.ttl_ms.to_string().as_bytes());
        out.extend_from_slice(if hint.public { b",\"cacheScope\":\"public\"" } else { b",\"cacheScope\":\"private\"" });
    }
    out.extend_from_slice(b",\"_meta\":{\"");
    out.extend_from_slice(META_SERVER_INFO.as_bytes());
    out.extend_from_slice(b"\":");
    out.extend_from_slice(server_info_json.as_bytes());
    out.extend_from_slice(b"},");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_values_are_trimmed_and_base64_decoded() {
        assert_eq!(decode_header_value(b"  tool  ").as_deref(), Some("tool"));
        assert_eq!(decode_header_value(b"=?base64?aMOpbGxv?=").as_deref(), Some("héllo"));
        assert_eq!(decode_header_value(b"=?base64?!!?="), None);
    }

    #[test]
    fn param_headers_compare_by_type() {
        let v = serde_json::json!(42);
        assert!(validate_param_header("N", Some(b"42"), Some(&v)).is_ok());
        assert!(validate_param_header("N", Some(b"43"), Some(&v)).is_err());
        assert!(validate_param_header("N", None, Some(&v)).is_err());
        assert!(validate_param_header("N", None, Some(&serde_json::Value::Null)).is_ok());
    }
}
