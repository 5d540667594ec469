//! Sealed MRTR `requestState` (2026-07-28): bound to the caller, to the request, and to
//! the sealing key ring.
//!
//! * In process (`dispatch::handle_request` with a principal in the request's env): a
//!   state minted for alice is rejected for bob with -32602 and still completes alice's
//!   call; without a principal a state stays bound to method, target and arguments;
//!   rotation: a state sealed under key A opens on a server with current key B and
//!   previous key A, and is rejected (-32602) by a server with only B; a state that
//!   would exceed `max_request_state_bytes` fails with -32602 naming the limit.
//! * Over real HTTP on 127.0.0.1 with two bearer tokens (`alice-token`, `bob-token`):
//!   bob retrying with alice's `requestState` gets -32602, alice's retry completes.
//! * The `everything` example (`--token`, `--sealing-key`), restarted with rotated keys:
//!   state sealed under key A is accepted after a restart with `--sealing-key B
//!   --sealing-key A` and rejected after one with only B; bob cannot use alice's state.
//!   (The binary is built by `cargo test` or `cargo build --examples`;
//!   `FERRO_EVERYTHING_BIN` overrides its path.)
//! * Building: a multi-node server without a sealing key is refused.
//!
//! Every wait is bounded by a timeout.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use ferromcp::auth::StaticBearer;
use ferromcp::context::Elicitation;
use ferromcp::http::{HttpAuth, HttpConfig};
use ferromcp::jsonrpc::{self, Message};
use ferromcp::state::Principal;
use ferromcp::{BuildError, Context, Era, Error, NoArgs, Server, ServerBuilder, ToolDef, TransportKind};
use ferromcp_core::RequestEnv;
use ferromcp_core::outbound::Outbound;
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::timeout;
use tokio_util::sync::CancellationToken;

const WAIT: Duration = Duration::from_secs(10);
const MODERN: &str = "2026-07-28";
const INVALID_PARAMS: i64 = -32602;

#[derive(serde::Deserialize, schemars::JsonSchema)]
struct Name {
    name: String,
}

#[derive(serde::Deserialize, schemars::JsonSchema)]
struct Color {
    color: String,
}

#[derive(serde::Deserialize, schemars::JsonSchema)]
struct Topic {
    topic: String,
}

/// `profile` asks two questions in two rounds, so the second round's state carries the
/// first answer: whoever replays that state inherits it.
fn builder() -> ServerBuilder {
    Server::builder("sealing", "1")
        .tool(ToolDef::new("profile").handler(|ctx: Context, _: NoArgs| async move {
            let name = match ctx.elicit::<Name>("Name?").key("name").await? {
                Elicitation::Accept(n) => n.name,
                _ => "-".into(),
            };
            let color = ctx.elicit::<Color>("Color?").key("color").await?.accepted().map(|c| c.color);
            Ok::<_, Error>(format!("{name} likes {}", color.unwrap_or_default()))
        }))
        .tool(ToolDef::new("about").handler(|ctx: Context, t: Topic| async move {
            let n = ctx.elicit::<Name>("Name?").key("name").await?.accepted().map(|n| n.name);
            Ok::<_, Error>(format!("{} asks about {}", n.unwrap_or_default(), t.topic))
        }))
}

fn request(id: u64, params: Value) -> String {
    let mut params = params;
    params["_meta"] = json!({
        "io.modelcontextprotocol/protocolVersion": MODERN,
        "io.modelcontextprotocol/clientCapabilities": {"elicitation": {}},
    });
    json!({"jsonrpc": "2.0", "id": id, "method": "tools/call", "params": params}).to_string()
}

fn answer(key: &str, content: Value) -> Value {
    json!({ key: {"action": "accept", "content": content} })
}

