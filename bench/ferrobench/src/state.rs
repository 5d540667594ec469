//! `state`: what session-scoped state (`ferromcp::state`) costs, in one run:
//!
//! 1. `MemoryStore` in process: get/s, put/s and `state::update`/s of one task over
//!    10,000 distinct keys, and get/s of 4 concurrent tasks. Run in a child process
//!    (this binary, hidden subcommand `state-child ops`) on a multi-thread runtime.
//! 2. End to end over HTTP: stateless modern `tools/call add` (the S1 loop) and legacy
//!    `tools/call increment` (the session's counter, `ctx.state().update`) with the
//!    memory store and with Redis (a `redis-server` of our own on a free port); every
//!    answer must be the session's next integer. Target: increment with the memory
//!    store ≥ [`TARGET_INCREMENT_VS_ADD`] × add's req/s of the same run.
//! 3. Memory per stored key: VmRSS of a fresh child (`state-child mem`) before and after
//!    putting 100,000 session-like keys, beside `MemoryStore::bytes()`.

mod child;
mod http;

use clap::Args;
use serde::Serialize;

pub use self::child::{ChildArgs, child};
use self::child::{MemJson, OpsJson, run_child};
pub(crate) use self::http::Redis;
use self::http::run_increment;
use crate::Opts;
use crate::load::LoadResult;
use crate::procs::CpuUsage;
use crate::report::{self, Config, LoadJson};

/// `increment` with the memory store must reach this fraction of stateless `add` req/s.
pub const TARGET_INCREMENT_VS_ADD: f64 = 0.6;

/// Knobs of the `state` benchmark.
#[derive(Args, Clone, Debug)]
pub struct StateArgs {
    /// state: measured window of each HTTP run (add, increment memory/Redis), seconds.
    #[arg(long, default_value_t = 6.0)]
    pub state_duration_s: f64,
    /// state: distinct keys of the in-process MemoryStore figures.
    #[arg(long, default_value_t = 10_000)]
    pub state_keys: usize,
    /// state: seconds per in-process MemoryStore figure.
    #[arg(long, default_value_t = 1.0)]
    pub state_ops_s: f64,
    /// state: keys stored for the memory-per-key figure.
    #[arg(long, default_value_t = 100_000)]
    pub state_mem_keys: usize,
    /// state: the Redis server binary (its run is skipped if it cannot be started).
    #[arg(long, default_value = "redis-server")]
    pub redis_server: String,
}

/// The `"state"` object of the JSON line.
#[derive(Debug, Clone, Serialize)]
pub struct StateJson {
    /// Warm-up of each HTTP run, seconds.
    pub warmup_s: f64,
    /// Measured window of each HTTP run, seconds.
    pub duration_s: f64,
    /// Workers = keep-alive connections (= sessions for increment).
    pub concurrency: usize,
    /// In-process MemoryStore figures (None if its child failed: see `notes`).
    pub memory_store: Option<OpsJson>,
    /// Stateless modern `tools/call add` (the S1 loop).
    pub add: LoadJson,
    /// Legacy `tools/call increment`, MemoryStore.
    pub increment_memory: LoadJson,
    /// Legacy `tools/call increment`, RedisStore (None if skipped).
    pub increment_redis: Option<LoadJson>,
    /// redis-server's CPU in the window, % of one core.
    pub redis_cpu_pct: Option<f64>,
    /// redis-server's CPU per validated call, µs.
    pub redis_cpu_us_per_call: Option<f64>,
    /// Why the Redis run was skipped.
    pub redis_skipped: Option<String>,
    /// increment (memory) calls/s / add req/s.
    pub ratio: f64,
    /// add CPU µs per request / increment (memory) CPU µs per call.
    pub ratio_cpu_estimate: f64,
    /// ratio ≥ target, increment without errors.
    pub pass: bool,
    /// Neither HTTP run of the ratio had the "machine busy" note.
    pub reliable: bool,
    /// Memory per stored key (None if its child failed: see `notes`).
    pub memory_per_key: Option<MemJson>,
    /// Failures of the in-process children.
    pub notes: Vec<String>,
}

/// Increment and return this session's counter (session-scoped state), exactly as in
/// `examples/bench_server.rs`.
#[ferromcp::tool]
pub async fn increment(ctx: ferromcp::Context) -> ferromcp::Result<i64> {
    ctx.state().update("counter", |n: Option<i64>| n.unwrap_or(0) + 1).await
}

