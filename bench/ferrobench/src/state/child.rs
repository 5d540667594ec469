//! The `state-child` processes: MemoryStore ops/s (`ops`, a multi-thread runtime) and
//! VmRSS per stored key (`mem`, a fresh process on a current-thread runtime). Each prints
//! one JSON line that the parent ([`run_child`]) parses.

use std::fmt::Write as _;
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::{Args, ValueEnum};
use ferromcp::state::{MemoryStore, StateStore};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::procs::{CpuWindow, rss_kib};

/// What a `state-child` process measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ChildKind {
    /// MemoryStore ops/s.
    Ops,
    /// VmRSS per stored key.
    Mem,
}

/// Arguments of the hidden `state-child` subcommand.
#[derive(Args, Clone, Debug)]
pub struct ChildArgs {
    /// What to measure.
    #[arg(value_enum)]
    what: ChildKind,
    /// Distinct keys.
    #[arg(long, default_value_t = 10_000)]
    keys: usize,
    /// ops: seconds per figure.
    #[arg(long, default_value_t = 1.0)]
    secs: f64,
    /// ops: concurrent tasks (and runtime workers) of the last figure.
    #[arg(long, default_value_t = 4)]
    tasks: usize,
}

/// In-process MemoryStore figures (ops per second).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct OpsJson {
    /// Distinct keys, all present before the figures.
    pub keys: usize,
    /// Length of each figure's loop, seconds.
    pub seconds_each: f64,
    /// One task: `get` per second.
    pub get_per_s: f64,
    /// One task: `put` (overwrite, TTL 24 h) per second.
    pub put_per_s: f64,
    /// One task: `state::update` (get + compare_and_swap, +1) per second.
    pub update_per_s: f64,
    /// Concurrent tasks of the last figure.
    pub tasks: usize,
    /// `tasks` concurrent tasks: `get` per second, all tasks together.
    pub get_per_s_tasks: f64,
    /// CPUs the child could run on.
    pub cpus: usize,
    /// Other processes during the figures, % of one core.
    pub other_pct: f64,
}

/// Memory per stored key.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MemJson {
    /// Keys put.
    pub keys: usize,
    /// VmRSS before, KiB.
    pub rss_before_kib: u64,
    /// VmRSS after, KiB.
    pub rss_after_kib: u64,
    /// (after − before) / keys, bytes.
    pub bytes_per_key: f64,
    /// after − before, MiB.
    pub total_mib: f64,
    /// `MemoryStore::bytes()` growth (the store's own estimate).
    pub store_bytes: usize,
    /// `store_bytes` / keys.
    pub store_bytes_per_key: f64,
}

/// A key shaped like the real one: namespace, `session:`, a 22-character id, the key.
fn key(buf: &mut String, i: usize) {
    buf.clear();
    let _ = write!(buf, "ferromcp:session:s{i:021}:counter");
}

/// Runs `op(i)` for i = 0, 1, … until `secs` have passed; returns ops/s.
async fn rate<F: FnMut(usize) -> Fut, Fut: Future<Output = ()>>(secs: f64, mut op: F) -> f64 {
    let start = Instant::now();
    let end = start + Duration::from_secs_f64(secs);
    let mut n = 0;
    while Instant::now() < end {
        for _ in 0..256 {
            op(n).await;
            n += 1;
        }
    }
    n as f64 / start.elapsed().as_secs_f64()
}

