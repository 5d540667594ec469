//! The `ferromcp` binary against ferromcp's example servers over Streamable HTTP, in
//! both protocol eras: list, call (key=value and JSON), read, prompt, inspect, ping, and
//! the exit codes and messages of every failure. `quickstart` is started with
//! `FERROMCP_PORT` (so it also checks that the example listens where the environment
//! says); `everything` serves the error, sampling and logging tools.

mod common;

use common::{Served, ferromcp};
use serde_json::Value;

const ERAS: [&str; 2] = ["legacy", "modern"];

#[test]
fn list_call_read_prompt_in_both_eras() {
    let qs = Served::quickstart();
    for era in ERAS {
        let list = ferromcp(&["list", &qs.url, "--era", era]).ok();
        assert!(list.stdout.contains("Tools (2):"), "{era}: {}", list.stdout);
        assert!(list.stdout.contains("add(a: integer, b: integer) — Add two integers."), "{era}: {}", list.stdout);
        assert!(list.stdout.contains("info://about"), "{era}: {}", list.stdout);
        assert!(list.stdout.contains("explain(number)"), "{era}: {}", list.stdout);

        let json = ferromcp(&["list", &qs.url, "--era", era, "--json"]).ok().json();
        let tools: Vec<&str> = json["tools"].as_array().unwrap().iter().map(|t| t["name"].as_str().unwrap()).collect();
        assert_eq!(tools, ["add", "greet"], "{era}");
        assert_eq!(json["resources"][0]["uri"], "info://about");
        assert_eq!(json["prompts"][0]["name"], "explain");

        let call = ferromcp(&["call", &qs.url, "add", "a=1", "b=2", "--era", era]).ok();
        assert_eq!(call.stdout.lines().next(), Some("3"), "{era}: {}", call.stdout);

        let call = ferromcp(&["call", &qs.url, "add", r#"{"a": 20, "b": 22}"#, "--era", era, "--json"]).ok().json();
        assert_eq!(call["content"][0]["text"], "42", "{era}: {call}");
        assert_eq!(call["structuredContent"]["result"], 42, "structured output as JSON: {call}");

        let greet = ferromcp(&["call", &qs.url, "greet", "name=Ada", "--era", era]).ok();
        assert_eq!(greet.stdout.trim(), "Hello, Ada!");

        let read = ferromcp(&["read", &qs.url, "info://about", "--era", era]).ok();
        assert!(read.stdout.starts_with("A quickstart ferromcp server"), "{}", read.stdout);
        let read = ferromcp(&["read", &qs.url, "info://about", "--era", era, "--json"]).ok().json();
        assert_eq!(read["contents"][0]["mimeType"], "text/plain");

        let prompt = ferromcp(&["prompt", &qs.url, "explain", "number=42", "--era", era]).ok();
        assert!(prompt.stdout.contains("user: Explain what is special about the number 42."), "{}", prompt.stdout);
        let prompt = ferromcp(&["prompt", &qs.url, "explain", "number=7", "--era", era, "--json"]).ok().json();
        assert_eq!(prompt["messages"][0]["role"], "user");

        let ping = ferromcp(&["ping", &qs.url, "--era", era]).ok();
        assert!(ping.stdout.starts_with("quickstart answered"), "{}", ping.stdout);
    }
    // Auto negotiates the modern era with a ferromcp server.
    let auto = ferromcp(&["inspect", &qs.url, "--json"]).ok().json();
    assert_eq!(auto["era"], "2026-07-28");
}

#[test]
fn inspect_shows_server_capabilities_and_schemas() {
    let qs = Served::quickstart();
    for era in ERAS {
        let v = ferromcp(&["inspect", &qs.url, "--era", era, "--json"]).ok().json();
        assert_eq!(v["server"]["name"], "quickstart", "{v}");
        assert_eq!(v["server"]["version"], "0.1.0");
        let want = if era == "legacy" { "2025-11-25" } else { "2026-07-28" };
        assert_eq!(v["era"], want);
        assert_eq!(v["protocolVersion"], want);
        assert!(v["capabilities"]["tools"].is_object(), "{v}");
        let add = v["tools"].as_array().unwrap().iter().find(|t| t["name"] == "add").expect("add");
        assert_eq!(add["inputSchema"]["properties"]["a"]["type"], "integer");
        assert_eq!(add["inputSchema"]["properties"]["a"]["description"], "First addend");
        assert_eq!(add["annotations"]["readOnlyHint"], true);
        assert_eq!(v["prompts"][0]["arguments"][0]["name"], "number");

        let human = ferromcp(&["inspect", &qs.url, "--era", era]).ok();
        assert!(human.stdout.contains("Server: quickstart 0.1.0"), "{}", human.stdout);
        assert!(human.stdout.contains("inputSchema:"), "{}", human.stdout);
        assert!(human.stdout.contains("\"First addend\""), "{}", human.stdout);
    }
}

#[test]
fn wrong_tool_and_bad_arguments_are_usage_errors() {
    let qs = Served::quickstart();
    for era in ERAS {
        let r = ferromcp(&["call", &qs.url, "nope", "--era", era]);
        assert_eq!(r.code, Some(2), "{r:?}");
        assert!(r.stderr.contains("the server has no tool named `nope`; its tools: add, greet"), "{}", r.stderr);

        let r = ferromcp(&["call", &qs.url, "add", "a=x", "b=2", "--era", era]);
        assert_eq!(r.code, Some(2), "{r:?}");
        assert!(r.stderr.contains("argument `a` of `add`: expected an integer, got `x`"), "{}", r.stderr);

        let r = ferromcp(&["call", &qs.url, "add", "a=1", "--era", era]);
        assert_eq!(r.code, Some(2), "{r:?}");
        assert!(r.stderr.contains("`add` needs b"), "{}", r.stderr);

        let r = ferromcp(&["call", &qs.url, "add", "a=1", "b=2", "c=3", "--era", era]);
        assert_eq!(r.code, Some(2), "{r:?}");
        assert!(r.stderr.contains("`add` has no argument `c`"), "{}", r.stderr);
        assert!(r.stdout.is_empty(), "nothing on stdout on failure: {}", r.stdout);

        // The server's own validation (a JSON object bypasses the schema coercion): exit 1.
        let r = ferromcp(&["call", &qs.url, "add", r#"{"a": "one", "b": 2}"#, "--era", era]);
        assert_eq!(r.code, Some(1), "{r:?}");
        assert!(r.stderr.contains("add"), "{}", r.stderr);
    }
    let r = ferromcp(&["call", &qs.url]);
    assert_eq!(r.code, Some(2));
    assert!(r.stderr.contains("`call` needs a TOOL name"), "{}", r.stderr);
    let r = ferromcp(&["list"]);
    assert_eq!(r.code, Some(2));
    assert!(r.stderr.contains("no TARGET"), "{}", r.stderr);
    let r = ferromcp(&["frobnicate"]);
    assert_eq!(r.code, Some(2), "clap usage errors exit 2: {r:?}");
}

#[test]
fn server_errors_exit_1_and_connection_failures_exit_3() {
    let every = Served::everything();
    for era in ERAS {
        let r = ferromcp(&["call", &every.url, "test_error_handling", "--era", era]);
        assert_eq!(r.code, Some(1), "{r:?}");
        assert!(r.stderr.contains("This tool intentionally returns an error for testing"), "{}", r.stderr);
        let j = ferromcp(&["call", &every.url, "test_error_handling", "--era", era, "--json"]);
        assert_eq!(j.code, Some(1));
        assert_eq!(j.json()["isError"], true);

        let r = ferromcp(&["read", &every.url, "test://no-such-resource", "--era", era]);
        assert_eq!(r.code, Some(1), "{r:?}");
        assert!(r.stderr.contains("reading `test://no-such-resource`"), "{}", r.stderr);
    }
    let port = common::free_port();
    let r = ferromcp(&["list", &format!("http://127.0.0.1:{port}/mcp")]);
    assert_eq!(r.code, Some(3), "{r:?}");
    assert!(r.stderr.contains("could not reach the MCP server"), "{}", r.stderr);
}

#[test]
fn sampling_is_refused_with_a_clear_message() {
    let every = Served::everything();
    for era in ERAS {
        let r = ferromcp(&["call", &every.url, "test_sampling", "prompt=hi", "--era", era]);
        assert_ne!(r.code, Some(0), "{r:?}");
        assert!(r.stderr.contains("the ferromcp CLI has no language model"), "{era}: {}", r.stderr);
    }
}

#[test]
fn elicitation_without_a_terminal_is_declined_and_logs_reach_stderr() {
    let every = Served::everything();
    for era in ERAS {
        let r = ferromcp(&["call", &every.url, "test_elicitation", "message=Who?", "--era", era]).ok();
        assert!(r.stdout.contains("action=decline"), "{era}: {}", r.stdout);
        assert!(r.stderr.contains("no terminal to ask it on"), "{}", r.stderr);

        let r = ferromcp(&["call", &every.url, "test_tool_with_logging", "--era", era, "--log-level", "info"]).ok();
        assert_eq!(r.stdout.trim(), "Logging test completed");
        assert!(r.stderr.contains("[server info] Tool processing data"), "{era}: {}", r.stderr);

        // Without a terminal, progress is plain lines on stderr.
        let r = ferromcp(&["call", &every.url, "test_tool_with_progress", "--era", era]).ok();
        assert!(r.stderr.contains("progress: 50/100 working"), "{era}: {}", r.stderr);
        assert_eq!(r.stdout.trim(), "Progress test completed");
    }
}

#[test]
fn every_json_output_parses() {
    let every = Served::everything();
    for args in [
        vec!["list", "--json"],
        vec!["inspect", "--json"],
        vec!["call", "--json", "test_multiple_content_types"],
        vec!["read", "--json", "test://static-text"],
    ] {
        let (cmd, rest) = args.split_first().unwrap();
        let mut full = vec![*cmd, every.url.as_str()];
        full.extend(rest.iter().filter(|a| **a != "--json"));
        full.push("--json");
        let v: Value = ferromcp(&full).ok().json();
        assert!(v.is_object(), "{args:?}: {v}");
    }
}
