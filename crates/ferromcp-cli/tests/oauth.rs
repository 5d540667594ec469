//! `ferromcp` against an MCP server that requires OAuth (an in-process ferromcp server
//! with bearer auth required, and a small authorization server on the same origin): the
//! client's flow runs with the CLI's browser hook. The "browser" is a stand-in
//! `xdg-open` on PATH that follows the authorization redirect with curl, as a user's
//! browser would, to the CLI's loopback callback. Also: `--bearer` (or
//! `FERROMCP_BEARER_TOKEN`) skips the flow, and
//! with no browser and no terminal the CLI fails at once saying to pass `--bearer`.

mod common;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use ferromcp_core::auth::TokenVerifier;
use ferromcp_core::state::{Principal, StoreFuture};
use ferromcp_core::{Context, NoArgs, Server, ToolDef};
use ferromcp_http::{HttpAuth, HttpConfig};
use serde_json::{Value, json};

/// The authorization server's memory: issued tokens and what happened, in order.
#[derive(Default)]
struct As {
    base: String,
    tokens: Vec<String>,
    log: Vec<String>,
}

type Shared = Arc<Mutex<As>>;

#[derive(Clone)]
struct Verifier(Shared);

impl TokenVerifier for Verifier {
    fn verify<'a>(&'a self, token: &'a str) -> StoreFuture<'a, Option<Principal>> {
        let ok = self.0.lock().expect("lock").tokens.iter().any(|t| t == token);
        Box::pin(std::future::ready(ok.then(|| Principal::new("user"))))
    }
}

fn json_response(status: StatusCode, v: Value) -> Response {
    (status, [(header::CONTENT_TYPE, "application/json")], v.to_string()).into_response()
}

fn form(q: &[u8]) -> HashMap<String, String> {
    url::form_urlencoded::parse(q).into_owned().collect()
}

async fn prm(State(s): State<Shared>) -> Response {
    let base = s.lock().expect("lock").base.clone();
    json_response(StatusCode::OK, json!({"resource": format!("{base}/mcp"), "authorization_servers": [base]}))
}

async fn as_metadata(State(s): State<Shared>) -> Response {
    let base = s.lock().expect("lock").base.clone();
    json_response(
        StatusCode::OK,
        json!({
            "issuer": base,
            "authorization_endpoint": format!("{base}/authorize"),
            "token_endpoint": format!("{base}/token"),
            "registration_endpoint": format!("{base}/register"),
            "token_endpoint_auth_methods_supported": ["client_secret_post"],
            "code_challenge_methods_supported": ["S256"],
            "scopes_supported": ["tools"],
        }),
    )
}

async fn register(State(s): State<Shared>, body: Bytes) -> Response {
    let req: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    s.lock().expect("lock").log.push(format!("register {}", req["redirect_uris"][0].as_str().unwrap_or("?")));
    json_response(
        StatusCode::CREATED,
        json!({"client_id": "cid", "client_secret": "cs", "token_endpoint_auth_method": "client_secret_post"}),
    )
}

async fn authorize(State(s): State<Shared>, RawQuery(q): RawQuery) -> Response {
    let q = form(q.unwrap_or_default().as_bytes());
    let g = &mut *s.lock().expect("lock");
    let pkce = q.get("code_challenge_method").map(String::as_str) == Some("S256");
    g.log.push(format!("authorize pkce={pkce}"));
    let mut back = url::Url::parse(q.get("redirect_uri").map_or("http://invalid", String::as_str)).expect("redirect");
    back.query_pairs_mut()
        .append_pair("code", "the-code")
        .append_pair("state", q.get("state").map_or("", String::as_str))
        .append_pair("iss", &g.base);
    (StatusCode::FOUND, [(header::LOCATION, back.to_string())]).into_response()
}

async fn token(State(s): State<Shared>, body: Bytes) -> Response {
    let f = form(&body);
    let g = &mut *s.lock().expect("lock");
    if f.get("code").map(String::as_str) != Some("the-code") || !f.contains_key("code_verifier") {
        return json_response(StatusCode::BAD_REQUEST, json!({"error": "invalid_grant"}));
    }
    g.log.push("token".into());
    let access = format!("access-{}", g.tokens.len() + 1);
    g.tokens.push(access.clone());
    json_response(StatusCode::OK, json!({"access_token": access, "token_type": "Bearer", "expires_in": 3600}))
}

