//! [`ClientOptions`], [`ClientEra`] and [`ClientHandlers`]: how a client connects and how
//! it answers the server's questions (elicitation, sampling, roots).

use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use ferromcp_core::ProtocolError;
use futures_util::future::BoxFuture;
use serde_json::{Map, Value, json};

/// The protocol revision a client speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ClientEra {
    /// 2025-11-25: `initialize` handshake, a session per connection, and real
    /// server→client requests while a call runs.
    Legacy,
    /// 2026-07-28: no handshake (`server/discover` instead), `_meta` on every request,
    /// and multi-round-trip requests (MRTR) instead of server→client requests.
    #[default]
    Modern,
}

impl ClientEra {
    /// The protocol version this client asks for.
    pub fn version(self) -> &'static str {
        match self {
            ClientEra::Legacy => ferromcp_core::protocol::V_2025_11_25,
            ClientEra::Modern => ferromcp_core::protocol::V_2026_07_28,
        }
    }
}

/// The future a handler returns: the JSON result to send back, or an error.
pub type HandlerFuture = BoxFuture<'static, Result<Value, ProtocolError>>;

/// A handler for one kind of server question. It receives the request's `params` and
/// returns its `result` object (e.g. `{"action":"accept","content":{..}}` for
/// elicitation).
pub type Handler = Arc<dyn Fn(Value) -> HandlerFuture + Send + Sync>;

fn boxed<F, Fut>(f: F) -> Handler
where
    F: Fn(Value) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<Value, ProtocolError>> + Send + 'static,
{
    Arc::new(move |params| Box::pin(f(params)) as HandlerFuture)
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

    /// Answers one server question: runs the handler for `method`. `ping` is answered
    /// with `{}`; a method without a handler is `-32601`.
    pub async fn dispatch(&self, method: &str, params: Value) -> Result<Value, ProtocolError> {
        let (handler, capability) = match method {
            "ping" => return Ok(json!({})),
            "elicitation/create" => (&self.elicitation, "elicitation"),
            "sampling/createMessage" => (&self.sampling, "sampling"),
            "roots/list" => (&self.roots, "roots"),
            other => return Err(ProtocolError::method_not_found(other)),
        };
        match handler {
            Some(h) => h(params).await,
            None => Err(ProtocolError::new(
                ferromcp_core::error::code::METHOD_NOT_FOUND,
                format!(
                    "Method not found: {method} (this client has no `{capability}` handler and did not declare the capability)"
                ),
            )),
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

    /// The `clientInfo` object.
    pub(crate) fn client_info(&self) -> Value {
        json!({ "name": self.name, "version": self.version })
    }
}
