//! `ctx.access_token()`: the verified access token of the request (subject, client id,
//! scopes, expiry, claims), as the transport's [`TokenVerifier`](crate::auth::TokenVerifier)
//! established it. The raw token is not kept: tokens are never passed on.

use crate::auth::AccessToken;
use crate::context::Context;

impl Context {
    /// The verified access token of this request, if the caller sent one (HTTP with
    /// authentication configured). `None` on stdio and for anonymous callers.
    ///
    /// A session login (a principal a tool stored in the session's state) is not an
    /// access token; see the counter example's `login` tool.
    pub fn access_token(&self) -> Option<AccessToken<'_>> {
        self.principal().map(AccessToken::from_principal)
    }

    /// Whether the caller's token grants every scope in `required` (`false` without a
    /// token, `true` for an empty `required`).
    pub fn has_scopes<S: AsRef<str>>(&self, required: &[S]) -> bool {
        required.is_empty() || self.principal().is_some_and(|p| p.has_scopes(required))
    }
}
