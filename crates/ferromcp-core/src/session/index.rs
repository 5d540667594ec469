//! The session table behind [`SessionRegistry`](super::SessionRegistry): sessions by id,
//! and an ordered index of them by last-seen time, per client, so that shedding and idle
//! expiry cost O(log n) instead of a scan of every session under the registry's lock.
//!
//! # Layout
//! - `map`: id → session (the hot path: `get` is one lookup and an atomic store).
//! - `clients`: for each client (its principal, else its address, else "anonymous"), its
//!   sessions ordered by the time they are *filed* under, `(filed_ms, id)`.
//! - `oldest`: every client filed under the time of its least recent session, so the
//!   globally least recently used session is the first session of the first client.
//!
//! # Lazy correction
//! Touching a session (`get`) only stores its `last_seen_ms`; the index is not updated.
//! A session's filed time is therefore never later than its real last-seen time (except
//! after a busy re-file, below, which counts as a use at that time). Shedding
//! and reaping look at the front of the index: an entry whose session was seen after it
//! was filed is re-filed at its real time and the search continues. Each touch causes at
//! most one re-file, so the cost is amortised O(log n) per touch. A busy session (requests
//! in flight or a stream open) met at the front is in use right now: it is re-filed at the
//! current time (a bounded number per search).
//!
//! Shedding within one client never touches another client's sessions; the global
//! shed (a full table) takes the least recently used idle session of all.

use std::collections::{BTreeSet, HashMap};
use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use super::Session;

/// At most this many busy sessions are skipped (and re-filed) by one global shed; beyond
/// it the least recently used session is shed even if busy (as when every session is).
pub(super) const GLOBAL_BUSY_SKIPS: usize = 256;

/// Whom a session counts against for the per-client cap.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(super) enum ClientKey {
    /// Neither authenticated nor from a known address (stdio, in process): not capped.
    Anonymous,
    /// An unauthenticated HTTP client: its IPv4 address, or its IPv6 /64 prefix (one
    /// host usually owns a whole /64).
    Addr(IpAddr),
    /// An authenticated client: its hashed principal.
    Principal(Arc<str>),
}

impl ClientKey {
    /// The client `s` counts against.
    pub(super) fn of(s: &Session) -> Self {
        if let Some(p) = &s.principal {
            return ClientKey::Principal(p.clone());
        }
        match s.addr {
            Some(IpAddr::V6(a)) => match a.to_ipv4_mapped() {
                Some(v4) => ClientKey::Addr(IpAddr::V4(v4)),
                None => ClientKey::Addr(IpAddr::V6((u128::from(a) & !((1u128 << 64) - 1)).into())),
            },
            Some(a) => ClientKey::Addr(a),
            None => ClientKey::Anonymous,
        }
    }
    /// Whether the per-client cap applies.
    pub(super) fn capped(&self) -> bool {
        !matches!(self, ClientKey::Anonymous)
    }
}

type Order = BTreeSet<(u64, Arc<str>)>;

/// Sessions by id plus the per-client last-seen index (see the module docs).
#[derive(Default)]
pub(super) struct Table {
    pub(super) map: HashMap<Arc<str>, Arc<Session>>,
    clients: HashMap<ClientKey, Order>,
    oldest: BTreeSet<(u64, ClientKey)>,
}

impl Table {
    /// How many sessions `key` has.
    pub(super) fn count(&self, key: &ClientKey) -> usize {
        self.clients.get(key).map_or(0, BTreeSet::len)
    }

    /// Adds `s` (not yet in the table), filed under `now`.
    pub(super) fn add(&mut self, s: Arc<Session>, now: u64) {
        let key = ClientKey::of(&s);
        self.file(&key, s.id.clone(), now, &s);
        self.map.insert(s.id.clone(), s);
    }

