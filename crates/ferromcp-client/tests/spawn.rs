//! `Client::spawn` against a real ferromcp server over a child process's stdio.
//!
//! This test binary has its own `main` (`harness = false`): started with
//! `FERROMCP_CLIENT_TEST_CHILD=serve` it *is* the server (serving the common test server
//! on stdin/stdout); otherwise it runs the scenarios below, spawning itself.

mod common;

use std::time::Duration;

use common::{Calls, ERAS, with_elicitation};
use ferromcp_client::{Client, ClientError, ClientOptions};
use serde_json::json;
use tokio::process::Command;

const CHILD: &str = "FERROMCP_CLIENT_TEST_CHILD";

fn child(mode: &str) -> Command {
    let exe = std::env::current_exe().expect("the test binary's path");
    let mut cmd = Command::new(exe);
    cmd.env(CHILD, mode);
    cmd
}

async fn serves_both_eras_over_stdio() {
    for era in ERAS {
        let calls = Calls::default();
        let opts = with_elicitation(era, calls.clone()).log_level("info");
        let client = Client::spawn(child("serve"), opts).await.expect("spawned");
        assert_eq!(client.server_info().name, "test-server", "{era:?}");
        let tools = client.list_tools().await.expect("tools/list");
        assert_eq!(tools.len(), common::TOOLS.len(), "{era:?}");
        let out = client
            .call_tool("add", json!({"a": 20, "b": 22}))
            .await
            .expect("add");
        assert_eq!(
            out.structured().expect("structured")["result"],
            42,
            "{era:?}"
        );
        let out = client
            .call_tool("two_names", json!({}))
            .await
            .expect("two_names");
        assert_eq!(out.text(), "Ada Lovelace", "{era:?}");
        assert_eq!(calls.get(), 2, "{era:?}");

        let mut rx = client.notifications();
        client
            .call_tool_with_progress("chatty", json!({}), 1)
            .await
            .expect("chatty");
        let seen = common::drain(&mut rx);
        let count = |m: &str| seen.iter().filter(|n| n["method"] == m).count();
        assert_eq!(count("notifications/message"), 2, "{era:?}: {seen:?}");
        assert_eq!(count("notifications/progress"), 2, "{era:?}: {seen:?}");

        let started = std::time::Instant::now();
        client.close().await;
        assert!(
            started.elapsed() < Duration::from_secs(4),
            "the child exits when stdin closes"
        );
        let err = client
            .call_tool("add", json!({"a": 1, "b": 1}))
            .await
            .expect_err("closed");
        assert!(matches!(err, ClientError::Closed), "{era:?}: {err:?}");
    }
}

async fn a_missing_program_is_an_io_error() {
    let cmd = Command::new("/nonexistent/ferromcp-server-that-is-not-there");
    let err = Client::spawn(cmd, ClientOptions::legacy())
        .await
        .expect_err("no such program");
    assert!(matches!(err, ClientError::Io(_)), "{err:?}");
}

async fn a_child_that_exits_at_once_fails_the_handshake() {
    for era in ERAS {
        let err = Client::spawn(child("exit"), ClientOptions::new(era))
            .await
            .expect_err("exited");
        assert!(matches!(err, ClientError::Closed), "{era:?}: {err:?}");
    }
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a tokio runtime");
    match std::env::var(CHILD).ok().as_deref() {
        Some("serve") => {
            let _ = rt.block_on(ferromcp_core::transport::serve_stdio(common::server()));
        }
        Some(_) => {}
        None => {
            rt.block_on(async {
                serves_both_eras_over_stdio().await;
                a_missing_program_is_an_io_error().await;
                a_child_that_exits_at_once_fails_the_handshake().await;
            });
            println!("spawn: 3 scenarios passed");
        }
    }
}
