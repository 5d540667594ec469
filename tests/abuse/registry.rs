//! Attack 6: an `initialize` flood from one client.
//!
//! A legitimate session is opened first from another loopback address (127.0.0.2); then
//! 127.0.0.1 opens sessions past `--sessions-per-client` and past `--max-sessions`. The
//! flooder must shed only its own (oldest) sessions (they answer 404), the legitimate one
//! survives and answers, and the registry's init rate does not collapse at the cap (the
//! last thousand inits within 2× of the first thousand: shedding is O(log n), not a
//! scan). Authenticated, the cap counts per principal: bob floods from alice's address
//! and alice's session survives.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use serde_json::{Value, json};

use crate::support::*;

const FLOODER_CONNS: usize = 16;
/// Each session in a full registry costs a few KiB; the cap bounds the total.
const PER_SESSION_KIB: u64 = 4;

fn ping(id: u64) -> String {
    json!({"jsonrpc": "2.0", "id": id, "method": "ping"}).to_string()
}

/// Who floods and who must survive.
#[derive(Clone, Copy)]
struct Cast {
    /// The legitimate client's source address and bearer token.
    legit: (IpAddr, Option<&'static str>),
    /// The flooder's bearer token (it always comes from 127.0.0.1).
    flooder: Option<&'static str>,
}

/// Unauthenticated: the legitimate client differs only by its address.
const BY_ADDRESS: Cast = Cast { legit: (IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2)), None), flooder: None };
/// Authenticated: the same address, different principals.
const BY_PRINCIPAL: Cast =
    Cast { legit: (IpAddr::V4(Ipv4Addr::LOCALHOST), Some("alice-token")), flooder: Some("bob-token") };

/// The legitimate client's call in its session.
async fn legit_call(conn: &mut Conn, sid: &str, id: u64, token: Option<&str>) -> Value {
    let body = call_body(&json!(id), "test_simple_text", json!({}), None);
    let r = conn.send(in_session(sid, body).bearer(token)).await;
    assert_eq!(r.status, 200, "the legitimate session: {}", r.text());
    r.reply(&json!(id))
}

/// Opens `n` sessions (initialize only) from 127.0.0.1 over `FLOODER_CONNS` connections;
/// the session ids in order of completion and each init's completion time.
async fn flood(addr: SocketAddr, n: usize, token: Option<&'static str>) -> Vec<(Instant, String)> {
    let done = Arc::new(Mutex::new(Vec::with_capacity(n)));
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let workers: Vec<_> = (0..FLOODER_CONNS)
        .map(|_| {
            let (done, next) = (done.clone(), next.clone());
            tokio::spawn(async move {
                let mut c = Conn::open(addr).await;
                while next.fetch_add(1, std::sync::atomic::Ordering::Relaxed) < n {
                    let r = c.send(Req::post("/mcp", initialize_body(json!({}))).bearer(token)).await;
                    assert_eq!(r.status, 200, "a flood initialize: {}", r.text());
                    let sid = r.headers.get("mcp-session-id").expect("a session id").to_str().expect("ascii");
                    done.lock().unwrap_or_else(|p| p.into_inner()).push((Instant::now(), sid.to_owned()));
                }
            })
        })
        .collect();
    for w in workers {
        w.await.expect("a flooding client failed");
    }
    Arc::try_unwrap(done).map(|m| m.into_inner().unwrap_or_else(|p| p.into_inner())).unwrap_or_default()
}

/// Inits per second over `window` consecutive completions starting at `from`.
fn rate(done: &[(Instant, String)], from: usize, window: usize) -> f64 {
    let (a, b) = (done[from].0, done[from + window - 1].0);
    (window - 1) as f64 / b.duration_since(a).as_secs_f64().max(1e-6)
}

async fn status_of_session(conn: &mut Conn, sid: &str, token: Option<&str>) -> u16 {
    conn.send(in_session(sid, ping(7)).bearer(token)).await.status
}

