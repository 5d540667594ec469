//! Processes: `/proc` readings (CPU ticks, RSS), CPU pinning with `taskset`, and the
//! server child processes (re-executions of this binary, pinned to their own core).
//!
//! A server child prints one line, `FERROBENCH_LISTENING <port>`, once its socket is
//! bound; [`ServerProc::spawn`] waits for it (bounded) and the child is killed when the
//! handle is stopped or dropped (`kill_on_drop`), so an early error never leaks it.

use std::process::Stdio;
use std::time::{Duration, Instant};

use serde::Serialize;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, ChildStdout, Command};

/// The line a server child prints once it listens.
pub const READY_PREFIX: &str = "FERROBENCH_LISTENING ";

/// Clock ticks per second of `/proc/*/stat` (USER_HZ, 100 on every Linux ABI in use).
const USER_HZ: f64 = 100.0;

/// utime + stime (ticks) of a process, all threads included.
fn proc_ticks(pid: &str) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name (which may contain spaces): state is field 3.
    let rest = &stat[stat.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    Some(f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?)
}

/// (busy, steal) ticks of the whole machine from the `cpu` line of `/proc/stat`.
fn system_ticks() -> (u64, u64) {
    let s = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let f: Vec<u64> =
        s.lines().next().unwrap_or("").split_whitespace().skip(1).filter_map(|x| x.parse().ok()).collect();
    let g = |i: usize| f.get(i).copied().unwrap_or(0);
    // user nice system idle iowait irq softirq steal
    (g(0) + g(1) + g(2) + g(5) + g(6), g(7))
}

/// (VmRSS, VmHWM) of a process in KiB.
pub fn rss_kib(pid: u32) -> Option<(u64, u64)> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let field = |name: &str| {
        s.lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse::<u64>().ok())
    };
    Some((field("VmRSS:")?, field("VmHWM:").unwrap_or(0)))
}

/// CPU use over a measured window.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct CpuUsage {
    /// Server CPU time (user + system) in the window, seconds.
    pub server_cpu_s: f64,
    /// Server CPU in % of one core.
    pub server_pct: f64,
    /// This process (the load generator) in % of one core.
    pub loadgen_pct: f64,
    /// Everything else on the machine, % of one core: noise if well above 0.
    pub other_pct: f64,
    /// Hypervisor steal, % of one core.
    pub steal_pct: f64,
}

/// CPU counters at the start of a window.
pub struct CpuWindow {
    pid: u32,
    t0: Instant,
    server: u64,
    me: u64,
    busy: u64,
    steal: u64,
}

impl CpuWindow {
    /// Reads the counters now.
    pub fn start(pid: u32) -> Self {
        let (busy, steal) = system_ticks();
        CpuWindow {
            pid,
            t0: Instant::now(),
            server: proc_ticks(&pid.to_string()).unwrap_or(0),
            me: proc_ticks("self").unwrap_or(0),
            busy,
            steal,
        }
    }

    /// Reads the counters again and returns the use since [`CpuWindow::start`].
    pub fn stop(&self) -> CpuUsage {
        let el = self.t0.elapsed().as_secs_f64().max(1e-9);
        let server = proc_ticks(&self.pid.to_string()).unwrap_or(0).saturating_sub(self.server);
        let me = proc_ticks("self").unwrap_or(0).saturating_sub(self.me);
        let (busy, steal) = system_ticks();
        let busy = busy.saturating_sub(self.busy);
        let pct = |t: u64| t as f64 / USER_HZ / el * 100.0;
        CpuUsage {
            server_cpu_s: server as f64 / USER_HZ,
            server_pct: pct(server),
            loadgen_pct: pct(me),
            other_pct: pct(busy.saturating_sub(server + me)),
            steal_pct: pct(steal.saturating_sub(self.steal)),
        }
    }
}

