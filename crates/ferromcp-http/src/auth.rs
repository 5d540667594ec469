//! Bearer authentication for the HTTP app (an OAuth 2.1 resource server):
//!
//! - `Authorization: Bearer <token>` is verified by the configured [`TokenVerifier`]
//!   (`StaticBearer`, `ferromcp_auth::JwtVerifier`, `IntrospectionVerifier`, yours);
//!   the token is used for that only, never passed on.
//! - A missing token (when required) or an invalid one is 401 with
//!   `WWW-Authenticate: Bearer resource_metadata="…"` pointing at the RFC 9728 document
//!   (see [`ResourceMetadata`]), plus `error="invalid_token"` when a token was sent.
//! - A call to a component needing scopes the token lacks is 403 with
//!   `WWW-Authenticate: Bearer error="insufficient_scope", scope="…"` (step-up).
//! - An optional per-principal [`RateLimiter`]: over-rate requests are 429 with
//!   `Retry-After`.
//! - Legacy sessions are bound to the principal that created them (another principal,
//!   or none, gets 404).

use std::sync::Arc;

use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::Response;
use ferromcp_core::ProtocolError;
use ferromcp_core::auth::{RateLimiter, TokenVerifier};
use ferromcp_core::jsonrpc::Request;
use ferromcp_core::session::Session;
use ferromcp_core::state::Principal;

pub use ferromcp_core::auth::bearer_token;

use crate::post::error_response;
use crate::resource_metadata::ResourceMetadata;

/// The verifier, whether every request must carry a valid token, the protected
/// resource metadata and an optional rate limiter.
#[derive(Clone)]
pub struct HttpAuth {
    pub(crate) verifier: Arc<dyn TokenVerifier>,
    pub(crate) required: bool,
    pub(crate) metadata: Option<Arc<ResourceMetadata>>,
    pub(crate) rate_limiter: Option<Arc<dyn RateLimiter>>,
}

impl std::fmt::Debug for HttpAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpAuth")
            .field("required", &self.required)
            .field("metadata", &self.metadata)
            .finish_non_exhaustive()
    }
}

impl HttpAuth {
    /// Every request must carry a token the verifier accepts.
    pub fn required(verifier: impl TokenVerifier) -> Self {
        Self::required_arc(Arc::new(verifier))
    }
    /// [`required`](Self::required) with a shared verifier.
    pub fn required_arc(verifier: Arc<dyn TokenVerifier>) -> Self {
        HttpAuth { verifier, required: true, metadata: None, rate_limiter: None }
    }
    /// Tokens are verified when present; requests without one are anonymous.
    pub fn optional(verifier: impl TokenVerifier) -> Self {
        HttpAuth { verifier: Arc::new(verifier), required: false, metadata: None, rate_limiter: None }
    }
    /// Serves `meta` at the RFC 9728 well-known paths and names it in 401 challenges.
    pub fn resource_metadata(mut self, meta: ResourceMetadata) -> Self {
        self.metadata = Some(Arc::new(meta));
        self
    }
    /// Limits each caller's request rate: keyed by the principal's hashed subject, or by
    /// the client's IP address for anonymous requests. Over-rate requests get 429.
    pub fn rate_limit(mut self, limiter: impl RateLimiter) -> Self {
        self.rate_limiter = Some(Arc::new(limiter));
        self
    }
    /// [`rate_limit`](Self::rate_limit) with a shared limiter.
    pub fn rate_limit_arc(mut self, limiter: Arc<dyn RateLimiter>) -> Self {
        self.rate_limiter = Some(limiter);
        self
    }

    /// The `WWW-Authenticate` value: `Bearer` with `resource_metadata` when configured
    /// and the given extra parameters.
    fn challenge(&self, extra: &[(&str, &str)]) -> HeaderValue {
        let mut params: Vec<String> = Vec::new();
        if let Some(m) = &self.metadata {
            params.push(format!("resource_metadata=\"{}\"", quoted(&m.metadata_url())));
        }
        params.extend(extra.iter().map(|(k, v)| format!("{k}=\"{}\"", quoted(v))));
        let v = if params.is_empty() { "Bearer".to_owned() } else { format!("Bearer {}", params.join(", ")) };
        HeaderValue::from_str(&v).unwrap_or_else(|_| HeaderValue::from_static("Bearer"))
    }
}

/// A quoted-string body: no `"` or `\`, no control characters.
fn quoted(s: &str) -> String {
    s.chars().filter(|c| *c != '"' && *c != '\\' && !c.is_control()).collect()
}

