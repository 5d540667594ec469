//! The OAuth client end to end against an in-process ferromcp server that requires
//! bearer tokens, with a small authorization server on the same 127.0.0.1 origin:
//! discovery (well-known resource metadata, RFC 8414 metadata) -> dynamic registration
//! -> authorization redirect (PKCE, state, iss) -> token -> tool call -> refresh of an
//! expired token; step-up on 403 `insufficient_scope` and its limit; and a refused
//! PKCE-less server.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{RawQuery, Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ferromcp_client::oauth::{OAuthClient, OAuthConfig, OAuthError};
use ferromcp_client::{Client, ClientEra, ClientError, ClientOptions};
use ferromcp_core::auth::TokenVerifier;
use ferromcp_core::state::{Principal, StoreFuture};
use ferromcp_core::{Context, NoArgs, Server, ToolDef};
use ferromcp_http::{HttpAuth, HttpConfig};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use tokio::time::timeout;

const WAIT: Duration = Duration::from_secs(30);

/// The authorization server's memory, shared with the token verifier.
#[derive(Default)]
struct As {
    base: String,
    /// Advertise PKCE S256.
    pkce: bool,
    /// Valid access tokens and their scopes.
    tokens: HashMap<String, Vec<String>>,
    /// Scopes this server grants (others requested are dropped).
    grantable: Vec<String>,
    /// The scope of the last authorization request.
    last_scope: String,
    /// `expires_in` of issued tokens.
    expires_in: u64,
    /// The last code challenge.
    challenge: Option<String>,
    /// What happened, in order.
    log: Vec<String>,
    issued: usize,
}

type Shared = Arc<Mutex<As>>;

#[derive(Clone)]
struct Verifier(Shared);

impl TokenVerifier for Verifier {
    fn verify<'a>(&'a self, token: &'a str) -> StoreFuture<'a, Option<Principal>> {
        let ok = self.0.lock().expect("lock").tokens.contains_key(token);
        Box::pin(std::future::ready(ok.then(|| Principal::new("user"))))
    }
}

fn json_response(status: StatusCode, v: Value) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        v.to_string(),
    )
        .into_response()
}

fn form(body: &[u8]) -> std::collections::HashMap<String, String> {
    url::form_urlencoded::parse(body).into_owned().collect()
}

async fn prm(State(s): State<Shared>) -> Response {
    let base = s.lock().expect("lock").base.clone();
    json_response(
        StatusCode::OK,
        json!({"resource": format!("{base}/mcp"), "authorization_servers": [base], "scopes_supported": ["tools"]}),
    )
}

async fn as_metadata(State(s): State<Shared>) -> Response {
    let g = s.lock().expect("lock");
    let base = &g.base;
    let mut md = json!({
        "issuer": base,
        "authorization_endpoint": format!("{base}/authorize"),
        "token_endpoint": format!("{base}/token"),
        "registration_endpoint": format!("{base}/register"),
        "token_endpoint_auth_methods_supported": ["client_secret_post"],
        "authorization_response_iss_parameter_supported": true,
        "scopes_supported": ["tools", "offline_access"],
    });
    if g.pkce {
        md["code_challenge_methods_supported"] = json!(["S256"]);
    }
    json_response(StatusCode::OK, md)
}

async fn register(State(s): State<Shared>, body: Bytes) -> Response {
    let req: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    s.lock().expect("lock").log.push(format!(
        "register {}",
        req["redirect_uris"][0].as_str().unwrap_or("?")
    ));
    json_response(
        StatusCode::CREATED,
        json!({"client_id": "cid", "client_secret": "csecret", "token_endpoint_auth_method": "client_secret_post"}),
    )
}

