//! Answers: plain JSON when the handler finishes without sending anything first, or an
//! SSE stream the moment it sends a notification or a server→client request.
//!
//! The handler future starts inside the HTTP handler. If it completes first, the answer
//! is one `application/json` body (frames it queued just before finishing are sent as
//! one SSE body instead, so nothing is lost). If a frame arrives first, the rest of the
//! call moves to a task that streams SSE events. This is the modern era's path, where
//! closing the stream cancels the request; legacy answers are in `legacy_stream`.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;

use axum::body::Body;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::Response;
use bytes::{BufMut, Bytes, BytesMut};
use ferromcp_core::Reply;
use ferromcp_core::outbound::Frames;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// A request's dispatch future, boxed once where it is created: the HTTP handler's own
/// future then holds a pointer, not the dispatch state (which is moved on every poll
/// layer above and was the largest memcpy per call).
pub(crate) type ReplyFuture = Pin<Box<dyn Future<Output = Reply> + Send + 'static>>;

/// One SSE `message` event carrying a JSON-RPC message.
pub(crate) fn sse_event(frame: &[u8]) -> Bytes {
    let mut b = BytesMut::with_capacity(frame.len() + 24);
    b.put_slice(b"event: message\ndata: ");
    b.put_slice(frame);
    b.put_slice(b"\n\n");
    b.freeze()
}

pub(crate) fn json_response(status: u16, body: Vec<u8>, extra: HeaderMap) -> Response {
    let mut r = Response::new(Body::from(body));
    *r.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::OK);
    r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    if !extra.is_empty() {
        r.headers_mut().extend(extra);
    }
    r
}

pub(crate) fn empty_response(status: StatusCode) -> Response {
    let mut r = Response::new(Body::empty());
    *r.status_mut() = status;
    r
}

pub(crate) fn sse_response(body: Body, extra: HeaderMap) -> Response {
    let mut r = Response::new(body);
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/event-stream"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    h.insert("x-accel-buffering", HeaderValue::from_static("no"));
    if !extra.is_empty() {
        h.extend(extra);
    }
    r
}

pub(crate) fn channel_body(rx: mpsc::Receiver<Bytes>) -> Body {
    let stream =
        futures_util::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|b| (Ok::<_, Infallible>(b), rx)) });
    Body::from_stream(stream)
}

fn reply_response(reply: Reply, extra: HeaderMap) -> Response {
    match reply.body {
        Some(b) => json_response(reply.status, b, extra),
        None => empty_response(StatusCode::ACCEPTED),
    }
}

/// Drives `fut` and answers with JSON or SSE as described in the module docs.
pub(crate) async fn respond(
    mut fut: ReplyFuture,
    mut frames: Frames,
    cancel: CancellationToken,
    sse_ok: bool,
    extra: HeaderMap,
) -> Response {
    if !sse_ok {
        // The client takes only JSON: frames are dropped (asks were disabled upstream).
        let reply = json_only(&mut fut, &mut frames).await;
        return reply_response(reply, extra);
    }
    let first = tokio::select! {
        biased;
        reply = &mut fut => {
            let mut queued = Vec::new();
            while let Some(f) = frames.try_recv() {
                queued.push(f);
            }
            if queued.is_empty() || reply.status != 200 {
                return reply_response(reply, extra);
            }
            let mut body = BytesMut::new();
            for f in &queued {
                body.put_slice(&sse_event(f));
            }
            if let Some(b) = reply.body {
                body.put_slice(&sse_event(&b));
            }
            return sse_response(Body::from(body.freeze()), extra);
        }
        f = frames.recv() => match f {
            Some(f) => f,
            None => return reply_response(fut.await, extra),
        },
    };
    let (tx, rx) = mpsc::channel::<Bytes>(32);
    let _ = tx.try_send(sse_event(&first));
    tokio::spawn(async move {
        let mut open = true;
        let mut frames_done = false;
        loop {
            tokio::select! {
                biased;
                f = frames.recv(), if !frames_done => match f {
                    Some(f) => if open && tx.send(sse_event(&f)).await.is_err() {
                        open = false;
                        cancel.cancel();
                    },
                    None => frames_done = true,
                },
                reply = &mut fut => {
                    while let Some(f) = frames.try_recv() {
                        if open && tx.send(sse_event(&f)).await.is_err() { open = false; }
                    }
                    if let (true, Some(b)) = (open, reply.body) {
                        let _ = tx.send(sse_event(&b)).await;
                    }
                    break;
                }
                _ = tx.closed(), if open => {
                    open = false;
                    cancel.cancel();
                }
            }
        }
    });
    sse_response(channel_body(rx), extra)
}

/// Runs a request whose client takes only JSON to its reply; the frames it sends
/// meanwhile are dropped (asks were disabled upstream).
pub(crate) async fn json_only(fut: &mut ReplyFuture, frames: &mut Frames) -> Reply {
    loop {
        tokio::select! {
            biased;
            r = &mut *fut => return r,
            f = frames.recv() => if f.is_none() { return fut.await },
        }
    }
}
