//! The JSON-RPC envelope: a borrowed, single-pass decoder for incoming messages and
//! small writers for outgoing ones.
//!
//! Decoding reads `jsonrpc`, `id`, `method`, `params._meta` and the routing fields
//! (`params.name` / `params.uri`) once, borrowing from the input; only the raw `params`
//! text is copied so the request can outlive the input buffer (handlers run on other
//! tasks). Method-specific parameters are decoded later, by the method's handler.
//! What lives here: [`RequestId`], [`Message`], [`decode`], the writers. What does not:
//! era rules (see [`crate::era`]) and dispatch.

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;

mod envelope;
mod scan;

use serde::de::{self, Deserializer};
use serde::{Deserialize, Serialize, Serializer};
use serde_json::value::RawValue;

use crate::error::{ProtocolError, code};
use crate::protocol::{ClientCapabilities, Implementation, LoggingLevel};
use envelope::Head;
use scan::{Scanner, string_value};

/// A JSON-RPC request id: a string or an integer (MCP forbids `null`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum RequestId {
    /// An integer id.
    Number(i64),
    /// A string id.
    String(Arc<str>),
}

impl fmt::Display for RequestId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RequestId::Number(n) => write!(f, "{n}"),
            RequestId::String(s) => write!(f, "{s:?}"),
        }
    }
}

impl Serialize for RequestId {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            RequestId::Number(n) => s.serialize_i64(*n),
            RequestId::String(v) => s.serialize_str(v),
        }
    }
}

impl<'de> Deserialize<'de> for RequestId {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl de::Visitor<'_> for V {
            type Value = RequestId;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string or integer id")
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<RequestId, E> {
                Ok(RequestId::Number(v))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<RequestId, E> {
                i64::try_from(v).map(RequestId::Number).map_err(|_| E::custom("integer id out of range"))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<RequestId, E> {
                Ok(RequestId::String(Arc::from(v)))
            }
        }
        d.deserialize_any(V)
    }
}

/// A progress token (`_meta.progressToken`): a string or an integer, echoed verbatim.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(untagged)]
pub enum ProgressToken {
    /// An integer token.
    Number(i64),
    /// A string token.
    String(String),
}

/// The `_meta` fields of a request that the framework reads.
#[derive(Debug, Clone, Default)]
pub struct RequestMeta {
    /// `params._meta` was present at all (a modern-era marker on HTTP).
    pub present: bool,
    /// `io.modelcontextprotocol/protocolVersion` (borrowed when it names a known version).
    pub protocol_version: Option<Cow<'static, str>>,
    /// `io.modelcontextprotocol/clientCapabilities`.
    pub client_capabilities: Option<Arc<ClientCapabilities>>,
    /// `io.modelcontextprotocol/clientInfo`.
    pub client_info: Option<Box<Implementation>>,
    /// `io.modelcontextprotocol/logLevel`, or `Err(text)` if it named no level.
    pub log_level: Option<Result<LoggingLevel, String>>,
    /// `progressToken`.
    pub progress_token: Option<ProgressToken>,
}

/// An incoming request.
#[derive(Debug)]
pub struct Request {
    /// The request id.
    pub id: RequestId,
    /// The method name (borrowed for the methods ferromcp knows).
    pub method: Cow<'static, str>,
    /// The raw JSON text of the `params` object (absent if the request had none or
    /// `null`); already checked to be valid JSON.
    pub params: Option<Box<str>>,
    /// The `_meta` fields the framework reads.
    pub meta: RequestMeta,
    /// `params.name` (tools/call, prompts/get) or `params.uri` (resources/read), for routing
    /// headers.
    pub name: Option<String>,
    /// Where `params.arguments` lies in `params` (so it is not searched for again).
    pub(crate) arguments: Option<std::ops::Range<usize>>,
    /// Whether `params` carries MRTR fields (`inputResponses` or `requestState`).
    pub(crate) mrtr_retry: bool,
}

impl Request {
    /// The raw `params.arguments`, if present and not `null`.
    pub fn arguments(&self) -> Option<&str> {
        let range = self.arguments.clone()?;
        let text = self.params.as_deref()?.get(range)?;
        (text != "null").then_some(text)
    }
}

