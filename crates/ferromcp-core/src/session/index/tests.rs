//! Unit tests of the session table and its indexes (through [`SessionRegistry`]).

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

/// Per client of `sessions`: (how many, the least recent last-seen time).
fn weights(sessions: &[Arc<Session>]) -> HashMap<ClientKey, (usize, u64)> {
    let mut w: HashMap<ClientKey, (usize, u64)> = HashMap::new();
    for s in sessions {
        let seen = s.last_seen_ms.load(Ordering::Relaxed);
        let e = w.entry(ClientKey::of(s)).or_insert((0, u64::MAX));
        *e = (e.0 + 1, e.1.min(seen));
    }
    w
}

#[test]
fn index_stays_consistent_and_sheds_the_heaviest_clients_lru_after_touch_remove_and_reinsert() {
    let reg = registry(40, None, None);
    let mut rng = Lcg(7);
    let mut known: Vec<Arc<Session>> = Vec::new();
    for step in 0..3_000 {
        if step % 100 == 0 {
            std::thread::sleep(Duration::from_millis(1));
        }
        match rng.next(4) {
            0 | 1 => {
                // Skewed: p0 opens the most sessions, p4 the fewest.
                let s = of(&format!("p{}", rng.next(5).min(rng.next(5))));
                let before: Vec<Arc<Session>> = lock(&reg.sessions).map.values().cloned().collect();
                let full = before.len() >= 40;
                reg.insert(s.clone());
                if full {
                    let shed: Vec<_> = before.iter().filter(|b| !alive(&reg, b)).collect();
                    assert_eq!(shed.len(), 1);
                    let w = weights(&before);
                    let most = w.values().map(|v| v.0).max().unwrap();
                    let oldest_of_most = w.values().filter(|v| v.0 == most).map(|v| v.1).min().unwrap();
                    let victim = w[&ClientKey::of(shed[0])];
                    assert_eq!(victim.0, most, "the shed session's client holds the most sessions");
                    assert_eq!(victim.1, oldest_of_most, "ties go to the client with the oldest session");
                    assert_eq!(shed[0].last_seen_ms.load(Ordering::Relaxed), victim.1, "that client's LRU is shed");
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
    // carol is under her cap but the table is full: not bob's older session but one
    // of alice's, who holds the most.
    tick();
    reg.insert(of("carol"));
    assert!(alive(&reg, &b1) && !alive(&reg, &a2) && alive(&reg, &a3));
    assert_eq!(reg.metrics().shed, 2);
    check(&reg);
}

#[test]
fn a_full_table_sheds_from_the_client_holding_the_most_sessions() {
    let reg = registry(5, None, None);
    let (bob, carol) = (from("127.0.0.2"), from("127.0.0.3"));
    reg.insert(bob.clone());
    tick();
    reg.insert(carol.clone());
    tick();
    let flood: Vec<_> = (0..3).map(|_| from("127.0.0.1")).collect();
    for s in &flood {
        reg.insert(s.clone());
        tick();
    }
    // The flooder's next sessions each shed its own least recently used one.
    let more: Vec<_> = (0..4).map(|_| from("127.0.0.1")).collect();
    for (i, s) in more.iter().enumerate() {
        reg.insert(s.clone());
        tick();
        let victim = if i < 3 { &flood[i] } else { &more[0] };
        assert!(!alive(&reg, victim), "insert {i} sheds the flooder's least recently used");
    }
    assert!(alive(&reg, &bob) && alive(&reg, &carol), "the older, lighter clients keep their sessions");
    assert_eq!(reg.metrics().shed, 4);
    check(&reg);
    // Equally heavy clients: the one whose least recent session is oldest gives one.
    let reg = registry(4, None, None);
    let (a1, b1, a2, b2) = (of("a"), of("b"), of("a"), of("b"));
    for s in [&a1, &b1, &a2, &b2] {
        reg.insert(s.clone());
        tick();
    }
    reg.get(a1.id());
    tick();
    reg.insert(of("c"));
    assert!(!alive(&reg, &b1), "b's least recent session is older than a's (a1 was just used)");
    assert!(alive(&reg, &a1) && alive(&reg, &a2) && alive(&reg, &b2));
    check(&reg);
}

#[test]
fn a_heaviest_client_with_every_session_busy_is_passed_over() {
    let reg = registry(6, None, None);
    let (light, heavy) = (of("light"), [of("heavy"), of("heavy"), of("heavy")]);
    let mid = [of("mid"), of("mid")];
    reg.insert(light.clone());
    tick();
    for s in &heavy {
        reg.insert(s.clone());
        make_busy(s);
    }
    for s in &mid {
        reg.insert(s.clone());
        tick();
    }
    reg.insert(of("new"));
    assert!(heavy.iter().all(|s| alive(&reg, s)), "every heavy session is busy");
    assert!(!alive(&reg, &mid[0]), "mid is the next heaviest");
    assert!(alive(&reg, &light) && alive(&reg, &mid[1]), "light's older session is not mid's to shed");
    check(&reg);

    // More busy heavy clients than one shed tries: the global LRU idle session goes.
    let reg = registry(2 * (HEAVY_CLIENT_TRIES + 1) + 1, None, None);
    let idle = of("idle");
    reg.insert(idle.clone());
    tick();
    let busy: Vec<_> = (0..2 * (HEAVY_CLIENT_TRIES + 1)).map(|i| of(&format!("busy{}", i / 2))).collect();
    for s in &busy {
        reg.insert(s.clone());
        make_busy(s);
    }
    reg.insert(of("new"));
    assert!(!alive(&reg, &idle), "the fallback finds the only idle session");
    assert!(busy.iter().all(|s| alive(&reg, s)));
    assert_eq!(reg.metrics().shed, 1);
    check(&reg);
}
