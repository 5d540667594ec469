//! The server lifespan: a startup hook run once before serving, whose typed value every
//! handler can reach (`ctx.lifespan::<T>()`), and a shutdown hook run once when serving
//! ends. Configured with [`ServerBuilder::lifespan`](crate::ServerBuilder::lifespan);
//! run by [`Server::run`](crate::Server::run), which `serve_stdio` and the HTTP
//! `serve*` functions call, or by hand with [`Server::start`](crate::Server::start) and
//! [`Server::shutdown`](crate::Server::shutdown) when the router is nested in an app.
//!
//! Startup runs at most once per server, even when several transports start together
//! (a Tokio mutex serialises them; the later ones see the value). A failed startup is
//! returned to every caller of `start` (serving then stops with that error) and never
//! retried: fix the cause and restart the process. Shutdown runs at most once, and only
//! after a successful startup.

use std::any::Any;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, OnceLock};

use crate::error::{Error, Result};

type AnyValue = Arc<dyn Any + Send + Sync>;
type StartFn = Box<dyn FnOnce() -> Pin<Box<dyn Future<Output = Result<AnyValue>> + Send>> + Send>;
type StopFn = Box<dyn FnOnce(AnyValue) -> Pin<Box<dyn Future<Output = ()> + Send>> + Send>;

/// The configured hooks and, once started, the value.
#[derive(Default)]
pub(crate) struct Lifespan {
    hooks: Mutex<Option<(StartFn, Option<StopFn>)>>,
    stop: Mutex<Option<StopFn>>,
    value: OnceLock<AnyValue>,
    failed: OnceLock<String>,
    configured: Option<&'static str>,
    gate: tokio::sync::Mutex<()>,
}

impl Lifespan {
    /// A lifespan whose startup makes a `T` and whose shutdown (if any) receives it.
    pub(crate) fn new<T, F, Fut>(startup: F, shutdown: Option<crate::resources::CloseFn<T>>) -> Self
    where
        T: Send + Sync + 'static,
        F: FnOnce() -> Fut + Send + 'static,
        Fut: Future<Output = Result<T>> + Send + 'static,
    {
        let start: StartFn = Box::new(move || Box::pin(async move { Ok(Arc::new(startup().await?) as AnyValue) }));
        let stop = shutdown.map(|s| {
            Box::new(move |v: AnyValue| match v.downcast::<T>() {
                Ok(v) => s(v),
                Err(_) => Box::pin(async {}) as Pin<Box<dyn Future<Output = ()> + Send>>,
            }) as StopFn
        });
        Lifespan {
            hooks: Mutex::new(Some((start, stop))),
            configured: Some(std::any::type_name::<T>()),
            ..Default::default()
        }
    }

    /// Runs the startup hook unless it already ran; its error if it failed (now or before).
    pub(crate) async fn start(&self) -> Result<()> {
        let _one_at_a_time = self.gate.lock().await;
        if self.value.get().is_some() {
            return Ok(());
        }
        if let Some(why) = self.failed.get() {
            return Err(Error::Other(format!("the server's lifespan startup failed: {why}")));
        }
        let Some((start, stop)) = lock(&self.hooks).take() else { return Ok(()) };
        match start().await {
            Ok(v) => {
                let _ = self.value.set(v);
                *lock(&self.stop) = stop;
                Ok(())
            }
            Err(e) => {
                let _ = self.failed.set(e.to_string());
                Err(Error::Other(format!("the server's lifespan startup failed: {e}")))
            }
        }
    }

    /// Runs the shutdown hook, once, if startup succeeded.
    pub(crate) async fn shutdown(&self) {
        let stop = lock(&self.stop).take();
        if let (Some(stop), Some(v)) = (stop, self.value.get()) {
            stop(v.clone()).await;
        }
    }

    /// The startup value as a `T`.
    pub(crate) fn get<T: Send + Sync + 'static>(&self) -> Result<Arc<T>> {
        let want = std::any::type_name::<T>();
        let Some(made) = self.configured else {
            return Err(Error::Other(format!(
                "the server has no lifespan: configure one with ServerBuilder::lifespan returning a `{want}`"
            )));
        };
        let Some(v) = self.value.get() else {
            return Err(Error::Other(
                "the server's lifespan has not started: serve it with serve_stdio / ferromcp_http::serve*, \
                 or call Server::start before handling requests"
                    .into(),
            ));
        };
        v.clone().downcast::<T>().map_err(|_| {
            Error::Other(format!("the server's lifespan value is a `{made}`, not a `{want}`: ask for that type"))
        })
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}
