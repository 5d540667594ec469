//! PKCE (RFC 7636) with the S256 method, and random `state` values.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};

use super::OAuthError;

/// A PKCE verifier and its S256 challenge.
#[derive(Debug, Clone)]
pub(crate) struct Pkce {
    /// The secret sent in the token request.
    pub verifier: String,
    /// `BASE64URL(SHA256(verifier))`, sent in the authorization request.
    pub challenge: String,
}

impl Pkce {
    /// A fresh verifier of 43 characters (32 random bytes).
    pub fn new() -> Result<Self, OAuthError> {
        let verifier = random_token(32)?;
        Ok(Pkce::from_verifier(verifier))
    }

    /// The pair for a given verifier.
    pub fn from_verifier(verifier: String) -> Self {
        let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
        Pkce {
            verifier,
            challenge,
        }
    }
}

/// `n` random bytes, base64url without padding.
pub(crate) fn random_token(n: usize) -> Result<String, OAuthError> {
    let mut buf = vec![0u8; n];
    getrandom::fill(&mut buf)
        .map_err(|e| OAuthError::Redirect(format!("the system random source failed: {e}")))?;
    Ok(URL_SAFE_NO_PAD.encode(buf))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn challenge_is_base64url_sha256_of_verifier() {
        // Expected value computed independently (Python hashlib + urlsafe_b64encode).
        let p = Pkce::from_verifier("dBjftJeZ4CVP-mJ92IZ87eq4xdFSFAT7X5K1JQKgdeE".into());
        assert_eq!(p.challenge, "axvXKGA9iIh8VRl8BoPdARbPwkdXICSo9QuuMw8txVw");
    }

    #[test]
    fn fresh_verifiers_are_long_and_distinct() {
        let a = Pkce::new().unwrap();
        let b = Pkce::new().unwrap();
        assert_eq!(a.verifier.len(), 43);
        assert_ne!(a.verifier, b.verifier);
        assert!(
            a.verifier
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        );
    }
}
