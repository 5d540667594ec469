//! `FERROMCP_*` settings: every variable parses and applies, every bad value is an error
//! naming the variable, explicit builder calls win, and `json_response` really answers
//! with JSON over loopback HTTP. (The process test — an example started with
//! `FERROMCP_PORT` listens there — lives in the CLI crate's tests.)

use std::collections::HashMap;
use std::time::Duration;

use ferromcp_core::mrtr::{Binding, Continuation, digest_arguments};
use ferromcp_core::session::SessionLimits;
use ferromcp_core::{Context, NoArgs, Server, ToolDef};
use ferromcp_http::settings::{EventStoreChoice, LogFormat, VARIABLES};
use ferromcp_http::{HttpConfig, Settings, SettingsError};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn parse(vars: &[(&str, &str)]) -> Result<Settings, SettingsError> {
    let map: HashMap<String, String> = vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    Settings::from_lookup(|k| map.get(k).cloned())
}

/// One bad value: the error names the variable and its expected form.
fn rejects(var: &str, value: &str) {
    let err = parse(&[(var, value)]).expect_err(&format!("{var}={value} must be refused"));
    assert_eq!(err.variable, var);
    let msg = err.to_string();
    assert!(msg.contains(var) && msg.contains("expected"), "{msg}");
}

#[test]
fn nothing_set_changes_nothing() {
    let s = parse(&[]).expect("empty environment");
    assert_eq!(s, Settings::default());
    let cfg = s.apply_http(HttpConfig::default());
    assert_eq!(cfg.path, "/mcp");
    assert!(cfg.stateful && !cfg.json_response && cfg.event_store.is_some() && cfg.metrics_path.is_none());
    assert_eq!(s.addr("127.0.0.1:3000".parse().unwrap()).to_string(), "127.0.0.1:3000");
    // Empty values count as unset.
    assert_eq!(parse(&[("FERROMCP_PORT", ""), ("FERROMCP_LOG", " ")]).unwrap(), Settings::default());
}

#[test]
fn host_and_port() {
    let s = parse(&[("FERROMCP_HOST", "0.0.0.0"), ("FERROMCP_PORT", "4123")]).unwrap();
    assert_eq!(s.addr("127.0.0.1:3000".parse().unwrap()).to_string(), "0.0.0.0:4123");
    let s = parse(&[("FERROMCP_HOST", "[::1]")]).unwrap();
    assert_eq!(s.addr("127.0.0.1:3000".parse().unwrap()).to_string(), "[::1]:3000");
    rejects("FERROMCP_HOST", "localhost:80");
    rejects("FERROMCP_PORT", "70000");
    rejects("FERROMCP_PORT", "http");
}

#[test]
fn path_stateless_and_json_response() {
    let s = parse(&[("FERROMCP_PATH", "/api/mcp"), ("FERROMCP_STATELESS", "yes"), ("FERROMCP_JSON_RESPONSE", "1")])
        .unwrap();
    let cfg = s.apply_http(HttpConfig::default());
    assert_eq!(cfg.path, "/api/mcp");
    assert!(!cfg.stateful);
    assert!(cfg.json_response);
    let off = parse(&[("FERROMCP_STATELESS", "OFF"), ("FERROMCP_JSON_RESPONSE", "false")]).unwrap();
    let cfg = off.apply_http(HttpConfig::default().stateless().json_response(true));
    assert!(cfg.stateful && !cfg.json_response, "false values apply too");
    rejects("FERROMCP_PATH", "mcp");
    rejects("FERROMCP_PATH", "/a b");
    rejects("FERROMCP_STATELESS", "maybe");
    rejects("FERROMCP_JSON_RESPONSE", "2");
}

