//! The HTTP side of `state`: the legacy `tools/call increment` closed loop (one session
//! per worker, every answer checked against the session's counter) and the
//! `redis-server` the Redis run uses.

use std::collections::BTreeMap;
use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::Opts;
use crate::client::{Headers, Link, check_add, session_headers};
use crate::load::{Latency, LoadResult, note};
use crate::procs::{CpuUsage, CpuWindow, rss_kib};

/// Body of a legacy `tools/call increment` (inside a session).
fn increment_body(id: i64) -> String {
    format!(r#"{{"jsonrpc":"2.0","id":{id},"method":"tools/call","params":{{"name":"increment","arguments":{{}}}}}}"#)
}

#[derive(Clone, Copy)]
struct Window {
    measure_from: Instant,
    end: Instant,
    timeout: Duration,
}

#[derive(Default)]
struct WorkerOut {
    lat: Vec<u32>,
    errors: u64,
    samples: BTreeMap<String, u64>,
}

/// One closed-loop worker: its own session on its own connection; every answer must be
/// the session's next integer. After an error the counter is unknown: a new session.
async fn worker(port: u16, w: usize, win: Window) -> WorkerOut {
    let mut out = WorkerOut { lat: Vec::with_capacity(1 << 15), ..WorkerOut::default() };
    let mut link = Link::new(port, win.timeout);
    let mut session: Option<(Headers, i64)> = None;
    let mut id = (w as i64) * 100_000_000;
    loop {
        let t0 = Instant::now();
        if t0 >= win.end {
            return out;
        }
        let measured = t0 >= win.measure_from;
        let (headers, next) = match &mut session {
            Some(s) => s,
            None => match crate::sessions::open(&mut link, w as i64).await.and_then(|sid| session_headers(&sid)) {
                Ok(h) => session.insert((h, 1)),
                Err(e) => {
                    if measured {
                        out.errors += 1;
                        note(&mut out.samples, &format!("session: {e}"), 1);
                    }
                    tokio::time::sleep(Duration::from_millis(5)).await;
                    continue;
                }
            },
        };
        id += 1;
        let r = link.post(increment_body(id), headers).await;
        match r.and_then(|a| check_add(&a, *next).map_err(|e| e.replace("add returned", "increment returned"))) {
            Ok(()) => {
                *next += 1;
                if measured {
                    out.lat.push(t0.elapsed().as_micros().min(u128::from(u32::MAX)) as u32);
                }
            }
            Err(e) => {
                session = None;
                if measured {
                    out.errors += 1;
                    note(&mut out.samples, &e, 1);
                } else {
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
            }
        }
    }
}

/// The `increment` closed loop against the stateful server `port` (`pid`); with
/// `redis_pid` also redis-server's CPU (taken out of "other").
pub async fn run_increment(port: u16, pid: u32, redis_pid: Option<u32>, o: &Opts) -> (LoadResult, Option<CpuUsage>) {
    let duration = Duration::from_secs_f64(o.state.state_duration_s.max(0.1));
    let measure_from = Instant::now() + Duration::from_secs_f64(o.warmup_s.max(0.0));
    let win = Window { measure_from, end: measure_from + duration, timeout: Duration::from_millis(o.timeout_ms) };
    let tasks: Vec<_> = (0..o.concurrency.max(1)).map(|w| tokio::spawn(worker(port, w, win))).collect();
    tokio::time::sleep_until(win.measure_from.into()).await;
    let (cpu, redis_cpu) = (CpuWindow::start(pid), redis_pid.map(CpuWindow::start));
    tokio::time::sleep_until(win.end.into()).await;
    let (mut cpu, redis_cpu) = (cpu.stop(), redis_cpu.map(|c| c.stop()));
    if let Some(r) = &redis_cpu {
        cpu.other_pct = (cpu.other_pct - r.server_pct).max(0.0);
    }
    let (rss, hwm) = rss_kib(pid).unwrap_or((0, 0));
    let mut res = LoadResult { cpu, rss_kib: rss, hwm_kib: hwm, ..LoadResult::default() };
    let mut lat = Vec::new();
    for t in tasks {
        let out = t.await.unwrap_or_else(|e| WorkerOut {
            errors: 1,
            samples: BTreeMap::from([(format!("worker panicked: {e}"), 1)]),
            ..WorkerOut::default()
        });
        lat.extend(out.lat);
        res.errors += out.errors;
        for (k, n) in out.samples {
            note(&mut res.error_samples, &k, n);
        }
    }
    res.ok = lat.len() as u64;
    res.rps = res.ok as f64 / duration.as_secs_f64();
    res.latency = Latency::of(&mut lat);
    res.cpu_us_per_req = if res.ok > 0 { cpu.server_cpu_s * 1e6 / res.ok as f64 } else { 0.0 };
    (res, redis_cpu)
}

/// A `redis-server` of our own (no persistence), killed when dropped.
pub struct Redis {
    child: tokio::process::Child,
    /// Its process id.
    pub pid: u32,
    /// Its port on 127.0.0.1.
    pub port: u16,
}

impl Redis {
    /// Starts `BIN --port P --bind 127.0.0.1 --save "" --appendonly no` on a free port
    /// (under `taskset -c CPU`) and waits ≤ 10 s for `PING` → `+PONG`.
    pub async fn start(bin: &str, cpu: Option<usize>) -> Result<Redis, String> {
        let probe =
            std::process::Command::new(bin).arg("--version").stdout(Stdio::null()).stderr(Stdio::null()).status();
        if let Err(e) = probe {
            return Err(format!("`{bin}` cannot be run ({e}); install Redis (e.g. apt-get install redis-server)"));
        }
        let port =
            std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map_err(|e| e.to_string())?;
        let port = port.port().to_string();
        let mut cmd = tokio::process::Command::new(if cpu.is_some() { "taskset" } else { bin });
        if let Some(c) = cpu {
            cmd.arg("-c").arg(c.to_string()).arg(bin);
        }
        cmd.args(["--port", &port, "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .kill_on_drop(true);
        let child = cmd.spawn().map_err(|e| format!("spawn {bin}: {e}"))?;
        let pid = child.id().ok_or("redis-server exited at once")?;
        let redis = Redis { child, pid, port: port.parse().unwrap_or(0) };
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if redis.ping().await {
                return Ok(redis);
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        redis.stop().await;
        Err(format!("redis-server on port {port} did not answer PING within 10 s"))
    }

    /// Whether the server answers `PING` with `+PONG` (bounded by 1 s).
    async fn ping(&self) -> bool {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let exchange = async {
            let mut tcp = tokio::net::TcpStream::connect(("127.0.0.1", self.port)).await?;
            tcp.write_all(b"PING\r\n").await?;
            let mut buf = [0u8; 7];
            tcp.read_exact(&mut buf).await?;
            Ok::<bool, std::io::Error>(&buf == b"+PONG\r\n")
        };
        matches!(tokio::time::timeout(Duration::from_secs(1), exchange).await, Ok(Ok(true)))
    }

    /// Kills it and reaps it (bounded).
    pub async fn stop(mut self) {
        let _ = self.child.start_kill();
        let _ = tokio::time::timeout(Duration::from_secs(5), self.child.wait()).await;
    }
}
