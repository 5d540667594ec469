//! Sealed MRTR continuation state (`requestState`, 2026-07-28).
//!
//! When a handler asks the client for input on the modern era, the call ends with an
//! `InputRequiredResult` whose `requestState` carries the answers gathered so far. The
//! state is sealed with HMAC-SHA256 over: the principal (hashed; empty when the request
//! is unauthenticated), the method, the target (tool/prompt name or resource URI), a
//! digest of the arguments, an expiry, the answers and memoised values. On the retry
//! ferromcp verifies it before replaying the handler; tampered, expired or foreign state
//! (another principal, another request, a key no longer in the ring) is a `-32602` error.
//!
//! The key is configuration: every node of a deployment must share it, or a retry that
//! lands on another node fails verification. A [`Sealer`] holds a key ring: it seals
//! with the current key and opens with the current key or any previous key, so a key
//! rotates without breaking retries in flight (keep the old key as a previous key for at
//! least the state TTL, then remove it). [`Sealer::random`] is for single-process
//! servers and tests.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use hmac::{KeyInit, Mac};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::error::ProtocolError;
use crate::state::Principal;

type HmacSha256 = hmac::Hmac<Sha256>;

/// What a sealed state is bound to: the caller and the request. Built only by
/// [`Binding::new`], which takes the principal, so a binding cannot leave it out by
/// accident.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Binding {
    principal: String,
    method: String,
    target: String,
    args_digest: String,
}

impl Binding {
    /// Binds to `principal` (its hashed subject; `None` for an unauthenticated request),
    /// the `method` (`tools/call`, `prompts/get`, `resources/read`), the `target` (tool or
    /// prompt name, resource URI) and the digest of the arguments (see
    /// [`digest_arguments`]).
    pub fn new(
        principal: Option<&Principal>,
        method: impl Into<String>,
        target: impl Into<String>,
        args_digest: impl Into<String>,
    ) -> Self {
        Binding {
            principal: principal.map(|p| p.hashed().to_owned()).unwrap_or_default(),
            method: method.into(),
            target: target.into(),
            args_digest: args_digest.into(),
        }
    }
    /// The hashed principal, empty when unauthenticated.
    pub fn principal(&self) -> &str {
        &self.principal
    }
    /// The method.
    pub fn method(&self) -> &str {
        &self.method
    }
    /// The tool or prompt name, or the resource URI.
    pub fn target(&self) -> &str {
        &self.target
    }
    /// The digest of the arguments.
    pub fn args_digest(&self) -> &str {
        &self.args_digest
    }
}

/// The content of a state: answers by ask key, memoised values by key.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Continuation {
    /// Answers recorded in earlier rounds.
    #[serde(rename = "a", default)]
    pub answers: BTreeMap<String, Value>,
    /// Values memoised with `ctx.once`.
    #[serde(rename = "o", default)]
    pub once: BTreeMap<String, Value>,
    /// Round number (1 for the first `input_required`).
    #[serde(rename = "r", default)]
    pub round: u32,
}

#[derive(Serialize, Deserialize)]
struct Payload {
    v: u8,
    p: String,
    m: String,
    t: String,
    d: String,
    exp: u64,
    #[serde(flatten)]
    c: Continuation,
}

/// The operating system's random number generator failed while drawing a sealing key.
#[derive(Debug, thiserror::Error)]
#[error(
    "could not draw a random requestState sealing key from the operating system: {0}; \
     configure a key with ServerBuilder::sealing_key"
)]
pub struct RandomKeyError(String);

type Key = [u8; 32];

fn derive_key(material: &[u8]) -> Key {
    Sha256::digest(material).into()
}

/// Seals and opens `requestState` values with a key ring: the current key seals, the
/// current and every previous key open.
#[derive(Clone)]
pub struct Sealer {
    current: Key,
    previous: Vec<Key>,
    ttl: Duration,
}

impl std::fmt::Debug for Sealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sealer")
            .field("ttl", &self.ttl)
            .field("previous_keys", &self.previous.len())
            .finish_non_exhaustive()
    }
}

fn now_secs() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

fn invalid_state(why: &str) -> ProtocolError {
    ProtocolError::invalid_params(format!("Invalid requestState: {why}; retry the original request without it"))
}

