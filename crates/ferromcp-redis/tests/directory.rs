//! The [`SessionDirectory`] contract, run against both implementations side by side: the
//! in-process [`MemorySessionDirectory`] and [`RedisSessionDirectory`] on a real Redis
//! (a throwaway `redis-server` on its own loopback port), plus the Redis layout checks
//! (key prefixes keep clusters apart; a claimed session leaves no key).

mod common;

use std::sync::Mutex;

use common::{RedisServer, raw_connection};
use ferromcp_core::session::{
    Change, MemorySessionDirectory, SessionDirectory, SessionLimits, Touched, directory_contract,
};
use ferromcp_redis::{RedisSessionDirectory, RedisStoreConfig};

#[tokio::test]
async fn the_memory_directory_passes_the_contract() {
    directory_contract::run(MemorySessionDirectory::new).await;
}

/// Directories on one Redis, each under its own key prefix (the contract wants a fresh,
/// empty directory per check).
async fn fresh_directories(server: &RedisServer, n: usize) -> Mutex<Vec<RedisSessionDirectory>> {
    let mut dirs = Vec::new();
    for i in 0..n {
        let cfg = RedisStoreConfig::new(server.url()).key_prefix(format!("contract{i}:"));
        dirs.push(RedisSessionDirectory::with_config(cfg).await.expect("connect"));
    }
    Mutex::new(dirs)
}

#[tokio::test]
async fn the_redis_directory_passes_the_contract() {
    let server = RedisServer::start();
    let dirs = fresh_directories(&server, 6).await;
    directory_contract::run(|| dirs.lock().unwrap().pop().expect("one directory per check")).await;
    // Every check cleaned up after itself: no session key or index is left.
    let mut con = raw_connection(&server).await;
    let keys: Vec<String> = redis::cmd("KEYS").arg("*").query_async(&mut con).await.expect("KEYS");
    assert!(keys.is_empty(), "claimed sessions leave no key behind: {keys:?}");
}

#[tokio::test]
async fn key_prefixes_keep_clusters_apart_and_a_claim_leaves_no_key() {
    let server = RedisServer::start();
    let a = RedisSessionDirectory::with_config(RedisStoreConfig::new(server.url()).key_prefix("a:")).await.unwrap();
    let b = RedisSessionDirectory::with_config(RedisStoreConfig::new(server.url()).key_prefix("b:")).await.unwrap();
    let limits = SessionLimits::default();
    let rec = directory_contract::sample_record();
    a.create(&rec, &limits).await.unwrap();
    assert_eq!(b.touch(rec.id(), 0, &limits).await.unwrap(), Touched::Gone, "another prefix is another cluster");
    assert_eq!(b.update(rec.id(), &Change::LogLevel(3)).await.unwrap(), None);
    assert_eq!(b.remove(rec.id()).await.unwrap(), None);
    let mut con = raw_connection(&server).await;
    let keys: Vec<String> = redis::cmd("KEYS").arg("*").query_async(&mut con).await.unwrap();
    let mut keys: Vec<&str> = keys.iter().map(String::as_str).collect();
    keys.sort();
    let hash = format!("a:ferromcp:dir:s:{}", rec.id());
    assert_eq!(keys, [hash.as_str(), "a:ferromcp:dir:seen"], "one hash per session and one index, under the prefix");
    let ttl: i64 = redis::cmd("PTTL").arg(&hash).query_async(&mut con).await.unwrap();
    assert!(ttl > 0, "a session hash expires by itself if no node is left to claim it (PTTL {ttl})");
    assert!(a.remove(rec.id()).await.unwrap().is_some());
    let keys: Vec<String> = redis::cmd("KEYS").arg("*").query_async(&mut con).await.unwrap();
    assert!(keys.is_empty(), "a claimed session leaves no key: {keys:?}");
}

#[tokio::test]
async fn an_unreachable_redis_is_an_unavailable_error_and_the_directory_recovers() {
    let mut server = RedisServer::start();
    let port = server.port();
    let cfg = RedisStoreConfig::new(server.url())
        .key_prefix("outage:")
        .response_timeout(std::time::Duration::from_millis(300))
        .connection_timeout(std::time::Duration::from_millis(300));
    let dir = RedisSessionDirectory::with_config(cfg).await.unwrap();
    let limits = SessionLimits::default();
    let rec = directory_contract::sample_record();
    dir.create(&rec, &limits).await.unwrap();
    server.kill();
    let err = dir.touch(rec.id(), 1, &limits).await.expect_err("no Redis, no answer");
    assert!(matches!(err, ferromcp_core::state::StoreError::Unavailable(_)), "{err:?}");
    let _server = RedisServer::start_on(port);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        match dir.create(&rec, &limits).await {
            Ok(_) => break,
            Err(e) if std::time::Instant::now() < deadline => {
                let _ = e;
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            }
            Err(e) => panic!("the directory did not recover within 10 s: {e}"),
        }
    }
    assert_eq!(dir.touch(rec.id(), 1, &limits).await.unwrap(), Touched::Unchanged);
}
