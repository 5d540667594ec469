//! The HTTP client against in-process ferromcp servers: resumption after the server
//! closes a stream mid-call (every progress exactly once), a lost session (404) after a
//! restart, and the typed failures: server gone, timeout, refused credentials.

mod http_support;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use ferromcp_client::{BearerToken, Client, ClientEra, ClientError, ClientOptions};
use ferromcp_core::auth::StaticBearer;
use ferromcp_core::state::Principal;
use ferromcp_core::{Context, NoArgs, Server, ToolDef};
use ferromcp_http::{HttpAuth, HttpConfig};
use http_support::{TestServer, WAIT};
use serde_json::json;
use tokio::time::timeout;

fn server() -> Server {
    Server::builder("http-client-test", "1")
        .tool(
            ToolDef::new("poll").handler(|ctx: Context, _: NoArgs| async move {
                for i in 1..=10 {
                    ctx.report_progress(f64::from(i), Some(20.0), None).await;
                }
                // SEP-1699 polling: the connection goes, the call goes on.
                ctx.close_sse_stream().await;
                tokio::time::sleep(Duration::from_millis(200)).await;
                for i in 11..=20 {
                    ctx.report_progress(f64::from(i), Some(20.0), None).await;
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
                "polled"
            }),
        )
        .tool(
            ToolDef::new("slow").handler(|_ctx: Context, _: NoArgs| async move {
                tokio::time::sleep(Duration::from_secs(30)).await;
                "slow"
            }),
        )
        .tool(ToolDef::new("hello").handler(|_ctx: Context, _: NoArgs| async { "hello" }))
        .build()
}

fn legacy() -> ClientOptions {
    ClientOptions::legacy().request_timeout(Duration::from_secs(20))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_closed_stream_is_resumed_and_every_progress_arrives_once() {
    let srv = TestServer::start(server());
    let client = timeout(WAIT, Client::connect_http(&srv.url(), legacy()))
        .await
        .expect("in time")
        .expect("connect");
    for _ in 0..2 {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let s = seen.clone();
        let out = timeout(
            WAIT,
            client
                .tool_call("poll")
                .on_progress(move |p| s.lock().expect("lock").push(p["progress"].as_f64()))
                .send(),
        )
        .await
        .expect("in time")
        .expect("poll");
        assert_eq!(out.text(), "polled");
        let want: Vec<Option<f64>> = (1..=20).map(|i| Some(f64::from(i))).collect();
        assert_eq!(*seen.lock().expect("lock"), want);
    }
    client.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_session_is_opened_again_after_a_restart() {
    let srv = TestServer::start(server());
    let addr = srv.addr;
    let client = timeout(WAIT, Client::connect_http(&srv.url(), legacy()))
        .await
        .expect("in time")
        .expect("connect");
    assert_eq!(
        client.call_tool("hello", ()).await.expect("first").text(),
        "hello"
    );
    srv.stop();
    // Nobody listens: a typed error, not a hang.
    let gone = timeout(WAIT, client.call_tool("hello", ()))
        .await
        .expect("in time")
        .expect_err("server gone");
    assert!(matches!(gone, ClientError::Connect(_)), "{gone}");
    // A new server on the same port knows nothing of the session: 404, re-initialise.
    let srv = TestServer::start_on(server(), addr);
    let again = timeout(WAIT, client.call_tool("hello", ()))
        .await
        .expect("in time")
        .expect("after restart");
    assert_eq!(again.text(), "hello");
    client.close().await;
    drop(srv);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn timeouts_and_unreachable_servers_are_typed_errors() {
    let srv = TestServer::start(server());
    for era in [ClientEra::Legacy, ClientEra::Modern] {
        let opts = ClientOptions::new(era).request_timeout(Duration::from_millis(300));
        let client = timeout(WAIT, Client::connect_http(&srv.url(), opts))
            .await
            .expect("in time")
            .expect("connect");
        let err = timeout(WAIT, client.call_tool("slow", ()))
            .await
            .expect("in time")
            .expect_err("times out");
        assert!(
            matches!(&err, ClientError::Timeout { method, .. } if method == "tools/call"),
            "{era:?}: {err}"
        );
        // The connection still works after a timeout.
        assert_eq!(
            client.call_tool("hello", ()).await.expect("hello").text(),
            "hello"
        );
        client.close().await;
        let closed = client.call_tool("hello", ()).await.expect_err("closed");
        assert!(matches!(closed, ClientError::Closed), "{closed}");
    }
    let port = srv.addr.port();
    srv.stop();
    let err = timeout(
        WAIT,
        Client::connect_http(
            &format!("http://127.0.0.1:{port}/mcp"),
            ClientOptions::default(),
        ),
    )
    .await
    .expect("in time")
    .expect_err("nobody listens");
    assert!(matches!(err, ClientError::Connect(_)), "{err}");
    let bad = Client::connect_http("ftp://example.com", ClientOptions::default())
        .await
        .expect_err("bad url");
    assert!(matches!(bad, ClientError::Usage(_)), "{bad}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bearer_tokens_and_custom_headers_are_sent() {
    let verifier = StaticBearer::new().token("good", Principal::new("alice"));
    let cfg = HttpConfig::default().auth(HttpAuth::required(verifier));
    let srv = TestServer::start_with(server(), "127.0.0.1:0".parse().expect("addr"), cfg);
    for era in [ClientEra::Legacy, ClientEra::Modern, ClientEra::Auto] {
        let ok = ClientOptions::new(era)
            .auth(BearerToken::new("good"))
            .header("X-Test", "1");
        let client = timeout(WAIT, Client::connect_http(&srv.url(), ok))
            .await
            .expect("in time")
            .expect("connect");
        assert_eq!(
            client
                .call_tool("hello", json!({}))
                .await
                .expect("hello")
                .text(),
            "hello"
        );
        client.close().await;
        let bad = ClientOptions::new(era).auth(BearerToken::new("bad"));
        let err = timeout(WAIT, Client::connect_http(&srv.url(), bad))
            .await
            .expect("in time")
            .expect_err("refused");
        assert!(
            matches!(err, ClientError::Unauthorized { status: 401, .. }),
            "{era:?}: {err}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invalid_custom_header_is_a_usage_error() {
    let srv = TestServer::start(server());
    let opts = ClientOptions::default().header("X-Bad", "line\nbreak");
    let err = timeout(WAIT, Client::connect_http(&srv.url(), opts))
        .await
        .expect("in time")
        .expect_err("bad header");
    assert!(
        matches!(&err, ClientError::Usage(m) if m.contains("custom headers")),
        "{err}"
    );
}

/// Starts with a wrong token (an empty one: no `Authorization` header at all); each
/// refusal it is told about, it records whether a header was sent, switches to `next`
/// (if set) and asks for a retry.
struct Rotating {
    token: std::sync::Mutex<String>,
    next: Option<String>,
    refusals: std::sync::atomic::AtomicUsize,
    sent: std::sync::Mutex<Vec<bool>>,
}

impl ferromcp_client::AuthProvider for Rotating {
    fn authorization(
        &self,
    ) -> futures_util::future::BoxFuture<'_, ferromcp_client::Result<Option<String>>> {
        Box::pin(async move {
            let token = self.token.lock().expect("lock").clone();
            Ok((!token.is_empty()).then(|| format!("Bearer {token}")))
        })
    }
    fn on_rejected<'a>(
        &'a self,
        challenge: &'a ferromcp_client::AuthChallenge,
    ) -> futures_util::future::BoxFuture<'a, ferromcp_client::Result<bool>> {
        Box::pin(async move {
            assert_eq!(challenge.status, 401);
            self.refusals
                .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            self.sent
                .lock()
                .expect("lock")
                .push(challenge.authorization_sent);
            if let Some(n) = &self.next {
                *self.token.lock().expect("lock") = n.clone();
            }
            Ok(true)
        })
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_auth_provider_fixes_a_refusal_and_endless_retries_are_capped() {
    let verifier = StaticBearer::new().token("good", Principal::new("alice"));
    let cfg = HttpConfig::default().auth(HttpAuth::required(verifier));
    let srv = TestServer::start_with(server(), "127.0.0.1:0".parse().expect("addr"), cfg);
    let fixes = Arc::new(Rotating {
        token: Mutex::new(String::new()),
        next: Some("good".into()),
        refusals: Default::default(),
        sent: Default::default(),
    });
    let mut opts = ClientOptions::legacy();
    opts.http.auth = Some(fixes.clone());
    let client = timeout(WAIT, Client::connect_http(&srv.url(), opts))
        .await
        .expect("in time")
        .expect("connect");
    assert_eq!(
        client.call_tool("hello", ()).await.expect("hello").text(),
        "hello"
    );
    assert_eq!(fixes.refusals.load(std::sync::atomic::Ordering::SeqCst), 1);
    assert_eq!(
        *fixes.sent.lock().expect("lock"),
        vec![false],
        "the first request carried no Authorization header, and the challenge says so"
    );
    client.close().await;

    let never = Arc::new(Rotating {
        token: Mutex::new("bad".into()),
        next: None,
        refusals: Default::default(),
        sent: Default::default(),
    });
    let mut opts = ClientOptions::modern();
    opts.http.auth = Some(never.clone());
    opts.http.max_auth_retries = 100;
    let err = timeout(WAIT, Client::connect_http(&srv.url(), opts))
        .await
        .expect("in time")
        .expect_err("refused");
    assert!(
        matches!(err, ClientError::Unauthorized { status: 401, .. }),
        "{err}"
    );
    assert_eq!(
        never.refusals.load(std::sync::atomic::Ordering::SeqCst),
        ferromcp_client::auth::MAX_AUTH_RETRIES,
        "retries stop at the hard cap"
    );
    assert!(
        never.sent.lock().expect("lock").iter().all(|s| *s),
        "a refused token: every challenge says a header was sent"
    );
}
