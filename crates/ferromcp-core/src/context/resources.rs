//! `Context::session_resource` and friends: values created once per session scope and
//! closed when it ends (the table and its rules are in `crate::resources`), and
//! `Context::lifespan`, the value the server's startup hook made.
//!
//! Which scopes have resources: a 2025-11-25 Streamable HTTP session (ends on DELETE,
//! idle expiry or shedding), a connection (stdio, in-memory, HTTP+SSE: ends when it
//! closes), and modern-era stdio, whose process scope is that one connection. A
//! 2026-07-28 HTTP request has no session the server can see end (its principal and
//! handle scopes live in the state store with a TTL, possibly on another node), so it
//! is refused with [`Error::NoScope`]: keep such values in the server's
//! [`lifespan`](crate::ServerBuilder::lifespan), or open them per call.

use std::future::Future;
use std::sync::Arc;

use super::Context;
use crate::error::{Error, Result};
use crate::session::Session;
use crate::state::SessionScope;

impl Context {
    /// The resource `key` of this request's session, created by `init` the first time any
    /// request of the session asks for it, and dropped when the session ends (DELETE,
    /// stdio EOF, HTTP+SSE disconnect, idle expiry, shedding). Concurrent first calls
    /// create it once. Use one key per type: the same key with another type is an error.
    ///
    /// Refused with [`Error::NoScope`] on a 2026-07-28 HTTP request (no session the server
    /// can see end; see the module docs), and with [`Error::Other`] once the session ended.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use std::sync::atomic::{AtomicU64, Ordering};
    /// use ferromcp_core::{Context, NoArgs, ToolDef};
    /// let t = ToolDef::new("hits").handler(|ctx: Context, _: NoArgs| async move {
    ///     let hits: Arc<AtomicU64> = ctx.session_resource("hits", || AtomicU64::new(0)).await?;
    ///     Ok::<_, ferromcp_core::Error>(hits.fetch_add(1, Ordering::Relaxed).to_string())
    /// });
    /// # let _ = t;
    /// ```
    pub async fn session_resource<T, F>(&self, key: &str, init: F) -> Result<Arc<T>>
    where
        T: Send + Sync + 'static,
        F: FnOnce() -> T,
    {
        let session = self.resource_session()?;
        let table = &self.inner.server.inner.resources;
        table.get_or_init(session, key, || async move { Ok(init()) }, None).await
    }

    /// Like [`session_resource`](Self::session_resource), with an asynchronous, fallible
    /// `init` (a failure is returned and nothing is stored: the next call tries again).
    ///
    /// ```
    /// use ferromcp_core::{Context, NoArgs, ToolDef};
    /// struct Conn(String);
    /// async fn connect() -> std::io::Result<Conn> { Ok(Conn("db".into())) }
    /// let t = ToolDef::new("q").handler(|ctx: Context, _: NoArgs| async move {
    ///     let conn = ctx.session_resource_with("db", || async { Ok(connect().await?) }).await?;
    ///     Ok::<_, ferromcp_core::Error>(conn.0.clone())
    /// });
    /// # let _ = t;
    /// ```
    pub async fn session_resource_with<T, F, Fut>(&self, key: &str, init: F) -> Result<Arc<T>>
    where
        T: Send + Sync + 'static,
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<T>>,
    {
        let session = self.resource_session()?;
        self.inner.server.inner.resources.get_or_init(session, key, init, None).await
    }

    /// Like [`session_resource_with`](Self::session_resource_with), plus a `close` hook
    /// awaited exactly once when the session ends (before the value is dropped): flush,
    /// say goodbye to a remote service, remove a temporary directory. A close hook run by
    /// the idle reaper or shedding runs in the background; one run by DELETE, stdio EOF or
    /// an HTTP+SSE disconnect is awaited before the session's end completes.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use ferromcp_core::{Context, NoArgs, ToolDef};
    /// struct Scratch(std::path::PathBuf);
    /// let t = ToolDef::new("scratch").handler(|ctx: Context, _: NoArgs| async move {
    ///     let dir = ctx
    ///         .session_resource_closing(
    ///             "scratch",
    ///             || async { Ok(Scratch(std::env::temp_dir().join("my-session"))) },
    ///             |d: Arc<Scratch>| async move { let _ = std::fs::remove_dir_all(&d.0); },
    ///         )
    ///         .await?;
    ///     Ok::<_, ferromcp_core::Error>(dir.0.display().to_string())
    /// });
    /// # let _ = t;
    /// ```
    pub async fn session_resource_closing<T, F, Fut, C, CFut>(&self, key: &str, init: F, close: C) -> Result<Arc<T>>
    where
        T: Send + Sync + 'static,
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<T>>,
        C: FnOnce(Arc<T>) -> CFut + Send + 'static,
        CFut: Future<Output = ()> + Send + 'static,
    {
        let session = self.resource_session()?;
        let close: crate::resources::CloseFn<T> = Box::new(move |v| Box::pin(close(v)));
        self.inner.server.inner.resources.get_or_init(session, key, init, Some(close)).await
    }

    /// The value the server's [`lifespan`](crate::ServerBuilder::lifespan) startup hook
    /// returned. Fails when the server has no lifespan of type `T`, or when serving has
    /// not started it (a router nested in your own app: call
    /// [`Server::start`](crate::Server::start) first).
    pub fn lifespan<T: Send + Sync + 'static>(&self) -> Result<Arc<T>> {
        self.inner.server.lifespan::<T>()
    }

    fn resource_session(&self) -> Result<&Arc<Session>> {
        let scoped = matches!(
            self.inner.scope,
            SessionScope::Session(_) | SessionScope::Connection(_) | SessionScope::Process(_)
        );
        match self.inner.session.as_ref() {
            Some(s) if scoped => Ok(s),
            _ => Err(Error::NoScope(format!(
                "session resources need a session the server sees end (a 2025-11-25 session or a stdio/SSE \
                 connection); this request's scope is `{}`: keep shared values in ServerBuilder::lifespan \
                 or open them per call",
                self.inner.scope.kind()
            ))),
        }
    }
}
