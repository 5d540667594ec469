//! A full session registry: `initialize` throughput, and another client's `tools/call`
//! latency during an `initialize` flood, with the registry uncapped in practice vs full
//! at its cap (where every new session sheds the least recently used idle one).
//!
//! For each configuration a fresh stateful server (`serve-ferromcp`, per-client cap off
//! so one address can fill it) is filled with `--registry-sessions` sessions (legacy
//! `initialize` only). Then a bystander opens its own session and, for `--duration-s`,
//! calls `tools/call add` in it one call at a time while `--concurrency` workers send
//! `initialize` in a closed loop. Verdict: PASS when the capped server's inits/s are at
//! least half the uncapped server's and the bystander's p50 is at most twice as high.
//!
//! ```sh
//! cargo run --release -p ferrobench -- registry --registry-sessions 100000
//! ```

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use crate::client::{Link, check_add, legacy_add_body, legacy_initialize_body, session_headers};
use crate::load::Latency;
use crate::procs::rss_kib;
use crate::sessions::open;

/// The registry is "uncapped in practice" at this many sessions.
const UNCAPPED: usize = 10_000_000;

/// Both ratios must stay within this factor.
pub const TARGET_FACTOR: f64 = 2.0;

/// Settings of one registry run.
#[derive(Debug, Clone, Copy)]
pub struct RegistryOpts {
    /// Sessions filled before the flood (and the cap of the capped server).
    pub sessions: usize,
    /// Flood workers (keep-alive connections); they also fill.
    pub concurrency: usize,
    /// Flood duration.
    pub duration: Duration,
    /// Per-request timeout.
    pub timeout: Duration,
}

/// What one configuration measured.
#[derive(Debug, Clone, Default)]
pub struct Side {
    /// The server's `--max-sessions`.
    pub max_sessions: usize,
    /// Sessions filled, and seconds it took.
    pub filled: usize,
    /// Seconds the fill took.
    pub fill_s: f64,
    /// `initialize` answered 200 per second during the flood.
    pub inits_per_s: f64,
    /// Failed `initialize` calls during the flood.
    pub init_errors: u64,
    /// Bystander `tools/call` latency during the flood.
    pub call: Latency,
    /// Bystander calls made, and how many failed.
    pub calls: usize,
    /// Failed bystander calls.
    pub call_errors: usize,
    /// Server VmRSS after the flood, KiB.
    pub rss_kib: u64,
}

/// Sends `initialize` on `workers` links until `n` succeeded (`n = None`: until `stop`).
/// Returns (successes, failures).
async fn initialize_loop(
    port: u16,
    workers: usize,
    n: Option<usize>,
    stop: Arc<AtomicBool>,
    t: Duration,
) -> (u64, u64) {
    let (ok, bad, next) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)), Arc::new(AtomicUsize::new(0)));
    let tasks: Vec<_> = (0..workers.max(1))
        .map(|_| {
            let (ok, bad, next, stop) = (ok.clone(), bad.clone(), next.clone(), stop.clone());
            tokio::spawn(async move {
                let mut link = Link::new(port, t);
                while !stop.load(Ordering::Relaxed) {
                    let k = next.fetch_add(1, Ordering::Relaxed);
                    if n.is_some_and(|n| k >= n) || bad.load(Ordering::Relaxed) > 1_000 {
                        break;
                    }
                    match link.post(legacy_initialize_body(k as i64 + 1), &[]).await {
                        Ok(a) if a.status == 200 && a.session.is_some() => ok.fetch_add(1, Ordering::Relaxed),
                        _ => bad.fetch_add(1, Ordering::Relaxed),
                    };
                }
            })
        })
        .collect();
    for t in tasks {
        let _ = t.await;
    }
    (ok.load(Ordering::Relaxed), bad.load(Ordering::Relaxed))
}