impl Sealer {
    /// A sealer with key material `key` (any length; hashed to 32 bytes) and state TTL.
    ///
    /// ```
    /// use ferromcp_core::mrtr::{Sealer, Binding, Continuation, digest_arguments};
    /// use ferromcp_core::state::Principal;
    /// let s = Sealer::new(b"shared secret of the deployment", std::time::Duration::from_secs(600));
    /// let alice = Principal::new("alice");
    /// let b = Binding::new(Some(&alice), "tools/call", "t", digest_arguments(None));
    /// let sealed = s.seal(&b, &Continuation::default());
    /// assert!(s.open(&sealed, &b).is_ok());
    /// assert!(s.open(&format!("{sealed}-TAMPERED"), &b).is_err());
    /// let bob = Binding::new(Some(&Principal::new("bob")), "tools/call", "t", digest_arguments(None));
    /// assert!(s.open(&sealed, &bob).is_err(), "bound to alice");
    /// ```
    pub fn new(key: &[u8], ttl: Duration) -> Self {
        Sealer { current: derive_key(key), previous: Vec::new(), ttl }
    }

    /// A key ring: seals with `current`, opens with `current` or any of `previous`. To
    /// rotate, make the new key current and keep the old one in `previous` for at least
    /// the state TTL; state sealed under a key that is no longer in the ring is rejected.
    ///
    /// ```
    /// use std::time::Duration;
    /// use ferromcp_core::mrtr::{Sealer, Binding, Continuation, digest_arguments};
    /// let b = Binding::new(None, "tools/call", "t", digest_arguments(None));
    /// let old = Sealer::new(b"key A", Duration::from_secs(600));
    /// let sealed = old.seal(&b, &Continuation::default());
    /// let rotated = Sealer::with_keys(b"key B", [b"key A"], Duration::from_secs(600));
    /// assert!(rotated.open(&sealed, &b).is_ok());
    /// let removed = Sealer::new(b"key B", Duration::from_secs(600));
    /// assert!(removed.open(&sealed, &b).is_err());
    /// ```
    pub fn with_keys<I, K>(current: &[u8], previous: I, ttl: Duration) -> Self
    where
        I: IntoIterator<Item = K>,
        K: AsRef<[u8]>,
    {
        let previous = previous.into_iter().map(|k| derive_key(k.as_ref())).collect();
        Sealer { current: derive_key(current), previous, ttl }
    }

    /// A sealer with a random per-process key (single-process servers only: state does
    /// not survive a restart and is rejected by other nodes). Fails when the operating
    /// system cannot supply random bytes.
    pub fn random(ttl: Duration) -> Result<Self, RandomKeyError> {
        let mut k = [0u8; 32];
        getrandom::fill(&mut k).map_err(|e| RandomKeyError(e.to_string()))?;
        Ok(Sealer { current: k, previous: Vec::new(), ttl })
    }

    /// The lifetime of sealed state.
    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    fn mac(key: &Key) -> HmacSha256 {
        // HMAC accepts keys of any length, so this cannot fail.
        <HmacSha256 as KeyInit>::new_from_slice(key).unwrap_or_else(|_| unreachable!())
    }

    /// Seals `c` bound to `b`, valid for the configured TTL.
    pub fn seal(&self, b: &Binding, c: &Continuation) -> String {
        let payload = Payload {
            v: 1,
            p: b.principal.clone(),
            m: b.method.clone(),
            t: b.target.clone(),
            d: b.args_digest.clone(),
            exp: now_secs() + self.ttl.as_secs().max(1),
            c: c.clone(),
        };
        let json = serde_json::to_vec(&payload).unwrap_or_default();
        let mut mac = Self::mac(&self.current);
        mac.update(&json);
        let tag = mac.finalize().into_bytes();
        let e = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        format!("{}.{}", e.encode(&json), e.encode(tag))
    }

