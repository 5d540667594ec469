//! The counter example as an OAuth 2.1 resource server, over real loopback HTTP, with a
//! real JWKS endpoint (axum, on loopback) serving test keys (`tests/fixtures/auth`) and
//! real signed tokens (RS256, ES256, EdDSA):
//!
//! * no token → 401 with `WWW-Authenticate: Bearer resource_metadata="…"`; the
//!   metadata document is RFC 9728 JSON whose `resource` is the audience;
//! * a valid token works and `whoami` reports its subject;
//! * wrong audience, wrong issuer, expired, bad signature, `alg: none`, HS256 signed
//!   with the public key → 401 `invalid_token` each;
//! * a key published at the issuer after startup is accepted (well within a minute);
//! * a tool needing a scope the token lacks → 403 `insufficient_scope` (and hidden from
//!   `tools/list`, whose `cacheScope` is then private);
//! * a legacy session (Streamable HTTP and HTTP+SSE) of alice is 404 for bob;
//! * on 2026-07-28 alice and bob never see each other's state;
//! * session login: `login` / `logout` and a tool requiring it.
//!
//! The example binary is built by `cargo test` / `cargo build --examples`
//! (`FERRO_COUNTER_BIN` overrides its path). Every wait is bounded.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use jsonwebtoken::{Algorithm, EncodingKey, Header, encode};
use serde_json::{Value, json};

const WAIT: Duration = Duration::from_secs(30);
const MODERN: &str = "2026-07-28";
const LEGACY: &str = "2025-11-25";

fn fixture(name: &str) -> Vec<u8> {
    let p = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/auth").join(name);
    std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

fn jwk(kid: &str) -> Value {
    let all: Value = serde_json::from_slice(&fixture("jwks.json")).expect("jwks.json");
    all[kid].clone()
}

fn now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs()
}

/// A JWKS endpoint on loopback whose key set can change while it runs.
struct Issuer {
    url: String,
    keys: Arc<RwLock<Vec<Value>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Issuer {
    async fn start(kids: &[&str]) -> Issuer {
        let keys = Arc::new(RwLock::new(kids.iter().map(|k| jwk(k)).collect::<Vec<_>>()));
        let served = keys.clone();
        let app = axum::Router::new().route(
            "/jwks.json",
            axum::routing::get(move || {
                let keys = served.read().unwrap().clone();
                async move { ([("content-type", "application/json")], json!({ "keys": keys }).to_string()) }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind issuer");
        let addr = listener.local_addr().unwrap();
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Issuer { url: format!("http://{addr}"), keys, task }
    }
    fn issuer(&self) -> String {
        format!("{}/", self.url)
    }
    fn jwks_url(&self) -> String {
        format!("{}/jwks.json", self.url)
    }
    fn publish(&self, kid: &str) {
        self.keys.write().unwrap().push(jwk(kid));
    }
}

impl Drop for Issuer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The counter example on a free loopback port; killed on drop.
struct Counter {
    child: std::process::Child,
    addr: SocketAddr,
}

impl Counter {
    fn start(args: &[&str]) -> Counter {
        let bin = match std::env::var_os("FERRO_COUNTER_BIN") {
            Some(p) => std::path::PathBuf::from(p),
            None => std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/debug/examples/counter"),
        };
        assert!(bin.exists(), "{} is missing: build it with `cargo build --example counter`", bin.display());
        let mut child = std::process::Command::new(&bin)
            .args(["--port", "0"])
            .args(args)
            .env("RUST_LOG", "error")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("spawn counter");
        // The first stderr line names the bound address: "counter MCP server on http://ADDR/mcp".
        let stderr = child.stderr.take().expect("stderr");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut lines = BufReader::new(stderr).lines();
            while let Some(Ok(line)) = lines.next() {
                if let Some(rest) = line.strip_prefix("counter MCP server on http://") {
                    let _ = tx.send(rest.trim_end_matches("/mcp").to_owned());
                }
            }
        });
        let addr = match rx.recv_timeout(WAIT) {
            Ok(a) => a.parse().expect("address"),
            Err(_) => {
                let _ = child.kill();
                panic!("counter {args:?} did not start");
            }
        };
        Counter { child, addr }
    }
    fn mcp(&self) -> String {
        format!("http://{}/mcp", self.addr)
    }
}

impl Drop for Counter {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

struct Answer {
    status: u16,
    headers: reqwest::header::HeaderMap,
    body: Value,
}

impl Answer {
    fn challenge(&self) -> String {
        self.headers.get("www-authenticate").map(|v| v.to_str().unwrap().to_owned()).unwrap_or_default()
    }
    /// The text of a tool result's first content block.
    fn text(&self) -> &str {
        self.body["result"]["content"][0]["text"].as_str().unwrap_or_default()
    }
}

fn http() -> reqwest::Client {
    reqwest::Client::builder().timeout(WAIT).build().unwrap()
}

async fn answer(resp: reqwest::Response) -> Answer {
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let text = resp.text().await.expect("body");
    // A JSON body, or the first `data:` of an SSE body.
    let json_text = text.lines().find_map(|l| l.strip_prefix("data: ")).unwrap_or(&text);
    let body = serde_json::from_str(json_text).unwrap_or(Value::Null);
    Answer { status, headers, body }
}

/// One 2026-07-28 request (`method` with `params`), with `token` if given.
async fn modern(c: &Counter, token: Option<&str>, method: &str, mut params: Value) -> Answer {
    params["_meta"] =
        json!({"io.modelcontextprotocol/protocolVersion": MODERN, "io.modelcontextprotocol/clientCapabilities": {}});
    let mut req = http()
        .post(c.mcp())
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .header("mcp-protocol-version", MODERN)
        .header("mcp-method", method);
    if let Some(name) = params["name"].as_str() {
        req = req.header("mcp-name", name);
    }
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let body = json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params});
    answer(req.body(body.to_string()).send().await.expect("send")).await
}

async fn call(c: &Counter, token: Option<&str>, tool: &str, args: Value) -> Answer {
    modern(c, token, "tools/call", json!({"name": tool, "arguments": args})).await
}

/// One legacy (2025-11-25) request, in `session` if given.
async fn legacy(c: &Counter, token: Option<&str>, session: Option<&str>, method: &str, params: Value) -> Answer {
    let mut req = http()
        .post(c.mcp())
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream");
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    if let Some(s) = session {
        req = req.header("mcp-session-id", s).header("mcp-protocol-version", LEGACY);
    }
    let body = json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params});
    answer(req.body(body.to_string()).send().await.expect("send")).await
}

