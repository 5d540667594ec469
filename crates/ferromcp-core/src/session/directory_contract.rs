//! The contract every [`SessionDirectory`] must satisfy, as a reusable async test suite.
//!
//! Backends call [`run`] from their tests with a function that makes a fresh, empty
//! directory (its own key prefix or database): the checks of the cluster-wide bound and of
//! the sweep need a directory no other test writes to. A broken rule panics with a message
//! naming it. Waits are short (a few hundred milliseconds) and bounded.
//!
//! ```no_run
//! # async fn t() {
//! use ferromcp_core::session::{MemorySessionDirectory, directory_contract};
//! directory_contract::run(MemorySessionDirectory::new).await;
//! # }
//! ```

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use serde_json::json;

use super::directory::{Change, DirectoryRecord, SessionDirectory, Touched};
use super::{SessionLimits, new_session_id};
use crate::events::SessionRecord;

/// Runs every check against directories made by `make` (one fresh directory per check).
pub async fn run<D, F>(make: F)
where
    D: SessionDirectory,
    F: Fn() -> D,
{
    round_trip(&make()).await;
    changes_bump_the_revision(&make()).await;
    remove_claims_once(&make()).await;
    full_directory_sheds_the_least_recently_seen(&make()).await;
    sweep_claims_only_idle_sessions(&make()).await;
    concurrent_claims_are_exclusive(Arc::new(make())).await;
}

/// A record with every field set, under a fresh id.
pub fn sample_record() -> DirectoryRecord {
    DirectoryRecord::new(SessionRecord {
        id: new_session_id().to_string(),
        principal: Some("p-hash".into()),
        version: "2025-11-25".into(),
        capabilities: json!({ "elicitation": {}, "roots": { "listChanged": true } }),
        client_info: Some(json!({ "name": "contract", "version": "1.0" })),
    })
}

fn limits() -> SessionLimits {
    SessionLimits::default()
}

async fn round_trip<D: SessionDirectory>(d: &D) {
    let rec = sample_record();
    assert!(d.create(&rec, &limits()).await.expect("create").is_empty(), "create in an empty directory sheds nothing");
    assert_eq!(d.load(rec.id()).await.expect("load"), Some(rec.clone()), "load returns the record as created");
    assert_eq!(d.touch(rec.id(), rec.rev, &limits()).await.expect("touch"), Touched::Unchanged);
    assert_eq!(
        d.touch(rec.id(), 0, &limits()).await.expect("touch"),
        Touched::Changed(Box::new(rec.clone())),
        "touch with revision 0 returns the whole record"
    );
    assert_eq!(d.load("no-such-session").await.expect("load"), None);
    assert_eq!(d.touch("no-such-session", 0, &limits()).await.expect("touch"), Touched::Gone);
    assert_eq!(d.update("no-such-session", &Change::LogLevel(1)).await.expect("update"), None);
    assert_eq!(d.load("no-such-session").await.expect("load"), None, "update creates nothing");
    d.remove(rec.id()).await.expect("remove");
}

async fn changes_bump_the_revision<D: SessionDirectory>(d: &D) {
    let mut rec = sample_record();
    d.create(&rec, &limits()).await.expect("create");
    let changes = [
        Change::LogLevel(4),
        Change::Subscribe("file:///a".into()),
        Change::Subscribe("file:///b c".into()),
        Change::Unsubscribe("file:///a".into()),
        Change::Overlay(true),
    ];
    for (i, c) in changes.iter().enumerate() {
        let rev = d.update(rec.id(), c).await.expect("update");
        assert_eq!(rev, Some(rec.rev + i as u64 + 1), "each change bumps the revision by one ({c:?})");
    }
    for c in &changes {
        rec.apply(c);
    }
    rec.rev += changes.len() as u64;
    assert_eq!((rec.log_level, rec.overlay, rec.subscriptions.len()), (4, true, 1));
    match d.touch(rec.id(), 1, &limits()).await.expect("touch") {
        Touched::Changed(got) => assert_eq!(*got, rec, "a node holding revision 1 gets every change"),
        other => panic!("a changed record must be reported as changed, got {other:?}"),
    }
    assert_eq!(d.touch(rec.id(), rec.rev, &limits()).await.expect("touch"), Touched::Unchanged);
    d.remove(rec.id()).await.expect("remove");
}

