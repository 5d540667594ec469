//! The contract every [`StateStore`] must satisfy, as a reusable async test suite.
//! Backends call [`run`] from their tests; it panics with a message naming the broken
//! rule. Each run uses a fresh random key namespace, so it can share a real Redis with
//! other runs.
//!
//! ```no_run
//! # async fn t() {
//! ferromcp_core::state::contract::run(ferromcp_core::state::MemoryStore::new).await;
//! # }
//! ```

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};

use super::{StateStore, Version, update};

fn namespace() -> String {
    format!("contract:{}:", crate::session::new_session_id())
}

/// Runs every contract check against stores made by `make`.
pub async fn run<S, F>(make: F)
where
    S: StateStore,
    F: Fn() -> S,
{
    round_trips(&make(), &namespace()).await;
    overwrite_and_delete(&make(), &namespace()).await;
    ttl_expires(&make(), &namespace()).await;
    compare_and_swap(&make(), &namespace()).await;
    delete_prefix(&make(), &namespace()).await;
    odd_keys(&make(), &namespace()).await;
    count_prefix(&make(), &namespace()).await;
    concurrent_updates_are_atomic(Arc::new(make()), &namespace()).await;
}

async fn round_trips<S: StateStore>(s: &S, ns: &str) {
    assert!(s.get(&format!("{ns}missing")).await.expect("get").is_none(), "a missing key reads as None");
    let values = [
        json!(null),
        json!(true),
        json!(-42),
        json!(1.5),
        json!("héllo \"quoted\" \n line"),
        json!([1, "two", {"three": 3}]),
        json!({"nested": {"deep": [1, 2, {"x": null}]}, "n": 7}),
    ];
    for (i, v) in values.iter().enumerate() {
        let k = format!("{ns}v{i}");
        s.put(&k, v.clone(), None).await.expect("put");
        let got = s.get(&k).await.expect("get").expect("value present after put");
        assert_eq!(&got.value, v, "value {i} round-trips unchanged");
    }
}

async fn overwrite_and_delete<S: StateStore>(s: &S, ns: &str) {
    let k = format!("{ns}k");
    s.put(&k, json!(1), None).await.expect("put");
    let v1 = s.get(&k).await.expect("get").expect("present").version;
    s.put(&k, json!(2), None).await.expect("put");
    let e2 = s.get(&k).await.expect("get").expect("present");
    assert_eq!(e2.value, json!(2), "a second put overwrites");
    assert_ne!(e2.version, v1, "an overwrite changes the version");
    assert!(s.delete(&k).await.expect("delete"), "delete of an existing key returns true");
    assert!(!s.delete(&k).await.expect("delete"), "delete of a missing key returns false");
    assert!(s.get(&k).await.expect("get").is_none(), "a deleted key reads as None");
}

async fn ttl_expires<S: StateStore>(s: &S, ns: &str) {
    let short = format!("{ns}short");
    let long = format!("{ns}long");
    s.put(&short, json!("soon gone"), Some(Duration::from_millis(300))).await.expect("put");
    s.put(&long, json!("stays"), Some(Duration::from_secs(60))).await.expect("put");
    assert!(s.get(&short).await.expect("get").is_some(), "a value is readable before its TTL");
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert!(s.get(&short).await.expect("get").is_none(), "a value is gone after its TTL");
    assert!(s.get(&long).await.expect("get").is_some(), "a value with a longer TTL stays");
    let cas = format!("{ns}cas-ttl");
    assert!(s.compare_and_swap(&cas, None, Some(json!(1)), Some(Duration::from_millis(300))).await.expect("cas"));
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert!(s.get(&cas).await.expect("get").is_none(), "a TTL given to compare_and_swap applies");
}

async fn compare_and_swap<S: StateStore>(s: &S, ns: &str) {
    let k = format!("{ns}c");
    assert!(s.compare_and_swap(&k, None, Some(json!(1)), None).await.expect("cas"), "create-if-absent succeeds");
    assert!(
        !s.compare_and_swap(&k, None, Some(json!(2)), None).await.expect("cas"),
        "create-if-absent fails when present"
    );
    let e = s.get(&k).await.expect("get").expect("present");
    assert_eq!(e.value, json!(1), "a failed swap changes nothing");
    let stale = Version::Raw("not-a-version".into());
    assert!(!s.compare_and_swap(&k, Some(&stale), Some(json!(3)), None).await.expect("cas"), "a stale version fails");
    assert!(
        s.compare_and_swap(&k, Some(&e.version), Some(json!(4)), None).await.expect("cas"),
        "the current version wins"
    );
    assert!(
        !s.compare_and_swap(&k, Some(&e.version), Some(json!(5)), None).await.expect("cas"),
        "a version cannot be used twice"
    );
    let e = s.get(&k).await.expect("get").expect("present");
    assert_eq!(e.value, json!(4));
    assert!(s.compare_and_swap(&k, Some(&e.version), None, None).await.expect("cas"), "swap to None deletes");
    assert!(s.get(&k).await.expect("get").is_none());
    let missing = format!("{ns}never");
    assert!(
        !s.compare_and_swap(&missing, Some(&e.version), Some(json!(1)), None).await.expect("cas"),
        "a version does not match an absent key"
    );
}

