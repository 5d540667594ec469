//! Protocol eras: 2025-11-25 and older ("legacy", initialize + sessions) and 2026-07-28
//! ("modern", stateless, `_meta` on every request).
//!
//! The era is resolved once per request into an [`Era`] value; every rule that differs
//! between the revisions lives in [`legacy`] or [`modern`], never as flags scattered
//! through handlers. This module holds what both share: the [`Era`] type, the method
//! table and the result writer that stamps era-specific fields on results.

pub mod legacy;
pub mod modern;

use serde::Serialize;

use crate::error::ProtocolError;
use crate::jsonrpc::{self, RequestId};
pub use crate::protocol::Method;

/// The protocol era of one request, with the exact version in force.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Era {
    /// 2025-11-25 or older: initialize handshake, sessions, server→client requests.
    Legacy(&'static str),
    /// 2026-07-28: stateless, `_meta` on every request, MRTR instead of server requests.
    Modern(&'static str),
}

impl Era {
    /// The protocol version string.
    pub fn version(self) -> &'static str {
        match self {
            Era::Legacy(v) | Era::Modern(v) => v,
        }
    }
    /// True for 2026-07-28 and later.
    pub fn is_modern(self) -> bool {
        matches!(self, Era::Modern(_))
    }
    /// Whether this era has `method` (e.g. `initialize` is legacy only, `server/discover`
    /// modern only).
    pub fn serves(self, method: Method) -> bool {
        match self {
            Era::Legacy(_) => legacy::has_method(method),
            Era::Modern(_) => modern::has_method(method),
        }
    }
    /// The error for a method this era does not serve (or nobody serves).
    pub(crate) fn method_not_found(self, method: &str) -> ProtocolError {
        match self {
            Era::Modern(_) => modern::method_not_found(method),
            Era::Legacy(_) => ProtocolError::method_not_found(method),
        }
    }
    /// The error for a resource URI that nothing serves.
    pub(crate) fn resource_not_found(self, uri: &str) -> ProtocolError {
        match self {
            Era::Modern(_) => modern::resource_not_found(uri),
            Era::Legacy(_) => legacy::resource_not_found(uri),
        }
    }
}

/// What a result is, for the era-specific fields stamped on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResultKind {
    /// A complete result with no cache hints.
    Complete,
    /// A complete, cacheable result (`ttlMs` + `cacheScope` on the modern era).
    Cacheable(CacheHint),
    /// An MRTR `input_required` result (modern only).
    InputRequired,
}

/// Cache hints for 2026-07-28 cacheable results (SEP-2549).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CacheHint {
    /// Freshness in milliseconds; 0 = stale at once.
    pub ttl_ms: u64,
    /// `public` (shareable) or `private` (one authorization context).
    pub public: bool,
}

/// Writes a full JSON-RPC response for `result` under `era`: legacy results go out as
/// they are; modern ones get `resultType`, `_meta.serverInfo` and cache hints.
///
/// `server_info_json` is the pre-serialized `{"name":..,"version":..}` object. The result
/// must serialize to a JSON object without `resultType`/`ttlMs`/`cacheScope`/`_meta`
/// keys (callers clear those fields first).
pub fn write_response<T: Serialize>(
    era: Era,
    id: &RequestId,
    kind: ResultKind,
    server_info_json: &str,
    result: &T,
) -> Result<Vec<u8>, ProtocolError> {
    write_response_with(era, id, kind, server_info_json, |buf| serde_json::to_writer(buf, result))
}

/// [`write_response`] with the result written by `write`, which must append exactly one
/// JSON object (for results with a faster writer than their `Serialize`).
pub fn write_response_with(
    era: Era,
    id: &RequestId,
    kind: ResultKind,
    server_info_json: &str,
    write: impl FnOnce(&mut Vec<u8>) -> serde_json::Result<()>,
) -> Result<Vec<u8>, ProtocolError> {
    let mut buf = Vec::with_capacity(384);
    jsonrpc::write_result_prefix(&mut buf, id);
    let fail = |e: serde_json::Error| ProtocolError::internal(format!("result did not serialize: {e}"));
    match era {
        Era::Legacy(_) => write(&mut buf).map_err(fail)?,
        Era::Modern(_) => {
            modern::write_stamp(&mut buf, kind, server_info_json);
            // The result is an object: drop its `{` (the stamp opened it) and, if it is
            // empty, the comma the stamp left.
            let at = buf.len();
            write(&mut buf).map_err(fail)?;
            if buf.len() == at + 2 {
                buf.truncate(at - 1);
                buf.push(b'}');
            } else {
                buf.remove(at);
            }
        }
    }
    buf.push(b'}');
    Ok(buf)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_method_round_trips() {
        for m in [
            "initialize",
            "ping",
            "logging/setLevel",
            "server/discover",
            "tools/list",
            "tools/call",
            "resources/list",
            "resources/templates/list",
            "resources/read",
            "resources/subscribe",
            "resources/unsubscribe",
            "prompts/list",
            "prompts/get",
            "completion/complete",
            "subscriptions/listen",
        ] {
            assert_eq!(Method::parse(m).unwrap().as_str(), m);
        }
        assert_eq!(Method::parse("TOOLS/LIST"), None);
    }

    #[test]
    fn modern_results_are_stamped_legacy_are_not() {
        let info = r#"{"name":"s","version":"1"}"#;
        let id = RequestId::Number(1);
        let v = serde_json::json!({"tools": []});
        let kind = ResultKind::Cacheable(CacheHint { ttl_ms: 5, public: true });
        let legacy = write_response(Era::Legacy("2025-11-25"), &id, kind, info, &v).unwrap();
        let legacy: serde_json::Value = serde_json::from_slice(&legacy).unwrap();
        assert_eq!(legacy["result"], v);
        let modern = write_response(Era::Modern("2026-07-28"), &id, kind, info, &v).unwrap();
        let modern: serde_json::Value = serde_json::from_slice(&modern).unwrap();
        assert_eq!(modern["result"]["resultType"], "complete");
        assert_eq!(modern["result"]["ttlMs"], 5);
        assert_eq!(modern["result"]["cacheScope"], "public");
        assert_eq!(modern["result"]["_meta"]["io.modelcontextprotocol/serverInfo"]["name"], "s");
        assert_eq!(modern["result"]["tools"], serde_json::json!([]));
        let empty =
            write_response(Era::Modern("2026-07-28"), &id, ResultKind::Complete, info, &serde_json::json!({})).unwrap();
        let empty: serde_json::Value = serde_json::from_slice(&empty).unwrap();
        assert_eq!(empty["result"]["resultType"], "complete");
    }
}
