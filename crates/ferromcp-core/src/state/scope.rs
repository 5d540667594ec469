//! [`SessionScope`]: whose state a request reads and writes, resolved once per request,
//! and [`Principal`], the authenticated caller.
//!
//! | transport / era | scope |
//! |---|---|
//! | legacy Streamable HTTP | the `Mcp-Session-Id` session |
//! | legacy stdio, in-memory, HTTP+SSE | the connection (id fixed before `initialize`) |
//! | modern, with a `session` handle argument | the handle (bound to its principal) |
//! | modern, authenticated | the principal (hashed) |
//! | modern stdio | the process |
//! | modern in-memory | the connection |
//! | anything else | none: state calls fail with an error that says how to get a scope |

use std::sync::Arc;

use base64::Engine as _;
use sha2::{Digest, Sha256};

/// The owner of a piece of session state.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum SessionScope {
    /// A legacy Streamable HTTP session (`Mcp-Session-Id`).
    Session(Arc<str>),
    /// One connection: stdio or in-memory (legacy), HTTP+SSE.
    Connection(Arc<str>),
    /// An authenticated principal (its hashed subject).
    Principal(Arc<str>),
    /// An explicit session handle from `open_session`.
    Handle(Arc<str>),
    /// This process (modern-era stdio: one process serves one client).
    Process(Arc<str>),
    /// No scope: an unauthenticated 2026-07-28 HTTP call without a handle.
    None,
}

impl SessionScope {
    /// The scope's id, if it has one.
    pub fn id(&self) -> Option<&str> {
        match self {
            SessionScope::Session(s)
            | SessionScope::Connection(s)
            | SessionScope::Principal(s)
            | SessionScope::Handle(s)
            | SessionScope::Process(s) => Some(s),
            SessionScope::None => None,
        }
    }
    /// A short name of the kind: `session`, `connection`, `principal`, `handle`,
    /// `process` or `none`.
    pub fn kind(&self) -> &'static str {
        match self {
            SessionScope::Session(_) => "session",
            SessionScope::Connection(_) => "connection",
            SessionScope::Principal(_) => "principal",
            SessionScope::Handle(_) => "handle",
            SessionScope::Process(_) => "process",
            SessionScope::None => "none",
        }
    }
    /// The key prefix of this scope's state (`kind:id:`), or `None` without a scope.
    /// The full key adds the server's namespace in front (see `engine::keys`).
    pub fn key_prefix(&self) -> Option<String> {
        self.id().map(|id| format!("{}:{id}:", self.kind()))
    }
}

impl std::fmt::Display for SessionScope {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.id() {
            Some(id) => write!(f, "{}:{id}", self.kind()),
            None => f.write_str("none"),
        }
    }
}

/// The process id used for [`SessionScope::Process`] (random per process).
pub(crate) fn process_id() -> Arc<str> {
    static ID: std::sync::OnceLock<Arc<str>> = std::sync::OnceLock::new();
    ID.get_or_init(crate::ids::new_session_id).clone()
}

/// An authenticated caller, as established by a token verifier.
///
/// ```
/// let p = ferromcp_core::state::Principal::new("alice");
/// assert_eq!(p.subject(), "alice");
/// assert_ne!(p.hashed(), "alice"); // state keys never contain the raw subject
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    subject: String,
    hashed: String,
    /// Scopes granted to the token.
    pub scopes: Vec<String>,
    /// The OAuth client id, if known.
    pub client_id: Option<String>,
    /// When the token expires (seconds since the Unix epoch), if known.
    expires_at: Option<u64>,
    /// The token's verified claims (a JWT's payload, an introspection answer), if any.
    claims: Option<Claims>,
}

/// A token's verified claims: a JSON object, shared (cloning a principal is cheap).
#[derive(Debug, Clone, PartialEq)]
pub struct Claims(Arc<serde_json::Map<String, serde_json::Value>>);

// JSON values hold no NaN (serde_json refuses it), so equality is an equivalence.
impl Eq for Claims {}

impl Claims {
    /// Wraps a claims object.
    pub fn new(map: serde_json::Map<String, serde_json::Value>) -> Self {
        Claims(Arc::new(map))
    }
    /// The claims object.
    pub fn as_map(&self) -> &serde_json::Map<String, serde_json::Value> {
        &self.0
    }
    /// One claim.
    pub fn get(&self, name: &str) -> Option<&serde_json::Value> {
        self.0.get(name)
    }
}

impl Principal {
    /// A principal with `subject` (a user id, service name …).
    pub fn new(subject: impl Into<String>) -> Self {
        let subject = subject.into();
        let digest = Sha256::digest(subject.as_bytes());
        let hashed = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&digest[..18]);
        Principal { subject, hashed, scopes: Vec::new(), client_id: None, expires_at: None, claims: None }
    }
    /// Adds scopes.
    pub fn with_scopes<I: IntoIterator<Item = S>, S: Into<String>>(mut self, scopes: I) -> Self {
        self.scopes.extend(scopes.into_iter().map(Into::into));
        self
    }
    /// Sets the OAuth client id.
    pub fn with_client_id(mut self, client_id: impl Into<String>) -> Self {
        self.client_id = Some(client_id.into());
        self
    }
    /// Sets the token's expiry (seconds since the Unix epoch).
    pub fn with_expiry(mut self, expires_at: u64) -> Self {
        self.expires_at = Some(expires_at);
        self
    }
    /// Attaches the token's verified claims.
    pub fn with_claims(mut self, claims: serde_json::Map<String, serde_json::Value>) -> Self {
        self.claims = Some(Claims::new(claims));
        self
    }
    /// Whether every scope in `required` was granted.
    pub fn has_scopes<S: AsRef<str>>(&self, required: &[S]) -> bool {
        required.iter().all(|r| self.scopes.iter().any(|s| s == r.as_ref()))
    }
    /// When the token expires (seconds since the Unix epoch), if known.
    pub fn expires_at(&self) -> Option<u64> {
        self.expires_at
    }
    /// The token's verified claims, if the verifier kept them.
    pub fn claims(&self) -> Option<&Claims> {
        self.claims.as_ref()
    }
    /// The subject.
    pub fn subject(&self) -> &str {
        &self.subject
    }
    /// The hashed subject, used in state keys and session bindings.
    pub fn hashed(&self) -> &str {
        &self.hashed
    }
}
