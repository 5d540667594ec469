//! The event store contract on file and in-memory databases, plus what only a durable
//! store can do: survive a restart, purge by age, and report corrupt rows.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ferromcp_core::events::{EventId, EventStore, Retention, SessionRecord, StreamKey, contract};
use ferromcp_core::session::new_session_id;
use ferromcp_core::state::StoreError;
use ferromcp_sqlite::SqliteEventStore;

/// A database file in the temp directory, deleted (with its WAL files) on drop.
struct TempDb(PathBuf);

impl TempDb {
    fn new() -> Self {
        TempDb(std::env::temp_dir().join(format!("ferromcp-sqlite-{}.db", new_session_id())))
    }

    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDb {
    fn drop(&mut self) {
        for suffix in ["", "-wal", "-shm", "-journal"] {
            let mut p = self.0.clone().into_os_string();
            p.push(suffix);
            let _ = std::fs::remove_file(p);
        }
    }
}

fn record(id: &str) -> SessionRecord {
    SessionRecord {
        id: id.to_owned(),
        principal: Some("sha256:abc".into()),
        version: "2025-11-25".into(),
        capabilities: serde_json::json!({"sampling": {}}),
        client_info: Some(serde_json::json!({"name": "c", "version": "1"})),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn passes_the_event_store_contract_on_a_file() {
    let db = TempDb::new();
    contract::run(|| SqliteEventStore::open(db.path()).expect("open")).await;
    let dbs = Mutex::new(Vec::new());
    contract::run_retention(|r| {
        let db = TempDb::new();
        let store = SqliteEventStore::open(db.path()).expect("open").with_retention(r);
        dbs.lock().unwrap().push(db);
        store
    })
    .await;
}

#[tokio::test]
async fn passes_the_event_store_contract_in_memory() {
    contract::run(|| SqliteEventStore::open_in_memory().expect("open")).await;
    contract::run_retention(|r| SqliteEventStore::open_in_memory().expect("open").with_retention(r)).await;
}

#[tokio::test]
async fn events_and_records_survive_a_restart() {
    let db = TempDb::new();
    let session = new_session_id();
    let (a, b) = (StreamKey::new(session.clone()), StreamKey::new(session.clone()));
    let payloads: Vec<bytes::Bytes> = vec!["".into(), "{\"n\":1}".into(), vec![0u8, 255, 10, 13].into()];
    let mut ids = Vec::new();
    {
        let store = SqliteEventStore::open(db.path()).expect("open");
        for p in &payloads {
            ids.push(store.append(&a, p.clone()).await.expect("append"));
            store.append(&b, "other stream".into()).await.expect("append");
        }
        store.save_session(&record(&session)).await.expect("save_session");
    }
    let store = SqliteEventStore::open(db.path()).expect("reopen");
    let replayed = store.replay_after(&session, &ids[0]).await.expect("replay").expect("events survive a restart");
    assert_eq!(replayed.iter().map(|e| &e.id).collect::<Vec<_>>(), ids[1..].iter().collect::<Vec<_>>());
    assert_eq!(replayed.iter().map(|e| &e.data).collect::<Vec<_>>(), payloads[1..].iter().collect::<Vec<_>>());
    assert_eq!(store.load_session(&session).await.expect("load"), Some(record(&session)), "the record survives");
    assert_eq!(store.append(&a, "after".into()).await.expect("append").seq, 4, "seqs continue after a restart");
    store.remove_session(&session).await.expect("remove_session");
    assert_eq!(store.load_session(&session).await.expect("load"), None);
    assert_eq!(store.event_count().await.expect("count"), 0);
}

#[tokio::test]
async fn the_purge_task_deletes_expired_events_without_reads() {
    let db = TempDb::new();
    let r = Retention { max_age: Duration::from_millis(200), ..Retention::default() };
    let store = SqliteEventStore::open(db.path()).expect("open").with_retention(r);
    let key = StreamKey::new(new_session_id());
    for i in 0..5 {
        store.append(&key, format!("e{i}").into()).await.expect("append");
    }
    assert_eq!(store.event_count().await.expect("count"), 5);
    // The purge task runs every second at most; give a loaded machine some slack.
    let mut left = 5;
    for _ in 0..100 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        left = store.event_count().await.expect("count");
        if left == 0 {
            break;
        }
    }
    assert_eq!(left, 0, "the purge task deletes expired events on its own");
    assert_eq!(store.append(&key, "late".into()).await.expect("append").seq, 6, "the stream keeps its seqs");
    let last = EventId { stream: key.stream.clone(), seq: 5 };
    let got = store.replay_after(&key.session, &last).await.expect("replay").expect("nothing was missed");
    assert_eq!(got.len(), 1);
}

#[tokio::test]
async fn corrupt_rows_are_errors_not_panics() {
    let db = TempDb::new();
    let store = SqliteEventStore::open(db.path()).expect("open");
    let key = StreamKey::new(new_session_id());
    let first = store.append(&key, "one".into()).await.expect("append");
    store.append(&key, "two".into()).await.expect("append");
    store.save_session(&record(&key.session)).await.expect("save_session");
    let raw = rusqlite::Connection::open(db.path()).expect("raw connection");
    raw.execute("UPDATE events SET data = 42 WHERE seq = 2", []).expect("corrupt an event");
    raw.execute("UPDATE sessions SET record = 'not json'", []).expect("corrupt a record");
    let replay = store.replay_after(&key.session, &first).await;
    assert!(matches!(replay, Err(StoreError::Corrupt { .. })), "a non-blob payload is Corrupt: {replay:?}");
    let load = store.load_session(&key.session).await;
    assert!(matches!(load, Err(StoreError::Corrupt { .. })), "an unreadable record is Corrupt: {load:?}");
    raw.execute("UPDATE sessions SET record = ?1", [serde_json::to_string(&record("someone-else")).unwrap()])
        .expect("swap a record");
    let load = store.load_session(&key.session).await;
    assert!(matches!(load, Err(StoreError::Corrupt { .. })), "a record for another id is Corrupt: {load:?}");
}

#[tokio::test]
async fn a_newer_schema_is_refused() {
    let db = TempDb::new();
    drop(SqliteEventStore::open(db.path()).expect("open"));
    rusqlite::Connection::open(db.path()).unwrap().pragma_update(None, "user_version", 99).unwrap();
    let err = SqliteEventStore::open(db.path()).expect_err("a newer schema is refused");
    assert!(matches!(err, StoreError::Unavailable(ref m) if m.contains("newer")), "{err}");
}

#[tokio::test]
async fn a_shared_store_serves_concurrent_sessions() {
    let store = Arc::new(SqliteEventStore::open_in_memory().expect("open"));
    let tasks: Vec<_> = (0..4)
        .map(|_| {
            let store = store.clone();
            tokio::spawn(async move {
                let key = StreamKey::new(new_session_id());
                for i in 1..=20 {
                    assert_eq!(store.append(&key, "x".into()).await.expect("append").seq, i);
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.expect("task");
    }
    assert_eq!(store.event_count().await.expect("count"), 80);
}

/// Group commit: 64 appends in flight at once (several share a batch) each get their
/// own seq in order, a stolen stream's append in the middle fails alone, and every
/// acknowledged event is in the file after a reopen.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batched_appends_keep_order_and_fail_alone() {
    let db = TempDb::new();
    let store = Arc::new(SqliteEventStore::open(db.path()).expect("open"));
    let keys: Vec<StreamKey> = (0..8).map(|_| StreamKey::new(new_session_id())).collect();
    let victim = keys[0].clone();
    store.append(&victim, "first".into()).await.expect("append");
    let stolen = StreamKey { session: "intruder".into(), stream: victim.stream.clone() };
    let mut tasks = Vec::new();
    for key in &keys[1..] {
        let (store, key) = (store.clone(), key.clone());
        tasks.push(tokio::spawn(async move {
            for i in 1..=8u64 {
                let id = store.append(&key, format!("e{i}").into_bytes().into()).await.expect("append");
                assert_eq!(id.seq, i, "seqs follow the order of acknowledged appends");
            }
        }));
    }
    let intruder = store.append(&stolen, "x".into()).await;
    assert!(matches!(intruder, Err(StoreError::Corrupt { .. })), "{intruder:?}");
    for t in tasks {
        t.await.expect("task");
    }
    drop(store);
    let reopened = SqliteEventStore::open(db.path()).expect("reopen");
    assert_eq!(reopened.event_count().await.expect("count"), 1 + 7 * 8, "no acknowledged event lost");
    for key in &keys[1..] {
        let first = EventId { stream: key.stream.clone(), seq: 0 };
        let got = reopened.replay_after(&key.session, &first).await.expect("replay").expect("retained");
        let data: Vec<String> = got.iter().map(|e| String::from_utf8_lossy(&e.data).into_owned()).collect();
        assert_eq!(data, (1..=8).map(|i| format!("e{i}")).collect::<Vec<_>>());
    }
    let first = EventId { stream: victim.stream.clone(), seq: 0 };
    let got = reopened.replay_after(&victim.session, &first).await.expect("replay").expect("retained");
    assert_eq!(got.len(), 1, "the intruder's event was rolled back alone");
}
