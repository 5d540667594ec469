//! `ferromcp proxy --config FILE`: serves the `mcpServers` backends over Streamable HTTP
//! (port from `FERROMCP_PORT`, and from `--port`, which wins), and the CLI's own client
//! commands reach the backends' tools through it.

mod common;

use std::net::SocketAddr;
use std::process::{Command, Stdio};

use common::{FERROMCP, example, ferromcp, free_port, wait_listening};

struct Killed(std::process::Child);
impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn proxy_serves_the_configured_backends() {
    let dir = std::env::temp_dir().join(format!("ferromcp-cli-proxy-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let qs = example("quickstart").to_string_lossy().into_owned();
    let every = example("everything").to_string_lossy().into_owned();
    let config = serde_json::json!({"mcpServers": {
        "quick": {"command": qs, "args": ["--stdio"]},
        "every": {"command": every, "args": ["--stdio"]}
    }});
    let file = dir.join("proxy.json");
    std::fs::write(&file, config.to_string()).expect("write config");

    let (env_port, flag_port) = (free_port(), free_port());
    let mut child = Command::new(FERROMCP)
        .args(["proxy", "--config", &file.to_string_lossy(), "--port", &flag_port.to_string()])
        .env("FERROMCP_PORT", env_port.to_string())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn ferromcp proxy");
    wait_listening(SocketAddr::from(([127, 0, 0, 1], flag_port)), &mut child);
    let _proxy = Killed(child);
    let url = format!("http://127.0.0.1:{flag_port}/mcp");
    assert!(
        std::net::TcpStream::connect(("127.0.0.1", env_port)).is_err(),
        "--port wins over FERROMCP_PORT: nothing listens on the environment's port"
    );

    let v = ferromcp(&["list", &url, "--json"]).ok().json();
    let names: Vec<&str> = v["tools"].as_array().unwrap().iter().filter_map(|t| t["name"].as_str()).collect();
    assert!(names.contains(&"quick_add") && names.contains(&"every_test_simple_text"), "{names:?}");
    for era in ["legacy", "modern"] {
        let call = ferromcp(&["call", &url, "quick_add", "a=40", "b=2", "--era", era]).ok();
        assert_eq!(call.stdout.lines().next(), Some("42"), "{era}: {}", call.stdout);
    }
    let r = ferromcp(&["proxy", "--config", "/nonexistent/proxy.json"]);
    assert_eq!(r.code, Some(2), "{r:?}");
    assert!(r.stderr.contains("cannot read /nonexistent/proxy.json"), "{}", r.stderr);
    let _ = std::fs::remove_dir_all(&dir);
}