/// One modern `tools/call` in process, as `principal` (or anonymous); the JSON-RPC reply.
async fn call(server: &Server, principal: Option<&str>, params: Value) -> Value {
    let body = request(1, params);
    let Ok(Message::Request(req)) = jsonrpc::decode(body.as_bytes()) else { panic!("not a request: {body}") };
    let (outbound, _frames) = Outbound::channel();
    let env = RequestEnv {
        era: Era::Modern(ferromcp::protocol::V_2026_07_28),
        transport: TransportKind::InMemory,
        session: None,
        outbound,
        cancel: CancellationToken::new(),
        principal: principal.map(|p| Arc::new(Principal::new(p))),
    };
    let reply =
        timeout(WAIT, ferromcp_core::dispatch::handle_request(server, req, env)).await.expect("answered in time");
    serde_json::from_slice(&reply.body.expect("a reply body")).expect("JSON reply")
}

/// The `requestState` of an `InputRequiredResult` that asks for `key`.
fn state_asking(reply: &Value, key: &str) -> String {
    let r = &reply["result"];
    assert_eq!(r["resultType"], "input_required", "{reply}");
    assert!(r["inputRequests"].get(key).is_some(), "asks for {key}: {reply}");
    r["requestState"].as_str().expect("requestState").to_owned()
}

fn text(reply: &Value) -> &str {
    reply["result"]["content"][0]["text"].as_str().unwrap_or_else(|| panic!("a text result: {reply}"))
}

fn error_code(reply: &Value) -> i64 {
    reply["error"]["code"].as_i64().unwrap_or_else(|| panic!("an error: {reply}"))
}

/// Alice's first two rounds of `profile`: the state that carries her name.
async fn alices_second_state(server: &Server, who: Option<&str>) -> String {
    let first = call(server, who, json!({"name": "profile", "arguments": {}})).await;
    let s1 = state_asking(&first, "name");
    let params = json!({"name": "profile", "arguments": {}, "requestState": s1,
        "inputResponses": answer("name", json!({"name": "Alice"}))});
    state_asking(&call(server, who, params).await, "color")
}

fn retry(state: &str, color: &str) -> Value {
    json!({"name": "profile", "arguments": {}, "requestState": state,
        "inputResponses": answer("color", json!({"color": color}))})
}

#[tokio::test]
async fn a_state_minted_for_alice_is_rejected_for_bob_in_process() {
    let server = builder().sealing_key("k").build();
    let state = alices_second_state(&server, Some("alice")).await;
    let stolen = call(&server, Some("bob"), retry(&state, "black")).await;
    assert_eq!(error_code(&stolen), INVALID_PARAMS, "{stolen}");
    assert!(stolen["error"]["message"].as_str().unwrap().contains("another caller"), "{stolen}");
    let anonymous = call(&server, None, retry(&state, "black")).await;
    assert_eq!(error_code(&anonymous), INVALID_PARAMS, "an unauthenticated caller is another caller: {anonymous}");
    let done = call(&server, Some("alice"), retry(&state, "green")).await;
    assert_eq!(text(&done), "Alice likes green", "{done}");
}

#[tokio::test]
async fn without_a_principal_a_state_stays_bound_to_method_target_and_arguments() {
    let server = builder().sealing_key("k").build();
    let anon = alices_second_state(&server, None).await;
    assert_eq!(error_code(&call(&server, Some("alice"), retry(&anon, "red")).await), INVALID_PARAMS);
    assert_eq!(text(&call(&server, None, retry(&anon, "red")).await), "Alice likes red");

    let first = call(&server, None, json!({"name": "about", "arguments": {"topic": "rust"}})).await;
    let state = state_asking(&first, "name");
    let again = |args: Value| {
        json!({"name": "about", "arguments": args, "requestState": state,
            "inputResponses": answer("name", json!({"name": "Ann"}))})
    };
    let other_args = call(&server, None, again(json!({"topic": "go"}))).await;
    assert_eq!(error_code(&other_args), INVALID_PARAMS, "{other_args}");
    let mut other_tool = again(json!({"topic": "rust"}));
    other_tool["name"] = json!("profile");
    assert_eq!(error_code(&call(&server, None, other_tool).await), INVALID_PARAMS);
    assert_eq!(text(&call(&server, None, again(json!({"topic": "rust"}))).await), "Ann asks about rust");
}

