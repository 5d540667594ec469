//! Middleware hooks, request extensions, per-session visibility and session state,
//! driven through the real client over the in-memory transport.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use ferromcp::client::{Client, ClientOptions};
use ferromcp::middleware::{Middleware, MwFuture, Next, ToolCall};
use ferromcp::prelude::*;
use ferromcp::protocol::{CallToolResult, Tool};
use ferromcp::state::{ComponentFilter, ComponentKind};
use serde_json::{Value, json};

#[derive(Deserialize, JsonSchema)]
struct Add {
    a: i64,
    b: i64,
}

/// A request-local value a middleware hands to tools.
struct Db(&'static str);

#[derive(Default)]
struct Recorder {
    requests: AtomicUsize,
    calls: AtomicUsize,
}

struct Policy(Arc<Recorder>);

impl Middleware for Policy {
    fn on_request<'a>(
        &'a self,
        ctx: &'a Context,
        input: (),
        next: Next<'a, (), ferromcp::Reply>,
    ) -> MwFuture<'a, ferromcp::Reply> {
        self.0.requests.fetch_add(1, Ordering::SeqCst);
        next.run(ctx, input)
    }
    fn on_initialize<'a>(
        &'a self,
        ctx: &'a Context,
        input: (),
        next: Next<'a, (), Result<()>>,
    ) -> MwFuture<'a, Result<()>> {
        Box::pin(async move {
            ctx.state().set("greeted", &true).await?;
            next.run(ctx, input).await
        })
    }
    fn on_call_tool<'a>(
        &'a self,
        ctx: &'a Context,
        mut call: ToolCall,
        next: Next<'a, ToolCall, Result<CallToolResult>>,
    ) -> MwFuture<'a, Result<CallToolResult>> {
        Box::pin(async move {
            self.0.calls.fetch_add(1, Ordering::SeqCst);
            if call.name == "forbidden" {
                return Err(Error::tool("blocked by policy"));
            }
            if call.name == "add" {
                // Rewrite: every `a` is doubled.
                let mut args = call.arguments_value();
                if let Some(a) = args.get("a").and_then(Value::as_i64) {
                    args["a"] = json!(a * 2);
                }
                call.set_arguments(&args)?;
            }
            ctx.extensions().insert(Db("primary"));
            next.run(ctx, call).await
        })
    }
    fn on_list_tools<'a>(
        &'a self,
        ctx: &'a Context,
        input: (),
        next: Next<'a, (), Result<Vec<Tool>>>,
    ) -> MwFuture<'a, Result<Vec<Tool>>> {
        Box::pin(async move {
            let mut tools = next.run(ctx, input).await?;
            tools.retain(|t| t.name != "hidden_by_middleware");
            Ok(tools)
        })
    }
}

fn server(rec: Arc<Recorder>) -> Server {
    Server::builder("mw", "1")
        .middleware(Policy(rec))
        .tool(ToolDef::new("add").handler(|_c: Context, a: Add| async move { a.a + a.b }))
        .tool(ToolDef::new("forbidden").handler(|_c: Context, _: NoArgs| async { "should not run" }))
        .tool(ToolDef::new("hidden_by_middleware").handler(|_c: Context, _: NoArgs| async { "hidden" }))
        .tool(ToolDef::new("which_db").handler(|c: Context, _: NoArgs| async move {
            c.extensions().get::<Db>().map(|d| d.0).unwrap_or("none").to_string()
        }))
        .tool(ToolDef::new("greeted").handler(|c: Context, _: NoArgs| async move {
            c.state().get::<bool>("greeted").await.map(|g| g.unwrap_or(false))
        }))
        .tool(ToolDef::new("bump").handler(|c: Context, _: NoArgs| async move {
            c.state().update("n", |n: Option<i64>| n.unwrap_or(0) + 1).await
        }))
        .tool(ToolDef::new("admin_reset").tag("admin").handler(|_c: Context, _: NoArgs| async { "reset" }))
        .tool(ToolDef::new("beta").enabled(false).handler(|_c: Context, _: NoArgs| async { "beta" }))
        .tool(ToolDef::new("hide_admin").handler(|c: Context, _: NoArgs| async move {
            c.disable_components(ComponentFilter::tags(["admin"]).kinds([ComponentKind::Tool])).await.map(|_| "ok")
        }))
        .tool(ToolDef::new("show_beta").handler(|c: Context, _: NoArgs| async move {
            c.enable_components(ComponentFilter::names(["beta"])).await.map(|_| "ok")
        }))
        .tool(
            ToolDef::new("reset_vis")
                .handler(|c: Context, _: NoArgs| async move { c.reset_visibility().await.map(|_| "ok") }),
        )
        .build()
}

async fn names(c: &Client) -> Vec<String> {
    c.list_tools().await.expect("list").into_iter().map(|t| t.name.to_string()).collect()
}

