//! What one client can make the HTTP app hold, bounded: open SSE streams (in total,
//! [`HttpConfig::max_open_streams`](crate::HttpConfig::max_open_streams)) and the refusal
//! a client gets when a bound is reached (503 or 429 with `Retry-After`, and a JSON-RPC
//! error body that says what to do).

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::{HeaderValue, header};
use axum::response::Response;
use bytes::Bytes;
use ferromcp_core::ProtocolError;
use tokio::sync::mpsc;

use crate::post::error_response;

/// Seconds a refused client is asked to wait before it retries.
pub(crate) const RETRY_AFTER_SECS: u64 = 1;

/// The count of open SSE streams, against its maximum.
#[derive(Debug)]
pub(crate) struct OpenStreams {
    open: AtomicUsize,
    max: usize,
    /// When the last refusal was logged (ms since `epoch`, plus one; 0 = never), so a
    /// flood of refused streams logs one warning per `WARN_EVERY`.
    warned: AtomicU64,
    epoch: Instant,
}

/// At most one "streams refused" warning per this interval.
const WARN_EVERY: Duration = Duration::from_secs(10);

/// One open SSE stream's place in the count; dropping it frees the place.
#[derive(Debug)]
pub(crate) struct StreamSlot(Arc<OpenStreams>);

impl Drop for StreamSlot {
    fn drop(&mut self) {
        self.0.open.fetch_sub(1, Ordering::AcqRel);
    }
}

impl OpenStreams {
    pub(crate) fn new(max: usize) -> Arc<Self> {
        Arc::new(OpenStreams { open: AtomicUsize::new(0), max, warned: AtomicU64::new(0), epoch: Instant::now() })
    }

    /// How many streams are open now.
    pub(crate) fn open(&self) -> usize {
        self.open.load(Ordering::Acquire)
    }

    /// A place for one more stream; `None` when all are taken (answer with
    /// [`refusal`](Self::refusal)).
    pub(crate) fn try_open(self: &Arc<Self>) -> Option<StreamSlot> {
        if self.open.fetch_add(1, Ordering::AcqRel) >= self.max {
            self.open.fetch_sub(1, Ordering::AcqRel);
            return None;
        }
        Some(StreamSlot(self.clone()))
    }

    /// The answer to a stream refused because all places are taken: 503.
    pub(crate) fn refusal(&self) -> Response {
        let now = self.epoch.elapsed().as_millis() as u64 + 1;
        let last = self.warned.load(Ordering::Relaxed);
        if (last == 0 || now.saturating_sub(last) >= WARN_EVERY.as_millis() as u64)
            && self.warned.compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed).is_ok()
        {
            tracing::warn!(max = self.max, "SSE streams refused: max_open_streams reached (logged every 10 s at most)");
        }
        overloaded(
            503,
            format!(
                "Service Unavailable: {} SSE streams are open, the server's max_open_streams limit; retry later",
                self.max
            ),
        )
    }
}

/// A response body fed by `rx` that holds `slot` until the body is dropped (the stream
/// ended, or the client went away).
pub(crate) fn counted_body(rx: mpsc::Receiver<Bytes>, slot: StreamSlot) -> Body {
    let stream = futures_util::stream::unfold((rx, slot), |(mut rx, slot)| async move {
        rx.recv().await.map(|b| (Ok::<_, Infallible>(b), (rx, slot)))
    });
    Body::from_stream(stream)
}

/// A refusal for a bound reached: `status` (503 or 429), `Retry-After`, and a JSON-RPC
/// error whose message names the bound and what to do.
pub(crate) fn overloaded(status: u16, message: String) -> Response {
    let mut r = error_response(&ProtocolError::invalid_request(message).with_status(status), None);
    r.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(RETRY_AFTER_SECS));
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn streams_past_the_maximum_are_refused_until_one_closes() {
        let streams = OpenStreams::new(2);
        let a = streams.try_open().unwrap();
        let (_tx, rx) = mpsc::channel(1);
        let body = counted_body(rx, streams.try_open().unwrap());
        assert!(streams.try_open().is_none());
        let refused = streams.refusal();
        assert_eq!(refused.status(), 503);
        assert_eq!(refused.headers()[header::RETRY_AFTER], "1");
        assert_eq!(streams.open(), 2);
        drop(body);
        assert_eq!(streams.open(), 1, "dropping the body frees its place");
        let c = streams.try_open().unwrap();
        drop((a, c));
        assert_eq!(streams.open(), 0);
    }
}
