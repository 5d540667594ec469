//! The contract every [`EventStore`] must satisfy, as a reusable async test suite.
//!
//! Backends call [`run`] (default limits) and [`run_retention`] (small limits, so
//! eviction and expiry are observable) from their tests, and [`run_byte_bounds`] if they
//! enforce [`Retention::max_bytes_per_stream`] and [`Retention::max_bytes`]; a broken rule panics with a
//! message naming it. Every check uses fresh random session ids, so [`run`] can share
//! a database with other runs; [`run_retention`] needs stores whose limits apply to
//! them alone (a fresh database per call of its `make`).
//!
//! ```no_run
//! # async fn t() {
//! use ferromcp_core::events::{MemoryEventStore, contract};
//! contract::run(MemoryEventStore::new).await;
//! contract::run_retention(MemoryEventStore::with_retention).await;
//! # }
//! ```
//!
//! Session records are checked only if the store persists them: a store whose
//! [`load_session`](EventStore::load_session) returns `None` for a record it was just
//! given is taken to keep none (like the memory store), and the check is skipped with
//! a note on stderr.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use serde_json::json;

use super::{EventId, EventStore, Retention, SessionRecord, StoredEvent, StreamKey};
use crate::ids::new_session_id;

/// Runs every contract check that holds under default retention against stores made
/// by `make`.
pub async fn run<S, F>(make: F)
where
    S: EventStore,
    F: Fn() -> S,
{
    ids_and_replay(&make()).await;
    streams_do_not_mix(&make()).await;
    foreign_and_unknown_ids_miss(&make()).await;
    remove_session(&make()).await;
    concurrent_appends(Arc::new(make())).await;
    session_records(&make()).await;
}

/// Runs the retention checks: `make` receives the limits the store must enforce.
pub async fn run_retention<S, F>(make: F)
where
    S: EventStore,
    F: Fn(Retention) -> S,
{
    per_stream_cap(&make(Retention { max_events_per_stream: 5, ..Retention::default() })).await;
    max_streams(&make(Retention { max_streams: 3, ..Retention::default() })).await;
    max_age(&make(Retention { max_age: Duration::from_millis(300), ..Retention::default() })).await;
}

/// Runs the byte-bound checks: `make` receives the limits the store must enforce.
pub async fn run_byte_bounds<S, F>(make: F)
where
    S: EventStore,
    F: Fn(Retention) -> S,
{
    let ten = 10 * Retention::event_cost(100);
    per_stream_bytes(&make(Retention::default().with_max_bytes_per_stream(ten))).await;
    total_bytes(&make(Retention::default().with_max_bytes(ten))).await;
}

async fn replay<S: EventStore>(s: &S, session: &str, stream: &Arc<str>, seq: u64) -> Option<Vec<StoredEvent>> {
    s.replay_after(session, &EventId { stream: stream.clone(), seq }).await.expect("replay_after")
}

fn seqs(events: &[StoredEvent]) -> Vec<u64> {
    events.iter().map(|e| e.id.seq).collect()
}

