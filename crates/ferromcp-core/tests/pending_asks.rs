//! Legacy asks (server→client requests) are bounded, in process: per session and per
//! server, the ask past the cap fails at once with the limit's name and nothing is parked;
//! answers, timeouts, cancellations and dropped ask futures give their slots back; an ask
//! whose stream closes fails at once instead of waiting out the ask timeout. Every wait
//! is bounded.

use std::sync::Arc;
use std::time::{Duration, Instant};

use ferromcp_core::jsonrpc::{self, Message};
use ferromcp_core::outbound::{Frames, Outbound};
use ferromcp_core::protocol::V_2025_11_25;
use ferromcp_core::session::{ClientInit, Session};
use ferromcp_core::{Context, Era, NoArgs, Reply, RequestEnv, Server, ToolDef, TransportKind};
use serde_json::{Value, json};
use tokio::task::JoinHandle;
use tokio::time::timeout;
use tokio_util::sync::CancellationToken;

const WAIT: Duration = Duration::from_secs(10);

/// The tools answer with the elicitation's outcome, or the error the ask failed with.
fn server(per_session: usize, total: usize) -> Server {
    async fn ask(ctx: Context, t: Option<Duration>) -> String {
        let mut a = ctx.elicit_schema("Name?", json!({"type": "object", "properties": {}}));
        if let Some(t) = t {
            a = a.timeout(t);
        }
        match a.await {
            Ok(r) => format!("answered {}", serde_json::to_value(r.action).unwrap()),
            Err(e) => format!("error: {e}"),
        }
    }
    Server::builder("asks", "1")
        .ask_timeout(Duration::from_secs(120))
        .max_pending_asks_per_session(per_session)
        .max_pending_asks(total)
        .tool(ToolDef::new("ask").handler(|ctx: Context, _: NoArgs| ask(ctx, None)))
        .tool(ToolDef::new("ask_briefly").handler(|ctx: Context, _: NoArgs| ask(ctx, Some(Duration::from_millis(50)))))
        .tool(ToolDef::new("ask_and_give_up").handler(|ctx: Context, _: NoArgs| async move {
            // The handler drops the ask future: its slot must come back all the same.
            let gave_up = timeout(Duration::from_millis(50), ask(ctx, None)).await.is_err();
            format!("gave up: {gave_up}")
        }))
        .build()
}

/// A legacy session (past `initialize`, elicitation declared) and its stream.
struct Conn {
    session: Arc<Session>,
    out: Outbound,
    frames: Frames,
}

impl Conn {
    fn new() -> Conn {
        let session = Session::new(None);
        let capabilities = serde_json::from_value(json!({"elicitation": {}})).unwrap();
        session.set_init(ClientInit { version: V_2025_11_25, capabilities: Arc::new(capabilities), info: None });
        session.mark_initialized();
        let (out, frames) = Outbound::channel();
        Conn { session, out, frames }
    }

    fn call(&self, server: &Server, id: u64, tool: &str, cancel: CancellationToken) -> JoinHandle<Value> {
        let body =
            json!({"jsonrpc": "2.0", "id": id, "method": "tools/call", "params": {"name": tool, "arguments": {}}});
        let Ok(Message::Request(req)) = jsonrpc::decode(body.to_string().as_bytes()) else { panic!("not a request") };
        let env = RequestEnv {
            era: Era::Legacy(V_2025_11_25),
            transport: TransportKind::InMemory,
            session: Some(self.session.clone()),
            outbound: self.out.clone(),
            cancel,
            principal: None,
        };
        let fut = ferromcp_core::dispatch::handle_request(server, req, env);
        tokio::spawn(async move { reply_text(fut.await) })
    }

    /// The next elicitation request sent on the stream: its id.
    async fn next_ask(&mut self) -> Value {
        let frame = timeout(WAIT, self.frames.recv()).await.expect("no ask in time").expect("stream ended");
        let v: Value = serde_json::from_slice(&frame).unwrap();
        assert_eq!(v["method"], "elicitation/create", "{v}");
        v["id"].clone()
    }

    fn answer(&self, server: &Server, id: Value) {
        let body = json!({"jsonrpc": "2.0", "id": id, "result": {"action": "decline"}});
        let Ok(Message::Response(r)) = jsonrpc::decode(body.to_string().as_bytes()) else { panic!("not a response") };
        assert!(ferromcp_core::dispatch::handle_response(server, r, Some(&self.session)), "nobody waited for {id}");
    }
}

