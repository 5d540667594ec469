//! Attack 7 (a lost answer rather than an attack): a call in flight when stdin closes.
//!
//! `everything --stdio` gets `initialize`, `notifications/initialized` and one
//! `tools/call test_tool_with_progress` (≈150 ms of work), then end of input. The call
//! must finish and its result be written before the process exits (within a bound).

use std::io::Write as _;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::support::*;

/// The call takes ~150 ms; the process must be done well within this.
const EXIT_BOUND: Duration = Duration::from_secs(10);

#[test]
fn a_call_in_flight_when_stdin_closes_is_answered_before_exit() {
    run("stdio/end-of-input", async {
        let mut child = Command::new(everything())
            .arg("--stdio")
            .env("RUST_LOG", "warn")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn everything --stdio");
        let out = drain(child.stdout.take().expect("stdout"));
        let err = drain(child.stderr.take().expect("stderr"));
        let lines = [
            json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
                "protocolVersion": LEGACY, "capabilities": {}, "clientInfo": {"name": "abuse", "version": "1"}}}),
            json!({"jsonrpc": "2.0", "method": "notifications/initialized"}),
            json!({"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {
                "name": "test_tool_with_progress", "arguments": {}, "_meta": {"progressToken": "p"}}}),
        ];
        let mut stdin = child.stdin.take().expect("stdin");
        for l in &lines {
            writeln!(stdin, "{l}").expect("write a line");
        }
        drop(stdin);
        let started = Instant::now();
        let status = loop {
            if let Some(s) = child.try_wait().expect("wait") {
                break Some(s);
            }
            if started.elapsed() > EXIT_BOUND {
                let _ = child.kill();
                let _ = child.wait();
                break None;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        tokio::time::sleep(Duration::from_millis(100)).await;
        let text = String::from_utf8_lossy(&out.lock().unwrap_or_else(|p| p.into_inner())).into_owned();
        let msgs: Vec<Value> = text.lines().filter_map(|l| serde_json::from_str(l).ok()).collect();
        let progress = msgs.iter().filter(|m| m["method"] == "notifications/progress").count();
        eprintln!(
            "stdio: exited {status:?} {} ms after end of input; {} messages written ({progress} progress)",
            started.elapsed().as_millis(),
            msgs.len()
        );
        let status = status.unwrap_or_else(|| panic!("the process did not exit within {EXIT_BOUND:?} of end of input"));
        assert!(msgs.iter().any(|m| m["id"] == 1 && m.get("result").is_some()), "no initialize result:\n{text}");
        let result = msgs.iter().find(|m| m["id"] == 2).unwrap_or_else(|| {
            let log = String::from_utf8_lossy(&err.lock().unwrap_or_else(|p| p.into_inner())).into_owned();
            panic!("the call's result was not written before exit; stdout:\n{text}\nstderr:\n{log}")
        });
        assert_eq!(result_text(result), "Progress test completed", "{result}");
        assert!(status.success(), "exit status {status}");
    });
}
