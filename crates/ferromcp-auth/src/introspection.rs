//! [`IntrospectionVerifier`]: opaque access tokens checked at the authorization
//! server's RFC 7662 token introspection endpoint, authenticating as a confidential
//! client (HTTP Basic with client id and secret).
//!
//! An `active` answer with a subject (`sub`, else `username`) is accepted, if it names
//! the configured audience (when one is set) and issuer (when one is set). Accepted
//! tokens are cached by their SHA-256 until `exp` (at most `max_cache_ttl`, default
//! one minute, so a revocation is seen within it); refusals are not cached. The token
//! goes to the introspection endpoint only, never anywhere else.

use std::sync::Arc;
use std::time::Duration;

use ferromcp_core::auth::TokenVerifier;
use ferromcp_core::state::{Principal, StoreFuture};
use serde_json::{Map, Value};

use crate::AuthError;
use crate::cache::{TokenCache, token_key};

/// Verifies opaque tokens by RFC 7662 introspection. Cheap to clone.
///
/// ```
/// use ferromcp_auth::IntrospectionVerifier;
/// let v = IntrospectionVerifier::builder("https://id.example.com/oauth2/introspect", "mcp-server", "secret")
///     .audience("https://mcp.example.com/mcp")
///     .build()
///     .unwrap();
/// # drop(v);
/// ```
#[derive(Clone)]
pub struct IntrospectionVerifier {
    inner: Arc<Inner>,
}

struct Inner {
    endpoint: reqwest::Url,
    client_id: String,
    client_secret: String,
    audience: Option<String>,
    issuer: Option<String>,
    http: reqwest::Client,
    cache: TokenCache,
}

impl std::fmt::Debug for IntrospectionVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IntrospectionVerifier")
            .field("endpoint", &self.inner.endpoint.as_str())
            .field("client_id", &self.inner.client_id)
            .finish_non_exhaustive()
    }
}

/// Builds an [`IntrospectionVerifier`].
#[derive(Debug, Clone)]
pub struct IntrospectionBuilder {
    endpoint: String,
    client_id: String,
    client_secret: String,
    audience: Option<String>,
    issuer: Option<String>,
    cache_entries: usize,
    max_cache_ttl: Duration,
    timeout: Duration,
}

impl IntrospectionVerifier {
    /// Starts a verifier asking `endpoint` (`https`, or `http` on loopback) as the
    /// confidential client `client_id` / `client_secret`.
    pub fn builder(
        endpoint: impl Into<String>,
        client_id: impl Into<String>,
        client_secret: impl Into<String>,
    ) -> IntrospectionBuilder {
        IntrospectionBuilder {
            endpoint: endpoint.into(),
            client_id: client_id.into(),
            client_secret: client_secret.into(),
            audience: None,
            issuer: None,
            cache_entries: 10_000,
            max_cache_ttl: Duration::from_secs(60),
            timeout: Duration::from_secs(10),
        }
    }

    async fn introspect(&self, token: &str) -> Result<Principal, String> {
        let i = &self.inner;
        let resp = i
            .http
            .post(i.endpoint.clone())
            .basic_auth(&i.client_id, Some(&i.client_secret))
            .header("accept", "application/json")
            .form(&[("token", token), ("token_type_hint", "access_token")])
            .send()
            .await
            .map_err(|e| format!("introspection request failed: {e}"))?;
        if !resp.status().is_success() {
            return Err(format!("introspection endpoint answered HTTP {}", resp.status()));
        }
        let body = resp.bytes().await.map_err(|e| e.to_string())?;
        let claims: Map<String, Value> =
            serde_json::from_slice(&body).map_err(|e| format!("introspection answer is not a JSON object: {e}"))?;
        principal(claims, i.audience.as_deref(), i.issuer.as_deref())
    }
}