#[tokio::test]
async fn hooks_observe_rewrite_short_circuit_and_hand_over_extensions() {
    let rec = Arc::new(Recorder::default());
    let c = Client::in_memory(server(rec.clone()), ClientOptions::legacy()).await.expect("connect");
    let r = c.call_tool("add", json!({"a": 2, "b": 3})).await.expect("add");
    assert_eq!(r.structured().unwrap()["result"], 7, "the middleware doubled `a` before the tool ran");
    let r = c.call_tool("forbidden", json!({})).await.expect("forbidden");
    assert!(r.is_error());
    assert!(r.text().contains("blocked by policy"));
    let r = c.call_tool("which_db", json!({})).await.expect("which_db");
    assert_eq!(r.text(), "primary", "tools see request-local extensions set by middleware");
    assert!(!names(&c).await.contains(&"hidden_by_middleware".to_string()), "list hooks can filter");
    assert!(rec.calls.load(Ordering::SeqCst) >= 3);
    assert!(rec.requests.load(Ordering::SeqCst) >= 5, "on_request sees every request");
    c.close().await;
}

#[tokio::test]
async fn state_set_in_on_initialize_is_visible_to_tools() {
    let c = Client::in_memory(server(Arc::default()), ClientOptions::legacy()).await.expect("connect");
    assert_eq!(c.call_tool("greeted", json!({})).await.expect("greeted").structured().unwrap()["result"], true);
    c.close().await;
}

#[tokio::test]
async fn state_is_isolated_per_connection_and_updates_are_atomic() {
    let srv = server(Arc::default());
    let a = Client::in_memory(srv.clone(), ClientOptions::legacy()).await.expect("a");
    let b = Client::in_memory(srv.clone(), ClientOptions::legacy()).await.expect("b");
    let mut tasks = Vec::new();
    for _ in 0..20 {
        let a = a.clone();
        tasks.push(tokio::spawn(async move {
            for _ in 0..50 {
                a.call_tool("bump", json!({})).await.expect("bump");
            }
        }));
    }
    for t in tasks {
        t.await.expect("task");
    }
    let last = a.call_tool("bump", json!({})).await.expect("bump");
    assert_eq!(last.structured().unwrap()["result"], 1001, "20 x 50 concurrent updates, then one more");
    let other = b.call_tool("bump", json!({})).await.expect("bump");
    assert_eq!(other.structured().unwrap()["result"], 1, "another connection has its own state");
    a.close().await;
    b.close().await;
}

#[tokio::test]
async fn visibility_is_per_session_and_list_changed_goes_to_that_session_only() {
    let srv = server(Arc::default());
    let a = Client::in_memory(srv.clone(), ClientOptions::legacy()).await.expect("a");
    let b = Client::in_memory(srv.clone(), ClientOptions::legacy()).await.expect("b");
    let mut a_notes = a.notifications();
    let mut b_notes = b.notifications();
    assert!(names(&a).await.contains(&"admin_reset".to_string()));
    assert!(!names(&a).await.contains(&"beta".to_string()), "beta is disabled globally");

    a.call_tool("hide_admin", json!({})).await.expect("hide");
    a.call_tool("show_beta", json!({})).await.expect("show");
    let a_tools = names(&a).await;
    assert!(!a_tools.contains(&"admin_reset".to_string()));
    assert!(a_tools.contains(&"beta".to_string()));
    let hidden = a.call_tool("admin_reset", json!({})).await;
    assert!(hidden.is_err(), "a hidden tool cannot be called either");
    assert_eq!(a.call_tool("beta", json!({})).await.expect("beta").text(), "beta");

    let b_tools = names(&b).await;
    assert!(b_tools.contains(&"admin_reset".to_string()), "the other session is unaffected");
    assert!(!b_tools.contains(&"beta".to_string()));
    assert!(b.call_tool("beta", json!({})).await.is_err());

    let got = tokio::time::timeout(Duration::from_secs(2), async {
        loop {
            let n = a_notes.recv().await.expect("notification");
            if n["method"] == "notifications/tools/list_changed" {
                return n;
            }
        }
    })
    .await;
    assert!(got.is_ok(), "the changing session is told its list changed");
    let leaked = tokio::time::timeout(Duration::from_millis(300), async {
        loop {
            let n = b_notes.recv().await.expect("notification");
            if n["method"] == "notifications/tools/list_changed" {
                return n;
            }
        }
    })
    .await;
    assert!(leaked.is_err(), "other sessions get no list_changed for someone else's overlay");

    a.call_tool("reset_vis", json!({})).await.expect("reset");
    assert!(names(&a).await.contains(&"admin_reset".to_string()));
    a.close().await;
    b.close().await;
}

#[tokio::test]
async fn a_value_of_another_type_is_a_typed_error_naming_the_key() {
    let srv =
        Server::builder("t", "1")
            .tool(
                ToolDef::new("put")
                    .handler(|c: Context, _: NoArgs| async move { c.state().set("k", "text").await.map(|_| "ok") }),
            )
            .tool(ToolDef::new("get_int").handler(|c: Context, _: NoArgs| async move {
                c.state().get::<i64>("k").await.map(|v| v.unwrap_or(0))
            }))
            .build();
    let c = Client::in_memory(srv, ClientOptions::legacy()).await.expect("connect");
    c.call_tool("put", json!({})).await.expect("put");
    let err = c.call_tool("get_int", json!({})).await.expect_err("type mismatch is an error");
    assert!(err.to_string().contains("`k`"), "{err}");
    c.close().await;
}
