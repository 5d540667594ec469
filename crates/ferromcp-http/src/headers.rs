//! Header names and helpers.

use axum::http::{HeaderMap, HeaderName, HeaderValue};
use ferromcp_core::era::modern::{HeaderLookup, RoutingHeader};

pub(crate) const SESSION_ID: HeaderName = HeaderName::from_static("mcp-session-id");
pub(crate) const PROTOCOL_VERSION: HeaderName = HeaderName::from_static("mcp-protocol-version");
const MCP_METHOD: HeaderName = HeaderName::from_static("mcp-method");
const MCP_NAME: HeaderName = HeaderName::from_static("mcp-name");

/// The era module's read-only view of request headers.
pub(crate) struct Headers<'a>(pub(crate) &'a HeaderMap);

impl HeaderLookup for Headers<'_> {
    fn header(&self, name: &str) -> Option<&[u8]> {
        self.0.get(name).map(HeaderValue::as_bytes)
    }

    /// By prebuilt name: parsing a `&str` name costs more than the lookup itself.
    fn routing(&self, which: RoutingHeader) -> Option<&[u8]> {
        let name = match which {
            RoutingHeader::ProtocolVersion => PROTOCOL_VERSION,
            RoutingHeader::Method => MCP_METHOD,
            RoutingHeader::Name => MCP_NAME,
        };
        self.0.get(name).map(HeaderValue::as_bytes)
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
    let Some(accept) = h.get(axum::http::header::ACCEPT).filter(|v| v.to_str().is_ok()) else { return [true; N] };
    let mut found = [false; N];
    for part in accept.as_bytes().split(|b| *b == b',') {
        let range = part.split(|b| *b == b';').next().unwrap_or_default().trim_ascii();
        for (mime, hit) in mimes.iter().zip(found.iter_mut()) {
            let kind = mime.split_once('/').map_or(*mime, |(k, _)| k);
            // Media types are case-insensitive (RFC 9110 §8.3.1).
            *hit |= range.eq_ignore_ascii_case(mime.as_bytes())
                || range == b"*/*"
                || range.strip_suffix(b"/*").is_some_and(|k| k.eq_ignore_ascii_case(kind.as_bytes()));
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    fn accept(v: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(axum::http::header::ACCEPT, HeaderValue::from_str(v).unwrap());
        h
    }

    #[test]
    fn accept_ranges_match_types_wildcards_and_parameters() {
        let both = ["application/json", "text/event-stream"];
        assert_eq!(accepts_each(&HeaderMap::new(), both), [true, true]);
        assert_eq!(accepts_each(&accept("application/json, text/event-stream"), both), [true, true]);
        assert_eq!(accepts_each(&accept("application/json;q=0.9"), both), [true, false]);
        assert_eq!(accepts_each(&accept(" text/event-stream "), both), [false, true]);
        assert_eq!(accepts_each(&accept("*/*"), both), [true, true]);
        assert_eq!(accepts_each(&accept("text/*, image/png"), both), [false, true]);
        assert_eq!(accepts_each(&accept("application/jsonx, text/html"), both), [false, false]);
        assert!(accepts(&accept("application/*"), "application/json"));
        assert_eq!(accepts_each(&accept("APPLICATION/JSON, Text/Event-Stream"), both), [true, true]);
        assert_eq!(accepts_each(&accept("TEXT/*"), both), [false, true]);
    }
}
