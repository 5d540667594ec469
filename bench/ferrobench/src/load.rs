//! S1: a closed loop of modern (2026-07-28) `tools/call add` requests, one keep-alive
//! connection per worker, a warm-up and then a measured window.
//!
//! Only requests *started* inside the window count: req/s = validated answers / window,
//! p50/p99 over their latencies (µs, sorted `Vec<u32>`), errors = HTTP errors,
//! timeouts, transport errors and wrong sums. The server's CPU time (utime + stime of
//! its process) is read at both ends of the window; CPU/request = that time / answers.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::client::{Link, check_add, modern_add_body, modern_add_headers};
use crate::procs::{CpuUsage, CpuWindow, rss_kib};

/// Settings of one S1 run.
#[derive(Debug, Clone, Copy)]
pub struct LoadOpts {
    /// Workers = keep-alive connections.
    pub concurrency: usize,
    /// Warm-up (not measured).
    pub warmup: Duration,
    /// Measured window.
    pub duration: Duration,
    /// Per-request timeout.
    pub timeout: Duration,
}

/// Latency percentiles in µs.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct Latency {
    /// Median.
    pub p50_us: u32,
    /// 90th percentile.
    pub p90_us: u32,
    /// 99th percentile.
    pub p99_us: u32,
    /// Slowest.
    pub max_us: u32,
    /// Mean.
    pub mean_us: f64,
}

impl Latency {
    /// Percentiles of `v` (sorted in place); nearest-rank.
    pub fn of(v: &mut [u32]) -> Latency {
        if v.is_empty() {
            return Latency::default();
        }
        v.sort_unstable();
        let at = |p: f64| {
            let rank = (p / 100.0 * v.len() as f64).ceil() as usize;
            v[rank.clamp(1, v.len()) - 1]
        };
        let mean = v.iter().map(|&x| f64::from(x)).sum::<f64>() / v.len() as f64;
        Latency { p50_us: at(50.0), p90_us: at(90.0), p99_us: at(99.0), max_us: at(100.0), mean_us: mean }
    }
}

/// Result of one S1 run against one server.
#[derive(Debug, Clone, Default, Serialize)]
pub struct LoadResult {
    /// Validated answers in the window.
    pub ok: u64,
    /// Failed requests in the window.
    pub errors: u64,
    /// Validated answers per second.
    pub rps: f64,
    /// Latencies of the validated answers.
    pub latency: Latency,
    /// CPU use in the window.
    pub cpu: CpuUsage,
    /// Server CPU time per validated answer, µs.
    pub cpu_us_per_req: f64,
    /// Server VmRSS at the end, KiB.
    pub rss_kib: u64,
    /// Server VmHWM (peak RSS) at the end, KiB.
    pub hwm_kib: u64,
    /// Up to five distinct error messages with their counts.
    pub error_samples: BTreeMap<String, u64>,
}

struct WorkerOut {
    lat: Vec<u32>,
    errors: u64,
    samples: BTreeMap<String, u64>,
}

/// Counts error `e` (digits folded so similar messages group) in at most 5 buckets.
pub fn note(samples: &mut BTreeMap<String, u64>, e: &str, n: u64) {
    let key: String = e.chars().take(160).map(|c| if c.is_ascii_digit() { '#' } else { c }).collect();
    if samples.len() < 5 || samples.contains_key(&key) {
        *samples.entry(key).or_default() += n;
    }
}

async fn worker(port: u16, w: usize, opts: LoadOpts, measure_from: Instant, end: Instant) -> WorkerOut {
    let mut link = Link::new(port, opts.timeout);
    let headers = modern_add_headers();
    let mut out = WorkerOut { lat: Vec::with_capacity(1 << 16), errors: 0, samples: BTreeMap::new() };
    let mut i = (w as i64) * 100_000_000;
    loop {
        let t0 = Instant::now();
        if t0 >= end {
            break;
        }
        i += 1;
        let (a, b) = (i, w as i64 + 7);
        let r = link.post(modern_add_body(i, a, b), &headers).await;
        let r = r.and_then(|ans| check_add(&ans, a + b));
        let measured = t0 >= measure_from;
        match r {
            Ok(()) if measured => out.lat.push(t0.elapsed().as_micros().min(u128::from(u32::MAX)) as u32),
            Ok(()) => {}
            Err(e) if measured => {
                out.errors += 1;
                note(&mut out.samples, &e, 1);
            }
            // warm-up error (e.g. a refused dial): back off a little, bounded by `end`
            Err(_) => tokio::time::sleep(Duration::from_millis(5)).await,
        }
    }
    out
}

/// Runs S1 against the server on `port` (process `pid`).
pub async fn run(port: u16, pid: u32, opts: LoadOpts) -> LoadResult {
    let start = Instant::now();
    let measure_from = start + opts.warmup;
    let end = measure_from + opts.duration;
    let tasks: Vec<_> = (0..opts.concurrency).map(|w| tokio::spawn(worker(port, w, opts, measure_from, end))).collect();
    tokio::time::sleep_until(measure_from.into()).await;
    let cpu = CpuWindow::start(pid);
    tokio::time::sleep_until(end.into()).await;
    let cpu = cpu.stop();
    let (rss, hwm) = rss_kib(pid).unwrap_or((0, 0));
    let mut lat = Vec::new();
    let mut res = LoadResult { cpu, rss_kib: rss, hwm_kib: hwm, ..LoadResult::default() };
    for t in tasks {
        match t.await {
            Ok(o) => {
                lat.extend(o.lat);
                res.errors += o.errors;
                for (k, n) in o.samples {
                    note(&mut res.error_samples, &k, n);
                }
            }
            Err(e) => {
                res.errors += 1;
                note(&mut res.error_samples, &format!("worker panicked: {e}"), 1);
            }
        }
    }
    res.ok = lat.len() as u64;
    res.rps = res.ok as f64 / opts.duration.as_secs_f64();
    res.latency = Latency::of(&mut lat);
    res.cpu_us_per_req = if res.ok > 0 { cpu.server_cpu_s * 1e6 / res.ok as f64 } else { 0.0 };
    res
}
