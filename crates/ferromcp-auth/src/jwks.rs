//! The JWKS cache of a [`JwtVerifier`](crate::JwtVerifier): the issuer's public keys,
//! fetched from the JWKS URL on first use, refetched when a token names an unknown
//! `kid` (key rotation) — at most once per `refetch_interval`, so a flood of tokens
//! with made-up key ids costs one fetch per interval — and when older than `max_age`.
//!
//! Fetches are single-flight: concurrent verifications wait for the fetch in progress.
//! Only asymmetric keys are kept (RSA, EC P-256/P-384, OKP Ed25519); symmetric (`oct`)
//! keys are ignored, so HMAC tokens can never verify.

use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, JwkSet};
use jsonwebtoken::{Algorithm, DecodingKey};

use crate::AuthError;

/// The kind of key an algorithm needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Family {
    Rsa,
    EcP256,
    EcP384,
    Ed25519,
}

/// The key family `alg` verifies with, for the asymmetric algorithms accepted.
pub(crate) fn family(alg: Algorithm) -> Option<Family> {
    use Algorithm::*;
    match alg {
        RS256 | RS384 | RS512 | PS256 | PS384 | PS512 => Some(Family::Rsa),
        ES256 => Some(Family::EcP256),
        ES384 => Some(Family::EcP384),
        EdDSA => Some(Family::Ed25519),
        HS256 | HS384 | HS512 => None,
    }
}

/// One usable key.
pub(crate) struct Key {
    pub(crate) kid: Option<String>,
    pub(crate) family: Family,
    /// The JWK's `alg`, if it names one: tokens must then use exactly it.
    pub(crate) alg: Option<Algorithm>,
    pub(crate) key: DecodingKey,
}

impl Key {
    /// Whether this key may verify a token with `alg` and `kid`.
    pub(crate) fn fits(&self, alg: Algorithm, kid: Option<&str>) -> bool {
        family(alg) == Some(self.family)
            && self.alg.is_none_or(|a| a == alg)
            && match kid {
                Some(k) => self.kid.as_deref() == Some(k),
                None => true,
            }
    }
}

struct Loaded {
    keys: Arc<Vec<Key>>,
    at: Option<Instant>,
}

/// The cached key set.
pub(crate) struct Jwks {
    /// Where the set is fetched from; `None` for a fixed set given at build time.
    url: Option<reqwest::Url>,
    http: reqwest::Client,
    loaded: RwLock<Loaded>,
    fetch: tokio::sync::Mutex<Option<Instant>>,
    pub(crate) refetch_interval: Duration,
    pub(crate) max_age: Duration,
}

/// The largest JWKS document accepted.
const MAX_JWKS_BYTES: usize = 1 << 20;

impl Jwks {
    pub(crate) fn new(url: Option<reqwest::Url>, http: reqwest::Client) -> Self {
        Jwks {
            url,
            http,
            loaded: RwLock::new(Loaded { keys: Arc::new(Vec::new()), at: None }),
            fetch: tokio::sync::Mutex::new(None),
            refetch_interval: Duration::from_secs(10),
            max_age: Duration::from_secs(3600),
        }
    }

    fn current(&self) -> (Arc<Vec<Key>>, Option<Instant>) {
        let l = self.loaded.read().unwrap_or_else(|p| p.into_inner());
        (l.keys.clone(), l.at)
    }

    /// The keys to try for a token with `alg`/`kid`, fetching the set if it was never
    /// loaded, is older than `max_age`, or has no fitting key (rate-limited).
    pub(crate) async fn keys_for(&self, alg: Algorithm, kid: Option<&str>) -> Arc<Vec<Key>> {
        let (keys, at) = self.current();
        let fresh = self.url.is_none() || at.is_some_and(|t| t.elapsed() < self.max_age);
        if fresh && keys.iter().any(|k| k.fits(alg, kid)) {
            return keys;
        }
        if let Err(e) = self.refresh(false).await {
            tracing::warn!("{e}");
        }
        self.current().0
    }

