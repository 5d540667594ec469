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

use super::{ScopeLimit, StateStore, StoreError, Version, update};

fn namespace() -> String {
    format!("contract:{}:", crate::ids::new_session_id())
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
    scope_limit(&make(), &namespace()).await;
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

/// The keys-per-scope limit of the `*_in_scope` methods, with a limit of 3. Skipped for
/// a store that neither refuses nor counts (the trait's defaults do not enforce the limit
/// on a store without `count_prefix`).
async fn scope_limit<S: StateStore>(s: &S, ns: &str) {
    let prefix = format!("{ns}scope:");
    let scope = ScopeLimit { prefix: &prefix, max_keys: 3 };
    let key = |k: &str| format!("{prefix}{k}");
    s.put_in_scope(&key("a"), json!(1), Some(Duration::from_secs(1)), scope).await.expect("put_in_scope");
    s.put_in_scope(&key("b"), json!(2), None, scope).await.expect("put_in_scope");
    let created = s.compare_and_swap_in_scope(&key("c"), None, Some(json!(3)), None, scope).await;
    assert!(created.expect("compare_and_swap_in_scope"), "a third key fits a scope of 3");
    match s.put_in_scope(&key("d"), json!(4), None, scope).await {
        Err(StoreError::ScopeFull { prefix: p, max_keys: 3 }) => assert_eq!(p, prefix, "the error names the scope"),
        Ok(()) if s.count_prefix(&prefix, 3).await.expect("count_prefix").is_none() => {
            eprintln!("state store contract: the store does not enforce keys per scope; scope checks skipped");
            return;
        }
        other => panic!("a fourth key in a scope of 3 is refused with ScopeFull, got {other:?}"),
    }
    assert!(s.get(&key("d")).await.expect("get").is_none(), "a refused write changes nothing");
    let r = s.compare_and_swap_in_scope(&key("d"), None, Some(json!(4)), None, scope).await;
    assert!(full(&r), "creating a key by compare-and-swap in a full scope is refused too: {r:?}");
    s.put_in_scope(&key("b"), json!(20), None, scope).await.expect("overwriting a key of a full scope works");
    let c = s.get(&key("c")).await.expect("get").expect("present");
    let r = s.compare_and_swap_in_scope(&key("c"), Some(&c.version), Some(json!(30)), None, scope).await;
    assert!(r.expect("compare_and_swap_in_scope"), "updating a key of a full scope works");
    let r = s.compare_and_swap_in_scope(&key("b"), None, Some(json!(5)), None, scope).await;
    assert!(!r.expect("compare_and_swap_in_scope"), "create-if-absent of a present key fails as usual");
    let other = format!("{ns}scope-other:");
    let other_scope = ScopeLimit { prefix: &other, max_keys: 3 };
    s.put_in_scope(&format!("{other}d"), json!(1), None, other_scope).await.expect("another scope has its own count");

    assert!(s.delete_in_scope(&key("b"), &prefix).await.expect("delete_in_scope"), "deleting a present key: true");
    assert!(!s.delete_in_scope(&key("b"), &prefix).await.expect("delete_in_scope"), "deleting it again: false");
    s.put_in_scope(&key("d"), json!(4), None, scope).await.expect("a deleted key frees its slot");
    assert!(full(&s.put_in_scope(&key("e"), json!(5), None, scope).await), "full again");
    tokio::time::sleep(Duration::from_millis(1500)).await;
    s.put_in_scope(&key("e"), json!(5), None, scope).await.expect("an expired key frees its slot");
    let d = s.get(&key("d")).await.expect("get").expect("present");
    let r = s.compare_and_swap_in_scope(&key("d"), Some(&d.version), None, None, scope).await;
    assert!(r.expect("compare_and_swap_in_scope"), "a swap to None deletes");
    s.put_in_scope(&key("f"), json!(6), None, scope).await.expect("a key deleted by a swap frees its slot");
    assert!(full(&s.put_in_scope(&key("g"), json!(7), None, scope).await), "full again");

    s.delete_prefix(&prefix).await.expect("delete_prefix");
    for k in ["x", "y", "z"] {
        s.put_in_scope(&key(k), json!(k), None, scope).await.expect("a cleared scope has room for its limit again");
    }
    assert!(full(&s.put_in_scope(&key("w"), json!(1), None, scope).await), "and no more");
    assert_eq!(s.get(&format!("{other}d")).await.expect("get").map(|e| e.value), Some(json!(1)), "other scope kept");
}

fn full<T>(r: &Result<T, StoreError>) -> bool {
    matches!(r, Err(StoreError::ScopeFull { max_keys: 3, .. }))
}

/// The keys-per-scope limit holds under concurrency: 16 tasks create distinct keys (by
/// `put_in_scope` and `compare_and_swap_in_scope`) in a scope of 4 at once, and exactly
/// 4 succeed. For stores that check the limit atomically with the write (the memory and
/// Redis stores, and an [`EncryptedStore`](super::EncryptedStore) over either); the
/// trait's default methods do not pass it.
pub async fn scope_limit_is_atomic<S: StateStore>(s: Arc<S>) {
    let prefix = format!("{}scope:", namespace());
    let mut tasks = Vec::new();
    for i in 0..16 {
        let (s, prefix) = (s.clone(), prefix.clone());
        tasks.push(tokio::spawn(async move {
            let scope = ScopeLimit { prefix: &prefix, max_keys: 4 };
            let key = format!("{prefix}k{i}");
            let r = if i % 2 == 0 {
                s.put_in_scope(&key, json!(i), None, scope).await.map(|()| true)
            } else {
                s.compare_and_swap_in_scope(&key, None, Some(json!(i)), None, scope).await
            };
            match r {
                Ok(created) => created,
                Err(StoreError::ScopeFull { .. }) => false,
                Err(e) => panic!("a write in a scope fails only with ScopeFull: {e}"),
            }
        }));
    }
    let mut created = 0;
    for t in tasks {
        created += usize::from(t.await.expect("task"));
    }
    assert_eq!(created, 4, "16 concurrent new keys in a scope of 4: exactly 4 are created");
    let mut present = 0;
    for i in 0..16 {
        present += usize::from(s.get(&format!("{prefix}k{i}")).await.expect("get").is_some());
    }
    assert_eq!(present, 4, "exactly 4 keys are stored");
    s.delete_prefix(&prefix).await.expect("delete_prefix");
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
