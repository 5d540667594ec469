//! The outbound handle: how a request's handler reaches *its own* response stream.
//!
//! Every [`crate::Context`] carries an [`Outbound`] bound, by construction, to the stream
//! of the request it serves (the POST's SSE stream on HTTP, the connection on stdio).
//! Nothing is routed through ambient or task-local state, so a message can never land
//! on another request's stream (the bug class of FastMCP PR #3172).
//!
//! The queue behind a handle is created on the first send: most requests send nothing
//! but their response, and pay for no channel.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use bytes::Bytes;
use tokio::sync::{Notify, mpsc};

/// Frames queued per request stream before senders wait (backpressure).
pub const STREAM_BUFFER: usize = 64;

struct Shared {
    /// Live [`Outbound`] handles; at zero the stream ends once drained.
    senders: AtomicUsize,
    tx: OnceLock<mpsc::Sender<Bytes>>,
    rx: Mutex<Option<mpsc::Receiver<Bytes>>>,
    ready: Notify,
    receiver_gone: AtomicBool,
    /// Woken when the receiving end ([`Frames`]) is dropped.
    gone: Notify,
}

/// A sender of serialized JSON-RPC messages to one stream. An empty frame is a control
/// signal, not a message: "close the current connection" (SEP-1699 polling); transports
/// that cannot resume ignore it.
#[derive(Default)]
pub struct Outbound {
    shared: Option<Arc<Shared>>,
}

impl Clone for Outbound {
    fn clone(&self) -> Self {
        if let Some(s) = &self.shared {
            s.senders.fetch_add(1, Ordering::AcqRel);
        }
        Outbound { shared: self.shared.clone() }
    }
}

impl Drop for Outbound {
    fn drop(&mut self) {
        if let Some(s) = &self.shared
            && s.senders.fetch_sub(1, Ordering::AcqRel) == 1
        {
            s.ready.notify_one();
        }
    }
}

impl std::fmt::Debug for Outbound {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Outbound").field("open", &self.is_open()).finish()
    }
}

/// The receiving end of an [`Outbound`], drained by the transport.
pub struct Frames {
    shared: Arc<Shared>,
    rx: Option<mpsc::Receiver<Bytes>>,
}

/// The stream is gone (the client disconnected or the request ended).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StreamClosed;

impl std::fmt::Display for StreamClosed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the response stream is closed")
    }
}

impl std::error::Error for StreamClosed {}

impl Outbound {
    /// A new stream: the handle and the receiving end the transport drains.
    pub fn channel() -> (Outbound, Frames) {
        let shared = Arc::new(Shared {
            senders: AtomicUsize::new(1),
            tx: OnceLock::new(),
            rx: Mutex::new(None),
            ready: Notify::new(),
            receiver_gone: AtomicBool::new(false),
            gone: Notify::new(),
        });
        (Outbound { shared: Some(shared.clone()) }, Frames { shared, rx: None })
    }

    /// A handle with no stream (messages are dropped; asks fail with a clear error).
    pub fn none() -> Outbound {
        Outbound { shared: None }
    }

    /// Whether a stream is attached and still open.
    pub fn is_open(&self) -> bool {
        self.shared
            .as_ref()
            .is_some_and(|s| !s.receiver_gone.load(Ordering::Acquire) && s.tx.get().is_none_or(|tx| !tx.is_closed()))
    }

    /// Resolves once the stream is closed: its receiving end is gone (the transport
    /// stopped reading it, e.g. the client disconnected). At once for [`Outbound::none`].
    pub async fn closed(&self) {
        let Some(s) = &self.shared else { return };
        loop {
            let gone = s.gone.notified();
            tokio::pin!(gone);
            gone.as_mut().enable();
            if s.receiver_gone.load(Ordering::Acquire) {
                return;
            }
            gone.await;
        }
    }

    /// Whether a frame sent now would be queued without waiting (false once the stream's
    /// buffer is full because nobody reads it, or the stream is closed).
    pub fn has_room(&self) -> bool {
        self.is_open() && self.shared.as_ref().and_then(|s| s.tx.get()).is_none_or(|tx| tx.capacity() > 0)
    }

    fn sender(&self) -> Option<&mpsc::Sender<Bytes>> {
        let s = self.shared.as_ref()?;
        if s.receiver_gone.load(Ordering::Acquire) {
            return None;
        }
        Some(s.tx.get_or_init(|| {
            let (tx, rx) = mpsc::channel(STREAM_BUFFER);
            *s.rx.lock().unwrap_or_else(|p| p.into_inner()) = Some(rx);
            s.ready.notify_one();
            tx
        }))
    }