    /// Fetches the set now (`force`), or if the last fetch attempt is older than the
    /// refetch interval.
    pub(crate) async fn refresh(&self, force: bool) -> Result<(), AuthError> {
        let Some(url) = &self.url else { return Ok(()) };
        let mut last = self.fetch.lock().await;
        if !force && last.is_some_and(|t| t.elapsed() < self.refetch_interval) {
            return Ok(());
        }
        *last = Some(Instant::now());
        let keys = self.download(url).await?;
        tracing::debug!(%url, keys = keys.len(), "JWKS loaded");
        *self.loaded.write().unwrap_or_else(|p| p.into_inner()) =
            Loaded { keys: Arc::new(keys), at: Some(Instant::now()) };
        Ok(())
    }

    /// Uses `keys` for good (a fixed set: nothing is ever fetched).
    pub(crate) fn fixed(keys: Vec<Key>, http: reqwest::Client) -> Self {
        let j = Jwks::new(None, http);
        *j.loaded.write().unwrap_or_else(|p| p.into_inner()) =
            Loaded { keys: Arc::new(keys), at: Some(Instant::now()) };
        j
    }

    async fn download(&self, url: &reqwest::Url) -> Result<Vec<Key>, AuthError> {
        let err = |why: String| AuthError::Jwks { url: url.to_string(), why };
        let resp = self.http.get(url.clone()).send().await.map_err(|e| err(e.to_string()))?;
        if !resp.status().is_success() {
            return Err(err(format!("HTTP {}", resp.status())));
        }
        if resp.content_length().is_some_and(|n| n > MAX_JWKS_BYTES as u64) {
            return Err(err(format!("larger than {MAX_JWKS_BYTES} bytes")));
        }
        let body = resp.bytes().await.map_err(|e| err(e.to_string()))?;
        if body.len() > MAX_JWKS_BYTES {
            return Err(err(format!("larger than {MAX_JWKS_BYTES} bytes")));
        }
        parse(&body).map_err(err)
    }
}

/// The usable keys of a JWKS document.
pub(crate) fn parse(body: &[u8]) -> Result<Vec<Key>, String> {
    let set: JwkSet = serde_json::from_slice(body).map_err(|e| format!("not a JWK set: {e}"))?;
    let mut out = Vec::new();
    for jwk in &set.keys {
        let fam = match &jwk.algorithm {
            AlgorithmParameters::RSA(_) => Family::Rsa,
            AlgorithmParameters::EllipticCurve(ec) => match ec.curve {
                EllipticCurve::P256 => Family::EcP256,
                EllipticCurve::P384 => Family::EcP384,
                _ => continue,
            },
            AlgorithmParameters::OctetKeyPair(okp) if okp.curve == EllipticCurve::Ed25519 => Family::Ed25519,
            _ => continue, // symmetric or unsupported: never used
        };
        let alg = jwk.common.key_algorithm.and_then(|a| a.to_string().parse::<Algorithm>().ok());
        if alg.is_some_and(|a| family(a) != Some(fam)) {
            continue; // a key whose `alg` contradicts its type
        }
        let Ok(key) = DecodingKey::from_jwk(jwk) else { continue };
        out.push(Key { kid: jwk.common.key_id.clone(), family: fam, alg, key });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn symmetric_and_contradictory_keys_are_dropped() {
        let doc = serde_json::json!({"keys": [
            {"kty": "oct", "k": "c2VjcmV0", "kid": "hmac"},
            {"kty": "OKP", "crv": "Ed25519", "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo", "kid": "ed"},
            {"kty": "OKP", "crv": "Ed25519", "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo", "kid": "bad", "alg": "RS256"}
        ]});
        let keys = parse(doc.to_string().as_bytes()).unwrap();
        assert_eq!(keys.len(), 1);
        assert_eq!(keys[0].kid.as_deref(), Some("ed"));
        assert!(keys[0].fits(Algorithm::EdDSA, Some("ed")));
        assert!(!keys[0].fits(Algorithm::HS256, Some("ed")));
        assert!(!keys[0].fits(Algorithm::EdDSA, Some("other")));
        assert!(parse(b"[]").is_err());
    }
}
