//! The printed report: a human-readable table with PASS/FAIL lines against the targets,
//! then one machine-readable JSON line `{"s1":…,"ceiling":…,"sessions":…,"state":…,"config":…}`.

use serde::Serialize;

use crate::load::LoadResult;
use crate::sessions::SessionResult;

/// ferromcp must reach at least this fraction of the ceiling's req/s.
pub const TARGET_RPS_RATIO: f64 = 0.7;
/// p99 must stay within this multiple of p50.
pub const TARGET_P99_OVER_P50: f64 = 3.0;
/// Bytes of server RSS per idle legacy session, at most.
pub const TARGET_BYTES_PER_SESSION: f64 = 2048.0;

/// What was run and how.
#[derive(Debug, Clone, Serialize)]
pub struct Config {
    /// Workers = keep-alive connections (S1 and sessions).
    pub concurrency: usize,
    /// S1 warm-up, seconds.
    pub warmup_s: f64,
    /// S1 measured window, seconds.
    pub duration_s: f64,
    /// S1 repetitions per server (the median by req/s is reported).
    pub repeats: usize,
    /// Server runtime (`current` or `multi1`).
    pub server_runtime: String,
    /// CPU of the load generator (None = unpinned).
    pub loadgen_cpu: Option<usize>,
    /// CPU of the servers (None = unpinned).
    pub server_cpu: Option<usize>,
    /// Nice value of the load generator and servers.
    pub nice: i32,
}

/// One server's S1 figures, plus the req/s of every repetition.
#[derive(Debug, Clone, Serialize)]
pub struct LoadJson {
    /// The median repetition.
    #[serde(flatten)]
    pub run: LoadResult,
    /// req/s of every repetition, in run order.
    pub rps_runs: Vec<f64>,
    /// Server CPU µs per request of every repetition, in run order.
    pub cpu_us_runs: Vec<f64>,
    /// p99 / p50.
    pub p99_over_p50: f64,
    /// Warnings about the run's validity (busy machine, load-generator bound).
    pub notes: Vec<String>,
}

impl LoadJson {
    /// From all repetitions (non-empty): keeps the median by req/s; notes from any.
    pub fn from_runs(mut runs: Vec<LoadResult>) -> LoadJson {
        let rps_runs = runs.iter().map(|r| round(r.rps, 1)).collect();
        let cpu_us_runs = runs.iter().map(|r| round(r.cpu_us_per_req, 2)).collect();
        let mut all_notes = Vec::new();
        for (i, r) in runs.iter().enumerate() {
            for n in notes(r) {
                all_notes.push(if runs.len() > 1 { format!("{n} (repeat {})", i + 1) } else { n });
            }
        }
        runs.sort_by(|a, b| a.rps.total_cmp(&b.rps));
        let run = runs.swap_remove(runs.len() / 2);
        let p99_over_p50 = ratio(f64::from(run.latency.p99_us), f64::from(run.latency.p50_us));
        LoadJson { run, rps_runs, cpu_us_runs, p99_over_p50, notes: all_notes }
    }
}

/// ferromcp's S1 figures against the ceiling and the targets.
#[derive(Debug, Clone, Serialize)]
pub struct S1Json {
    /// ferromcp's figures.
    #[serde(flatten)]
    pub load: LoadJson,
    /// req/s ferromcp / ceiling: the median over repeats of the ratio of each repeat's
    /// two runs (adjacent in time, so slow drifts of the machine cancel out).
    pub rps_ratio: Option<f64>,
    /// CPU per request ferromcp / ceiling.
    pub cpu_per_req_ratio: Option<f64>,
    /// 1 / cpu_per_req_ratio: the req/s ratio if both servers were CPU-bound on
    /// their core. Robust to a busy machine, unlike the measured ratio.
    pub rps_ratio_cpu_estimate: Option<f64>,
    /// rps_ratio ≥ target (and no errors).
    pub pass_rps: Option<bool>,
    /// No "machine busy" note on either run: req/s and latencies can be trusted.
    pub reliable: bool,
    /// p99 ≤ 3 × p50.
    pub pass_p99: bool,
}

/// The session-memory figures against the target.
#[derive(Debug, Clone, Serialize)]
pub struct SessionsJson {
    /// The figures.
    #[serde(flatten)]
    pub run: SessionResult,
    /// bytes/session ≤ target and every sampled session alive.
    pub pass: bool,
}

