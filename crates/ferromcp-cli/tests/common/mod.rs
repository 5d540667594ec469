//! Shared by the CLI tests: the example servers (`quickstart`, `everything`) as child
//! processes on free loopback ports, and running the built `ferromcp` binary with a
//! bounded wait.

#![allow(dead_code)]

use std::io::Read;
use std::net::{SocketAddr, TcpListener};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The longest any test waits for one thing.
pub const WAIT: Duration = Duration::from_secs(60);

/// The `ferromcp` binary under test.
pub const FERROMCP: &str = env!("CARGO_BIN_EXE_ferromcp");

fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// An example binary of the workspace, built if missing.
pub fn example(name: &str) -> PathBuf {
    let root = workspace_root();
    let target = std::env::var_os("CARGO_TARGET_DIR").map(PathBuf::from).unwrap_or_else(|| root.join("target"));
    let bin = target.join("debug/examples").join(name);
    if !bin.exists() {
        let status = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
            .args(["build", "--example", name])
            .current_dir(&root)
            .status()
            .expect("run cargo build --example");
        assert!(status.success(), "cargo build --example {name} failed");
    }
    bin
}

/// A free loopback port.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("a free loopback port")
}

/// Waits until something accepts TCP connections on `addr`.
pub fn wait_listening(addr: SocketAddr, child: &mut Child) {
    let start = Instant::now();
    while std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_err() {
        if let Ok(Some(status)) = child.try_wait() {
            panic!("the server exited ({status}) before listening on {addr}");
        }
        assert!(start.elapsed() < WAIT, "nothing listens on {addr}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// An example server on 127.0.0.1; killed on drop.
pub struct Served {
    child: Child,
    /// The Streamable HTTP endpoint.
    pub url: String,
}

impl Served {
    /// `quickstart`, told port 0 through `FERROMCP_PORT` (the settings process test); its
    /// URL is the address it reports once bound.
    pub fn quickstart() -> Served {
        let mut cmd = Command::new(example("quickstart"));
        cmd.env("FERROMCP_PORT", "0");
        Served::start(cmd, "quickstart")
    }

    /// `everything` with `--port 0`; its URL is the address it reports once bound.
    pub fn everything() -> Served {
        let mut cmd = Command::new(example("everything"));
        cmd.args(["--port", "0"]);
        Served::start(cmd, "everything")
    }

    /// Spawns `cmd` and waits for the `http://…` URL it prints on stderr once bound (a
    /// port-0 bind: no port is picked in advance, so none can be taken by another test).
    fn start(mut cmd: Command, name: &str) -> Served {
        let mut child =
            cmd.stdout(Stdio::null()).stderr(Stdio::piped()).spawn().unwrap_or_else(|e| panic!("spawn {name}: {e}"));
        let url = bound_url(&mut child).unwrap_or_else(|| {
            let _ = child.kill();
            panic!("{name} reported no http:// address within {WAIT:?} ({:?})", child.wait())
        });
        Served { child, url }
    }
}

/// The first `http://…` URL `child` prints on stderr, within [`WAIT`]; stderr is drained
/// in the background afterwards so the child never blocks on a full pipe.
pub fn bound_url(child: &mut Child) -> Option<String> {
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
                let _ = tx.send(line[at..].split_whitespace().next().unwrap_or_default().to_owned());
            }
        }
    });
    rx.recv_timeout(WAIT).ok()
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// What a `ferromcp` run left.
#[derive(Debug)]
pub struct Run {
    /// The exit code (`None` if killed by a signal).
    pub code: Option<i32>,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
}

impl Run {
    /// stdout parsed as JSON.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not JSON ({e}):\n{}\nstderr:\n{}", self.stdout, self.stderr))
    }
    /// Panics with the run's output unless it exited 0.
    pub fn ok(self) -> Run {
        assert_eq!(self.code, Some(0), "ferromcp failed:\nstdout:\n{}\nstderr:\n{}", self.stdout, self.stderr);
        self
    }
}

/// Runs `ferromcp ARGS` without a terminal (stdin closed), killed after [`WAIT`].
pub fn ferromcp(args: &[&str]) -> Run {
    ferromcp_in(args, None)
}

/// Runs `ferromcp ARGS` in `dir` (for the default config file).
pub fn ferromcp_in(args: &[&str], dir: Option<&std::path::Path>) -> Run {
    let mut cmd = Command::new(FERROMCP);
    if let Some(d) = dir {
        cmd.current_dir(d);
    }
    run_cmd(cmd, args)
}

/// Runs `ferromcp ARGS` with extra environment variables.
pub fn ferromcp_env(args: &[&str], vars: &[(&str, &str)]) -> Run {
    let mut cmd = Command::new(FERROMCP);
    cmd.envs(vars.iter().copied());
    run_cmd(cmd, args)
}

fn run_cmd(mut cmd: Command, args: &[&str]) -> Run {
    cmd.args(args).stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("spawn ferromcp");
    let mut out = child.stdout.take().expect("stdout");
    let mut err = child.stderr.take().expect("stderr");
    let out_t = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = out.read_to_string(&mut s);
        s
    });
    let err_t = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = err.read_to_string(&mut s);
        s
    });
    let start = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().expect("wait") {
            break s;
        }
        if start.elapsed() > WAIT {
            let _ = child.kill();
            panic!("ferromcp {args:?} did not finish within {WAIT:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    Run { code: status.code(), stdout: out_t.join().expect("stdout"), stderr: err_t.join().expect("stderr") }
}
