//! The examples read `FERROMCP_*` variables (process tests; the parsing of each variable
//! is tested in `ferromcp-http/tests/settings.rs`): `quickstart` listens on
//! `FERROMCP_PORT` at `FERROMCP_PATH`, serves metrics at `FERROMCP_METRICS_PATH`, logs
//! JSON with `FERROMCP_LOG_FORMAT=json`, connects the Redis store of
//! `FERROMCP_REDIS_URL`; `everything`'s flags win over the environment; a bad value of
//! any variable stops startup (exit 2) with a message naming it.

mod common;

use std::io::{Read, Write};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{WAIT, example, ferromcp, free_port, wait_listening};

struct Killed(Child);
impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `name` with `vars` and waits until it listens on the `FERROMCP_PORT` it got.
fn start(name: &str, vars: &[(&str, &str)], args: &[&str], port: u16, stderr: Stdio) -> Killed {
    let mut child = Command::new(example(name))
        .args(args)
        .envs(vars.iter().copied())
        .env("FERROMCP_PORT", port.to_string())
        .stdout(Stdio::null())
        .stderr(stderr)
        .spawn()
        .expect("spawn the example");
    wait_listening(SocketAddr::from(([127, 0, 0, 1], port)), &mut child);
    Killed(child)
}

/// Runs `name` with one bad variable; returns (exit code, stderr).
fn refused(name: &str, var: &str, value: &str) -> (Option<i32>, String) {
    let mut child = Command::new(example(name))
        .env("FERROMCP_PORT", free_port().to_string())
        .env(var, value)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn the example");
    let start = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().expect("wait") {
            break s;
        }
        if start.elapsed() > WAIT {
            let _ = child.kill();
            panic!("{name} with {var}={value} kept running instead of stopping");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut err = String::new();
    child.stderr.take().expect("stderr").read_to_string(&mut err).expect("read stderr");
    (status.code(), err)
}

/// GET `path` on 127.0.0.1:`port`; returns the whole response.
fn get(port: u16, path: &str) -> String {
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect");
    s.set_read_timeout(Some(WAIT)).expect("timeout");
    write!(s, "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n").expect("write");
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    out
}

#[test]
fn quickstart_listens_on_ferromcp_port_and_path() {
    let port = free_port();
    let _qs = start(
        "quickstart",
        &[("FERROMCP_PATH", "/custom"), ("FERROMCP_METRICS_PATH", "/stats")],
        &[],
        port,
        Stdio::null(),
    );
    let url = format!("http://127.0.0.1:{port}/custom");
    for era in ["legacy", "modern"] {
        let call = ferromcp(&["call", &url, "add", "a=1", "b=2", "--era", era]).ok();
        assert_eq!(call.stdout.lines().next(), Some("3"), "{era}: {}", call.stdout);
    }
    let r = ferromcp(&["list", &format!("http://127.0.0.1:{port}/mcp")]);
    assert_ne!(r.code, Some(0), "the default path is not served when FERROMCP_PATH is set");
    let metrics = get(port, "/stats");
    assert!(metrics.starts_with("HTTP/1.1 200"), "{metrics}");
    assert!(metrics.contains("# TYPE"), "Prometheus text: {metrics}");
}

#[test]
fn quickstart_logs_json_with_ferromcp_log_format() {
    let port = free_port();
    let mut qs =
        start("quickstart", &[("FERROMCP_LOG", "debug"), ("FERROMCP_LOG_FORMAT", "json")], &[], port, Stdio::piped());
    let url = format!("http://127.0.0.1:{port}/mcp");
    ferromcp(&["call", &url, "add", "a=1", "b=2", "--era", "legacy"]).ok();
    let _ = qs.0.kill();
    let _ = qs.0.wait();
    let mut err = String::new();
    qs.0.stderr.take().expect("stderr").read_to_string(&mut err).expect("read stderr");
    let json_lines: Vec<serde_json::Value> =
        err.lines().filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok()).collect();
    assert!(
        json_lines.iter().any(|v| v["level"].is_string() && v["fields"].is_object()),
        "JSON log lines on stderr:\n{err}"
    );
}

#[test]
fn quickstart_connects_the_redis_store_of_ferromcp_redis_url() {
    // CI starts Redis on 127.0.0.1:6379 (.ci/run); db 14 is this test's.
    let port = free_port();
    let _qs = start("quickstart", &[("FERROMCP_REDIS_URL", "redis://127.0.0.1:6379/14")], &[], port, Stdio::null());
    let call = ferromcp(&["call", &format!("http://127.0.0.1:{port}/mcp"), "add", "a=2", "b=2"]).ok();
    assert_eq!(call.stdout.lines().next(), Some("4"));
    // A Redis that does not answer stops startup, naming the variable.
    let dead = format!("redis://127.0.0.1:{}/", free_port());
    let (code, err) = refused("quickstart", "FERROMCP_REDIS_URL", &dead);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("FERROMCP_REDIS_URL") && err.contains("reachable Redis"), "{err}");
}

#[test]
fn a_bad_value_stops_startup_naming_the_variable() {
    for (var, value) in [
        ("FERROMCP_HOST", "nowhere"),
        ("FERROMCP_PORT", "http"),
        ("FERROMCP_PATH", "mcp"),
        ("FERROMCP_STATELESS", "maybe"),
        ("FERROMCP_JSON_RESPONSE", "sometimes"),
        ("FERROMCP_SESSION_IDLE_TIMEOUT", "soon"),
        ("FERROMCP_MAX_SESSIONS", "0"),
        ("FERROMCP_STATE_TTL", "forever"),
        ("FERROMCP_REDIS_URL", "localhost"),
        ("FERROMCP_SEALING_KEYS", "xyz"),
        ("FERROMCP_EVENT_STORE", "disk"),
        ("FERROMCP_LOG", "not a filter"),
        ("FERROMCP_LOG_FORMAT", "xml"),
        ("FERROMCP_METRICS_PATH", "/mcp"),
    ] {
        for name in ["quickstart", "everything"] {
            let (code, err) = refused(name, var, value);
            assert_eq!(code, Some(2), "{name} {var}={value}: {err}");
            assert!(err.contains(var) && err.contains("expected"), "{name} {var}={value}: {err}");
        }
    }
}

#[test]
fn everything_flags_win_over_the_environment() {
    let (env_port, flag_port) = (free_port(), free_port());
    let mut child = Command::new(example("everything"))
        .args(["--port", &flag_port.to_string()])
        .env("FERROMCP_PORT", env_port.to_string())
        .env("FERROMCP_JSON_RESPONSE", "true")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn everything");
    wait_listening(SocketAddr::from(([127, 0, 0, 1], flag_port)), &mut child);
    let _every = Killed(child);
    assert!(std::net::TcpStream::connect(("127.0.0.1", env_port)).is_err(), "--port won over FERROMCP_PORT");
    // FERROMCP_JSON_RESPONSE applies: no stream, so progress never reaches the client.
    let url = format!("http://127.0.0.1:{flag_port}/mcp");
    let r = ferromcp(&["call", &url, "test_tool_with_progress", "--era", "legacy"]).ok();
    assert_eq!(r.stdout.trim(), "Progress test completed");
    assert!(!r.stderr.contains("progress:"), "JSON-only answers carry no progress: {}", r.stderr);
}
