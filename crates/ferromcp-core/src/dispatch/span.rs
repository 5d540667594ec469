//! Observability of every request, in one place: a `tracing` span and (when turned on)
//! request, error and latency metrics through the [`metrics`] facade.
//!
//! # The span
//!
//! Every request served by [`handle_request`](super::handle_request) runs inside an
//! `info` span named `mcp.request` with these fields:
//!
//! | field | value |
//! |---|---|
//! | `method` | the JSON-RPC method (`tools/call`, …) |
//! | `name` | the tool or prompt name, or the resource URI (those three methods only) |
//! | `era` | the protocol version in force (`2025-11-25`, `2026-07-28`, …) |
//! | `scope` | the kind of session scope (`session`, `connection`, `principal`, `handle`, `process`, `none`), never its id |
//! | `trace_id`, `parent_span_id` | from a valid W3C `_meta.traceparent` (either era) |
//! | `outcome` | `ok`, `error` (a JSON-RPC error) or `cancelled` (nothing was answered) |
//!
//! A subscriber or exporter (OpenTelemetry, …) can join the agent's trace through
//! `trace_id` and `parent_span_id`. Without an interested subscriber, nothing is
//! computed, recorded or allocated: the fields are filled only when the span is enabled.
//!
//! # Metrics
//!
//! After [`set_metrics_enabled(true)`](set_metrics_enabled) (`ferromcp-http` does it when
//! it serves metrics), each request records, labelled by `method` and `component` (the
//! registered tool or prompt name, the static resource URI or the matching template for
//! `tools/call`, `resources/read` and `prompts/get`; `unknown` for names not registered,
//! so clients cannot grow the label set; empty for the other methods):
//!
//! - `ferromcp_requests_total` (counter),
//! - `ferromcp_request_errors_total` (counter, JSON-RPC errors),
//! - `ferromcp_request_duration_seconds` (histogram, until the reply is ready).
//!
//! They go to whatever global `metrics` recorder is installed.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use futures_util::future::Either;
use serde::Deserialize;
use tracing::Instrument;
use tracing::field::Empty;

use super::{Reply, RequestEnv};
use crate::jsonrpc::Request;
use crate::server::Server;
use crate::state::SessionScope;

static METRICS: AtomicBool = AtomicBool::new(false);

/// The name of the request counter.
pub const REQUESTS_TOTAL: &str = "ferromcp_requests_total";
/// The name of the JSON-RPC error counter.
pub const REQUEST_ERRORS_TOTAL: &str = "ferromcp_request_errors_total";
/// The name of the latency histogram (seconds).
pub const REQUEST_DURATION_SECONDS: &str = "ferromcp_request_duration_seconds";

/// Turns per-request metrics (and the store metrics of [`crate::store_metrics`]) on or
/// off for the whole process (off by default, so a server without a metrics recorder
/// pays nothing for them).
pub fn set_metrics_enabled(on: bool) {
    METRICS.store(on, Ordering::Relaxed);
    crate::store_metrics::set_enabled(on);
}

/// Whether per-request metrics are recorded.
pub fn metrics_enabled() -> bool {
    METRICS.load(Ordering::Relaxed)
}

/// What observes one request: its span and, when metrics are on, its labels.
pub(super) struct Observer {
    span: tracing::Span,
    labels: Option<[String; 2]>,
}

impl Observer {
    /// The span (fields filled only if a subscriber wants it) and the metric labels.
    pub(super) fn new(server: &Server, req: &Request, env: &RequestEnv) -> Observer {
        let span = tracing::info_span!(
            "mcp.request",
            method = %req.method,
            name = Empty,
            era = env.era.version(),
            scope = Empty,
            trace_id = Empty,
            parent_span_id = Empty,
            outcome = Empty,
        );
        if !span.is_disabled() {
            fill(&span, req);
        }
        Observer { span, labels: metrics_enabled().then(|| labels(server, req)) }
    }

    /// `fut` (the request's work) inside the span and metrics; `fut` itself, unwrapped
    /// and unboxed, when neither a subscriber nor metrics want it.
    pub(super) fn wrap<F>(self, fut: F) -> Either<F, Pin<Box<dyn Future<Output = Reply> + Send>>>
    where
        F: Future<Output = Reply> + Send + 'static,
    {
        let Observer { span, labels } = self;
        if span.is_disabled() && labels.is_none() {
            return Either::Left(fut);
        }
        Either::Right(Box::pin(async move {
            let start = Instant::now();
            let reply = fut.instrument(span.clone()).await;
            let outcome = match (&reply.body, reply.is_error) {
                (None, _) => "cancelled",
                (Some(_), true) => "error",
                (Some(_), false) => "ok",
            };
            span.record("outcome", outcome);
            if let Some([method, component]) = labels {
                let labels = [("method", method), ("component", component)];
                metrics::counter!(REQUESTS_TOTAL, &labels).increment(1);
                if reply.is_error {
                    metrics::counter!(REQUEST_ERRORS_TOTAL, &labels).increment(1);
                }
                metrics::histogram!(REQUEST_DURATION_SECONDS, &labels).record(start.elapsed().as_secs_f64());
            }
            reply
        }))
    }
}

