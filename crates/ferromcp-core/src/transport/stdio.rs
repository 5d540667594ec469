//! Newline-delimited JSON-RPC over a byte stream: stdio, or an in-memory duplex pipe.
//!
//! One connection is one [`Session`] whose id is fixed before `initialize` runs. The era
//! is decided per message (spec digest §7): `initialize` puts the connection in legacy
//! mode; a request whose `_meta` names a protocol version is modern. `initialize` is
//! answered before the next line is read (so requests piped right behind it find the
//! session initialized); other requests run concurrently (so a tool can wait for an
//! elicitation answer on the same pipe); every outgoing message goes through one writer
//! task. On EOF the connection ends: requests still running may finish and their results
//! are written (for at most [`ServerConfig::eof_grace`](crate::ServerConfig::eof_grace),
//! then they are cancelled), asks waiting for the client fail at once (no answer can
//! arrive any more), and the session is closed.

use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};

use crate::context::TransportKind;
use crate::dispatch::Reply;
use crate::engine::{Connection, ConnectionOptions, EraRule, Incoming, SessionNotifications};
use crate::jsonrpc;
use crate::outbound::Outbound;
use crate::server::Server;

/// Limits of a line-delimited connection.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub struct LineConfig {
    /// The longest accepted line (one message), in bytes.
    pub max_line_bytes: usize,
    /// The transport kind reported to handlers.
    pub kind: TransportKind,
}

impl Default for LineConfig {
    fn default() -> Self {
        LineConfig { max_line_bytes: 4 * 1024 * 1024, kind: TransportKind::Stdio }
    }
}

impl LineConfig {
    /// Sets the longest line accepted (see [`max_line_bytes`](Self::max_line_bytes)).
    pub fn max_line_bytes(mut self, n: usize) -> Self {
        self.max_line_bytes = n;
        self
    }
    /// Sets the transport kind handlers see (see [`kind`](Self::kind)).
    pub fn kind(mut self, kind: TransportKind) -> Self {
        self.kind = kind;
        self
    }
}

/// Serves the server over this process's stdin/stdout until stdin closes, inside its
/// lifespan ([`Server::run`]: startup first, failing with its error; shutdown after EOF).
pub async fn serve_stdio(server: Server) -> std::io::Result<()> {
    let serving = serve_io(server.clone(), tokio::io::stdin(), tokio::io::stdout(), LineConfig::default());
    server.run(serving).await.map_err(|e| std::io::Error::other(e.to_string()))?
}

/// One line of a newline-delimited stream (see [`read_line`]).
#[derive(Debug)]
pub enum Line {
    /// The line's bytes, without the newline.
    Data(Vec<u8>),
    /// The line was longer than the limit; it was read to its end and dropped.
    TooLong,
    /// The stream ended with no partial line.
    Eof,
}

/// Reads one newline-delimited line of at most `max` bytes, holding no more than `max`
/// bytes of it in memory whatever its length. Shared by this transport and the client.
///
/// ```
/// # tokio_test_block_on(async {
/// use ferromcp_core::transport::stdio::{read_line, Line};
/// let mut input: &[u8] = b"{}\nsecond line too long\n";
/// assert!(matches!(read_line(&mut input, 8).await.unwrap(), Line::Data(l) if l == b"{}"));
/// assert!(matches!(read_line(&mut input, 8).await.unwrap(), Line::TooLong));
/// assert!(matches!(read_line(&mut input, 8).await.unwrap(), Line::Eof));
/// # });
/// # fn tokio_test_block_on<F: std::future::Future>(f: F) -> F::Output {
/// #     tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(f)
/// # }
/// ```
pub async fn read_line<R: AsyncBufRead + Unpin>(r: &mut R, max: usize) -> std::io::Result<Line> {
    let mut out = Vec::new();
    let mut too_long = false;
    loop {
        let buf = r.fill_buf().await?;
        if buf.is_empty() {
            return Ok(if out.is_empty() && !too_long {
                Line::Eof
            } else if too_long {
                Line::TooLong
            } else {
                Line::Data(out)
            });
        }
        let (chunk, done) = match buf.iter().position(|b| *b == b'\n') {
            Some(i) => (&buf[..i], Some(i + 1)),
            None => (buf, None),
        };
        if !too_long {
            if out.len() + chunk.len() > max {
                too_long = true;
                out = Vec::new();
            } else {
                out.extend_from_slice(chunk);
            }
        }
        let used = done.unwrap_or(buf.len());
        r.consume(used);
        if done.is_some() {
            return Ok(if too_long { Line::TooLong } else { Line::Data(out) });
        }
    }
}