    /// Removes the session `id` from the map and the index.
    pub(super) fn take(&mut self, id: &str) -> Option<Arc<Session>> {
        let s = self.map.remove(id)?;
        let key = ClientKey::of(&s);
        self.unfile(&key, &s.id, s.filed_ms.load(Ordering::Relaxed));
        Some(s)
    }

    fn file(&mut self, key: &ClientKey, id: Arc<str>, t: u64, s: &Session) {
        s.filed_ms.store(t, Ordering::Relaxed);
        let order = self.clients.entry(key.clone()).or_default();
        let before = order.first().map(|e| e.0);
        order.insert((t, id));
        let after = order.first().map(|e| e.0);
        self.fix_oldest(key, before, after);
    }

    fn unfile(&mut self, key: &ClientKey, id: &Arc<str>, t: u64) {
        let Some(order) = self.clients.get_mut(key) else { return };
        let before = order.first().map(|e| e.0);
        order.remove(&(t, id.clone()));
        let after = order.first().map(|e| e.0);
        if order.is_empty() {
            self.clients.remove(key);
        }
        self.fix_oldest(key, before, after);
    }

    fn fix_oldest(&mut self, key: &ClientKey, before: Option<u64>, after: Option<u64>) {
        if before == after {
            return;
        }
        if let Some(b) = before {
            self.oldest.remove(&(b, key.clone()));
        }
        if let Some(a) = after {
            self.oldest.insert((a, key.clone()));
        }
    }

    fn refile(&mut self, key: &ClientKey, s: &Session, from: u64, to: u64) {
        self.unfile(key, &s.id, from);
        self.file(key, s.id.clone(), to, s);
    }

    /// The least recently filed entry: of `scope`'s sessions, or of all.
    fn front(&self, scope: Option<&ClientKey>) -> Option<(ClientKey, u64, Arc<str>)> {
        let key = match scope {
            Some(k) => k.clone(),
            None => self.oldest.first()?.1.clone(),
        };
        let (t, id) = self.clients.get(&key)?.first()?.clone();
        Some((key, t, id))
    }

    /// The least recently used idle session (of `scope`'s, or of all), correcting stale
    /// entries on the way. At most `busy_skips` busy sessions are skipped (re-filed at
    /// `now`); after that the least recently used one is returned if `take_busy`, else
    /// `None`.
    pub(super) fn pick(
        &mut self,
        scope: Option<&ClientKey>,
        now: u64,
        busy_skips: usize,
        take_busy: bool,
    ) -> Option<Arc<Session>> {
        let mut skips = busy_skips;
        loop {
            let (key, t, id) = self.front(scope)?;
            let Some(s) = self.map.get(&id).cloned() else {
                // Not expected (the map and the index change together); heal it.
                self.unfile(&key, &id, t);
                continue;
            };
            let seen = s.last_seen_ms.load(Ordering::Relaxed);
            if seen > t {
                self.refile(&key, &s, t, seen);
                continue;
            }
            if s.busy() {
                if skips == 0 {
                    return take_busy.then_some(s);
                }
                skips -= 1;
                self.refile(&key, &s, t, now.max(t));
                continue;
            }
            return Some(s);
        }
    }

    /// Takes up to `max_steps` sessions idle for more than `limit_ms` at `now` (the
    /// least recently used first); returns them and whether the step budget ran out
    /// (more may be expired).
    pub(super) fn reap_batch(&mut self, now: u64, limit_ms: u64, max_steps: usize) -> (Vec<Arc<Session>>, bool) {
        let mut victims = Vec::new();
        for _ in 0..max_steps {
            let Some((key, t, id)) = self.front(None) else { return (victims, false) };
            if now.saturating_sub(t) <= limit_ms {
                // Filed times are never later than real ones: nothing else is expired.
                return (victims, false);
            }
            let Some(s) = self.map.get(&id).cloned() else {
                self.unfile(&key, &id, t);
                continue;
            };
            let seen = s.last_seen_ms.load(Ordering::Relaxed);
            if now.saturating_sub(seen) <= limit_ms {
                self.refile(&key, &s, t, seen.max(t));
            } else if s.busy() {
                self.refile(&key, &s, t, now.max(t));
            } else {
                victims.extend(self.take(&id));
            }
        }
        (victims, true)
    }