/// Everything one run printed.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// S1 against ferromcp.
    pub s1: Option<S1Json>,
    /// S1 against the raw axum ceiling.
    pub ceiling: Option<LoadJson>,
    /// Memory per idle session.
    pub sessions: Option<SessionsJson>,
    /// Session state: MemoryStore ops/s, increment calls/s (memory, Redis), memory per key.
    pub state: Option<crate::state::StateJson>,
    /// Settings.
    pub config: Config,
}

/// Other processes above this (% of one core) make req/s and latencies unreliable.
const BUSY_OTHER_PCT: f64 = 25.0;
/// How the "machine busy" note starts.
const BUSY_NOTE: &str = "machine busy";

/// Whether `l` carries the "machine busy" note (its req/s and latencies are unreliable).
pub fn is_busy(l: &LoadJson) -> bool {
    l.notes.iter().any(|n| n.starts_with(BUSY_NOTE))
}

fn notes(r: &LoadResult) -> Vec<String> {
    let c = &r.cpu;
    let mut n = Vec::new();
    if c.other_pct > BUSY_OTHER_PCT {
        n.push(format!(
            "{BUSY_NOTE}: other processes used {:.0}% of a core; req/s and latencies are \
             unreliable, compare CPU per request",
            c.other_pct
        ));
    } else if c.server_pct < 90.0 && c.loadgen_pct > 90.0 {
        n.push(format!("load-generator bound: the server used {:.0}% of its core; req/s understates it", c.server_pct));
    }
    if c.steal_pct > 10.0 {
        n.push(format!("hypervisor steal {:.0}% of a core", c.steal_pct));
    }
    n
}

/// Median over `i` of `a[i] / b[i]`.
fn paired(a: &[f64], b: &[f64]) -> f64 {
    let mut r: Vec<f64> = a.iter().zip(b).map(|(x, y)| ratio(*x, *y)).collect();
    if r.is_empty() {
        return f64::NAN;
    }
    r.sort_by(f64::total_cmp);
    let m = r.len() / 2;
    if r.len().is_multiple_of(2) { (r[m - 1] + r[m]) / 2.0 } else { r[m] }
}

fn ratio(a: f64, b: f64) -> f64 {
    if b > 0.0 { a / b } else { f64::NAN }
}

fn round(x: f64, digits: i32) -> f64 {
    let m = 10f64.powi(digits);
    (x * m).round() / m
}

fn verdict(ok: bool) -> &'static str {
    if ok { "PASS" } else { "FAIL" }
}

/// Builds the S1 part from ferromcp's and (optionally) the ceiling's runs.
pub fn s1(ferro: LoadJson, ceiling: Option<&LoadJson>) -> S1Json {
    let rps_ratio = ceiling.map(|c| round(paired(&ferro.rps_runs, &c.rps_runs), 3));
    let cpu_ratio = ceiling.map(|c| round(paired(&ferro.cpu_us_runs, &c.cpu_us_runs), 3));
    let pass_p99 = ferro.run.ok > 0 && ferro.p99_over_p50 <= TARGET_P99_OVER_P50;
    S1Json {
        pass_rps: rps_ratio.map(|r| r >= TARGET_RPS_RATIO && ferro.run.errors == 0),
        rps_ratio_cpu_estimate: cpu_ratio.map(|r| round(1.0 / r, 3)),
        reliable: !is_busy(&ferro) && !ceiling.is_some_and(is_busy),
        rps_ratio,
        cpu_per_req_ratio: cpu_ratio,
        pass_p99,
        load: ferro,
    }
}

/// Builds the sessions part.
pub fn sessions(run: SessionResult) -> SessionsJson {
    let pass = run.opened > 0
        && run.bytes_per_session <= TARGET_BYTES_PER_SESSION
        && run.alive == run.sampled
        && run.sampled > 0;
    SessionsJson { run, pass }
}

/// The header of the [`load_row`] table.
pub fn load_header() {
    println!(
        "{:<10} {:>9} {:>7} {:>7} {:>7} {:>7} {:>6} {:>8} {:>7} {:>7} {:>7} {:>7}",
        "server",
        "req/s",
        "p50 µs",
        "p90 µs",
        "p99 µs",
        "max µs",
        "errors",
        "CPU µs/r",
        "srv CPU",
        "gen CPU",
        "other",
        "RSS MiB"
    );
}

