//! `IntrospectionVerifier` against a real RFC 7662 endpoint on loopback (axum): the
//! client authenticates with HTTP Basic, sends the token as a form field, and gets the
//! introspection answer; accepted tokens are cached (the endpoint is asked once per
//! token), refused ones are not; audience and expiry are checked.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use ferromcp_auth::IntrospectionVerifier;
use ferromcp_core::auth::TokenVerifier;
use serde_json::{Value, json};

const AUD: &str = "http://127.0.0.1:3002/mcp";

fn now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs()
}

/// `Basic base64("mcp-server:s3cret")`.
const BASIC: &str = "Basic bWNwLXNlcnZlcjpzM2NyZXQ=";

async fn introspect(State(calls): State<Arc<AtomicUsize>>, headers: HeaderMap, body: String) -> (StatusCode, String) {
    calls.fetch_add(1, Ordering::SeqCst);
    if headers.get("authorization").and_then(|v| v.to_str().ok()) != Some(BASIC) {
        return (StatusCode::UNAUTHORIZED, json!({"error": "invalid_client"}).to_string());
    }
    let form: Vec<(String, String)> = body
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.replace("%3A", ":")))
        .collect();
    let token = form.iter().find(|(k, _)| k == "token").map(|(_, v)| v.as_str()).unwrap_or("");
    let answer: Value = match token {
        "alice-opaque" => json!({"active": true, "sub": "alice", "scope": "counter:read counter:write",
                                 "client_id": "app", "aud": AUD, "exp": now() + 300}),
        "other-audience" => json!({"active": true, "sub": "bob", "aud": "https://elsewhere/mcp", "exp": now() + 300}),
        "expired" => json!({"active": true, "sub": "carol", "aud": AUD, "exp": now() - 10}),
        _ => json!({"active": false}),
    };
    (StatusCode::OK, answer.to_string())
}

async fn endpoint() -> (String, Arc<AtomicUsize>, tokio::task::JoinHandle<()>) {
    let calls = Arc::new(AtomicUsize::new(0));
    let app = axum::Router::new().route("/introspect", axum::routing::post(introspect)).with_state(calls.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/introspect", listener.local_addr().unwrap());
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (url, calls, task)
}

#[tokio::test]
async fn opaque_tokens_are_introspected_checked_and_cached() {
    let (url, calls, task) = endpoint().await;
    let v = IntrospectionVerifier::builder(&url, "mcp-server", "s3cret").audience(AUD).build().unwrap();

    let p = v.verify("alice-opaque").await.expect("active token accepted");
    assert_eq!(p.subject(), "alice");
    assert_eq!(p.scopes, ["counter:read", "counter:write"]);
    assert_eq!(p.client_id.as_deref(), Some("app"));
    assert!(p.expires_at().is_some_and(|e| e > now()));
    assert_eq!(p.claims().and_then(|c| c.get("aud")).and_then(Value::as_str), Some(AUD));
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    for _ in 0..5 {
        assert_eq!(v.verify("alice-opaque").await.map(|p| p.subject().to_owned()).as_deref(), Some("alice"));
    }
    assert_eq!(calls.load(Ordering::SeqCst), 1, "an accepted token is cached");

    for refused in ["revoked", "other-audience", "expired"] {
        assert!(v.verify(refused).await.is_none(), "{refused}");
    }
    assert!(v.verify("revoked").await.is_none());
    assert_eq!(calls.load(Ordering::SeqCst), 5, "refusals are not cached");

    // Wrong client credentials: the endpoint says 401, the token is refused.
    let wrong = IntrospectionVerifier::builder(&url, "mcp-server", "guess").build().unwrap();
    assert!(wrong.verify("alice-opaque").await.is_none());
    task.abort();
}

#[test]
fn plain_http_endpoints_are_for_loopback_only() {
    let e = IntrospectionVerifier::builder("http://id.example.com/introspect", "c", "s").build().unwrap_err();
    assert!(e.to_string().contains("loopback"), "{e}");
    assert!(IntrospectionVerifier::builder("https://id.example.com/introspect", "c", "s").build().is_ok());
}