/// Fills the server on `port`, then floods it while a bystander calls `add`.
pub async fn run(port: u16, pid: u32, max_sessions: usize, o: RegistryOpts) -> Result<Side, String> {
    let mut side = Side { max_sessions, ..Side::default() };
    let t0 = Instant::now();
    let (filled, fill_errors) =
        initialize_loop(port, o.concurrency, Some(o.sessions), Arc::new(AtomicBool::new(false)), o.timeout).await;
    side.filled = filled as usize;
    side.fill_s = t0.elapsed().as_secs_f64();
    if fill_errors > 0 {
        return Err(format!("filling the registry: {fill_errors} initialize calls failed"));
    }
    let mut link = Link::new(port, o.timeout);
    let sid = open(&mut link, 1).await?;
    let headers = session_headers(&sid)?;

    let stop = Arc::new(AtomicBool::new(false));
    let flood = tokio::spawn(initialize_loop(port, o.concurrency, None, stop.clone(), o.timeout));
    // Let the flood reach its steady state before measuring.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let start = Instant::now();
    let mut lat: Vec<u32> = Vec::new();
    while start.elapsed() < o.duration {
        let i = lat.len() as i64 + side.call_errors as i64;
        let t = Instant::now();
        let r = link.post(legacy_add_body(i + 2, i, 1), &headers).await.and_then(|a| check_add(&a, i + 1));
        match r {
            Ok(()) => lat.push(t.elapsed().as_micros().min(u128::from(u32::MAX)) as u32),
            Err(e) => {
                side.call_errors += 1;
                if side.call_errors == 1 {
                    eprintln!("ferrobench: bystander call failed: {e}");
                }
            }
        }
    }
    stop.store(true, Ordering::Relaxed);
    let elapsed = start.elapsed().as_secs_f64() + 0.3;
    let (inits, init_errors) = flood.await.map_err(|e| format!("flood task: {e}"))?;
    side.inits_per_s = inits as f64 / elapsed.max(1e-9);
    side.init_errors = init_errors;
    side.calls = lat.len() + side.call_errors;
    side.call = Latency::of(&mut lat);
    side.rss_kib = rss_kib(pid).map_or(0, |r| r.0);
    Ok(side)
}

/// `--max-sessions` of the two configurations: uncapped in practice, then at the fill.
pub fn caps(o: &RegistryOpts) -> [usize; 2] {
    [UNCAPPED, o.sessions]
}

/// Prints both configurations, the two ratios and the verdict; returns whether it passed.
pub fn print(sides: &[Side; 2], o: &RegistryOpts) -> bool {
    println!(
        "registry: {} sessions filled, {} flood workers, {:.1} s flood",
        o.sessions,
        o.concurrency,
        o.duration.as_secs_f64()
    );
    println!(
        "{:<22} {:>11} {:>8} {:>10} {:>9} {:>9} {:>9} {:>7} {:>9}",
        "configuration", "max", "fill s", "inits/s", "p50 µs", "p99 µs", "calls", "errors", "RSS MiB"
    );
    for (name, s) in ["uncapped (no shedding)", "full at its cap"].iter().zip(sides) {
        println!(
            "{:<22} {:>11} {:>8.1} {:>10.0} {:>9} {:>9} {:>9} {:>7} {:>9.1}",
            name,
            s.max_sessions,
            s.fill_s,
            s.inits_per_s,
            s.call.p50_us,
            s.call.p99_us,
            s.calls,
            s.init_errors + s.call_errors as u64,
            s.rss_kib as f64 / 1024.0
        );
    }
    let [u, c] = sides;
    let inits_ratio = u.inits_per_s / c.inits_per_s.max(1e-9);
    let p50_ratio = f64::from(c.call.p50_us) / f64::from(u.call.p50_us.max(1));
    let p99_ratio = f64::from(c.call.p99_us) / f64::from(u.call.p99_us.max(1));
    let errors = sides.iter().any(|s| s.init_errors > 0 || s.call_errors > 0);
    let pass = inits_ratio <= TARGET_FACTOR && p50_ratio <= TARGET_FACTOR && !errors;
    println!("initialize throughput: uncapped / full = {inits_ratio:.2} (target <= {TARGET_FACTOR})");
    println!(
        "bystander latency: full / uncapped p50 = {p50_ratio:.2} (target <= {TARGET_FACTOR}), p99 = {p99_ratio:.2}"
    );
    println!("registry verdict: {}", if pass { "PASS" } else { "FAIL" });
    pass
}
