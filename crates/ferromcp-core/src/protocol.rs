//! The protocol seam: MCP model types, re-exported from rmcp (model types only, version
//! pinned), plus the constants ferromcp needs, the [`Method`] table and the
//! [`ListChanged`] kinds. User code names `ferromcp::protocol::*`, never `rmcp::`; if the
//! type source changes, only this module does.
//!
//! A leaf: it names no other ferromcp module, so every module may name it.

pub use rmcp::model::{
    Annotations, AudioContent, CallToolResult, ClientCapabilities, CompleteResult, CompletionInfo, ContentBlock,
    CreateMessageRequestParams, CreateMessageResult, ElicitResult, ElicitationAction, EmbeddedResource,
    GetPromptResult, Icon, ImageContent, Implementation, JsonObject, ListRootsResult, LoggingLevel, ModelPreferences,
    Prompt, PromptArgument, PromptMessage, ReadResourceResult, Resource, ResourceContents, ResourceTemplate, Role,
    Root, SamplingMessage, SamplingMessageContentBlock, ServerCapabilities, TextContent, Tool, ToolAnnotations,
};

/// `_meta` key of the protocol version (2026-07-28).
pub const META_PROTOCOL_VERSION: &str = "io.modelcontextprotocol/protocolVersion";
/// `_meta` key of the client capabilities (2026-07-28).
pub const META_CLIENT_CAPABILITIES: &str = "io.modelcontextprotocol/clientCapabilities";
/// `_meta` key of the client info (2026-07-28).
pub const META_CLIENT_INFO: &str = "io.modelcontextprotocol/clientInfo";
/// `_meta` key of the per-request log level (2026-07-28).
pub const META_LOG_LEVEL: &str = "io.modelcontextprotocol/logLevel";
/// `_meta` key of the server info in results (2026-07-28).
pub const META_SERVER_INFO: &str = "io.modelcontextprotocol/serverInfo";
/// `_meta` key tagging listen-stream notifications (2026-07-28).
pub const META_SUBSCRIPTION_ID: &str = "io.modelcontextprotocol/subscriptionId";

/// The 2025-11-25 revision (the last with `initialize` and sessions).
pub const V_2025_11_25: &str = "2025-11-25";
/// The 2026-07-28 revision (stateless, `_meta` on every request).
pub const V_2026_07_28: &str = "2026-07-28";
/// Legacy versions served, newest first.
pub const LEGACY_VERSIONS: &[&str] = &["2025-11-25", "2025-06-18", "2025-03-26", "2024-11-05"];
/// Modern versions served, newest first.
pub const MODERN_VERSIONS: &[&str] = &["2026-07-28"];

/// The methods ferromcp serves, resolved from the method string once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Method {
    /// `initialize` (legacy).
    Initialize,
    /// `ping` (legacy).
    Ping,
    /// `logging/setLevel` (legacy).
    SetLevel,
    /// `server/discover` (modern).
    Discover,
    /// `tools/list`.
    ListTools,
    /// `tools/call`.
    CallTool,
    /// `resources/list`.
    ListResources,
    /// `resources/templates/list`.
    ListResourceTemplates,
    /// `resources/read`.
    ReadResource,
    /// `resources/subscribe` (legacy).
    Subscribe,
    /// `resources/unsubscribe` (legacy).
    Unsubscribe,
    /// `prompts/list`.
    ListPrompts,
    /// `prompts/get`.
    GetPrompt,
    /// `completion/complete`.
    Complete,
    /// `subscriptions/listen` (modern).
    Listen,
}