/// Floods past both caps and checks who was shed.
async fn flood_and_check(max: usize, per_client: usize, n: usize, cast: Cast) {
    let (max_s, per_s) = (max.to_string(), per_client.to_string());
    let mut args = vec!["--max-sessions", &max_s, "--sessions-per-client", &per_s];
    if cast.flooder.is_some() {
        args.extend(["--token", "alice-token=alice", "--token", "bob-token=bob"]);
    }
    let server = ServerProc::http(&args);
    let (legit_ip, legit_token) = cast.legit;
    let mut legit = Conn::open_from(server.addr, legit_ip).await;
    let r = legit.send(Req::post("/mcp", initialize_body(json!({}))).bearer(legit_token)).await;
    assert_eq!(r.status, 200, "the legitimate initialize: {}", r.text());
    let legit_sid = r.headers.get("mcp-session-id").expect("a session id").to_str().expect("ascii").to_owned();
    let note = json!({"jsonrpc": "2.0", "method": "notifications/initialized"}).to_string();
    assert_eq!(legit.send(in_session(&legit_sid, note).bearer(legit_token)).await.status, 202);
    legit_call(&mut legit, &legit_sid, 1, legit_token).await;
    let baseline = server.rss_kib();
    let sampler = server.sampler();
    let prober = Prober::start(server.addr);
    let started = Instant::now();
    let done = flood(server.addr, n, cast.flooder).await;
    let took = started.elapsed();
    prober.finish("registry: during the initialize flood").await;
    let peak = sampler.stop();

    let window = 1_000.min(n / 4);
    let (first, last) = (rate(&done, 0, window), rate(&done, n - window, window));
    eprintln!(
        "registry: {n} inits from one address in {:.1} s ({:.0}/s); first {window}: {first:.0}/s, last {window}: {last:.0}/s",
        took.as_secs_f64(),
        n as f64 / took.as_secs_f64()
    );
    let limit = (max.min(per_client + 1) as u64 * PER_SESSION_KIB).div_ceil(1024) + 16;
    assert_growth(&format!("registry: {n} inits, cap {max}, {per_client} per client"), baseline, peak, limit);
    // The bound (within 2x) is a throughput figure: at full size the windows are
    // 1,000 inits long and the check is meaningful. The short CI size measures windows of a
    // few hundred inits on a shared machine, where scheduling noise alone moves the rate
    // 3x, so it only guards against a collapse (the bug took 7,185/s to 229/s).
    let factor = if full() { 2.0 } else { 8.0 };
    assert!(
        last * factor >= first,
        "the init rate collapsed at the cap: {first:.0}/s -> {last:.0}/s (allowed {factor}x)"
    );

    // The legitimate session survived and answers; the flooder lost only its own oldest.
    let v = legit_call(&mut legit, &legit_sid, 2, legit_token).await;
    assert!(result_text(&v).starts_with("This is a simple text"), "{v}");
    let mut c = Conn::open(server.addr).await;
    let oldest = status_of_session(&mut c, &done[0].1, cast.flooder).await;
    let newest = status_of_session(&mut c, &done[n - 1].1, cast.flooder).await;
    eprintln!("registry: the flooder's oldest session answers {oldest}, its newest {newest}");
    assert_eq!(oldest, 404, "the flooder's oldest session was shed");
    assert_eq!(newest, 200, "the flooder's newest session works");
    assert_serves(server.addr, "registry: after the flood").await;
}

#[test]
fn a_flood_past_sessions_per_client_sheds_only_the_flooders_sessions() {
    run("registry/per-client", async {
        let per_client: usize = pick(500, 5_000);
        flood_and_check(100_000, per_client, 3 * per_client, BY_ADDRESS).await;
    });
}

#[test]
fn an_authenticated_flood_sheds_only_that_principals_sessions() {
    run("registry/per-principal", async {
        // Same address, two principals: the cap counts sessions per principal.
        let per_client: usize = pick(500, 5_000);
        flood_and_check(100_000, per_client, 3 * per_client, BY_PRINCIPAL).await;
    });
}

#[test]
fn a_flood_at_the_registry_cap_keeps_its_rate_and_the_legitimate_session() {
    run("registry/global-cap", async {
        // The figure in full size: a registry of 100,000 filled by one address.
        let max: usize = pick(5_000, 100_000);
        flood_and_check(max, max, max + max / 5, BY_ADDRESS).await;
    });
}