#[tokio::test]
async fn rotation_accepts_previous_keys_and_rejects_removed_ones() {
    let old = builder().sealing_key("key A").build();
    let state = alices_second_state(&old, Some("alice")).await;
    let rotated = builder().sealing_key("key B").previous_sealing_key("key A").build();
    assert_eq!(text(&call(&rotated, Some("alice"), retry(&state, "blue")).await), "Alice likes blue");
    // New state from the rotated server is sealed with B: B alone opens it.
    let fresh = alices_second_state(&rotated, Some("alice")).await;
    let only_b = builder().sealing_key("key B").build();
    assert_eq!(text(&call(&only_b, Some("alice"), retry(&fresh, "teal")).await), "Alice likes teal");
    let removed = call(&only_b, Some("alice"), retry(&state, "blue")).await;
    assert_eq!(error_code(&removed), INVALID_PARAMS, "{removed}");
    let only_a = builder().sealing_key("key A").build();
    assert_eq!(error_code(&call(&only_a, Some("alice"), retry(&fresh, "teal")).await), INVALID_PARAMS);
}

#[tokio::test]
async fn a_state_over_the_size_limit_is_a_clear_error_not_an_unsendable_retry() {
    let server = builder().sealing_key("k").max_request_state_bytes(4096).build();
    let first = call(&server, None, json!({"name": "profile", "arguments": {}})).await;
    let s1 = state_asking(&first, "name");
    let big = "x".repeat(8192);
    let params = json!({"name": "profile", "arguments": {}, "requestState": s1,
        "inputResponses": answer("name", json!({"name": big}))});
    let reply = call(&server, None, params).await;
    assert_eq!(error_code(&reply), INVALID_PARAMS, "{reply}");
    let msg = reply["error"]["message"].as_str().unwrap();
    assert!(msg.contains("max_request_state_bytes") && msg.contains("4096"), "{msg}");
    let oversized = json!({"name": "profile", "arguments": {}, "requestState": "x".repeat(5000),
        "inputResponses": answer("name", json!({"name": "Eve"}))});
    let reply = call(&server, None, oversized).await;
    assert_eq!(error_code(&reply), INVALID_PARAMS, "{reply}");
    assert!(reply["error"]["message"].as_str().unwrap().contains("limit of 4096 bytes"), "{reply}");
    // A small answer still works.
    let state = alices_second_state(&server, None).await;
    assert_eq!(text(&call(&server, None, retry(&state, "red")).await), "Alice likes red");
}

#[test]
fn a_multi_node_server_without_a_sealing_key_is_refused() {
    let e = builder().multi_node(true).try_build().expect_err("no key on several nodes");
    assert!(matches!(e, BuildError::MissingSealingKey));
    assert!(e.to_string().contains("sealing_key"), "{e}");
    assert!(builder().multi_node(true).sealing_key("shared").try_build().is_ok());
    assert!(builder().try_build().is_ok(), "one node may use a random key");
    let e = builder().previous_sealing_key("old").try_build().expect_err("previous keys need a current one");
    assert!(matches!(e, BuildError::PreviousKeysWithoutCurrent), "{e}");
}

