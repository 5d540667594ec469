//! [`SessionHandle`]: the explicit state handle of the 2026-07-28 era (SEP-2567's
//! "explicit handle" pattern). A tool mints one with `ctx.open_session()`; later calls
//! pass it as an ordinary `session` argument. Handles come from the CSPRNG (128 bits),
//! are bound to the principal that minted them, expire, and an unknown or foreign handle
//! gets one generic "invalid session" error.

use std::borrow::Cow;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Schema extension key that marks a `session` argument as a session handle.
pub const HANDLE_MARKER: &str = "x-ferromcp-session-handle";

/// An opaque session handle, taken as a tool argument named `session`.
///
/// ```
/// use ferromcp_core::state::SessionHandle;
/// let schema = schemars::schema_for!(SessionHandle);
/// assert_eq!(schema.get("type").unwrap(), "string");
/// assert!(schema.get("description").unwrap().as_str().unwrap().contains("open_session"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct SessionHandle(pub(crate) String);

impl SessionHandle {
    /// The handle's text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
    /// Wraps a handle received from elsewhere (it is validated when used).
    pub fn from_string(s: impl Into<String>) -> Self {
        SessionHandle(s.into())
    }
}

impl std::fmt::Display for SessionHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl JsonSchema for SessionHandle {
    fn schema_name() -> Cow<'static, str> {
        "SessionHandle".into()
    }
    fn inline_schema() -> bool {
        true
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "string",
            "description": "Session handle returned by the `open_session` tool. Pass it on every call to keep state across calls (needed on MCP 2026-07-28 unless you are authenticated). Expires after a day without use.",
            "x-ferromcp-session-handle": true
        })
    }
}

/// What the store keeps for a handle: the principal it is bound to.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct HandleRecord {
    /// The hashed principal, empty for anonymous handles.
    pub(crate) p: String,
}