/// The principal of an introspection answer, checked.
fn principal(claims: Map<String, Value>, audience: Option<&str>, issuer: Option<&str>) -> Result<Principal, String> {
    if claims.get("active") != Some(&Value::Bool(true)) {
        return Err("the token is not active".into());
    }
    if let Some(aud) = audience {
        let ok = match claims.get("aud") {
            Some(Value::String(s)) => s == aud,
            Some(Value::Array(a)) => a.iter().any(|v| v.as_str() == Some(aud)),
            _ => false,
        };
        if !ok {
            return Err(format!("the token is not for audience `{aud}`"));
        }
    }
    if let Some(iss) = issuer
        && claims.get("iss").and_then(Value::as_str) != Some(iss)
    {
        return Err(format!("the token was not issued by `{iss}`"));
    }
    if let Some(exp) = claims.get("exp").and_then(Value::as_u64)
        && exp <= crate::cache::unix_now()
    {
        return Err("the token has expired".into());
    }
    let sub = claims
        .get("sub")
        .or_else(|| claims.get("username"))
        .and_then(Value::as_str)
        .ok_or("the introspection answer has no `sub`")?;
    let mut p = Principal::new(sub);
    if let Some(s) = claims.get("scope").and_then(Value::as_str) {
        p = p.with_scopes(s.split_whitespace());
    }
    if let Some(c) = claims.get("client_id").and_then(Value::as_str) {
        p = p.with_client_id(c);
    }
    if let Some(exp) = claims.get("exp").and_then(Value::as_u64) {
        p = p.with_expiry(exp);
    }
    Ok(p.with_claims(claims))
}

impl TokenVerifier for IntrospectionVerifier {
    fn verify<'a>(&'a self, token: &'a str) -> StoreFuture<'a, Option<Principal>> {
        Box::pin(async move {
            let key = token_key(token);
            if let Some(p) = self.inner.cache.get(&key) {
                return Some(p);
            }
            match self.introspect(token).await {
                Ok(p) => {
                    self.inner.cache.insert(key, &p);
                    Some(p)
                }
                Err(why) => {
                    tracing::debug!("token refused by introspection: {why}");
                    None
                }
            }
        })
    }
}

impl IntrospectionBuilder {
    /// Requires `aud` to name this audience (the server's canonical URI).
    pub fn audience(mut self, audience: impl Into<String>) -> Self {
        self.audience = Some(audience.into());
        self
    }
    /// Requires `iss` to be this issuer.
    pub fn issuer(mut self, issuer: impl Into<String>) -> Self {
        self.issuer = Some(issuer.into());
        self
    }
    /// How many accepted tokens are cached (default 10,000; 0 turns the cache off).
    pub fn cache_entries(mut self, n: usize) -> Self {
        self.cache_entries = n;
        self
    }
    /// The longest an accepted token is cached (default one minute).
    pub fn max_cache_ttl(mut self, ttl: Duration) -> Self {
        self.max_cache_ttl = ttl;
        self
    }
    /// Timeout of one introspection request (default 10 s).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }
    /// Checks the endpoint and builds the verifier (no network access yet).
    pub fn build(self) -> Result<IntrospectionVerifier, AuthError> {
        let endpoint = crate::url::endpoint(&self.endpoint)?;
        let http = reqwest::Client::builder()
            .timeout(self.timeout)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| AuthError::BadUrl { url: self.endpoint.clone(), why: e.to_string() })?;
        Ok(IntrospectionVerifier {
            inner: Arc::new(Inner {
                endpoint,
                client_id: self.client_id,
                client_secret: self.client_secret,
                audience: self.audience,
                issuer: self.issuer,
                http,
                cache: TokenCache::new(self.cache_entries, self.max_cache_ttl),
            }),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn obj(v: Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap()
    }

    #[test]
    fn answers_are_checked() {
        let exp = crate::cache::unix_now() + 60;
        let ok =
            json!({"active": true, "sub": "alice", "scope": "a b", "client_id": "c", "exp": exp, "aud": ["x", "mcp"]});
        let p = principal(obj(ok.clone()), Some("mcp"), None).unwrap();
        assert_eq!((p.subject(), p.scopes.len(), p.client_id.as_deref()), ("alice", 2, Some("c")));
        assert!(principal(obj(ok.clone()), Some("other"), None).is_err());
        assert!(principal(obj(ok), None, Some("iss")).is_err());
        assert!(principal(obj(json!({"active": false, "sub": "a"})), None, None).is_err());
        assert!(principal(obj(json!({"active": true})), None, None).is_err());
        assert!(principal(obj(json!({"active": true, "sub": "a", "exp": 1})), None, None).is_err());
    }
}