    /// Gives memory back after a wave of sessions ended (tables keep their peak capacity).
    pub(super) fn shrink(&mut self) {
        if self.map.capacity() > 64 && self.map.len() < self.map.capacity() / 4 {
            self.map.shrink_to_fit();
        }
        if self.clients.capacity() > 64 && self.clients.len() < self.clients.capacity() / 4 {
            self.clients.shrink_to_fit();
        }
    }

    /// Checks that the index files every session exactly once, at a time no later than
    /// its last-seen time, and that `oldest` matches each client's front (tests).
    #[cfg(test)]
    pub(super) fn check(&self) {
        let filed: usize = self.clients.values().map(BTreeSet::len).sum();
        assert_eq!(filed, self.map.len(), "every session filed once");
        assert_eq!(self.oldest.len(), self.clients.len(), "one oldest entry per client");
        for (key, order) in &self.clients {
            assert!(!order.is_empty());
            assert!(self.oldest.contains(&(order.first().unwrap().0, key.clone())));
            for (t, id) in order {
                let s = self.map.get(id).expect("filed session is in the map");
                assert_eq!(&ClientKey::of(s), key);
                assert_eq!(s.filed_ms.load(Ordering::Relaxed), *t);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::net::Ipv6Addr;
    use std::time::Duration;

    use tokio_util::sync::CancellationToken;

    use super::super::{SessionLimits, SessionRefused, SessionRegistry, lock};
    use super::*;
    use crate::jsonrpc::RequestId;

    fn registry(max_sessions: usize, max_per_client: Option<usize>, idle: Option<Duration>) -> SessionRegistry {
        SessionRegistry::new(SessionLimits { idle_timeout: idle, max_sessions, max_per_client })
    }

    fn check(reg: &SessionRegistry) {
        lock(&reg.sessions).check();
    }

    fn of(who: &str) -> Arc<Session> {
        Session::new(Some(who.into()))
    }

    fn from(addr: &str) -> Arc<Session> {
        Session::for_client(None, Some(addr.parse().unwrap()))
    }

    fn make_busy(s: &Session) {
        s.track(RequestId::Number(1), CancellationToken::new());
    }

    fn tick() {
        std::thread::sleep(Duration::from_millis(3));
    }

    fn alive(reg: &SessionRegistry, s: &Session) -> bool {
        lock(&reg.sessions).map.contains_key(s.id())
    }

    #[test]
    fn shedding_takes_the_least_recently_used_idle_session_and_skips_busy_ones() {
        let reg = registry(3, None, None);
        let (a, b, c, d, e) = (of("p"), of("p"), of("p"), of("p"), of("p"));
        for s in [&a, &b, &c] {
            reg.insert(s.clone());
            tick();
        }
        make_busy(&a);
        reg.insert(d.clone());
        assert!(alive(&reg, &a), "a busy session is skipped");
        assert!(!alive(&reg, &b) && b.is_closed(), "b was the least recently used idle session");
        check(&reg);
        tick();
        reg.get(c.id());
        reg.insert(e.clone());
        assert!(!alive(&reg, &d), "d was used before c's touch");
        assert!(alive(&reg, &a) && alive(&reg, &c) && alive(&reg, &e));
        assert_eq!(reg.metrics().shed, 2);
        check(&reg);
    }

    #[test]
    fn when_every_session_is_busy_the_least_recently_used_is_shed() {
        let reg = registry(2, None, None);
        let (a, b, c) = (of("p"), of("p"), of("p"));
        reg.insert(a.clone());
        tick();
        reg.insert(b.clone());
        make_busy(&a);
        make_busy(&b);
        reg.insert(c.clone());
        assert_eq!(reg.metrics().open, 2);
        assert_eq!(reg.metrics().shed, 1);
        check(&reg);
    }

    #[test]
    fn reap_takes_only_idle_expired_sessions() {
        let reg = registry(10, None, Some(Duration::from_millis(40)));
        let (a, b, c) = (of("p"), of("q"), of("r"));
        for s in [&a, &b, &c] {
            reg.insert(s.clone());
        }
        make_busy(&c);
        std::thread::sleep(Duration::from_millis(60));
        reg.get(b.id());
        assert_eq!(reg.reap(), 1, "b was touched, c is busy");
        assert!(!alive(&reg, &a) && alive(&reg, &b) && alive(&reg, &c));
        check(&reg);
        c.untrack(&RequestId::Number(1));
        std::thread::sleep(Duration::from_millis(60));
        assert_eq!(reg.reap(), 2);
        assert_eq!(reg.metrics().open, 0);
        check(&reg);
    }

    #[test]
    fn reap_works_through_more_sessions_than_one_batch() {
        let reg = registry(10_000, None, Some(Duration::from_millis(5)));
        for i in 0..2_500 {
            reg.insert(of(&format!("p{}", i % 7)));
        }
        std::thread::sleep(Duration::from_millis(20));
        assert_eq!(reg.reap(), 2_500);
        check(&reg);
    }

    /// A small deterministic generator (no dependency for a test).
    struct Lcg(u64);
    impl Lcg {
        fn next(&mut self, n: usize) -> usize {
            self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            ((self.0 >> 33) % n as u64) as usize
        }
    }

    #[test]
    fn index_stays_consistent_and_sheds_the_true_lru_after_touch_remove_and_reinsert() {
        let reg = registry(40, None, None);
        let mut rng = Lcg(7);
        let mut known: Vec<Arc<Session>> = Vec::new();
        for step in 0..3_000 {
            if step % 100 == 0 {
                std::thread::sleep(Duration::from_millis(1));
            }
            match rng.next(4) {
                0 | 1 => {
                    let full = reg.metrics().open as usize >= 40;
                    let min_seen = full.then(|| {
                        let t = lock(&reg.sessions);
                        t.map.values().map(|s| s.last_seen_ms.load(Ordering::Relaxed)).min().unwrap()
                    });
                    let s = of(&format!("p{}", rng.next(5)));
                    let before: Vec<Arc<Session>> = lock(&reg.sessions).map.values().cloned().collect();
                    reg.insert(s.clone());
                    if let Some(min) = min_seen {
                        let shed: Vec<_> = before.iter().filter(|b| !alive(&reg, b)).collect();
                        assert_eq!(shed.len(), 1);
                        assert_eq!(shed[0].last_seen_ms.load(Ordering::Relaxed), min, "the LRU session is shed");
                    }
                    known.push(s);
                }
                2 if !known.is_empty() => {
                    let s = &known[rng.next(known.len())];
                    reg.get(s.id());
                }
                _ if !known.is_empty() => {
                    let s = known.swap_remove(rng.next(known.len()));
                    reg.remove(s.id());
                    if rng.next(2) == 0 {
                        // The same id back (a restored session).
                        let again = Session::with_id(s.id_arc(), s.principal.clone());
                        reg.insert(again.clone());
                        known.push(again);
                    }
                }
                _ => {}
            }
            check(&reg);
        }
    }

    #[test]
    fn a_client_at_its_cap_sheds_only_its_own_sessions() {
        let reg = registry(100, Some(2), None);
        let (bob, a1, a2, a3) = (of("bob"), of("alice"), of("alice"), of("alice"));
        reg.insert(bob.clone());
        tick();
        reg.insert(a1.clone());
        tick();
        reg.insert(a2.clone());
        tick();
        reg.try_insert(a3.clone()).unwrap();
        assert!(!alive(&reg, &a1), "alice's least recently used session goes");
        assert!(alive(&reg, &bob), "bob's older session is not alice's to shed");
        assert!(alive(&reg, &a2) && alive(&reg, &a3));
        check(&reg);
    }

    #[test]
    fn a_client_at_its_cap_with_every_session_busy_is_refused() {
        let reg = registry(100, Some(2), None);
        let (a1, a2) = (of("alice"), of("alice"));
        reg.insert(a1.clone());
        reg.insert(a2.clone());
        make_busy(&a1);
        make_busy(&a2);
        let a3 = of("alice");
        assert_eq!(reg.admits(&a3), Err(SessionRefused { limit: 2 }));
        let err = reg.try_insert(a3.clone()).unwrap_err();
        assert_eq!(err, SessionRefused { limit: 2 });
        assert!(err.to_string().contains("max_per_client"), "{err}");
        let wire = crate::ProtocolError::from(err);
        assert_eq!((wire.code, wire.http_status), (crate::error::code::INVALID_REQUEST, 429));
        assert!(!alive(&reg, &a3) && alive(&reg, &a1) && alive(&reg, &a2));
        assert!(reg.admits(&of("bob")).is_ok() && reg.try_insert(of("bob")).is_ok(), "bob is not limited by alice");
        // `insert` never refuses: it goes over the cap rather than shed a busy session.
        reg.insert(a3.clone());
        assert_eq!(reg.metrics().open, 4);
        check(&reg);
    }

    #[test]
    fn unauthenticated_clients_are_counted_per_address() {
        let reg = registry(100, Some(1), None);
        let (x1, y1) = (from("127.0.0.1"), from("127.0.0.2"));
        reg.insert(x1.clone());
        reg.insert(y1.clone());
        let x2 = from("127.0.0.1");
        reg.try_insert(x2.clone()).unwrap();
        assert!(!alive(&reg, &x1) && alive(&reg, &y1) && alive(&reg, &x2));
        // One IPv6 /64 is one client; an IPv4-mapped address is its IPv4 address.
        assert_eq!(ClientKey::of(&from("2001:db8::1")), ClientKey::of(&from("2001:db8::ffff:2")));
        assert_ne!(ClientKey::of(&from("2001:db8::1")), ClientKey::of(&from("2001:db8:0:1::1")));
        let mapped = Session::for_client(None, Some(IpAddr::V6(Ipv6Addr::from(0xffff_7f00_0002u128))));
        assert_eq!(ClientKey::of(&mapped), ClientKey::of(&y1));
        // A principal is counted as the principal, wherever it connects from.
        assert_eq!(
            ClientKey::of(&Session::for_client(Some("h".into()), Some("127.0.0.1".parse().unwrap()))),
            ClientKey::Principal("h".into())
        );
        // Sessions with neither (stdio, in process) are not capped.
        for _ in 0..3 {
            reg.try_insert(Session::new(None)).unwrap();
        }
        assert_eq!(reg.metrics().open, 5);
        check(&reg);
    }

    #[test]
    fn a_full_registry_sheds_across_clients_and_the_per_client_cap_first() {
        let reg = registry(3, Some(2), None);
        let (a1, b1, a2, a3) = (of("alice"), of("bob"), of("alice"), of("alice"));
        for s in [&a1, &b1, &a2] {
            reg.insert(s.clone());
            tick();
        }
        // alice is at her cap: her own a1 goes, and the table is no longer full.
        reg.insert(a3.clone());
        assert!(!alive(&reg, &a1) && alive(&reg, &b1));
        assert_eq!(reg.metrics().shed, 1);
        // carol is under her cap but the table is full: the global LRU idle (bob) goes.
        tick();
        reg.insert(of("carol"));
        assert!(!alive(&reg, &b1));
        assert_eq!(reg.metrics().shed, 2);
        check(&reg);
    }
}
