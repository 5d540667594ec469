//! Attack 3: holding HTTP connections open.
//!
//! - slowloris: many connections trickle header lines and never finish them; the header
//!   timeout closes them (408 or a plain close).
//! - a chunked body that never ends: answered 408 or closed within the body timeout.
//! - idle sockets beyond `--max-connections` (in a server limited to 1024 open files, as
//!   on most hosts): excess connections wait in the kernel backlog, idle ones are closed
//!   by the header timeout, and a well-behaved client is answered within that timeout
//!   plus a margin; a warning is logged.
//!
//! Raw `TcpStream`s carry the malformed traffic; every socket is watched for at most a
//! fixed time.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::support::*;

const HEADER_TIMEOUT_MS: u64 = 2_000;
const BODY_TIMEOUT_MS: u64 = 2_000;
/// Time allowed past a timeout before a held connection must be gone (a loaded CI box).
const MARGIN: Duration = Duration::from_secs(4);
/// Each held connection costs a few KiB of buffers: a few hundred of them stay far below this.
const CONNECTIONS_GROWTH_MIB: u64 = 32;

/// How a held connection ended.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Ended {
    /// The server answered (e.g. 408) and closed, after this long.
    Answered(Duration, u16),
    /// The server closed it (EOF or reset) without an answer.
    Closed(Duration),
    /// Still open at the deadline.
    Open,
}

/// Writes `first`, then `trickle` every 500 ms (if any), until the server answers or
/// closes the connection, or `limit` passes.
async fn hold(addr: SocketAddr, first: Vec<u8>, trickle: Option<&'static [u8]>, limit: Duration) -> Ended {
    let started = Instant::now();
    // A refused connect would pass for a closed connection: it is the test's own limit.
    let mut s = match tokio::time::timeout(WAIT, TcpStream::connect(addr)).await {
        Ok(Ok(s)) => s,
        Ok(Err(e)) => panic!("could not connect ({e}); raise this process's open-file limit (ulimit -n)"),
        Err(_) => panic!("connect did not complete within {WAIT:?} (is the listen backlog full?)"),
    };
    if !first.is_empty() && s.write_all(&first).await.is_err() {
        return Ended::Closed(started.elapsed());
    }
    let deadline = tokio::time::Instant::now() + limit;
    let mut tick = tokio::time::interval(Duration::from_millis(500));
    tick.tick().await;
    let mut got = Vec::new();
    let mut buf = [0u8; 1024];
    loop {
        tokio::select! {
            _ = tokio::time::sleep_until(deadline) => return Ended::Open,
            r = s.read(&mut buf) => match r {
                Ok(0) | Err(_) if got.is_empty() => return Ended::Closed(started.elapsed()),
                Ok(0) | Err(_) => return Ended::Answered(started.elapsed(), status_of(&got)),
                Ok(n) => got.extend_from_slice(&buf[..n]),
            },
            _ = tick.tick(), if trickle.is_some() => {
                if s.write_all(trickle.unwrap_or_default()).await.is_err() {
                    return Ended::Closed(started.elapsed());
                }
            }
        }
    }
}

fn status_of(resp: &[u8]) -> u16 {
    let line = String::from_utf8_lossy(&resp[..resp.len().min(64)]).into_owned();
    line.split_whitespace().nth(1).and_then(|s| s.parse().ok()).unwrap_or(0)
}

