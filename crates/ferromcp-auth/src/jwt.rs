//! [`JwtVerifier`]: JWT access tokens signed by an OAuth 2.1 authorization server
//! (Keycloak, Auth0, Entra ID, Okta …), verified against the issuer's JWKS.
//!
//! A token is accepted when:
//! - its header `alg` is in the allowed list (default: RS256/384/512, PS256/384/512,
//!   ES256/384, EdDSA). `alg: none` does not even parse, and HMAC algorithms are not
//!   allowed — so an HS256 token "signed" with the issuer's public key is refused;
//! - a JWKS key of the right type (and `kid`, and `alg` if the key names one) verifies
//!   its signature; an unknown `kid` triggers a rate-limited JWKS refetch;
//! - `iss` is the configured issuer and `aud` contains the configured audience (the
//!   server's canonical URI, RFC 8707);
//! - `exp` is in the future and `nbf` (if present) in the past, with a small leeway;
//! - it has a `sub`.
//!
//! The principal gets `sub`, the scopes (`scope`, space-separated, or `scp`), the
//! client id (`client_id` or `azp`), `exp`, and all claims. Verified tokens are cached
//! by their SHA-256 until `exp` (at most five minutes), so a client reusing its token
//! costs a hash and a map lookup per request, not a signature check.

use std::sync::Arc;
use std::time::Duration;

use ferromcp_core::auth::TokenVerifier;
use ferromcp_core::state::{Principal, StoreFuture};
use jsonwebtoken::{Algorithm, Validation};
use serde_json::{Map, Value};

use crate::AuthError;
use crate::cache::{TokenCache, token_key};
use crate::jwks::{Jwks, family};

/// The asymmetric algorithms accepted by default.
pub const DEFAULT_ALGORITHMS: [Algorithm; 9] = [
    Algorithm::RS256,
    Algorithm::RS384,
    Algorithm::RS512,
    Algorithm::PS256,
    Algorithm::PS384,
    Algorithm::PS512,
    Algorithm::ES256,
    Algorithm::ES384,
    Algorithm::EdDSA,
];

/// Verifies JWT access tokens against an issuer's JWKS. Cheap to clone.
///
/// ```
/// use ferromcp_auth::JwtVerifier;
/// let v = JwtVerifier::builder("http://127.0.0.1:8080/jwks.json")
///     .issuer("http://127.0.0.1:8080/")
///     .audience("http://127.0.0.1:3002/mcp")
///     .build()
///     .unwrap();
/// // Plain http is for loopback only:
/// assert!(JwtVerifier::builder("http://id.example.com/jwks").issuer("i").audience("a").build().is_err());
/// # drop(v);
/// ```
#[derive(Clone)]
pub struct JwtVerifier {
    inner: Arc<Inner>,
}

struct Inner {
    jwks: Jwks,
    issuer: String,
    audience: String,
    algorithms: Vec<Algorithm>,
    leeway: u64,
    cache: TokenCache,
}

impl std::fmt::Debug for JwtVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JwtVerifier")
            .field("issuer", &self.inner.issuer)
            .field("audience", &self.inner.audience)
            .finish_non_exhaustive()
    }
}

/// Builds a [`JwtVerifier`]; `issuer` and `audience` are required.
#[derive(Debug, Clone)]
pub struct JwtVerifierBuilder {
    jwks_url: String,
    /// A fixed JWKS document instead of the URL.
    jwks_document: Option<String>,
    issuer: Option<String>,
    audience: Option<String>,
    algorithms: Vec<Algorithm>,
    leeway: Duration,
    refetch_interval: Duration,
    max_age: Duration,
    cache_entries: usize,
    timeout: Duration,
}

impl JwtVerifier {
    /// Starts a verifier whose keys are at `jwks_url` (`https`, or `http` on loopback).
    pub fn builder(jwks_url: impl Into<String>) -> JwtVerifierBuilder {
        JwtVerifierBuilder {
            jwks_url: jwks_url.into(),
            jwks_document: None,
            issuer: None,
            audience: None,
            algorithms: DEFAULT_ALGORITHMS.to_vec(),
            leeway: Duration::from_secs(30),
            refetch_interval: Duration::from_secs(10),
            max_age: Duration::from_secs(3600),
            cache_entries: 10_000,
            timeout: Duration::from_secs(10),
        }
    }

    /// Starts a verifier with a fixed key set (a JWKS JSON document), fetched from
    /// nowhere: for keys distributed with the configuration, tests and benchmarks.
    pub fn builder_with_jwks(jwks_json: impl Into<String>) -> JwtVerifierBuilder {
        let mut b = Self::builder("");
        b.jwks_document = Some(jwks_json.into());
        b
    }

    /// Loads the JWKS now (verification also loads it lazily), so a misconfigured or
    /// unreachable issuer shows at startup.
    pub async fn prefetch(&self) -> Result<(), AuthError> {
        self.inner.jwks.refresh(true).await
    }

    /// The configured audience (the server's canonical URI).
    pub fn audience(&self) -> &str {
        &self.inner.audience
    }

    /// The configured issuer.
    pub fn issuer(&self) -> &str {
        &self.inner.issuer
    }

