//! `RedisStore` against a real `redis-server` (started by the tests themselves).

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{RedisServer, free_port, raw_connection};
use ferromcp_core::state::{EncryptedStore, ScopeLimit, StateStore, StoreError, Version, contract, update};
use ferromcp_redis::{RedisStore, RedisStoreConfig};
use serde_json::{Value, json};

async fn store(server: &RedisServer) -> RedisStore {
    RedisStore::connect(&server.url()).await.expect("connect to the test redis")
}

async fn raw_get(server: &RedisServer, key: &str) -> Option<Vec<u8>> {
    let mut con = raw_connection(server).await;
    redis::cmd("GET").arg(key).query_async(&mut con).await.expect("raw GET")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn passes_the_store_contract() {
    let server = RedisServer::start();
    let s = store(&server).await;
    contract::run(|| s.clone()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn passes_the_store_contract_with_a_key_prefix_full_of_glob_characters() {
    let server = RedisServer::start();
    let cfg = RedisStoreConfig::new(server.url()).key_prefix(r"app*?[1]\:");
    let s = RedisStore::with_config(cfg).await.expect("connect");
    contract::run(|| s.clone()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn passes_the_store_contract_encrypted_and_redis_holds_no_plain_text() {
    let server = RedisServer::start();
    let s = store(&server).await;
    contract::run(|| EncryptedStore::new(s.clone(), b"key")).await;

    let enc = EncryptedStore::new(s.clone(), b"key");
    let secret = "alice@example.com / hunter2";
    enc.put("user:1", json!({"email": secret}), None).await.unwrap();
    let raw = raw_get(&server, "user:1").await.expect("the key exists in redis");
    let raw = String::from_utf8(raw).expect("stored as UTF-8 JSON text");
    assert!(raw.starts_with("\"fenc1:"), "stored as an encrypted JSON string: {raw}");
    for leak in ["alice", "example.com", "hunter2", "email"] {
        assert!(!raw.contains(leak), "redis holds plain text `{leak}`: {raw}");
    }
    assert_eq!(enc.get("user:1").await.unwrap().unwrap().value, json!({"email": secret}));
    // The plain store sees only the ciphertext string; another key material cannot read it.
    assert!(s.get("user:1").await.unwrap().unwrap().value.is_string());
    let other = EncryptedStore::new(s.clone(), b"other key");
    assert!(matches!(other.get("user:1").await, Err(StoreError::Corrupt { .. })));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_updates_from_20_tasks_are_atomic() {
    let server = RedisServer::start();
    let s = Arc::new(store(&server).await);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..20 {
        let s = s.clone();
        tasks.push(tokio::spawn(async move {
            for _ in 0..50 {
                update(&*s, "counter", None, |old| Some(Value::from(old.and_then(Value::as_i64).unwrap_or(0) + 1)))
                    .await
                    .expect("update");
            }
        }));
    }
    for t in tasks {
        tokio::time::timeout(Duration::from_secs(60), t).await.expect("tasks finish within 60 s").expect("task");
    }
    assert_eq!(s.get("counter").await.unwrap().unwrap().value, json!(1000));
    eprintln!("1000 atomic increments (20 tasks x 50) in {:?}", started.elapsed());
}

#[tokio::test]
async fn a_ttl_is_a_native_redis_expiry() {
    let server = RedisServer::start();
    let s = store(&server).await;
    let mut con = raw_connection(&server).await;
    let pttl = |con: &mut redis::aio::MultiplexedConnection, k: &'static str| {
        let mut con = con.clone();
        async move { redis::cmd("PTTL").arg(k).query_async::<i64>(&mut con).await.expect("PTTL") }
    };
    s.put("short", json!("soon gone"), Some(Duration::from_millis(300))).await.unwrap();
    s.put("forever", json!("stays"), None).await.unwrap();
    let left = pttl(&mut con, "short").await;
    assert!((1..=300).contains(&left), "PTTL right after a 300 ms put is in 1..=300, got {left}");
    assert_eq!(pttl(&mut con, "forever").await, -1, "a put without TTL has no expiry");
    assert!(s.get("short").await.unwrap().is_some());
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert!(s.get("short").await.unwrap().is_none(), "gone after its TTL");
    assert_eq!(pttl(&mut con, "short").await, -2, "redis no longer has the key");
    // A later put without TTL clears an earlier TTL; compare-and-swap sets one natively.
    s.put("forever", json!(1), Some(Duration::from_secs(60))).await.unwrap();
    s.put("forever", json!(2), None).await.unwrap();
    assert_eq!(pttl(&mut con, "forever").await, -1);
    let v = s.get("forever").await.unwrap().unwrap().version;
    assert!(s.compare_and_swap("forever", Some(&v), Some(json!(3)), Some(Duration::from_secs(5))).await.unwrap());
    assert!((4000..=5000).contains(&pttl(&mut con, "forever").await));
}

#[tokio::test]
async fn key_prefixes_keep_applications_apart() {
    let server = RedisServer::start();
    let with = |p: &str| RedisStore::with_config(RedisStoreConfig::new(server.url()).key_prefix(p));
    let (a, b) = (with("a:").await.unwrap(), with("b:").await.unwrap());
    assert_eq!(a.key_prefix(), Some("a:"));
    a.put("k", json!("from a"), None).await.unwrap();
    b.put("k", json!("from b"), None).await.unwrap();
    assert_eq!(a.get("k").await.unwrap().unwrap().value, json!("from a"));
    assert_eq!(raw_get(&server, "b:k").await.as_deref(), Some(&b"\"from b\""[..]), "stored as JSON text");
    assert_eq!(b.delete_prefix("").await.unwrap(), 1, "an empty prefix clears only this application");
    assert!(a.get("k").await.unwrap().is_some());
    assert!(b.get("k").await.unwrap().is_none());
}

#[tokio::test]
async fn foreign_values_read_as_corrupt_never_as_a_panic() {
    let server = RedisServer::start();
    let s = store(&server).await;
    let mut con = raw_connection(&server).await;
    let _: () = redis::cmd("HSET").arg("hash").arg("f").arg("v").query_async(&mut con).await.unwrap();
    let _: () = redis::cmd("SET").arg("text").arg("not json").query_async(&mut con).await.unwrap();
    let _: () = redis::cmd("SET").arg("bytes").arg(&[0xff_u8, 0xfe, 0x22][..]).query_async(&mut con).await.unwrap();
    for k in ["hash", "text", "bytes"] {
        assert!(matches!(s.get(k).await, Err(StoreError::Corrupt { ref key, .. }) if key == k), "get `{k}`");
    }
    assert!(matches!(s.compare_and_swap("hash", None, Some(json!(1)), None).await, Err(StoreError::Corrupt { .. })));
    // Plain writes and deletes replace foreign values; a counter version never matches.
    s.put("text", json!(1), None).await.unwrap();
    assert!(!s.compare_and_swap("text", Some(&Version::Counter(1)), Some(json!(2)), None).await.unwrap());
    assert!(s.delete("hash").await.unwrap());
    assert_eq!(s.delete_prefix("").await.unwrap(), 2);
    s.ping().await.unwrap();
}

#[tokio::test]
async fn connecting_to_nothing_fails_fast_and_bad_urls_are_rejected() {
    let started = Instant::now();
    let cfg = RedisStoreConfig::new(format!("redis://127.0.0.1:{}/", free_port()))
        .connection_timeout(Duration::from_millis(500))
        .response_timeout(Duration::from_millis(500));
    assert!(matches!(RedisStore::with_config(cfg).await, Err(StoreError::Unavailable(_))));
    assert!(started.elapsed() < Duration::from_secs(2), "took {:?}", started.elapsed());
    assert!(matches!(RedisStore::connect("not a url").await, Err(StoreError::Unavailable(_))));
    assert!(format!("{:?}", RedisStoreConfig::new("redis://:hunter2@host/")).find("hunter2").is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_scope_limit_holds_under_concurrent_writes_plain_and_encrypted() {
    let server = RedisServer::start();
    let s = store(&server).await;
    contract::scope_limit_is_atomic(Arc::new(s.clone())).await;
    contract::scope_limit_is_atomic(Arc::new(EncryptedStore::new(s, b"key"))).await;
}

/// Every Redis key whose name starts with `prefix` (SCAN: no KEYS on a shared server).
async fn raw_keys(server: &RedisServer, prefix: &str) -> Vec<Vec<u8>> {
    let mut con = raw_connection(server).await;
    let mut found = Vec::new();
    let mut cursor = 0u64;
    for _ in 0..1000 {
        let (next, keys): (u64, Vec<Vec<u8>>) = redis::cmd("SCAN")
            .arg(cursor)
            .arg("MATCH")
            .arg(format!("{prefix}*"))
            .query_async(&mut con)
            .await
            .expect("SCAN");
        found.extend(keys);
        if next == 0 {
            return found;
        }
        cursor = next;
    }
    panic!("SCAN did not finish");
}

#[tokio::test]
async fn a_scope_index_follows_the_scope_and_leaves_nothing_behind() {
    let server = RedisServer::start();
    let s = RedisStore::with_config(RedisStoreConfig::new(server.url()).key_prefix("app:")).await.unwrap();
    let mut con = raw_connection(&server).await;
    let scope = ScopeLimit { prefix: "ns:principal:p1:", max_keys: 2 };
    let index = b"app:ns:principal:p1:\xffkeys".to_vec();
    s.put_in_scope("ns:principal:p1:a", json!(1), Some(Duration::from_secs(60)), scope).await.unwrap();
    s.put_in_scope("ns:principal:p1:b", json!(2), Some(Duration::from_secs(30)), scope).await.unwrap();
    let members: Vec<String> = redis::cmd("ZRANGE").arg(&index).arg(0).arg(-1).query_async(&mut con).await.unwrap();
    assert_eq!(members, ["b", "a"], "the index holds the scope's keys without the prefix, by expiry");
    let pttl: i64 = redis::cmd("PTTL").arg(&index).query_async(&mut con).await.unwrap();
    assert!((50_000..=60_000).contains(&pttl), "the index expires with its longest-lived key: {pttl}");
    let r = s.put_in_scope("ns:principal:p1:c", json!(3), None, scope).await;
    assert!(matches!(r, Err(StoreError::ScopeFull { max_keys: 2, .. })), "{r:?}");
    s.put_in_scope("ns:principal:p1:b", json!(20), None, scope).await.unwrap();
    let pttl: i64 = redis::cmd("PTTL").arg(&index).query_async(&mut con).await.unwrap();
    assert_eq!(pttl, -1, "a key without expiry keeps the index without expiry");

    // Deleting every key of the scope removes the index; so does delete_prefix.
    assert!(s.delete_in_scope("ns:principal:p1:a", scope.prefix).await.unwrap());
    assert!(s.delete_in_scope("ns:principal:p1:b", scope.prefix).await.unwrap());
    assert!(raw_keys(&server, "app:ns:").await.is_empty(), "an emptied scope leaves no index");
    s.put_in_scope("ns:principal:p1:a", json!(1), None, scope).await.unwrap();
    s.put_in_scope("ns:principal:p1:b", json!(1), None, scope).await.unwrap();
    let other = ScopeLimit { prefix: "ns:principal:p2:", max_keys: 2 };
    s.put_in_scope("ns:principal:p2:a", json!(1), None, other).await.unwrap();
    assert_eq!(raw_keys(&server, "app:ns:principal:p1:").await.len(), 3, "two values and the index");
    assert_eq!(s.delete_prefix(scope.prefix).await.unwrap(), 2, "delete_prefix counts values, not the index");
    assert!(raw_keys(&server, "app:ns:principal:p1:").await.is_empty(), "delete_prefix leaves no index key");
    let left = raw_keys(&server, "app:").await;
    assert_eq!(left.len(), 2, "the other scope keeps its value and index: {left:?}");
    for k in ["x", "y"] {
        s.put_in_scope(&format!("ns:principal:p1:{k}"), json!(1), None, scope).await.expect("room after the clear");
    }
}

#[tokio::test]
async fn keys_written_before_the_index_can_be_overwritten_at_the_limit() {
    let server = RedisServer::start();
    let s = store(&server).await;
    let scope = ScopeLimit { prefix: "s:", max_keys: 1 };
    s.put("s:old", json!("from before the index"), None).await.unwrap();
    s.put_in_scope("s:new", json!(1), None, scope).await.unwrap();
    s.put_in_scope("s:old", json!(2), None, scope).await.expect("an existing key is never refused");
    let r = s.put_in_scope("s:third", json!(3), None, scope).await;
    assert!(matches!(r, Err(StoreError::ScopeFull { .. })), "{r:?}");
    assert!(s.get("s:third").await.unwrap().is_none());
}