/// An incoming notification.
#[derive(Debug)]
pub struct Notification {
    /// The method name.
    pub method: String,
    /// The raw JSON text of the `params` object.
    pub params: Option<Box<str>>,
}

/// An incoming response to a server→client request.
#[derive(Debug)]
pub struct Response {
    /// The id of the request this answers.
    pub id: RequestId,
    /// The result, or the client's error.
    pub outcome: Result<Box<RawValue>, ProtocolError>,
}

/// One decoded JSON-RPC message.
#[derive(Debug)]
pub enum Message {
    /// A request (has `id` and `method`).
    Request(Request),
    /// A notification (has `method`, no `id`).
    Notification(Notification),
    /// A response (has `id` and `result` or `error`).
    Response(Response),
}

/// A message that could not be decoded, with the id if one could be read (errors echo it).
#[derive(Debug, Clone)]
pub struct DecodeError {
    /// The request id, if the envelope had a valid one.
    pub id: Option<RequestId>,
    /// The error to answer with.
    pub error: ProtocolError,
}

#[derive(Deserialize)]
struct ErrorIn {
    code: i32,
    #[serde(default)]
    message: String,
    #[serde(default)]
    data: Option<serde_json::Value>,
}

/// Parses a logging level name (`debug` … `emergency`).
pub fn parse_level(s: &str) -> Option<LoggingLevel> {
    serde_json::from_value(serde_json::Value::String(s.to_owned())).ok()
}

fn parse_id(raw: &str) -> Result<RequestId, ProtocolError> {
    let bad = || ProtocolError::invalid_request("`id` must be a string or an integer (null is not allowed)");
    match string_value(raw) {
        Some(s) => Ok(RequestId::String(Arc::from(&*s))),
        None => raw.parse::<i64>().map(RequestId::Number).map_err(|_| bad()),
    }
}

/// The default limit on the JSON text of client values the server echoes back and may
/// store: a request `id` and a `_meta.progressToken` (see [`decode_with_limit`]).
pub const DEFAULT_MAX_ECHOED_BYTES: usize = 1024;

/// The error for an echoed value (`what`) whose JSON text is `len` bytes, over `max`.
fn echoed_too_long(what: &str, len: usize, max: usize) -> ProtocolError {
    ProtocolError::invalid_params(format!(
        "Invalid params: the {what} is {len} bytes of JSON, which exceeds the {max}-byte limit on values the \
         server echoes back; send a shorter one (servers raise the limit with `max_echoed_value_bytes`)"
    ))
    .with_status(400)
}

fn parse_error(msg: String) -> DecodeError {
    DecodeError { id: None, error: ProtocolError::parse(msg) }
}

/// Decodes one JSON-RPC message. Never panics, whatever the input.
///
/// One validating pass reads the envelope and, inside `params`, the fields needed
/// before dispatch (see [`RequestMeta`]); method parameters are decoded later, by the
/// method's handler.
///
/// ```
/// use ferromcp_core::jsonrpc::{decode, Message};
/// let m = decode(br#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#).unwrap();
/// assert!(matches!(m, Message::Request(r) if r.method == "tools/list"));
/// let bad = decode(b"{nope").unwrap_err();
/// assert_eq!(bad.error.code, -32700);
/// ```
///
/// A request `id` or `progressToken` longer than [`DEFAULT_MAX_ECHOED_BYTES`] is refused
/// (see [`decode_with_limit`]).
pub fn decode(input: &[u8]) -> Result<Message, DecodeError> {
    decode_with_limit(input, DEFAULT_MAX_ECHOED_BYTES)
}

