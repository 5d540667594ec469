//! [`ClientOptions`], [`ClientEra`] and [`ClientHandlers`]: how a client connects and how
//! it answers the server's questions (elicitation, sampling, roots).

use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use ferromcp_core::ProtocolError;
use futures_util::future::BoxFuture;
use serde_json::{Map, Value, json};

use crate::auth::AuthProvider;
use crate::routing::CallInfo;

/// The protocol revision a client speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ClientEra {
    /// Whichever the server speaks: the client probes with `server/discover` and falls
    /// back to `initialize` when the server does not answer it as a 2026-07-28 server
    /// would. [`crate::Client::era`] then reports the era in force.
    #[default]
    Auto,
    /// 2025-11-25: `initialize` handshake, a session per connection, and real
    /// server→client requests while a call runs.
    Legacy,
    /// 2026-07-28: no handshake (`server/discover` instead), `_meta` on every request,
    /// and multi-round-trip requests (MRTR) instead of server→client requests.
    Modern,
}

impl ClientEra {
    /// The protocol version this client asks for (`Auto` asks for the 2026-07-28 one
    /// first).
    pub fn version(self) -> &'static str {
        match self {
            ClientEra::Legacy => ferromcp_core::protocol::V_2025_11_25,
            ClientEra::Modern | ClientEra::Auto => ferromcp_core::protocol::V_2026_07_28,
        }
    }
}

/// The future a handler returns: the JSON result to send back, or an error.
pub type HandlerFuture = BoxFuture<'static, Result<Value, ProtocolError>>;

/// A handler for one kind of server question. It receives the request's `params` and
/// the call that caused the question (when the transport can tell, see
/// [`crate::routing`]) and returns its `result` object (e.g.
/// `{"action":"accept","content":{..}}` for elicitation).
pub type Handler = Arc<dyn Fn(Value, Option<Arc<CallInfo>>) -> HandlerFuture + Send + Sync>;

fn boxed<F, Fut>(f: F) -> Handler
where
    F: Fn(Value) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<Value, ProtocolError>> + Send + 'static,
{
    Arc::new(move |params, _call| Box::pin(f(params)) as HandlerFuture)
}

fn boxed_call<F, Fut>(f: F) -> Handler
where
    F: Fn(Value, Option<Arc<CallInfo>>) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<Value, ProtocolError>> + Send + 'static,
{
    Arc::new(move |params, call| Box::pin(f(params, call)) as HandlerFuture)
}

/// How the client answers the server's questions. Each handler that is set declares the
/// matching client capability (`elicitation`, `sampling`, `roots`); a server asking for
/// a capability without a handler gets an error instead of a hang.
///
/// The same handlers serve both eras: legacy server→client requests and modern MRTR
/// input requests.
///
/// ```
/// use ferromcp_client::ClientHandlers;
/// use serde_json::json;
/// let h = ClientHandlers::new()
///     .elicitation(|_params| async { Ok(json!({"action": "accept", "content": {"name": "Ada"}})) })
///     .roots(|_params| async { Ok(json!({"roots": [{"uri": "file:///tmp", "name": "tmp"}]})) });
/// assert_eq!(h.capabilities(), json!({"elicitation": {}, "roots": {}}));
/// ```
#[derive(Clone, Default)]
pub struct ClientHandlers {
    elicitation: Option<Handler>,
    sampling: Option<Handler>,
    roots: Option<Handler>,
}

impl fmt::Debug for ClientHandlers {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientHandlers")
            .field("elicitation", &self.elicitation.is_some())
            .field("sampling", &self.sampling.is_some())
            .field("roots", &self.roots.is_some())
            .finish()
    }
}

impl ClientHandlers {
    /// No handlers: the client declares no capabilities.
    pub fn new() -> Self {
        Self::default()
    }

    /// Answers `elicitation/create` (`{message, requestedSchema}` →
    /// `{action, content?}`).
    pub fn elicitation<F, Fut>(mut self, f: F) -> Self
    where
        F: Fn(Value) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Value, ProtocolError>> + Send + 'static,
    {
        self.elicitation = Some(boxed(f));
        self
    }

