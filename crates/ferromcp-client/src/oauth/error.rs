//! [`OAuthError`]: why the OAuth flow could not produce a token.

/// Why the OAuth client could not obtain or use a token. Each message says what to
/// check or change.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum OAuthError {
    /// An HTTP request to a metadata, registration or token endpoint failed.
    #[error("could not reach {url}: {reason}; check that the authorization server runs")]
    Http {
        /// The URL requested.
        url: String,
        /// What went wrong.
        reason: String,
    },
    /// No protected resource metadata (RFC 9728) was found.
    #[error(
        "the server published no protected resource metadata (tried {tried}); it must serve RFC 9728 metadata to support OAuth"
    )]
    NoResourceMetadata {
        /// The URLs tried, comma separated.
        tried: String,
    },
    /// The protected resource metadata names a different resource than the server URL.
    #[error(
        "the protected resource metadata is for `{published}`, not for the server `{server}`; refusing to authorize (the metadata may be forged)"
    )]
    ResourceMismatch {
        /// The `resource` the metadata published.
        published: String,
        /// The MCP server URL.
        server: String,
    },
    /// No authorization server metadata (RFC 8414 / OpenID discovery) was found.
    #[error(
        "authorization server `{issuer}` published no metadata (tried {tried}); check `authorization_servers` in the resource metadata"
    )]
    NoServerMetadata {
        /// The authorization server identifier.
        issuer: String,
        /// The URLs tried.
        tried: String,
    },
    /// The authorization server metadata names another issuer than the one it was
    /// fetched for (RFC 8414 §3.3).
    #[error(
        "authorization server metadata fetched for `{expected}` claims issuer `{found}`; refusing to use it"
    )]
    IssuerMismatch {
        /// The identifier the well-known URL was built from.
        expected: String,
        /// The `issuer` in the document.
        found: String,
    },
    /// The authorization server does not advertise PKCE with S256.
    #[error(
        "authorization server `{issuer}` does not advertise PKCE S256 (`code_challenge_methods_supported`); MCP requires it, so the flow stops"
    )]
    PkceUnsupported {
        /// The authorization server.
        issuer: String,
    },
    /// There is no way to obtain a client id at this authorization server.
    #[error(
        "no client id for `{issuer}`: it supports neither dynamic registration nor client ID metadata documents; configure a pre-registered client"
    )]
    NoClientId {
        /// The authorization server.
        issuer: String,
    },
    /// The authorization server refused a request (registration, token, authorization).
    #[error("the authorization server refused the {step}: {error}{}", description.as_deref().map(|d| format!(" ({d})")).unwrap_or_default())]
    Refused {
        /// `registration`, `token request`, `authorization`.
        step: String,
        /// The OAuth `error` code or HTTP status.
        error: String,
        /// The `error_description`, if any.
        description: Option<String>,
    },
    /// The authorization response did not come back as expected (state, code, iss).
    #[error("the authorization response is not acceptable: {0}")]
    BadRedirect(String),
    /// The authorization response's `iss` does not identify the authorization server
    /// (RFC 9207).
    #[error(
        "the authorization response came from issuer `{found}`, expected `{expected}`; refusing the code (possible mix-up attack)"
    )]
    WrongIssuer {
        /// The recorded issuer.
        expected: String,
        /// The `iss` parameter received (or `(none)`).
        found: String,
    },
    /// A document from the authorization server could not be parsed.
    #[error("could not parse the {what} from {url}: {reason}")]
    Parse {
        /// What was being parsed.
        what: String,
        /// Where it came from.
        url: String,
        /// The parser's message.
        reason: String,
    },
    /// The redirect hook failed (the user closed the browser, say).
    #[error("the redirect hook failed: {0}")]
    Redirect(String),
    /// The token store failed.
    #[error("the token store failed: {0}")]
    Store(String),
}

impl From<OAuthError> for crate::ClientError {
    fn from(e: OAuthError) -> Self {
        crate::ClientError::Auth(Box::new(e))
    }
}
