//! One HTTP/1.1 connection: hyper's connection driver plus the timeouts that keep slow or
//! idle clients from holding a connection slot forever.
//!
//! - **Header read** (`HttpConfig::header_read_timeout`): a request head must be complete
//!   this long after the connection was accepted, or after its first byte arrived on a
//!   kept-alive connection; otherwise the connection is closed (slowloris).
//! - **Keep-alive** (`HttpConfig::keep_alive_timeout`): a connection with no request in
//!   flight and no byte received is closed after this long. A request is in flight until
//!   its response body is finished or dropped, so an open SSE stream is never idle. A
//!   connection whose peer reads nothing of what the server writes (a write waiting)
//!   for this long is closed too, so an unread stream cannot hold its slot forever.
//! - **Body read** (`HttpConfig::body_read_timeout`): a request body that delivers nothing
//!   for this long while it is being read fails with [`BodyReadTimeout`], which the
//!   handlers answer with 408.
//!
//! hyper's own `header_read_timeout` is not used: it also runs while a connection is idle
//! between requests, which would make the keep-alive timeout equal to the header timeout.
//! Instead a watchdog, polled next to the connection future, reads a few relaxed atomics
//! that the socket wrapper and the service update (no locks, no allocation per read).

use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::task::{Context, Poll, ready};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::response::Response;
use bytes::Bytes;
use http_body::{Body as HttpBody, Frame, SizeHint};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::time::Sleep;
use tower::Service;

/// The connection timeouts (a zero duration turns one off).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Timeouts {
    pub(crate) header: Duration,
    pub(crate) body: Duration,
    pub(crate) keep_alive: Duration,
}

/// "No request head started" in [`Activity::head_started`].
const NONE: u64 = u64::MAX;

/// What the watchdog needs to know about a connection, updated by the socket (reads) and
/// the service (requests). Times are nanoseconds since `origin` (the accept).
struct Activity {
    origin: Instant,
    /// Requests whose response is not finished yet.
    in_flight: AtomicUsize,
    /// When the current request head started (first byte while idle), or [`NONE`].
    head_started: AtomicU64,
    /// When the last request in flight finished.
    idle_since: AtomicU64,
    /// Since when a write has been waiting for the peer to read, or [`NONE`].
    write_blocked: AtomicU64,
}

impl Activity {
    fn now(&self) -> u64 {
        u64::try_from(self.origin.elapsed().as_nanos()).unwrap_or(NONE - 1)
    }
}

/// Serves `tcp` until the peer closes it, an error occurs or a timeout closes it.
pub(crate) async fn serve_connection(tcp: TcpStream, peer: SocketAddr, app: Router, timeouts: Timeouts) {
    // The head of a fresh connection is due `header` after the accept.
    let act = Arc::new(Activity {
        origin: Instant::now(),
        in_flight: AtomicUsize::new(0),
        head_started: AtomicU64::new(0),
        idle_since: AtomicU64::new(0),
        write_blocked: AtomicU64::new(NONE),
    });
    let io = TokioIo::new(Watched { tcp, act: act.clone() });
    let svc = ConnService { app, peer, act: act.clone(), body_timeout: timeouts.body };
    let conn = hyper::server::conn::http1::Builder::new().header_read_timeout(None).serve_connection(io, svc);
    tokio::select! {
        r = conn => if let Err(e) = r {
            tracing::trace!(%peer, "connection ended with an error: {e}");
        },
        why = watchdog(&act, timeouts) => tracing::debug!(%peer, "connection closed: {why}"),
    }
}