/// One row of figures (name ≤ 10 characters), its errors and notes.
pub fn load_row(name: &str, l: &LoadJson) {
    let r = &l.run;
    println!(
        "{name:<10} {:>9.0} {:>7} {:>7} {:>7} {:>7} {:>6} {:>8.1} {:>6.0}% {:>6.0}% {:>6.0}% {:>7.1}",
        r.rps,
        r.latency.p50_us,
        r.latency.p90_us,
        r.latency.p99_us,
        r.latency.max_us,
        r.errors,
        r.cpu_us_per_req,
        r.cpu.server_pct,
        r.cpu.loadgen_pct,
        r.cpu.other_pct,
        r.rss_kib as f64 / 1024.0,
    );
    for (e, n) in &r.error_samples {
        println!("{:<10}   error ×{n}: {e}", "");
    }
    for note in &l.notes {
        println!("{:<10}   note: {note}", "");
    }
}

/// Prints the table, the verdicts and the JSON line.
pub fn print(rep: &Report) {
    let c = &rep.config;
    let mut pin = match (c.loadgen_cpu, c.server_cpu) {
        (Some(l), Some(s)) => format!("load generator on CPU {l}, server on CPU {s}"),
        _ => "UNPINNED".to_owned(),
    };
    if c.nice != 0 {
        pin.push_str(&format!(", nice {}", c.nice));
    }
    if rep.s1.is_some() || rep.ceiling.is_some() {
        println!();
        println!(
            "== S1 stateless add: 2026-07-28 tools/call, {} keep-alive connections, {} s warm-up + {} s, \
             {} repeat(s), server runtime {}, {pin}",
            c.concurrency, c.warmup_s, c.duration_s, c.repeats, c.server_runtime
        );
        load_header();
    }
    if let Some(s) = &rep.s1 {
        load_row("ferromcp", &s.load);
    }
    if let Some(cl) = &rep.ceiling {
        load_row("ceiling", cl);
    }
    if let Some(s) = &rep.s1 {
        if let (Some(r), Some(cr)) = (s.rps_ratio, s.cpu_per_req_ratio) {
            let how = if s.load.rps_runs.len() > 1 { " (median of per-repeat ratios)" } else { "" };
            println!("ratio ferromcp/ceiling{how}: req/s {r:.3}×, server CPU per request {cr:.3}×");
        }
        if s.load.rps_runs.len() > 1 {
            let ceil = rep.ceiling.as_ref().map(|c| c.rps_runs.clone()).unwrap_or_default();
            println!("req/s per repeat: ferromcp {:?}, ceiling {ceil:?}", s.load.rps_runs);
        }
        if let (Some(pass), Some(r)) = (s.pass_rps, s.rps_ratio) {
            let caveat = if s.reliable { "" } else { " -- UNRELIABLE: machine busy" };
            println!(
                "[{}] req/s ≥ {TARGET_RPS_RATIO}× ceiling: {r:.3}× ({} errors){caveat}",
                verdict(pass),
                s.load.run.errors
            );
        }
        if let Some(e) = s.rps_ratio_cpu_estimate {
            println!(
                "[{}] same target estimated from CPU per request (both servers CPU-bound): {e:.3}×",
                verdict(e >= TARGET_RPS_RATIO && s.load.run.errors == 0)
            );
        }
        println!(
            "[{}] p99 ≤ {TARGET_P99_OVER_P50}× p50: p99 {} µs / p50 {} µs = {:.2}{}",
            verdict(s.pass_p99),
            s.load.run.latency.p99_us,
            s.load.run.latency.p50_us,
            s.load.p99_over_p50,
            if s.reliable { "" } else { " -- UNRELIABLE: machine busy" }
        );
    }
    if let Some(s) = &rep.sessions {
        let r = &s.run;
        println!();
        println!("== Memory per idle legacy session (2025-11-25 initialize + initialized, stateful server)");
        println!(
            "opened {} (+{} warm-up), errors {}, {:.0} sessions/s; sampled alive {}/{}",
            r.opened, r.warm_opened, r.errors, r.sessions_per_s, r.alive, r.sampled
        );
        println!(
            "VmRSS base {:.1} MiB -> final {:.1} MiB: {:.0} bytes/session",
            r.rss_base_kib as f64 / 1024.0,
            r.rss_final_kib as f64 / 1024.0,
            r.bytes_per_session
        );
        for (e, n) in &r.error_samples {
            println!("  error ×{n}: {e}");
        }
        println!(
            "[{}] ≤ {TARGET_BYTES_PER_SESSION} bytes per idle session (and all sampled sessions alive): {:.0} B",
            verdict(s.pass),
            r.bytes_per_session
        );
    }
    if let Some(st) = &rep.state {
        crate::state::print(st, c);
    }
    println!();
    match serde_json::to_string(rep) {
        Ok(j) => println!("{j}"),
        Err(e) => eprintln!("ferrobench: could not encode the JSON line: {e}"),
    }
}
