//! Unit tests of the server builder and its session hooks.

use std::sync::Mutex;

use super::*;
use crate::session::{ClientInit, Session};

#[test]
fn session_hooks_see_each_end_once_and_shedding_as_expiry() {
    let log: Arc<Mutex<Vec<String>>> = Arc::default();
    let hook = |tag: &'static str| {
        let log = log.clone();
        move |s: &SessionInfo<'_>| {
            let who = s.client_info.map_or("-", |c| c.name.as_str());
            log.lock().unwrap().push(format!("{tag} {} {who} {:?} {:?}", s.id, s.principal, s.end_reason));
        }
    };
    let server = Server::builder("t", "1")
        .session_limits(SessionLimits {
            idle_timeout: Some(Duration::from_millis(5)),
            max_sessions: 2,
            ..Default::default()
        })
        .on_session_created(hook("created"))
        .on_session_ended(hook("ended"))
        .on_session_expired(hook("expired"))
        .build();
    let session = |name: &str| {
        let s = Session::new(Some("h".into()));
        s.set_init(ClientInit {
            version: crate::protocol::V_2025_11_25,
            capabilities: Arc::default(),
            info: Some(Implementation::new(name, "1")),
        });
        s
    };
    let reg = server.sessions();
    let (a, b, c) = (session("a"), session("b"), session("c"));
    reg.insert(a.clone());
    std::thread::sleep(Duration::from_millis(2));
    reg.insert(b.clone());
    assert!(reg.remove(b.id()));
    reg.insert(c.clone());
    reg.insert(session("d")); // full: sheds a, the oldest
    std::thread::sleep(Duration::from_millis(20));
    assert_eq!(reg.reap(), 2);
    let log = log.lock().unwrap().clone();
    let lines = |tag: &str| log.iter().filter(|l| l.starts_with(tag)).count();
    assert_eq!((lines("created"), lines("ended"), lines("expired")), (4, 1, 3), "{log:?}");
    assert!(log.contains(&format!("created {} a Some(\"h\") None", a.id())), "{log:?}");
    assert!(log.contains(&format!("ended {} b Some(\"h\") Some(Closed)", b.id())), "{log:?}");
    assert!(log.contains(&format!("expired {} a Some(\"h\") Some(Shed)", a.id())), "{log:?}");
    assert!(log.contains(&format!("expired {} c Some(\"h\") Some(Expired)", c.id())), "{log:?}");
    let text = server.metrics_text();
    for line in ["ferromcp_sessions_open 0", "ferromcp_sessions_ended_total 1", "ferromcp_sessions_shed_total 1"] {
        assert!(text.contains(&format!("{line}\n")), "{text}");
    }
}
