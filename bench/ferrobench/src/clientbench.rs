//! `ferrobench client`: what the *client* costs. ferromcp-client and rmcp's client
//! drive the same load — `--concurrency` tasks in one session calling `tools/call add`
//! in a closed loop over Streamable HTTP — against a fresh `serve-ferromcp --mode
//! stateful` server (pinned to `--server-cpu`), in both eras; the table gives calls/s and
//! the client's CPU per call side by side, and the ratios ferromcp-client / rmcp.
//!
//! Each driver is its own process pinned to `--loadgen-cpu`, so its CPU time
//! (`/proc/self/stat`, all threads, over the measured window) is the client's alone:
//! ferromcp-client runs as this binary's hidden `client-driver` subcommand, rmcp's
//! client as the `rmcp-client` binary (`bench/rmcp-client`, next to this executable or
//! `--rmcp-client PATH`). Both print one line, [`RESULT_PREFIX`]`{json}`, and count only
//! calls started in the window whose `structuredContent.result` is `a + b`.

use std::path::PathBuf;
use std::process::Stdio;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use clap::{Args, ValueEnum};
use ferromcp::client::{Client, ClientEra, ClientOptions};
use serde::{Deserialize, Serialize};
use serde_json::json;
use tokio::process::Command;

use crate::Opts;
use crate::procs::ServerProc;

/// The line a driver prints at the end.
pub const RESULT_PREFIX: &str = "FERROBENCH_CLIENT_RESULT ";

/// The protocol era a driver speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Era {
    /// 2025-11-25: `initialize`, a session.
    Legacy,
    /// 2026-07-28: `server/discover`, `_meta` on each request.
    Modern,
}

impl Era {
    fn name(self) -> &'static str {
        match self {
            Era::Legacy => "legacy",
            Era::Modern => "modern",
        }
    }
}

/// Arguments of the hidden `client-driver` subcommand (the same as `rmcp-client`'s).
#[derive(Args, Clone, Debug)]
pub struct DriverArgs {
    /// The server's Streamable HTTP endpoint.
    #[arg(long)]
    url: String,
    #[arg(long, value_enum)]
    era: Era,
    #[arg(long, default_value_t = 32)]
    concurrency: usize,
    #[arg(long, default_value_t = 2.0)]
    warmup_s: f64,
    #[arg(long, default_value_t = 10.0)]
    duration_s: f64,
}

/// What a driver reports.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct DriverResult {
    /// Correct answers to calls started in the window.
    pub calls: u64,
    /// Failed or wrong calls started in the window.
    pub errors: u64,
    /// The measured window, seconds.
    pub window_s: f64,
    /// The driver's CPU time (user + system, all threads) in the window, seconds.
    pub cpu_s: f64,
    /// The first error, if any.
    pub first_error: Option<String>,
}

/// utime + stime of this process, seconds (USER_HZ = 100).
fn cpu_s() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let rest = stat.rfind(')').map_or("", |i| &stat[i + 2..]);
    let f: Vec<&str> = rest.split_whitespace().collect();
    let field = |i: usize| f.get(i).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
    (field(11) + field(12)) as f64 / 100.0
}

/// `client-driver`: ferromcp-client's closed loop; prints the result line.
pub fn driver(a: &DriverArgs) -> Result<(), String> {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(|e| format!("runtime: {e}"))?;
    let r = rt.block_on(drive(a))?;
    println!("{RESULT_PREFIX}{}", serde_json::to_string(&r).map_err(|e| e.to_string())?);
    Ok(())
}

