//! Session resources: values a handler creates once per session scope (a database
//! connection, a client, a scratch directory) and the server closes once when that
//! scope ends. The handler side is `Context::session_resource` (in `context`); this
//! module is the table behind it and the closing the end-of-session seam calls.
//!
//! The guide's `SessionResourceManager`, done safely:
//! - **Created once.** Each `(session, key)` has one cell; concurrent first calls wait
//!   for the same initialisation ([`tokio::sync::OnceCell`]). A failed initialisation
//!   stores nothing, so the next call tries again.
//! - **Closed once, whatever ends the session.** The table is emptied by the one
//!   cleanup of a session (whoever wins `Session::claim_cleanup`: `Server::end_scope`
//!   for DELETE, stdio EOF and HTTP+SSE disconnects; the registry's end hook in
//!   `keys::on_session_end` for the idle reaper and shedding). Each cell's close hook
//!   is taken under the cell's lock, so exactly one party runs it.
//! - **Never resurrected.** A resource asked for after its session closed is refused
//!   (the check and the insert share the table lock with the end path, which closes
//!   the session before it takes the lock). One whose initialisation was still running
//!   when the session ended is closed by the initialiser as soon as it is ready.
//!
//! The value is then dropped when its last `Arc` goes: the table's, the close hook's,
//! and any the handlers still hold for the rest of their requests.

use std::any::Any;
use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};

use crate::error::{Error, Result};
use crate::session::Session;

type BoxFut = Pin<Box<dyn Future<Output = ()> + Send>>;
/// A resource's close hook, bound to its value.
pub(crate) type Closer = Box<dyn FnOnce() -> BoxFut + Send>;
type AnyValue = Arc<dyn Any + Send + Sync>;
/// A close hook as the handler gives it, before it is bound to its value.
pub(crate) type CloseFn<T> = Box<dyn FnOnce(Arc<T>) -> BoxFut + Send>;

/// One resource of one session.
#[derive(Default)]
struct Cell {
    value: tokio::sync::OnceCell<AnyValue>,
    close: Mutex<CloseState>,
}

#[derive(Default)]
struct CloseState {
    /// The session ended: a closer registered from now on runs at once.
    ended: bool,
    closer: Option<Closer>,
}

/// One session's resources, by key.
type ScopeCells = HashMap<Box<str>, Arc<Cell>>;

/// Every session's resources, by session id then key.
#[derive(Default)]
pub(crate) struct Resources {
    scopes: Mutex<HashMap<Arc<str>, ScopeCells>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn ended(session: &Session) -> Error {
    Error::Other(format!(
        "session `{}` has ended: its resources are closed and no new one is created; the client must open a new session",
        session.id()
    ))
}

impl Resources {
    /// The resource `key` of `session`: created by `init` on first use, closed by
    /// `close` (then dropped) when the session ends.
    pub(crate) async fn get_or_init<T, F, Fut>(
        &self,
        session: &Arc<Session>,
        key: &str,
        init: F,
        close: Option<CloseFn<T>>,
    ) -> Result<Arc<T>>
    where
        T: Send + Sync + 'static,
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<T>>,
    {
        let cell = {
            let mut scopes = lock(&self.scopes);
            if session.is_closed() {
                return Err(ended(session));
            }
            let cells = scopes.entry(session.id_arc()).or_default();
            cells.entry(key.into()).or_default().clone()
        };
        let mut created = false;
        let any = cell
            .value
            .get_or_try_init(|| {
                created = true;
                async move { Ok::<_, Error>(Arc::new(init().await?) as AnyValue) }
            })
            .await?
            .clone();
        let typed = any.downcast::<T>().map_err(|_| {
            Error::Other(format!(
                "session resource `{key}` was created with another type than `{}`: use one key per type",
                std::any::type_name::<T>()
            ))
        })?;
        if !created {
            return Ok(typed);
        }
        let closer: Closer = match close {
            Some(c) => {
                let v = typed.clone();
                Box::new(move || c(v))
            }
            None => Box::new(|| Box::pin(async {})),
        };
        let late = {
            let mut st = lock(&cell.close);
            if st.ended {
                Some(closer)
            } else {
                st.closer = Some(closer);
                None
            }
        };
        match late {
            Some(c) => {
                c().await;
                Err(ended(session))
            }
            None => Ok(typed),
        }
    }

