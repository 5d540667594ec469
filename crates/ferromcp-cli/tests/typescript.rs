//! The `ferromcp` binary against the official TypeScript reference server
//! (`@modelcontextprotocol/server-everything`, installed in
//! `crates/ferromcp-client/tests/foreign-ts` by `scripts/setup-test-env.sh`) over
//! Streamable HTTP: `list` (text and `--json`), a `call` (`get-sum a=1 b=2` → 3),
//! `inspect --json`, and a wrong tool name → a clear message and a non-zero exit.
//!
//! The server is started with `PORT=0` and a preload (`fixtures/listen-loopback.cjs`) that
//! binds it to 127.0.0.1 and prints the port it got. A missing install skips the test
//! loudly, unless `FERRO_REQUIRE_FOREIGN` is set: then it fails.

mod common;

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

use common::{WAIT, bound_url, ferromcp};

/// The reference server as a child process; killed on drop.
struct Reference {
    child: Child,
    url: String,
}

impl Reference {
    fn start() -> Option<Reference> {
        let here = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
        let entry = here.join(
            "../ferromcp-client/tests/foreign-ts/node_modules/@modelcontextprotocol/server-everything/dist/index.js",
        );
        if !entry.exists() {
            let why = format!(
                "the TypeScript reference server is missing ({}); run scripts/setup-test-env.sh",
                entry.display()
            );
            assert!(std::env::var_os("FERRO_REQUIRE_FOREIGN").is_none_or(|v| v.is_empty()), "{why}");
            eprintln!("\n!!!!!!!! SKIPPED: {why} (set FERRO_REQUIRE_FOREIGN=1 to fail instead) !!!!!!!!\n");
            return None;
        }
        let mut child = Command::new("node")
            .arg("--require")
            .arg(here.join("tests/fixtures/listen-loopback.cjs"))
            .arg(entry)
            .arg("streamableHttp")
            .env("PORT", "0")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn node (the TypeScript reference server)");
        let Some(url) = bound_url(&mut child) else {
            let _ = child.kill();
            panic!("the TypeScript reference server reported no address within {WAIT:?} ({:?})", child.wait());
        };
        Some(Reference { child, url })
    }
}

impl Drop for Reference {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn list_call_and_inspect_against_the_typescript_reference_server() {
    let Some(ts) = Reference::start() else { return };
    assert!(ts.url.starts_with("http://127.0.0.1:") && !ts.url.contains(":0/"), "{}", ts.url);

    let list = ferromcp(&["list", &ts.url]).ok();
    assert!(list.stdout.contains("get-sum(a: number, b: number)"), "{}", list.stdout);
    assert!(list.stdout.contains("echo("), "{}", list.stdout);

    let json = ferromcp(&["list", &ts.url, "--json"]).ok().json();
    let tools: Vec<&str> = json["tools"].as_array().unwrap().iter().filter_map(|t| t["name"].as_str()).collect();
    assert!(tools.contains(&"get-sum") && tools.contains(&"echo"), "{tools:?}");

    let sum = ferromcp(&["call", &ts.url, "get-sum", "a=1", "b=2"]).ok();
    assert!(sum.stdout.contains('3'), "{}", sum.stdout);
    let sum = ferromcp(&["call", &ts.url, "get-sum", r#"{"a": 20, "b": 22}"#, "--json"]).ok().json();
    assert!(sum["content"][0]["text"].as_str().unwrap_or_default().contains("42"), "{sum}");

    let inspect = ferromcp(&["inspect", &ts.url, "--json"]).ok().json();
    assert_eq!(inspect["era"], "2025-11-25", "the reference server speaks the legacy era: {inspect}");
    assert!(inspect.to_string().contains("get-sum"), "every component with its schema: {inspect}");

    let wrong = ferromcp(&["call", &ts.url, "no-such-tool"]);
    assert_ne!(wrong.code, Some(0), "a wrong tool name fails: {wrong:?}");
    assert!(wrong.stderr.contains("no-such-tool"), "the message names the tool: {}", wrong.stderr);
}
