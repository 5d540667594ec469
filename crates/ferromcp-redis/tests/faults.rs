//! Redis dies under load and comes back: calls fail fast with `Unavailable`, never hang
//! or panic, and succeed again once Redis answers on the same port.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::RedisServer;
use ferromcp_core::state::{StateStore, StoreError, update};
use ferromcp_redis::{RedisStore, RedisStoreConfig};
use serde_json::{Value, json};

const RESPONSE_TIMEOUT: Duration = Duration::from_secs(1);
const WORKERS: usize = 8;
const RUN_FOR: Duration = Duration::from_secs(3);
const KILL_AFTER: Duration = Duration::from_millis(700);
const RECOVER_WITHIN: Duration = Duration::from_secs(10);

#[derive(Debug, Default)]
struct Tally {
    ok: u64,
    unavailable: u64,
    other: Vec<String>,
    slowest: Duration,
    ok_after_kill: u64,
}

/// One worker: get / put / update in turn until `until` (at most 100 000 calls).
async fn worker(s: Arc<RedisStore>, id: usize, until: Instant, killed_at: Arc<std::sync::OnceLock<Instant>>) -> Tally {
    let mut t = Tally::default();
    let key = format!("w{id}");
    for i in 0..100_000u64 {
        if Instant::now() >= until {
            break;
        }
        let started = Instant::now();
        let r: Result<(), StoreError> = match i % 3 {
            0 => s.get(&key).await.map(|_| ()),
            1 => s.put(&key, json!(i), None).await,
            _ => update(&*s, "shared", None, |old| Some(Value::from(old.and_then(Value::as_i64).unwrap_or(0) + 1)))
                .await
                .map(|_| ()),
        };
        t.slowest = t.slowest.max(started.elapsed());
        match r {
            Ok(()) => {
                t.ok += 1;
                if killed_at.get().is_some_and(|k| started > *k) {
                    t.ok_after_kill += 1;
                }
            }
            Err(StoreError::Unavailable(_)) => {
                t.unavailable += 1;
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            Err(e) => t.other.push(e.to_string()),
        }
    }
    t
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_redis_gives_unavailable_quickly_and_calls_recover_after_a_restart() {
    let mut server = RedisServer::start();
    let port = server.port();
    let cfg = RedisStoreConfig::new(server.url())
        .response_timeout(RESPONSE_TIMEOUT)
        .connection_timeout(Duration::from_secs(1));
    let s = Arc::new(RedisStore::with_config(cfg).await.expect("connect"));
    s.put("before", json!("written before the crash"), None).await.unwrap();

    let start = Instant::now();
    let until = start + RUN_FOR;
    let killed_at = Arc::new(std::sync::OnceLock::new());
    let tasks: Vec<_> = (0..WORKERS).map(|id| tokio::spawn(worker(s.clone(), id, until, killed_at.clone()))).collect();
    tokio::time::sleep(KILL_AFTER).await;
    server.kill();
    let _ = killed_at.set(Instant::now());

    let mut total = Tally::default();
    for t in tasks {
        let t = tokio::time::timeout(RUN_FOR + RESPONSE_TIMEOUT * 4, t)
            .await
            .expect("workers stop on time: no call hangs")
            .expect("no worker panicked");
        total.ok += t.ok;
        total.unavailable += t.unavailable;
        total.other.extend(t.other);
        total.slowest = total.slowest.max(t.slowest);
        total.ok_after_kill += t.ok_after_kill;
    }
    eprintln!(
        "under fault: {} ok ({} after the kill), {} unavailable, slowest call {:?}, workers done after {:?}",
        total.ok,
        total.ok_after_kill,
        total.unavailable,
        total.slowest,
        start.elapsed()
    );
    assert!(total.other.is_empty(), "only Unavailable is acceptable: {:?}", total.other);
    assert!(total.slowest <= RESPONSE_TIMEOUT + Duration::from_secs(1), "a call took {:?}", total.slowest);
    assert!(total.ok > 0, "calls succeed before the kill");
    assert!(total.unavailable > 0, "calls fail after the kill");
    assert_eq!(total.ok_after_kill, 0, "nothing succeeds against a dead server");

    // While Redis is down, a call is still bounded.
    let t = Instant::now();
    assert!(matches!(s.get("before").await, Err(StoreError::Unavailable(_))));
    assert!(t.elapsed() <= RESPONSE_TIMEOUT + Duration::from_secs(1), "took {:?}", t.elapsed());

    // Same port, fresh (empty) server: the store reconnects by itself.
    let _server = RedisServer::start_on(port);
    let restarted = Instant::now();
    let mut attempts = 0u32;
    loop {
        attempts += 1;
        let t = Instant::now();
        let r = s.put("after", json!("back"), None).await;
        assert!(t.elapsed() <= RESPONSE_TIMEOUT + Duration::from_secs(1), "a call took {:?}", t.elapsed());
        match r {
            Ok(()) => break,
            Err(StoreError::Unavailable(e)) => {
                assert!(
                    restarted.elapsed() < RECOVER_WITHIN,
                    "still failing {RECOVER_WITHIN:?} after the restart: {e}"
                );
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(e) => panic!("unexpected error while recovering: {e}"),
        }
    }
    eprintln!("recovered {:?} after the restart ({attempts} attempts)", restarted.elapsed());
    // Everything works again, including the compare-and-swap script (the new server
    // has an empty script cache, so EVALSHA must fall back to loading it).
    assert_eq!(s.get("after").await.unwrap().unwrap().value, json!("back"));
    assert!(s.get("before").await.unwrap().is_none(), "the restarted server kept nothing (no persistence)");
    for _ in 0..10 {
        update(&*s, "counter", None, |old| Some(Value::from(old.and_then(Value::as_i64).unwrap_or(0) + 1)))
            .await
            .unwrap();
    }
    assert_eq!(s.get("counter").await.unwrap().unwrap().value, json!(10));
    assert_eq!(s.delete_prefix("").await.unwrap(), 2);
    s.ping().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_frozen_redis_times_out_and_answers_stay_matched_after_it_resumes() {
    let server = RedisServer::start();
    let cfg = RedisStoreConfig::new(server.url()).response_timeout(Duration::from_millis(500));
    let s = RedisStore::with_config(cfg).await.expect("connect");
    for i in 0..5 {
        s.put(&format!("k{i}"), json!(i), None).await.unwrap();
    }
    // SIGSTOP: the TCP connection stays open but nothing answers.
    server.signal("STOP");
    for i in 0..5 {
        let t = Instant::now();
        let r = s.get(&format!("k{i}")).await;
        assert!(matches!(r, Err(StoreError::Unavailable(_))), "{r:?}");
        assert!(t.elapsed() < Duration::from_millis(1500), "a call took {:?}", t.elapsed());
    }
    server.signal("CONT");
    // The answers to the timed-out commands arrive late; they must not be taken for the
    // answers to later commands.
    let deadline = Instant::now() + RECOVER_WITHIN;
    loop {
        match s.get("k3").await {
            Ok(e) => {
                assert_eq!(e.unwrap().value, json!(3));
                break;
            }
            Err(e) => assert!(Instant::now() < deadline, "no recovery after SIGCONT: {e}"),
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    for i in 0..5 {
        assert_eq!(s.get(&format!("k{i}")).await.unwrap().unwrap().value, json!(i));
    }
}
