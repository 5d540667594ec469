//! Behaviour shared by both eras, each test run once per era over the in-memory
//! transport.

mod common;

use std::collections::BTreeSet;

use common::{Calls, ERAS, TOOLS, connect, drain, full, with_elicitation};
use ferromcp_client::{ClientEra, ClientError, ClientOptions};
use ferromcp_core::error::code;
use serde_json::{Value, json};

fn methods(ns: &[Value], method: &str) -> Vec<Value> {
    ns.iter()
        .filter(|n| n["method"] == method)
        .map(|n| n["params"].clone())
        .collect()
}

#[tokio::test]
async fn the_opening_describes_the_server() {
    for era in ERAS {
        let client = connect(ClientOptions::new(era)).await;
        let info = client.server_info();
        assert_eq!(info.name, "test-server", "{era:?}");
        assert_eq!(info.version, "0.9.0", "{era:?}");
        assert_eq!(
            info.instructions.as_deref(),
            Some("Use `add` to add."),
            "{era:?}"
        );
        for cap in ["tools", "resources", "prompts", "completions", "logging"] {
            assert!(
                info.has_capability(cap),
                "{era:?} lacks {cap}: {:?}",
                info.capabilities
            );
        }
        match era {
            ClientEra::Legacy => {
                assert_eq!(info.protocol_version, "2025-11-25");
                assert_eq!(info.raw["serverInfo"]["name"], "test-server");
            }
            ClientEra::Modern | ClientEra::Auto => {
                assert_eq!(info.protocol_version, "2026-07-28");
                assert!(info.supported_versions.iter().any(|v| v == "2026-07-28"));
                assert_eq!(info.raw["resultType"], "complete");
            }
        }
        client.close().await;
    }
}

#[tokio::test]
async fn tools_are_listed_across_pages_and_called() {
    for era in ERAS {
        let client = connect(ClientOptions::new(era)).await;
        let tools = client.list_tools().await.expect("tools/list");
        assert!(
            tools.len() > common::PAGE_SIZE,
            "the list must span several pages"
        );
        let names: BTreeSet<String> = tools.iter().map(|t| t.name.to_string()).collect();
        let want: BTreeSet<String> = TOOLS.iter().map(|s| s.to_string()).collect();
        assert_eq!(names, want, "{era:?}");
        let add = tools
            .iter()
            .find(|t| t.name == "add")
            .expect("add is listed");
        assert_eq!(add.description.as_deref(), Some("Add two integers"));
        assert_eq!(add.input_schema["required"], json!(["a", "b"]));

        let out = client
            .call_tool("add", json!({"a": 2, "b": 40}))
            .await
            .expect("tools/call");
        assert!(!out.is_error(), "{era:?}: {:?}", out.value);
        assert_eq!(out.structured().expect("structuredContent")["result"], 42);
        assert_eq!(out.text(), "42");
        let typed = out.to_result().expect("a CallToolResult");
        assert_eq!(typed.structured_content, Some(json!({"result": 42})));
        if era == ClientEra::Modern {
            assert_eq!(out.value["resultType"], "complete");
        }
        client.close().await;
    }
}

#[tokio::test]
async fn concurrent_calls_are_demultiplexed() {
    for era in ERAS {
        let client = connect(ClientOptions::new(era)).await;
        let calls = (0..25i64).map(|i| {
            let c = client.clone();
            tokio::spawn(async move { (i, c.call_tool("add", json!({"a": i, "b": 1000})).await) })
        });
        for h in calls {
            let (i, out) = h.await.expect("task");
            let out = out.expect("tools/call");
            assert_eq!(
                out.structured().expect("structured")["result"],
                i + 1000,
                "{era:?}"
            );
        }
        client.close().await;
    }
}

#[tokio::test]
async fn tool_errors_and_unknown_tools() {
    for era in ERAS {
        let client = connect(ClientOptions::new(era)).await;
        let out = client
            .call_tool("fail", json!({}))
            .await
            .expect("a tool error is a result");
        assert!(out.is_error(), "{era:?}");
        assert_eq!(out.text(), "boom");

        let err = client
            .call_tool("nope", json!({}))
            .await
            .expect_err("unknown tool");
        assert_eq!(
            err.protocol_code(),
            Some(code::INVALID_PARAMS),
            "{era:?}: {err}"
        );
        assert!(err.to_string().contains("Unknown tool: nope"), "{err}");

        let bad = client
            .call_tool("add", json!({"a": "x"}))
            .await
            .expect("bad args are a tool error");
        assert!(bad.is_error());
        assert!(
            bad.text().contains("Invalid arguments for tool `add`"),
            "{}",
            bad.text()
        );

        let usage = client
            .call_tool("add", json!([1, 2]))
            .await
            .expect_err("arrays are rejected");
        assert!(matches!(usage, ClientError::Usage(_)), "{usage:?}");
        client.close().await;
    }
}

#[tokio::test]
async fn logs_and_progress_arrive_as_notifications() {
    for era in ERAS {
        let client = connect(ClientOptions::new(era).log_level("info")).await;
        let mut rx = client.notifications();
        let out = client
            .call_tool_with_progress("chatty", json!({}), "tok-1")
            .await
            .expect("chatty");
        assert_eq!(out.text(), "ok");
        // Notifications precede the response on the same ordered stream.
        let seen = drain(&mut rx);
        let logs: Vec<Value> = methods(&seen, "notifications/message")
            .iter()
            .map(|p| p["data"].clone())
            .collect();
        assert_eq!(
            logs,
            vec![json!("starting"), json!("done")],
            "{era:?}: debug is filtered out"
        );
        assert!(
            methods(&seen, "notifications/message")
                .iter()
                .all(|p| p["level"] == "info")
        );
        let progress = methods(&seen, "notifications/progress");
        assert_eq!(progress.len(), 2, "{era:?}: {seen:?}");
        assert_eq!(progress[0]["progressToken"], "tok-1");
        assert_eq!(progress[0]["progress"], 50.0);
        assert_eq!(progress[0]["total"], 100.0);
        assert_eq!(progress[0]["message"], "half way");
        assert_eq!(progress[1]["progress"], 100.0);
        assert!(
            seen.iter().all(|n| n["jsonrpc"] == "2.0"),
            "full JSON-RPC objects"
        );
        client.close().await;
    }
}

