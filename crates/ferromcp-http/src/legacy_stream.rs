//! Answers on the legacy era: the request runs in its own task (a disconnect is not a
//! cancel on 2025-11-25), and the answer is plain JSON unless the handler streams, in
//! which case the call moves to SSE — resumable, with a priming event, event ids and
//! `retry`, when the session has an event store.

use std::sync::Arc;

use axum::body::Body;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use bytes::Bytes;
use ferromcp_core::Reply;
use ferromcp_core::events::EventStore;
use ferromcp_core::outbound::Frames;
use tokio::sync::{mpsc, oneshot};

use crate::resume::{CONN_BUFFER, StreamHub};
use crate::stream::{ReplyFuture, channel_body, empty_response, json_response, sse_event, sse_response};

/// What makes a session's streams resumable.
#[derive(Clone)]
pub(crate) struct Resumable {
    pub(crate) store: Arc<dyn EventStore>,
    pub(crate) hub: Arc<StreamHub>,
    pub(crate) session: Arc<str>,
    pub(crate) retry_ms: u64,
}

enum First {
    Json(Reply),
    Sse(Body),
}

/// Runs the request to completion in a task and answers with JSON or SSE.
pub(crate) async fn respond_legacy(
    fut: ReplyFuture,
    frames: Frames,
    sse_ok: bool,
    resumable: Option<Resumable>,
    extra: HeaderMap,
) -> Response {
    let (first_tx, first_rx) = oneshot::channel();
    tokio::spawn(drive(fut, frames, sse_ok, resumable, first_tx));
    match first_rx.await {
        Ok(First::Json(reply)) => match reply.body {
            Some(b) => json_response(reply.status, b, extra),
            None => empty_response(StatusCode::ACCEPTED),
        },
        Ok(First::Sse(body)) => sse_response(body, extra),
        Err(_) => empty_response(StatusCode::INTERNAL_SERVER_ERROR),
    }
}

async fn drive(
    mut fut: ReplyFuture,
    mut frames: Frames,
    sse_ok: bool,
    resumable: Option<Resumable>,
    first_tx: oneshot::Sender<First>,
) {
    if !sse_ok {
        let reply = crate::stream::json_only(&mut fut, &mut frames).await;
        let _ = first_tx.send(First::Json(reply));
        return;
    }
    let mut queued = Vec::new();
    let mut done: Option<Reply> = None;
    tokio::select! {
        biased;
        reply = &mut fut => {
            while let Some(f) = frames.try_recv() {
                queued.push(f);
            }
            if queued.iter().all(|f| f.is_empty()) || reply.is_error {
                let _ = first_tx.send(First::Json(reply));
                return;
            }
            done = Some(reply);
        }
        f = frames.recv() => match f {
            Some(f) => queued.push(f),
            None => {
                let _ = first_tx.send(First::Json(fut.await));
                return;
            }
        },
    }
    let (tx, rx) = mpsc::channel::<Bytes>(CONN_BUFFER);
    if first_tx.send(First::Sse(channel_body(rx))).is_err() {
        // The client is gone before the first byte; keep running the request anyway.
    }
    match resumable {
        Some(r) => drive_resumable(fut, frames, queued, done, tx, r).await,
        None => drive_plain(fut, frames, queued, done, tx).await,
    }
}

/// SSE without an event store: frames go to the connection while it lasts. When it
/// closes the call cannot be resumed: the request runs on (a disconnect is not a cancel
/// on 2025-11-25) but its stream is dropped, so an ask waiting for the client's answer
/// fails at once instead of waiting out the ask timeout.
async fn drive_plain(
    mut fut: ReplyFuture,
    frames: Frames,
    queued: Vec<Bytes>,
    done: Option<Reply>,
    tx: mpsc::Sender<Bytes>,
) {
    let mut frames = Some(frames);
    for f in queued.iter().filter(|f| !f.is_empty()) {
        if frames.is_some() && tx.send(sse_event(f)).await.is_err() {
            frames = None;
        }
    }
    let reply = match done {
        Some(r) => r,
        None => loop {
            tokio::select! {
                biased;
                f = next_frame(&mut frames) => match f {
                    Some(f) if !f.is_empty() => {
                        if tx.send(sse_event(&f)).await.is_err() {
                            frames = None;
                        }
                    }
                    Some(_) => {}
                    None => break (&mut fut).await,
                },
                _ = tx.closed(), if frames.is_some() => frames = None,
                r = &mut fut => break r,
            }
        },
    };
    let Some(mut frames) = frames else { return };
    while let Some(f) = frames.try_recv() {
        if !f.is_empty() && tx.send(sse_event(&f)).await.is_err() {
            return;
        }
    }
    if let Some(b) = reply.body {
        let _ = tx.send(sse_event(&b)).await;
    }
}

/// The next frame of a stream that is still read; never, once it was dropped.
async fn next_frame(frames: &mut Option<Frames>) -> Option<Bytes> {
    match frames {
        Some(f) => f.recv().await,
        None => std::future::pending().await,
    }
}

/// SSE with an event store: every event is stored, then sent with its id.
async fn drive_resumable(
    mut fut: ReplyFuture,
    mut frames: Frames,
    queued: Vec<Bytes>,
    done: Option<Reply>,
    tx: mpsc::Sender<Bytes>,
    r: Resumable,
) {
    let store = &*r.store;
    let live = r.hub.open(r.session.clone(), tx, false);
    live.emit(store, b"", Some(r.retry_ms)).await;
    for f in queued {
        if f.is_empty() {
            live.detach().await;
        } else {
            live.emit(store, &f, None).await;
        }
    }
    let reply = match done {
        Some(reply) => reply,
        None => loop {
            tokio::select! {
                biased;
                f = frames.recv() => match f {
                    // An empty frame asks to close the connection (SEP-1699 polling).
                    Some(f) if f.is_empty() => live.detach().await,
                    Some(f) => {
                        live.emit(store, &f, None).await;
                    }
                    None => break (&mut fut).await,
                },
                reply = &mut fut => break reply,
            }
        },
    };
    while let Some(f) = frames.try_recv() {
        if !f.is_empty() {
            live.emit(store, &f, None).await;
        }
    }
    if let Some(b) = reply.body {
        live.emit(store, &b, None).await;
    }
    r.hub.finish(&live).await;
}