async fn child_ops(a: &ChildArgs) -> OpsJson {
    let ttl = Some(ferromcp::ServerConfig::default().state_ttl);
    let keys: Arc<Vec<String>> = Arc::new(
        (0..a.keys.max(1))
            .map(|i| {
                let mut k = String::new();
                key(&mut k, i);
                k
            })
            .collect(),
    );
    let n = keys.len();
    let store = MemoryStore::new();
    for k in keys.iter() {
        store.put(k, Value::from(0), ttl).await.expect("MemoryStore put");
    }
    let cpu = CpuWindow::start(std::os::unix::process::parent_id());
    let (s, ks) = (&store, &keys);
    let get_per_s = rate(a.secs, move |i| async move {
        std::hint::black_box(s.get(&ks[i % n]).await.expect("get"));
    })
    .await;
    let put_per_s = rate(a.secs, move |i| async move {
        s.put(&ks[i % n], Value::from(i), ttl).await.expect("put");
    })
    .await;
    let update_per_s = rate(a.secs, move |i| async move {
        let f = |old: Option<&Value>| Some(Value::from(old.and_then(Value::as_i64).unwrap_or(0) + 1));
        ferromcp::state::update(s, &ks[i % n], ttl, f).await.expect("update");
    })
    .await;
    let end = Instant::now() + Duration::from_secs_f64(a.secs);
    let t0 = Instant::now();
    let tasks: Vec<_> = (0..a.tasks.max(1))
        .map(|t| {
            let (store, keys) = (store.clone(), keys.clone());
            tokio::spawn(async move {
                let mut i = t * 7919;
                while Instant::now() < end {
                    for _ in 0..256 {
                        std::hint::black_box(store.get(&keys[i % n]).await.expect("get"));
                        i += 1;
                    }
                }
                i - t * 7919
            })
        })
        .collect();
    let mut total = 0;
    for t in tasks {
        total += t.await.expect("get task");
    }
    let get_per_s_tasks = total as f64 / t0.elapsed().as_secs_f64();
    let cpus = std::thread::available_parallelism().map_or(1, |c| c.get());
    let (seconds_each, tasks, other_pct) = (a.secs, a.tasks.max(1), cpu.stop().other_pct);
    OpsJson { keys: n, seconds_each, get_per_s, put_per_s, update_per_s, tasks, get_per_s_tasks, cpus, other_pct }
}

async fn child_mem(a: &ChildArgs) -> MemJson {
    let ttl = Some(ferromcp::ServerConfig::default().state_ttl);
    let store = MemoryStore::new();
    // the first write starts the purge task: keep it out of the measurement
    store.put("ferromcp:warm", Value::from(0), ttl).await.expect("put");
    let (rss0, bytes0) = (rss_kib(std::process::id()).map_or(0, |r| r.0), store.bytes());
    let mut k = String::with_capacity(64);
    for i in 0..a.keys {
        key(&mut k, i);
        store.put(&k, Value::from((i % 1000) as i64), ttl).await.expect("put");
    }
    let rss1 = rss_kib(std::process::id()).map_or(0, |r| r.0);
    let store_bytes = store.bytes().saturating_sub(bytes0);
    let grown = rss1.saturating_sub(rss0) as f64 * 1024.0;
    let per = |b: f64| if a.keys > 0 { b / a.keys as f64 } else { 0.0 };
    MemJson {
        keys: a.keys,
        rss_before_kib: rss0,
        rss_after_kib: rss1,
        bytes_per_key: per(grown),
        total_mib: grown / 1048576.0,
        store_bytes,
        store_bytes_per_key: per(store_bytes as f64),
    }
}

/// The hidden `state-child` subcommand: measures and prints one JSON line.
pub fn child(a: &ChildArgs) -> Result<(), String> {
    let rt = match a.what {
        ChildKind::Ops => {
            tokio::runtime::Builder::new_multi_thread().worker_threads(a.tasks.max(1)).enable_all().build()
        }
        ChildKind::Mem => tokio::runtime::Builder::new_current_thread().enable_all().build(),
    };
    let rt = rt.map_err(|e| format!("runtime: {e}"))?;
    let json = match a.what {
        ChildKind::Ops => serde_json::to_string(&rt.block_on(child_ops(a))),
        ChildKind::Mem => serde_json::to_string(&rt.block_on(child_mem(a))),
    };
    println!("{}", json.map_err(|e| e.to_string())?);
    Ok(())
}

/// Runs `ferrobench state-child ARGS` (under `taskset -c CPUS`) and parses its line.
pub async fn run_child<T: DeserializeOwned>(args: &[&str], cpus: Option<String>) -> Result<T, String> {
    let exe = std::env::current_exe().map_err(|e| format!("current_exe: {e}"))?;
    let mut cmd = tokio::process::Command::new(if cpus.is_some() { "taskset".as_ref() } else { exe.as_os_str() });
    if let Some(c) = cpus {
        cmd.arg("-c").arg(c).arg(&exe);
    }
    cmd.arg("state-child").args(args).stdin(Stdio::null()).stdout(Stdio::piped()).kill_on_drop(true);
    let child = cmd.spawn().map_err(|e| format!("spawn state-child: {e}"))?;
    let out = tokio::time::timeout(Duration::from_secs(120), child.wait_with_output())
        .await
        .map_err(|_| "state-child timed out after 120 s".to_owned())?
        .map_err(|e| format!("state-child: {e}"))?;
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text.lines().last().filter(|_| out.status.success());
    let line = line.ok_or_else(|| format!("state-child {} ended with {}", args.join(" "), out.status))?;
    serde_json::from_str(line).map_err(|e| format!("state-child output {line:?}: {e}"))
}