async fn authorize(State(s): State<Shared>, RawQuery(q): RawQuery) -> Response {
    let q = form(q.unwrap_or_default().as_bytes());
    let mut g = s.lock().expect("lock");
    g.log.push(format!(
        "authorize scope={} resource={}",
        q.get("scope").map_or("", String::as_str),
        q.get("resource").map_or("", String::as_str)
    ));
    g.challenge = q.get("code_challenge").cloned();
    g.last_scope = q.get("scope").cloned().unwrap_or_default();
    let mut back = url::Url::parse(
        q.get("redirect_uri")
            .map_or("http://invalid", String::as_str),
    )
    .expect("redirect uri");
    back.query_pairs_mut()
        .append_pair("code", "the-code")
        .append_pair("state", q.get("state").map_or("", String::as_str))
        .append_pair("iss", &g.base);
    (StatusCode::FOUND, [(header::LOCATION, back.to_string())]).into_response()
}

async fn token(State(s): State<Shared>, body: Bytes) -> Response {
    let f = form(&body);
    let mut g = s.lock().expect("lock");
    if f.get("client_id").map(String::as_str) != Some("cid")
        || f.get("client_secret").map(String::as_str) != Some("csecret")
    {
        return json_response(StatusCode::UNAUTHORIZED, json!({"error": "invalid_client"}));
    }
    let grant = f.get("grant_type").cloned().unwrap_or_default();
    match grant.as_str() {
        "authorization_code" => {
            let verifier = f.get("code_verifier").cloned().unwrap_or_default();
            let computed = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
            if g.challenge.as_deref() != Some(computed.as_str())
                || f.get("code").map(String::as_str) != Some("the-code")
            {
                return json_response(StatusCode::BAD_REQUEST, json!({"error": "invalid_grant"}));
            }
        }
        "refresh_token" if f.get("refresh_token").map(String::as_str) == Some("the-refresh") => {}
        _ => return json_response(StatusCode::BAD_REQUEST, json!({"error": "invalid_grant"})),
    }
    g.log.push(format!(
        "token {grant} resource={}",
        f.get("resource").map_or("", String::as_str)
    ));
    g.issued += 1;
    let access = format!("access-{}", g.issued);
    let granted: Vec<String> = g
        .last_scope
        .split_whitespace()
        .filter(|s| g.grantable.iter().any(|x| x == s))
        .map(str::to_owned)
        .collect();
    let scope = granted.join(" ");
    g.tokens.insert(access.clone(), granted);
    json_response(
        StatusCode::OK,
        json!({"access_token": access, "token_type": "Bearer", "expires_in": g.expires_in, "refresh_token": "the-refresh", "scope": scope}),
    )
}

/// Answers 403 `insufficient_scope` to `tools/call` of `write_tool` / `admin_tool`
/// when the token lacks `write` / `admin`.
async fn scope_guard(State(s): State<Shared>, req: Request, next: Next) -> Response {
    let (parts, body) = req.into_parts();
    let bytes = axum::body::to_bytes(body, 1 << 20)
        .await
        .unwrap_or_default();
    let msg: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    let needed = match (msg["method"].as_str(), msg["params"]["name"].as_str()) {
        (Some("tools/call"), Some("write_tool")) => Some("write"),
        (Some("tools/call"), Some("admin_tool")) => Some("admin"),
        _ => None,
    };
    let token = parts
        .headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or_default()
        .to_owned();
    if let Some(scope) = needed {
        let g = s.lock().expect("lock");
        if g.tokens
            .get(&token)
            .is_some_and(|sc| !sc.iter().any(|x| x == scope))
        {
            let challenge = format!(r#"Bearer error="insufficient_scope", scope="{scope}""#);
            return (
                StatusCode::FORBIDDEN,
                [(header::WWW_AUTHENTICATE, challenge)],
            )
                .into_response();
        }
    }
    next.run(Request::from_parts(parts, Body::from(bytes)))
        .await
}

/// Serves MCP (bearer required) and the authorization server on one 127.0.0.1 port.
/// Tokens live `expires_in` seconds; the server grants `tools`, `offline_access` and
/// `grantable`.
async fn start(pkce: bool, expires_in: u64, grantable: &[&str]) -> (String, Shared) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    let mut scopes = vec!["tools".to_owned(), "offline_access".to_owned()];
    scopes.extend(grantable.iter().map(|s| (*s).to_owned()));
    let shared: Shared = Arc::new(Mutex::new(As {
        base: base.clone(),
        pkce,
        expires_in,
        grantable: scopes,
        ..As::default()
    }));
    let server = Server::builder("oauth-test", "1")
        .tool(ToolDef::new("hello").handler(|_ctx: Context, _: NoArgs| async { "hello" }))
        .tool(ToolDef::new("write_tool").handler(|_ctx: Context, _: NoArgs| async { "written" }))
        .tool(ToolDef::new("admin_tool").handler(|_ctx: Context, _: NoArgs| async { "admin" }))
        .build();
    let cfg = HttpConfig::default().auth(HttpAuth::required(Verifier(shared.clone())));
    let oauth = Router::new()
        .route("/.well-known/oauth-protected-resource/mcp", get(prm))
        .route("/.well-known/oauth-authorization-server", get(as_metadata))
        .route("/register", post(register))
        .route("/authorize", get(authorize))
        .route("/token", post(token))
        .with_state(shared.clone());
    let mcp = ferromcp_http::router(server, cfg).layer(axum::middleware::from_fn_with_state(
        shared.clone(),
        scope_guard,
    ));
    let app = mcp.merge(oauth);
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (base, shared)
}