/// Holds `n` connections at once; how each ended. Prints a summary.
async fn hold_many(
    what: &str,
    addr: SocketAddr,
    n: usize,
    first: &[u8],
    trickle: Option<&'static [u8]>,
    limit: Duration,
) -> Vec<Ended> {
    let tasks: Vec<_> = (0..n).map(|_| tokio::spawn(hold(addr, first.to_vec(), trickle, limit))).collect();
    let mut ended = Vec::with_capacity(n);
    for t in tasks {
        ended.push(t.await.expect("a held connection"));
    }
    let open = ended.iter().filter(|e| **e == Ended::Open).count();
    let answered: Vec<u16> =
        ended.iter().filter_map(|e| if let Ended::Answered(_, s) = e { Some(*s) } else { None }).collect();
    let latest = ended
        .iter()
        .filter_map(|e| match e {
            Ended::Answered(d, _) | Ended::Closed(d) => Some(*d),
            Ended::Open => None,
        })
        .max()
        .unwrap_or_default();
    eprintln!(
        "{what}: {n} connections: {} answered (statuses {:?}), {} closed, {open} still open after {:.1} s; \
         the last one ended after {:.2} s",
        answered.len(),
        answered.iter().collect::<std::collections::BTreeSet<_>>(),
        n - open - answered.len(),
        limit.as_secs_f64(),
        latest.as_secs_f64()
    );
    ended
}

#[test]
fn slowloris_connections_are_closed_by_the_header_timeout() {
    run("connections/slowloris", async {
        let n: usize = pick(100, 500);
        let server = ServerProc::http(&["--header-timeout-ms", &HEADER_TIMEOUT_MS.to_string()]);
        assert_serves(server.addr, "slowloris: before").await;
        let baseline = server.rss_kib();
        let sampler = server.sampler();
        let prober = Prober::start(server.addr);
        let limit = Duration::from_millis(HEADER_TIMEOUT_MS) + MARGIN;
        let first = b"POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n".to_vec();
        let ended = hold_many("slowloris", server.addr, n, &first, Some(b"X-Slow: 1\r\n"), limit).await;
        prober.finish("slowloris: during the attack").await;
        assert_growth(&format!("slowloris: {n} connections"), baseline, sampler.stop(), CONNECTIONS_GROWTH_MIB);
        let open = ended.iter().filter(|e| **e == Ended::Open).count();
        assert_eq!(open, 0, "{open} of {n} slowloris connections were still open {limit:?} after they started");
        for e in &ended {
            if let Ended::Answered(_, status) = e {
                assert_eq!(*status, 408, "a slowloris connection is answered 408 or closed");
            }
        }
        assert_serves(server.addr, "slowloris: after").await;
    });
}

#[test]
fn a_chunked_body_that_never_ends_is_cut_by_the_body_timeout() {
    run("connections/endless-body", async {
        let n: usize = pick(20, 200);
        let server = ServerProc::http(&["--body-timeout-ms", &BODY_TIMEOUT_MS.to_string()]);
        assert_serves(server.addr, "endless body: before").await;
        let baseline = server.rss_kib();
        let sampler = server.sampler();
        let prober = Prober::start(server.addr);
        let limit = Duration::from_millis(BODY_TIMEOUT_MS) + MARGIN;
        let first = b"POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n\
            Accept: application/json, text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n\
            8\r\n{\"jsonrp\r\n"
            .to_vec();
        let ended = hold_many("endless body", server.addr, n, &first, None, limit).await;
        prober.finish("endless body: during the attack").await;
        assert_growth(&format!("endless body: {n} connections"), baseline, sampler.stop(), CONNECTIONS_GROWTH_MIB);
        let open = ended.iter().filter(|e| **e == Ended::Open).count();
        assert_eq!(open, 0, "{open} of {n} never-ending bodies were still open {limit:?} after they started");
        for e in &ended {
            if let Ended::Answered(_, status) = e {
                assert_eq!(*status, 408, "a body that stops is answered 408 or closed");
            }
        }
        assert_serves(server.addr, "endless body: after").await;
    });
}