async fn drive(a: &DriverArgs) -> Result<DriverResult, String> {
    let era = match a.era {
        Era::Legacy => ClientEra::Legacy,
        Era::Modern => ClientEra::Modern,
    };
    let opts = ClientOptions::new(era).request_timeout(Duration::from_secs(10));
    let client = Client::connect_http(&a.url, opts).await.map_err(|e| format!("connect: {e}"))?;
    let start = Instant::now() + Duration::from_secs_f64(a.warmup_s.max(0.0));
    let end = start + Duration::from_secs_f64(a.duration_s.max(0.1));
    let (calls, errors) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let first_error = Arc::new(Mutex::new(None::<String>));
    let mut tasks = Vec::new();
    for w in 0..a.concurrency.max(1) {
        let (client, calls, errors, first_error) = (client.clone(), calls.clone(), errors.clone(), first_error.clone());
        tasks.push(tokio::spawn(async move {
            let mut i = 0i64;
            loop {
                let began = Instant::now();
                if began >= end {
                    break;
                }
                i += 1;
                let (x, y) = (w as i64, i);
                let r = client.call_tool("add", json!({"a": x, "b": y})).await;
                if began < start {
                    continue;
                }
                let bad = match r {
                    Ok(out) if out.structured().and_then(|s| s["result"].as_i64()) == Some(x + y) => None,
                    Ok(out) => Some(format!("wrong answer: {}", out.value)),
                    Err(e) => Some(format!("call failed: {e}")),
                };
                match bad {
                    None => calls.fetch_add(1, Ordering::Relaxed),
                    Some(e) => {
                        first_error.lock().expect("lock").get_or_insert(e);
                        errors.fetch_add(1, Ordering::Relaxed)
                    }
                };
            }
        }));
    }
    tokio::time::sleep_until(start.into()).await;
    let (cpu0, w0) = (cpu_s(), Instant::now());
    tokio::time::sleep_until(end.into()).await;
    let (cpu1, window_s) = (cpu_s(), w0.elapsed().as_secs_f64());
    for t in tasks {
        let _ = tokio::time::timeout(Duration::from_secs(15), t).await;
    }
    client.close().await;
    let first_error = first_error.lock().expect("lock").clone();
    Ok(DriverResult {
        calls: calls.load(Ordering::Relaxed),
        errors: errors.load(Ordering::Relaxed),
        window_s,
        cpu_s: cpu1 - cpu0,
        first_error,
    })
}

/// One measured run.
#[derive(Debug, Clone, Serialize)]
pub struct Row {
    /// `ferromcp-client` or `rmcp`.
    pub client: &'static str,
    /// The era.
    pub era: Era,
    /// What the driver reported.
    pub result: DriverResult,
}

impl Row {
    fn calls_per_s(&self) -> f64 {
        self.result.calls as f64 / self.result.window_s.max(1e-9)
    }
    fn cpu_us_per_call(&self) -> f64 {
        self.result.cpu_s * 1e6 / (self.result.calls.max(1) as f64)
    }
    fn cpu_pct(&self) -> f64 {
        self.result.cpu_s / self.result.window_s.max(1e-9) * 100.0
    }
}

/// Where the rmcp driver is: `--rmcp-client`, else `rmcp-client` next to this binary.
fn rmcp_binary(explicit: Option<&PathBuf>) -> Result<PathBuf, String> {
    let path = match explicit {
        Some(p) => p.clone(),
        None => {
            let exe = std::env::current_exe().map_err(|e| format!("current_exe: {e}"))?;
            exe.with_file_name("rmcp-client")
        }
    };
    if path.exists() {
        Ok(path)
    } else {
        Err(format!(
            "the rmcp driver {} is missing: build it with `cargo build --release -p rmcp-client` (same profile as ferrobench) or pass --rmcp-client PATH",
            path.display()
        ))
    }
}

async fn run_driver(
    program: &PathBuf,
    pre: &[&str],
    url: &str,
    era: Era,
    o: &Opts,
    cpu: Option<usize>,
) -> Result<DriverResult, String> {
    let mut cmd = match cpu {
        Some(c) => {
            let mut cmd = Command::new("taskset");
            cmd.arg("-c").arg(c.to_string()).arg(program);
            cmd
        }
        None => Command::new(program),
    };
    cmd.args(pre)
        .args(["--url", url, "--era", era.name()])
        .args(["--concurrency", &o.concurrency.max(1).to_string()])
        .args(["--warmup-s", &o.warmup_s.to_string(), "--duration-s", &o.duration_s.to_string()])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true);
    let limit = Duration::from_secs_f64(o.warmup_s.max(0.0) + o.duration_s.max(0.1) + 60.0);
    let out = tokio::time::timeout(limit, cmd.output())
        .await
        .map_err(|_| format!("{} did not finish within {limit:?}", program.display()))?
        .map_err(|e| format!("run {}: {e}", program.display()))?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let line = stdout.lines().find_map(|l| l.strip_prefix(RESULT_PREFIX));
    match line {
        Some(json) => serde_json::from_str(json).map_err(|e| format!("bad driver result {json:?}: {e}")),
        None => Err(format!("{} ended ({}) without a result line", program.display(), out.status)),
    }
}

