//! # ferromcp
//!
//! Model Context Protocol servers, clients and proxies in Rust, with sessions as a
//! first-class concept. Write tools, resources and prompts as typed Rust functions; serve
//! them to clients of both MCP revisions (2025-11-25 with sessions, 2026-07-28
//! stateless) over stdio and Streamable HTTP from one endpoint.
//!
//! ```no_run
//! use ferromcp::prelude::*;
//!
//! /// Add two integers.
//! #[tool]
//! async fn add(a: i64, b: i64) -> i64 {
//!     a + b
//! }
//!
//! #[tokio::main]
//! async fn main() -> std::io::Result<()> {
//!     let server = Server::builder("calculator", "1.0.0").tool(add).build();
//!     ferromcp::http::serve(server, "127.0.0.1:3001".parse().unwrap(), Default::default()).await
//! }
//! ```
//!
//! # Layout
//! - the crate root and [`prelude`]: the server API (re-exported from `ferromcp-core`);
//! - [`protocol`]: MCP model types;
//! - [`http`]: the Streamable HTTP transport (axum router, `serve`);
//! - [`settings`]: server settings from `FERROMCP_*` environment variables;
//! - [`client`]: the MCP client (in-memory, child process);
//! - [`state`]: session-scoped state (scopes, stores, handles); [`redis`]: the Redis store;
//! - [`middleware`]: the middleware chain; [`auth`]: bearer-token verification;
//! - [`transport`]: stdio and line-delimited transports;
//! - the attribute macros [`tool`], [`resource`], [`prompt`].

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub use ferromcp_core::BuildError;
pub use ferromcp_core::{
    Blob, Completer, Context, Era, Error, Extensions, IntoCallToolResult, IntoGetPromptResult, IntoResourceContents,
    Json, Method, NoArgs, PromptDef, ProtocolError, Reply, ResourceDef, ResourceTemplateDef, Result, Server,
    ServerBuilder, ServerConfig, ToolDef, TransportKind,
};
pub use ferromcp_core::{
    auth, bus, context, engine, era, error, events, middleware, protocol, registry, schema, session, state, transport,
};
#[doc(hidden)]
pub use ferromcp_core::{jsonrpc, mrtr};
pub use ferromcp_macros::{prompt, resource, tool};

/// The Streamable HTTP transport.
pub mod http {
    pub use ferromcp_http::*;
}

/// Redis backends for deployments of many nodes: the state store, the event store and
/// the legacy session directory (`RedisSessionDirectory`, installed with
/// `ServerBuilder::session_directory`).
pub mod redis {
    pub use ferromcp_redis::*;
}

/// The SQLite event store (durable resumable streams on one node).
pub mod sqlite {
    pub use ferromcp_sqlite::*;
}

/// Server settings from `FERROMCP_*` environment variables: the table, parsing and
/// precedence are in [`settings::Settings`]'s module docs.
///
/// ```no_run
/// use ferromcp::prelude::*;
/// use ferromcp::settings::Settings;
///
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// let env = Settings::from_env()?; // a bad value stops startup, naming the variable
/// let mut builder = env.apply_server(Server::builder("demo", "1.0.0"), Default::default());
/// if let Some(store) = ferromcp::settings::redis_state_store(&env).await? {
///     builder = builder.state_store(store);
/// }
/// // Explicit calls after the environment win: this server never uses another path.
/// let mut cfg = env.apply_http(ferromcp::http::HttpConfig::default()).path("/mcp");
/// if let Some(events) = ferromcp::settings::redis_event_store(&env).await? {
///     cfg = cfg.event_store(events); // FERROMCP_EVENT_STORE=redis
/// }
/// ferromcp::http::serve(builder.build(), env.addr(([127, 0, 0, 1], 3000).into()), cfg).await?;
/// # Ok(()) }
/// ```
pub mod settings {
    pub use ferromcp_http::settings::*;

