//! Unit tests of sessions and the session registry.

use super::*;

#[test]
fn ids_are_visible_ascii_and_unique() {
    let a = new_session_id();
    let b = new_session_id();
    assert_ne!(a, b);
    assert!(a.len() >= 22);
    assert!(a.bytes().all(|c| (0x21..=0x7e).contains(&c)));
}

#[test]
fn full_registry_sheds_the_oldest_idle_session() {
    let reg = SessionRegistry::new(SessionLimits { idle_timeout: None, max_sessions: 2, ..Default::default() });
    let s1 = Session::new(None);
    let s2 = Session::new(None);
    let s3 = Session::new(None);
    reg.insert(s1.clone());
    std::thread::sleep(Duration::from_millis(3));
    reg.insert(s2.clone());
    std::thread::sleep(Duration::from_millis(3));
    reg.get(s1.id());
    reg.insert(s3.clone());
    assert!(reg.get(s2.id()).is_none(), "s2 was the least recently used");
    assert!(reg.get(s1.id()).is_some());
    assert_eq!(reg.metrics().shed, 1);
    assert!(s2.is_closed());
}

#[test]
fn idle_sessions_are_reaped() {
    let reg = SessionRegistry::new(SessionLimits {
        idle_timeout: Some(Duration::from_millis(5)),
        max_sessions: 10,
        ..Default::default()
    });
    let s = Session::new(None);
    reg.insert(s.clone());
    std::thread::sleep(Duration::from_millis(20));
    assert_eq!(reg.reap(), 1);
    assert_eq!(reg.metrics().expired, 1);
    assert_eq!(reg.metrics().open, 0);
}

type Log = Arc<Mutex<Vec<String>>>;

/// A registry whose hooks append `created:<id>` / `<reason>:<id>` to a log.
fn logged(limits: SessionLimits) -> (Arc<SessionRegistry>, Log) {
    let reg = Arc::new(SessionRegistry::new(limits));
    let log: Log = Arc::default();
    let l = log.clone();
    reg.on_created(move |s| lock(&l).push(format!("created:{}", s.id())));
    let l = log.clone();
    reg.on_end(move |s, why| lock(&l).push(format!("{why:?}:{}", s.id())));
    (reg, log)
}

fn count(log: &Log, entry: &str) -> usize {
    lock(log).iter().filter(|e| *e == entry).count()
}

#[test]
fn created_and_end_hooks_fire_once_per_session() {
    let (reg, log) =
        logged(SessionLimits { idle_timeout: Some(Duration::from_millis(5)), max_sessions: 2, ..Default::default() });
    let (a, b, c, d) = (Session::new(None), Session::new(None), Session::new(None), Session::new(None));
    reg.insert(a.clone());
    reg.insert(b.clone());
    assert_eq!(count(&log, &format!("created:{}", a.id())), 1);
    // A second insert of the same id registers (and announces) nothing new.
    let twin = Session::with_id(a.id_arc(), None);
    assert!(Arc::ptr_eq(&reg.insert(twin), &a));
    assert_eq!(count(&log, &format!("created:{}", a.id())), 1);
    assert_eq!(reg.metrics().created, 2);

    assert!(reg.remove(a.id()));
    assert!(!reg.remove(a.id()));
    assert_eq!(count(&log, &format!("Closed:{}", a.id())), 1);

    std::thread::sleep(Duration::from_millis(3));
    reg.insert(c.clone());
    std::thread::sleep(Duration::from_millis(20));
    reg.get(c.id());
    reg.insert(d.clone()); // full: sheds b, the least recently used
    assert_eq!(count(&log, &format!("Shed:{}", b.id())), 1);
    std::thread::sleep(Duration::from_millis(20));
    assert_eq!(reg.reap(), 2);
    assert_eq!(reg.reap(), 0);
    assert_eq!(count(&log, &format!("Expired:{}", c.id())), 1);
    assert_eq!(count(&log, &format!("Expired:{}", d.id())), 1);

    let log = lock(&log).clone();
    assert_eq!(log.len(), 8, "{log:?}");
    for s in [&a, &b, &c, &d] {
        let mine: Vec<&String> = log.iter().filter(|e| e.ends_with(s.id())).collect();
        assert_eq!(mine.len(), 2, "one created and one end per session: {mine:?}");
        assert!(mine[0].starts_with("created:"), "created comes first: {mine:?}");
    }
    assert_eq!(reg.metrics(), SessionMetrics { open: 0, created: 4, ended: 1, expired: 2, shed: 1 });
}