/// Whether the `taskset` command can be run.
pub fn taskset_available() -> bool {
    std::process::Command::new("taskset")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Pins every thread of this process to `cpu` (`taskset -a -p -c CPU PID`). Call it
/// before the runtime starts: threads created later inherit the mask.
pub fn pin_self(cpu: usize) -> Result<(), String> {
    let out = std::process::Command::new("taskset")
        .args(["-a", "-p", "-c", &cpu.to_string(), &std::process::id().to_string()])
        .output()
        .map_err(|e| format!("taskset: {e}"))?;
    if out.status.success() { Ok(()) } else { Err(format!("taskset: {}", String::from_utf8_lossy(&out.stderr).trim())) }
}

/// Sets the nice value of this process (`renice -n N -p PID`); the servers started
/// afterwards inherit it. With autogroup scheduling nice only ranks tasks inside one
/// session's group, so with `autogroup` the group's nice (`/proc/self/autogroup`) is set
/// too; call it so only in a session of our own (see `main`'s `--nice`).
pub fn renice_self(n: i32, autogroup: bool) -> Result<(), String> {
    if autogroup && std::fs::metadata("/proc/self/autogroup").is_ok() {
        std::fs::write("/proc/self/autogroup", n.to_string()).map_err(|e| format!("/proc/self/autogroup: {e}"))?;
    }
    let out = std::process::Command::new("renice")
        .args(["-n", &n.to_string(), "-p", &std::process::id().to_string()])
        .output()
        .map_err(|e| format!("renice: {e}"))?;
    if out.status.success() { Ok(()) } else { Err(format!("renice: {}", String::from_utf8_lossy(&out.stderr).trim())) }
}

/// Re-runs this very command under `setsid -w` (a new session, hence its own
/// autogroup) with `marker` set in its environment; returns its exit status, or `None`
/// if `setsid` could not be started.
pub fn rerun_in_own_session(marker: &str) -> Option<std::process::ExitStatus> {
    let exe = std::env::current_exe().ok()?;
    std::process::Command::new("setsid")
        .arg("-w")
        .arg(exe)
        .args(std::env::args_os().skip(1))
        .env(marker, "1")
        .status()
        .ok()
}

/// A server child process.
pub struct ServerProc {
    child: Child,
    /// Kept open so the child never writes into a closed pipe.
    _stdout: BufReader<ChildStdout>,
    /// Its process id (`taskset` execs the server, so this is the server itself).
    pub pid: u32,
    /// The port it listens on (127.0.0.1).
    pub port: u16,
}

impl ServerProc {
    /// Starts `ferrobench <args> --port 0` (under `taskset -c CPU` if `cpu` is given)
    /// and waits up to 15 s for its listening line.
    pub async fn spawn(args: &[&str], cpu: Option<usize>) -> Result<ServerProc, String> {
        let exe = std::env::current_exe().map_err(|e| format!("current_exe: {e}"))?;
        let mut cmd = match cpu {
            Some(c) => {
                let mut cmd = Command::new("taskset");
                cmd.arg("-c").arg(c.to_string()).arg(&exe);
                cmd
            }
            None => Command::new(&exe),
        };
        cmd.args(args)
            .args(["--port", "0"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true);
        let mut child = cmd.spawn().map_err(|e| format!("spawn {}: {e}", args.join(" ")))?;
        let pid = child.id().ok_or("server exited at once")?;
        let stdout = child.stdout.take().ok_or("no stdout pipe")?;
        let mut stdout = BufReader::new(stdout);
        let mut line = String::new();
        let read = tokio::time::timeout(Duration::from_secs(15), stdout.read_line(&mut line)).await;
        let port = match read {
            Ok(Ok(n)) if n > 0 => line.trim().strip_prefix(READY_PREFIX.trim()).and_then(|p| p.trim().parse().ok()),
            _ => None,
        };
        let Some(port) = port else {
            let _ = child.start_kill();
            let _ = child.wait().await;
            return Err(format!("server `{}` did not report its port (got {line:?})", args.join(" ")));
        };
        Ok(ServerProc { child, _stdout: stdout, pid, port })
    }

    /// Kills the server and reaps it (bounded).
    pub async fn stop(mut self) {
        let _ = self.child.start_kill();
        let _ = tokio::time::timeout(Duration::from_secs(5), self.child.wait()).await;
    }
}
