//! ferromcp-client: an MCP client for both protocol eras, over Streamable HTTP
//! ([`Client::connect_http`], http and https) or any newline-delimited JSON-RPC byte
//! stream — an in-memory ferromcp server, a child process's stdio, or any
//! `AsyncRead`/`AsyncWrite` pair.
//!
//! # Eras
//!
//! - [`ClientEra::Auto`] (the default): probes with `server/discover` and falls back to
//!   `initialize`; [`Client::era`] tells which one is in force.
//! - [`ClientEra::Legacy`] (2025-11-25): the client sends `initialize`, then
//!   `notifications/initialized`. While a call runs, the server may send requests
//!   (`elicitation/create`, `sampling/createMessage`, `roots/list`); the client answers
//!   them with its [`ClientHandlers`].
//! - [`ClientEra::Modern`] (2026-07-28): no handshake; the client calls
//!   `server/discover` once and stamps `params._meta` (protocol version, capabilities,
//!   client info, log level) on every request. Instead of server requests, a call may end
//!   `input_required`; the client answers with the same handlers and retries (MRTR, see
//!   [`mrtr`]).
//!
//! Capabilities are declared from the handlers that are set, so a server never waits on
//! a question the client cannot answer.
//!
//! # Example
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), ferromcp_client::ClientError> {
//! use ferromcp_client::{Client, ClientOptions};
//! use ferromcp_core::context::Elicitation;
//! use ferromcp_core::{Context, NoArgs, Server, ToolDef};
//! use serde_json::json;
//!
//! #[derive(serde::Deserialize, schemars::JsonSchema)]
//! struct Name { name: String }
//!
//! let server = Server::builder("greeter", "1.0.0")
//!     .tool(ToolDef::new("greet").handler(|ctx: Context, _: NoArgs| async move {
//!         match ctx.elicit::<Name>("Who are you?").key("name").await {
//!             Ok(Elicitation::Accept(n)) => format!("hello {}", n.name),
//!             Ok(_) => "hello stranger".to_string(),
//!             Err(e) => format!("error: {e}"),
//!         }
//!     }))
//!     .build();
//! let options = ClientOptions::modern().on_elicitation(|_params| async {
//!     Ok(json!({"action": "accept", "content": {"name": "Ada"}}))
//! });
//! let client = Client::in_memory(server, options).await?;
//! let out = client.call_tool("greet", json!({})).await?;
//! assert_eq!(out.text(), "hello Ada");
//! client.close().await;
//! # Ok(()) }
//! ```
//!
//! # Which call a message belongs to
//!
//! [`Client::tool_call`] builds a call with a tag and its own progress/log callbacks;
//! handlers set with `ClientHandlers::*_for_call` and [`Client::events`] receive the
//! [`CallInfo`] of the call that caused a message, where the transport can tell (see
//! [`routing`]: on stdio in the 2025-11-25 era it cannot, and the client says `None`).
//!
//! # Layout
//!
//! - [`Client`] (`client.rs`): constructors, era negotiation, raw requests, shutdown;
//!   the typed methods live in `api.rs`, the [`ToolCall`] builder in `call.rs`.
//! - `connection.rs`: the line-delimited transport: reader/writer tasks, response
//!   demultiplexing, server requests.
//! - `transport/http/`: Streamable HTTP (POST, SSE, resumption, sessions, headers).
//! - [`auth`] — [`AuthProvider`], [`BearerToken`]: the authorization seam.
//! - [`oauth`] — [`oauth::OAuthClient`]: the OAuth 2.1 client (discovery, PKCE,
//!   registration, step-up, refresh) behind that seam.
//! - [`routing`] — [`CallInfo`], [`CallEvent`] and the notification router.
//! - [`options`] — [`ClientOptions`], [`ClientEra`], [`ClientHandlers`].
//! - [`mrtr`] — the 2026-07-28 multi-round-trip loop.
//! - [`types`] — [`ServerInfo`], [`CallToolOutcome`], [`CompletionRef`], [`Completion`].
//! - [`error`] — [`ClientError`].

#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod api;
pub mod auth;
mod call;
mod client;
mod connection;
pub mod error;
pub mod listen;
pub mod mrtr;
pub mod oauth;
pub mod options;
pub mod routing;
mod transport;
pub mod types;

pub use auth::{AuthChallenge, AuthProvider, BearerToken};
pub use call::ToolCall;
pub use client::Client;
pub use error::{ClientError, Result};
pub use listen::{Listen, Subscription};
pub use options::{ClientEra, ClientHandlers, ClientOptions, Handler, HandlerFuture, HttpOptions};
pub use routing::{CallEvent, CallInfo};
pub use types::{CallToolOutcome, Completion, CompletionRef, ServerInfo};
