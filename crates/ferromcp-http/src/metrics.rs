//! `GET /metrics`: the session counters in the Prometheus text exposition format
//! (version 0.0.4), from [`Server::metrics_text`], followed by the per-request metrics
//! that ferromcp's dispatcher records through the [`metrics`] facade:
//! `ferromcp_requests_total`, `ferromcp_request_errors_total` (counters) and
//! `ferromcp_request_duration_seconds` (a histogram with buckets from 0.5 ms to 30 s),
//! each labelled by `method` and `component` (see
//! [`ferromcp_core::dispatch::set_metrics_enabled`]); the state- and event-store
//! operations, `ferromcp_store_operations_total{store, op, outcome}` and
//! `ferromcp_store_operation_duration_seconds{store, op}` (see
//! [`ferromcp_core::store_metrics`]); and two gauges set when scraped:
//! `ferromcp_pending_asks` (legacy asks waiting for answers) and `ferromcp_open_streams`
//! (open SSE streams of the MCP router; served only by the route on
//! [`HttpConfig::metrics_path`], which knows that router).
//!
//! The per-request metrics are process-wide: the first metrics router built installs a
//! render-only `metrics-exporter-prometheus` recorder as the global `metrics` recorder
//! (no listener of its own; this route serves its text). If the application installed
//! its own global recorder first, the requests are recorded there instead and this
//! route serves the session counters only.
//!
//! Serve it on its own (an internal port, so scrapers need no MCP credentials) with
//! [`metrics_router`], or on the MCP router by setting [`HttpConfig::metrics_path`]
//! (there it passes the same DNS-rebinding guard as the MCP endpoint, but no bearer
//! authentication: it holds counts only).
//!
//! ```no_run
//! # async fn run(server: ferromcp_core::Server) -> std::io::Result<()> {
//! let metrics = ferromcp_http::metrics_router(server.clone());
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:9464").await?;
//! tokio::spawn(async move { axum::serve(listener, metrics).await });
//! # Ok(()) }
//! ```
//!
//! [`HttpConfig::metrics_path`]: crate::HttpConfig::metrics_path

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use std::sync::{Arc, OnceLock};

use ferromcp_core::Server;
use ferromcp_core::dispatch::{REQUEST_DURATION_SECONDS, REQUEST_ERRORS_TOTAL, REQUESTS_TOTAL, set_metrics_enabled};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

use ferromcp_core::store_metrics::{STORE_OPERATION_DURATION_SECONDS, STORE_OPERATIONS_TOTAL};

use crate::config::DnsRebinding;
use crate::limits::OpenStreams;

/// The content type of the Prometheus text format.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Open SSE streams of the router serving this route (a gauge, set when scraped).
pub const OPEN_STREAMS: &str = "ferromcp_open_streams";
/// Legacy server→client asks waiting for the client's answers (a gauge, set when scraped).
pub const PENDING_ASKS: &str = "ferromcp_pending_asks";

#[derive(Clone)]
struct MetricsState {
    server: Server,
    guard: Option<DnsRebinding>,
    streams: Option<Arc<OpenStreams>>,
}

async fn serve(State(st): State<MetricsState>, headers: HeaderMap) -> Response {
    if let Some(policy) = &st.guard
        && let Err(why) = crate::guard::check(policy, &headers)
    {
        return (StatusCode::FORBIDDEN, why).into_response();
    }
    let mut text = st.server.metrics_text();
    if let Some(handle) = recorder() {
        metrics::gauge!(PENDING_ASKS).set(st.server.pending_asks() as f64);
        if let Some(streams) = &st.streams {
            metrics::gauge!(OPEN_STREAMS).set(streams.open() as f64);
        }
        handle.run_upkeep();
        text.push_str(&handle.render());
    }
    ([(header::CONTENT_TYPE, HeaderValue::from_static(CONTENT_TYPE))], text).into_response()
}

/// Latency buckets (seconds) of `ferromcp_request_duration_seconds`.
const BUCKETS: &[f64] = &[0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0];

