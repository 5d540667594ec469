//! The lifespan half of [`ServerBuilder`] and [`Server`]: the startup/shutdown hooks and
//! how serving runs them (the rules are in `crate::lifespan`).

use std::future::Future;
use std::sync::Arc;

use super::{Server, ServerBuilder};
use crate::error::Result;
use crate::lifespan::Lifespan;

impl ServerBuilder {
    /// A startup hook run once before the server serves (by [`Server::run`], which
    /// `serve_stdio` and the HTTP `serve*` functions call): the value it returns is
    /// reachable from every handler as `ctx.lifespan::<T>()`. If it fails, serving stops
    /// before accepting anything, with its error. Replaces an earlier lifespan.
    ///
    /// ```
    /// # async fn demo() -> ferromcp_core::Result<()> {
    /// use ferromcp_core::{Context, NoArgs, Server, ToolDef};
    /// struct Db { url: String }
    /// let server = Server::builder("demo", "1.0.0")
    ///     .lifespan(|| async { Ok(Db { url: "postgres://localhost/app".into() }) })
    ///     .tool(ToolDef::new("where").handler(|ctx: Context, _: NoArgs| async move {
    ///         Ok::<_, ferromcp_core::Error>(ctx.lifespan::<Db>()?.url.clone())
    ///     }))
    ///     .build();
    /// server.start().await?;
    /// assert_eq!(server.lifespan::<Db>()?.url, "postgres://localhost/app");
    /// # Ok(()) }
    /// ```
    pub fn lifespan<T, F, Fut>(mut self, startup: F) -> Self
    where
        T: Send + Sync + 'static,
        F: FnOnce() -> Fut + Send + 'static,
        Fut: Future<Output = Result<T>> + Send + 'static,
    {
        self.lifespan = Lifespan::new(startup, None);
        self
    }

    /// Like [`lifespan`](Self::lifespan), plus a `shutdown` hook awaited once with the
    /// value when serving ends (stdio EOF, the HTTP shutdown signal of
    /// `ferromcp_http::serve_with_shutdown`, or [`Server::shutdown`]).
    pub fn lifespan_with_shutdown<T, F, Fut, S, SFut>(mut self, startup: F, shutdown: S) -> Self
    where
        T: Send + Sync + 'static,
        F: FnOnce() -> Fut + Send + 'static,
        Fut: Future<Output = Result<T>> + Send + 'static,
        S: FnOnce(Arc<T>) -> SFut + Send + 'static,
        SFut: Future<Output = ()> + Send + 'static,
    {
        self.lifespan = Lifespan::new(startup, Some(Box::new(move |v| Box::pin(shutdown(v)))));
        self
    }
}

impl Server {
    /// Runs the lifespan's startup hook (once; later calls return at once, or the first
    /// failure again). Transports call it; call it yourself when you nest the HTTP router
    /// in your own app. Without a lifespan it does nothing.
    pub async fn start(&self) -> Result<()> {
        self.inner.lifespan.start().await
    }

    /// Runs the lifespan's shutdown hook (once, and only after a successful start).
    pub async fn shutdown(&self) {
        self.inner.lifespan.shutdown().await
    }

    /// Starts the lifespan, runs `serving` to its end, then shuts the lifespan down: what
    /// every `serve*` function does. A failed startup returns its error without polling
    /// `serving`.
    ///
    /// ```
    /// # async fn demo() -> ferromcp_core::Result<()> {
    /// let server = ferromcp_core::Server::builder("demo", "1.0.0")
    ///     .lifespan(|| async { Err::<(), _>(ferromcp_core::Error::Other("no database".into())) })
    ///     .build();
    /// let served = server.run(async { "never polled" }).await;
    /// assert!(served.unwrap_err().to_string().contains("no database"));
    /// # Ok(()) }
    /// ```
    pub async fn run<F: Future>(&self, serving: F) -> Result<F::Output> {
        self.start().await?;
        let out = serving.await;
        self.shutdown().await;
        Ok(out)
    }

    /// The value of the lifespan's startup hook (see
    /// [`ServerBuilder::lifespan`]); handlers use `ctx.lifespan::<T>()`.
    pub fn lifespan<T: Send + Sync + 'static>(&self) -> Result<Arc<T>> {
        self.inner.lifespan.get::<T>()
    }
}