/// [`decode`] with `max_echoed_bytes` as the limit on the JSON text of the values the
/// server echoes back (in replies and in stored progress events): a message whose `id`
/// is longer is refused with `-32602` and a `null` id (the id itself is the problem); a
/// request whose `_meta.progressToken` is longer is refused with `-32602` echoing its id.
/// The check is a length comparison on text the decoder already holds.
///
/// ```
/// use ferromcp_core::jsonrpc::decode_with_limit;
/// let long = format!(r#"{{"jsonrpc":"2.0","id":"{}","method":"ping"}}"#, "x".repeat(20));
/// let e = decode_with_limit(long.as_bytes(), 16).unwrap_err();
/// assert_eq!((e.error.code, e.id), (-32602, None));
/// assert!(decode_with_limit(long.as_bytes(), 22).is_ok());
/// ```
pub fn decode_with_limit(input: &[u8], max_echoed_bytes: usize) -> Result<Message, DecodeError> {
    let Ok(text) = std::str::from_utf8(input) else {
        return Err(parse_error("Parse error: the message is not valid UTF-8".into()));
    };
    let first = Scanner::new(text).peek();
    if first != Some(b'{') {
        let error = if !scan::is_json(text) {
            ProtocolError::parse("Parse error: invalid JSON")
        } else if first == Some(b'[') {
            ProtocolError::invalid_request(
                "JSON-RPC batches are not supported since 2025-06-18; send one message per request",
            )
        } else {
            ProtocolError::invalid_request("Invalid request: a JSON-RPC message is a JSON object")
        };
        return Err(DecodeError { id: None, error });
    }
    let env = envelope::read(text).map_err(|e| parse_error(format!("Parse error: {e}")))?;
    if let Some(name) = env.duplicate {
        let error = ProtocolError::invalid_request(format!("Invalid request: duplicate field `{name}`"));
        return Err(DecodeError { id: None, error });
    }
    if let Some(raw) = env.id.filter(|raw| raw.len() > max_echoed_bytes) {
        let error = echoed_too_long("request `id`", raw.len(), max_echoed_bytes);
        return Err(DecodeError { id: None, error });
    }
    let id = match env.id {
        Some(raw) => Some(parse_id(raw).map_err(|error| DecodeError { id: None, error })?),
        None => None,
    };
    let id_for_errors = id.clone();
    let fail = |error: ProtocolError| DecodeError { id: id_for_errors.clone(), error };
    if env.jsonrpc.and_then(string_value).as_deref() != Some("2.0") {
        return Err(fail(ProtocolError::invalid_request("`jsonrpc` must be \"2.0\"")));
    }
    if let Some(method_raw) = env.method.filter(|m| *m != "null") {
        let method = string_value(method_raw)
            .ok_or_else(|| fail(ProtocolError::invalid_request("`method` must be a string")))?;
        let params = match env.params {
            Some("null") => None,
            Some(p) if !p.starts_with('{') => {
                return Err(fail(ProtocolError::invalid_params("`params` must be an object").with_status(400)));
            }
            other => other,
        };
        let Some(id) = id else {
            return Ok(Message::Notification(Notification {
                method: method.into_owned(),
                params: params.map(Box::from),
            }));
        };
        if let Some(t) = env.head.progress_token.filter(|t| t.len() > max_echoed_bytes) {
            return Err(fail(echoed_too_long("`_meta.progressToken`", t.len(), max_echoed_bytes)));
        }
        let head = match params {
            Some(_) => env.head.interpret().map_err(|error| DecodeError { id: Some(id.clone()), error })?,
            None => Head::default(),
        };
        let method = match crate::protocol::Method::parse(&method) {
            Some(m) => Cow::Borrowed(m.as_str()),
            None => Cow::Owned(method.into_owned()),
        };
        return Ok(Message::Request(Request {
            id,
            method,
            params: params.map(Box::from),
            meta: head.meta,
            name: head.name,
            arguments: head.arguments,
            mrtr_retry: head.mrtr_retry,
        }));
    }
    let Some(id) = id else {
        return Err(fail(ProtocolError::invalid_request(
            "a message needs `method` (request or notification) or `id` with `result`/`error` (response)",
        )));
    };
    let outcome = match (env.result, env.error) {
        (Some(r), None) => Ok(serde_json::from_str::<&RawValue>(r)
            .map(ToOwned::to_owned)
            .map_err(|e| fail(ProtocolError::invalid_request(format!("Invalid result: {e}"))))?),
        (None, Some(e)) => {
            let e: ErrorIn = serde_json::from_str(e)
                .map_err(|_| fail(ProtocolError::invalid_request("`error` must be {code, message}")))?;
            let mut p = ProtocolError::new(e.code, e.message);
            p.data = e.data.map(Box::new);
            Err(p)
        }
        _ => return Err(fail(ProtocolError::invalid_request("a response needs exactly one of `result` and `error`"))),
    };
    Ok(Message::Response(Response { id, outcome }))
}