    /// Takes the resources of session `id` out of the table and returns their close
    /// hooks (each exactly once, whichever caller takes it). Called by the one cleanup of
    /// a session, after the session was closed.
    pub(crate) fn take(&self, id: &str) -> Vec<Closer> {
        let Some(cells) = lock(&self.scopes).remove(id) else { return Vec::new() };
        cells
            .into_values()
            .filter_map(|c| {
                let mut st = lock(&c.close);
                st.ended = true;
                st.closer.take()
            })
            .collect()
    }

    /// How many sessions hold resources now.
    #[cfg(test)]
    pub(crate) fn sessions(&self) -> usize {
        lock(&self.scopes).len()
    }
}

/// Runs close hooks one after the other.
pub(crate) async fn close_all(closers: Vec<Closer>) {
    for c in closers {
        c().await;
    }
}

/// Closes a session's resources from a synchronous end hook: in the background on the
/// current runtime, or (without one) by dropping them unclosed, with a warning.
pub(crate) fn close_in_background(closers: Vec<Closer>) {
    if closers.is_empty() {
        return;
    }
    match tokio::runtime::Handle::try_current() {
        Ok(rt) => {
            rt.spawn(close_all(closers));
        }
        Err(_) => tracing::warn!(
            n = closers.len(),
            "a session ended outside a Tokio runtime: its resources are dropped without their close hooks"
        ),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    #[tokio::test]
    async fn concurrent_first_calls_create_once_and_the_end_closes_once() {
        let table = Arc::new(Resources::default());
        let session = Session::new(None);
        let (made, closed) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
        let mut calls = tokio::task::JoinSet::new();
        for _ in 0..16 {
            let (table, session, made, closed) = (table.clone(), session.clone(), made.clone(), closed.clone());
            calls.spawn(async move {
                let close: CloseFn<u32> = Box::new(move |_v| {
                    Box::pin(async move {
                        closed.fetch_add(1, Ordering::SeqCst);
                    })
                });
                table
                    .get_or_init(
                        &session,
                        "n",
                        || async move {
                            tokio::task::yield_now().await;
                            Ok(made.fetch_add(1, Ordering::SeqCst) as u32 + 7)
                        },
                        Some(close),
                    )
                    .await
                    .map(|v| *v)
            });
        }
        while let Some(r) = calls.join_next().await {
            assert_eq!(r.unwrap().unwrap(), 7, "every caller sees the one value");
        }
        assert_eq!(made.load(Ordering::SeqCst), 1);
        session.close();
        close_all(table.take(session.id())).await;
        assert!(table.take(session.id()).is_empty(), "a second end finds nothing");
        assert_eq!(closed.load(Ordering::SeqCst), 1);
        assert_eq!(table.sessions(), 0);
        let again = table.get_or_init(&session, "n", || async { Ok(1u32) }, None).await;
        assert!(again.unwrap_err().to_string().contains("has ended"));
        assert_eq!(table.sessions(), 0, "an ended session gets no new entry");
    }

    #[tokio::test]
    async fn a_failed_init_stores_nothing_and_a_wrong_type_is_refused() {
        let table = Resources::default();
        let session = Session::new(None);
        let e = table.get_or_init::<u32, _, _>(&session, "k", || async { Err(Error::Other("no db".into())) }, None);
        assert_eq!(e.await.unwrap_err().to_string(), "no db");
        assert_eq!(*table.get_or_init(&session, "k", || async { Ok(5u32) }, None).await.unwrap(), 5);
        let wrong = table.get_or_init(&session, "k", || async { Ok("x".to_string()) }, None).await;
        assert!(wrong.unwrap_err().to_string().contains("another type"));
    }
}