/// Sends one modern `tools/call` over HTTP with `authorization`; the JSON-RPC reply.
async fn post(addr: SocketAddr, authorization: &str, params: Value) -> Value {
    let tcp = timeout(WAIT, TcpStream::connect(addr)).await.expect("connect in time").expect("connect");
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tcp)).await.expect("handshake");
    let driver = tokio::spawn(conn);
    let name = params["name"].as_str().unwrap_or_default().to_owned();
    let req = hyper::Request::builder()
        .method("POST")
        .uri("/mcp")
        .header("host", addr.to_string())
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .header("authorization", authorization)
        .header("mcp-protocol-version", MODERN)
        .header("mcp-method", "tools/call")
        .header("mcp-name", name)
        .body(Full::new(Bytes::from(request(7, params))))
        .expect("request");
    let resp = timeout(WAIT, sender.send_request(req)).await.expect("answer in time").expect("answer");
    let body = timeout(WAIT, resp.into_body().collect()).await.expect("body in time").expect("body").to_bytes();
    driver.abort();
    serde_json::from_slice(&body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&body)))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_http_bob_cannot_retry_with_alices_state() {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let bearer =
        StaticBearer::new().token("alice-token", Principal::new("alice")).token("bob-token", Principal::new("bob"));
    let cfg = HttpConfig::default().auth(HttpAuth::required(bearer));
    let serving = tokio::spawn(ferromcp::http::serve_listener(builder().sealing_key("k").build(), listener, cfg));
    let (alice, bob) = ("Bearer alice-token", "Bearer bob-token");

    let first = post(addr, alice, json!({"name": "profile", "arguments": {}})).await;
    let s1 = state_asking(&first, "name");
    let second = post(
        addr,
        alice,
        json!({"name": "profile", "arguments": {}, "requestState": s1,
            "inputResponses": answer("name", json!({"name": "Alice"}))}),
    )
    .await;
    let s2 = state_asking(&second, "color");

    let stolen = post(addr, bob, retry(&s2, "black")).await;
    assert_eq!(error_code(&stolen), INVALID_PARAMS, "{stolen}");
    assert_eq!(stolen["id"], 7);
    let done = post(addr, alice, retry(&s2, "green")).await;
    assert_eq!(text(&done), "Alice likes green", "{done}");
    serving.abort();
}

/// The `everything` example serving HTTP on a free loopback port; killed on drop.
struct Everything {
    child: std::process::Child,
    addr: SocketAddr,
}

impl Everything {
    fn start(args: &[&str]) -> Everything {
        let bin = match std::env::var_os("FERRO_EVERYTHING_BIN") {
            Some(p) => std::path::PathBuf::from(p),
            None => std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/debug/examples/everything"),
        };
        assert!(bin.exists(), "{} is missing: build it with `cargo build --example everything`", bin.display());
        let port = std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("free port").port();
        let child = std::process::Command::new(&bin)
            .args(["--port", &port.to_string()])
            .args(args)
            .env("RUST_LOG", "error")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("spawn everything");
        let mut e = Everything { child, addr: SocketAddr::from(([127, 0, 0, 1], port)) };
        let deadline = std::time::Instant::now() + WAIT;
        while std::net::TcpStream::connect(e.addr).is_err() {
            assert!(e.child.try_wait().expect("wait").is_none(), "everything {args:?} exited at startup");
            assert!(std::time::Instant::now() < deadline, "everything did not listen within {WAIT:?}");
            std::thread::sleep(Duration::from_millis(20));
        }
        e
    }
}

impl Drop for Everything {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_everything_example_binds_state_to_tokens_and_rotates_keys() {
    const TOOL: &str = "test_input_required_result_multi_round";
    let (a, b) = (&"a1".repeat(32), &"b2".repeat(32));
    let tokens = ["--token", "alice-token=alice", "--token", "bob-token=bob"];
    let (alice, bob) = ("Bearer alice-token", "Bearer bob-token");
    let step2 = |state: &str| {
        json!({"name": TOOL, "arguments": {}, "requestState": state,
            "inputResponses": answer("step2", json!({"color": "green"}))})
    };

    let old = Everything::start(&[&tokens[..], &["--sealing-key", a]].concat());
    let first = post(old.addr, alice, json!({"name": TOOL, "arguments": {}})).await;
    let s1 = state_asking(&first, "step1");
    let params = json!({"name": TOOL, "arguments": {}, "requestState": s1,
        "inputResponses": answer("step1", json!({"name": "Alice"}))});
    let s2 = state_asking(&post(old.addr, alice, params).await, "step2");
    assert_eq!(error_code(&post(old.addr, bob, step2(&s2)).await), INVALID_PARAMS, "bob cannot use it");
    drop(old);

    let rotated = Everything::start(&[&tokens[..], &["--sealing-key", b, "--sealing-key", a]].concat());
    let done = post(rotated.addr, alice, step2(&s2)).await;
    assert_eq!(text(&done), "Alice likes green", "{done}");
    drop(rotated);

    let removed = Everything::start(&[&tokens[..], &["--sealing-key", b]].concat());
    assert_eq!(error_code(&post(removed.addr, alice, step2(&s2)).await), INVALID_PARAMS);
}
