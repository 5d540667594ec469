//! rmcp's client as a load driver for `ferrobench client` (see `bench/README.md`).
//!
//! ```sh
//! rmcp-client --url http://127.0.0.1:PORT/mcp --era legacy|modern \
//!     --concurrency 32 --warmup-s 2 --duration-s 10
//! ```
//!
//! One rmcp client session (`initialize` for `legacy`, `server/discover` for `modern`)
//! over Streamable HTTP; `--concurrency` tasks call `tools/call add {a, b}` in a closed
//! loop on a current-thread tokio runtime and check `structuredContent.result == a + b`.
//! Calls started inside the window (after the warm-up) count. At the end it prints one
//! line, `FERROBENCH_CLIENT_RESULT {"calls":…,"errors":…,"window_s":…,"cpu_s":…,
//! "first_error":…}`, where `cpu_s` is this process's CPU time (user + system, all
//! threads, from `/proc/self/stat`) over the window. The same protocol is spoken by
//! ferrobench's own `client-driver` (ferromcp-client), so the two are measured alike.

use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use rmcp::model::{CallToolRequestParams, ProtocolVersion};
use rmcp::service::{ClientLifecycleMode, ClientServiceExt};
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use serde_json::{Value, json};

/// Clock ticks per second of `/proc/*/stat` (USER_HZ).
const USER_HZ: f64 = 100.0;

/// utime + stime of this process in seconds, all threads.
fn cpu_s() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let rest = stat.rfind(')').map_or("", |i| &stat[i + 2..]);
    let f: Vec<&str> = rest.split_whitespace().collect();
    // Fields after the command name: state is field 3, utime 14, stime 15.
    let field = |i: usize| f.get(i).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
    (field(11) + field(12)) as f64 / USER_HZ
}

struct Args {
    url: String,
    modern: bool,
    concurrency: usize,
    warmup: Duration,
    duration: Duration,
}

fn parse_args() -> Result<Args, String> {
    let mut a = Args {
        url: String::new(),
        modern: false,
        concurrency: 32,
        warmup: Duration::from_secs(2),
        duration: Duration::from_secs(10),
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let value = it.next().ok_or_else(|| format!("{flag} needs a value"))?;
        let secs = |v: &str| v.parse::<f64>().map(Duration::from_secs_f64).map_err(|e| format!("{flag}: {e}"));
        match flag.as_str() {
            "--url" => a.url = value,
            "--era" => {
                a.modern = match value.as_str() {
                    "modern" => true,
                    "legacy" => false,
                    other => return Err(format!("--era is legacy or modern, not {other:?}")),
                }
            }
            "--concurrency" => a.concurrency = value.parse().map_err(|e| format!("--concurrency: {e}"))?,
            "--warmup-s" => a.warmup = secs(&value)?,
            "--duration-s" => a.duration = secs(&value)?,
            other => return Err(format!("unknown argument {other:?} (see the module docs)")),
        }
    }
    if a.url.is_empty() {
        return Err("--url is required".into());
    }
    Ok(a)
}

#[derive(Default)]
struct Tally {
    calls: AtomicU64,
    errors: AtomicU64,
    first_error: Mutex<Option<String>>,
}

impl Tally {
    fn error(&self, e: String) {
        self.errors.fetch_add(1, Ordering::Relaxed);
        self.first_error.lock().expect("lock").get_or_insert(e);
    }
}

async fn run(a: Args) -> Result<Value, String> {
    let http = reqwest::Client::builder().build().map_err(|e| format!("reqwest: {e}"))?;
    let config = StreamableHttpClientTransportConfig::with_uri(a.url.clone()).max_concurrent_requests(a.concurrency);
    let transport = StreamableHttpClientTransport::with_client(http, config);
    let lifecycle = if a.modern {
        ClientLifecycleMode::Discover { preferred_versions: vec![ProtocolVersion::V_2026_07_28] }
    } else {
        ClientLifecycleMode::Initialize
    };
    let client = ().serve_with_lifecycle(transport, lifecycle).await.map_err(|e| format!("connect: {e}"))?;
    let peer = client.peer().clone();

    let t0 = Instant::now();
    let start = t0 + a.warmup;
    let end = start + a.duration;
    let tally = Arc::new(Tally::default());
    let mut tasks = Vec::new();
    for w in 0..a.concurrency {
        let peer = peer.clone();
        let tally = tally.clone();
        tasks.push(tokio::spawn(async move {
            let mut i = 0i64;
            loop {
                let began = Instant::now();
                if began >= end {
                    break;
                }
                i += 1;
                let (x, y) = (w as i64, i);
                let args = json!({"a": x, "b": y}).as_object().cloned().unwrap_or_default();
                let r = peer.call_tool(CallToolRequestParams::new("add").with_arguments(args)).await;
                if began < start {
                    continue;
                }
                match r {
                    Ok(res) if res.structured_content.as_ref().and_then(|s| s["result"].as_i64()) == Some(x + y) => {
                        tally.calls.fetch_add(1, Ordering::Relaxed);
                    }
                    Ok(res) => tally.error(format!("wrong answer: {res:?}")),
                    Err(e) => tally.error(format!("call failed: {e}")),
                }
            }
        }));
    }
    tokio::time::sleep_until(start.into()).await;
    let (cpu0, w0) = (cpu_s(), Instant::now());
    tokio::time::sleep_until(end.into()).await;
    let (cpu1, window) = (cpu_s(), w0.elapsed().as_secs_f64());
    for t in tasks {
        let _ = tokio::time::timeout(Duration::from_secs(15), t).await;
    }
    let _ = tokio::time::timeout(Duration::from_secs(5), client.cancel()).await;
    let first_error = tally.first_error.lock().expect("lock").clone();
    Ok(json!({
        "calls": tally.calls.load(Ordering::Relaxed),
        "errors": tally.errors.load(Ordering::Relaxed),
        "window_s": window,
        "cpu_s": cpu1 - cpu0,
        "first_error": first_error,
    }))
}

fn main() -> std::process::ExitCode {
    let result = parse_args().and_then(|a| {
        let rt =
            tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(|e| format!("runtime: {e}"))?;
        rt.block_on(run(a))
    });
    match result {
        Ok(v) => {
            println!("FERROBENCH_CLIENT_RESULT {v}");
            std::process::ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("rmcp-client: error: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
