//! One pass over a message: the top-level members as value texts and, inside `params`,
//! the fields the framework reads before dispatch (`_meta`, `name`/`uri`, `arguments`,
//! the MRTR markers). Interpretation (types, versions, capabilities) happens afterwards
//! on those texts, so a syntax error anywhere is always reported as one.

use std::borrow::Cow;
use std::sync::Arc;

use super::scan::{Scanner, SyntaxError, string_value};
use super::{ProgressToken, RequestMeta, parse_level};
use crate::error::ProtocolError;
use crate::protocol::{ClientCapabilities, Implementation, LEGACY_VERSIONS, MODERN_VERSIONS};

/// Value texts of the top-level members (and of the `params` fields) of one message.
#[derive(Default)]
pub(super) struct Envelope<'a> {
    pub(super) jsonrpc: Option<&'a str>,
    pub(super) id: Option<&'a str>,
    pub(super) method: Option<&'a str>,
    pub(super) params: Option<&'a str>,
    pub(super) result: Option<&'a str>,
    pub(super) error: Option<&'a str>,
    /// A top-level member given twice.
    pub(super) duplicate: Option<&'static str>,
    pub(super) head: RawHead<'a>,
}

/// Value texts of the `params` fields read before dispatch.
#[derive(Default)]
pub(super) struct RawHead<'a> {
    /// `_meta`, when it is not an object (an error).
    meta_not_object: Option<&'a str>,
    meta_present: bool,
    protocol_version: Option<&'a str>,
    client_capabilities: Option<&'a str>,
    client_info: Option<&'a str>,
    log_level: Option<&'a str>,
    pub(super) progress_token: Option<&'a str>,
    name: Option<&'a str>,
    uri: Option<&'a str>,
    /// `arguments` and where it starts in `params`.
    arguments: Option<(&'a str, usize)>,
    input_responses: Option<&'a str>,
    request_state: Option<&'a str>,
    /// A `params` (or `_meta`) field given twice.
    duplicate: Option<&'static str>,
}

fn put<'a>(slot: &mut Option<&'a str>, value: &'a str, dup: &mut Option<&'static str>, name: &'static str) {
    if slot.replace(value).is_some() {
        dup.get_or_insert(name);
    }
}

/// Reads the current value into `slot` (flagging a second one as a duplicate), or skips
/// it when the key names nothing the decoder reads.
fn capture<'a>(
    s: &mut Scanner<'a>,
    slot: Option<(&mut Option<&'a str>, &'static str)>,
    dup: &mut Option<&'static str>,
) -> Result<(), SyntaxError> {
    let value = s.value()?;
    if let Some((slot, name)) = slot {
        put(slot, value, dup, name);
    }
    Ok(())
}

/// Reads a message whose first non-blank byte is `{`.
pub(super) fn read(text: &str) -> Result<Envelope<'_>, SyntaxError> {
    let mut env = Envelope::default();
    let mut s = Scanner::new(text);
    s.object(|s, key| {
        let slot = match &*key {
            "jsonrpc" => Some((&mut env.jsonrpc, "jsonrpc")),
            "id" => Some((&mut env.id, "id")),
            "method" => Some((&mut env.method, "method")),
            "result" => Some((&mut env.result, "result")),
            "error" => Some((&mut env.error, "error")),
            "params" => {
                let start = s.offset();
                if s.peek() == Some(b'{') {
                    env.head = RawHead::default();
                    s.object(|s, key| read_param(s, key, start, &mut env.head))?;
                } else {
                    s.value()?;
                }
                let value = &text[start..s.offset()];
                put(&mut env.params, value, &mut env.duplicate, "params");
                return Ok(());
            }
            _ => None,
        };
        capture(s, slot, &mut env.duplicate)
    })?;
    if !s.at_end() {
        return Err(SyntaxError { at: s.offset(), what: "trailing characters" });
    }
    Ok(env)
}

fn read_param<'a>(
    s: &mut Scanner<'a>,
    key: Cow<'a, str>,
    params_start: usize,
    h: &mut RawHead<'a>,
) -> Result<(), SyntaxError> {
    let slot = match &*key {
        "_meta" => {
            if h.meta_present {
                h.duplicate.get_or_insert("_meta");
            }
            h.meta_present = true;
            if s.peek() == Some(b'{') {
                return s.object(|s, key| read_meta(s, key, h));
            }
            h.meta_not_object = Some(s.value()?);
            return Ok(());
        }
        "name" => Some((&mut h.name, "name")),
        "uri" => Some((&mut h.uri, "uri")),
        "arguments" => {
            let start = s.offset() - params_start;
            let value = s.value()?;
            if h.arguments.replace((value, start)).is_some() {
                h.duplicate.get_or_insert("arguments");
            }
            return Ok(());
        }
        "inputResponses" => Some((&mut h.input_responses, "inputResponses")),
        "requestState" => Some((&mut h.request_state, "requestState")),
        _ => None,
    };
    capture(s, slot, &mut h.duplicate)
}

