//! `RedisEventStore` against a real, throwaway `redis-server`: the core event-store
//! contract, replay across two store instances ("nodes"), trimming by length and age,
//! the key prefix, clean-up, and a Redis outage.

mod common;

use std::sync::Mutex;
use std::time::Duration;

use bytes::Bytes;
use common::{RedisServer, raw_connection};
use ferromcp_core::events::{EventId, EventStore, Retention, SessionRecord, StreamKey, contract};
use ferromcp_core::session::new_session_id;
use ferromcp_core::state::StoreError;
use ferromcp_redis::{RedisEventStore, RedisStore, RedisStoreConfig};

async fn events(server: &RedisServer, prefix: &str) -> RedisEventStore {
    RedisEventStore::with_config(RedisStoreConfig::new(server.url()).key_prefix(prefix)).await.expect("connect")
}

/// Every key in the database, sorted.
async fn all_keys(server: &RedisServer) -> Vec<String> {
    let mut con = raw_connection(server).await;
    let mut keys: Vec<String> = redis::cmd("KEYS").arg("*").query_async(&mut con).await.expect("KEYS");
    keys.sort();
    keys
}

async fn xlen(server: &RedisServer, key: &str) -> u64 {
    let mut con = raw_connection(server).await;
    redis::cmd("XLEN").arg(key).query_async(&mut con).await.expect("XLEN")
}

