//! Servers for the HTTP client tests: the `everything` example as a child process, and
//! in-process ferromcp servers in runtimes of their own (so stopping one really ends
//! its listener, connections and requests). Every wait is bounded.

#![allow(dead_code)]

use std::net::{SocketAddr, TcpListener};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use ferromcp_core::Server;
use ferromcp_http::HttpConfig;

/// The longest any test waits for one thing.
pub const WAIT: Duration = Duration::from_secs(60);

fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The `everything` example binary, built if missing.
fn everything_binary() -> PathBuf {
    let root = workspace_root();
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target"));
    let bin = target.join("debug/examples/everything");
    if !bin.exists() {
        let status = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
            .args(["build", "--example", "everything"])
            .current_dir(&root)
            .status()
            .expect("run cargo build --example everything");
        assert!(status.success(), "cargo build --example everything failed");
    }
    bin
}

/// The first `http://…` URL `child` prints on stderr, within [`WAIT`]; stderr is drained
/// in the background afterwards so the child never blocks on a full pipe.
fn bound_url(child: &mut Child) -> Option<String> {
    use std::io::BufRead;
    let stderr = child.stderr.take()?;
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut tx = Some(tx);
        for line in std::io::BufReader::new(stderr).lines() {
            let Ok(line) = line else { break };
            if let Some(at) = line.find("http://")
                && let Some(tx) = tx.take()
            {
                let url = line[at..].split_whitespace().next().unwrap_or_default();
                let _ = tx.send(url.to_owned());
            }
        }
    });
    rx.recv_timeout(WAIT).ok()
}

/// The `everything` example serving Streamable HTTP on 127.0.0.1; killed on drop.
pub struct Everything {
    child: Child,
    /// The Streamable HTTP endpoint.
    pub url: String,
    /// `http://127.0.0.1:PORT`.
    pub base: String,
}

impl Everything {
    pub fn start() -> Everything {
        Self::start_with(&[])
    }

    /// Starts with extra command-line arguments.
    pub fn start_with(args: &[&str]) -> Everything {
        // Port 0: the server reports the port it bound, so no port is picked in
        // advance for another test to take.
        let mut child = Command::new(everything_binary())
            .args(["--port", "0"])
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn everything");
        let Some(url) = bound_url(&mut child) else {
            let _ = child.kill();
            panic!(
                "everything reported no address within {WAIT:?}: {:?}",
                child.wait()
            );
        };
        let base = url.trim_end_matches("/mcp").to_owned();
        Everything { child, url, base }
    }
}

impl Drop for Everything {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// An in-process server on 127.0.0.1 in a runtime of its own.
pub struct TestServer {
    pub addr: SocketAddr,
    rt: Option<tokio::runtime::Runtime>,
}

impl TestServer {
    pub fn start(server: Server) -> TestServer {
        Self::start_with(
            server,
            "127.0.0.1:0".parse().expect("addr"),
            HttpConfig::default(),
        )
    }

    /// Starts on `addr` (to restart a stopped server on the same port).
    pub fn start_on(server: Server, addr: SocketAddr) -> TestServer {
        Self::start_with(server, addr, HttpConfig::default())
    }

    /// Starts on `addr` with `cfg`.
    pub fn start_with(server: Server, addr: SocketAddr, cfg: HttpConfig) -> TestServer {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("server runtime");
        let start = Instant::now();
        let listener = loop {
            match TcpListener::bind(addr) {
                Ok(l) => break l,
                Err(e) => {
                    assert!(start.elapsed() < WAIT, "bind {addr}: {e}");
                    std::thread::sleep(Duration::from_millis(50));
                }
            }
        };
        listener.set_nonblocking(true).expect("non-blocking");
        let addr = listener.local_addr().expect("local addr");
        rt.spawn(async move {
            let listener = tokio::net::TcpListener::from_std(listener).expect("tokio listener");
            let _ = ferromcp_http::serve_listener(server, listener, cfg).await;
        });
        TestServer { addr, rt: Some(rt) }
    }

    pub fn url(&self) -> String {
        format!("http://{}/mcp", self.addr)
    }

    /// Stops the server: listener, connections and running requests all go.
    pub fn stop(mut self) {
        if let Some(rt) = self.rt.take() {
            rt.shutdown_background();
        }
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(rt) = self.rt.take() {
            rt.shutdown_background();
        }
    }
}
