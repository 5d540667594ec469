//! `ferrobench proxy`: what the proxy hop costs. One run measures `tools/call
//! test_simple_text` (2025-11-25 session over Streamable HTTP, one call at a time) on:
//!
//! - `direct`: `examples/everything --port` itself;
//! - `proxy-http`: `examples/proxy` (HTTP frontend) over that same everything (HTTP backend);
//! - `proxy-stdio`: `examples/proxy` over an `everything --stdio` child;
//! - `fastmcp`: FastMCP's `create_proxy` (this crate's `proxy_fastmcp.py`, run with the
//!   venv's Python) over the same everything, when a venv is found.
//!
//! For each: p50/p99 latency, and server CPU per call — user + system ticks from
//! `/proc/<pid>/stat` before/after the window, summed over every server process of the
//! path (proxy + backend), and the proxy process's own share (`hop CPU`). Then the
//! ratios to `direct`, and the issue's targets (the hop adds ≤ 30 % to p50, ≤ 2× the
//! direct server's CPU per call — given both ways: the whole path, and the hop alone).
//!
//! The binaries come from `--bin-dir` (default: `examples/` next to this executable, so
//! `cargo build --release --example everything --example proxy` first). With
//! `--before-proxy BIN` another proxy build (say, the one before a change) is measured in
//! the same run, as `before-http` and `before-stdio`.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use clap::Args;
use tokio::process::{Child, Command};

use crate::client::{self, Headers, Link};

/// Options of `ferrobench proxy`.
#[derive(Args, Clone)]
pub struct ProxyOpts {
    /// Measured calls per path.
    #[arg(long, default_value_t = 2000)]
    calls: usize,
    /// Measured calls through FastMCP's proxy (it is much slower).
    #[arg(long, default_value_t = 300)]
    fastmcp_calls: usize,
    /// Warm-up calls per path.
    #[arg(long, default_value_t = 200)]
    warmup: usize,
    /// Where `everything` and `proxy` are (default: `examples/` next to ferrobench).
    #[arg(long)]
    bin_dir: Option<PathBuf>,
    /// The Python virtualenv with `fastmcp` (default: `$FERRO_VENV`, else `.venv`).
    #[arg(long)]
    venv: Option<PathBuf>,
    /// Another proxy binary to measure in the same run (e.g. a build from before a
    /// change), as `before-http` and `before-stdio`.
    #[arg(long)]
    before_proxy: Option<PathBuf>,
}

/// A measured path.
struct Measured {
    name: &'static str,
    p50_us: f64,
    p99_us: f64,
    cpu_us_per_call: f64,
    /// The proxy process's own CPU per call (not its backend's).
    hop_cpu_us_per_call: Option<f64>,
}

/// Spawned processes, killed when dropped.
struct Procs(Vec<Child>);

fn free_port() -> Result<u16, String> {
    let l = std::net::TcpListener::bind("127.0.0.1:0").map_err(|e| format!("bind: {e}"))?;
    l.local_addr().map(|a| a.port()).map_err(|e| e.to_string())
}

fn spawn(procs: &mut Procs, program: &Path, args: &[&str]) -> Result<u32, String> {
    let child = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| format!("cannot start {}: {e}", program.display()))?;
    let pid = child.id().ok_or_else(|| format!("{} exited at once", program.display()))?;
    procs.0.push(child);
    Ok(pid)
}

/// User + system ticks of `pid` (fields 14 and 15 of `/proc/<pid>/stat`).
fn ticks(pid: u32) -> u64 {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else { return 0 };
    let Some(after) = stat.rfind(')').map(|i| &stat[i + 2..]) else { return 0 };
    let f: Vec<&str> = after.split_whitespace().collect();
    f.get(11).and_then(|u| u.parse::<u64>().ok()).unwrap_or(0)
        + f.get(12).and_then(|s| s.parse::<u64>().ok()).unwrap_or(0)
}

/// The children of `pid` (a proxy's stdio backends).
fn children(pid: u32) -> Vec<u32> {
    let Ok(dir) = std::fs::read_dir("/proc") else { return Vec::new() };
    dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|p| {
            std::fs::read_to_string(format!("/proc/{p}/stat"))
                .ok()
                .and_then(|s| s.rfind(')').map(|i| s[i + 2..].split_whitespace().nth(1).map(str::to_owned)))
                .flatten()
                .is_some_and(|ppid| ppid == pid.to_string())
        })
        .collect()
}