fn oauth(url: &str) -> OAuthClient {
    OAuthClient::new(
        url,
        OAuthConfig::new("http://127.0.0.1:1/callback").client_name("oauth-test"),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_flow_then_refresh_in_both_eras() {
    for era in [ClientEra::Modern, ClientEra::Legacy] {
        // One second: the client treats the token as expired at once and refreshes.
        let (base, shared) = start(true, 1, &[]).await;
        let url = format!("{base}/mcp");
        let opts = ClientOptions::new(era)
            .request_timeout(WAIT)
            .auth(oauth(&url));
        let client = timeout(WAIT, Client::connect_http(&url, opts))
            .await
            .expect("in time")
            .expect("connect with OAuth");
        let out = timeout(WAIT, client.call_tool("hello", json!({})))
            .await
            .expect("in time")
            .expect("call");
        assert_eq!(out.text(), "hello");
        // The token expires in 1 s (inside the client's margin): the next call
        // refreshes first, and the new token works.
        let out = timeout(WAIT, client.call_tool("hello", json!({})))
            .await
            .expect("in time")
            .expect("call");
        assert_eq!(out.text(), "hello");
        client.close().await;
        let log = shared.lock().expect("lock").log.clone();
        let resource = format!("resource={url}");
        assert_eq!(
            log[..3],
            [
                "register http://127.0.0.1:1/callback".to_owned(),
                format!("authorize scope=tools offline_access {resource}"),
                format!("token authorization_code {resource}"),
            ],
            "{era:?}: {log:?}"
        );
        assert!(
            log[3..]
                .iter()
                .all(|l| *l == format!("token refresh_token {resource}")),
            "{log:?}"
        );
        assert!(log.len() >= 4, "{era:?}: no refresh happened: {log:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_without_pkce_s256_is_refused() {
    let (base, shared) = start(false, 3600, &[]).await;
    let url = format!("{base}/mcp");
    let opts = ClientOptions::new(ClientEra::Modern)
        .request_timeout(WAIT)
        .auth(oauth(&url));
    let err = timeout(WAIT, Client::connect_http(&url, opts))
        .await
        .expect("in time")
        .err();
    match err {
        Some(ClientError::Auth(e)) => {
            assert!(matches!(*e, OAuthError::PkceUnsupported { .. }), "{e}")
        }
        other => panic!("expected the PKCE refusal, got {other:?}"),
    }
    assert!(
        !shared
            .lock()
            .expect("lock")
            .log
            .iter()
            .any(|l| l.starts_with("authorize")),
        "the client must not start authorization"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn step_up_on_insufficient_scope_and_its_limit() {
    let (base, shared) = start(true, 3600, &["write"]).await;
    let url = format!("{base}/mcp");
    let opts = ClientOptions::new(ClientEra::Modern)
        .request_timeout(WAIT)
        .auth(oauth(&url));
    let client = timeout(WAIT, Client::connect_http(&url, opts))
        .await
        .expect("in time")
        .expect("connect");
    let out = timeout(WAIT, client.call_tool("write_tool", json!({})))
        .await
        .expect("in time")
        .expect("step-up");
    assert_eq!(out.text(), "written");
    // `admin` is never granted: one step-up, then the 403 stands.
    let err = timeout(WAIT, client.call_tool("admin_tool", json!({})))
        .await
        .expect("in time")
        .err();
    assert!(
        matches!(err, Some(ClientError::Unauthorized { status: 403, .. })),
        "{err:?}"
    );
    client.close().await;
    let authorizations: Vec<String> = shared
        .lock()
        .expect("lock")
        .log
        .iter()
        .filter(|l| l.starts_with("authorize"))
        .map(|l| l.split(" resource=").next().unwrap_or_default().to_owned())
        .collect();
    assert_eq!(
        authorizations,
        [
            "authorize scope=tools offline_access",
            "authorize scope=tools offline_access write",
            "authorize scope=tools offline_access write admin",
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_refusals_share_one_step_up() {
    let (base, shared) = start(true, 3600, &["write"]).await;
    let url = format!("{base}/mcp");
    let opts = ClientOptions::new(ClientEra::Modern)
        .request_timeout(WAIT)
        .auth(oauth(&url));
    let client = timeout(WAIT, Client::connect_http(&url, opts))
        .await
        .expect("in time")
        .expect("connect");
    let (a, b) = tokio::join!(
        client.call_tool("write_tool", json!({})),
        client.call_tool("write_tool", json!({}))
    );
    assert_eq!(a.expect("first call").text(), "written");
    assert_eq!(b.expect("second call").text(), "written");
    client.close().await;
    let log = shared.lock().expect("lock").log.clone();
    let authorizations = log.iter().filter(|l| l.starts_with("authorize")).count();
    assert_eq!(
        authorizations, 2,
        "one initial authorization, one step-up: {log:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_in_a_file_store_serve_a_later_run_without_authorizing_again() {
    use ferromcp_client::oauth::FileTokenStore;
    let (base, shared) = start(true, 3600, &[]).await;
    let url = format!("{base}/mcp");
    let dir = std::env::temp_dir().join(format!("ferromcp-oauth-file-{}", std::process::id()));
    let path = dir.join("tokens.json");
    for run in 0..2 {
        // A fresh OAuth client and store each run, as in a new process.
        let store = Arc::new(FileTokenStore::new(&path));
        let opts = ClientOptions::new(ClientEra::Modern)
            .request_timeout(WAIT)
            .auth(oauth(&url).token_store(store));
        let client = timeout(WAIT, Client::connect_http(&url, opts))
            .await
            .expect("in time")
            .expect("connect with OAuth");
        let out = timeout(WAIT, client.call_tool("hello", json!({})))
            .await
            .expect("in time")
            .expect("call");
        assert_eq!(out.text(), "hello", "run {run}");
        client.close().await;
    }
    let log = shared.lock().expect("lock").log.clone();
    let count = |prefix: &str| log.iter().filter(|l| l.starts_with(prefix)).count();
    assert_eq!(
        (
            count("register"),
            count("authorize"),
            count("token authorization_code")
        ),
        (1, 1, 1),
        "the second run reused the stored token: {log:?}"
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path)
            .expect("token file")
            .permissions()
            .mode()
            & 0o777;
        assert_eq!(mode, 0o600, "the token file is private");
    }
    std::fs::remove_dir_all(&dir).ok();
}
