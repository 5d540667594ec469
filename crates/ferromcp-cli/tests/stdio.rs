//! The `ferromcp` binary against stdio servers it starts itself: `-- COMMAND ARGS…`
//! and names from an `mcpServers` config file (given with `--config`, or `./mcp.json`).

mod common;

use common::{example, ferromcp, ferromcp_in};

fn quickstart() -> String {
    example("quickstart").to_string_lossy().into_owned()
}

#[test]
fn list_call_and_inspect_a_stdio_server() {
    let qs = quickstart();
    let list = ferromcp(&["list", "--", &qs, "--stdio"]).ok();
    assert!(list.stdout.contains("add(a: integer, b: integer)"), "{}", list.stdout);
    for era in ["legacy", "modern", "auto"] {
        let call = ferromcp(&["call", "add", "a=1", "b=2", "--era", era, "--", &qs, "--stdio"]).ok();
        assert_eq!(call.stdout.lines().next(), Some("3"), "{era}: {}", call.stdout);
    }
    let v = ferromcp(&["inspect", "--json", "--", &qs, "--stdio"]).ok().json();
    assert_eq!(v["server"]["name"], "quickstart");
    assert!(v["tools"].as_array().unwrap().iter().any(|t| t["name"] == "greet"));
    let r = ferromcp(&["call", "add", "a=1", "b=oops", "--", &qs, "--stdio"]);
    assert_eq!(r.code, Some(2), "{r:?}");
    assert!(r.stderr.contains("expected an integer, got `oops`"), "{}", r.stderr);
    let r = ferromcp(&["call", "nope", "--", &qs, "--stdio"]);
    assert_eq!(r.code, Some(2), "{r:?}");
    assert!(r.stderr.contains("no tool named `nope`"), "{}", r.stderr);
    let r = ferromcp(&["list", "--", "/nonexistent/mcp-server"]);
    assert_eq!(r.code, Some(3), "{r:?}");
    assert!(r.stderr.contains("cannot start the server process"), "{}", r.stderr);
}

#[test]
fn targets_by_name_from_a_config_file() {
    let dir = std::env::temp_dir().join(format!("ferromcp-cli-config-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let config = serde_json::json!({"mcpServers": {
        "quick": {"command": quickstart(), "args": ["--stdio"]},
        "web": {"url": "http://127.0.0.1:9/mcp"}
    }});
    let file = dir.join("mcp.json");
    std::fs::write(&file, config.to_string()).expect("write config");
    let path = file.to_string_lossy().into_owned();

    let call = ferromcp(&["call", "--config", &path, "quick", "add", "a=2", "b=3"]).ok();
    assert_eq!(call.stdout.lines().next(), Some("5"), "{}", call.stdout);
    // ./mcp.json is the default.
    let call = ferromcp_in(&["call", "quick", "add", "a=4", "b=5"], Some(&dir)).ok();
    assert_eq!(call.stdout.lines().next(), Some("9"), "{}", call.stdout);

    let r = ferromcp(&["list", "--config", &path, "missing"]);
    assert_eq!(r.code, Some(2), "{r:?}");
    assert!(r.stderr.contains("no server named `missing`") && r.stderr.contains("quick, web"), "{}", r.stderr);
    let r = ferromcp(&["list", "--config", "/nonexistent/mcp.json", "quick"]);
    assert_eq!(r.code, Some(2), "{r:?}");
    assert!(r.stderr.contains("cannot read the config file"), "{}", r.stderr);
    let _ = std::fs::remove_dir_all(&dir);
}