/// Opens a 2025-11-25 session on `port` (waiting ≤ 20 s for the server); returns the
/// link and the session's headers.
async fn open(port: u16) -> Result<(Link, Headers), String> {
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut link = Link::new(port, Duration::from_secs(10));
    loop {
        match link.post(client::legacy_initialize_body(1), &[]).await {
            Ok(a) if a.status == 200 => {
                let sid = a.session.ok_or("initialize answered without Mcp-Session-Id")?;
                let headers = client::session_headers(&sid)?;
                link.post(client::INITIALIZED_BODY.to_owned(), &headers).await?;
                return Ok((link, headers));
            }
            Ok(a) if Instant::now() > deadline => return Err(format!("initialize: HTTP {}", a.status)),
            Err(e) if Instant::now() > deadline => return Err(format!("server on {port} never answered: {e}")),
            _ => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
}

fn call_body(id: usize) -> String {
    format!(
        r#"{{"jsonrpc":"2.0","id":{id},"method":"tools/call","params":{{"name":"test_simple_text","arguments":{{}}}}}}"#
    )
}

/// Warm-up, then `calls` sequential calls; CPU summed over `pids`, and that of `pids[0]`
/// alone when `hop` (the proxy process).
async fn measure(
    name: &'static str,
    port: u16,
    pids: &[u32],
    hop: bool,
    warmup: usize,
    calls: usize,
) -> Result<Measured, String> {
    let (mut link, headers) = open(port).await?;
    let mut one = async |id: usize| -> Result<Duration, String> {
        let t0 = Instant::now();
        let a = link.post(call_body(id), &headers).await?;
        let body = String::from_utf8_lossy(&a.body);
        if a.status != 200 || !body.contains("This is a simple text response for testing.") {
            return Err(format!(
                "{name}: unexpected answer: HTTP {} {}",
                a.status,
                body.chars().take(200).collect::<String>()
            ));
        }
        Ok(t0.elapsed())
    };
    for i in 0..warmup {
        one(10 + i).await?;
    }
    let before: Vec<u64> = pids.iter().map(|&p| ticks(p)).collect();
    let mut lat = Vec::with_capacity(calls);
    for i in 0..calls {
        lat.push(one(100_000 + i).await?);
    }
    let spent: Vec<u64> = pids.iter().zip(&before).map(|(&p, &b)| ticks(p).saturating_sub(b)).collect();
    lat.sort();
    let pct = |q: f64| lat[((lat.len() as f64 * q) as usize).min(lat.len() - 1)].as_secs_f64() * 1e6;
    // USER_HZ is 100 on Linux: one tick is 10 ms.
    let per_call = |t: u64| t as f64 * 10_000.0 / calls.max(1) as f64;
    let cpu_us_per_call = per_call(spent.iter().sum());
    let hop_cpu_us_per_call = hop.then(|| per_call(spent.first().copied().unwrap_or(0)));
    Ok(Measured { name, p50_us: pct(0.50), p99_us: pct(0.99), cpu_us_per_call, hop_cpu_us_per_call })
}

/// Runs `ferrobench proxy`; prints the table and the verdicts.
pub async fn run(o: ProxyOpts) -> Result<(), String> {
    let bin_dir = match o.bin_dir.clone() {
        Some(d) => d,
        None => std::env::current_exe().map_err(|e| e.to_string())?.with_file_name("examples"),
    };
    let (everything, proxy) = (bin_dir.join("everything"), bin_dir.join("proxy"));
    for b in [&everything, &proxy] {
        if !b.is_file() {
            return Err(format!(
                "{} not found: `cargo build --release --example everything --example proxy`",
                b.display()
            ));
        }
    }
    let tmp = std::env::temp_dir().join(format!("ferrobench-proxy-{}", std::process::id()));
    std::fs::create_dir_all(&tmp).map_err(|e| e.to_string())?;
    let mut procs = Procs(Vec::new());
    let mut out = Vec::new();
    let calls = o.calls.max(1);

    let bport = free_port()?;
    let backend = spawn(&mut procs, &everything, &["--port", &bport.to_string()])?;
    out.push(measure("direct", bport, &[backend], false, o.warmup, calls).await?);

    let url = format!("http://127.0.0.1:{bport}/mcp");
    let cfg_http = tmp.join("http.json");
    std::fs::write(&cfg_http, format!(r#"{{"mcpServers": {{"everything": {{"url": "{url}"}}}}}}"#))
        .map_err(|e| e.to_string())?;
    let cfg_stdio = tmp.join("stdio.json");
    let cmd = serde_json::to_string(&everything.to_string_lossy()).map_err(|e| e.to_string())?;
    std::fs::write(
        &cfg_stdio,
        format!(r#"{{"mcpServers": {{"everything": {{"command": {cmd}, "args": ["--stdio"]}}}}}}"#),
    )
    .map_err(|e| e.to_string())?;
    let mut proxies = vec![(proxy.as_path(), ["proxy-http", "proxy-stdio"])];
    if let Some(before) = &o.before_proxy {
        proxies.push((before.as_path(), ["before-http", "before-stdio"]));
    }
    for (bin, [http_name, stdio_name]) in proxies {
        let port = free_port()?;
        let p = spawn(&mut procs, bin, &["--config", &cfg_http.to_string_lossy(), "--port", &port.to_string()])?;
        out.push(measure(http_name, port, &[p, backend], true, o.warmup, calls).await?);

        let port = free_port()?;
        let p = spawn(&mut procs, bin, &["--config", &cfg_stdio.to_string_lossy(), "--port", &port.to_string()])?;
        // Discovery opens the pooled stdio backend before the proxy listens.
        let _ = open(port).await?;
        let mut pids = vec![p];
        pids.extend(children(p));
        out.push(measure(stdio_name, port, &pids, true, o.warmup, calls).await?);
    }

    let venv =
        o.venv.clone().or_else(|| std::env::var_os("FERRO_VENV").map(PathBuf::from)).unwrap_or_else(|| ".venv".into());
    let python = venv.join("bin").join("python");
    if python.is_file() {
        let script = tmp.join("proxy_fastmcp.py");
        std::fs::write(&script, include_str!("proxy_fastmcp.py")).map_err(|e| e.to_string())?;
        let port = free_port()?;
        let p = spawn(&mut procs, &python, &[&script.to_string_lossy(), &url, &port.to_string()])?;
        let warm = o.warmup.min(o.fastmcp_calls);
        match measure("fastmcp", port, &[p, backend], true, warm, o.fastmcp_calls.max(1)).await {
            Ok(m) => out.push(m),
            Err(e) => eprintln!("ferrobench: FastMCP proxy not measured: {e}"),
        }
    } else {
        eprintln!("ferrobench: no Python at {}: FastMCP's proxy not measured (set --venv)", python.display());
    }
    drop(procs);
    let _ = std::fs::remove_dir_all(&tmp);
    report(&out);
    Ok(())
}

fn report(out: &[Measured]) {
    let Some(direct) = out.first() else { return };
    let base_cpu = direct.cpu_us_per_call.max(1e-9);
    println!(
        "{:<13} {:>8} {:>8} {:>12} {:>12} {:>7} {:>7} {:>9}",
        "path", "p50 µs", "p99 µs", "CPU µs/call", "hop CPU µs", "p50 ×", "CPU ×", "hop CPU ×"
    );
    for m in out {
        let hop = m.hop_cpu_us_per_call.map_or("-".to_owned(), |h| format!("{h:.0}"));
        let hop_x = m.hop_cpu_us_per_call.map_or("-".to_owned(), |h| format!("{:.2}", h / base_cpu));
        println!(
            "{:<13} {:>8.0} {:>8.0} {:>12.0} {:>12} {:>7.2} {:>7.2} {:>9}",
            m.name,
            m.p50_us,
            m.p99_us,
            m.cpu_us_per_call,
            hop,
            m.p50_us / direct.p50_us,
            m.cpu_us_per_call / base_cpu,
            hop_x,
        );
    }
    let verdict = |ok: bool| if ok { "met" } else { "NOT met" };
    for m in out.iter().filter(|m| m.name.starts_with("proxy-") || m.name.starts_with("before-")) {
        let added = (m.p50_us / direct.p50_us - 1.0) * 100.0;
        let cpu = m.cpu_us_per_call / base_cpu;
        let hop = m.hop_cpu_us_per_call.unwrap_or(f64::INFINITY) / base_cpu;
        println!(
            "{}: the hop adds {added:.0} % to p50 (target ≤ 30 %: {}); CPU/call of the whole path {cpu:.2}× \
             direct, of the proxy process alone {hop:.2}× (target ≤ 2×: {} / {})",
            m.name,
            verdict(added <= 30.0),
            verdict(cpu <= 2.0),
            verdict(hop <= 2.0),
        );
    }
}
