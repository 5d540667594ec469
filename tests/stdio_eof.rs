//! End of input on a line-delimited connection (stdio): calls still running finish and
//! their results are written before the server returns, within
//! `ServerConfig::eof_grace`; past it they are cancelled; an ask waiting for the client
//! fails at once (no answer can arrive any more).
//!
//! In process over a duplex pipe, and the piped command
//! `printf '<initialize>\n<initialized>\n<tools/call test_tool_with_progress>\n' |
//! target/debug/examples/everything --stdio` (the binary is built by `cargo test` or
//! `cargo build --examples`; `FERRO_EVERYTHING_BIN` overrides its path). Every wait is
//! bounded.

use std::io::{Read, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use ferromcp::context::Elicitation;
use ferromcp::transport::{LineConfig, serve_io};
use ferromcp::{Context, Error, NoArgs, Server, ToolDef};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::time::timeout;

const WAIT: Duration = Duration::from_secs(20);

#[derive(serde::Deserialize, schemars::JsonSchema)]
struct Name {
    name: String,
}

fn server(grace: Duration) -> Server {
    Server::builder("eof", "1")
        .eof_grace(grace)
        .tool(ToolDef::new("slow").handler(|ctx: Context, _: NoArgs| async move {
            ctx.report_progress(1.0, Some(2.0), None).await;
            tokio::time::sleep(Duration::from_millis(300)).await;
            "slow done"
        }))
        .tool(ToolDef::new("endless").handler(|_ctx: Context, _: NoArgs| async move {
            tokio::time::sleep(Duration::from_secs(3600)).await;
            "never"
        }))
        .tool(ToolDef::new("ask").handler(|ctx: Context, _: NoArgs| async move {
            tokio::time::sleep(Duration::from_millis(100)).await;
            match ctx.elicit::<Name>("Name?").await {
                Ok(Elicitation::Accept(n)) => Ok(n.name),
                Ok(_) => Ok("declined".to_owned()),
                Err(e) => Err(Error::Tool(format!("no answer: {e}"))),
            }
        }))
        .build()
}

fn lines(call: &str) -> String {
    let init = json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {"protocolVersion": "2025-11-25",
        "capabilities": {"elicitation": {}}, "clientInfo": {"name": "pipe", "version": "1"}}});
    let initialized = json!({"jsonrpc": "2.0", "method": "notifications/initialized"});
    let call = json!({"jsonrpc": "2.0", "id": 2, "method": "tools/call",
        "params": {"name": call, "arguments": {}, "_meta": {"progressToken": "p"}}});
    format!("{init}\n{initialized}\n{call}\n")
}

/// Writes `input`, closes the input, and reads everything the server writes until it
/// returns; the messages and how long the server took after EOF.
async fn serve_piped(server: Server, input: String) -> (Vec<Value>, Duration) {
    let (client, server_end) = tokio::io::duplex(64 * 1024);
    let (sr, sw) = tokio::io::split(server_end);
    let serving = tokio::spawn(serve_io(server, sr, sw, LineConfig::default()));
    let (mut cr, mut cw) = tokio::io::split(client);
    cw.write_all(input.as_bytes()).await.expect("write");
    cw.shutdown().await.expect("EOF");
    drop(cw);
    let eof = Instant::now();
    let mut out = Vec::new();
    timeout(WAIT, cr.read_to_end(&mut out)).await.expect("output ends in time").expect("read");
    timeout(WAIT, serving).await.expect("server returns in time").expect("join").expect("serve_io");
    let took = eof.elapsed();
    let msgs = String::from_utf8(out).expect("UTF-8").lines().map(|l| serde_json::from_str(l).expect("JSON")).collect();
    (msgs, took)
}

fn reply(msgs: &[Value], id: i64) -> Option<&Value> {
    msgs.iter().find(|m| m["id"] == id && m.get("method").is_none())
}

#[tokio::test]
async fn a_call_running_at_eof_finishes_and_its_result_is_written() {
    let (msgs, _) = serve_piped(server(Duration::from_secs(30)), lines("slow")).await;
    assert!(msgs.iter().any(|m| m["method"] == "notifications/progress"), "{msgs:?}");
    let r = reply(&msgs, 2).unwrap_or_else(|| panic!("the call's result was written: {msgs:?}"));
    assert_eq!(r["result"]["content"][0]["text"], "slow done", "{r}");
}

#[tokio::test]
async fn past_the_grace_period_a_running_call_is_cancelled() {
    let (msgs, took) = serve_piped(server(Duration::from_millis(300)), lines("endless")).await;
    assert!(reply(&msgs, 1).is_some(), "initialize answered: {msgs:?}");
    assert!(reply(&msgs, 2).is_none(), "a cancelled call sends nothing: {msgs:?}");
    assert!(took < Duration::from_secs(5), "returned {took:?} after EOF with a 300 ms grace");
}

#[tokio::test]
async fn an_ask_after_eof_fails_at_once_instead_of_waiting() {
    // Grace and ask timeout (300 s) are long: only failing the ask ends the call quickly.
    let (msgs, took) = serve_piped(server(Duration::from_secs(30)), lines("ask")).await;
    let r = reply(&msgs, 2).unwrap_or_else(|| panic!("the call's result was written: {msgs:?}"));
    assert_eq!(r["result"]["isError"], true, "{r}");
    assert!(r["result"]["content"][0]["text"].as_str().unwrap_or_default().contains("no answer"), "{r}");
    assert!(took < Duration::from_secs(5), "the ask failed at once, not after {took:?}");
}

fn everything_bin() -> std::path::PathBuf {
    match std::env::var_os("FERRO_EVERYTHING_BIN") {
        Some(p) => p.into(),
        None => std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/debug/examples/everything"),
    }
}

#[test]
fn the_piped_everything_command_prints_the_calls_result() {
    let bin = everything_bin();
    assert!(bin.exists(), "{} is missing: build it with `cargo build --example everything`", bin.display());
    let init = json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {"protocolVersion": "2025-11-25",
        "capabilities": {}, "clientInfo": {"name": "printf", "version": "1"}}});
    let initialized = json!({"jsonrpc": "2.0", "method": "notifications/initialized"});
    let call = json!({"jsonrpc": "2.0", "id": 2, "method": "tools/call",
        "params": {"name": "test_tool_with_progress", "arguments": {}, "_meta": {"progressToken": "t"}}});
    let mut child = Command::new(&bin)
        .arg("--stdio")
        .env("RUST_LOG", "error")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn everything");
    let mut stdin = child.stdin.take().expect("stdin");
    stdin.write_all(format!("{init}\n{initialized}\n{call}\n").as_bytes()).expect("write");
    drop(stdin); // EOF, as at the end of printf's output
    let deadline = Instant::now() + WAIT;
    let status = loop {
        if let Some(s) = child.try_wait().expect("wait") {
            break s;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("everything --stdio did not exit within {WAIT:?} after EOF");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut out = String::new();
    child.stdout.take().expect("stdout").read_to_string(&mut out).expect("read stdout");
    assert!(status.success(), "exit status {status}; output: {out}");
    let msgs: Vec<Value> = out.lines().map(|l| serde_json::from_str(l).expect("JSON line")).collect();
    let progress = msgs.iter().filter(|m| m["method"] == "notifications/progress").count();
    assert_eq!(progress, 3, "{out}");
    let r = reply(&msgs, 2).unwrap_or_else(|| panic!("the call's result was printed: {out}"));
    assert_eq!(r["result"]["content"][0]["text"], "Progress test completed", "{out}");
}
