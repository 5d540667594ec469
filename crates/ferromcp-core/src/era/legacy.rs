//! Rules of the 2025-11-25 era (and the older revisions it negotiates down to):
//! version negotiation in `initialize`, the legacy method table, and legacy error codes.

use super::Method;
use crate::error::{ProtocolError, code};
use crate::protocol::LEGACY_VERSIONS;

/// Whether the legacy era has `method`.
pub fn has_method(method: Method) -> bool {
    !matches!(method, Method::Discover | Method::Listen)
}

/// Picks the version to answer `initialize` with: the requested one if served,
/// otherwise the newest legacy version (the spec's rule).
///
/// ```
/// use ferromcp_core::era::legacy::negotiate;
/// assert_eq!(negotiate("2025-06-18"), "2025-06-18");
/// assert_eq!(negotiate("1999-01-01"), "2025-11-25");
/// ```
pub fn negotiate(requested: &str) -> &'static str {
    LEGACY_VERSIONS.iter().copied().find(|v| *v == requested).unwrap_or(LEGACY_VERSIONS[0])
}

/// Resolves the `MCP-Protocol-Version` header of a legacy request: absent means
/// 2025-03-26 (the spec's rule), an unknown value is a 400.
pub fn version_from_header(header: Option<&str>) -> Result<&'static str, ProtocolError> {
    match header {
        None => Ok("2025-03-26"),
        Some(h) => LEGACY_VERSIONS.iter().copied().find(|v| *v == h.trim()).ok_or_else(|| {
            ProtocolError::invalid_request(format!(
                "Unsupported MCP-Protocol-Version header {h:?}; supported: {}",
                LEGACY_VERSIONS.join(", ")
            ))
        }),
    }
}

/// Whether `version` names a legacy revision.
pub fn is_legacy_version(version: &str) -> bool {
    LEGACY_VERSIONS.contains(&version)
}

/// The legacy "resource not found" error (`-32002`, with the uri).
pub fn resource_not_found(uri: &str) -> ProtocolError {
    ProtocolError::new(code::RESOURCE_NOT_FOUND_LEGACY, format!("Resource not found: {uri}"))
        .with_data(serde_json::json!({ "uri": uri }))
}

/// The error for a request that arrives before `initialize` on a legacy connection.
pub fn not_initialized() -> ProtocolError {
    ProtocolError::invalid_request(
        "Bad Request: the server is not initialized; send `initialize` first (or use 2026-07-28 `_meta`)",
    )
}
