//! Sealed MRTR continuation state (`requestState`, 2026-07-28).
//!
//! When a handler asks the client for input on the modern era, the call ends with an
//! `InputRequiredResult` whose `requestState` carries the answers gathered so far. The
//! state is sealed with HMAC-SHA256 over: the principal, the method, the target
//! (tool/prompt name or resource URI), a digest of the arguments, an expiry, the answers
//! and memoised values. On the retry ferromcp verifies it before replaying the handler;
//! tampered, expired or foreign state is a `-32602` error.
//!
//! The key is configuration: every node of a deployment must share it, or a retry that
//! lands on another node fails verification. [`Sealer::random`] is for single-process
//! servers and tests.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use hmac::{KeyInit, Mac};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::error::ProtocolError;

type HmacSha256 = hmac::Hmac<Sha256>;

/// What a sealed state is bound to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Binding {
    /// The principal (hashed or opaque), empty when unauthenticated.
    pub principal: String,
    /// The method (`tools/call`, `prompts/get`, `resources/read`).
    pub method: String,
    /// The tool or prompt name, or the resource URI.
    pub target: String,
    /// Digest of the arguments (see [`digest_arguments`]).
    pub args_digest: String,
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

/// Seals and opens `requestState` values.
#[derive(Clone)]
pub struct Sealer {
    key: [u8; 32],
    ttl: Duration,
}

impl std::fmt::Debug for Sealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sealer").field("ttl", &self.ttl).finish_non_exhaustive()
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
    /// use ferromcp_core::mrtr::{Sealer, Binding, Continuation};
    /// let s = Sealer::new(b"shared secret of the deployment", std::time::Duration::from_secs(600));
    /// let b = Binding { principal: String::new(), method: "tools/call".into(), target: "t".into(), args_digest: "d".into() };
    /// let sealed = s.seal(&b, &Continuation::default());
    /// assert!(s.open(&sealed, &b).is_ok());
    /// assert!(s.open(&format!("{sealed}-TAMPERED"), &b).is_err());
    /// ```
    pub fn new(key: &[u8], ttl: Duration) -> Self {
        let digest = Sha256::digest(key);
        let mut k = [0u8; 32];
        k.copy_from_slice(&digest);
        Sealer { key: k, ttl }
    }

    /// A sealer with a random per-process key (single-process servers only).
    pub fn random(ttl: Duration) -> Self {
        let mut k = [0u8; 32];
        let _ = getrandom::fill(&mut k);
        Sealer { key: k, ttl }
    }

    fn mac(&self) -> HmacSha256 {
        // HMAC accepts keys of any length, so this cannot fail.
        <HmacSha256 as KeyInit>::new_from_slice(&self.key).unwrap_or_else(|_| unreachable!())
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
        let mut mac = self.mac();
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
        let mut mac = self.mac();
        mac.update(&json);
        mac.verify_slice(&tag).map_err(|_| invalid_state("integrity check failed"))?;
        let p: Payload = serde_json::from_slice(&json).map_err(|_| invalid_state("malformed"))?;
        if p.v != 1 {
            return Err(invalid_state("unknown version"));
        }
        if p.exp < now_secs() {
            return Err(invalid_state("expired"));
        }
        if p.p != b.principal || p.m != b.method || p.t != b.target || p.d != b.args_digest {
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
        Binding {
            principal: "p".into(),
            method: "tools/call".into(),
            target: "x".into(),
            args_digest: digest_arguments(None),
        }
    }

    #[test]
    fn state_is_bound_to_its_request() {
        let s = Sealer::new(b"k", Duration::from_secs(60));
        let mut c = Continuation::default();
        c.answers.insert("a".into(), serde_json::json!({"action": "accept"}));
        let sealed = s.seal(&binding(), &c);
        assert_eq!(s.open(&sealed, &binding()).unwrap(), c);
        let other = Binding { target: "y".into(), ..binding() };
        assert!(s.open(&sealed, &other).is_err());
        let other_key = Sealer::new(b"k2", Duration::from_secs(60));
        assert!(other_key.open(&sealed, &binding()).is_err());
        for junk in ["", ".", "a.b", "!!!.???", &sealed[1..]] {
            assert!(s.open(junk, &binding()).is_err());
        }
    }

    #[test]
    fn digest_ignores_key_order() {
        let a: Value = serde_json::from_str(r#"{"x":1,"y":{"b":2,"a":1}}"#).unwrap();
        let b: Value = serde_json::from_str(r#"{"y":{"a":1,"b":2},"x":1}"#).unwrap();
        assert_eq!(digest_arguments(Some(&a)), digest_arguments(Some(&b)));
    }
}