fn refuse(status: u16, why: String, challenge: HeaderValue) -> Response {
    let mut r = error_response(&ProtocolError::invalid_request(why).with_status(status), None);
    r.headers_mut().insert(header::WWW_AUTHENTICATE, challenge);
    r
}

/// The request's principal, or the response that refuses it (401, or 429 when the
/// caller is over its rate).
pub(crate) async fn authenticate(
    auth: Option<&HttpAuth>,
    headers: &HeaderMap,
    peer: Option<std::net::IpAddr>,
) -> Result<Option<Arc<Principal>>, Response> {
    let Some(auth) = auth else { return Ok(None) };
    let value = headers.get(header::AUTHORIZATION).map(|v| v.to_str().unwrap_or(""));
    let token = value.and_then(bearer_token);
    let principal = match (value, token) {
        (None, _) if !auth.required => None,
        (None, _) => {
            let why = "Unauthorized: send `Authorization: Bearer <token>`".to_owned();
            return Err(refuse(401, why, auth.challenge(&[])));
        }
        (Some(_), None) => {
            let why = "Unauthorized: only Bearer tokens are accepted".to_owned();
            return Err(refuse(401, why, auth.challenge(&[("error", "invalid_request")])));
        }
        (Some(_), Some(t)) => match auth.verifier.verify(t).await {
            Some(p) => Some(Arc::new(p)),
            None => {
                let why = "Unauthorized: the token is not valid (expired, wrong issuer or audience, or bad signature); obtain a new one".to_owned();
                return Err(refuse(401, why, auth.challenge(&[("error", "invalid_token")])));
            }
        },
    };
    if let Some(limiter) = &auth.rate_limiter {
        let key = match (&principal, peer) {
            (Some(p), _) => format!("principal:{}", p.hashed()),
            (None, Some(ip)) => format!("ip:{ip}"),
            (None, None) => "anonymous".to_owned(),
        };
        if let Err(wait) = limiter.check(&key).await {
            let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
            let mut r = error_response(
                &ProtocolError::invalid_request(format!(
                    "Too Many Requests: this caller's rate limit is reached; retry in {secs} s"
                ))
                .with_status(429),
                None,
            );
            r.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(secs.max(1)));
            return Err(r);
        }
    }
    Ok(principal)
}

/// The 403 step-up answer when `req` calls a component needing scopes `principal`
/// lacks; `None` when nothing is missing (or authentication is off).
pub(crate) fn scope_refusal(
    auth: Option<&HttpAuth>,
    server: &ferromcp_core::Server,
    req: &Request,
    principal: Option<&Principal>,
) -> Option<Response> {
    let auth = auth?;
    let name = req.name.as_deref()?;
    let need = server.registry().snapshot().missing_scopes(&req.method, name, principal)?;
    let e = ferromcp_core::auth::insufficient_scope(&format!("`{name}`"), &need);
    let mut r = error_response(&e, Some(&req.id));
    let scope = need.join(" ");
    let challenge = auth.challenge(&[("error", "insufficient_scope"), ("scope", &scope)]);
    r.headers_mut().insert(header::WWW_AUTHENTICATE, challenge);
    Some(r)
}

/// Whether `principal` may use `session` (sessions are bound to their creator).
pub(crate) fn may_use(session: &Session, principal: Option<&Principal>) -> bool {
    session.principal() == principal.map(Principal::hashed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_values() {
        assert_eq!(bearer_token("Bearer abc"), Some("abc"));
        assert_eq!(bearer_token("bEaReR  abc "), Some("abc"));
        assert_eq!(bearer_token("Basic abc"), None);
        assert_eq!(bearer_token("Bearer "), None);
        assert_eq!(bearer_token("Bearer"), None);
    }

    #[test]
    fn challenges_name_the_metadata_and_never_break_the_header() {
        let a = HttpAuth::required(ferromcp_core::auth::StaticBearer::new())
            .resource_metadata(ResourceMetadata::new("http://127.0.0.1:9/mcp"));
        let v = a.challenge(&[("error", "invalid_token")]);
        assert_eq!(
            v.to_str().unwrap(),
            "Bearer resource_metadata=\"http://127.0.0.1:9/.well-known/oauth-protected-resource/mcp\", error=\"invalid_token\""
        );
        let v = a.challenge(&[("scope", "a\"b\\c\nd")]);
        assert!(v.to_str().unwrap().ends_with("scope=\"abcd\""));
    }
}