fn read_meta<'a>(s: &mut Scanner<'a>, key: Cow<'a, str>, h: &mut RawHead<'a>) -> Result<(), SyntaxError> {
    let slot = match &*key {
        "io.modelcontextprotocol/protocolVersion" => Some((&mut h.protocol_version, "protocolVersion")),
        "io.modelcontextprotocol/clientCapabilities" => Some((&mut h.client_capabilities, "clientCapabilities")),
        "io.modelcontextprotocol/clientInfo" => Some((&mut h.client_info, "clientInfo")),
        "io.modelcontextprotocol/logLevel" => Some((&mut h.log_level, "logLevel")),
        "progressToken" => Some((&mut h.progress_token, "progressToken")),
        _ => None,
    };
    capture(s, slot, &mut h.duplicate)
}

/// What a request's `params` tell the framework before dispatch.
#[derive(Default)]
pub(super) struct Head {
    pub(super) meta: RequestMeta,
    pub(super) name: Option<String>,
    pub(super) arguments: Option<std::ops::Range<usize>>,
    pub(super) mrtr_retry: bool,
}

fn invalid(msg: String) -> ProtocolError {
    ProtocolError::invalid_params(format!("Invalid params: {msg}")).with_status(400)
}

/// A present, non-null value.
fn given(v: Option<&str>) -> Option<&str> {
    v.filter(|t| *t != "null")
}

/// A string field that must be a string when given.
fn string_field<'a>(v: Option<&'a str>, name: &str) -> Result<Option<Cow<'a, str>>, ProtocolError> {
    match given(v) {
        None => Ok(None),
        Some(t) => string_value(t).map(Some).ok_or_else(|| invalid(format!("`{name}` must be a string"))),
    }
}

/// A protocol version as a `'static` string when it is one ferromcp knows.
fn intern_version(v: Cow<'_, str>) -> Cow<'static, str> {
    match MODERN_VERSIONS.iter().chain(LEGACY_VERSIONS).find(|k| **k == v) {
        Some(k) => Cow::Borrowed(k),
        None => Cow::Owned(v.into_owned()),
    }
}

/// The capabilities of a client that declared none, shared by every such request.
fn no_capabilities() -> Arc<ClientCapabilities> {
    static EMPTY: std::sync::OnceLock<Arc<ClientCapabilities>> = std::sync::OnceLock::new();
    EMPTY.get_or_init(|| Arc::new(ClientCapabilities::default())).clone()
}

fn read_capabilities(text: &str) -> Result<Arc<ClientCapabilities>, ProtocolError> {
    if text.bytes().all(|b| b == b'{' || b == b'}' || b.is_ascii_whitespace()) && text.contains('{') {
        return Ok(no_capabilities());
    }
    serde_json::from_str::<ClientCapabilities>(text)
        .map(Arc::new)
        .map_err(|e| ProtocolError::invalid_params(format!("Invalid `_meta` clientCapabilities: {e}")).with_status(400))
}

fn progress_token(v: Option<&str>) -> Result<Option<ProgressToken>, ProtocolError> {
    let Some(t) = given(v) else { return Ok(None) };
    if let Some(s) = string_value(t) {
        return Ok(Some(ProgressToken::String(s.into_owned())));
    }
    t.parse::<i64>()
        .map(|n| Some(ProgressToken::Number(n)))
        .map_err(|_| invalid("`progressToken` must be a string or an integer".into()))
}

impl RawHead<'_> {
    /// Interprets the captured texts (errors are `-32602`, HTTP 400).
    pub(super) fn interpret(&self) -> Result<Head, ProtocolError> {
        if let Some(name) = self.duplicate {
            return Err(invalid(format!("duplicate field `{name}`")));
        }
        if let Some(t) = self.meta_not_object {
            return Err(invalid(format!("`_meta` must be an object, got {t}")));
        }
        let lenient = |v: Option<&str>| given(v).and_then(string_value).map(Cow::into_owned);
        let name = lenient(self.name).or_else(|| lenient(self.uri));
        let arguments = self.arguments.filter(|(t, _)| *t != "null").map(|(t, start)| start..start + t.len());
        let mrtr_retry = given(self.input_responses).is_some() || given(self.request_state).is_some();
        if !self.meta_present {
            return Ok(Head { meta: RequestMeta::default(), name, arguments, mrtr_retry });
        }
        let client_info = match given(self.client_info) {
            None => None,
            Some(t) => Some(Box::new(
                serde_json::from_str::<Implementation>(t).map_err(|e| invalid(format!("`clientInfo`: {e}")))?,
            )),
        };
        let log_level = string_field(self.log_level, "logLevel")?;
        let meta = RequestMeta {
            present: true,
            protocol_version: string_field(self.protocol_version, "protocolVersion")?.map(intern_version),
            client_capabilities: given(self.client_capabilities).map(read_capabilities).transpose()?,
            client_info,
            log_level: log_level.map(|l| parse_level(&l).ok_or_else(|| l.into_owned())),
            progress_token: progress_token(self.progress_token)?,
        };
        Ok(Head { meta, name, arguments, mrtr_retry })
    }
}