async fn legacy_session(c: &Counter, token: Option<&str>) -> String {
    let init =
        json!({"protocolVersion": LEGACY, "capabilities": {}, "clientInfo": {"name": "auth-test", "version": "1"}});
    let a = legacy(c, token, None, "initialize", init).await;
    assert_eq!(a.status, 200, "{}", a.body);
    let id = a.headers.get("mcp-session-id").expect("session id").to_str().unwrap().to_owned();
    let n = http()
        .post(c.mcp())
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .header("mcp-session-id", &id)
        .header("mcp-protocol-version", LEGACY);
    let n = match token {
        Some(t) => n.bearer_auth(t),
        None => n,
    };
    let r = n.body(r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#).send().await.expect("send");
    assert_eq!(r.status(), 202);
    id
}

/// Claims for `sub`, valid for the issuer and audience, with `scope`.
fn claims(iss: &str, aud: &str, sub: &str, scope: &str) -> Value {
    json!({"iss": iss, "aud": aud, "sub": sub, "scope": scope, "client_id": "test-client",
           "iat": now(), "exp": now() + 600})
}

fn sign(alg: Algorithm, kid: &str, key_file: &str, claims: &Value) -> String {
    let pem = fixture(key_file);
    let key = match alg {
        Algorithm::RS256 => EncodingKey::from_rsa_pem(&pem),
        Algorithm::ES256 => EncodingKey::from_ec_pem(&pem),
        Algorithm::EdDSA => EncodingKey::from_ed_pem(&pem),
        _ => unreachable!(),
    }
    .expect("test key");
    let mut h = Header::new(alg);
    h.kid = Some(kid.to_owned());
    encode(&h, claims, &key).expect("sign")
}

fn b64(v: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn counter_is_an_oauth_resource_server() {
    let issuer = Issuer::start(&["rsa-1", "es-1", "ed-1"]).await;
    let (iss, jwks) = (issuer.issuer(), issuer.jwks_url());
    let c = Counter::start(&["--jwt-jwks", &jwks, "--jwt-issuer", &iss, "--jwks-refetch-secs", "1", "--legacy-sse"]);
    let aud = c.mcp();
    let meta_url = format!("http://{}/.well-known/oauth-protected-resource/mcp", c.addr);

    // No token: 401 naming the metadata document.
    let a = call(&c, None, "whoami", json!({})).await;
    assert_eq!(a.status, 401, "{}", a.body);
    assert_eq!(a.challenge(), format!("Bearer resource_metadata=\"{meta_url}\""));

    // The metadata document (both well-known forms), RFC 9728.
    for url in [meta_url.clone(), format!("http://{}/.well-known/oauth-protected-resource", c.addr)] {
        let r = http().get(&url).send().await.expect("metadata");
        assert_eq!(r.status(), 200);
        assert_eq!(r.headers()["content-type"], "application/json");
        let doc: Value = r.json_or_panic().await;
        assert_eq!(doc["resource"], aud, "the resource is the audience: {doc}");
        assert_eq!(doc["authorization_servers"], json!([iss]));
        assert_eq!(doc["bearer_methods_supported"], json!(["header"]));
        assert!(doc["scopes_supported"].as_array().is_some_and(|s| s.contains(&json!("counter:write"))), "{doc}");
    }

    // Valid tokens of each algorithm: accepted, whoami names the subject.
    let good = claims(&iss, &aud, "alice", "counter:read");
    for (alg, kid, file) in [
        (Algorithm::RS256, "rsa-1", "rsa-1.pem"),
        (Algorithm::ES256, "es-1", "es-1.pem"),
        (Algorithm::EdDSA, "ed-1", "ed-1.pem"),
    ] {
        let t = sign(alg, kid, file, &good);
        let a = call(&c, Some(&t), "whoami", json!({})).await;
        assert_eq!(a.status, 200, "{alg:?}: {}", a.body);
        assert_eq!(a.body["result"]["structuredContent"]["subject"], "alice", "{alg:?}: {}", a.body);
        assert_eq!(a.body["result"]["structuredContent"]["scope"], "principal", "{}", a.body);
    }

    // Refused tokens: 401 invalid_token each.
    let mut wrong_aud = good.clone();
    wrong_aud["aud"] = json!("http://127.0.0.1:1/other");
    let mut wrong_iss = good.clone();
    wrong_iss["iss"] = json!("http://127.0.0.1:1/");
    let mut expired = good.clone();
    expired["exp"] = json!(now() - 3600);
    expired["iat"] = json!(now() - 7200);
    let mut not_yet = good.clone();
    not_yet["nbf"] = json!(now() + 3600);
    let bad_signature = sign(Algorithm::RS256, "rsa-1", "rsa-2.pem", &good); // rsa-2 is not published yet
    let alg_none =
        format!("{}.{}.", b64(br#"{"alg":"none","typ":"JWT","kid":"rsa-1"}"#), b64(good.to_string().as_bytes()));
    let mut hs = Header::new(Algorithm::HS256);
    hs.kid = Some("rsa-1".into());
    let hs256_public = encode(&hs, &good, &EncodingKey::from_secret(&fixture("rsa-1.pub.pem"))).unwrap();
    let mut tampered = sign(Algorithm::RS256, "rsa-1", "rsa-1.pem", &good);
    let dot = tampered.find('.').unwrap();
    let mut evil = good.clone();
    evil["sub"] = json!("mallory");
    tampered.replace_range(dot + 1..tampered.rfind('.').unwrap(), &b64(evil.to_string().as_bytes()));
    let refused = [
        ("wrong audience", sign(Algorithm::RS256, "rsa-1", "rsa-1.pem", &wrong_aud)),
        ("wrong issuer", sign(Algorithm::ES256, "es-1", "es-1.pem", &wrong_iss)),
        ("expired", sign(Algorithm::EdDSA, "ed-1", "ed-1.pem", &expired)),
        ("not yet valid", sign(Algorithm::RS256, "rsa-1", "rsa-1.pem", &not_yet)),
        ("bad signature", bad_signature),
        ("tampered payload", tampered),
        ("alg none", alg_none),
        ("HS256 with the public key", hs256_public),
        ("garbage", "not.a.jwt".to_owned()),
    ];
    for (what, token) in &refused {
        let a = call(&c, Some(token), "whoami", json!({})).await;
        assert_eq!(a.status, 401, "{what}: {}", a.body);
        assert_eq!(
            a.challenge(),
            format!("Bearer resource_metadata=\"{meta_url}\", error=\"invalid_token\""),
            "{what}"
        );
    }

    // A key published after startup (rotation) is accepted within a minute.
    issuer.publish("rsa-2");
    let rotated = sign(Algorithm::RS256, "rsa-2", "rsa-2.pem", &claims(&iss, &aud, "carol", ""));
    let t0 = Instant::now();
    loop {
        let a = call(&c, Some(&rotated), "whoami", json!({})).await;
        if a.status == 200 {
            assert_eq!(a.body["result"]["structuredContent"]["subject"], "carol");
            break;
        }
        assert!(t0.elapsed() < Duration::from_secs(60), "the new kid was not accepted within a minute");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    eprintln!("new kid accepted after {:?}", t0.elapsed());

    // Scopes: `reset` needs counter:write; hidden from the list, 403 step-up on call.
    let reader = sign(Algorithm::RS256, "rsa-1", "rsa-1.pem", &claims(&iss, &aud, "dave", "counter:read"));
    let writer = sign(Algorithm::ES256, "es-1", "es-1.pem", &claims(&iss, &aud, "erin", "counter:read counter:write"));
    let names = |a: &Answer| -> Vec<String> {
        a.body["result"]["tools"].as_array().unwrap().iter().map(|t| t["name"].as_str().unwrap().to_owned()).collect()
    };
    let listed = modern(&c, Some(&reader), "tools/list", json!({})).await;
    assert!(!names(&listed).contains(&"reset".to_owned()), "{}", listed.body);
    assert!(names(&listed).contains(&"whoami".to_owned()));
    assert_eq!(listed.body["result"]["cacheScope"], "private", "lists vary by caller: {}", listed.body);
    let listed = modern(&c, Some(&writer), "tools/list", json!({})).await;
    assert!(names(&listed).contains(&"reset".to_owned()), "{}", listed.body);
    let a = call(&c, Some(&reader), "reset", json!({})).await;
    assert_eq!(a.status, 403, "{}", a.body);
    assert_eq!(
        a.challenge(),
        format!("Bearer resource_metadata=\"{meta_url}\", error=\"insufficient_scope\", scope=\"counter:write\"")
    );
    assert_eq!(a.body["error"]["data"]["requiredScopes"], json!(["counter:write"]));
    let a = call(&c, Some(&writer), "reset", json!({})).await;
    assert_eq!((a.status, a.text()), (200, "0"), "{}", a.body);

    // 2026-07-28: each principal has its own state.
    let alice = sign(Algorithm::RS256, "rsa-1", "rsa-1.pem", &claims(&iss, &aud, "alice", ""));
    let bob = sign(Algorithm::EdDSA, "ed-1", "ed-1.pem", &claims(&iss, &aud, "bob", ""));
    for _ in 0..3 {
        assert_eq!(call(&c, Some(&alice), "increment", json!({})).await.status, 200);
    }
    call(&c, Some(&alice), "remember", json!({"key": "color", "value": "blue"})).await;
    assert_eq!(call(&c, Some(&alice), "get_counter", json!({})).await.text(), "3");
    assert_eq!(call(&c, Some(&bob), "get_counter", json!({})).await.text(), "0");
    assert_eq!(call(&c, Some(&bob), "recall", json!({"key": "color"})).await.text(), "null");
    assert_eq!(call(&c, Some(&bob), "increment", json!({"by": 10})).await.text(), "10");
    assert_eq!(call(&c, Some(&alice), "get_counter", json!({})).await.text(), "3");
    assert_eq!(call(&c, Some(&alice), "recall", json!({"key": "color"})).await.text(), "\"blue\"");
    let (wa, wb) = (call(&c, Some(&alice), "whoami", json!({})).await, call(&c, Some(&bob), "whoami", json!({})).await);
    assert_ne!(
        wa.body["result"]["structuredContent"]["session_id"],
        wb.body["result"]["structuredContent"]["session_id"]
    );

    // Legacy Streamable HTTP: alice's session is 404 for bob.
    let sid = legacy_session(&c, Some(&alice)).await;
    let mine = legacy(&c, Some(&alice), Some(&sid), "tools/call", json!({"name": "whoami", "arguments": {}})).await;
    assert_eq!(mine.status, 200, "{}", mine.body);
    assert_eq!(mine.body["result"]["structuredContent"]["subject"], "alice");
    let theirs =
        legacy(&c, Some(&bob), Some(&sid), "tools/call", json!({"name": "get_counter", "arguments": {}})).await;
    assert_eq!(theirs.status, 404, "{}", theirs.body);
    // The session is looked up before the scopes: bob (no counter:write) asking for `reset` in
    // alice's session, or in one that never existed, is 404 as well, not 403.
    for session in [sid.as_str(), "no-such-session"] {
        let a = legacy(&c, Some(&bob), Some(session), "tools/call", json!({"name": "reset", "arguments": {}})).await;
        assert_eq!(a.status, 404, "{}", a.body);
    }

    // Legacy HTTP+SSE: 401 without a token, and alice's stream is 404 for bob.
    let r = http().get(format!("http://{}/sse", c.addr)).header("accept", "text/event-stream").send().await.unwrap();
    assert_eq!(r.status(), 401);
    assert!(r.headers()["www-authenticate"].to_str().unwrap().contains(&meta_url));
    let mut stream = http()
        .get(format!("http://{}/sse", c.addr))
        .header("accept", "text/event-stream")
        .bearer_auth(&alice)
        .send()
        .await
        .unwrap();
    assert_eq!(stream.status(), 200);
    let mut first = String::new();
    while !first.contains("\n\n") {
        let chunk =
            tokio::time::timeout(WAIT, stream.chunk()).await.expect("endpoint in time").unwrap().expect("chunk");
        first.push_str(&String::from_utf8_lossy(&chunk));
    }
    let endpoint = first.lines().find_map(|l| l.strip_prefix("data: ")).expect("endpoint event").to_owned();
    let post = |token: &str| {
        http()
            .post(format!("http://{}{endpoint}", c.addr))
            .header("content-type", "application/json")
            .bearer_auth(token)
            .body(json!({"jsonrpc": "2.0", "id": 9, "method": "tools/call", "params": {"name": "reset", "arguments": {}}}).to_string())
            .send()
    };
    assert_eq!(post(&bob).await.unwrap().status(), 404, "bob cannot use alice's HTTP+SSE session");
    let step_up = post(&alice).await.unwrap();
    assert_eq!(step_up.status(), 403, "HTTP+SSE also answers insufficient_scope with 403");
    assert!(step_up.headers()["www-authenticate"].to_str().unwrap().contains("error=\"insufficient_scope\""));
    drop(issuer);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn session_login_and_logout() {
    let c = Counter::start(&["--login", "alice=wonderland"]);
    let sid = legacy_session(&c, None).await;
    let tool = |name: &'static str, args: Value| {
        let (c, sid) = (&c, sid.clone());
        async move { legacy(c, None, Some(&sid), "tools/call", json!({"name": name, "arguments": args})).await }
    };
    let who = tool("whoami", json!({})).await;
    assert_eq!(who.body["result"]["structuredContent"]["subject"], Value::Null, "{}", who.body);
    let s = tool("secret", json!({})).await;
    assert_eq!(s.body["result"]["isError"], true, "{}", s.body);
    let bad = tool("login", json!({"username": "alice", "password": "guess"})).await;
    assert_eq!(bad.body["result"]["isError"], true, "{}", bad.body);
    let ok = tool("login", json!({"username": "alice", "password": "wonderland"})).await;
    assert_eq!(ok.text(), "Logged in as alice", "{}", ok.body);
    assert_eq!(tool("whoami", json!({})).await.body["result"]["structuredContent"]["subject"], "alice");
    assert!(tool("secret", json!({})).await.text().starts_with("alice's secret"));
    // Another session is not logged in.
    let other = legacy_session(&c, None).await;
    let s = legacy(&c, None, Some(&other), "tools/call", json!({"name": "secret", "arguments": {}})).await;
    assert_eq!(s.body["result"]["isError"], true, "{}", s.body);
    assert_eq!(tool("logout", json!({})).await.text(), "Logged out");
    assert_eq!(tool("secret", json!({})).await.body["result"]["isError"], true);
    assert_eq!(tool("whoami", json!({})).await.body["result"]["structuredContent"]["subject"], Value::Null);
}

#[test]
fn plain_http_jwks_is_refused_off_loopback() {
    let bin = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/debug/examples/counter");
    let bin = std::env::var_os("FERRO_COUNTER_BIN").map(std::path::PathBuf::from).unwrap_or(bin);
    let out = std::process::Command::new(bin)
        .args([
            "--port",
            "0",
            "--jwt-jwks",
            "http://id.example.com/jwks.json",
            "--jwt-issuer",
            "https://id.example.com/",
        ])
        .output()
        .expect("run counter");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("loopback"), "{err}");
}

trait JsonOrPanic {
    async fn json_or_panic(self) -> Value;
}

impl JsonOrPanic for reqwest::Response {
    async fn json_or_panic(self) -> Value {
        let text = self.text().await.expect("body");
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
    }
}
