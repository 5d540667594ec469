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

use serde::de::{self, Deserializer};
use serde::{Deserialize, Serialize, Serializer};
use serde_json::value::RawValue;

use crate::error::{ProtocolError, code};
use crate::protocol::{ClientCapabilities, Implementation, LoggingLevel};

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
    /// `io.modelcontextprotocol/protocolVersion`.
    pub protocol_version: Option<String>,
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
    /// The raw `params` object (absent if the request had none).
    pub params: Option<Box<RawValue>>,
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
        let text = self.params.as_deref()?.get().get(range)?;
        (text != "null").then_some(text)
    }
}

/// An incoming notification.
#[derive(Debug)]
pub struct Notification {
    /// The method name.
    pub method: String,
    /// The raw `params` object.
    pub params: Option<Box<RawValue>>,
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

fn some_raw<'de, D: Deserializer<'de>>(d: D) -> Result<Option<&'de RawValue>, D::Error> {
    <&RawValue>::deserialize(d).map(Some)
}

#[derive(Deserialize)]
struct Envelope<'a> {
    #[serde(borrow, default)]
    jsonrpc: Option<Cow<'a, str>>,
    #[serde(borrow, default, deserialize_with = "some_raw")]
    id: Option<&'a RawValue>,
    #[serde(borrow, default)]
    method: Option<&'a RawValue>,
    #[serde(borrow, default, deserialize_with = "some_raw")]
    params: Option<&'a RawValue>,
    #[serde(borrow, default, deserialize_with = "some_raw")]
    result: Option<&'a RawValue>,
    #[serde(borrow, default, deserialize_with = "some_raw")]
    error: Option<&'a RawValue>,
}

#[derive(Deserialize)]
struct ParamsHead<'a> {
    #[serde(rename = "_meta", borrow, default, deserialize_with = "meta_object")]
    meta: Option<MetaIn<'a>>,
    #[serde(borrow, default, deserialize_with = "lenient_str")]
    name: Option<Cow<'a, str>>,
    #[serde(borrow, default, deserialize_with = "lenient_str")]
    uri: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    arguments: Option<&'a RawValue>,
    #[serde(rename = "inputResponses", default)]
    input_responses: Option<de::IgnoredAny>,
    #[serde(rename = "requestState", default)]
    request_state: Option<de::IgnoredAny>,
}

/// A string field that reads as `None` when it holds anything else (the method's own
/// parameter decoding reports the type error).
fn lenient_str<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Cow<'de, str>>, D::Error> {
    struct V;
    impl<'de> de::Visitor<'de> for V {
        type Value = Option<Cow<'de, str>>;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("any JSON value")
        }
        fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
            Ok(Some(Cow::Borrowed(v)))
        }
        fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
            Ok(Some(Cow::Owned(v.to_owned())))
        }
        fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
            Ok(Some(Cow::Owned(v)))
        }
        fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_i64<E: de::Error>(self, _: i64) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_u64<E: de::Error>(self, _: u64) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_seq<A: de::SeqAccess<'de>>(self, mut a: A) -> Result<Self::Value, A::Error> {
            while a.next_element::<de::IgnoredAny>()?.is_some() {}
            Ok(None)
        }
        fn visit_map<A: de::MapAccess<'de>>(self, mut a: A) -> Result<Self::Value, A::Error> {
            while a.next_entry::<de::IgnoredAny, de::IgnoredAny>()?.is_some() {}
            Ok(None)
        }
    }
    d.deserialize_any(V)
}

/// `_meta` must be an object.
fn meta_object<'de, D: Deserializer<'de>>(d: D) -> Result<Option<MetaIn<'de>>, D::Error> {
    MetaIn::deserialize(d).map(Some)
}

#[derive(Deserialize)]
struct MetaIn<'a> {
    #[serde(rename = "io.modelcontextprotocol/protocolVersion", borrow, default)]
    protocol_version: Option<Cow<'a, str>>,
    #[serde(rename = "io.modelcontextprotocol/clientCapabilities", borrow, default)]
    client_capabilities: Option<&'a RawValue>,
    #[serde(rename = "io.modelcontextprotocol/clientInfo", default)]
    client_info: Option<Box<Implementation>>,
    #[serde(rename = "io.modelcontextprotocol/logLevel", borrow, default)]
    log_level: Option<Cow<'a, str>>,
    #[serde(rename = "progressToken", default)]
    progress_token: Option<ProgressToken>,
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

fn parse_id(raw: &RawValue) -> Result<RequestId, ProtocolError> {
    serde_json::from_str::<RequestId>(raw.get())
        .map_err(|_| ProtocolError::invalid_request("`id` must be a string or an integer (null is not allowed)"))
}