    /// Answers `sampling/createMessage` (`{messages, maxTokens, ..}` →
    /// `{role, content, model, stopReason?}`).
    pub fn sampling<F, Fut>(mut self, f: F) -> Self
    where
        F: Fn(Value) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Value, ProtocolError>> + Send + 'static,
    {
        self.sampling = Some(boxed(f));
        self
    }

    /// Like [`ClientHandlers::elicitation`], and the handler also receives the call that
    /// asked (`None` where the transport cannot tell, see [`crate::routing`]).
    pub fn elicitation_for_call<F, Fut>(mut self, f: F) -> Self
    where
        F: Fn(Value, Option<Arc<CallInfo>>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Value, ProtocolError>> + Send + 'static,
    {
        self.elicitation = Some(boxed_call(f));
        self
    }

    /// Like [`ClientHandlers::sampling`], with the call that asked.
    pub fn sampling_for_call<F, Fut>(mut self, f: F) -> Self
    where
        F: Fn(Value, Option<Arc<CallInfo>>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Value, ProtocolError>> + Send + 'static,
    {
        self.sampling = Some(boxed_call(f));
        self
    }

    /// Like [`ClientHandlers::roots`], with the call that asked.
    pub fn roots_for_call<F, Fut>(mut self, f: F) -> Self
    where
        F: Fn(Value, Option<Arc<CallInfo>>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Value, ProtocolError>> + Send + 'static,
    {
        self.roots = Some(boxed_call(f));
        self
    }

    /// Answers `roots/list` (`{}` → `{roots: [{uri, name?}]}`).
    pub fn roots<F, Fut>(mut self, f: F) -> Self
    where
        F: Fn(Value) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Value, ProtocolError>> + Send + 'static,
    {
        self.roots = Some(boxed(f));
        self
    }

    /// The capabilities these handlers declare, as the `capabilities` object of
    /// `initialize` or `_meta["io.modelcontextprotocol/clientCapabilities"]`.
    pub fn capabilities(&self) -> Value {
        let mut caps = Map::new();
        if self.elicitation.is_some() {
            caps.insert("elicitation".into(), json!({}));
        }
        if self.sampling.is_some() {
            caps.insert("sampling".into(), json!({}));
        }
        if self.roots.is_some() {
            caps.insert("roots".into(), json!({}));
        }
        Value::Object(caps)
    }

    /// Answers one server question: runs the handler for `method` with the call that
    /// asked (if known). `ping` is answered with `{}`; a method without a handler is
    /// `-32601`. An accepted elicitation gets the schema's defaults for the fields the
    /// handler left out (SEP-1034).
    pub async fn dispatch(
        &self,
        method: &str,
        params: Value,
        call: Option<Arc<CallInfo>>,
    ) -> Result<Value, ProtocolError> {
        let (handler, capability) = match method {
            "ping" => return Ok(json!({})),
            "elicitation/create" => (&self.elicitation, "elicitation"),
            "sampling/createMessage" => (&self.sampling, "sampling"),
            "roots/list" => (&self.roots, "roots"),
            other => return Err(ProtocolError::method_not_found(other)),
        };
        match handler {
            Some(h) if method == "elicitation/create" => {
                let schema = params.get("requestedSchema").cloned();
                let mut result = h(params, call).await?;
                if let Some(schema) = schema {
                    apply_elicitation_defaults(&mut result, &schema);
                }
                Ok(result)
            }
            Some(h) => h(params, call).await,
            None => Err(ProtocolError::new(
                ferromcp_core::error::code::METHOD_NOT_FOUND,
                format!(
                    "Method not found: {method} (this client has no `{capability}` handler and did not declare the capability)"
                ),
            )),
        }
    }
}

/// Fills the fields an accepted elicitation left out with the requested schema's
/// `default` values (SEP-1034).
///
/// ```
/// use ferromcp_client::options::apply_elicitation_defaults;
/// use serde_json::json;
/// let schema = json!({"type": "object", "properties": {
///     "name": {"type": "string", "default": "Ada"}, "age": {"type": "integer", "default": 36}}});
/// let mut result = json!({"action": "accept", "content": {"name": "Grace"}});
/// apply_elicitation_defaults(&mut result, &schema);
/// assert_eq!(result["content"], json!({"name": "Grace", "age": 36}));
/// ```
pub fn apply_elicitation_defaults(result: &mut Value, schema: &Value) {
    if result.get("action").and_then(Value::as_str) != Some("accept") {
        return;
    }
    let Some(props) = schema.get("properties").and_then(Value::as_object) else {
        return;
    };
    let Some(obj) = result.as_object_mut() else {
        return;
    };
    let content = obj.entry("content").or_insert_with(|| json!({}));
    let Some(content) = content.as_object_mut() else {
        return;
    };
    for (key, prop) in props {
        if let Some(default) = prop.get("default")
            && !content.contains_key(key)
        {
            content.insert(key.clone(), default.clone());
        }
    }
}

/// How a client connects: era, identity, timeouts, log level and handlers.
///
/// ```
/// use std::time::Duration;
/// use ferromcp_client::{ClientEra, ClientOptions};
/// let opts = ClientOptions::new(ClientEra::Legacy)
///     .name("my-client")
///     .version("1.2.3")
///     .request_timeout(Duration::from_secs(5))
///     .log_level("info");
/// assert_eq!(opts.era, ClientEra::Legacy);
/// assert_eq!(opts.log_level.as_deref(), Some("info"));
/// ```
#[derive(Debug, Clone)]
pub struct ClientOptions {
    /// The protocol revision to speak.
    pub era: ClientEra,
    /// The client's name (`clientInfo.name`).
    pub name: String,
    /// The client's version (`clientInfo.version`).
    pub version: String,
    /// How long one request may wait for its response (each MRTR round separately).
    pub request_timeout: Duration,
    /// The minimum level of log notifications to receive. Modern era: sent as
    /// `_meta["io.modelcontextprotocol/logLevel"]` on every request (without it the
    /// server sends no logs). Legacy era: sent once with `logging/setLevel` after the
    /// handshake.
    pub log_level: Option<String>,
    /// How the client answers the server's questions.
    pub handlers: ClientHandlers,
    /// Streamable HTTP settings (custom headers, authorization, reconnection).
    pub http: HttpOptions,
}

impl Default for ClientOptions {
    fn default() -> Self {
        ClientOptions {
            era: ClientEra::default(),
            name: "ferromcp-client".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            request_timeout: Duration::from_secs(60),
            log_level: None,
            handlers: ClientHandlers::default(),
            http: HttpOptions::default(),
        }
    }
}

impl ClientOptions {
    /// Default options for `era`.
    pub fn new(era: ClientEra) -> Self {
        ClientOptions {
            era,
            ..Self::default()
        }
    }
    /// Default options for the 2025-11-25 era.
    pub fn legacy() -> Self {
        Self::new(ClientEra::Legacy)
    }
    /// Default options for the 2026-07-28 era.
    pub fn modern() -> Self {
        Self::new(ClientEra::Modern)
    }
    /// Sets the era.
    pub fn era(mut self, era: ClientEra) -> Self {
        self.era = era;
        self
    }
    /// Sets the client's name.
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }
    /// Sets the client's version.
    pub fn version(mut self, version: impl Into<String>) -> Self {
        self.version = version.into();
        self
    }
    /// Sets the per-request timeout.
    pub fn request_timeout(mut self, t: Duration) -> Self {
        self.request_timeout = t;
        self
    }
    /// Sets the minimum log level (`debug`, `info`, `notice`, `warning`, `error`,
    /// `critical`, `alert`, `emergency`).
    pub fn log_level(mut self, level: impl Into<String>) -> Self {
        self.log_level = Some(level.into());
        self
    }
    /// Replaces all handlers.
    pub fn handlers(mut self, handlers: ClientHandlers) -> Self {
        self.handlers = handlers;
        self
    }
    /// Sets the elicitation handler (see [`ClientHandlers::elicitation`]).
    pub fn on_elicitation<F, Fut>(mut self, f: F) -> Self
    where
        F: Fn(Value) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Value, ProtocolError>> + Send + 'static,
    {
        self.handlers = self.handlers.elicitation(f);
        self
    }
    /// Sets the sampling handler (see [`ClientHandlers::sampling`]).
    pub fn on_sampling<F, Fut>(mut self, f: F) -> Self
    where
        F: Fn(Value) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Value, ProtocolError>> + Send + 'static,
    {
        self.handlers = self.handlers.sampling(f);
        self
    }
    /// Sets the roots handler (see [`ClientHandlers::roots`]).
    pub fn on_roots<F, Fut>(mut self, f: F) -> Self
    where
        F: Fn(Value) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Value, ProtocolError>> + Send + 'static,
    {
        self.handlers = self.handlers.roots(f);
        self
    }

    /// Adds a header to every HTTP request (Streamable HTTP only).
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.http.headers.push((name.into(), value.into()));
        self
    }
    /// Sets the authorization provider (Streamable HTTP only), e.g.
    /// [`crate::BearerToken`].
    pub fn auth(mut self, provider: impl AuthProvider + 'static) -> Self {
        self.http.auth = Some(Arc::new(provider));
        self
    }

    /// The `clientInfo` object.
    pub(crate) fn client_info(&self) -> Value {
        json!({ "name": self.name, "version": self.version })
    }
}

/// Streamable HTTP settings of a client.
///
/// ```
/// use std::time::Duration;
/// use ferromcp_client::{BearerToken, ClientOptions};
/// let opts = ClientOptions::default()
///     .header("X-Tenant", "acme")
///     .auth(BearerToken::new("secret"));
/// assert_eq!(opts.http.headers, vec![("X-Tenant".to_string(), "acme".to_string())]);
/// assert!(opts.http.auth.is_some());
/// assert_eq!(opts.http.max_reconnects, 5);
/// ```
#[derive(Clone)]
pub struct HttpOptions {
    /// Extra headers sent with every request.
    pub headers: Vec<(String, String)>,
    /// Supplies the `Authorization` header and decides retries after 401/403.
    pub auth: Option<Arc<dyn AuthProvider>>,
    /// How many times one request is retried after a 401/403 the provider handled
    /// (capped at [`crate::auth::MAX_AUTH_RETRIES`]).
    pub max_auth_retries: usize,
    /// How many times in a row a broken SSE stream is resumed with `Last-Event-ID`
    /// before the call fails.
    pub max_reconnects: usize,
    /// The wait before resuming a stream when the server sent no `retry:` field.
    pub default_retry: Duration,
    /// Whether to open the 2025-11-25 standalone GET stream after `initialize` (for
    /// notifications and requests unrelated to a call).
    pub open_get_stream: bool,
    /// 2026-07-28: whether a request whose answer stream broke before the answer is sent
    /// again once under a new id (the protocol has no resumption; this is what it asks
    /// of clients). Turn it off for tools that must never run twice.
    pub reissue_broken_requests: bool,
}

impl Default for HttpOptions {
    fn default() -> Self {
        HttpOptions {
            headers: Vec::new(),
            auth: None,
            max_auth_retries: 3,
            max_reconnects: 5,
            default_retry: Duration::from_millis(500),
            open_get_stream: true,
            reissue_broken_requests: true,
        }
    }
}

impl fmt::Debug for HttpOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = self.headers.iter().map(|(n, _)| n.as_str()).collect();
        f.debug_struct("HttpOptions")
            .field("headers", &names)
            .field("auth", &self.auth.is_some())
            .field("max_auth_retries", &self.max_auth_retries)
            .field("max_reconnects", &self.max_reconnects)
            .field("default_retry", &self.default_retry)
            .field("open_get_stream", &self.open_get_stream)
            .field("reissue_broken_requests", &self.reissue_broken_requests)
            .finish()
    }
}