#[test]
fn session_limits_and_state_ttl() {
    let s = parse(&[
        ("FERROMCP_SESSION_IDLE_TIMEOUT", "5m"),
        ("FERROMCP_MAX_SESSIONS", "42"),
        ("FERROMCP_STATE_TTL", "2h"),
    ])
    .unwrap();
    assert_eq!(s.session_idle_timeout, Some(Some(Duration::from_secs(300))));
    let limits = SessionLimits::default().max_per_client(Some(7));
    let server = s.apply_server(Server::builder("t", "1"), limits).build();
    let cfg = server.config();
    assert_eq!(cfg.session_limits.idle_timeout, Some(Duration::from_secs(300)));
    assert_eq!(cfg.session_limits.max_sessions, 42);
    assert_eq!(cfg.session_limits.max_per_client, Some(7), "limits not named by a variable are kept");
    assert_eq!(cfg.state_ttl, Duration::from_secs(7200));
    let never = parse(&[("FERROMCP_SESSION_IDLE_TIMEOUT", "0")]).unwrap();
    let server = never.apply_server(Server::builder("t", "1"), SessionLimits::default()).build();
    assert_eq!(server.config().session_limits.idle_timeout, None, "0 = never reap");
    assert_eq!(parse(&[("FERROMCP_STATE_TTL", "250ms")]).unwrap().state_ttl, Some(Duration::from_millis(250)));
    rejects("FERROMCP_SESSION_IDLE_TIMEOUT", "soon");
    rejects("FERROMCP_MAX_SESSIONS", "0");
    rejects("FERROMCP_MAX_SESSIONS", "-3");
    rejects("FERROMCP_STATE_TTL", "0s");
    rejects("FERROMCP_STATE_TTL", "5 fortnights");
}

#[test]
fn redis_url() {
    let s = parse(&[("FERROMCP_REDIS_URL", "redis://127.0.0.1:6379/3")]).unwrap();
    assert_eq!(s.redis_url.as_deref(), Some("redis://127.0.0.1:6379/3"));
    rejects("FERROMCP_REDIS_URL", "http://127.0.0.1:6379");
    rejects("FERROMCP_REDIS_URL", "127.0.0.1:6379");
}

#[test]
fn sealing_keys_seal_and_rotate() {
    let (old, new) = ("00112233445566778899aabbccddeeff", "ffeeddccbbaa99887766554433221100");
    let s = parse(&[("FERROMCP_SEALING_KEYS", &format!("{new}, {old}"))]).unwrap();
    assert_eq!(s.sealing_keys.len(), 2);
    assert_eq!(s.sealing_keys[0][0], 0xff);
    // Applied: state sealed under the old key by another node still opens here.
    let old_node = parse(&[("FERROMCP_SEALING_KEYS", old)]).unwrap();
    let old_server = old_node.apply_server(Server::builder("t", "1"), SessionLimits::default()).build();
    let new_server = s.apply_server(Server::builder("t", "1"), SessionLimits::default()).build();
    let binding = Binding::new(None, "tools/call", "t", digest_arguments(None));
    let state = Continuation { round: 3, ..Continuation::default() };
    let sealed = old_server.sealer().seal(&binding, &state);
    assert_eq!(new_server.sealer().open(&sealed, &binding).expect("the previous key opens it"), state);
    // A random-key server cannot open it.
    let random = Server::builder("t", "1").build();
    assert!(random.sealer().open(&sealed, &binding).is_err());
    rejects("FERROMCP_SEALING_KEYS", "not-hex");
    rejects("FERROMCP_SEALING_KEYS", "abc");
    rejects("FERROMCP_SEALING_KEYS", "0011,zz");
}

#[test]
fn event_store() {
    let none = parse(&[("FERROMCP_EVENT_STORE", "none")]).unwrap();
    assert_eq!(none.event_store, Some(EventStoreChoice::None));
    assert!(none.apply_http(HttpConfig::default()).event_store.is_none());
    let mem = parse(&[("FERROMCP_EVENT_STORE", "Memory")]).unwrap();
    assert!(mem.apply_http(HttpConfig::default().without_event_store()).event_store.is_some());
    // `redis` needs the Redis URL; with it, it is accepted and left to the program
    // (`ferromcp::settings::redis_event_store`, tested in the facade's resumption tests).
    rejects("FERROMCP_EVENT_STORE", "redis");
    let redis = parse(&[("FERROMCP_EVENT_STORE", "Redis"), ("FERROMCP_REDIS_URL", "redis://127.0.0.1:1/")]).unwrap();
    assert_eq!(redis.event_store, Some(EventStoreChoice::Redis));
    assert!(redis.apply_http(HttpConfig::default().without_event_store()).event_store.is_none());
    rejects("FERROMCP_EVENT_STORE", "disk");
}

#[test]
fn log_and_log_format() {
    let s = parse(&[("FERROMCP_LOG", "ferromcp=debug,warn"), ("FERROMCP_LOG_FORMAT", "json")]).unwrap();
    assert_eq!(s.log.as_deref(), Some("ferromcp=debug,warn"));
    assert_eq!(s.log_format, Some(LogFormat::Json));
    assert_eq!(parse(&[("FERROMCP_LOG_FORMAT", "TEXT")]).unwrap().log_format, Some(LogFormat::Text));
    rejects("FERROMCP_LOG", "info debug");
    rejects("FERROMCP_LOG_FORMAT", "xml");
}

