//! The accept loop behind [`serve_listener`](crate::serve_listener): a bounded number of
//! connections, accept errors logged and backed off, one task per connection.
//!
//! - At most `max_connections` connections are open at once (a semaphore permit per
//!   connection). At the limit the loop stops accepting, so new connections wait in the
//!   kernel backlog until a slot frees (the timeouts in `conn` close idle and slow
//!   connections), and a warning is logged at most every [`LOG_EVERY`].
//! - The limit never exceeds 3/4 of the soft open-files limit when it can be read, so the
//!   process keeps descriptors for its own files (and never hits EMFILE on accept alone).
//! - Accept errors that concern one connection (reset, aborted) are skipped; others
//!   (EMFILE, ENFILE, ENOBUFS, ENOMEM, ...) are logged at most every [`LOG_EVERY`] and
//!   backed off 10 ms, doubling to 1 s, until an accept succeeds.

use std::io;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

use crate::conn::{Timeouts, serve_connection};

/// The shortest interval between two warnings of the same kind.
const LOG_EVERY: Duration = Duration::from_secs(10);
/// The first and the longest back-off after a failed accept.
const BACKOFF: (Duration, Duration) = (Duration::from_millis(10), Duration::from_secs(1));

/// A warning logged at most every [`LOG_EVERY`], counting what it left out.
#[derive(Default)]
struct RateLimited {
    last: Option<Instant>,
    suppressed: u64,
}

impl RateLimited {
    /// Logs `msg` unless one was logged less than [`LOG_EVERY`] ago.
    fn warn(&mut self, msg: impl FnOnce() -> String) {
        if self.last.is_some_and(|t| t.elapsed() < LOG_EVERY) {
            self.suppressed += 1;
            return;
        }
        let (suppressed, msg) = (std::mem::take(&mut self.suppressed), msg());
        tracing::warn!(suppressed, "{msg}");
        self.last = Some(Instant::now());
    }
}

/// The soft limit on open files of this process, if it can be read (Linux).
fn soft_nofile_limit() -> Option<u64> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    parse_soft_nofile(&limits)
}

fn parse_soft_nofile(limits: &str) -> Option<u64> {
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    line["Max open files".len()..].split_whitespace().next()?.parse().ok()
}

/// `configured`, lowered to 3/4 of the soft open-files limit when that is smaller.
pub(crate) fn effective_max_connections(configured: usize) -> usize {
    let configured = configured.max(1);
    let Some(soft) = soft_nofile_limit() else { return configured };
    let cap = usize::try_from(soft / 4 * 3).unwrap_or(usize::MAX).max(1);
    if cap < configured {
        tracing::info!(
            configured,
            cap,
            "max_connections lowered to 3/4 of the open-files limit (raise it with `ulimit -n` to allow more)"
        );
    }
    configured.min(cap)
}

/// Whether an accept error concerns only the connection being accepted.
fn is_connection_error(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::Interrupted
    )
}

/// Accepts connections until `shutdown` completes, serving each with `app`. Connections
/// already accepted keep being served by their own tasks.
pub(crate) async fn run(
    listener: TcpListener,
    app: Router,
    max_connections: usize,
    timeouts: Timeouts,
    shutdown: impl Future<Output = ()>,
) {
    tokio::select! {
        () = accept_loop(listener, app, max_connections, timeouts) => {}
        () = shutdown => {}
    }
}

async fn accept_loop(listener: TcpListener, app: Router, max_connections: usize, timeouts: Timeouts) {
    let slots = Arc::new(Semaphore::new(max_connections));
    let (mut full_log, mut error_log) = (RateLimited::default(), RateLimited::default());
    let mut backoff = BACKOFF.0;
    loop {
        let permit = match slots.clone().try_acquire_owned() {
            Ok(p) => p,
            Err(_) => {
                full_log.warn(|| {
                    format!(
                        "connection limit reached ({max_connections} open, HttpConfig::max_connections): new \
                         connections wait until one closes; raise the limit if this is normal load"
                    )
                });
                match slots.clone().acquire_owned().await {
                    Ok(p) => p,
                    Err(_) => return, // never closed
                }
            }
        };
        let (tcp, peer) = match listener.accept().await {
            Ok(c) => {
                backoff = BACKOFF.0;
                c
            }
            Err(e) if is_connection_error(&e) => continue,
            Err(e) => {
                error_log.warn(|| format!("accept failed: {e}; retrying in {} ms", backoff.as_millis()));
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(BACKOFF.1);
                continue;
            }
        };
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::warn!("could not set TCP_NODELAY: {e}");
        }
        let app = app.clone();
        tokio::spawn(async move {
            serve_connection(tcp, peer, app, timeouts).await;
            drop(permit);
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn soft_open_files_limit_is_parsed() {
        let limits = "Limit                     Soft Limit           Hard Limit           Units\n\
                      Max processes             63439                63439                processes\n\
                      Max open files            1024                 524288               files\n";
        assert_eq!(parse_soft_nofile(limits), Some(1024));
        assert_eq!(parse_soft_nofile("Max open files            unlimited   unlimited  files\n"), None);
        assert_eq!(parse_soft_nofile("nothing here"), None);
    }

    #[test]
    fn rate_limited_warnings_count_what_they_skip() {
        let mut r = RateLimited::default();
        let mut logged = 0;
        for _ in 0..5 {
            r.warn(|| {
                logged += 1;
                String::new()
            });
        }
        assert_eq!((logged, r.suppressed), (1, 4));
    }
}