/// The process's Prometheus recorder, installed (and request metrics turned on) on first
/// use; `None` when another global recorder was installed first.
fn recorder() -> Option<&'static PrometheusHandle> {
    static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            set_metrics_enabled(true);
            let builder = PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Full(REQUEST_DURATION_SECONDS.into()), BUCKETS)
                .ok()?
                .set_buckets_for_metric(Matcher::Full(STORE_OPERATION_DURATION_SECONDS.into()), BUCKETS)
                .ok()?;
            let recorder = builder.build_recorder();
            let handle = recorder.handle();
            if metrics::set_global_recorder(recorder).is_err() {
                tracing::info!("a global `metrics` recorder is already installed: ferromcp records requests there");
                return None;
            }
            metrics::describe_counter!(REQUESTS_TOTAL, "MCP requests served, by method and component.");
            metrics::describe_counter!(REQUEST_ERRORS_TOTAL, "MCP requests answered with a JSON-RPC error.");
            metrics::describe_histogram!(
                REQUEST_DURATION_SECONDS,
                metrics::Unit::Seconds,
                "Time from dispatch to the request's final reply."
            );
            metrics::describe_counter!(
                STORE_OPERATIONS_TOTAL,
                "State- and event-store operations, by store, op and outcome."
            );
            metrics::describe_histogram!(
                STORE_OPERATION_DURATION_SECONDS,
                metrics::Unit::Seconds,
                "State- and event-store operation latency, by store and op."
            );
            metrics::describe_gauge!(OPEN_STREAMS, "Open SSE streams of the MCP router serving this route.");
            metrics::describe_gauge!(PENDING_ASKS, "Legacy server-to-client asks waiting for answers.");
            Some(handle)
        })
        .as_ref()
}

/// A router serving `GET /metrics` for `server` (no Host/Origin check: bind it where
/// only your scraper reaches it).
pub fn metrics_router(server: Server) -> Router {
    route(server, "/metrics", None, None)
}

/// `GET path`, behind `guard` if given.
pub(crate) fn route(
    server: Server,
    path: &str,
    guard: Option<DnsRebinding>,
    streams: Option<Arc<OpenStreams>>,
) -> Router {
    recorder();
    Router::new().route(path, get(serve)).with_state(MetricsState { server, guard, streams })
}

#[cfg(test)]
mod tests {
    use axum::body::Body;
    use axum::http::Request;
    use ferromcp_core::session::{Session, SessionLimits};
    use http_body_util::BodyExt;
    use tower::ServiceExt;

    use super::*;
    use crate::HttpConfig;

    fn server() -> Server {
        Server::builder("m", "1").session_limits(SessionLimits::default().idle_timeout(None).max_sessions(1)).build()
    }

    async fn get(app: Router, path: &str, host: &str) -> (StatusCode, Option<String>, String) {
        let req = Request::get(path).header(header::HOST, host).body(Body::empty()).unwrap();
        let resp = app.oneshot(req).await.unwrap();
        let ct = resp.headers().get(header::CONTENT_TYPE).map(|v| v.to_str().unwrap().to_owned());
        let status = resp.status();
        let body = resp.into_body().collect().await.unwrap().to_bytes();
        (status, ct, String::from_utf8(body.to_vec()).unwrap())
    }

    #[tokio::test]
    async fn metrics_router_serves_prometheus_text() {
        let server = server();
        let s = Session::new(None);
        server.sessions().insert(s);
        server.sessions().insert(Session::new(None)); // sheds the first
        let (status, ct, body) = get(metrics_router(server.clone()), "/metrics", "example.com").await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(ct.as_deref(), Some(CONTENT_TYPE));
        assert!(body.contains("# TYPE ferromcp_sessions_open gauge\nferromcp_sessions_open 1\n"), "{body}");
        assert!(body.contains("# TYPE ferromcp_sessions_created_total counter\nferromcp_sessions_created_total 2\n"));
        assert!(body.contains("ferromcp_sessions_shed_total 1\n"));
        assert!(body.starts_with(&server.metrics_text()), "{body}");
    }

    #[tokio::test]
    async fn the_mcp_router_mounts_metrics_only_when_configured_and_behind_the_guard() {
        let app = crate::router(server(), HttpConfig::default());
        assert_eq!(get(app, "/metrics", "localhost").await.0, StatusCode::NOT_FOUND);

        let app = crate::router(server(), HttpConfig::default().metrics_path("/internal/metrics"));
        let (status, ct, body) = get(app.clone(), "/internal/metrics", "127.0.0.1:3000").await;
        assert_eq!((status, ct.as_deref()), (StatusCode::OK, Some(CONTENT_TYPE)));
        assert!(body.contains("ferromcp_sessions_open 0\n"));
        assert_eq!(get(app, "/internal/metrics", "evil.example").await.0, StatusCode::FORBIDDEN);
    }
}