async fn remove_claims_once<D: SessionDirectory>(d: &D) {
    let rec = sample_record();
    d.create(&rec, &limits()).await.expect("create");
    d.update(rec.id(), &Change::LogLevel(2)).await.expect("update");
    let got = d.remove(rec.id()).await.expect("remove").expect("the first remove claims the session");
    assert_eq!((got.id(), got.log_level, got.rev), (rec.id(), 2, 2), "remove returns the current record");
    assert_eq!(d.remove(rec.id()).await.expect("remove"), None, "a second remove claims nothing");
    assert_eq!(d.touch(rec.id(), 0, &limits()).await.expect("touch"), Touched::Gone);
    assert_eq!(d.load(rec.id()).await.expect("load"), None);
}

async fn full_directory_sheds_the_least_recently_seen<D: SessionDirectory>(d: &D) {
    let limits = SessionLimits::default().max_sessions(3);
    let recs: Vec<_> = (0..3).map(|_| sample_record()).collect();
    for r in &recs {
        assert!(d.create(r, &limits).await.expect("create").is_empty(), "below the bound nothing is shed");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    // recs[0] becomes the most recently seen; recs[1] the least.
    tokio::time::sleep(Duration::from_millis(5)).await;
    assert_eq!(d.touch(recs[0].id(), 1, &limits).await.expect("touch"), Touched::Unchanged);
    let fourth = sample_record();
    let shed = d.create(&fourth, &limits).await.expect("create");
    let shed_ids: Vec<&str> = shed.iter().map(DirectoryRecord::id).collect();
    assert_eq!(shed_ids, [recs[1].id()], "a full directory sheds exactly its least recently seen session");
    assert_eq!(shed[0], recs[1], "the shed session's record comes back whole");
    assert_eq!(d.load(recs[1].id()).await.expect("load"), None, "the shed session is gone");
    for r in [&recs[0], &recs[2], &fourth] {
        assert!(d.load(r.id()).await.expect("load").is_some(), "the others stay");
        d.remove(r.id()).await.expect("remove");
    }
}

async fn sweep_claims_only_idle_sessions<D: SessionDirectory>(d: &D) {
    let limits = SessionLimits::default().idle_timeout(Some(Duration::from_millis(250)));
    let never = SessionLimits::default().idle_timeout(None);
    let (a, b) = (sample_record(), sample_record());
    d.create(&a, &limits).await.expect("create");
    d.create(&b, &limits).await.expect("create");
    assert!(d.sweep(&limits, 100).await.expect("sweep").is_empty(), "nothing is idle yet");
    tokio::time::sleep(Duration::from_millis(150)).await;
    assert_eq!(d.touch(a.id(), 1, &limits).await.expect("touch"), Touched::Unchanged);
    tokio::time::sleep(Duration::from_millis(150)).await;
    assert_eq!(d.touch(b.id(), 1, &limits).await.expect("touch"), Touched::Gone, "an idle session is not revived");
    assert!(d.sweep(&never, 100).await.expect("sweep").is_empty(), "without an idle timeout nothing expires");
    let swept = d.sweep(&limits, 100).await.expect("sweep");
    assert_eq!(swept.iter().map(DirectoryRecord::id).collect::<Vec<_>>(), [b.id()], "only the idle session is claimed");
    assert_eq!(swept[0], b, "the sweep returns the whole record");
    assert!(d.sweep(&limits, 100).await.expect("sweep").is_empty(), "a claimed session is not claimed again");
    assert_eq!(d.touch(a.id(), 1, &limits).await.expect("touch"), Touched::Unchanged, "the active one lives");
    d.remove(a.id()).await.expect("remove");
}

async fn concurrent_claims_are_exclusive<D: SessionDirectory>(d: Arc<D>) {
    const N: usize = 60;
    let limits = SessionLimits::default().idle_timeout(Some(Duration::from_millis(100)));
    let recs: Vec<_> = (0..N).map(|_| sample_record()).collect();
    for r in &recs {
        d.create(r, &limits).await.expect("create");
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut tasks = Vec::new();
    for _ in 0..4 {
        let d = d.clone();
        tasks.push(tokio::spawn(async move {
            let mut got = Vec::new();
            for _ in 0..N {
                let batch = d.sweep(&limits, 7).await.expect("sweep");
                if batch.is_empty() {
                    break;
                }
                got.extend(batch.into_iter().map(|r| r.session.id));
            }
            got
        }));
    }
    for r in recs.iter().step_by(3) {
        let (d, id) = (d.clone(), r.session.id.clone());
        tasks.push(tokio::spawn(async move {
            d.remove(&id).await.expect("remove").map(|r| r.session.id).into_iter().collect()
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(tokio::time::timeout(Duration::from_secs(20), t).await.expect("claims end in time").expect("task"));
    }
    let unique: HashSet<&String> = all.iter().collect();
    assert_eq!(unique.len(), all.len(), "no session is claimed twice");
    assert_eq!(all.len(), N, "every idle session is claimed exactly once");
}