async fn delete_prefix<S: StateStore>(s: &S, ns: &str) {
    for k in ["p:a", "p:b", "p:c:d", "q:a", "pp:a"] {
        s.put(&format!("{ns}{k}"), json!(k), None).await.expect("put");
    }
    let n = s.delete_prefix(&format!("{ns}p:")).await.expect("delete_prefix");
    assert_eq!(n, 3, "delete_prefix removes exactly the keys under the prefix");
    assert!(s.get(&format!("{ns}p:a")).await.expect("get").is_none());
    assert!(s.get(&format!("{ns}q:a")).await.expect("get").is_some(), "other prefixes stay");
    assert!(s.get(&format!("{ns}pp:a")).await.expect("get").is_some(), "a longer sibling prefix stays");
}

/// `count_prefix` is optional (`None`); a store that counts counts exactly the live keys
/// under the prefix, up to the limit.
async fn count_prefix<S: StateStore>(s: &S, ns: &str) {
    for k in ["p:a", "p:b", "p:c:d", "q:a", "pp:a"] {
        s.put(&format!("{ns}{k}"), json!(k), None).await.expect("put");
    }
    s.put(&format!("{ns}p:gone"), json!(1), Some(Duration::from_millis(50))).await.expect("put");
    tokio::time::sleep(Duration::from_millis(150)).await;
    let Some(n) = s.count_prefix(&format!("{ns}p:"), 100).await.expect("count_prefix") else {
        eprintln!("state store contract: the store does not count prefixes; count checks skipped");
        return;
    };
    assert_eq!(n, 3, "count_prefix counts the live keys under the prefix only");
    let capped = s.count_prefix(&format!("{ns}p:"), 2).await.expect("count_prefix");
    assert!(capped.is_some_and(|n| n >= 2), "counting may stop at the limit but not below it");
    assert_eq!(s.count_prefix(&format!("{ns}none:"), 100).await.expect("count_prefix"), Some(0));
}

async fn odd_keys<S: StateStore>(s: &S, ns: &str) {
    let odd = ["with space", "glob*?[x]", "uni-☃-é", "colon:and:more", "back\\slash", "quote\"'"];
    for k in odd {
        s.put(&format!("{ns}odd:{k}"), json!(k), None).await.expect("put");
    }
    s.put(&format!("{ns}oddx"), json!("sibling"), None).await.expect("put");
    for k in odd {
        let got = s.get(&format!("{ns}odd:{k}")).await.expect("get").expect("odd key present");
        assert_eq!(got.value, json!(k));
    }
    // Glob characters in a prefix must match literally.
    s.put(&format!("{ns}glob*"), json!(1), None).await.expect("put");
    s.put(&format!("{ns}globber"), json!(1), None).await.expect("put");
    assert_eq!(s.delete_prefix(&format!("{ns}glob*")).await.expect("delete_prefix"), 1, "`*` in a prefix is literal");
    assert!(s.get(&format!("{ns}globber")).await.expect("get").is_some());
    assert_eq!(s.delete_prefix(&format!("{ns}odd:")).await.expect("delete_prefix"), odd.len() as u64);
    assert!(s.get(&format!("{ns}oddx")).await.expect("get").is_some());
}

async fn concurrent_updates_are_atomic<S: StateStore>(s: Arc<S>, ns: &str) {
    let key = format!("{ns}counter");
    let mut tasks = Vec::new();
    for _ in 0..20 {
        let s = s.clone();
        let key = key.clone();
        tasks.push(tokio::spawn(async move {
            for _ in 0..50 {
                update(&*s, &key, None, |old| Some(Value::from(old.and_then(Value::as_i64).unwrap_or(0) + 1)))
                    .await
                    .expect("update");
            }
        }));
    }
    for t in tasks {
        t.await.expect("task");
    }
    let v = s.get(&key).await.expect("get").expect("present").value;
    assert_eq!(v, json!(1000), "20 tasks x 50 atomic increments end at exactly 1000");
}
