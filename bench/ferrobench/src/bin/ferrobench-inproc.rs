//! ferrobench-inproc: the cost of one stateless modern `tools/call add` inside the
//! process, with no sockets: each request goes through the axum `Router` as a tower
//! `Service` (`oneshot`), ferromcp's HTTP app beside the raw axum ceiling.
//!
//! ```sh
//! cargo run --release -p ferrobench --bin ferrobench-inproc -- --calls 200000 --repeats 5
//! ```
//!
//! Prints, per server, the time per call (median of the repeats, which alternate between
//! the two servers) and the heap allocations and bytes allocated per call, counted by
//! this binary's global allocator on the calling thread only. The allocation figures are
//! exact and repeatable; the time is not (compare it within one run).
//!
//! Every answer is checked (HTTP 200 and the sum in `structuredContent`), after the
//! measured loop.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::time::Instant;

use axum::Router;
use axum::body::Body;
use axum::http::Request;
use clap::Parser;
use ferromcp::http::HttpConfig;
use ferromcp::prelude::*;
use tower::ServiceExt;

#[path = "../ceiling.rs"]
mod ceiling;

/// Counts allocations of the current thread (a thread-local counter: no atomics).
struct Counting;

thread_local! {
    static COUNTS: Cell<(u64, u64)> = const { Cell::new((0, 0)) };
}

fn count(bytes: usize) {
    // `try_with`: allocations during thread teardown are simply not counted.
    let _ = COUNTS.try_with(|c| {
        let (n, b) = c.get();
        c.set((n + 1, b + bytes as u64));
    });
}

// SAFETY: forwards every call to the system allocator unchanged; it only counts.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count(layout.size());
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count(new_size);
        // SAFETY: same contract as the caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

#[derive(Parser)]
#[command(about = "Per-call cost of a stateless tools/call through the axum Router, in process")]
struct Opts {
    /// Calls per server per repeat.
    #[arg(long, default_value_t = 200_000)]
    calls: u64,
    /// Repeats (alternating servers); the time is the median.
    #[arg(long, default_value_t = 3)]
    repeats: usize,
    /// Calls per server before measuring.
    #[arg(long, default_value_t = 2_000)]
    warmup: u64,
}

/// Add two integers.
#[tool]
async fn add(a: i64, b: i64) -> i64 {
    a + b
}

fn request(n: u64) -> Request<Body> {
    let body = format!(
        r#"{{"jsonrpc":"2.0","id":{n},"method":"tools/call","params":{{"name":"add","arguments":{{"a":{n},"b":2}},"_meta":{{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{{}}}}}}}}"#
    );
    Request::post("/mcp")
        .header("host", "127.0.0.1:3001")
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .header("mcp-protocol-version", "2026-07-28")
        .header("mcp-method", "tools/call")
        .header("mcp-name", "add")
        .header("content-length", body.len())
        .body(Body::from(body))
        .expect("a valid request")
}

/// One measured run: (µs per call, allocations per call, bytes per call). Answers are
/// kept and checked after the clock and the counters stop.
async fn run(app: &Router, calls: u64, first_id: u64) -> Result<(f64, f64, f64), String> {
    // Requests are built before the clock and the counters start.
    let requests: Vec<_> = (first_id..first_id + calls).map(request).collect();
    let mut answers = Vec::with_capacity(requests.len());
    let before = COUNTS.with(Cell::get);
    let start = Instant::now();
    for req in requests {
        let resp = app.clone().oneshot(req).await.map_err(|e| e.to_string())?;
        let ok = resp.status().is_success();
        let body = axum::body::to_bytes(resp.into_body(), 1 << 20).await.map_err(|e| e.to_string())?;
        answers.push((ok, body));
    }
    let elapsed = start.elapsed();
    let after = COUNTS.with(Cell::get);
    for (i, (ok, body)) in answers.iter().enumerate() {
        let v: serde_json::Value = serde_json::from_slice(body).map_err(|e| e.to_string())?;
        let want = first_id + i as u64 + 2;
        if !ok || v["result"]["structuredContent"]["result"].as_u64() != Some(want) {
            return Err(format!("unexpected answer: {}", String::from_utf8_lossy(body)));
        }
    }
    let per = |x: u64| x as f64 / calls as f64;
    Ok((elapsed.as_secs_f64() * 1e6 / calls as f64, per(after.0 - before.0), per(after.1 - before.1)))
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() -> Result<(), String> {
    let o = Opts::parse();
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(|e| e.to_string())?;
    rt.block_on(async {
        let server = Server::builder("ferrobench", "0.1.0").tool(add).build();
        let apps = [
            ("ferromcp", ferromcp::http::router(server, HttpConfig::default().stateless())),
            ("ceiling", ceiling::router()),
        ];
        let mut results: Vec<Vec<(f64, f64, f64)>> = vec![Vec::new(); apps.len()];
        for (name, app) in &apps {
            run(app, o.warmup, 1).await.map_err(|e| format!("{name}: {e}"))?;
        }
        for repeat in 0..o.repeats.max(1) {
            for (i, (name, app)) in apps.iter().enumerate() {
                let r = run(app, o.calls, 1_000_000 * (repeat as u64 + 1)).await.map_err(|e| format!("{name}: {e}"))?;
                results[i].push(r);
            }
        }
        println!(
            "== in-process stateless tools/call add through the axum Router, {} calls x {} repeats",
            o.calls,
            o.repeats.max(1)
        );
        println!("{:<10} {:>10} {:>12} {:>12}", "server", "µs/call", "allocs/call", "bytes/call");
        let mut times = Vec::new();
        for ((name, _), runs) in apps.iter().zip(&results) {
            let t = median(&mut runs.iter().map(|r| r.0).collect::<Vec<_>>());
            let last = runs.last().copied().unwrap_or_default();
            println!("{name:<10} {t:>10.2} {:>12.1} {:>12.0}", last.1, last.2);
            times.push(t);
        }
        println!("time per call ferromcp/ceiling: {:.2}x", times[0] / times[1]);
        Ok(())
    })
}