/// MCP (bearer required) and the authorization server on one loopback port.
async fn start() -> (String, Shared) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    let shared: Shared = Arc::new(Mutex::new(As { base: base.clone(), ..As::default() }));
    let server = Server::builder("oauth-cli-test", "1")
        .tool(ToolDef::new("hello").handler(|_ctx: Context, _: NoArgs| async { "hello, authorized" }))
        .build();
    let cfg = HttpConfig::default().auth(HttpAuth::required(Verifier(shared.clone())));
    let oauth = Router::new()
        .route("/.well-known/oauth-protected-resource/mcp", get(prm))
        .route("/.well-known/oauth-authorization-server", get(as_metadata))
        .route("/register", post(register))
        .route("/authorize", get(authorize))
        .route("/token", post(token))
        .with_state(shared.clone());
    let app = ferromcp_http::router(server, cfg).merge(oauth);
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (base, shared)
}

/// A directory holding a stand-in `xdg-open` that "clicks through" the authorization.
fn fake_browser_dir(tag: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("ferromcp-cli-{tag}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let script = "#!/bin/sh\nloc=$(curl -s -m 10 -o /dev/null -w '%{redirect_url}' \"$1\") && curl -s -m 10 \"$loc\" > /dev/null\n";
    let path = dir.join("xdg-open");
    std::fs::write(&path, script).expect("write xdg-open");
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    dir
}

/// Runs ferromcp with PATH set to `path` (blocking, off the server's runtime).
async fn run(args: Vec<String>, path: String) -> common::Run {
    tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        common::ferromcp_env(&args, &[("PATH", &path)])
    })
    .await
    .expect("run ferromcp")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_oauth_flow_runs_through_the_browser_hook() {
    let dir = fake_browser_dir("oauth");
    let path = format!("{}:{}", dir.display(), std::env::var("PATH").unwrap_or_default());
    for era in ["legacy", "modern"] {
        let (base, shared) = start().await;
        let url = format!("{base}/mcp");
        let r = run(vec!["call".into(), url, "hello".into(), "--era".into(), era.into()], path.clone()).await;
        let r = r.ok();
        assert_eq!(r.stdout.trim(), "hello, authorized", "{era}");
        assert!(r.stderr.contains("needs authorization; open this URL"), "{}", r.stderr);
        let log = shared.lock().expect("lock").log.clone();
        assert_eq!(log.len(), 3, "{log:?}");
        assert!(log[0].starts_with("register http://127.0.0.1:") && log[0].ends_with("/callback"), "{log:?}");
        assert_eq!(log[1..], ["authorize pkce=true".to_owned(), "token".to_owned()]);
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bearer_skips_the_flow_and_no_browser_fails_fast() {
    let (base, shared) = start().await;
    shared.lock().expect("lock").tokens.push("pre-issued".into());
    let url = format!("{base}/mcp");
    let empty = std::env::temp_dir().join(format!("ferromcp-cli-nobrowser-{}", std::process::id()));
    std::fs::create_dir_all(&empty).expect("temp dir");
    let no_browser = empty.display().to_string();
    let r = run(
        vec!["call".into(), url.clone(), "hello".into(), "--bearer".into(), "pre-issued".into()],
        no_browser.clone(),
    )
    .await
    .ok();
    assert_eq!(r.stdout.trim(), "hello, authorized");
    // FERROMCP_BEARER_TOKEN does the same.
    let r = tokio::task::spawn_blocking({
        let (url, path) = (url.clone(), no_browser.clone());
        move || {
            common::ferromcp_env(&["call", &url, "hello"], &[("PATH", &path), ("FERROMCP_BEARER_TOKEN", "pre-issued")])
        }
    })
    .await
    .expect("run ferromcp")
    .ok();
    assert_eq!(r.stdout.trim(), "hello, authorized");
    // So does an Authorization header of your own (--header).
    let args =
        vec!["call".into(), url.clone(), "hello".into(), "--header".into(), "Authorization: Bearer pre-issued".into()];
    let r = run(args, no_browser.clone()).await.ok();
    assert_eq!(r.stdout.trim(), "hello, authorized");
    let r = run(vec!["call".into(), url, "hello".into()], no_browser).await;
    assert_eq!(r.code, Some(3), "{r:?}");
    assert!(r.stderr.contains("pass --bearer TOKEN"), "{}", r.stderr);
    assert!(shared.lock().expect("lock").log.iter().all(|l| !l.starts_with("token")), "no token was issued");
    let _ = std::fs::remove_dir_all(&empty);
}