/// Serves the server over a reader/writer pair until the reader ends.
pub async fn serve_io<R, W>(server: Server, reader: R, writer: W, cfg: LineConfig) -> std::io::Result<()>
where
    R: AsyncRead + Unpin + Send + 'static,
    W: AsyncWrite + Unpin + Send + 'static,
{
    // One session per connection (per process on stdio), created and registered by the
    // engine. A connection without principal or address is never refused.
    let (conn, mut rx) = server
        .connection(ConnectionOptions::new(cfg.kind, EraRule::PerMessage))
        .map_err(|e| std::io::Error::other(e.to_string()))?;
    let out = conn.outbound().clone();
    let writer_task = tokio::spawn(async move {
        let mut w = writer;
        while let Some(frame) = rx.recv().await {
            if w.write_all(&frame).await.is_err() || w.write_all(b"\n").await.is_err() {
                break;
            }
            // Flush once the queue is drained, so bursts go out in one write.
            if rx.is_empty() && w.flush().await.is_err() {
                break;
            }
        }
        let _ = w.shutdown().await;
    });
    let notifier = spawn_notifier(conn.notifications(), out.clone());
    let mut reader = BufReader::with_capacity(64 * 1024, reader);
    let mut tasks = tokio::task::JoinSet::new();
    loop {
        let line = match read_line(&mut reader, cfg.max_line_bytes).await {
            Ok(Line::Eof) | Err(_) => break,
            Ok(Line::TooLong) => {
                let e = crate::error::ProtocolError::invalid_request(format!(
                    "message longer than {} bytes",
                    cfg.max_line_bytes
                ));
                send_reply(&out, Reply::error(None, &e)).await;
                continue;
            }
            Ok(Line::Data(l)) => l,
        };
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let msg = match jsonrpc::decode_with_limit(&line, server.config().max_echoed_value_bytes) {
            Ok(m) => m,
            Err(e) => {
                send_reply(&out, Reply::error(e.id.as_ref(), &e.error)).await;
                continue;
            }
        };
        match conn.receive(msg) {
            Incoming::Handled => {}
            Incoming::Refused(reply) => send_reply(&out, reply).await,
            // Answered before the next line is read: a client that pipes its requests
            // right behind `initialize` finds the session initialized.
            Incoming::Request { initialize: true, reply } => send_reply(&out, reply.await).await,
            Incoming::Request { initialize: false, reply } => {
                let out = out.clone();
                tasks.spawn(async move { send_reply(&out, reply.await).await });
            }
        }
        while tasks.try_join_next().is_some() {}
    }
    finish_running(&server, &conn, &mut tasks).await;
    conn.cancel_token().cancel();
    while tasks.join_next().await.is_some() {}
    // EOF ends the session: hooks run (`on_session_ended`) and its state is cleared.
    conn.end().await;
    notifier.abort();
    drop(out);
    drop(conn);
    let _ = writer_task.await;
    Ok(())
}

/// After EOF: lets the running requests finish (their replies go out) for at most the
/// grace period. Asks waiting for the client can no longer be answered, so they fail at
/// once, also those a request starts while it finishes.
async fn finish_running(server: &Server, conn: &Connection, tasks: &mut tokio::task::JoinSet<()>) {
    let deadline = tokio::time::Instant::now() + server.config().eof_grace;
    let mut tick = tokio::time::interval(std::time::Duration::from_millis(50));
    loop {
        conn.input_ended();
        tokio::select! {
            done = tasks.join_next() => if done.is_none() { return },
            _ = tick.tick() => {}
            () = tokio::time::sleep_until(deadline) => {
                tracing::warn!(
                    running = tasks.len(),
                    "input ended and requests still run after the grace period (ServerConfig::eof_grace); cancelling them"
                );
                return;
            }
        }
    }
}

async fn send_reply(out: &Outbound, r: Reply) {
    if let Some(body) = r.body {
        let _ = out.send(body).await;
    }
}

/// Writes the connection's unsolicited notifications.
fn spawn_notifier(mut feed: SessionNotifications, out: Outbound) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        while let Some(buf) = feed.next().await {
            if out.send(buf).await.is_err() {
                break;
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_connection_is_a_session_that_ends_with_eof_and_fires_its_hooks() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        let created = std::sync::Arc::new(AtomicUsize::new(0));
        let ended = std::sync::Arc::new(AtomicUsize::new(0));
        let (c, e) = (created.clone(), ended.clone());
        let server = Server::builder("t", "1")
            .on_session_created(move |_| {
                c.fetch_add(1, Ordering::SeqCst);
            })
            .on_session_ended(move |_| {
                e.fetch_add(1, Ordering::SeqCst);
            })
            .build();
        let (client, server_end) = tokio::io::duplex(4096);
        let (sr, sw) = tokio::io::split(server_end);
        let serving = tokio::spawn(serve_io(server.clone(), sr, sw, LineConfig::default()));
        let (mut cr, mut cw) = tokio::io::split(client);
        cw.write_all(b"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"initialize\",\"params\":{\"protocolVersion\":\"2025-11-25\",\"capabilities\":{}}}\n").await.unwrap();
        let mut buf = [0u8; 256];
        let n = tokio::io::AsyncReadExt::read(&mut cr, &mut buf).await.unwrap();
        assert!(n > 0);
        assert_eq!(server.sessions().metrics().open, 1, "the connection is a registered session");
        cw.shutdown().await.unwrap();
        drop(cw);
        serving.await.unwrap().unwrap();
        assert_eq!(server.sessions().metrics().open, 0);
        assert_eq!(
            (created.load(Ordering::SeqCst), ended.load(Ordering::SeqCst)),
            (1, 1),
            "EOF runs the end hook once"
        );
    }

    #[tokio::test]
    async fn long_lines_are_rejected_and_the_next_line_still_reads() {
        let data = b"aaaaaaaaaa\nbb\n".to_vec();
        let mut r = BufReader::with_capacity(4, &data[..]);
        assert!(matches!(read_line(&mut r, 5).await.unwrap(), Line::TooLong));
        assert!(matches!(read_line(&mut r, 5).await.unwrap(), Line::Data(l) if l == b"bb"));
        assert!(matches!(read_line(&mut r, 5).await.unwrap(), Line::Eof));
    }
}