    /// Connects the Redis state store named by `FERROMCP_REDIS_URL` (`None` when the
    /// variable is unset). A server that cannot be reached is an error naming the
    /// variable (the URL's password is not repeated).
    pub async fn redis_state_store(settings: &Settings) -> Result<Option<crate::redis::RedisStore>, SettingsError> {
        let Some(url) = &settings.redis_url else { return Ok(None) };
        crate::redis::RedisStore::connect(url).await.map(Some).map_err(|e| SettingsError {
            variable: "FERROMCP_REDIS_URL",
            value: redact(url),
            expected: format!("the URL of a reachable Redis server (connecting failed: {e})"),
        })
    }

    /// Connects the Redis event store when `FERROMCP_EVENT_STORE=redis` (`None` for any
    /// other choice), at `FERROMCP_REDIS_URL`, with session records kept as long as the
    /// session idle timeout (`FERROMCP_SESSION_IDLE_TIMEOUT`, 30 minutes by default).
    /// Pass it to [`HttpConfig::event_store`](crate::http::HttpConfig::event_store)
    /// after [`Settings::apply_http`]. A server that cannot be reached is an error naming
    /// the variable.
    pub async fn redis_event_store(
        settings: &Settings,
    ) -> Result<Option<crate::redis::RedisEventStore>, SettingsError> {
        if settings.event_store != Some(EventStoreChoice::Redis) {
            return Ok(None);
        }
        let Some(url) = &settings.redis_url else {
            return Err(SettingsError {
                variable: "FERROMCP_EVENT_STORE",
                value: "redis".into(),
                expected: "`redis` together with FERROMCP_REDIS_URL".into(),
            });
        };
        let store = crate::redis::RedisEventStore::connect(url).await.map_err(|e| SettingsError {
            variable: "FERROMCP_REDIS_URL",
            value: redact(url),
            expected: format!("the URL of a reachable Redis server for the event store (connecting failed: {e})"),
        })?;
        let ttl = match settings.session_idle_timeout {
            None => crate::redis::RedisEventStore::DEFAULT_SESSION_TTL,
            Some(None) => std::time::Duration::MAX,
            Some(Some(t)) => t,
        };
        Ok(Some(store.with_session_ttl(ttl)))
    }

    /// `redis://user:secret@host` → `redis://user:***@host`.
    fn redact(url: &str) -> String {
        match (url.find("://"), url.rfind('@')) {
            (Some(s), Some(at)) if at > s => match url[s + 3..at].split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..s + 3], &url[at..]),
                None => url.to_owned(),
            },
            _ => url.to_owned(),
        }
    }
}

/// OAuth 2.1 resource-server verifiers (JWT with JWKS, RFC 7662 introspection) and
/// per-principal rate limiters; they plug into [`auth::TokenVerifier`].
pub mod oauth {
    pub use ferromcp_auth::*;
}

/// The MCP client.
pub mod client {
    pub use ferromcp_client::*;
}

#[doc(hidden)]
pub use ferromcp_core as __core;

/// The README's code blocks, compiled (and run unless marked `no_run`) by
/// `cargo test --doc`, so the front-page example cannot drift from the API.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;

// The guide's chapters (`docs/guide`), compiled the same way; see `guide.rs`.
#[cfg(any(test, doctest))]
mod guide;

/// Everything a server author usually needs.
pub mod prelude {
    pub use crate::context::{Elicitation, SamplingRequest};
    pub use crate::protocol::{ClientCapability, ContentBlock, PromptMessage, ResourceContents, Role};
    pub use crate::state::SessionHandle;
    pub use crate::{
        Blob, Context, Error, Json, NoArgs, PromptDef, ResourceDef, ResourceTemplateDef, Result, Server, ToolDef,
        prompt, resource, tool,
    };
    pub use schemars::JsonSchema;
    pub use serde::{Deserialize, Serialize};
}
