//! `Middleware::on_message` and `on_notification` are called by the dispatcher for every
//! incoming request, notification and response, in chain order, and a refusal stops the
//! message: a refused request is answered with the middleware's error and never
//! dispatched, a refused cancellation does not cancel, a refused response completes no
//! ask, and the middlewares after the refusing one never see the message. In process,
//! every wait bounded.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use ferromcp_core::dispatch::{handle_notification, handle_request, handle_response};
use ferromcp_core::jsonrpc::{self, Message, Notification, Request, Response};
use ferromcp_core::middleware::{Flow, Incoming, Middleware};
use ferromcp_core::outbound::Outbound;
use ferromcp_core::protocol::V_2025_11_25;
use ferromcp_core::session::{ClientInit, Session};
use ferromcp_core::{Context, Era, NoArgs, ProtocolError, Reply, RequestEnv, Server, ToolDef, TransportKind};
use serde_json::{Value, json};
use tokio::time::timeout;
use tokio_util::sync::CancellationToken;

const WAIT: Duration = Duration::from_secs(10);

type Log = Arc<Mutex<Vec<String>>>;

/// Records what it sees as `"<name> <hook> <kind> <method>"`; refuses what `refuse`
/// names (a method, or `"response"`).
struct Gate {
    name: &'static str,
    log: Log,
    refuse: &'static [&'static str],
}

impl Gate {
    fn record(&self, line: String) {
        self.log.lock().unwrap().push(format!("{} {line}", self.name));
    }
    fn verdict(&self, what: &str) -> Flow {
        if self.refuse.contains(&what) {
            Flow::Refuse(ProtocolError::invalid_request(format!("{what} is refused by {}", self.name)))
        } else {
            Flow::Continue
        }
    }
}

impl Middleware for Gate {
    fn on_message(&self, message: Incoming<'_>, session: Option<&Arc<Session>>) -> Flow {
        assert!(session.is_some(), "the session the message arrived on is handed to the hook");
        let (kind, what) = match message {
            Incoming::Request(r) => ("request", r.method.to_string()),
            Incoming::Notification(n) => ("notification", n.method.clone()),
            Incoming::Response(_) => ("response", "response".to_string()),
            _ => ("other", String::new()),
        };
        assert_eq!(message.method(), (kind != "response").then_some(what.as_str()));
        self.record(format!("message {kind} {what}"));
        // Cancellations are refused in `on_notification`, so that hook is exercised too.
        if what.starts_with("notifications/") { Flow::Continue } else { self.verdict(&what) }
    }
    fn on_notification(&self, n: &Notification, _session: Option<&Arc<Session>>) -> Flow {
        self.record(format!("notification {}", n.method));
        self.verdict(&n.method)
    }
}

fn server(log: &Log, refuse: &'static [&'static str]) -> Server {
    Server::builder("hooks", "1")
        .middleware(Gate { name: "outer", log: log.clone(), refuse })
        .middleware(Gate { name: "inner", log: log.clone(), refuse: &[] })
        .tool(ToolDef::new("slow").handler(|_ctx: Context, _: NoArgs| async {
            tokio::time::sleep(Duration::from_millis(300)).await;
            "done"
        }))
        .tool(ToolDef::new("ask").handler(|ctx: Context, _: NoArgs| async move {
            let ask = ctx.elicit_schema("Name?", json!({"type": "object", "properties": {}}));
            match ask.timeout(Duration::from_millis(300)).await {
                Ok(r) => format!("answered {}", serde_json::to_value(r.action).unwrap()),
                Err(e) => format!("error: {e}"),
            }
        }))
        .build()
}

/// A legacy session past `initialize`, with elicitation declared.
fn session() -> Arc<Session> {
    let s = Session::new(None);
    let capabilities = serde_json::from_value(json!({"elicitation": {}})).unwrap();
    s.set_init(ClientInit { version: V_2025_11_25, capabilities: Arc::new(capabilities), info: None });
    s.mark_initialized();
    s
}

fn env(session: &Arc<Session>, out: &Outbound, cancel: CancellationToken) -> RequestEnv {
    RequestEnv {
        era: Era::Legacy(V_2025_11_25),
        transport: TransportKind::InMemory,
        session: Some(session.clone()),
        outbound: out.clone(),
        cancel,
        principal: None,
    }
}

fn decode(v: Value) -> Message {
    jsonrpc::decode(v.to_string().as_bytes()).expect("a valid message")
}

fn request(v: Value) -> Request {
    let Message::Request(r) = decode(v) else { panic!("not a request") };
    r
}

fn notification(v: Value) -> Notification {
    let Message::Notification(n) = decode(v) else { panic!("not a notification") };
    n
}

fn response(v: Value) -> Response {
    let Message::Response(r) = decode(v) else { panic!("not a response") };
    r
}

fn body(r: &Reply) -> Value {
    serde_json::from_slice(r.body.as_deref().expect("a reply body")).unwrap()
}

fn call(id: u64, tool: &str) -> Request {
    request(json!({"jsonrpc": "2.0", "id": id, "method": "tools/call", "params": {"name": tool, "arguments": {}}}))
}

