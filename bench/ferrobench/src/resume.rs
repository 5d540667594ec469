//! `resume`: what resumable legacy streams cost. The same stateful ferromcp server is
//! run four times, with the event store off, in memory, in SQLite (a temp file) and on
//! Redis Streams (a `redis-server` of our own; skipped with a note without one), and
//! driven by the same closed loop: 32 workers, each with its own legacy session
//! (2025-11-25 `initialize` + `notifications/initialized`) on one keep-alive
//! connection, calling `tools/call add_progress` with `_meta.progressToken`. The tool
//! sends one progress notification before returning, so every answer is an SSE stream
//! and, with a store, every event of it (priming, progress, result) is appended to the
//! store before it is sent.
//!
//! Every answer is validated: HTTP 200, `text/event-stream`, and exactly the expected
//! events — with a store `id: <stream>.1` (priming, empty data, `retry`), `.2` (the
//! progress notification: our token, progress 1) and `.3` (the result: our id, the right
//! sum); without a store the same two messages and no ids. Warm-up, window, CPU and
//! latency figures as in S1 (only calls started inside the window count).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::Opts;
use crate::client::{Answer, INITIALIZED_BODY, Link, legacy_initialize_body, session_headers};
use crate::load::{Latency, LoadResult, note};
use crate::procs::{CpuWindow, rss_kib};

/// One configuration's figures.
#[derive(Debug, Clone, Serialize)]
pub struct Row {
    /// `off`, `memory`, `sqlite` or `redis`.
    pub events: String,
    /// The measured run.
    #[serde(flatten)]
    pub run: LoadResult,
    /// calls/s relative to the `off` run.
    pub rps_vs_off: f64,
    /// Server CPU per call relative to the `off` run.
    pub cpu_vs_off: f64,
}

/// Body of a legacy `tools/call add_progress` with progress token `id`.
fn call_body(id: i64, a: i64, b: i64) -> String {
    format!(
        concat!(
            r#"{{"jsonrpc":"2.0","id":{id},"method":"tools/call","params":{{"name":"add_progress","#,
            r#""arguments":{{"a":{a},"b":{b}}},"_meta":{{"progressToken":{id}}}}}}}"#
        ),
        id = id,
        a = a,
        b = b
    )
}

/// One SSE event of an answer.
struct Event<'a> {
    id: Option<&'a str>,
    retry: bool,
    data: &'a str,
}

fn parse_events(body: &str) -> Result<Vec<Event<'_>>, String> {
    let mut out = Vec::with_capacity(3);
    for block in body.split("\n\n").filter(|b| !b.trim().is_empty()) {
        let mut ev = Event { id: None, retry: false, data: "" };
        for line in block.lines() {
            match line.split_once(": ").or_else(|| line.split_once(':')) {
                Some(("id", v)) => ev.id = Some(v),
                Some(("retry", v)) => ev.retry = v.trim().parse::<u64>().is_ok(),
                Some(("data", v)) => ev.data = v,
                Some(("event", "message")) => {}
                _ if line.starts_with(':') => {}
                _ => return Err(format!("unexpected SSE line {line:?}")),
            }
        }
        out.push(ev);
    }
    Ok(out)
}

#[derive(Deserialize)]
struct Msg {
    method: Option<String>,
    id: Option<i64>,
    params: Option<ProgressParams>,
    result: Option<ToolResult>,
}

#[derive(Deserialize)]
struct ProgressParams {
    #[serde(rename = "progressToken")]
    token: i64,
    progress: f64,
}

#[derive(Deserialize)]
struct ToolResult {
    #[serde(rename = "structuredContent")]
    structured: Option<Structured>,
    #[serde(rename = "isError", default)]
    is_error: bool,
}

#[derive(Deserialize)]
struct Structured {
    result: i64,
}