/// Resolves when the connection must be closed, with the reason.
async fn watchdog(act: &Activity, t: Timeouts) -> &'static str {
    let nanos = |d: Duration| u64::try_from(d.as_nanos()).unwrap_or(NONE / 2);
    let (header, keep_alive) = (nanos(t.header), nanos(t.keep_alive));
    // Wake at least this often, so a head that starts during a keep-alive wait is caught
    // before its own (shorter) deadline.
    let step = [header, keep_alive].into_iter().filter(|d| *d > 0).min();
    let Some(step) = step else { return std::future::pending().await };
    loop {
        let now = act.now();
        let blocked = act.write_blocked.load(Relaxed);
        let due = if blocked != NONE && keep_alive > 0 {
            Some((blocked.saturating_add(keep_alive), "the peer reads nothing (keep-alive timeout)"))
        } else if act.in_flight.load(Relaxed) > 0 {
            None
        } else {
            match act.head_started.load(Relaxed) {
                NONE if keep_alive > 0 => {
                    Some((act.idle_since.load(Relaxed).saturating_add(keep_alive), "keep-alive timeout"))
                }
                NONE => None,
                started if header > 0 => Some((started.saturating_add(header), "header read timeout")),
                _ => None,
            }
        };
        let wake = match due {
            Some((at, why)) if at <= now => return why,
            Some((at, _)) => at.min(now.saturating_add(step)),
            None => now.saturating_add(step),
        };
        tokio::time::sleep_until((act.origin + Duration::from_nanos(wake)).into()).await;
    }
}

/// The socket, noting when a request head starts.
struct Watched {
    tcp: TcpStream,
    act: Arc<Activity>,
}

impl AsyncRead for Watched {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        ready!(Pin::new(&mut self.tcp).poll_read(cx, buf))?;
        let act = &self.act;
        if buf.filled().len() > before && act.in_flight.load(Relaxed) == 0 && act.head_started.load(Relaxed) == NONE {
            act.head_started.store(act.now(), Relaxed);
        }
        Poll::Ready(Ok(()))
    }
}

impl Watched {
    /// Notes whether a write waits for the peer to read.
    fn note_write<T>(&self, p: Poll<T>) -> Poll<T> {
        let blocked = &self.act.write_blocked;
        match p {
            Poll::Pending if blocked.load(Relaxed) == NONE => blocked.store(self.act.now(), Relaxed),
            Poll::Ready(_) if blocked.load(Relaxed) != NONE => blocked.store(NONE, Relaxed),
            _ => {}
        }
        p
    }
}

impl AsyncWrite for Watched {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let p = Pin::new(&mut self.tcp).poll_write(cx, buf);
        self.note_write(p)
    }
    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let p = Pin::new(&mut self.tcp).poll_write_vectored(cx, bufs);
        self.note_write(p)
    }
    fn is_write_vectored(&self) -> bool {
        self.tcp.is_write_vectored()
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.tcp).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.tcp).poll_shutdown(cx)
    }
}

/// Marks a request in flight until dropped (with the response body, once written).
struct InFlight(Arc<Activity>);

impl InFlight {
    fn start(act: &Arc<Activity>) -> Self {
        act.head_started.store(NONE, Relaxed);
        act.in_flight.fetch_add(1, Relaxed);
        InFlight(act.clone())
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        let act = &self.0;
        if act.in_flight.fetch_sub(1, Relaxed) == 1 {
            act.idle_since.store(act.now(), Relaxed);
        }
    }
}

/// The hyper service of one connection: the app, with the peer address
/// (`ConnectInfo<SocketAddr>`) in every request's extensions and the body-read timeout.
struct ConnService {
    app: Router,
    peer: SocketAddr,
    act: Arc<Activity>,
    body_timeout: Duration,
}

impl hyper::service::Service<hyper::Request<Incoming>> for ConnService {
    type Response = Response<Tracked>;
    type Error = Infallible;
    type Future = Call;

    fn call(&self, req: hyper::Request<Incoming>) -> Call {
        let guard = InFlight::start(&self.act);
        let timeout = self.body_timeout;
        let mut req = req.map(|b| if timeout.is_zero() { Body::new(b) } else { Body::new(IdleBody::new(b, timeout)) });
        req.extensions_mut().insert(ConnectInfo(self.peer));
        // `Router`'s `poll_ready` is always ready; calling a clone is what axum does.
        Call { fut: self.app.clone().call(req), guard: Some(guard) }
    }
}

/// The response future; hands the in-flight mark to the response body.
pub(crate) struct Call {
    fut: axum::routing::future::RouteFuture<Infallible>,
    guard: Option<InFlight>,
}