#[test]
fn hooks_run_outside_the_lock_and_an_end_during_created_waits_for_it() {
    let (reg, log) = logged(SessionLimits { idle_timeout: None, max_sessions: 10, ..Default::default() });
    // A created hook that calls back into the registry would deadlock under the lock;
    // this one even ends the session it announces.
    let weak = Arc::downgrade(&reg);
    let l = log.clone();
    reg.on_created(move |s| {
        let reg = weak.upgrade().unwrap();
        assert_eq!(reg.metrics().open, 1);
        assert!(reg.remove(s.id()));
        lock(&l).push("removed".into());
    });
    let s = Session::new(None);
    reg.insert(s.clone());
    let id = s.id();
    assert_eq!(*lock(&log), [format!("created:{id}"), "removed".into(), format!("Closed:{id}")]);
    assert!(s.is_closed());
}

#[test]
fn a_panicking_hook_does_not_stop_the_others() {
    let reg = SessionRegistry::new(SessionLimits { idle_timeout: None, max_sessions: 10, ..Default::default() });
    let seen = Arc::new(AtomicU64::new(0));
    reg.on_end(|_, _| panic!("hook bug"));
    let n = seen.clone();
    reg.on_end(move |_, _| {
        n.fetch_add(1, Ordering::Relaxed);
    });
    let s = Session::new(None);
    reg.insert(s.clone());
    assert!(reg.remove(s.id()));
    assert_eq!(seen.load(Ordering::Relaxed), 1);
}

#[test]
fn session_info_describes_the_session() {
    let s = Session::new(Some("hashed-alice".into()));
    let before = SessionInfo::of(&s, None);
    assert_eq!((before.id, before.principal, before.protocol_version), (s.id(), Some("hashed-alice"), None));
    s.set_init(ClientInit {
        version: crate::protocol::V_2025_11_25,
        capabilities: Arc::default(),
        info: Some(Implementation::new("client", "2.0")),
    });
    let info = SessionInfo::of(&s, Some(EndReason::Shed));
    assert_eq!(info.protocol_version, Some(crate::protocol::V_2025_11_25));
    assert_eq!(info.client_info.map(|i| i.name.as_str()), Some("client"));
    assert_eq!(info.end_reason, Some(EndReason::Shed));
    assert!(EndReason::Shed.by_server() && EndReason::Expired.by_server() && !EndReason::Closed.by_server());
}

#[test]
fn metrics_render_as_prometheus_text() {
    let m = SessionMetrics { open: 1, created: 7, ended: 2, expired: 3, shed: 1 };
    let text = m.to_prometheus();
    let samples: Vec<&str> = text.lines().filter(|l| !l.starts_with('#')).collect();
    assert_eq!(
        samples,
        [
            "ferromcp_sessions_open 1",
            "ferromcp_sessions_created_total 7",
            "ferromcp_sessions_ended_total 2",
            "ferromcp_sessions_expired_total 3",
            "ferromcp_sessions_shed_total 1",
        ]
    );
    for name in samples.iter().map(|l| l.split(' ').next().unwrap()) {
        assert!(text.contains(&format!("# HELP {name} ")), "{name}");
        let kind = if name.ends_with("_total") { "counter" } else { "gauge" };
        assert!(text.contains(&format!("# TYPE {name} {kind}\n")), "{name}");
    }
    assert!(text.ends_with('\n'));
}
