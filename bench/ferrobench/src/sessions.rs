//! Memory per idle legacy session: open sessions (2025-11-25 `initialize`, then
//! `notifications/initialized` with the returned `mcp-session-id`), leave them idle and
//! read the server's VmRSS before and after.
//!
//! 100 warm-up sessions first (allocator and tables warmed), settle, VmRSS = base; then
//! N more with 32 workers (one keep-alive connection each), settle, VmRSS = final;
//! bytes/session = (final − base) / N opened. Finally 50 sessions spread over the range
//! must still answer `tools/call add` inside their session.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::client::{INITIALIZED_BODY, Link, check_add, legacy_add_body, legacy_initialize_body, session_headers};
use crate::load::note;
use crate::procs::rss_kib;

/// The run stops opening sessions after this many errors.
const MAX_ERRORS: u64 = 100;

/// Settings of the session-memory run.
#[derive(Debug, Clone, Copy)]
pub struct SessionOpts {
    /// Sessions measured.
    pub sessions: usize,
    /// Warm-up sessions opened before the base reading.
    pub warm: usize,
    /// Workers = keep-alive connections.
    pub concurrency: usize,
    /// Pause before each RSS reading.
    pub settle: Duration,
    /// Sessions checked for liveness at the end.
    pub sample: usize,
    /// Per-request timeout.
    pub timeout: Duration,
}

/// Result of the session-memory run.
#[derive(Debug, Clone, Default, Serialize)]
pub struct SessionResult {
    /// Measured sessions opened (warm-up excluded).
    pub opened: usize,
    /// Warm-up sessions opened.
    pub warm_opened: usize,
    /// Failed handshakes.
    pub errors: u64,
    /// Sessions opened per second (measured phase).
    pub sessions_per_s: f64,
    /// Server VmRSS after the warm-up, KiB.
    pub rss_base_kib: u64,
    /// Server VmRSS after the measured sessions, KiB.
    pub rss_final_kib: u64,
    /// (final − base) / opened.
    pub bytes_per_session: f64,
    /// Sampled sessions that answered `add` correctly.
    pub alive: usize,
    /// Sessions sampled.
    pub sampled: usize,
    /// Up to five distinct error messages with their counts.
    pub error_samples: BTreeMap<String, u64>,
}

/// One handshake on `link`; returns the session id.
pub async fn open(link: &mut Link, id: i64) -> Result<String, String> {
    let a = link.post(legacy_initialize_body(id), &[]).await?;
    if a.status != 200 {
        let text: String = String::from_utf8_lossy(&a.body).chars().take(160).collect();
        return Err(format!("initialize: HTTP {}: {text}", a.status));
    }
    let sid = a.session.ok_or("initialize: no mcp-session-id header")?;
    let body: serde_json::Value = serde_json::from_slice(&a.body).map_err(|e| format!("initialize: bad JSON: {e}"))?;
    if body.get("result").is_none() {
        return Err(format!("initialize: no result: {body}"));
    }
    let a = link.post(INITIALIZED_BODY.to_owned(), &session_headers(&sid)?).await?;
    if !(200..300).contains(&a.status) {
        return Err(format!("initialized: HTTP {}", a.status));
    }
    Ok(sid)
}

struct Opened {
    sids: Vec<String>,
    errors: u64,
    samples: BTreeMap<String, u64>,
    elapsed: Duration,
}

async fn open_many(port: u16, n: usize, opts: SessionOpts) -> Opened {
    let next = Arc::new(AtomicUsize::new(0));
    let errors = Arc::new(AtomicU64::new(0));
    let abort = Arc::new(AtomicBool::new(false));
    let start = Instant::now();
    let tasks: Vec<_> = (0..opts.concurrency.min(n.max(1)))
        .map(|_| {
            let (next, errors, abort) = (next.clone(), errors.clone(), abort.clone());
            tokio::spawn(async move {
                let mut link = Link::new(port, opts.timeout);
                let (mut sids, mut samples) = (Vec::new(), BTreeMap::new());
                while !abort.load(Ordering::Relaxed) {
                    let k = next.fetch_add(1, Ordering::Relaxed);
                    if k >= n {
                        break;
                    }
                    match open(&mut link, k as i64 + 1).await {
                        Ok(s) => sids.push(s),
                        Err(e) => {
                            note(&mut samples, &e, 1);
                            if errors.fetch_add(1, Ordering::Relaxed) + 1 >= MAX_ERRORS {
                                abort.store(true, Ordering::Relaxed);
                            }
                        }
                    }
                }
                (sids, samples)
            })
        })
        .collect();
    let mut out = Opened { sids: Vec::with_capacity(n), errors: 0, samples: BTreeMap::new(), elapsed: Duration::ZERO };
    for t in tasks {
        match t.await {
            Ok((sids, samples)) => {
                out.sids.extend(sids);
                for (k, c) in samples {
                    note(&mut out.samples, &k, c);
                }
            }
            Err(e) => note(&mut out.samples, &format!("worker panicked: {e}"), 1),
        }
    }
    out.errors = errors.load(Ordering::Relaxed);
    out.elapsed = start.elapsed();
    out
}

/// Runs the session-memory scenario against the stateful server on `port` (`pid`).
pub async fn run(port: u16, pid: u32, opts: SessionOpts) -> SessionResult {
    let warm = open_many(port, opts.warm, opts).await;
    tokio::time::sleep(opts.settle).await;
    let base = rss_kib(pid).map_or(0, |r| r.0);
    let main = open_many(port, opts.sessions, opts).await;
    tokio::time::sleep(opts.settle).await;
    let fin = rss_kib(pid).map_or(0, |r| r.0);

    let mut res = SessionResult {
        opened: main.sids.len(),
        warm_opened: warm.sids.len(),
        errors: warm.errors + main.errors,
        sessions_per_s: main.sids.len() as f64 / main.elapsed.as_secs_f64().max(1e-9),
        rss_base_kib: base,
        rss_final_kib: fin,
        ..SessionResult::default()
    };
    for (k, c) in warm.samples.into_iter().chain(main.samples) {
        note(&mut res.error_samples, &k, c);
    }
    if !main.sids.is_empty() {
        res.bytes_per_session = (fin as f64 - base as f64) * 1024.0 / main.sids.len() as f64;
    }
    // Liveness: `add` inside sessions spread over the whole range.
    let step = (main.sids.len() / opts.sample.max(1)).max(1);
    let mut link = Link::new(port, opts.timeout);
    for (i, sid) in main.sids.iter().step_by(step).take(opts.sample).enumerate() {
        res.sampled += 1;
        let (a, b) = (i as i64, 1000);
        let r = match session_headers(sid) {
            Ok(h) => link.post(legacy_add_body(i as i64 + 1, a, b), &h).await,
            Err(e) => Err(e),
        };
        match r.and_then(|ans| check_add(&ans, a + b)) {
            Ok(()) => res.alive += 1,
            Err(e) => note(&mut res.error_samples, &format!("liveness: {e}"), 1),
        }
    }
    res
}
