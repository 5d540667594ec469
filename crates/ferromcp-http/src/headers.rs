//! Header names and helpers.

use axum::http::{HeaderMap, HeaderName, HeaderValue};
use ferromcp_core::era::modern::HeaderLookup;

pub(crate) const SESSION_ID: HeaderName = HeaderName::from_static("mcp-session-id");
pub(crate) const PROTOCOL_VERSION: HeaderName = HeaderName::from_static("mcp-protocol-version");
const MCP_METHOD: HeaderName = HeaderName::from_static("mcp-method");
const MCP_NAME: HeaderName = HeaderName::from_static("mcp-name");

/// The era module's read-only view of request headers.
pub(crate) struct Headers<'a>(pub(crate) &'a HeaderMap);

impl HeaderLookup for Headers<'_> {
    fn header(&self, name: &str) -> Option<&[u8]> {
        // The routing headers every modern request carries are looked up by a prebuilt
        // name; parsing a `&str` name costs more than the lookup itself.
        let value = match name {
            "mcp-protocol-version" => self.0.get(PROTOCOL_VERSION),
            "mcp-method" => self.0.get(MCP_METHOD),
            "mcp-name" => self.0.get(MCP_NAME),
            _ => self.0.get(name),
        };
        value.map(HeaderValue::as_bytes)
    }
}

pub(crate) fn str_header<'a>(h: &'a HeaderMap, name: &HeaderName) -> Option<&'a str> {
    h.get(name).and_then(|v| v.to_str().ok())
}

/// Whether `Accept` allows `mime` (absent or `*/*` allows anything).
pub(crate) fn accepts(h: &HeaderMap, mime: &str) -> bool {
    accepts_each(h, [mime])[0]
}

/// For each of `mimes`, whether `Accept` allows it, reading the header once.
pub(crate) fn accepts_each<const N: usize>(h: &HeaderMap, mimes: [&str; N]) -> [bool; N] {
    let Some(accept) = h.get(axum::http::header::ACCEPT).and_then(|v| v.to_str().ok()) else { return [true; N] };
    let mut found = [false; N];
    for part in accept.split(',') {
        let m = part.split(';').next().unwrap_or("").trim();
        for (mime, hit) in mimes.iter().zip(found.iter_mut()) {
            let kind = mime.split_once('/').map_or(*mime, |(k, _)| k);
            *hit |= m == *mime || m == "*/*" || m.strip_suffix("/*").is_some_and(|k| k == kind);
        }
    }
    found
}