impl Method {
    /// Looks a method string up; `None` for anything ferromcp does not serve.
    pub fn parse(s: &str) -> Option<Method> {
        Some(match s {
            "initialize" => Method::Initialize,
            "ping" => Method::Ping,
            "logging/setLevel" => Method::SetLevel,
            "server/discover" => Method::Discover,
            "tools/list" => Method::ListTools,
            "tools/call" => Method::CallTool,
            "resources/list" => Method::ListResources,
            "resources/templates/list" => Method::ListResourceTemplates,
            "resources/read" => Method::ReadResource,
            "resources/subscribe" => Method::Subscribe,
            "resources/unsubscribe" => Method::Unsubscribe,
            "prompts/list" => Method::ListPrompts,
            "prompts/get" => Method::GetPrompt,
            "completion/complete" => Method::Complete,
            "subscriptions/listen" => Method::Listen,
            _ => return None,
        })
    }

    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Initialize => "initialize",
            Method::Ping => "ping",
            Method::SetLevel => "logging/setLevel",
            Method::Discover => "server/discover",
            Method::ListTools => "tools/list",
            Method::CallTool => "tools/call",
            Method::ListResources => "resources/list",
            Method::ListResourceTemplates => "resources/templates/list",
            Method::ReadResource => "resources/read",
            Method::Subscribe => "resources/subscribe",
            Method::Unsubscribe => "resources/unsubscribe",
            Method::ListPrompts => "prompts/list",
            Method::GetPrompt => "prompts/get",
            Method::Complete => "completion/complete",
            Method::Listen => "subscriptions/listen",
        }
    }
}

/// Which list changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ListChanged {
    /// `notifications/tools/list_changed`.
    Tools,
    /// `notifications/resources/list_changed`.
    Resources,
    /// `notifications/prompts/list_changed`.
    Prompts,
}

impl ListChanged {
    /// The notification method.
    pub fn method(self) -> &'static str {
        match self {
            ListChanged::Tools => "notifications/tools/list_changed",
            ListChanged::Resources => "notifications/resources/list_changed",
            ListChanged::Prompts => "notifications/prompts/list_changed",
        }
    }
}

/// A client capability a server may need before it asks the client for something,
/// checked with [`Context::client_supports`](crate::Context::client_supports).
///
/// ```
/// use ferromcp_core::protocol::{ClientCapabilities, ClientCapability};
/// let caps: ClientCapabilities =
///     serde_json::from_value(serde_json::json!({"elicitation": {"form": {}}, "roots": {}})).unwrap();
/// assert!(ClientCapability::Elicitation.declared_in(&caps));
/// assert!(!ClientCapability::ElicitationUrl.declared_in(&caps));
/// assert!(ClientCapability::Roots.declared_in(&caps));
/// assert!(!ClientCapability::Sampling.declared_in(&caps));
/// assert_eq!(ClientCapability::Sampling.name(), "sampling");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ClientCapability {
    /// `elicitation`: the client answers `elicitation/create` (any mode).
    Elicitation,
    /// `elicitation.url`: the client supports URL-mode elicitation.
    ElicitationUrl,
    /// `sampling`: the client answers `sampling/createMessage`.
    Sampling,
    /// `sampling.tools`: sampling requests may carry `tools` and `toolChoice`.
    SamplingTools,
    /// `roots`: the client answers `roots/list`.
    Roots,
    /// `roots.listChanged`: the client announces root changes.
    RootsListChanged,
}

impl ClientCapability {
    /// The capability's path in the client's declaration (`"elicitation"`,
    /// `"elicitation.url"`, …), as error messages name it.
    pub fn name(self) -> &'static str {
        match self {
            ClientCapability::Elicitation => "elicitation",
            ClientCapability::ElicitationUrl => "elicitation.url",
            ClientCapability::Sampling => "sampling",
            ClientCapability::SamplingTools => "sampling.tools",
            ClientCapability::Roots => "roots",
            ClientCapability::RootsListChanged => "roots.listChanged",
        }
    }

    /// Whether `caps` declares this capability.
    pub fn declared_in(self, caps: &ClientCapabilities) -> bool {
        match self {
            ClientCapability::Elicitation => caps.elicitation.is_some(),
            ClientCapability::ElicitationUrl => caps.elicitation.as_ref().is_some_and(|e| e.url.is_some()),
            ClientCapability::Sampling => caps.sampling.is_some(),
            ClientCapability::SamplingTools => caps.sampling.as_ref().is_some_and(|s| s.tools.is_some()),
            ClientCapability::Roots => caps.roots.is_some(),
            ClientCapability::RootsListChanged => caps.roots.as_ref().is_some_and(|r| r.list_changed == Some(true)),
        }
    }
}

impl std::fmt::Display for ClientCapability {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}