/// Writes `{"jsonrpc":"2.0","id":ID,"result":RESULT}` where `result` is already JSON.
pub fn write_result_raw(buf: &mut Vec<u8>, id: &RequestId, result: &[u8]) {
    buf.extend_from_slice(br#"{"jsonrpc":"2.0","id":"#);
    write_id(buf, id);
    buf.extend_from_slice(br#","result":"#);
    buf.extend_from_slice(result);
    buf.push(b'}');
}

/// Writes `{"jsonrpc":"2.0","id":ID,"result":`; the caller writes the result and `}`.
pub fn write_result_prefix(buf: &mut Vec<u8>, id: &RequestId) {
    buf.extend_from_slice(br#"{"jsonrpc":"2.0","id":"#);
    write_id(buf, id);
    buf.extend_from_slice(br#","result":"#);
}

/// Writes a JSON-RPC error response; `id` is `null` when unknown.
pub fn write_error(buf: &mut Vec<u8>, id: Option<&RequestId>, error: &ProtocolError) {
    #[derive(Serialize)]
    struct ErrOut<'a> {
        code: i32,
        message: &'a str,
        #[serde(skip_serializing_if = "Option::is_none")]
        data: Option<&'a serde_json::Value>,
    }
    buf.extend_from_slice(br#"{"jsonrpc":"2.0","id":"#);
    match id {
        Some(id) => write_id(buf, id),
        None => buf.extend_from_slice(b"null"),
    }
    buf.extend_from_slice(br#","error":"#);
    let out = ErrOut { code: error.code, message: &error.message, data: error.data.as_deref() };
    // Serializing plain strings and a Value into a Vec cannot fail.
    let _ = serde_json::to_writer(&mut *buf, &out);
    buf.push(b'}');
}

/// Writes a notification `{"jsonrpc":"2.0","method":M,"params":P}`.
pub fn write_notification<P: Serialize>(buf: &mut Vec<u8>, method: &str, params: &P) -> serde_json::Result<()> {
    #[derive(Serialize)]
    struct N<'a, P> {
        jsonrpc: &'static str,
        method: &'a str,
        params: &'a P,
    }
    serde_json::to_writer(buf, &N { jsonrpc: "2.0", method, params })
}

/// Writes a request `{"jsonrpc":"2.0","id":ID,"method":M,"params":P}`.
pub fn write_request<P: Serialize>(
    buf: &mut Vec<u8>,
    id: &RequestId,
    method: &str,
    params: &P,
) -> serde_json::Result<()> {
    #[derive(Serialize)]
    struct R<'a, P> {
        jsonrpc: &'static str,
        id: &'a RequestId,
        method: &'a str,
        params: &'a P,
    }
    serde_json::to_writer(buf, &R { jsonrpc: "2.0", id, method, params })
}

fn write_id(buf: &mut Vec<u8>, id: &RequestId) {
    use std::io::Write as _;
    // Writing into a Vec cannot fail.
    let _ = match id {
        RequestId::Number(n) => write!(buf, "{n}"),
        RequestId::String(s) => serde_json::to_writer(&mut *buf, &**s).map_err(std::io::Error::from),
    };
}

/// `code::INVALID_REQUEST` re-exported for transports.
pub const INVALID_REQUEST: i32 = code::INVALID_REQUEST;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_with_meta_is_read_once() {
        let m = decode(br#"{"jsonrpc":"2.0","id":"a","method":"tools/call","params":{"name":"add","arguments":{"a":1},"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{"sampling":{}},"progressToken":7}}}"#).unwrap();
        let Message::Request(r) = m else { panic!("not a request") };
        assert_eq!(r.id, RequestId::String("a".into()));
        assert_eq!(r.name.as_deref(), Some("add"));
        assert!(r.meta.present);
        assert_eq!(r.meta.protocol_version.as_deref(), Some("2026-07-28"));
        assert!(r.meta.client_capabilities.unwrap().sampling.is_some());
        assert_eq!(r.meta.progress_token, Some(ProgressToken::Number(7)));
    }

    #[test]
    fn bad_envelopes_get_the_right_codes() {
        let cases: &[(&[u8], i32)] = &[
            (b"", code::PARSE_ERROR),
            (b"{", code::PARSE_ERROR),
            (b"[1,2]", code::INVALID_REQUEST),
            (b"42", code::INVALID_REQUEST),
            (br#"{"jsonrpc":"1.0","id":1,"method":"x"}"#, code::INVALID_REQUEST),
            (br#"{"id":1,"method":"x"}"#, code::INVALID_REQUEST),
            (br#"{"jsonrpc":"2.0","id":null,"method":"x"}"#, code::INVALID_REQUEST),
            (br#"{"jsonrpc":"2.0","id":1.5,"method":"x"}"#, code::INVALID_REQUEST),
            (br#"{"jsonrpc":"2.0","id":1,"method":7}"#, code::INVALID_REQUEST),
            (br#"{"jsonrpc":"2.0","id":1,"method":"x","params":[1]}"#, code::INVALID_PARAMS),
            (br#"{"jsonrpc":"2.0","id":1,"method":"x","params":{"_meta":3}}"#, code::INVALID_PARAMS),
            (br#"{"jsonrpc":"2.0","id":1,"method":"x","params":{"_meta":{"io.modelcontextprotocol/clientCapabilities":"no"}}}"#, code::INVALID_PARAMS),
            (br#"{"jsonrpc":"2.0"}"#, code::INVALID_REQUEST),
        ];
        for (input, want) in cases {
            let err = decode(input).expect_err(std::str::from_utf8(input).unwrap());
            assert_eq!(err.error.code, *want, "{}", String::from_utf8_lossy(input));
        }
    }

    /// Over mutated messages: a parse error exactly when `serde_json` finds no JSON, and
    /// a request's id and method exactly as `serde_json` reads them.
    #[test]
    fn decode_agrees_with_serde_json() {
        use scan::tests::{Rng, mutate};
        let seeds = [
            r#"{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"add","arguments":{"a":3,"b":4},"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{},"progressToken":"p\u0031"}}}"#,
            r#"{ "jsonrpc" : "2.0" , "id" : "s\"1" , "method" : "resources/read" , "params" : { "uri" : "test://x" } }"#,
            r#"{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":3}}"#,
            r#"{"jsonrpc":"2.0","id":-12,"result":{"content":[]}}"#,
        ];
        let mut rng = Rng(0x2545_F491_4F6C_DD1D);
        let (mut requests, mut parse_errors) = (0, 0);
        for seed in seeds {
            for _ in 0..3000 {
                let bytes = mutate(&mut rng, seed);
                let json_ok =
                    std::str::from_utf8(&bytes).is_ok_and(|t| serde_json::from_str::<de::IgnoredAny>(t).is_ok());
                let text = String::from_utf8_lossy(&bytes);
                match decode(&bytes) {
                    Err(e) if e.error.code == code::PARSE_ERROR => {
                        assert!(!json_ok, "parse error on valid JSON {text:?}");
                        parse_errors += 1;
                    }
                    other => {
                        assert!(json_ok, "invalid JSON accepted: {text:?}");
                        if let Ok(Message::Request(r)) = other {
                            let v: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
                            assert_eq!(v["method"].as_str(), Some(&*r.method), "{text:?}");
                            let id = match &r.id {
                                RequestId::Number(n) => serde_json::json!(n),
                                RequestId::String(s) => serde_json::json!(&**s),
                            };
                            assert_eq!(v["id"], id, "{text:?}");
                            let params =
                                r.params.as_deref().map(|p| serde_json::from_str::<serde_json::Value>(p).unwrap());
                            assert_eq!(params.as_ref(), v.get("params"), "{text:?}");
                            requests += 1;
                        }
                    }
                }
            }
        }
        assert!(requests > 500 && parse_errors > 1000, "{requests} requests, {parse_errors} parse errors");
    }

    /// Found by the fuzzer: a key holding a lone surrogate is valid JSON (serde_json
    /// skips it too) and must not turn the message into a parse error.
    #[test]
    fn lone_surrogate_keys_are_not_parse_errors() {
        let m = decode(
            br#"{"jsonrpc":"2.0","id":"r","method":"resources/read","params":{"uri":"x","_meta":{"\ud800":7}}}"#,
        );
        assert!(matches!(m, Ok(Message::Request(r)) if r.name.as_deref() == Some("x")));
    }

    #[test]
    fn error_ids_are_echoed_when_readable() {
        let err = decode(br#"{"jsonrpc":"2.0","id":9,"method":"x","params":{"_meta":3}}"#).unwrap_err();
        assert_eq!(err.id, Some(RequestId::Number(9)));
    }

    #[test]
    fn echoed_values_over_the_limit_are_refused() {
        let quoted = |c: &str, n: usize| format!("\"{}\"", c.repeat(n));
        let (id, token) = (quoted("i", 1023), quoted("t", 1023));
        let msg = |id: &str, token: &str| {
            format!(
                r#"{{"jsonrpc":"2.0","id":{id},"method":"tools/call","params":{{"name":"x","_meta":{{"progressToken":{token}}}}}}}"#
            )
        };
        let at_limit = msg(&quoted("i", 1022), &quoted("t", 1022));
        assert!(decode(at_limit.as_bytes()).is_ok(), "1024 bytes of JSON text is within the limit");
        let e = decode(msg(&id, "1").as_bytes()).unwrap_err();
        assert_eq!((e.error.code, e.id, e.error.http_status), (code::INVALID_PARAMS, None, 400));
        assert!(e.error.message.contains("exceeds the 1024-byte limit"), "{}", e.error.message);
        assert!(e.error.message.contains("`id`"), "the message names the value: {}", e.error.message);
        let e = decode(msg("7", &token).as_bytes()).unwrap_err();
        assert_eq!((e.error.code, e.id), (code::INVALID_PARAMS, Some(RequestId::Number(7))), "the id is echoed");
        assert!(e.error.message.contains("progressToken") && e.error.message.contains("1025 bytes"));
        let big_number = format!("1{}", "0".repeat(1030));
        assert_eq!(decode(msg("7", &big_number).as_bytes()).unwrap_err().error.code, code::INVALID_PARAMS);
        let response = format!(r#"{{"jsonrpc":"2.0","id":{id},"result":{{}}}}"#);
        assert_eq!(decode(response.as_bytes()).unwrap_err().id, None, "responses are held to the limit too");
        assert!(decode_with_limit(msg(&id, &token).as_bytes(), 2048).is_ok(), "the limit is configurable");
    }

    #[test]
    fn responses_and_notifications_decode() {
        assert!(matches!(
            decode(br#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#).unwrap(),
            Message::Notification(_)
        ));
        let Message::Response(r) = decode(br#"{"jsonrpc":"2.0","id":3,"error":{"code":-1,"message":"no"}}"#).unwrap()
        else {
            panic!()
        };
        assert_eq!(r.outcome.unwrap_err().code, -1);
    }

    #[test]
    fn writers_produce_valid_json() {
        let mut b = Vec::new();
        write_result_raw(&mut b, &RequestId::String("x\"y".into()), b"{}");
        let v: serde_json::Value = serde_json::from_slice(&b).unwrap();
        assert_eq!(v["id"], "x\"y");
        b.clear();
        write_error(&mut b, None, &ProtocolError::parse("bad"));
        let v: serde_json::Value = serde_json::from_slice(&b).unwrap();
        assert_eq!(v["error"]["code"], -32700);
        assert!(v["id"].is_null());
    }
}
