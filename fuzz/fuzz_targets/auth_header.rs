//! Fuzzes the Authorization header / JWT path a request takes before it reaches the
//! server: `auth::bearer_token` on the header value, then `JwtVerifier::verify_uncached`
//! (header decoding, the algorithm allow-list, key selection by `kid`, signature and
//! claims checks) against a fixed key set (the test keys: RSA, EC P-256, Ed25519).
//! Nothing may panic; and since the fuzzer cannot forge signatures, no input may be
//! accepted.

#![no_main]

use std::sync::OnceLock;

use ferromcp_auth::JwtVerifier;
use ferromcp_core::auth::bearer_token;
use libfuzzer_sys::fuzz_target;

const JWKS: &str = include_str!("../../tests/fixtures/auth/jwks.json");

fn verifier() -> &'static (JwtVerifier, tokio::runtime::Runtime) {
    static V: OnceLock<(JwtVerifier, tokio::runtime::Runtime)> = OnceLock::new();
    V.get_or_init(|| {
        // The fixture maps kid → JWK; a JWKS document lists them.
        let by_kid: serde_json::Value = serde_json::from_str(JWKS).expect("fixture");
        let keys: Vec<_> = by_kid.as_object().expect("object").values().cloned().collect();
        let doc = serde_json::json!({ "keys": keys }).to_string();
        let v = JwtVerifier::builder_with_jwks(doc)
            .issuer("https://issuer.example/")
            .audience("https://mcp.example/mcp")
            .build()
            .expect("verifier");
        let rt = tokio::runtime::Builder::new_current_thread().build().expect("runtime");
        (v, rt)
    })
}

fuzz_target!(|data: &[u8]| {
    let Ok(header) = std::str::from_utf8(data) else { return };
    let (v, rt) = verifier();
    // As a whole header value, and as a bare token.
    for token in [bearer_token(header), Some(header)].into_iter().flatten() {
        let out = rt.block_on(v.verify_uncached(token));
        assert!(out.is_err(), "a fuzzed token was accepted: {token:?}");
    }
});