/// Records the scope kind on the current request span (no-op without one).
pub(super) fn record_scope(scope: &SessionScope) {
    let span = tracing::Span::current();
    if span.is_disabled() {
        return;
    }
    span.record("scope", scope.kind());
}

/// The fields only an enabled span needs: the component name and the trace context.
fn fill(span: &tracing::Span, req: &Request) {
    if let Some(name) = &req.name {
        span.record("name", name.as_str());
    }
    let Some(params) = req.params.as_deref() else { return };
    if !params.contains("traceparent") {
        return;
    }
    if let Some(tp) = traceparent(params) {
        span.record("trace_id", tp.trace_id.as_str());
        span.record("parent_span_id", tp.parent_id.as_str());
    }
}

/// A valid W3C trace context (`traceparent`), borrowed from the header text.
#[derive(Debug, PartialEq, Eq)]
pub struct TraceParent<'a> {
    /// 32 lowercase hex digits, not all zero.
    pub trace_id: &'a str,
    /// 16 lowercase hex digits, not all zero.
    pub parent_id: &'a str,
    /// The trace flags (bit 0: sampled).
    pub flags: u8,
}

impl<'a> TraceParent<'a> {
    /// Parses a `traceparent` value (W3C Trace Context level 1: version `00`, or a
    /// later version whose first four fields have the same form); `None` if invalid.
    pub fn parse(s: &'a str) -> Option<TraceParent<'a>> {
        let hex = |t: &str, n: usize| t.len() == n && t.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
        let mut parts = s.splitn(5, '-');
        let (version, trace_id, parent_id, flags) = (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
        let rest = parts.next();
        if !hex(version, 2) || version == "ff" || (version == "00" && rest.is_some()) {
            return None;
        }
        if !hex(trace_id, 32) || !hex(parent_id, 16) || !hex(flags, 2) {
            return None;
        }
        if trace_id.bytes().all(|b| b == b'0') || parent_id.bytes().all(|b| b == b'0') {
            return None;
        }
        Some(TraceParent { trace_id, parent_id, flags: u8::from_str_radix(flags, 16).ok()? })
    }
}

#[derive(Deserialize)]
struct MetaOnly<'a> {
    #[serde(rename = "_meta", borrow, default)]
    meta: Option<TraceMeta<'a>>,
}

#[derive(Deserialize)]
struct TraceMeta<'a> {
    #[serde(borrow, default)]
    traceparent: Option<std::borrow::Cow<'a, str>>,
}

/// The trace context in `params._meta.traceparent`, if valid. Returns owned text only
/// when the JSON string had escapes.
fn traceparent(params: &str) -> Option<TraceParentOwned> {
    let m: MetaOnly<'_> = serde_json::from_str(params).ok()?;
    let text = m.meta?.traceparent?;
    let tp = TraceParent::parse(&text)?;
    Some(TraceParentOwned { trace_id: tp.trace_id.to_owned(), parent_id: tp.parent_id.to_owned() })
}

struct TraceParentOwned {
    trace_id: String,
    parent_id: String,
}

/// The metric labels of `req`: its method and its component (bounded by the registry).
fn labels(server: &Server, req: &Request) -> [String; 2] {
    use crate::protocol::Method;
    let method = req.method.to_string();
    let component = match (Method::parse(&req.method), req.name.as_deref()) {
        (Some(Method::CallTool | Method::GetPrompt | Method::ReadResource), None) => "unknown".to_owned(),
        (Some(m @ (Method::CallTool | Method::GetPrompt | Method::ReadResource)), Some(name)) => {
            let c = server.registry().snapshot();
            let known = match m {
                Method::CallTool => c.tools.get(name).map(|t| t.name().to_owned()),
                Method::GetPrompt => c.prompts.get(name).map(|p| p.name().to_owned()),
                _ => c
                    .resources
                    .get(name)
                    .map(|r| r.uri().to_owned())
                    .or_else(|| c.match_template(name).map(|(t, _)| t.resource_template().uri_template.clone())),
            };
            known.unwrap_or_else(|| "unknown".to_owned())
        }
        _ => String::new(),
    };
    [method, component]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn traceparent_parses_the_w3c_form_only() {
        let tp = TraceParent::parse("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01").unwrap();
        assert_eq!(tp.trace_id, "4bf92f3577b34da6a3ce929d0e0e4736");
        assert_eq!(tp.parent_id, "00f067aa0ba902b7");
        assert_eq!(tp.flags, 1);
        assert!(TraceParent::parse("01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00-extra").is_some());
        for bad in [
            "",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
            "00-4bf92f3577b34da6a3ce929d0e0e473-600f067aa0ba902b7-01",
        ] {
            assert_eq!(TraceParent::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn traceparent_is_read_from_params_meta() {
        let p = r#"{"name":"x","_meta":{"progressToken":1,"traceparent":"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"}}"#;
        let tp = traceparent(p).unwrap();
        assert_eq!(
            (tp.trace_id.as_str(), tp.parent_id.as_str()),
            ("4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7")
        );
        assert!(traceparent(r#"{"_meta":{"traceparent":7}}"#).is_none());
        assert!(traceparent(r#"{"_meta":{"traceparent":"nope"}}"#).is_none());
        assert!(traceparent(r#"{"traceparent":"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"}"#).is_none());
    }
}