async fn ids_and_replay<S: EventStore>(s: &S) {
    let session = new_session_id();
    let key = StreamKey::new(session.clone());
    let payloads = [
        Bytes::new(),
        Bytes::from_static(br#"{"jsonrpc":"2.0","method":"notifications/progress","params":{"progress":1}}"#),
        Bytes::from("h\u{e9}llo \n\ndata: not a field\r\n \u{2603} \"quoted\"".as_bytes().to_vec()),
        Bytes::from((0..=255u8).cycle().take(300_000).collect::<Vec<u8>>()),
        Bytes::from_static(b"\0\xff\xfe\0"),
        Bytes::from(json!({"jsonrpc": "2.0", "id": 7, "result": {"text": "x".repeat(70_000)}}).to_string()),
    ];
    let mut ids = Vec::new();
    for (i, p) in payloads.iter().enumerate() {
        let id = s.append(&key, p.clone()).await.expect("append");
        assert_eq!(id.stream, key.stream, "append returns an id in the key's stream");
        assert_eq!(id.seq, i as u64 + 1, "seqs start at 1 and grow by one per event");
        assert_eq!(EventId::parse(&id.to_string()).as_ref(), Some(&id), "an id round-trips through its text form");
        ids.push(id);
    }
    let n = ids.len();
    for k in 1..=n {
        let got = s
            .replay_after(&session, &ids[k - 1])
            .await
            .expect("replay_after")
            .unwrap_or_else(|| panic!("replay after retained id {k} is Some"));
        assert_eq!(got.len(), n - k, "replay after id {k} returns exactly the events after it");
        for (j, ev) in got.iter().enumerate() {
            assert_eq!(ev.id, ids[k + j], "replay after id {k} is in order, with the ids append returned");
            assert!(ev.data == payloads[k + j], "event {} replays byte for byte", k + j + 1);
        }
    }
    let last = replay(s, &session, &key.stream, n as u64).await;
    assert_eq!(last, Some(Vec::new()), "replay after the last id is empty, not None");
    let again = replay(s, &session, &key.stream, 1).await.expect("replay after id 1");
    assert_eq!(again.len(), n - 1, "replay does not consume events");
}

async fn streams_do_not_mix<S: EventStore>(s: &S) {
    let session = new_session_id();
    let (a, b) = (StreamKey::new(session.clone()), StreamKey::new(session.clone()));
    for i in 0..4 {
        assert_eq!(s.append(&a, format!("a{i}").into()).await.expect("append").seq, i + 1);
        let id = s.append(&b, format!("b{i}").into()).await.expect("append");
        assert_eq!(id.seq, i + 1, "each stream numbers its own events from 1");
    }
    for (key, tag) in [(&a, "a"), (&b, "b")] {
        let got = replay(s, &session, &key.stream, 1).await.expect("replay of a stream of the session");
        assert_eq!(seqs(&got), [2, 3, 4], "replay returns the stream's own events");
        for ev in &got {
            assert_eq!(ev.id.stream, key.stream, "replayed ids name the replayed stream");
            assert!(ev.data.starts_with(tag.as_bytes()), "two streams of one session never mix");
        }
    }
}

async fn foreign_and_unknown_ids_miss<S: EventStore>(s: &S) {
    let (mine, theirs) = (new_session_id(), new_session_id());
    let key = StreamKey::new(mine.clone());
    for i in 0..3 {
        s.append(&key, format!("e{i}").into()).await.expect("append");
    }
    s.append(&StreamKey::new(theirs.clone()), "other".into()).await.expect("append");
    assert!(replay(s, &theirs, &key.stream, 1).await.is_none(), "another session's id misses");
    assert!(replay(s, "", &key.stream, 1).await.is_none(), "an empty session misses");
    assert!(replay(s, &mine, &new_session_id(), 1).await.is_none(), "an unknown stream misses");
    assert!(replay(s, &mine, &key.stream, 4).await.is_none(), "an id never handed out misses");
    assert!(replay(s, &mine, &key.stream, u64::MAX).await.is_none(), "a huge seq misses");
    let prefix: Arc<str> = key.stream[..key.stream.len() - 1].into();
    let longer: Arc<str> = format!("{}x", key.stream).into();
    let odd = ["", "has space", "x'; DROP TABLE events; --", "a.b", "%", "*", "\u{2603}"];
    for stream in odd.iter().map(|s| Arc::from(*s)).chain([prefix, longer]) {
        assert!(replay(s, &mine, &stream, 1).await.is_none(), "malformed or unknown stream {stream:?} misses");
    }
    let got = replay(s, &mine, &key.stream, 1).await.expect("replay after odd look-ups");
    assert_eq!(seqs(&got), [2, 3], "look-ups that miss change nothing");
}

async fn remove_session<S: EventStore>(s: &S) {
    let (gone, kept) = (new_session_id(), new_session_id());
    let (g1, g2, k) = (StreamKey::new(gone.clone()), StreamKey::new(gone.clone()), StreamKey::new(kept.clone()));
    for key in [&g1, &g2, &k, &g1, &k] {
        s.append(key, "x".into()).await.expect("append");
    }
    s.remove_session(&gone).await.expect("remove_session");
    assert!(replay(s, &gone, &g1.stream, 1).await.is_none(), "a removed session's streams miss");
    assert!(replay(s, &gone, &g2.stream, 0).await.is_none(), "every stream of a removed session misses");
    let got = replay(s, &kept, &k.stream, 1).await.expect("replay of another session");
    assert_eq!(seqs(&got), [2], "remove_session does not touch other sessions");
    s.remove_session(&gone).await.expect("removing a session twice is fine");
    s.remove_session(&new_session_id()).await.expect("removing an unknown session is fine");
}

async fn concurrent_appends<S: EventStore>(s: Arc<S>) {
    let session = new_session_id();
    let key = StreamKey::new(session.clone());
    let mut tasks = Vec::new();
    for t in 0..8 {
        let (s, key) = (s.clone(), key.clone());
        tasks.push(tokio::spawn(async move {
            let mut out = Vec::new();
            for i in 0..25 {
                let data = Bytes::from(format!("t{t}-{i}"));
                let id = s.append(&key, data.clone()).await.expect("append");
                out.push((id.seq, data));
            }
            out
        }));
    }
    let mut appended = Vec::new();
    for t in tasks {
        appended.extend(t.await.expect("append task"));
    }
    appended.sort_by_key(|(seq, _)| *seq);
    let got: Vec<u64> = appended.iter().map(|(seq, _)| *seq).collect();
    assert_eq!(got, (1..=200).collect::<Vec<_>>(), "8 tasks x 25 concurrent appends get unique, gap-free seqs");
    let replayed = replay(&*s, &session, &key.stream, 1).await.expect("replay after concurrent appends");
    assert_eq!(replayed.len(), 199);
    for (ev, (seq, data)) in replayed.iter().zip(&appended[1..]) {
        assert_eq!((ev.id.seq, &ev.data), (*seq, data), "each event replays the bytes appended under its id");
    }
}

async fn session_records<S: EventStore>(s: &S) {
    let id = new_session_id();
    let mut record = SessionRecord {
        id: id.to_string(),
        principal: Some("sha256:abc".into()),
        version: "2025-11-25".into(),
        capabilities: json!({"roots": {"listChanged": true}, "x": "\u{e9}"}),
        client_info: Some(json!({"name": "client", "version": "1.0"})),
    };
    s.save_session(&record).await.expect("save_session");
    match s.load_session(&id).await.expect("load_session") {
        None => {
            eprintln!("event store contract: the store keeps no session records; record checks skipped");
            return;
        }
        Some(got) => assert_eq!(got, record, "a saved session record loads unchanged"),
    }
    record.principal = None;
    record.client_info = None;
    record.version = "2025-06-18".into();
    s.save_session(&record).await.expect("save_session");
    assert_eq!(s.load_session(&id).await.expect("load_session"), Some(record.clone()), "saving again replaces");
    assert_eq!(s.load_session(&new_session_id()).await.expect("load_session"), None, "an unknown record is None");
    let other = SessionRecord { id: new_session_id().to_string(), ..record.clone() };
    s.save_session(&other).await.expect("save_session");
    s.append(&StreamKey::new(id.clone()), "x".into()).await.expect("append");
    s.remove_session(&id).await.expect("remove_session");
    assert_eq!(s.load_session(&id).await.expect("load_session"), None, "remove_session forgets the record");
    assert_eq!(s.load_session(&other.id).await.expect("load_session"), Some(other), "and only that record");
}

async fn per_stream_cap<S: EventStore>(s: &S) {
    let session = new_session_id();
    let key = StreamKey::new(session.clone());
    for i in 1..=12 {
        s.append(&key, format!("e{i}").into()).await.expect("append");
    }
    let got = replay(s, &session, &key.stream, 8).await.expect("replay after a retained id (cap 5)");
    assert_eq!(seqs(&got), [9, 10, 11, 12], "replay after a retained id works");
    assert_eq!(got[0].data, "e9", "retained events keep their bytes");
    let got = replay(s, &session, &key.stream, 7).await.expect("replay after the id before the oldest kept");
    assert_eq!(seqs(&got), [8, 9, 10, 11, 12], "the newest max_events_per_stream events are kept");
    assert!(replay(s, &session, &key.stream, 6).await.is_none(), "replay after an evicted id misses (event 7 is gone)");
    assert!(replay(s, &session, &key.stream, 1).await.is_none(), "replay after a long-evicted id misses");
    assert_eq!(s.append(&key, "e13".into()).await.expect("append").seq, 13, "eviction does not reset seqs");
}

async fn max_streams<S: EventStore>(s: &S) {
    let session = new_session_id();
    let keys: Vec<StreamKey> = (0..4).map(|_| StreamKey::new(session.clone())).collect();
    for k in &keys[..3] {
        s.append(k, "first".into()).await.expect("append");
    }
    s.append(&keys[0], "second".into()).await.expect("append");
    s.append(&keys[3], "first".into()).await.expect("append");
    assert!(
        replay(s, &session, &keys[1].stream, 0).await.is_none()
            && replay(s, &session, &keys[1].stream, 1).await.is_none(),
        "with max_streams 3, a fourth stream evicts the least recently appended one"
    );
    let got = replay(s, &session, &keys[0].stream, 1).await.expect("a recently appended stream stays");
    assert_eq!(seqs(&got), [2]);
    for k in &keys[2..] {
        assert_eq!(replay(s, &session, &k.stream, 1).await, Some(Vec::new()), "the other streams stay");
    }
}

async fn max_age<S: EventStore>(s: &S) {
    let session = new_session_id();
    let key = StreamKey::new(session.clone());
    s.append(&key, "old 1".into()).await.expect("append");
    s.append(&key, "old 2".into()).await.expect("append");
    assert!(replay(s, &session, &key.stream, 1).await.is_some(), "a fresh event replays");
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert!(replay(s, &session, &key.stream, 1).await.is_none(), "replay over an expired event (max_age) misses");
    let id = s.append(&key, "new".into()).await.expect("append");
    assert_eq!(id.seq, 3, "an append after every event expired continues the stream's seqs");
    let got = replay(s, &session, &key.stream, 2).await.expect("replay after the last expired id");
    assert_eq!((seqs(&got), &got[0].data[..]), (vec![3], &b"new"[..]), "only the fresh event replays");
}

fn hundred(i: u64) -> Bytes {
    Bytes::from(format!("{i:0>100}"))
}

async fn per_stream_bytes<S: EventStore>(s: &S) {
    let session = new_session_id();
    let key = StreamKey::new(session.clone());
    for i in 1..=15 {
        s.append(&key, hundred(i)).await.expect("append");
    }
    let got = replay(s, &session, &key.stream, 5).await.expect("replay within the byte cap");
    assert_eq!(seqs(&got), (6..=15).collect::<Vec<_>>(), "the newest events that fit max_bytes_per_stream stay");
    assert_eq!(got[0].data, hundred(6), "retained events keep their bytes");
    assert!(replay(s, &session, &key.stream, 4).await.is_none(), "an event beyond the byte cap was dropped");
    let huge = Bytes::from(vec![b'x'; 11 * Retention::event_cost(100)]);
    assert_eq!(s.append(&key, huge).await.expect("append of an oversized event").seq, 16);
    assert!(replay(s, &session, &key.stream, 15).await.is_none(), "an event larger than the cap is not kept");
    assert_eq!(replay(s, &session, &key.stream, 16).await, Some(Vec::new()), "the stream goes on after it");
    assert_eq!(s.append(&key, hundred(17)).await.expect("append").seq, 17);
}

async fn total_bytes<S: EventStore>(s: &S) {
    let session = new_session_id();
    let (a, b) = (StreamKey::new(session.clone()), StreamKey::new(session.clone()));
    for i in 1..=6 {
        s.append(&a, hundred(i)).await.expect("append");
    }
    for i in 1..=6 {
        s.append(&b, hundred(i)).await.expect("append");
    }
    let got = replay(s, &session, &a.stream, 2).await.expect("replay of the older stream");
    assert_eq!(seqs(&got), [3, 4, 5, 6], "max_bytes drops the oldest events of all streams first");
    assert!(replay(s, &session, &a.stream, 1).await.is_none(), "the two oldest events are gone");
    let got = replay(s, &session, &b.stream, 0).await.expect("replay of the newer stream");
    assert_eq!(seqs(&got), [1, 2, 3, 4, 5, 6], "the newer stream is whole");
}