/// The server side: registers `increment` and, with `redis`, the Redis state store.
pub async fn with_state(b: ferromcp::ServerBuilder, redis: Option<&str>) -> std::io::Result<ferromcp::ServerBuilder> {
    let b = b.tool(increment);
    match redis {
        None => Ok(b),
        Some(url) => Ok(b.state_store(ferromcp::redis::RedisStore::connect(url).await.map_err(std::io::Error::other)?)),
    }
}

/// (b): Redis of our own, a ferromcp server on it, the increment loop. Err = skipped.
async fn redis_run(o: &Opts, cpu: Option<usize>) -> Result<(LoadResult, Option<CpuUsage>), String> {
    let redis = Redis::start(&o.state.redis_server, cpu).await?;
    let url = format!("redis://127.0.0.1:{}/", redis.port);
    let server = match crate::start(&["serve-ferromcp", "--mode", "stateful", "--redis", &url], o, cpu).await {
        Ok(s) => s,
        Err(e) => {
            redis.stop().await;
            return Err(format!("ferromcp with --redis {url}: {e}"));
        }
    };
    eprintln!(
        "ferrobench: state, increment on Redis (pid {}, port {}; redis pid {})",
        server.pid, server.port, redis.pid
    );
    let r = run_increment(server.port, server.pid, Some(redis.pid), o).await;
    server.stop().await;
    redis.stop().await;
    Ok(r)
}

/// Runs the three parts; `pins` = (load generator CPU, server CPU) if pinned.
pub async fn bench(o: &Opts, pins: (Option<usize>, Option<usize>)) -> Result<StateJson, String> {
    let (s, server_cpu) = (&o.state, pins.1);
    let mut notes = Vec::new();
    // 1. in process, on both of our CPUs (nothing else of ours runs meanwhile)
    let both = match pins {
        (Some(l), Some(c)) => Some(format!("{l},{c}")),
        _ => None,
    };
    eprintln!("ferrobench: state, MemoryStore in process ({} keys)", s.state_keys);
    let (keys, secs) = (s.state_keys.to_string(), s.state_ops_s.to_string());
    let ops = run_child(&["ops", "--keys", &keys, "--secs", &secs, "--tasks", "4"], both).await;
    let memory_store = ops.map_err(|e| notes.push(format!("MemoryStore ops/s: {e}"))).ok();
    // 2. HTTP: add (the S1 loop), increment on memory, increment on Redis
    let mut os = o.clone();
    os.duration_s = s.state_duration_s;
    let add =
        LoadJson::from_runs(vec![crate::s1_once(&["serve-ferromcp", "--mode", "stateless"], &os, server_cpu).await?]);
    let server = crate::start(&["serve-ferromcp", "--mode", "stateful"], o, server_cpu).await?;
    eprintln!("ferrobench: state, increment on MemoryStore (pid {}, port {})", server.pid, server.port);
    let (mem, _) = run_increment(server.port, server.pid, None, o).await;
    server.stop().await;
    let increment_memory = LoadJson::from_runs(vec![mem]);
    let (mut increment_redis, mut redis_cpu_pct, mut redis_cpu_us_per_call, mut redis_skipped) =
        (None, None, None, None);
    match redis_run(o, server_cpu).await {
        Ok((r, rc)) => {
            redis_cpu_pct = rc.map(|c| c.server_pct);
            redis_cpu_us_per_call = rc.filter(|_| r.ok > 0).map(|c| c.server_cpu_s * 1e6 / r.ok as f64);
            increment_redis = Some(LoadJson::from_runs(vec![r]));
        }
        Err(e) => {
            eprintln!("ferrobench: state, increment on Redis SKIPPED: {e}");
            redis_skipped = Some(e);
        }
    }
    // 3. memory per stored key, in a fresh process
    let mem_keys = s.state_mem_keys.to_string();
    let memory_per_key = run_child(&["mem", "--keys", &mem_keys], server_cpu.map(|c| c.to_string())).await;
    let memory_per_key = memory_per_key.map_err(|e| notes.push(format!("memory per key: {e}"))).ok();

    let (inc, a) = (&increment_memory.run, &add.run);
    let ratio = if a.rps > 0.0 { inc.rps / a.rps } else { f64::NAN };
    let ratio_cpu = if inc.cpu_us_per_req > 0.0 { a.cpu_us_per_req / inc.cpu_us_per_req } else { f64::NAN };
    Ok(StateJson {
        warmup_s: o.warmup_s,
        duration_s: s.state_duration_s,
        concurrency: o.concurrency,
        memory_store,
        pass: ratio >= TARGET_INCREMENT_VS_ADD && inc.errors == 0 && inc.ok > 0,
        reliable: !report::is_busy(&add) && !report::is_busy(&increment_memory),
        ratio,
        ratio_cpu_estimate: ratio_cpu,
        add,
        increment_memory,
        increment_redis,
        redis_cpu_pct,
        redis_cpu_us_per_call,
        redis_skipped,
        memory_per_key,
        notes,
    })
}