    /// Verifies and opens a state; any failure is a `-32602` error.
    pub fn open(&self, sealed: &str, b: &Binding) -> Result<Continuation, ProtocolError> {
        let e = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let (body, tag) = sealed.split_once('.').ok_or_else(|| invalid_state("malformed"))?;
        let json = e.decode(body).map_err(|_| invalid_state("malformed"))?;
        let tag = e.decode(tag).map_err(|_| invalid_state("malformed"))?;
        let verifies = |key: &Key| {
            let mut mac = Self::mac(key);
            mac.update(&json);
            mac.verify_slice(&tag).is_ok()
        };
        if !std::iter::once(&self.current).chain(&self.previous).any(verifies) {
            return Err(invalid_state(
                "integrity check failed (tampered, or sealed under a key this server no longer accepts)",
            ));
        }
        let p: Payload = serde_json::from_slice(&json).map_err(|_| invalid_state("malformed"))?;
        if p.v != 1 {
            return Err(invalid_state("unknown version"));
        }
        if p.exp < now_secs() {
            return Err(invalid_state("expired"));
        }
        if p.p != b.principal {
            return Err(invalid_state("it was issued to another caller"));
        }
        if p.m != b.method || p.t != b.target || p.d != b.args_digest {
            return Err(invalid_state("it belongs to another request"));
        }
        Ok(p.c)
    }
}

/// A digest of a JSON value that ignores object key order and whitespace.
pub fn digest_arguments(v: Option<&Value>) -> String {
    let mut h = Sha256::new();
    if let Some(v) = v {
        feed(&mut h, v);
    }
    let out = h.finalize();
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&out[..16])
}

fn feed(h: &mut Sha256, v: &Value) {
    match v {
        Value::Object(m) => {
            h.update(b"{");
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            for k in keys {
                h.update(serde_json::to_string(k).unwrap_or_default().as_bytes());
                h.update(b":");
                feed(h, &m[k]);
                h.update(b",");
            }
            h.update(b"}");
        }
        Value::Array(a) => {
            h.update(b"[");
            for x in a {
                feed(h, x);
                h.update(b",");
            }
            h.update(b"]");
        }
        other => h.update(other.to_string().as_bytes()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn binding() -> Binding {
        Binding::new(Some(&Principal::new("p")), "tools/call", "x", digest_arguments(None))
    }

    #[test]
    fn state_is_bound_to_its_request() {
        let s = Sealer::new(b"k", Duration::from_secs(60));
        let mut c = Continuation::default();
        c.answers.insert("a".into(), serde_json::json!({"action": "accept"}));
        let sealed = s.seal(&binding(), &c);
        assert_eq!(s.open(&sealed, &binding()).unwrap(), c);
        let other = Binding::new(Some(&Principal::new("p")), "tools/call", "y", digest_arguments(None));
        assert!(s.open(&sealed, &other).is_err());
        let anonymous = Binding::new(None, "tools/call", "x", digest_arguments(None));
        let e = s.open(&sealed, &anonymous).unwrap_err();
        assert!(e.message.contains("another caller"), "{}", e.message);
        let other_key = Sealer::new(b"k2", Duration::from_secs(60));
        assert!(other_key.open(&sealed, &binding()).is_err());
        for junk in ["", ".", "a.b", "!!!.???", &sealed[1..]] {
            assert!(s.open(junk, &binding()).is_err());
        }
    }

    #[test]
    fn the_ring_opens_with_current_and_previous_keys_and_seals_with_the_current() {
        let ttl = Duration::from_secs(60);
        let (a, b) = (Sealer::new(b"A", ttl), Sealer::new(b"B", ttl));
        let ring = Sealer::with_keys(b"B", [b"A".as_slice(), b"Z"], ttl);
        let c = Continuation::default();
        assert!(ring.open(&a.seal(&binding(), &c), &binding()).is_ok(), "previous key accepted");
        assert!(ring.open(&b.seal(&binding(), &c), &binding()).is_ok(), "current key accepted");
        let by_ring = ring.seal(&binding(), &c);
        assert!(b.open(&by_ring, &binding()).is_ok(), "sealed with the current key");
        assert!(a.open(&by_ring, &binding()).is_err(), "not with a previous key");
        let e = b.open(&a.seal(&binding(), &c), &binding()).unwrap_err();
        assert_eq!(e.code, -32602);
        assert!(Sealer::random(ttl).is_ok());
    }

    #[test]
    fn digest_ignores_key_order() {
        let a: Value = serde_json::from_str(r#"{"x":1,"y":{"b":2,"a":1}}"#).unwrap();
        let b: Value = serde_json::from_str(r#"{"y":{"a":1,"b":2},"x":1}"#).unwrap();
        assert_eq!(digest_arguments(Some(&a)), digest_arguments(Some(&b)));
    }
}
