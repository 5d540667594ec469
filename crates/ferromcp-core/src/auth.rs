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