/// Runs both clients in both eras, `--repeats` times (the order alternates), a fresh
/// server each.
pub async fn bench(o: &Opts, rmcp: Option<&PathBuf>, pins: (Option<usize>, Option<usize>)) -> Result<Vec<Row>, String> {
    let rmcp = rmcp_binary(rmcp)?;
    let me = std::env::current_exe().map_err(|e| format!("current_exe: {e}"))?;
    let mut rows = Vec::new();
    let runs = (0..o.repeats.max(1)).flat_map(|_| [Era::Legacy, Era::Modern]);
    for (k, era) in runs.enumerate() {
        let order: [&'static str; 2] =
            if (k % 2 + k / 2) % 2 == 0 { ["ferromcp-client", "rmcp"] } else { ["rmcp", "ferromcp-client"] };
        for client in order {
            let server = ServerProc::spawn(&["serve-ferromcp", "--mode", "stateful"], pins.1).await?;
            let url = format!("http://127.0.0.1:{}/mcp", server.port);
            eprintln!("ferrobench: client {client} ({}) against pid {} port {}", era.name(), server.pid, server.port);
            let r = if client == "rmcp" {
                run_driver(&rmcp, &[], &url, era, o, pins.0).await
            } else {
                run_driver(&me, &["client-driver"], &url, era, o, pins.0).await
            };
            server.stop().await;
            rows.push(Row { client, era, result: r? });
        }
    }
    Ok(rows)
}

/// Prints the table, the ratios and a JSON line.
pub fn print(rows: &[Row], o: &Opts) {
    println!();
    println!(
        "client: {} tasks in one session, tools/call add, {} s window after {} s warm-up, {} repeat(s)",
        o.concurrency,
        o.duration_s,
        o.warmup_s,
        o.repeats.max(1)
    );
    println!("{:<16} {:<7} {:>10} {:>12} {:>9} {:>7}", "client", "era", "calls/s", "CPU µs/call", "CPU %", "errors");
    for r in rows {
        println!(
            "{:<16} {:<7} {:>10.0} {:>12.1} {:>9.1} {:>7}",
            r.client,
            r.era.name(),
            r.calls_per_s(),
            r.cpu_us_per_call(),
            r.cpu_pct(),
            r.result.errors
        );
        if let Some(e) = &r.result.first_error {
            println!("    first error: {e}");
        }
    }
    for era in [Era::Legacy, Era::Modern] {
        let median = |c: &str, f: fn(&Row) -> f64| {
            let mut v: Vec<f64> = rows.iter().filter(|r| r.client == c && r.era == era).map(f).collect();
            v.sort_by(f64::total_cmp);
            v.get(v.len() / 2).copied()
        };
        let (Some(fc), Some(rc)) = (median("ferromcp-client", Row::calls_per_s), median("rmcp", Row::calls_per_s))
        else {
            continue;
        };
        let (Some(fu), Some(ru)) =
            (median("ferromcp-client", Row::cpu_us_per_call), median("rmcp", Row::cpu_us_per_call))
        else {
            continue;
        };
        println!(
            "ratio ferromcp-client/rmcp ({}, medians): calls/s {:.2}, client CPU per call {:.2}",
            era.name(),
            fc / rc.max(1e-9),
            fu / ru.max(1e-9)
        );
    }
    println!(
        "{}",
        json!({ "client": rows, "config": { "concurrency": o.concurrency, "warmup_s": o.warmup_s, "duration_s": o.duration_s, "repeats": o.repeats.max(1) } })
    );
}
