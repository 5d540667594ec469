//! `GET /metrics`: the session counters in the Prometheus text exposition format
//! (version 0.0.4), from [`Server::metrics_text`].
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
use ferromcp_core::Server;

use crate::config::DnsRebinding;

/// The content type of the Prometheus text format.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

#[derive(Clone)]
struct MetricsState {
    server: Server,
    guard: Option<DnsRebinding>,
}

async fn serve(State(st): State<MetricsState>, headers: HeaderMap) -> Response {
    if let Some(policy) = &st.guard
        && let Err(why) = crate::guard::check(policy, &headers)
    {
        return (StatusCode::FORBIDDEN, why).into_response();
    }
    ([(header::CONTENT_TYPE, HeaderValue::from_static(CONTENT_TYPE))], st.server.metrics_text()).into_response()
}

/// A router serving `GET /metrics` for `server` (no Host/Origin check: bind it where
/// only your scraper reaches it).
pub fn metrics_router(server: Server) -> Router {
    route(server, "/metrics", None)
}

/// `GET path`, behind `guard` if given.
pub(crate) fn route(server: Server, path: &str, guard: Option<DnsRebinding>) -> Router {
    Router::new().route(path, get(serve)).with_state(MetricsState { server, guard })
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
        assert_eq!(body, server.metrics_text());
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
