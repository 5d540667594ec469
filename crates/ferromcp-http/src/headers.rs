//! Header names and helpers.

use axum::http::{HeaderMap, HeaderName, HeaderValue};
use ferromcp_core::era::modern::HeaderLookup;

pub(crate) const SESSION_ID: HeaderName = HeaderName::from_static("mcp-session-id");
pub(crate) const PROTOCOL_VERSION: HeaderName = HeaderName::from_static("mcp-protocol-version");

/// The era module's read-only view of request headers.
pub(crate) struct Headers<'a>(pub(crate) &'a HeaderMap);

impl HeaderLookup for Headers<'_> {
    fn header(&self, name: &str) -> Option<&[u8]> {
        self.0.get(name).map(HeaderValue::as_bytes)
    }
}

pub(crate) fn str_header<'a>(h: &'a HeaderMap, name: &HeaderName) -> Option<&'a str> {
    h.get(name).and_then(|v| v.to_str().ok())
}

/// Whether `Accept` allows `mime` (absent or `*/*` allows anything).
pub(crate) fn accepts(h: &HeaderMap, mime: &str) -> bool {
    let Some(accept) = h.get(axum::http::header::ACCEPT).and_then(|v| v.to_str().ok()) else { return true };
    let (kind, _) = mime.split_once('/').unwrap_or((mime, ""));
    accept.split(',').any(|part| {
        let m = part.split(';').next().unwrap_or("").trim();
        m == mime || m == "*/*" || m.strip_suffix("/*").is_some_and(|k| k == kind)
    })
}
