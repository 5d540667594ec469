//! Drives a handler future and notices MRTR asks that parked it.
//!
//! After every poll that leaves the handler pending, the driver checks whether any ask
//! registered an unanswered input request. If so the handler is dropped (it is replayed
//! on the retry) and the call ends with `input_required`. Asks awaited together
//! (`tokio::join!`) are all polled in the same poll, so they become one round.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context as TaskCx, Poll};

use crate::context::Context;

/// The outcome of a driven handler.
pub(crate) enum Driven<T> {
    /// The handler finished.
    Done(T),
    /// The handler parked on asks that need the client's input.
    InputRequired,
}

pub(crate) struct Drive<F> {
    fut: F,
    ctx: Context,
}

impl<F> Drive<F> {
    pub(crate) fn new(fut: F, ctx: Context) -> Self {
        Drive { fut, ctx }
    }
}

impl<F: Future + Unpin> Future for Drive<F> {
    type Output = Driven<F::Output>;
    fn poll(mut self: Pin<&mut Self>, cx: &mut TaskCx<'_>) -> Poll<Self::Output> {
        match Pin::new(&mut self.fut).poll(cx) {
            Poll::Ready(v) => Poll::Ready(Driven::Done(v)),
            Poll::Pending => {
                let parked = self
                    .ctx
                    .inner
                    .mrtr
                    .as_ref()
                    .is_some_and(|m| !m.lock().unwrap_or_else(|p| p.into_inner()).pending.is_empty());
                if parked { Poll::Ready(Driven::InputRequired) } else { Poll::Pending }
            }
        }
    }
}
