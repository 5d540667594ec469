//! The protocol seam: MCP model types, re-exported from rmcp (model types only, version
//! pinned), plus the constants ferromcp needs. User code names `ferromcp::protocol::*`,
//! never `rmcp::`; if the type source changes, only this module does.

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
