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
//! - `heavy`: every client filed under its session count (then the time of its least
//!   recent session, oldest first), so the client holding the most sessions is the last.
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
//! Shedding within one client never touches another client's sessions. The shed that
//! makes room in a full table takes from the client that holds the *most* sessions (its
//! least recently used idle one), so no client can drive it into the others' sessions:
//! a flood only ever sheds the flooder's own sessions once it is the heaviest client.
//! Among clients holding equally many, the one whose least recent session is oldest
//! goes first (with one session each, that is the global least recently used). If the
//! heaviest client has no idle session, the next heaviest is tried, up to
//! [`HEAVY_CLIENT_TRIES`] clients and [`GLOBAL_BUSY_SKIPS`] busy sessions in all; if
//! none of them has one, the shed falls back to the least recently used idle session
//! of all (then, as a last resort, the least recently used busy one).
//!
//! Sessions with neither a principal nor an address (stdio, in process, restored from a
//! store, or HTTP served without the peer's address) count as one client, "anonymous",
//! here: when no session has a client key, the shed is the global least recently used,
//! as before there were clients.

use std::cmp::Reverse;
use std::collections::{BTreeSet, HashMap};
use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use super::Session;

/// At most this many busy sessions are skipped (and re-filed) by the search of the
/// heaviest clients, and again by the fallback search of all sessions; beyond it the
/// least recently used session is shed even if busy (as when every session is).
pub(super) const GLOBAL_BUSY_SKIPS: usize = 256;

/// A full-table shed looks for an idle session in at most this many of the heaviest
/// clients before it falls back to the least recently used idle session of all.
pub(super) const HEAVY_CLIENT_TRIES: usize = 8;

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

/// What the client-level indexes know of one client: its session count and the time its
/// least recent session is filed under (`None` once it has no session).
type Summary = Option<(usize, u64)>;

fn summary(order: &Order) -> Summary {
    order.first().map(|e| (order.len(), e.0))
}

/// Sessions by id plus the per-client last-seen index (see the module docs).
#[derive(Default)]
pub(super) struct Table {
    pub(super) map: HashMap<Arc<str>, Arc<Session>>,
    clients: HashMap<ClientKey, Order>,
    oldest: BTreeSet<(u64, ClientKey)>,
    heavy: BTreeSet<(usize, Reverse<u64>, ClientKey)>,
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
        let before = summary(order);
        order.insert((t, id));
        let after = summary(order);
        self.fix_client(key, before, after);
    }

    fn unfile(&mut self, key: &ClientKey, id: &Arc<str>, t: u64) {
        let Some(order) = self.clients.get_mut(key) else { return };
        let before = summary(order);
        order.remove(&(t, id.clone()));
        let after = summary(order);
        if order.is_empty() {
            self.clients.remove(key);
        }
        self.fix_client(key, before, after);
    }

    /// Moves `key`'s entries in `oldest` and `heavy` from what `before` says to `after`.
    fn fix_client(&mut self, key: &ClientKey, before: Summary, after: Summary) {
        if before == after {
            return;
        }
        let (front_before, front_after) = (before.map(|b| b.1), after.map(|a| a.1));
        if front_before != front_after {
            if let Some(b) = front_before {
                self.oldest.remove(&(b, key.clone()));
            }
            if let Some(a) = front_after {
                self.oldest.insert((a, key.clone()));
            }
        }
        if let Some((n, t)) = before {
            self.heavy.remove(&(n, Reverse(t), key.clone()));
        }
        if let Some((n, t)) = after {
            self.heavy.insert((n, Reverse(t), key.clone()));
        }
    }

    /// Moves `s` (filed under `from`) to `to` within its client: the count is unchanged.
    fn refile(&mut self, key: &ClientKey, s: &Session, from: u64, to: u64) {
        let Some(order) = self.clients.get_mut(key) else { return };
        let before = summary(order);
        order.remove(&(from, s.id.clone()));
        order.insert((to, s.id.clone()));
        s.filed_ms.store(to, Ordering::Relaxed);
        let after = summary(order);
        self.fix_client(key, before, after);
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
    /// entries on the way. At most `skips` busy sessions are skipped (re-filed at `now`;
    /// `skips` is decreased by each); after that the least recently used one is returned
    /// if `take_busy`, else `None`.
    pub(super) fn pick(
        &mut self,
        scope: Option<&ClientKey>,
        now: u64,
        skips: &mut usize,
        take_busy: bool,
    ) -> Option<Arc<Session>> {
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
                if *skips == 0 {
                    return take_busy.then_some(s);
                }
                *skips -= 1;
                self.refile(&key, &s, t, now.max(t));
                continue;
            }
            return Some(s);
        }
    }

    /// The session to shed to make room in a full table (see the module docs): the least
    /// recently used idle session of the heaviest client that has one, within
    /// [`HEAVY_CLIENT_TRIES`] clients; else the least recently used idle session of all;
    /// else the least recently used session. `None` only when the table is empty.
    pub(super) fn pick_to_shed(&mut self, now: u64) -> Option<Arc<Session>> {
        let mut skips = GLOBAL_BUSY_SKIPS;
        // Clients found with no idle session (allocated only when the heaviest has none).
        let mut tried: Vec<ClientKey> = Vec::new();
        while tried.len() < HEAVY_CLIENT_TRIES {
            let Some(key) = self.heavy.iter().rev().map(|e| &e.2).find(|k| !tried.contains(k)).cloned() else {
                break;
            };
            if self.correct_front(&key) {
                // Its least recent session was used since it was filed: among clients
                // holding as many, another may now come first.
                continue;
            }
            let budget = skips.min(self.count(&key));
            let mut left = budget;
            if let Some(s) = self.pick(Some(&key), now, &mut left, false) {
                return Some(s);
            }
            skips -= budget - left;
            tried.push(key);
        }
        let mut skips = GLOBAL_BUSY_SKIPS;
        self.pick(None, now, &mut skips, true)
    }

    /// Re-files `key`'s least recent sessions that were used since they were filed (as
    /// `pick` does); whether any was.
    fn correct_front(&mut self, key: &ClientKey) -> bool {
        let mut moved = false;
        while let Some((_, t, id)) = self.front(Some(key)) {
            let Some(s) = self.map.get(&id).cloned() else {
                self.unfile(key, &id, t);
                moved = true;
                continue;
            };
            let seen = s.last_seen_ms.load(Ordering::Relaxed);
            if seen <= t {
                break;
            }
            self.refile(key, &s, t, seen);
            moved = true;
        }
        moved
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
    /// its last-seen time, and that `oldest` and `heavy` match each client's front and
    /// count (tests).
    #[cfg(test)]
    pub(super) fn check(&self) {
        let filed: usize = self.clients.values().map(BTreeSet::len).sum();
        assert_eq!(filed, self.map.len(), "every session filed once");
        assert_eq!(self.oldest.len(), self.clients.len(), "one oldest entry per client");
        assert_eq!(self.heavy.len(), self.clients.len(), "one heavy entry per client");
        for (key, order) in &self.clients {
            assert!(!order.is_empty());
            let front = order.first().unwrap().0;
            assert!(self.oldest.contains(&(front, key.clone())));
            assert!(self.heavy.contains(&(order.len(), Reverse(front), key.clone())));
            for (t, id) in order {
                let s = self.map.get(id).expect("filed session is in the map");
                assert_eq!(&ClientKey::of(s), key);
                assert_eq!(s.filed_ms.load(Ordering::Relaxed), *t);
            }
        }
    }
}

#[cfg(test)]
mod tests;