/// Checks one answer to `call_body(id, a, b)`: see the module documentation.
fn check(a: &Answer, id: i64, sum: i64, with_ids: bool) -> Result<(), String> {
    if a.status != 200 {
        let text: String = String::from_utf8_lossy(&a.body).chars().take(160).collect();
        return Err(format!("HTTP {}: {text}", a.status));
    }
    if !a.sse {
        return Err("a JSON answer: the progress notification should have made it SSE".into());
    }
    let body = std::str::from_utf8(&a.body).map_err(|_| "SSE body is not UTF-8")?;
    let events = parse_events(body)?;
    let want = if with_ids { 3 } else { 2 };
    if events.len() != want {
        return Err(format!("{} SSE events, expected {want}", events.len()));
    }
    if with_ids {
        let mut stream = None;
        for (k, ev) in events.iter().enumerate() {
            let eid = ev.id.ok_or("an event without id (event store on)")?;
            let (s, seq) = eid.rsplit_once('.').ok_or_else(|| format!("event id {eid:?} is not <stream>.<seq>"))?;
            if seq.parse::<usize>().ok() != Some(k + 1) || *stream.get_or_insert(s) != s {
                return Err(format!("event {} has id {eid:?}", k + 1));
            }
        }
        if !events[0].data.is_empty() || !events[0].retry {
            return Err("the first event is not a priming event (empty data, retry)".into());
        }
    } else if events.iter().any(|e| e.id.is_some() || e.retry) {
        return Err("an event id without an event store".into());
    }
    let progress: Msg = serde_json::from_str(events[want - 2].data).map_err(|e| format!("bad progress JSON: {e}"))?;
    match (&progress.method, &progress.params) {
        (Some(m), Some(p)) if m == "notifications/progress" && p.token == id && p.progress == 1.0 => {}
        _ => return Err("the first message is not our progress notification".into()),
    }
    let answer: Msg = serde_json::from_str(events[want - 1].data).map_err(|e| format!("bad result JSON: {e}"))?;
    if answer.id != Some(id) {
        return Err(format!("answer id {:?}, expected {id}", answer.id));
    }
    match answer.result {
        Some(ToolResult { structured: Some(s), is_error: false }) if s.result == sum => Ok(()),
        Some(ToolResult { structured: Some(s), .. }) => {
            Err(format!("add_progress returned {}, expected {sum}", s.result))
        }
        _ => Err("not a tool result with structuredContent.result".into()),
    }
}

/// Opens a legacy session on `link`.
async fn open_session(link: &mut Link, id: i64) -> Result<String, String> {
    let a = link.post(legacy_initialize_body(id), &[]).await?;
    if a.status != 200 {
        return Err(format!("initialize: HTTP {}", a.status));
    }
    let sid = a.session.ok_or("initialize: no mcp-session-id")?;
    let a = link.post(INITIALIZED_BODY.to_owned(), &session_headers(&sid)?).await?;
    if !(200..300).contains(&a.status) {
        return Err(format!("initialized: HTTP {}", a.status));
    }
    Ok(sid)
}

#[derive(Clone, Copy)]
struct Window {
    measure_from: Instant,
    end: Instant,
    timeout: Duration,
    with_ids: bool,
}

struct WorkerOut {
    lat: Vec<u32>,
    errors: u64,
    samples: BTreeMap<String, u64>,
}

