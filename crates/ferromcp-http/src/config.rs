//! Configuration of the Streamable HTTP transport.

use std::sync::Arc;
use std::time::Duration;

use ferromcp_core::events::{EventStore, MemoryEventStore};

/// DNS-rebinding protection: which `Host` and `Origin` values are accepted.
#[derive(Debug, Clone, Default)]
pub enum DnsRebinding {
    /// Only loopback names (`localhost`, `127.0.0.1`, `[::1]`, any port). The default:
    /// a local server must not be reachable through a rebound public name.
    #[default]
    Loopback,
    /// Only these hosts (`host` or `host:port`) and origins (`scheme://host[:port]`).
    AllowList {
        /// Accepted `Host` values.
        hosts: Vec<String>,
        /// Accepted `Origin` values.
        origins: Vec<String>,
    },
    /// No check (behind a proxy that does its own).
    Off,
}

/// Settings of the HTTP app.
///
/// ```
/// let cfg = ferromcp_http::HttpConfig::default().path("/mcp").stateless().max_body_bytes(1 << 20);
/// assert!(!cfg.stateful);
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct HttpConfig {
    /// The endpoint path (default `/mcp`).
    pub path: String,
    /// Legacy sessions (`Mcp-Session-Id`) on `initialize` (default true). When false,
    /// legacy clients are served without sessions.
    pub stateful: bool,
    /// Largest accepted request body (default 4 MiB); larger bodies get 413.
    pub max_body_bytes: usize,
    /// Host/Origin checks.
    pub dns_rebinding: DnsRebinding,
    /// Interval of `:` keep-alive comments on long SSE streams.
    pub keep_alive: Duration,
    /// Bearer authentication (none by default).
    pub auth: Option<crate::auth::HttpAuth>,
    /// The event store behind resumable legacy streams (`None` = not resumable).
    pub event_store: Option<EventStoreHandle>,
    /// The `retry` (milliseconds) sent in priming events.
    pub sse_retry_ms: u64,
    /// Also serve the 2024-11-05 HTTP+SSE transport (default false): `GET sse_path`
    /// opens a session's stream, `POST messages_path?session_id=…` carries its messages.
    pub legacy_sse: bool,
    /// The HTTP+SSE stream path (default `/sse`).
    pub sse_path: String,
    /// The HTTP+SSE message path (default `/messages`).
    pub messages_path: String,
    /// Serves the session metrics (Prometheus text) at `GET` this path, e.g. `/metrics`
    /// (default `None`); see [`metrics`](crate::metrics). Must differ from `path`.
    pub metrics_path: Option<String>,
    /// How long a POST to the HTTP+SSE `messages_path` waits for its session to have room
    /// (fewer than `sse_max_in_flight` requests in flight) before it is refused with 503
    /// (the stream is not being read) or 429 (too many requests in flight), both with
    /// `Retry-After` (default 5 s).
    pub sse_backpressure_wait: Duration,
    /// Most requests of one HTTP+SSE session in flight: running, or with their answer
    /// waiting for room on the session's stream (default 64). This bounds what a client
    /// that never reads its stream can make the server hold.
    pub sse_max_in_flight: usize,
    /// Most SSE streams open at once in this app: Streamable HTTP `GET` streams and
    /// HTTP+SSE streams (default 10,000). One more is refused with 503 and `Retry-After`.
    pub max_open_streams: usize,
    /// How long a client may take to send a complete request head, counted from the
    /// accept (or from the first byte of a later request on a kept-alive connection);
    /// past it the connection is closed. Default 20 s; zero turns it off. Applies to
    /// [`serve`](crate::serve) / [`serve_listener`](crate::serve_listener).
    pub header_read_timeout: Duration,
    /// How long a request body may send nothing while it is being read; past it the
    /// request is answered 408. Default 30 s; zero turns it off. Applies to
    /// [`serve`](crate::serve) / [`serve_listener`](crate::serve_listener).
    pub body_read_timeout: Duration,
    /// How long a connection with no request in flight may stay open without sending
    /// anything; past it the connection is closed. An open SSE stream is a request in
    /// flight, so it is never idle; but a connection whose peer reads nothing of what is
    /// written to it for this long is closed too. Default 60 s; zero turns it off. Not to be confused
    /// with [`keep_alive`](Self::keep_alive), the SSE comment interval. Applies to
    /// [`serve`](crate::serve) / [`serve_listener`](crate::serve_listener).
    pub keep_alive_timeout: Duration,
    /// The most connections open at once (default 10,000, and never more than 3/4 of the
    /// soft open-files limit when it can be read). At the limit, new connections wait in
    /// the kernel backlog until one closes, and a warning is logged. Applies to
    /// [`serve`](crate::serve) / [`serve_listener`](crate::serve_listener).
    pub max_connections: usize,
    /// Answer every POST with one `application/json` body, never an SSE stream (default
    /// false), even when the client accepts `text/event-stream` — FastMCP's
    /// `json_response`. Progress, logs and legacy server→client requests made during a
    /// call are then not delivered (they need a stream).
    pub json_response: bool,
}