fn seqs(events: &[ferromcp_core::events::StoredEvent]) -> Vec<u64> {
    events.iter().map(|e| e.id.seq).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn passes_the_event_store_contract() {
    let server = RedisServer::start();
    let s = events(&server, "app:").await;
    contract::run(|| s.clone()).await;
    // The retention checks need limits that apply to one store alone: a fresh key
    // prefix per store (connected up front, since `make` is synchronous).
    let mut fresh = Vec::new();
    for i in 0..3 {
        fresh.push(events(&server, &format!("retention-{i}:")).await);
    }
    let fresh = Mutex::new(fresh);
    contract::run_retention(|r| fresh.lock().unwrap().pop().expect("a store per retention check").with_retention(r))
        .await;
    assert!(fresh.lock().unwrap().is_empty(), "run_retention made one store per check");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn passes_the_contract_without_a_key_prefix_and_sharing_a_state_store_connection() {
    let server = RedisServer::start();
    let state = RedisStore::connect(&server.url()).await.expect("connect");
    let s = RedisEventStore::from_store(&state);
    contract::run(|| s.clone()).await;
    let keys = all_keys(&server).await;
    assert!(keys.iter().all(|k| k.starts_with("ferromcp:ev:")), "every key is in the store's namespace: {keys:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nodes_on_one_redis_replay_each_others_events() {
    let server = RedisServer::start();
    let (a, b) = (events(&server, "cluster:").await, events(&server, "cluster:").await);
    let session = new_session_id();
    let key = StreamKey::new(session.clone());
    // Node A writes the first half of the stream, node B (the client's POST landed
    // there) the second; seqs continue across nodes.
    for i in 1..=3 {
        assert_eq!(a.append(&key, format!("a{i}").into()).await.expect("append on A").seq, i);
    }
    for i in 4..=6 {
        assert_eq!(b.append(&key, format!("b{i}").into()).await.expect("append on B").seq, i);
    }
    // A `Last-Event-ID` parsed from the wire, resumed on either node.
    let last = EventId::parse(&format!("{}.2", key.stream)).expect("event id");
    for node in [&a, &b] {
        let got = node.replay_after(&session, &last).await.expect("replay").expect("the stream is known on every node");
        assert_eq!(seqs(&got), [3, 4, 5, 6]);
        let data: Vec<&[u8]> = got.iter().map(|e| &e.data[..]).collect();
        assert_eq!(data, [&b"a3"[..], b"b4", b"b5", b"b6"]);
    }
    // Ownership holds across nodes, and so does removal.
    assert!(b.replay_after(&new_session_id(), &last).await.expect("replay").is_none(), "another session misses");
    let record = SessionRecord {
        id: session.to_string(),
        principal: None,
        version: "2025-11-25".into(),
        capabilities: serde_json::json!({}),
        client_info: None,
    };
    a.save_session(&record).await.expect("save on A");
    assert_eq!(b.load_session(&session).await.expect("load on B"), Some(record), "B restores A's session");
    b.remove_session(&session).await.expect("remove on B");
    assert!(a.replay_after(&session, &last).await.expect("replay").is_none(), "B's removal is seen by A");
    assert_eq!(a.load_session(&session).await.expect("load"), None);
    // A cluster with another prefix on the same Redis sees nothing of this one.
    let other = events(&server, "other-cluster:").await;
    let k2 = StreamKey::new(session.clone());
    a.append(&k2, "x".into()).await.expect("append");
    let first = EventId { stream: k2.stream.clone(), seq: 0 };
    assert!(other.replay_after(&session, &first).await.expect("replay").is_none(), "prefixes keep clusters apart");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trims_by_length_in_redis_and_exactly_on_replay() {
    let server = RedisServer::start();
    let s = events(&server, "len:").await.with_retention(Retention::default().with_max_events_per_stream(50));
    let session = new_session_id();
    let key = StreamKey::new(session.clone());
    for i in 1..=2000u64 {
        s.append(&key, Bytes::from(i.to_string())).await.expect("append");
    }
    let len = xlen(&server, &format!("len:ferromcp:ev:s:{}", key.stream)).await;
    assert_eq!(len, 50, "the Redis stream holds exactly the newest 50 entries");
    let got = s.replay_after(&session, &EventId { stream: key.stream.clone(), seq: 1950 }).await.expect("replay");
    assert_eq!(seqs(&got.expect("the last 50 events are kept")), (1951..=2000).collect::<Vec<_>>());
    let beyond = EventId { stream: key.stream.clone(), seq: 1949 };
    assert!(s.replay_after(&session, &beyond).await.expect("replay").is_none(), "event 1950 is beyond the bound");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trims_by_age_in_redis_and_idle_streams_expire_whole() {
    let server = RedisServer::start();
    let s =
        events(&server, "age:").await.with_retention(Retention::default().with_max_age(Duration::from_millis(1000)));
    let session = new_session_id();
    let key = StreamKey::new(session.clone());
    for i in 0..300 {
        s.append(&key, format!("old{i}").into()).await.expect("append");
    }
    tokio::time::sleep(Duration::from_millis(1300)).await;
    s.append(&key, "new".into()).await.expect("append");
    let stream_key = format!("age:ferromcp:ev:s:{}", key.stream);
    assert_eq!(xlen(&server, &stream_key).await, 1, "an append trims the expired events (XTRIM MINID)");
    let got = s.replay_after(&session, &EventId { stream: key.stream.clone(), seq: 300 }).await.expect("replay");
    assert_eq!(seqs(&got.expect("the fresh event replays")), [301]);
    tokio::time::sleep(Duration::from_millis(1300)).await;
    assert!(!all_keys(&server).await.contains(&stream_key), "a stream nobody appends to expires whole");
    assert_eq!(s.append(&key, "later".into()).await.expect("append").seq, 302, "its seqs go on");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn removing_every_session_leaves_only_the_stream_order() {
    let server = RedisServer::start();
    let s = events(&server, "clean:").await;
    let sessions: Vec<_> = (0..5).map(|_| new_session_id()).collect();
    for session in &sessions {
        for _ in 0..3 {
            let key = StreamKey::new(session.clone());
            s.append(&key, "x".into()).await.expect("append");
        }
        let record = SessionRecord {
            id: session.to_string(),
            principal: Some("p".into()),
            version: "2025-06-18".into(),
            capabilities: serde_json::json!({}),
            client_info: None,
        };
        s.save_session(&record).await.expect("save");
    }
    let mut con = raw_connection(&server).await;
    let ttl: i64 = redis::cmd("PTTL")
        .arg(format!("clean:ferromcp:ev:r:{}", sessions[0]))
        .query_async(&mut con)
        .await
        .expect("PTTL");
    assert!(ttl > 0 && ttl <= 30 * 60 * 1000, "session records expire (PTTL {ttl})");
    for session in &sessions {
        s.remove_session(session).await.expect("remove");
    }
    assert_eq!(all_keys(&server).await, ["clean:ferromcp:ev:clock"], "nothing of any session is left");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redis_outage_is_unavailable_then_recovers() {
    let mut server = RedisServer::start();
    let port = server.port();
    let cfg = RedisStoreConfig::new(server.url()).response_timeout(Duration::from_millis(500));
    let s = RedisEventStore::with_config(cfg).await.expect("connect");
    let session = new_session_id();
    let key = StreamKey::new(session.clone());
    s.append(&key, "before".into()).await.expect("append");
    server.kill();
    let first = EventId { stream: key.stream.clone(), seq: 0 };
    for _ in 0..3 {
        assert!(matches!(s.append(&key, "x".into()).await, Err(StoreError::Unavailable(_))));
        assert!(matches!(s.replay_after(&session, &first).await, Err(StoreError::Unavailable(_))));
        assert!(matches!(s.load_session(&session).await, Err(StoreError::Unavailable(_))));
        assert!(matches!(s.remove_session(&session).await, Err(StoreError::Unavailable(_))));
    }
    let _server = RedisServer::start_on(port);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let id = loop {
        match s.append(&key, "after".into()).await {
            Ok(id) => break id,
            Err(StoreError::Unavailable(_)) if tokio::time::Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(100)).await
            }
            Err(e) => panic!("no recovery within 10 s: {e}"),
        }
    };
    // The restarted Redis kept nothing (no persistence): the stream starts over.
    assert_eq!(id.seq, 1);
    let got = s.replay_after(&session, &first).await.expect("replay").expect("stream");
    assert_eq!(got[0].data, "after");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_appends_on_two_nodes_get_unique_gap_free_seqs() {
    let server = RedisServer::start();
    let (a, b) = (events(&server, "race:").await, events(&server, "race:").await);
    let session = new_session_id();
    let key = StreamKey::new(session.clone());
    let mut tasks = Vec::new();
    for (t, node) in [a.clone(), b.clone(), a.clone(), b.clone()].into_iter().enumerate() {
        let key = key.clone();
        tasks.push(tokio::spawn(async move {
            let mut seqs = Vec::new();
            for i in 0..50 {
                seqs.push((node.append(&key, format!("n{t}-{i}").into()).await.expect("append").seq, t, i));
            }
            seqs
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.expect("task"));
    }
    all.sort();
    assert_eq!(all.iter().map(|x| x.0).collect::<Vec<_>>(), (1..=200).collect::<Vec<_>>(), "one seq per event");
    let got = b.replay_after(&session, &EventId { stream: key.stream.clone(), seq: 0 }).await.expect("replay");
    let got = got.expect("the stream");
    for (ev, (seq, t, i)) in got.iter().zip(&all) {
        assert_eq!((ev.id.seq, &ev.data[..]), (*seq, format!("n{t}-{i}").as_bytes()), "bytes under their own id");
    }
}

fn hundred(i: u64) -> Bytes {
    Bytes::from(format!("{i:0>100}"))
}

/// The per-stream byte bound, as the memory store keeps it (the core contract's
/// `run_byte_bounds` also checks the total byte bound, which this store does not keep).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trims_by_bytes_per_stream() {
    let server = RedisServer::start();
    let ten = 10 * Retention::event_cost(100);
    let s = events(&server, "bytes:").await.with_retention(Retention::default().with_max_bytes_per_stream(ten));
    let session = new_session_id();
    let key = StreamKey::new(session.clone());
    let at = |seq| EventId { stream: key.stream.clone(), seq };
    for i in 1..=15 {
        s.append(&key, hundred(i)).await.expect("append");
    }
    let got = s.replay_after(&session, &at(5)).await.expect("replay").expect("within the byte bound");
    assert_eq!(seqs(&got), (6..=15).collect::<Vec<_>>(), "the newest events that fit stay");
    assert_eq!(got[0].data, hundred(6));
    assert!(s.replay_after(&session, &at(4)).await.expect("replay").is_none(), "event 5 was dropped");
    assert_eq!(xlen(&server, &format!("bytes:ferromcp:ev:s:{}", key.stream)).await, 10);
    let huge = Bytes::from(vec![b'x'; 11 * Retention::event_cost(100)]);
    assert_eq!(s.append(&key, huge).await.expect("append of an oversized event").seq, 16);
    assert!(s.replay_after(&session, &at(15)).await.expect("replay").is_none(), "an oversized event is not kept");
    assert_eq!(s.replay_after(&session, &at(16)).await.expect("replay"), Some(Vec::new()), "the stream goes on");
    assert_eq!(s.append(&key, hundred(17)).await.expect("append").seq, 17);
    let got = s.replay_after(&session, &at(16)).await.expect("replay").expect("after the oversized event");
    assert_eq!((seqs(&got), &got[0].data), (vec![17], &hundred(17)));
    // Small events again: the count of bytes is right, so exactly ten fit once more.
    for i in 18..=40 {
        s.append(&key, hundred(i)).await.expect("append");
    }
    let got = s.replay_after(&session, &at(30)).await.expect("replay").expect("the newest ten");
    assert_eq!(seqs(&got), (31..=40).collect::<Vec<_>>());
    assert!(s.replay_after(&session, &at(29)).await.expect("replay").is_none());
}