    /// Sends one serialized message; waits if the stream's buffer is full.
    pub async fn send(&self, frame: Vec<u8>) -> Result<(), StreamClosed> {
        match self.sender() {
            Some(tx) => tx.send(Bytes::from(frame)).await.map_err(|_| StreamClosed),
            None => Err(StreamClosed),
        }
    }

    /// Sends without waiting; drops the message if the buffer is full.
    pub fn try_send(&self, frame: Vec<u8>) -> Result<(), StreamClosed> {
        match self.sender() {
            Some(tx) => tx.try_send(Bytes::from(frame)).map_err(|_| StreamClosed),
            None => Err(StreamClosed),
        }
    }
}

impl Frames {
    fn take_rx(&mut self) -> bool {
        if self.rx.is_none() {
            self.rx = self.shared.rx.lock().unwrap_or_else(|p| p.into_inner()).take();
        }
        self.rx.is_some()
    }

    /// The next frame; `None` once every [`Outbound`] handle is gone and the queue is
    /// drained.
    pub async fn recv(&mut self) -> Option<Bytes> {
        loop {
            let shared = self.shared.clone();
            // Register for wakeups (first send, last handle dropped) before checking.
            let wake = shared.ready.notified();
            tokio::pin!(wake);
            wake.as_mut().enable();
            let open = shared.senders.load(Ordering::Acquire) > 0;
            if self.take_rx() {
                let rx = self.rx.as_mut()?;
                if let Ok(f) = rx.try_recv() {
                    return Some(f);
                }
                if !open {
                    return None;
                }
                tokio::select! {
                    f = rx.recv() => return f,
                    _ = &mut wake => {}
                }
            } else if !open {
                return None;
            } else {
                wake.await;
            }
        }
    }

    /// A queued frame, if any.
    pub fn try_recv(&mut self) -> Option<Bytes> {
        if !self.take_rx() {
            return None;
        }
        self.rx.as_mut()?.try_recv().ok()
    }

    /// Whether nothing is queued.
    pub fn is_empty(&mut self) -> bool {
        !self.take_rx() || self.rx.as_ref().is_none_or(mpsc::Receiver::is_empty)
    }
}

impl Drop for Frames {
    fn drop(&mut self) {
        self.shared.receiver_gone.store(true, Ordering::Release);
        self.shared.gone.notify_waiters();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn frames_arrive_in_order_and_closing_is_seen() {
        let (out, mut frames) = Outbound::channel();
        assert!(frames.try_recv().is_none());
        assert!(out.is_open());
        out.send(b"a".to_vec()).await.unwrap();
        out.send(b"b".to_vec()).await.unwrap();
        assert_eq!(frames.recv().await.unwrap(), Bytes::from_static(b"a"));
        assert_eq!(frames.try_recv().unwrap(), Bytes::from_static(b"b"));
        drop(frames);
        assert!(!out.is_open());
        assert!(out.send(b"c".to_vec()).await.is_err());
        let (out, mut frames) = Outbound::channel();
        let copy = out.clone();
        copy.send(b"last".to_vec()).await.unwrap();
        drop(out);
        drop(copy);
        assert_eq!(frames.recv().await.unwrap(), Bytes::from_static(b"last"), "queued frames are drained");
        assert!(frames.recv().await.is_none(), "the stream ends when every handle is gone");
        let (out, mut frames) = Outbound::channel();
        drop(out);
        assert!(frames.recv().await.is_none(), "a stream nobody wrote to ends too");
    }

    #[tokio::test]
    async fn closed_resolves_when_the_receiver_goes_and_has_room_sees_a_full_buffer() {
        let (out, frames) = Outbound::channel();
        let waiter = {
            let out = out.clone();
            tokio::spawn(async move { out.closed().await })
        };
        for _ in 0..STREAM_BUFFER {
            assert!(out.has_room());
            out.try_send(b"x".to_vec()).unwrap();
        }
        assert!(!out.has_room(), "nobody reads: the buffer is full");
        assert!(out.is_open());
        tokio::task::yield_now().await;
        assert!(!waiter.is_finished(), "the receiver is still there");
        drop(frames);
        tokio::time::timeout(std::time::Duration::from_secs(5), waiter).await.unwrap().unwrap();
        out.closed().await;
        assert!(!out.has_room());
        tokio::time::timeout(std::time::Duration::from_secs(5), Outbound::none().closed()).await.unwrap();
    }

    #[tokio::test]
    async fn a_waiting_receiver_wakes_on_the_first_send() {
        let (out, mut frames) = Outbound::channel();
        let waiter = tokio::spawn(async move { frames.recv().await });
        tokio::task::yield_now().await;
        out.send(b"x".to_vec()).await.unwrap();
        assert_eq!(waiter.await.unwrap().unwrap(), Bytes::from_static(b"x"));
    }
}
