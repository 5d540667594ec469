//! ferromcp-auth: OAuth 2.1 resource-server verifiers and per-principal rate limiting
//! for ferromcp servers (kept out of `ferromcp-core` so the core stays light).
//!
//! Every verifier implements core's [`TokenVerifier`](ferromcp_core::auth::TokenVerifier),
//! the seam the HTTP transport (`ferromcp_http::HttpAuth`) authenticates through:
//!
//! ```no_run
//! # async fn run() -> Result<(), ferromcp_auth::AuthError> {
//! use ferromcp_auth::JwtVerifier;
//! let jwt = JwtVerifier::builder("https://id.example.com/.well-known/jwks.json")
//!     .issuer("https://id.example.com/")
//!     .audience("https://mcp.example.com/mcp")
//!     .build()?;
//! jwt.prefetch().await?; // optional: fail fast when the issuer is unreachable
//! # Ok(()) }
//! ```
//!
//! # Layout
//! - [`jwt`]: [`JwtVerifier`]: signed JWT access tokens (RS256/384/512, PS256/384/512,
//!   ES256/384, EdDSA only: `alg: none` and HMAC are refused), issuer, audience
//!   (RFC 8707: the server's canonical URI), `exp`/`nbf` with a small leeway.
//! - `jwks`: the JWKS cache: fetched over HTTP(S), refetched on an unknown `kid` at most
//!   once per configurable interval.
//! - [`introspection`]: [`IntrospectionVerifier`]: opaque tokens checked at an RFC 7662
//!   endpoint with client credentials.
//! - `cache`: verified tokens by SHA-256 of the token, until their expiry, bounded.
//! - [`ratelimit`]: [`LocalRateLimiter`] (GCRA per key, in process) and the
//!   [`RateLimit`] middleware that applies any
//!   [`RateLimiter`](ferromcp_core::auth::RateLimiter) on stdio / in-memory transports.
//! - `url`: the endpoint rule shared by both verifiers: `https`, or `http` on loopback.
//!
//! Tokens are only verified here: they are never forwarded anywhere (the MCP
//! authorization spec forbids token passthrough).

#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod cache;
pub mod introspection;
mod jwks;
pub mod jwt;
pub mod ratelimit;
mod url;

pub use introspection::{IntrospectionBuilder, IntrospectionVerifier};
pub use jwt::{JwtVerifier, JwtVerifierBuilder};
pub use ratelimit::{LocalRateLimiter, RateLimit};

/// What can go wrong configuring or prefetching a verifier. (A token that does not
/// verify is not an error: the verifier answers `None` and the transport answers 401.)
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AuthError {
    /// An endpoint URL is not acceptable.
    #[error("invalid endpoint URL `{url}`: {why}")]
    BadUrl {
        /// The URL given.
        url: String,
        /// Why it was refused, and what to give instead.
        why: String,
    },
    /// A required setting is missing.
    #[error("{0}")]
    Missing(&'static str),
    /// The JWKS could not be fetched or parsed.
    #[error("could not load the JWKS from {url}: {why}")]
    Jwks {
        /// The JWKS URL.
        url: String,
        /// What failed.
        why: String,
    },
}
