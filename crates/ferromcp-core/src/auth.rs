//! Authentication: a small [`TokenVerifier`] trait that turns a bearer token into a
//! [`Principal`], and [`StaticBearer`], a verifier over a fixed token table (for
//! services, tests and development; full OAuth resource-server support plugs in here).
//!
//! ```
//! # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
//! use ferromcp_core::auth::{StaticBearer, TokenVerifier};
//! use ferromcp_core::state::Principal;
//! let v = StaticBearer::new().token("s3cret", Principal::new("alice"));
//! assert_eq!(v.verify("s3cret").await.unwrap().subject(), "alice");
//! assert!(v.verify("guess").await.is_none());
//! # });
//! ```

use std::collections::HashMap;

use sha2::{Digest, Sha256};

use crate::state::{Principal, StoreFuture};

/// Verifies bearer tokens.
pub trait TokenVerifier: Send + Sync + 'static {
    /// The principal a token stands for, or `None` if the token is not valid.
    fn verify<'a>(&'a self, token: &'a str) -> StoreFuture<'a, Option<Principal>>;
}

/// A verifier over a fixed table of tokens. Tokens are kept hashed (SHA-256), so the
/// table holds no secret and lookups do not compare secrets byte by byte.
#[derive(Debug, Clone, Default)]
pub struct StaticBearer {
    tokens: HashMap<[u8; 32], Principal>,
}

fn digest(token: &str) -> [u8; 32] {
    let mut out = [0u8; 32];
    out.copy_from_slice(&Sha256::digest(token.as_bytes()));
    out
}

impl StaticBearer {
    /// An empty table.
    pub fn new() -> Self {
        Self::default()
    }
    /// Accepts `token` as `principal`.
    pub fn token(mut self, token: impl AsRef<str>, principal: Principal) -> Self {
        self.tokens.insert(digest(token.as_ref()), principal);
        self
    }
}

impl TokenVerifier for StaticBearer {
    fn verify<'a>(&'a self, token: &'a str) -> StoreFuture<'a, Option<Principal>> {
        let found = self.tokens.get(&digest(token)).cloned();
        Box::pin(std::future::ready(found))
    }
}

/// A verified access token, as a handler sees it (`ctx.access_token()`): who it stands
/// for, the client it was issued to, its scopes, expiry and claims. The token string
/// itself is not available: the MCP authorization spec forbids passing tokens through.
#[derive(Debug, Clone, Copy)]
pub struct AccessToken<'a> {
    principal: &'a Principal,
}

impl<'a> AccessToken<'a> {
    /// The view of a verified principal.
    pub fn from_principal(principal: &'a Principal) -> Self {
        AccessToken { principal }
    }
    /// The subject (`sub`).
    pub fn subject(&self) -> &'a str {
        self.principal.subject()
    }
    /// The OAuth client id (`client_id` / `azp`), if known.
    pub fn client_id(&self) -> Option<&'a str> {
        self.principal.client_id.as_deref()
    }
    /// The granted scopes.
    pub fn scopes(&self) -> &'a [String] {
        &self.principal.scopes
    }
    /// Expiry, seconds since the Unix epoch, if known.
    pub fn expires_at(&self) -> Option<u64> {
        self.principal.expires_at()
    }
    /// The verified claims, if the verifier kept them.
    pub fn claims(&self) -> Option<&'a crate::state::Claims> {
        self.principal.claims()
    }
    /// The principal behind the token.
    pub fn principal(&self) -> &'a Principal {
        self.principal
    }
}

/// The JSON-RPC error code of a call refused for missing scopes. HTTP transports
/// answer it with 403 and `WWW-Authenticate: Bearer error="insufficient_scope"`.
pub const INSUFFICIENT_SCOPE: i32 = -32003;

/// The error for a component that needs `required` scopes the caller's token lacks:
/// code [`INSUFFICIENT_SCOPE`], HTTP status 403, `data` naming the scopes.
///
/// ```
/// let e = ferromcp_core::auth::insufficient_scope("tool `reset`", &["counter:write".to_owned()]);
/// assert_eq!(e.http_status, 403);
/// assert_eq!(e.data.unwrap()["requiredScopes"][0], "counter:write");
/// ```
pub fn insufficient_scope(what: &str, required: &[String]) -> crate::ProtocolError {
    crate::ProtocolError::new(
        INSUFFICIENT_SCOPE,
        format!(
            "Insufficient scope: {what} needs the scope(s) `{}`; obtain a token that grants them",
            required.join(" ")
        ),
    )
    .with_data(serde_json::json!({"error": "insufficient_scope", "requiredScopes": required}))
    .with_status(403)
}

/// The scopes a refused call needs, if `e` is an [`insufficient_scope`] error.
pub fn required_scopes(e: &crate::ProtocolError) -> Option<Vec<String>> {
    if e.code != INSUFFICIENT_SCOPE {
        return None;
    }
    let list = e.data.as_ref()?.get("requiredScopes")?.as_array()?;
    Some(list.iter().filter_map(|v| v.as_str().map(str::to_owned)).collect())
}

/// A rate limiter keyed by caller (a principal's hashed subject, a session id …).
/// `Ok(())` admits the request; `Err(wait)` refuses it until `wait` has passed.
/// Implementations: `ferromcp_auth::LocalRateLimiter` (in-process, GCRA) and
/// `ferromcp_redis::RedisRateLimiter` (shared by several nodes).
pub trait RateLimiter: Send + Sync + 'static {
    /// Takes one request from `key`'s allowance.
    fn check<'a>(&'a self, key: &'a str) -> StoreFuture<'a, Result<(), std::time::Duration>>;
}

/// The token of an `Authorization` header value `Bearer <token>` (scheme
/// case-insensitive, surrounding blanks ignored); `None` for another scheme or an
/// empty token.
///
/// ```
/// use ferromcp_core::auth::bearer_token;
/// assert_eq!(bearer_token("Bearer abc"), Some("abc"));
/// assert_eq!(bearer_token("bearer  abc "), Some("abc"));
/// assert_eq!(bearer_token("Basic abc"), None);
/// assert_eq!(bearer_token("Bearer "), None);
/// ```
pub fn bearer_token(value: &str) -> Option<&str> {
    let (scheme, rest) = value.split_once(' ')?;
    let token = rest.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}