/// A shared [`EventStore`].
#[derive(Clone)]
pub struct EventStoreHandle(pub Arc<dyn EventStore>);

impl std::fmt::Debug for EventStoreHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("EventStore")
    }
}

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig {
            path: "/mcp".into(),
            stateful: true,
            max_body_bytes: 4 * 1024 * 1024,
            dns_rebinding: DnsRebinding::Loopback,
            keep_alive: Duration::from_secs(15),
            auth: None,
            event_store: Some(EventStoreHandle(Arc::new(MemoryEventStore::new()))),
            sse_retry_ms: 1000,
            legacy_sse: false,
            sse_path: "/sse".into(),
            messages_path: "/messages".into(),
            metrics_path: None,
            sse_backpressure_wait: Duration::from_secs(5),
            sse_max_in_flight: 64,
            max_open_streams: 10_000,
            header_read_timeout: Duration::from_secs(20),
            body_read_timeout: Duration::from_secs(30),
            keep_alive_timeout: Duration::from_secs(60),
            max_connections: 10_000,
            json_response: false,
        }
    }
}

impl HttpConfig {
    /// Sets the endpoint path.
    pub fn path(mut self, p: impl Into<String>) -> Self {
        self.path = p.into();
        self
    }
    /// Serves legacy clients without sessions.
    pub fn stateless(mut self) -> Self {
        self.stateful = false;
        self
    }
    /// Sets the body limit.
    pub fn max_body_bytes(mut self, n: usize) -> Self {
        self.max_body_bytes = n;
        self
    }
    /// Sets the event store behind resumable streams (default: in memory).
    pub fn event_store(mut self, store: impl EventStore) -> Self {
        self.event_store = Some(EventStoreHandle(Arc::new(store)));
        self
    }
    /// Turns resumability off (no event ids, nothing stored).
    pub fn without_event_store(mut self) -> Self {
        self.event_store = None;
        self
    }
    /// Sets bearer authentication.
    pub fn auth(mut self, auth: crate::auth::HttpAuth) -> Self {
        self.auth = Some(auth);
        self
    }
    /// Serves (or not) the 2024-11-05 HTTP+SSE transport on `sse_path` and `messages_path`
    /// next to Streamable HTTP, for clients that predate it.
    pub fn legacy_sse(mut self, on: bool) -> Self {
        self.legacy_sse = on;
        self
    }
    /// Serves the session and request metrics at `GET path` (see [`metrics`](crate::metrics)).
    pub fn metrics_path(mut self, path: impl Into<String>) -> Self {
        self.metrics_path = Some(path.into());
        self
    }
    /// Sets the DNS-rebinding policy.
    pub fn dns_rebinding(mut self, d: DnsRebinding) -> Self {
        self.dns_rebinding = d;
        self
    }
    /// How long an HTTP+SSE POST waits for room before 503/429 (default 5 s); see
    /// the `sse_backpressure_wait` field.
    pub fn sse_backpressure_wait(mut self, wait: Duration) -> Self {
        self.sse_backpressure_wait = wait;
        self
    }
    /// Most requests of one HTTP+SSE session in flight (default 64, at least 1); see
    /// the `sse_max_in_flight` field.
    pub fn sse_max_in_flight(mut self, n: usize) -> Self {
        self.sse_max_in_flight = n.max(1);
        self
    }
    /// Most SSE streams open at once (default 10,000); see
    /// the `max_open_streams` field.
    pub fn max_open_streams(mut self, n: usize) -> Self {
        self.max_open_streams = n;
        self
    }
    /// Sets the header-read timeout (see [`header_read_timeout`](Self::header_read_timeout)).
    pub fn header_read_timeout(mut self, d: Duration) -> Self {
        self.header_read_timeout = d;
        self
    }
    /// Sets the body-read idle timeout (see [`body_read_timeout`](Self::body_read_timeout)).
    pub fn body_read_timeout(mut self, d: Duration) -> Self {
        self.body_read_timeout = d;
        self
    }
    /// Sets the idle-connection timeout (see [`keep_alive_timeout`](Self::keep_alive_timeout)).
    pub fn keep_alive_timeout(mut self, d: Duration) -> Self {
        self.keep_alive_timeout = d;
        self
    }
    /// Answers POSTs with JSON only, never SSE (see [`json_response`](Self::json_response)).
    pub fn json_response(mut self, on: bool) -> Self {
        self.json_response = on;
        self
    }
    /// Sets the connection limit (at least 1; see [`max_connections`](Self::max_connections)).
    pub fn max_connections(mut self, n: usize) -> Self {
        self.max_connections = n;
        self
    }
}