fn cancelled(id: u64) -> Notification {
    notification(json!({"jsonrpc": "2.0", "method": "notifications/cancelled", "params": {"requestId": id}}))
}

fn taken(log: &Log) -> Vec<String> {
    std::mem::take(&mut *log.lock().unwrap())
}

#[tokio::test]
async fn every_message_reaches_on_message_in_chain_order() {
    let log = Log::default();
    let server = server(&log, &[]);
    let s = session();
    let (out, _frames) = Outbound::channel();
    let ping = request(json!({"jsonrpc": "2.0", "id": 1, "method": "ping"}));
    let reply = timeout(WAIT, handle_request(&server, ping, env(&s, &out, CancellationToken::new()))).await.unwrap();
    assert_eq!(body(&reply)["result"], json!({}), "an admitted request is served");
    let note = notification(json!({"jsonrpc": "2.0", "method": "notifications/roots/list_changed"}));
    handle_notification(&server, note, Some(&s));
    let stray = response(json!({"jsonrpc": "2.0", "id": 77, "result": {}}));
    assert!(!handle_response(&server, stray, Some(&s)), "nothing waited for id 77");
    assert_eq!(
        taken(&log),
        [
            "outer message request ping",
            "inner message request ping",
            "outer message notification notifications/roots/list_changed",
            "inner message notification notifications/roots/list_changed",
            "outer notification notifications/roots/list_changed",
            "inner notification notifications/roots/list_changed",
            "outer message response response",
            "inner message response response",
        ]
    );
}

#[tokio::test]
async fn a_refused_request_is_answered_with_the_middleware_error_and_not_dispatched() {
    let log = Log::default();
    let server = server(&log, &["tools/call"]);
    let s = session();
    let (out, _frames) = Outbound::channel();
    let reply = timeout(WAIT, handle_request(&server, call(5, "slow"), env(&s, &out, CancellationToken::new())))
        .await
        .expect("refused at once, not after the tool's sleep");
    let v = body(&reply);
    assert!(reply.is_error);
    assert_eq!(reply.status, 200, "a JSON-RPC error on 2025-11-25 travels in an HTTP 200");
    assert_eq!(v["id"], 5);
    assert_eq!(v["error"]["code"], ferromcp_core::error::code::INVALID_REQUEST);
    assert_eq!(v["error"]["message"], "tools/call is refused by outer");
    assert_eq!(taken(&log), ["outer message request tools/call"], "the inner middleware never saw it");
}

#[tokio::test]
async fn a_refused_cancellation_does_not_cancel_and_an_admitted_one_does() {
    for refuse in [true, false] {
        let log = Log::default();
        let server = server(&log, if refuse { &["notifications/cancelled"] } else { &[] });
        let s = session();
        let (out, _frames) = Outbound::channel();
        let cancel = CancellationToken::new();
        let reply = tokio::spawn(handle_request(&server, call(9, "slow"), env(&s, &out, cancel.clone())));
        // The call is tracked under its id as soon as it is dispatched.
        tokio::time::sleep(Duration::from_millis(50)).await;
        handle_notification(&server, cancelled(9), Some(&s));
        let reply = timeout(WAIT, reply).await.expect("answered in time").expect("no panic");
        let seen = taken(&log);
        if refuse {
            assert!(!cancel.is_cancelled(), "a refused cancellation reaches no request");
            assert_eq!(body(&reply)["result"]["content"][0]["text"], "done");
            assert_eq!(
                seen[2..],
                [
                    "outer message notification notifications/cancelled",
                    "inner message notification notifications/cancelled",
                    "outer notification notifications/cancelled",
                ],
                "on_message let it through; on_notification of the outer one refused it"
            );
        } else {
            assert!(cancel.is_cancelled(), "an admitted cancellation cancels the call");
            assert!(reply.body.is_none(), "a cancelled call sends nothing");
            assert_eq!(seen.len(), 2 + 4, "both hooks of both middlewares saw the cancellation");
        }
    }
}

#[tokio::test]
async fn a_refused_response_completes_no_ask() {
    let log = Log::default();
    let server = server(&log, &["response"]);
    let s = session();
    let (out, mut frames) = Outbound::channel();
    let reply = tokio::spawn(handle_request(&server, call(3, "ask"), env(&s, &out, CancellationToken::new())));
    let frame = timeout(WAIT, frames.recv()).await.expect("an ask in time").expect("stream open");
    let ask: Value = serde_json::from_slice(&frame).unwrap();
    assert_eq!(ask["method"], "elicitation/create");
    let answer = json!({"jsonrpc": "2.0", "id": ask["id"], "result": {"action": "decline"}});
    assert!(!handle_response(&server, response(answer.clone()), Some(&s)), "the refused answer completes nothing");
    assert!(!reply.is_finished(), "the tool still waits for its answer");
    let reply = timeout(WAIT, reply).await.expect("ended in time").expect("no panic");
    let text = body(&reply)["result"]["content"][0]["text"].as_str().unwrap_or_default().to_owned();
    assert!(text.starts_with("error: "), "the ask timed out: the refused answer never reached it ({text})");
    assert!(taken(&log).contains(&"outer message response response".to_string()));
}
