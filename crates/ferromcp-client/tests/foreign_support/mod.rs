//! Foreign MCP servers for the interop tests: the official TypeScript reference server
//! (`@modelcontextprotocol/server-everything`, installed in `tests/foreign-ts` by
//! `scripts/setup-test-env.sh`) and a FastMCP server (`tests/fastmcp_server.py`, run by
//! the test venv's Python). Each runs as a child process on a free loopback port and is
//! killed on drop; every wait is bounded.
//!
//! A missing install skips the test with a loud message, unless `FERRO_REQUIRE_FOREIGN`
//! is set (`scripts/test-all.sh` sets it): then it fails, so CI never skips silently.
//! The venv is `$FERRO_VENV`, else `<repo>/.venv`.

#![allow(dead_code)]

use std::fs::File;
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The longest any test waits for one thing (a slow FastMCP start included).
pub const WAIT: Duration = Duration::from_secs(90);

fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

/// `Some(path)` if `path` exists; otherwise skips (loudly) or, under
/// `FERRO_REQUIRE_FOREIGN`, fails with what to run.
fn required(path: PathBuf, what: &str) -> Option<PathBuf> {
    if path.exists() {
        return Some(path);
    }
    let fix = "run scripts/setup-test-env.sh";
    if std::env::var_os("FERRO_REQUIRE_FOREIGN").is_some_and(|v| !v.is_empty()) {
        panic!("{what} is missing ({}); {fix}", path.display());
    }
    eprintln!(
        "\n!!!!!!!! SKIPPED: {what} is missing ({}); {fix} (set FERRO_REQUIRE_FOREIGN=1 to fail instead) !!!!!!!!\n",
        path.display()
    );
    None
}

/// A foreign server child process serving Streamable HTTP; killed on drop.
pub struct Foreign {
    child: Child,
    log: PathBuf,
    /// The Streamable HTTP endpoint (`http://127.0.0.1:PORT/mcp`).
    pub url: String,
}

impl Foreign {
    /// The TypeScript reference server (`streamableHttp` mode, `PORT` from the env), or
    /// `None` when it is not installed (see the module docs).
    pub fn typescript() -> Option<Foreign> {
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/foreign-ts");
        let entry = required(
            dir.join("node_modules/@modelcontextprotocol/server-everything/dist/index.js"),
            "the TypeScript reference server (npm @modelcontextprotocol/server-everything)",
        )?;
        let port = free_port();
        let mut cmd = Command::new("node");
        cmd.arg(entry)
            .arg("streamableHttp")
            .env("PORT", port.to_string());
        Some(Self::start(cmd, port, "server-everything"))
    }

    /// The FastMCP server of `tests/fastmcp_server.py` (`transport="http"`), or `None`
    /// when the venv is not installed (see the module docs).
    pub fn fastmcp() -> Option<Foreign> {
        let venv = std::env::var_os("FERRO_VENV")
            .map(PathBuf::from)
            .unwrap_or_else(|| workspace_root().join(".venv"));
        let venv = if venv.is_relative() {
            workspace_root().join(venv)
        } else {
            venv
        };
        let python = required(venv.join("bin/python"), "the test venv (FERRO_VENV)")?;
        let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fastmcp_server.py");
        let port = free_port();
        let mut cmd = Command::new(python);
        cmd.arg(script).arg(port.to_string());
        Some(Self::start(cmd, port, "fastmcp"))
    }

    fn start(mut cmd: Command, port: u16, name: &str) -> Foreign {
        let log = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("{name}-{port}.log"));
        let out = File::create(&log).expect("create the server log");
        let err = out.try_clone().expect("clone the log handle");
        let child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::from(out))
            .stderr(Stdio::from(err))
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {name}: {e}"));
        let mut server = Foreign {
            child,
            log,
            url: format!("http://127.0.0.1:{port}/mcp"),
        };
        server.wait_listening(SocketAddr::from(([127, 0, 0, 1], port)), name);
        server
    }

    /// Waits until the port accepts connections; fails early (with the server's log)
    /// when the process exits first.
    fn wait_listening(&mut self, addr: SocketAddr, name: &str) {
        let start = Instant::now();
        while std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_err() {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("{name} exited ({status}) before listening:\n{}", self.log());
            }
            assert!(
                start.elapsed() < WAIT,
                "{name} did not listen on {addr} within {WAIT:?}:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// What the server printed so far (for failure messages).
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Foreign {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