fn reply_text(r: Reply) -> Value {
    let v: Value = serde_json::from_slice(&r.body.expect("a reply")).unwrap();
    v["result"]["content"][0]["text"].clone()
}

async fn done(call: JoinHandle<Value>) -> String {
    timeout(WAIT, call).await.expect("the call did not end in time").unwrap().as_str().unwrap_or("?").to_owned()
}

#[tokio::test]
async fn asks_past_the_per_session_and_total_caps_fail_at_once_and_slots_come_back() {
    let server = server(3, 5);
    let (mut a, mut b) = (Conn::new(), Conn::new());
    let mut a_calls = Vec::new();
    let mut a_ids = Vec::new();
    for i in 0..3 {
        a_calls.push(a.call(&server, i, "ask", CancellationToken::new()));
        a_ids.push(a.next_ask().await);
    }
    assert_eq!((server.pending_asks(), a.session.peer().len()), (3, 3));

    // The fourth ask of session a fails at once, naming the per-session limit.
    let started = Instant::now();
    let refused = done(a.call(&server, 10, "ask", CancellationToken::new())).await;
    assert!(started.elapsed() < Duration::from_secs(2), "refused only after {:?}", started.elapsed());
    assert!(
        refused.starts_with("error: ") && refused.contains("`max_pending_asks_per_session` limit of 3"),
        "{refused}"
    );
    assert!(a.frames.try_recv().is_none(), "nothing was sent for the refused ask");
    assert_eq!((server.pending_asks(), a.session.peer().len()), (3, 3), "nothing parked");

    // Session b gets the two slots left in the server, then the total cap refuses.
    let b_cancel = CancellationToken::new();
    let b_calls = [b.call(&server, 1, "ask", b_cancel.clone()), b.call(&server, 2, "ask", b_cancel.clone())];
    b.next_ask().await;
    b.next_ask().await;
    assert_eq!(server.pending_asks(), 5);
    let refused = done(b.call(&server, 3, "ask", CancellationToken::new())).await;
    assert!(refused.contains("`max_pending_asks` limit of 5"), "{refused}");
    assert_eq!((server.pending_asks(), b.session.peer().len()), (5, 2));

    // Answers free a's slots; cancellation frees b's.
    for (id, call) in a_ids.into_iter().zip(a_calls) {
        a.answer(&server, id);
        assert_eq!(done(call).await, "answered \"decline\"");
    }
    b_cancel.cancel();
    for call in b_calls {
        let _ = timeout(WAIT, call).await.expect("the cancelled call did not end");
    }
    assert_eq!((server.pending_asks(), a.session.peer().len(), b.session.peer().len()), (0, 0, 0));

    // A timed-out ask and an ask future the handler dropped give their slots back too.
    let timed_out = a.call(&server, 20, "ask_briefly", CancellationToken::new());
    a.next_ask().await;
    let text = done(timed_out).await;
    assert!(text.contains("did not answer `elicitation/create` within"), "{text}");
    let given_up = a.call(&server, 21, "ask_and_give_up", CancellationToken::new());
    a.next_ask().await;
    assert_eq!(done(given_up).await, "gave up: true");
    assert_eq!((server.pending_asks(), a.session.peer().len()), (0, 0));

    // With the slots back, session a may ask again.
    let again = a.call(&server, 30, "ask", CancellationToken::new());
    let id = a.next_ask().await;
    a.answer(&server, id);
    assert_eq!(done(again).await, "answered \"decline\"");
    assert_eq!(server.pending_asks(), 0);
}

#[tokio::test]
async fn an_ask_whose_stream_closes_fails_at_once() {
    let server = server(64, 10_000);
    let mut c = Conn::new();
    let call = c.call(&server, 1, "ask", CancellationToken::new());
    c.next_ask().await;
    assert_eq!(server.pending_asks(), 1);
    // The transport stops reading the request's stream (the client went away).
    let started = Instant::now();
    drop(c.frames);
    let text = done(call).await;
    assert!(started.elapsed() < Duration::from_secs(2), "failed only after {:?}", started.elapsed());
    assert!(text.contains("the client's stream closed before it answered `elicitation/create`"), "{text}");
    assert_eq!((server.pending_asks(), c.session.peer().len()), (0, 0));
}