#[tokio::test]
async fn without_a_log_level_modern_gets_no_logs_and_legacy_gets_all() {
    for era in ERAS {
        let client = connect(ClientOptions::new(era)).await;
        let mut rx = client.notifications();
        client
            .call_tool_with_progress("chatty", json!({}), 7)
            .await
            .expect("chatty");
        let seen = drain(&mut rx);
        let logs = methods(&seen, "notifications/message");
        match era {
            ClientEra::Legacy => assert_eq!(logs.len(), 3, "legacy default is debug: {seen:?}"),
            ClientEra::Modern | ClientEra::Auto => {
                assert!(logs.is_empty(), "modern without logLevel: {seen:?}")
            }
        }
        let progress = methods(&seen, "notifications/progress");
        assert_eq!(progress.len(), 2, "{era:?}");
        assert_eq!(progress[0]["progressToken"], 7);
        client.close().await;
    }
}

#[tokio::test]
async fn elicitation_is_answered_by_the_handler() {
    for era in ERAS {
        let calls = Calls::default();
        let client = connect(with_elicitation(era, calls.clone())).await;
        let out = client.call_tool("greet", json!({})).await.expect("greet");
        assert_eq!(out.text(), "hello Ada", "{era:?}: {:?}", out.value);
        assert_eq!(calls.get(), 1);

        let out = client
            .call_tool("two_names", json!({}))
            .await
            .expect("two_names");
        assert_eq!(out.text(), "Ada Lovelace", "{era:?}");
        assert_eq!(
            calls.get(),
            3,
            "{era:?}: each question is asked once, even on MRTR replay"
        );

        let out = client
            .call_tool("both_at_once", json!({}))
            .await
            .expect("both_at_once");
        assert_eq!(out.text(), "Ada|Byron", "{era:?}");
        assert_eq!(calls.get(), 5, "{era:?}");
        client.close().await;
    }
}

#[tokio::test]
async fn sampling_and_roots_are_answered_by_the_handlers() {
    for era in ERAS {
        let client = connect(full(era)).await;
        let out = client.call_tool("sample", json!({})).await.expect("sample");
        assert_eq!(
            out.text(),
            "test-model said echo hi",
            "{era:?}: {:?}",
            out.value
        );
        let out = client.call_tool("roots", json!({})).await.expect("roots");
        assert_eq!(
            out.text(),
            "file:///work,file:///tmp",
            "{era:?}: {:?}",
            out.value
        );
        client.close().await;
    }
}

#[tokio::test]
async fn asking_for_an_undeclared_capability_fails_without_hanging() {
    for era in ERAS {
        let client = connect(ClientOptions::new(era)).await;
        assert_eq!(client.options().handlers.capabilities(), json!({}));
        for (tool, cap) in [
            ("greet", "elicitation"),
            ("sample", "sampling"),
            ("roots", "roots"),
        ] {
            match client.call_tool(tool, json!({})).await {
                Err(ClientError::Protocol(e)) => {
                    assert_eq!(
                        e.code,
                        code::MISSING_CLIENT_CAPABILITY,
                        "{era:?} {tool}: {e}"
                    );
                    assert!(e.message.contains(cap), "{e}");
                    assert_eq!(
                        e.data
                            .as_ref()
                            .map(|d| d["requiredCapabilities"][cap].clone()),
                        Some(json!({}))
                    );
                }
                other => panic!("{era:?} {tool}: expected a capability error, got {other:?}"),
            }
        }
        client.close().await;
    }
}

#[tokio::test]
async fn slow_requests_time_out_and_closed_clients_refuse() {
    for era in ERAS {
        let opts = ClientOptions::new(era).request_timeout(std::time::Duration::from_millis(500));
        let client = connect(opts).await;
        let err = client
            .call_tool("slow", json!({"ms": 5_000}))
            .await
            .expect_err("times out");
        assert!(
            matches!(&err, ClientError::Timeout { method, .. } if method == "tools/call"),
            "{err:?}"
        );
        // The connection survives a timeout.
        let out = client
            .call_tool("slow", json!({"ms": 1}))
            .await
            .expect("fast enough");
        assert_eq!(out.text(), "slept");

        let other = client.clone();
        client.close().await;
        assert!(other.is_closed());
        let err = other
            .call_tool("add", json!({"a": 1, "b": 2}))
            .await
            .expect_err("closed");
        assert!(matches!(err, ClientError::Closed), "{err:?}");
        client.close().await; // twice is fine
    }
}

#[tokio::test]
async fn in_flight_requests_fail_with_closed_when_the_client_closes() {
    for era in ERAS {
        let client = connect(ClientOptions::new(era)).await;
        let c = client.clone();
        let call = tokio::spawn(async move { c.call_tool("slow", json!({"ms": 10_000})).await });
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        client.close().await;
        let err = call
            .await
            .expect("task")
            .expect_err("closed under the call");
        assert!(matches!(err, ClientError::Closed), "{era:?}: {err:?}");
    }
}