#[test]
fn idle_sockets_beyond_max_connections_do_not_lock_other_clients_out() {
    run("connections/idle-sockets", async {
        // The figure: 1,100 idle sockets against the common 1024-descriptor limit.
        let (max, idle): (usize, usize) = pick((200, 250), (1_000, 1_100));
        let server = ServerProc::http_with_nofile(
            Some(1024),
            &["--max-connections", &max.to_string(), "--header-timeout-ms", &HEADER_TIMEOUT_MS.to_string()],
        );
        assert_serves(server.addr, "idle sockets: before").await;
        let baseline = server.rss_kib();
        let sampler = server.sampler();
        // Idle sockets past the cap wait in the backlog and are served as slots free up,
        // in turn closed by the header timeout: two rounds at most.
        let rounds = idle.div_ceil(max) as u32;
        let limit = Duration::from_millis(HEADER_TIMEOUT_MS) * rounds + MARGIN;
        let addr = server.addr;
        let held = tokio::spawn(async move { hold_many("idle sockets", addr, idle, &[], None, limit).await });
        // Let the idle sockets take every slot, then ask as a well-behaved client.
        tokio::time::sleep(Duration::from_millis(500)).await;
        let prober = Prober::start(server.addr);
        let ended = held.await.expect("the idle sockets");
        prober.finish("idle sockets: while they hold every slot").await;
        assert_growth(
            &format!("idle sockets: {idle} against {max} slots"),
            baseline,
            sampler.stop(),
            CONNECTIONS_GROWTH_MIB,
        );
        let open = ended.iter().filter(|e| **e == Ended::Open).count();
        assert_eq!(open, 0, "{open} of {idle} idle sockets were still open after {limit:?}");
        let log = server.log();
        assert!(
            log.to_ascii_lowercase().contains("connection"),
            "no warning logged at the connection cap; log:\n{log}"
        );
        assert_serves(server.addr, "idle sockets: after").await;
    });
}

#[test]
fn keep_alive_connections_left_idle_are_closed_and_free_their_slots() {
    run("connections/idle-keep-alive", async {
        const KEEP_ALIVE_MS: u64 = 2_000;
        let (max, idlers): (usize, usize) = pick((50, 100), (500, 1_000));
        let server = ServerProc::http(&[
            "--max-connections",
            &max.to_string(),
            "--keep-alive-timeout-ms",
            &KEEP_ALIVE_MS.to_string(),
        ]);
        assert_serves(server.addr, "idle keep-alive: before").await;
        let baseline = server.rss_kib();
        let sampler = server.sampler();
        // One complete request, answered, then silence on a kept-alive connection.
        let body = modern_body(
            &serde_json::json!(1),
            "tools/call",
            serde_json::json!({"name": "test_simple_text", "arguments": {}}),
            serde_json::json!({}),
        );
        let first = format!(
            "POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n\
             Accept: application/json, text/event-stream\r\nMcp-Protocol-Version: {MODERN}\r\n\
             Mcp-Method: tools/call\r\nMcp-Name: test_simple_text\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        )
        .into_bytes();
        let rounds = idlers.div_ceil(max) as u32;
        let limit = Duration::from_millis(KEEP_ALIVE_MS) * rounds + MARGIN;
        let addr = server.addr;
        let held = tokio::spawn(async move { hold_many("idle keep-alive", addr, idlers, &first, None, limit).await });
        tokio::time::sleep(Duration::from_millis(500)).await;
        let prober = Prober::start(server.addr);
        let ended = held.await.expect("the idle keep-alive connections");
        prober.finish("idle keep-alive: while they hold every slot").await;
        assert_growth(
            &format!("idle keep-alive: {idlers} against {max} slots"),
            baseline,
            sampler.stop(),
            CONNECTIONS_GROWTH_MIB,
        );
        let open = ended.iter().filter(|e| **e == Ended::Open).count();
        assert_eq!(open, 0, "{open} of {idlers} idle keep-alive connections were still open after {limit:?}");
        for e in &ended {
            if let Ended::Answered(_, status) = e {
                assert_eq!(*status, 200, "each idler's one request was answered before its connection closed");
            }
        }
        assert_serves(server.addr, "idle keep-alive: after").await;
    });
}