impl Future for Call {
    type Output = Result<Response<Tracked>, Infallible>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let Ok(resp) = ready!(Pin::new(&mut self.fut).poll(cx));
        let guard = self.guard.take();
        Poll::Ready(Ok(resp.map(|body| Tracked { body, _guard: guard })))
    }
}

/// A response body that keeps its request in flight until finished or dropped.
pub(crate) struct Tracked {
    body: Body,
    _guard: Option<InFlight>,
}

impl HttpBody for Tracked {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        Pin::new(&mut self.body).poll_frame(cx)
    }
    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }
    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

/// The error of a request body that sent nothing for the body-read timeout.
#[derive(Debug)]
pub(crate) struct BodyReadTimeout(Duration);

impl std::fmt::Display for BodyReadTimeout {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "the request body sent nothing for {} ms (HttpConfig::body_read_timeout); send the whole body promptly",
            self.0.as_millis()
        )
    }
}

impl std::error::Error for BodyReadTimeout {}

/// Whether `e` (or an error it wraps) is a [`BodyReadTimeout`].
pub(crate) fn is_body_timeout(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut cur = Some(e);
    while let Some(err) = cur {
        if err.is::<BodyReadTimeout>() {
            return true;
        }
        cur = err.source();
    }
    false
}

/// A request body that fails with [`BodyReadTimeout`] when no frame arrives for `timeout`
/// while it is being read. The timer exists only while the body is waiting.
struct IdleBody {
    inner: Incoming,
    timeout: Duration,
    /// Reused across waits; `armed` says whether it runs for the current wait.
    sleep: Option<Pin<Box<Sleep>>>,
    armed: bool,
}

impl IdleBody {
    fn new(inner: Incoming, timeout: Duration) -> Self {
        IdleBody { inner, timeout, sleep: None, armed: false }
    }
}

impl HttpBody for IdleBody {
    type Data = Bytes;
    type Error = Box<dyn std::error::Error + Send + Sync>;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        match Pin::new(&mut self.inner).poll_frame(cx) {
            Poll::Ready(r) => {
                self.armed = false;
                Poll::Ready(r.map(|f| f.map_err(Into::into)))
            }
            Poll::Pending => {
                let (timeout, armed) = (self.timeout, std::mem::replace(&mut self.armed, true));
                let sleep = self.sleep.get_or_insert_with(|| Box::pin(tokio::time::sleep(timeout)));
                if !armed {
                    sleep.as_mut().reset(tokio::time::Instant::now() + timeout);
                }
                ready!(sleep.as_mut().poll(cx));
                self.armed = false;
                Poll::Ready(Some(Err(Box::new(BodyReadTimeout(timeout)))))
            }
        }
    }
    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }
    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[tokio::test]
    async fn every_request_carries_the_peer_address() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let app = Router::new().route(
            "/peer",
            axum::routing::get(|ConnectInfo(peer): ConnectInfo<SocketAddr>| async move { peer.to_string() }),
        );
        let t = Timeouts { header: Duration::from_secs(5), body: Duration::from_secs(5), keep_alive: Duration::ZERO };
        tokio::spawn(async move {
            let (tcp, peer) = listener.accept().await.unwrap();
            serve_connection(tcp, peer, app, t).await;
        });
        let mut tcp = TcpStream::connect(addr).await.unwrap();
        let me = tcp.local_addr().unwrap();
        let mut got = Vec::new();
        for _ in 0..2 {
            tcp.write_all(b"GET /peer HTTP/1.1\r\nHost: x\r\n\r\n").await.unwrap();
            let mut buf = [0u8; 1024];
            let n = tokio::time::timeout(Duration::from_secs(10), tcp.read(&mut buf)).await.unwrap().unwrap();
            got.push(String::from_utf8_lossy(&buf[..n]).into_owned());
        }
        for resp in got {
            assert!(resp.starts_with("HTTP/1.1 200") && resp.ends_with(&me.to_string()), "{resp}");
        }
    }
}