#[test]
fn metrics_path() {
    let s = parse(&[("FERROMCP_METRICS_PATH", "/metrics")]).unwrap();
    assert_eq!(s.apply_http(HttpConfig::default()).metrics_path.as_deref(), Some("/metrics"));
    rejects("FERROMCP_METRICS_PATH", "metrics");
    rejects("FERROMCP_METRICS_PATH", "/mcp");
    let err = parse(&[("FERROMCP_PATH", "/x"), ("FERROMCP_METRICS_PATH", "/x")]).unwrap_err();
    assert_eq!(err.variable, "FERROMCP_METRICS_PATH");
}

#[test]
fn every_variable_is_read() {
    // A bad value in each variable of the table is noticed: none is silently ignored.
    for var in VARIABLES {
        let bad = match var {
            "FERROMCP_LOG" => "a b",
            "FERROMCP_PATH" | "FERROMCP_METRICS_PATH" => "no-slash",
            _ => "\u{1F600}",
        };
        rejects(var, bad);
    }
}

#[test]
fn explicit_builder_calls_win() {
    let s = parse(&[("FERROMCP_PATH", "/env"), ("FERROMCP_JSON_RESPONSE", "true")]).unwrap();
    let cfg = s.apply_http(HttpConfig::default()).path("/code").json_response(false);
    assert_eq!(cfg.path, "/code");
    assert!(!cfg.json_response);
    let s = parse(&[("FERROMCP_STATE_TTL", "1h")]).unwrap();
    let server = s.apply_server(Server::builder("t", "1"), SessionLimits::default()).state_ttl(Duration::from_secs(5));
    assert_eq!(server.build().config().state_ttl, Duration::from_secs(5));
}

/// POSTs `body` with `Accept: application/json, text/event-stream`; returns (head, body).
async fn post(addr: std::net::SocketAddr, body: &str) -> (String, String) {
    let headers = "MCP-Protocol-Version: 2026-07-28\r\nMcp-Method: tools/call\r\nMcp-Name: work";
    let mut s = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let req = format!(
        "POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n\
         Accept: application/json, text/event-stream\r\n{headers}\r\n\
         Connection: close\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes()).await.expect("write");
    let mut out = String::new();
    tokio::time::timeout(Duration::from_secs(10), s.read_to_string(&mut out))
        .await
        .expect("answer in time")
        .expect("read");
    let (head, body) = out.split_once("\r\n\r\n").unwrap_or((&out, ""));
    (head.to_ascii_lowercase(), body.to_string())
}

async fn serve(cfg: HttpConfig) -> std::net::SocketAddr {
    let server = Server::builder("json", "1")
        .tool(ToolDef::new("work").handler(|ctx: Context, _: NoArgs| async move {
            ctx.report_progress(1.0, Some(2.0), None).await;
            ctx.info("halfway").await;
            "done"
        }))
        .build();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(ferromcp_http::serve_listener(server, listener, cfg));
    addr
}

#[tokio::test]
async fn json_response_answers_with_json_even_when_sse_is_accepted() {
    // The modern era streams a call that reports progress as SSE unless json_response.
    let call = r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"work","arguments":{},
        "_meta":{"progressToken":"p","io.modelcontextprotocol/protocolVersion":"2026-07-28",
        "io.modelcontextprotocol/clientCapabilities":{},"io.modelcontextprotocol/logLevel":"info",
        "io.modelcontextprotocol/clientInfo":{"name":"t","version":"1"}}}}"#;
    let call = call.replace('\n', "");
    let streaming = serve(HttpConfig::default()).await;
    let (head, _) = post(streaming, &call).await;
    assert!(head.contains("content-type: text/event-stream"), "without json_response: {head}");
    let env = parse(&[("FERROMCP_JSON_RESPONSE", "true")]).unwrap();
    let json_only = serve(env.apply_http(HttpConfig::default())).await;
    let (head, body) = post(json_only, &call).await;
    assert!(head.contains("content-type: application/json"), "with json_response: {head}");
    let v: serde_json::Value = serde_json::from_str(&body).expect("one JSON body");
    assert_eq!(v["result"]["content"][0]["text"], "done", "{v}");
}