/// Decodes one JSON-RPC message. Never panics, whatever the input.
///
/// ```
/// use ferromcp_core::jsonrpc::{decode, Message};
/// let m = decode(br#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#).unwrap();
/// assert!(matches!(m, Message::Request(r) if r.method == "tools/list"));
/// let bad = decode(b"{nope").unwrap_err();
/// assert_eq!(bad.error.code, -32700);
/// ```
pub fn decode(input: &[u8]) -> Result<Message, DecodeError> {
    let first = input.iter().find(|b| !b.is_ascii_whitespace());
    if first == Some(&b'[') {
        // Still tell a parse error from a batch.
        if serde_json::from_slice::<de::IgnoredAny>(input).is_err() {
            return Err(DecodeError { id: None, error: ProtocolError::parse("Parse error: invalid JSON") });
        }
        return Err(DecodeError {
            id: None,
            error: ProtocolError::invalid_request(
                "JSON-RPC batches are not supported since 2025-06-18; send one message per request",
            ),
        });
    }
    let env: Envelope<'_> = match serde_json::from_slice(input) {
        Ok(e) => e,
        Err(e) if e.is_data() => {
            return Err(DecodeError {
                id: None,
                error: ProtocolError::invalid_request(format!("Invalid request: {e}")),
            });
        }
        Err(e) => {
            return Err(DecodeError { id: None, error: ProtocolError::parse(format!("Parse error: {e}")) });
        }
    };
    let id = match env.id {
        Some(raw) => Some(parse_id(raw).map_err(|error| DecodeError { id: None, error })?),
        None => None,
    };
    let id_for_errors = id.clone();
    let fail = |error: ProtocolError| DecodeError { id: id_for_errors.clone(), error };
    if env.jsonrpc.as_deref() != Some("2.0") {
        return Err(fail(ProtocolError::invalid_request("`jsonrpc` must be \"2.0\"")));
    }
    if let Some(method_raw) = env.method {
        let method: Cow<'_, str> = serde_json::from_str(method_raw.get())
            .map_err(|_| fail(ProtocolError::invalid_request("`method` must be a string")))?;
        let params = match env.params {
            Some(p) if p.get() == "null" => None,
            Some(p) if !p.get().starts_with('{') => {
                return Err(fail(ProtocolError::invalid_params("`params` must be an object").with_status(400)));
            }
            other => other,
        };
        let Some(id) = id else {
            return Ok(Message::Notification(Notification {
                method: method.into_owned(),
                params: params.map(RawValue::to_owned),
            }));
        };
        let head = match params {
            Some(p) => read_head(p).map_err(|error| DecodeError { id: Some(id.clone()), error })?,
            None => Head::default(),
        };
        let method = match crate::era::Method::parse(&method) {
            Some(m) => Cow::Borrowed(m.as_str()),
            None => Cow::Owned(method.into_owned()),
        };
        return Ok(Message::Request(Request {
            id,
            method,
            params: params.map(RawValue::to_owned),
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
        (Some(r), None) => Ok(r.to_owned()),
        (None, Some(e)) => {
            let e: ErrorIn = serde_json::from_str(e.get())
                .map_err(|_| fail(ProtocolError::invalid_request("`error` must be {code, message}")))?;
            let mut p = ProtocolError::new(e.code, e.message);
            p.data = e.data.map(Box::new);
            Err(p)
        }
        _ => return Err(fail(ProtocolError::invalid_request("a response needs exactly one of `result` and `error`"))),
    };
    Ok(Message::Response(Response { id, outcome }))
}

#[derive(Default)]
struct Head {
    meta: RequestMeta,
    name: Option<String>,
    arguments: Option<std::ops::Range<usize>>,
    mrtr_retry: bool,
}

/// The capabilities of a client that declared none, shared by every such request.
fn no_capabilities() -> Arc<ClientCapabilities> {
    static EMPTY: std::sync::OnceLock<Arc<ClientCapabilities>> = std::sync::OnceLock::new();
    EMPTY.get_or_init(|| Arc::new(ClientCapabilities::default())).clone()
}

fn read_capabilities(raw: &RawValue) -> Result<Arc<ClientCapabilities>, ProtocolError> {
    let text = raw.get();
    if text.bytes().all(|b| b == b'{' || b == b'}' || b.is_ascii_whitespace()) && text.contains('{') {
        return Ok(no_capabilities());
    }
    serde_json::from_str::<ClientCapabilities>(text)
        .map(Arc::new)
        .map_err(|e| ProtocolError::invalid_params(format!("Invalid `_meta` clientCapabilities: {e}")).with_status(400))
}

fn read_head(params: &RawValue) -> Result<Head, ProtocolError> {
    let text = params.get();
    let head: ParamsHead<'_> = serde_json::from_str(text)
        .map_err(|e| ProtocolError::invalid_params(format!("Invalid params: {e}")).with_status(400))?;
    let name = head.name.or(head.uri).map(Cow::into_owned);
    // `arguments` borrows from `text`, so its offset is a plain pointer difference.
    let arguments = head.arguments.map(|a| {
        let start = a.get().as_ptr() as usize - text.as_ptr() as usize;
        start..start + a.get().len()
    });
    let mrtr_retry = head.input_responses.is_some() || head.request_state.is_some();
    let Some(m) = head.meta else {
        return Ok(Head { meta: RequestMeta::default(), name, arguments, mrtr_retry });
    };
    let meta = RequestMeta {
        present: true,
        protocol_version: m.protocol_version.map(Cow::into_owned),
        client_capabilities: m.client_capabilities.map(read_capabilities).transpose()?,
        client_info: m.client_info,
        log_level: m.log_level.map(|l| parse_level(&l).ok_or_else(|| l.into_owned())),
        progress_token: m.progress_token,
    };
    Ok(Head { meta, name, arguments, mrtr_retry })
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
    match id {
        RequestId::Number(n) => {
            let mut b = itoa_buf(*n);
            buf.append(&mut b);
        }
        RequestId::String(s) => {
            let _ = serde_json::to_writer(&mut *buf, &**s);
        }
    }
}

fn itoa_buf(n: i64) -> Vec<u8> {
    n.to_string().into_bytes()
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

    #[test]
    fn error_ids_are_echoed_when_readable() {
        let err = decode(br#"{"jsonrpc":"2.0","id":9,"method":"x","params":{"_meta":3}}"#).unwrap_err();
        assert_eq!(err.id, Some(RequestId::Number(9)));
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