async fn worker(port: u16, w: usize, win: Window) -> WorkerOut {
    let mut out = WorkerOut { lat: Vec::with_capacity(1 << 15), errors: 0, samples: BTreeMap::new() };
    let mut link = Link::new(port, win.timeout);
    let headers = loop {
        let opened = open_session(&mut link, w as i64).await.and_then(|sid| session_headers(&sid));
        match opened {
            Ok(h) => break h,
            Err(e) => {
                if Instant::now() >= win.measure_from {
                    out.errors += 1;
                    note(&mut out.samples, &format!("session: {e}"), 1);
                }
                if Instant::now() >= win.end {
                    return out;
                }
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        }
    };
    let mut i = (w as i64) * 100_000_000;
    loop {
        let t0 = Instant::now();
        if t0 >= win.end {
            break;
        }
        i += 1;
        let (a, b) = (i, w as i64 + 7);
        let r = link.post(call_body(i, a, b), &headers).await.and_then(|ans| check(&ans, i, a + b, win.with_ids));
        let measured = t0 >= win.measure_from;
        match r {
            Ok(()) if measured => out.lat.push(t0.elapsed().as_micros().min(u128::from(u32::MAX)) as u32),
            Ok(()) => {}
            Err(e) if measured => {
                out.errors += 1;
                note(&mut out.samples, &e, 1);
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(5)).await,
        }
    }
    out
}

/// One closed-loop run against the server on `port` (process `pid`).
async fn run(port: u16, pid: u32, o: &Opts, with_ids: bool) -> LoadResult {
    let duration = Duration::from_secs_f64(o.duration_s.max(0.1));
    let measure_from = Instant::now() + Duration::from_secs_f64(o.warmup_s.max(0.0));
    let win =
        Window { measure_from, end: measure_from + duration, timeout: Duration::from_millis(o.timeout_ms), with_ids };
    let tasks: Vec<_> = (0..o.concurrency.max(1)).map(|w| tokio::spawn(worker(port, w, win))).collect();
    tokio::time::sleep_until(win.measure_from.into()).await;
    let cpu = CpuWindow::start(pid);
    tokio::time::sleep_until(win.end.into()).await;
    let cpu = cpu.stop();
    let (rss, hwm) = rss_kib(pid).unwrap_or((0, 0));
    let mut res = LoadResult { cpu, rss_kib: rss, hwm_kib: hwm, ..LoadResult::default() };
    let mut lat = Vec::new();
    for t in tasks {
        match t.await {
            Ok(out) => {
                lat.extend(out.lat);
                res.errors += out.errors;
                for (k, n) in out.samples {
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
    res.rps = res.ok as f64 / duration.as_secs_f64();
    res.latency = Latency::of(&mut lat);
    res.cpu_us_per_req = if res.ok > 0 { cpu.server_cpu_s * 1e6 / res.ok as f64 } else { 0.0 };
    res
}

/// A temp database path, removed with its WAL files on drop.
struct TempDb(PathBuf);

impl Drop for TempDb {
    fn drop(&mut self) {
        for suffix in ["", "-wal", "-shm", "-journal"] {
            let mut p = self.0.clone().into_os_string();
            p.push(suffix);
            let _ = std::fs::remove_file(p);
        }
    }
}

/// Runs the four configurations, one fresh server process each.
pub async fn bench(o: &Opts, server_cpu: Option<usize>) -> Result<Vec<Row>, String> {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos());
    let db = TempDb(std::env::temp_dir().join(format!("ferrobench-resume-{}-{nanos}.db", std::process::id())));
    let sqlite = format!("sqlite:{}", db.0.display());
    let mut rows: Vec<Row> = Vec::new();
    // Redis Streams on a redis-server of our own; the row is left out (with a note) if
    // none can be started.
    let redis = match crate::state::Redis::start(&o.state.redis_server, server_cpu).await {
        Ok(r) => Some(r),
        Err(e) => {
            eprintln!("ferrobench: resume, event store redis skipped: {e}");
            None
        }
    };
    let redis_events = redis.as_ref().map(|r| format!("redis:redis://127.0.0.1:{}/", r.port));
    let mut configs = vec![("off", "off"), ("memory", "memory"), ("sqlite", sqlite.as_str())];
    if let Some(ev) = &redis_events {
        configs.push(("redis", ev.as_str()));
    }
    for (name, events) in configs {
        let args = ["serve-ferromcp", "--mode", "stateful", "--events", events];
        let server = crate::start(&args, o, server_cpu).await?;
        eprintln!("ferrobench: resume, event store {name} (pid {}, port {})", server.pid, server.port);
        let r = run(server.port, server.pid, o, name != "off").await;
        server.stop().await;
        let (rps_vs_off, cpu_vs_off) = match rows.first() {
            Some(off) => (r.rps / off.run.rps, r.cpu_us_per_req / off.run.cpu_us_per_req),
            None => (1.0, 1.0),
        };
        rows.push(Row { events: name.to_owned(), run: r, rps_vs_off, cpu_vs_off });
    }
    if let Some(r) = redis {
        r.stop().await;
    }
    Ok(rows)
}

/// Prints the table and a JSON line.
pub fn print(rows: &[Row], o: &Opts, pins: (Option<usize>, Option<usize>), nice: i32) {
    let pin = match pins {
        (Some(l), Some(s)) => format!("load generator on CPU {l}, server on CPU {s}"),
        _ => "UNPINNED".to_owned(),
    };
    println!();
    println!(
        "== resume: legacy tools/call add_progress (one progress notification, SSE answer), {} sessions, \
         {} s warm-up + {} s, {pin}",
        o.concurrency, o.warmup_s, o.duration_s
    );
    println!(
        "{:<8} {:>9} {:>7} {:>7} {:>7} {:>6} {:>8} {:>7} {:>7} {:>7} {:>7} {:>9} {:>9}",
        "events",
        "calls/s",
        "p50 µs",
        "p99 µs",
        "max µs",
        "errors",
        "CPU µs/c",
        "srv CPU",
        "gen CPU",
        "other",
        "RSS MiB",
        "×off c/s",
        "×off CPU"
    );
    for row in rows {
        let r = &row.run;
        println!(
            "{:<8} {:>9.0} {:>7} {:>7} {:>7} {:>6} {:>8.1} {:>6.0}% {:>6.0}% {:>6.0}% {:>7.1} {:>9.3} {:>9.3}",
            row.events,
            r.rps,
            r.latency.p50_us,
            r.latency.p99_us,
            r.latency.max_us,
            r.errors,
            r.cpu_us_per_req,
            r.cpu.server_pct,
            r.cpu.loadgen_pct,
            r.cpu.other_pct,
            r.rss_kib as f64 / 1024.0,
            row.rps_vs_off,
            row.cpu_vs_off
        );
        for (e, n) in &r.error_samples {
            println!("{:<8}   error ×{n}: {e}", "");
        }
        if r.cpu.other_pct > 25.0 {
            println!("{:<8}   note: machine busy (other processes {:.0}% of a core)", "", r.cpu.other_pct);
        }
    }
    println!();
    let json = serde_json::json!({
        "resume": rows,
        "config": {"concurrency": o.concurrency, "warmup_s": o.warmup_s, "duration_s": o.duration_s,
                   "loadgen_cpu": pins.0, "server_cpu": pins.1, "nice": nice},
    });
    println!("{json}");
}