fn per_s(x: f64) -> String {
    if x >= 1e6 { format!("{:.2} M/s", x / 1e6) } else { format!("{:.0} k/s", x / 1e3) }
}

/// Prints the human part of the `state` section.
pub fn print(st: &StateJson, c: &Config) {
    let pin = match (c.loadgen_cpu, c.server_cpu) {
        (Some(l), Some(s)) => format!("load generator on CPU {l}, servers and redis-server on CPU {s}"),
        _ => "UNPINNED".to_owned(),
    };
    println!();
    println!("== Session state (ferromcp::state)");
    if let Some(m) = &st.memory_store {
        println!(
            "MemoryStore in process, {} keys, {} s per figure, {} CPU(s): 1 task: get {}, put {}, update {}; \
             {} tasks: get {}",
            m.keys,
            m.seconds_each,
            m.cpus,
            per_s(m.get_per_s),
            per_s(m.put_per_s),
            per_s(m.update_per_s),
            m.tasks,
            per_s(m.get_per_s_tasks)
        );
        if m.other_pct > 25.0 {
            println!("  note: machine busy (other processes {:.0}% of a core): ops/s are unreliable", m.other_pct);
        }
    }
    println!(
        "HTTP: {} keep-alive connections (increment: one legacy 2025-11-25 session each), {} s warm-up + {} s, \
         server runtime {}, {pin}",
        st.concurrency, st.warmup_s, st.duration_s, c.server_runtime
    );
    report::load_header();
    report::load_row("add", &st.add);
    report::load_row("incr mem", &st.increment_memory);
    if let Some(r) = &st.increment_redis {
        report::load_row("incr redis", r);
        if let (Some(p), Some(us)) = (st.redis_cpu_pct, st.redis_cpu_us_per_call) {
            println!("{:<10}   redis-server: {p:.0}% of a core, {us:.1} µs CPU per call", "");
        }
    }
    if let Some(why) = &st.redis_skipped {
        println!("incr redis SKIPPED: {why}");
    }
    let (inc, add) = (&st.increment_memory.run, &st.add.run);
    println!(
        "[{}] increment (MemoryStore) calls/s ≥ {TARGET_INCREMENT_VS_ADD}× stateless add req/s: {:.0} / {:.0} = \
         {:.3}× ({} errors){}",
        if st.pass { "PASS" } else { "FAIL" },
        inc.rps,
        add.rps,
        st.ratio,
        inc.errors,
        if st.reliable { "" } else { " -- UNRELIABLE: machine busy" }
    );
    let cpu_pass = st.ratio_cpu_estimate >= TARGET_INCREMENT_VS_ADD && inc.errors == 0;
    println!(
        "[{}] same target estimated from server CPU per call: add {:.1} µs / increment {:.1} µs = {:.3}×",
        if cpu_pass { "PASS" } else { "FAIL" },
        add.cpu_us_per_req,
        inc.cpu_us_per_req,
        st.ratio_cpu_estimate
    );
    if let Some(m) = &st.memory_per_key {
        println!(
            "Memory per stored key (MemoryStore, {} keys `ferromcp:session:<22 chars>:counter` = small integer, \
             TTL 24 h): VmRSS {:.1} -> {:.1} MiB = +{:.1} MiB, {:.0} bytes/key; MemoryStore::bytes() estimate \
             {:.0} bytes/key ({:.1} MiB)",
            m.keys,
            m.rss_before_kib as f64 / 1024.0,
            m.rss_after_kib as f64 / 1024.0,
            m.total_mib,
            m.bytes_per_key,
            m.store_bytes_per_key,
            m.store_bytes as f64 / 1048576.0
        );
    }
    for n in &st.notes {
        println!("note: {n}");
    }
}