    /// Verifies `token` without the verified-token cache: the full signature and
    /// claims check (used by benchmarks; [`TokenVerifier::verify`] caches).
    pub async fn verify_uncached(&self, token: &str) -> Result<Principal, String> {
        let inner = &self.inner;
        let header = jsonwebtoken::decode_header(token).map_err(|e| format!("bad JWT header: {e}"))?;
        if !inner.algorithms.contains(&header.alg) || family(header.alg).is_none() {
            return Err(format!("algorithm {:?} is not accepted", header.alg));
        }
        let mut validation = Validation::new(header.alg);
        validation.algorithms = vec![header.alg];
        validation.leeway = inner.leeway;
        validation.validate_exp = true;
        validation.validate_nbf = true;
        validation.set_issuer(&[&inner.issuer]);
        validation.set_audience(&[&inner.audience]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        let keys = inner.jwks.keys_for(header.alg, header.kid.as_deref()).await;
        let mut last = String::from("no JWKS key fits the token's alg/kid");
        for key in keys.iter().filter(|k| k.fits(header.alg, header.kid.as_deref())) {
            match jsonwebtoken::decode::<Map<String, Value>>(token, &key.key, &validation) {
                Ok(data) => return principal(data.claims),
                Err(e) => last = e.to_string(),
            }
        }
        Err(last)
    }
}

/// The principal of verified claims.
fn principal(claims: Map<String, Value>) -> Result<Principal, String> {
    let sub = claims.get("sub").and_then(Value::as_str).ok_or("the token has no string `sub`")?;
    let mut p = Principal::new(sub);
    let scopes: Vec<String> = match claims.get("scope").or_else(|| claims.get("scp")) {
        Some(Value::String(s)) => s.split_whitespace().map(str::to_owned).collect(),
        Some(Value::Array(a)) => a.iter().filter_map(|v| v.as_str().map(str::to_owned)).collect(),
        _ => Vec::new(),
    };
    p = p.with_scopes(scopes);
    if let Some(c) = claims.get("client_id").or_else(|| claims.get("azp")).and_then(Value::as_str) {
        p = p.with_client_id(c);
    }
    if let Some(exp) = claims.get("exp").and_then(Value::as_u64) {
        p = p.with_expiry(exp);
    }
    Ok(p.with_claims(claims))
}

impl TokenVerifier for JwtVerifier {
    fn verify<'a>(&'a self, token: &'a str) -> StoreFuture<'a, Option<Principal>> {
        Box::pin(async move {
            let key = token_key(token);
            if let Some(p) = self.inner.cache.get(&key) {
                return Some(p);
            }
            match self.verify_uncached(token).await {
                Ok(p) => {
                    self.inner.cache.insert(key, &p);
                    Some(p)
                }
                Err(why) => {
                    tracing::debug!("JWT refused: {why}");
                    None
                }
            }
        })
    }
}

impl JwtVerifierBuilder {
    /// The expected `iss` (required).
    pub fn issuer(mut self, issuer: impl Into<String>) -> Self {
        self.issuer = Some(issuer.into());
        self
    }
    /// The expected `aud`: the server's canonical URI, the `resource` of its protected
    /// resource metadata (required).
    pub fn audience(mut self, audience: impl Into<String>) -> Self {
        self.audience = Some(audience.into());
        self
    }
    /// Restricts the accepted algorithms (HMAC ones are never accepted).
    pub fn algorithms(mut self, algs: impl IntoIterator<Item = Algorithm>) -> Self {
        self.algorithms = algs.into_iter().filter(|a| family(*a).is_some()).collect();
        self
    }
    /// Clock leeway for `exp` and `nbf` (default 30 s).
    pub fn leeway(mut self, leeway: Duration) -> Self {
        self.leeway = leeway;
        self
    }
    /// The least time between two JWKS fetches caused by unknown key ids (default 10 s).
    pub fn refetch_interval(mut self, interval: Duration) -> Self {
        self.refetch_interval = interval;
        self
    }
    /// How long a fetched JWKS is used before it is fetched again (default one hour).
    pub fn max_jwks_age(mut self, age: Duration) -> Self {
        self.max_age = age;
        self
    }
    /// How many verified tokens are cached (default 10,000; 0 turns the cache off).
    pub fn cache_entries(mut self, n: usize) -> Self {
        self.cache_entries = n;
        self
    }
    /// Timeout of a JWKS fetch (default 10 s).
    pub fn fetch_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }
    /// Checks the settings and builds the verifier (no network access yet).
    pub fn build(self) -> Result<JwtVerifier, AuthError> {
        let url = match &self.jwks_document {
            Some(_) => None,
            None => Some(crate::url::endpoint(&self.jwks_url)?),
        };
        let issuer = self.issuer.ok_or(AuthError::Missing("JwtVerifier needs an issuer: call .issuer(..)"))?;
        let audience = self.audience.ok_or(AuthError::Missing(
            "JwtVerifier needs an audience (the server's canonical URI): call .audience(..)",
        ))?;
        if self.algorithms.is_empty() {
            return Err(AuthError::Missing("JwtVerifier needs at least one asymmetric algorithm"));
        }
        let http = reqwest::Client::builder()
            .timeout(self.timeout)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| AuthError::BadUrl { url: self.jwks_url.clone(), why: e.to_string() })?;
        let mut jwks = match &self.jwks_document {
            Some(doc) => Jwks::fixed(
                crate::jwks::parse(doc.as_bytes())
                    .map_err(|why| AuthError::Jwks { url: "(the JWKS document given)".into(), why })?,
                http,
            ),
            None => Jwks::new(url, http),
        };
        jwks.refetch_interval = self.refetch_interval;
        jwks.max_age = self.max_age;
        Ok(JwtVerifier {
            inner: Arc::new(Inner {
                jwks,
                issuer,
                audience,
                algorithms: self.algorithms,
                leeway: self.leeway.as_secs(),
                cache: TokenCache::new(self.cache_entries, Duration::from_secs(300)),
            }),
        })
    }
}
