//! [`Client`]: constructors (byte streams, in-memory server, child process, Streamable
//! HTTP), the era negotiation, the raw request path that stamps `_meta` in the modern
//! era, and shutdown.

use std::process::Stdio;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use ferromcp_core::protocol::{
    LEGACY_VERSIONS, META_CLIENT_CAPABILITIES, META_CLIENT_INFO, META_LOG_LEVEL,
    META_PROTOCOL_VERSION,
};
use ferromcp_core::transport::{LineConfig, serve_io};
use ferromcp_core::{Server, TransportKind};
use serde_json::{Map, Value, json};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::process::{Child, Command};
use tokio::sync::broadcast;
use tokio::task::JoinHandle;

use crate::connection::Connection;
use crate::error::{ClientError, Result};
use crate::options::{ClientEra, ClientOptions};
use crate::routing::{CallEvent, CallSink, Router};
use crate::transport::Conn;
use crate::transport::http::HttpConn;
use crate::types::ServerInfo;

/// The longest `ClientEra::Auto` waits for a `server/discover` answer before trying
/// `initialize` instead.
const PROBE_TIMEOUT: Duration = Duration::from_secs(10);

/// How long `close()` waits for each part (I/O tasks, in-memory server, child process)
/// to finish before stopping it.
const CLOSE_GRACE: Duration = Duration::from_secs(5);

/// An MCP client over one connection. Cheap to clone: clones share the connection, and
/// it closes when the last clone is dropped (or on [`Client::close`]).
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), ferromcp_client::ClientError> {
/// use ferromcp_client::{Client, ClientOptions};
/// use ferromcp_core::{Context, NoArgs, Server, ToolDef};
///
/// let server = Server::builder("demo", "1.0.0")
///     .tool(ToolDef::new("hello").handler(|_ctx: Context, _: NoArgs| async { "hello" }))
///     .build();
/// let client = Client::in_memory(server, ClientOptions::modern()).await?;
/// assert_eq!(client.server_info().name, "demo");
/// let out = client.call_tool("hello", serde_json::json!({})).await?;
/// assert_eq!(out.text(), "hello");
/// client.close().await;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Client {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub(crate) conn: Conn,
    pub(crate) router: Arc<Router>,
    pub(crate) opts: ClientOptions,
    /// The era in force (never `Auto`).
    era: ClientEra,
    caps: Value,
    server: ServerInfo,
    server_task: Mutex<Option<JoinHandle<std::io::Result<()>>>>,
    child: Mutex<Option<Child>>,
    adapter_tasks: Mutex<Vec<JoinHandle<()>>>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        for t in lock(&self.adapter_tasks).drain(..) {
            t.abort();
        }
    }
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("era", &self.inner.era)
            .field("server", &self.inner.server.name)
            .field("closed", &self.inner.conn.is_closed())
            .finish_non_exhaustive()
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// What a constructor hands over besides the byte streams.
#[derive(Default)]
struct Extra {
    server_task: Option<JoinHandle<std::io::Result<()>>>,
    child: Option<Child>,
    /// Tasks that carry an adapted transport (HTTP+SSE); stopped on close and drop.
    adapter_tasks: Vec<JoinHandle<()>>,
}

impl Client {
    /// Connects over a line-delimited byte stream (newline-delimited JSON-RPC) and
    /// performs the era's opening: `initialize` + `notifications/initialized` (legacy,
    /// then `logging/setLevel` if a log level is set), or `server/discover` (modern).
    pub async fn connect_io<R, W>(reader: R, writer: W, options: ClientOptions) -> Result<Client>
    where
        R: AsyncRead + Unpin + Send + 'static,
        W: AsyncWrite + Unpin + Send + 'static,
    {
        Self::connect_with(reader, writer, options, Extra::default()).await
    }

    /// Serves `server` in this process over an in-memory pipe and connects to it.
    ///
    /// The server runs on a spawned task with [`TransportKind::InMemory`]; it stops when
    /// the client closes.
    pub async fn in_memory(server: Server, options: ClientOptions) -> Result<Client> {
        let (client_end, server_end) = tokio::io::duplex(1 << 20);
        let (server_read, server_write) = tokio::io::split(server_end);
        let cfg = LineConfig::default().kind(TransportKind::InMemory);
        let task = tokio::spawn(serve_io(server, server_read, server_write, cfg));
        let (read, write) = tokio::io::split(client_end);
        let extra = Extra {
            server_task: Some(task),
            ..Extra::default()
        };
        Self::connect_with(read, write, options, extra).await
    }

    /// Connects to a Streamable HTTP MCP endpoint (`http://` or `https://`) and performs
    /// the era's opening (see [`ClientEra`]; `Auto` probes with `server/discover` and
    /// falls back to `initialize`).
    ///
    /// Custom headers and authorization come from [`ClientOptions::http`]. In the
    /// 2025-11-25 era the client keeps the `Mcp-Session-Id`, opens the standalone GET
    /// stream, resumes broken answer streams with `Last-Event-ID`, opens a new session
    /// when the server answers 404 for a lost one, and ends the session with DELETE on
    /// [`Client::close`]. In the 2026-07-28 era it sends the routing headers
    /// (`Mcp-Method`, `Mcp-Name`, `Mcp-Param-*`).
    ///
    /// ```no_run
    /// # async fn f() -> Result<(), ferromcp_client::ClientError> {
    /// use ferromcp_client::{BearerToken, Client, ClientOptions};
    /// let opts = ClientOptions::default().auth(BearerToken::new("secret"));
    /// let client = Client::connect_http("http://127.0.0.1:3001/mcp", opts).await?;
    /// println!("{} speaks {}", client.server_info().name, client.server_info().protocol_version);
    /// # Ok(()) }
    /// ```
    pub async fn connect_http(url: &str, options: ClientOptions) -> Result<Client> {
        check_log_level(&options)?;
        let router = Router::new(options.handlers.clone());
        let conn = Conn::Http(HttpConn::new(url, options.http.clone(), router.clone())?);
        Self::finish(conn, router, options, Extra::default()).await
    }

    /// Connects to an old server over the 2024-11-05 HTTP+SSE transport: `url` is the
    /// SSE endpoint (e.g. `http://127.0.0.1:3001/sse`); the client POSTs to the URL the
    /// server's `endpoint` event names. The era is 2025-11-25 (`Auto` means that here;
    /// `Modern` is refused). As on stdio, server requests and logs cannot be tied to a
    /// call on this transport.
    pub async fn connect_legacy_sse(url: &str, options: ClientOptions) -> Result<Client> {
        if options.era == ClientEra::Modern {
            return Err(ClientError::Usage(
                "the 2024-11-05 HTTP+SSE transport carries only the 2025-11-25 era; use `connect_http` for 2026-07-28".into(),
            ));
        }
        let options = options.era(ClientEra::Legacy);
        check_log_level(&options)?;
        let sse =
            crate::transport::legacy_sse::connect(url, &options.http, options.request_timeout)
                .await?;
        let extra = Extra {
            adapter_tasks: sse.tasks,
            ..Extra::default()
        };
        Self::connect_with(sse.read, sse.write, options, extra).await
    }

    /// Starts `cmd` as a child process and talks to it over its stdin/stdout.
    ///
    /// stdin and stdout are piped; stderr is left as configured on `cmd` (inherited by
    /// default). The child is killed when the client is dropped; [`Client::close`]
    /// closes its stdin and gives it a few seconds to exit first.
    ///
    /// ```no_run
    /// # async fn f() -> Result<(), ferromcp_client::ClientError> {
    /// use ferromcp_client::{Client, ClientOptions};
    /// let client = Client::spawn(tokio::process::Command::new("my-mcp-server"), ClientOptions::legacy()).await?;
    /// let tools = client.list_tools().await?;
    /// # let _ = tools; Ok(()) }
    /// ```
    pub async fn spawn(mut cmd: Command, options: ClientOptions) -> Result<Client> {
        cmd.stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .kill_on_drop(true);
        let mut child = cmd.spawn()?;
        let missing =
            |what: &str| std::io::Error::other(format!("the child process has no piped {what}"));
        let stdin = child.stdin.take().ok_or_else(|| missing("stdin"))?;
        let stdout = child.stdout.take().ok_or_else(|| missing("stdout"))?;
        let extra = Extra {
            child: Some(child),
            ..Extra::default()
        };
        Self::connect_with(stdout, stdin, options, extra).await
    }

    async fn connect_with<R, W>(
        reader: R,
        writer: W,
        options: ClientOptions,
        extra: Extra,
    ) -> Result<Client>
    where
        R: AsyncRead + Unpin + Send + 'static,
        W: AsyncWrite + Unpin + Send + 'static,
    {
        check_log_level(&options)?;
        let router = Router::new(options.handlers.clone());
        let conn = Conn::Lines(Connection::start(reader, writer, router.clone()));
        Self::finish(conn, router, options, extra).await
    }

    async fn finish(
        conn: Conn,
        router: Arc<Router>,
        options: ClientOptions,
        extra: Extra,
    ) -> Result<Client> {
        let caps = options.handlers.capabilities();
        let handshake = handshake(&conn, &options, &caps).await;
        let (era, server) = match handshake {
            Ok(ok) => ok,
            Err(e) => {
                conn.shutdown(Duration::from_millis(200)).await;
                return Err(e);
            }
        };
        Ok(Client {
            inner: Arc::new(Inner {
                conn,
                router,
                opts: options,
                era,
                caps,
                server,
                server_task: Mutex::new(extra.server_task),
                child: Mutex::new(extra.child),
                adapter_tasks: Mutex::new(extra.adapter_tasks),
            }),
        })
    }

    /// The era this client speaks (with [`ClientEra::Auto`], the one negotiated).
    pub fn era(&self) -> ClientEra {
        self.inner.era
    }

    /// What the server said about itself when the client connected.
    pub fn server_info(&self) -> &ServerInfo {
        &self.inner.server
    }

    /// Whether server requests (elicitation, sampling, roots) reach the handlers with
    /// the call that caused them: true over Streamable HTTP (the POST stream says) and in
    /// the 2026-07-28 era (the `input_required` result says); false for 2025-11-25 over
    /// stdio, byte streams and HTTP+SSE, where the protocol cannot say. A proxy that
    /// must not mix up its callers' questions runs one call at a time when this is
    /// false.
    pub fn attributes_server_requests(&self) -> bool {
        self.inner.conn.is_http() || self.inner.era == ClientEra::Modern
    }

    /// The options the client was built with.
    pub fn options(&self) -> &ClientOptions {
        &self.inner.opts
    }

    /// Whether the connection is closed.
    pub fn is_closed(&self) -> bool {
        self.inner.conn.is_closed()
    }

    /// A receiver of every notification the server sends from now on
    /// (`notifications/message`, `notifications/progress`, `…/list_changed`,
    /// `notifications/resources/updated`, …), each as the full JSON-RPC object.
    ///
    /// Subscribe before making the call whose notifications you want.
    pub fn notifications(&self) -> broadcast::Receiver<Value> {
        self.inner.router.subscribe()
    }

    /// A receiver of every notification the server sends from now on, each with the
    /// call it belongs to when the transport can tell (see [`crate::routing`]).
    pub fn events(&self) -> broadcast::Receiver<CallEvent> {
        self.inner.router.subscribe_events()
    }

    /// Sends any request and returns its raw `result`.
    ///
    /// `params` must be a JSON object (or `null` for none). In the modern era the
    /// client's `_meta` fields (protocol version, capabilities, client info, log level)
    /// are merged into `params._meta`; fields you set there yourself win. No MRTR loop
    /// runs here: an `input_required` result is returned as is.
    pub async fn request(&self, method: &str, params: Value) -> Result<Value> {
        self.request_in(method, params, None).await
    }

    /// [`Client::request`] on behalf of `call`.
    pub(crate) async fn request_in(
        &self,
        method: &str,
        params: Value,
        call: Option<&Arc<CallSink>>,
    ) -> Result<Value> {
        let timeout = self.inner.opts.request_timeout;
        self.request_with_timeout(method, params, timeout, call)
            .await
    }

    /// [`Client::request_in`] with its own timeout.
    pub(crate) async fn request_with_timeout(
        &self,
        method: &str,
        params: Value,
        timeout: Duration,
        call: Option<&Arc<CallSink>>,
    ) -> Result<Value> {
        let params = stamp(&self.inner.opts, self.inner.era, &self.inner.caps, params)?;
        self.inner.conn.request(method, params, timeout, call).await
    }

    /// Sends any notification (no `_meta` is added).
    pub async fn notify(&self, method: &str, params: Value) -> Result<()> {
        self.inner.conn.notify(method, params).await
    }

    /// Closes the connection: pending requests fail with [`ClientError::Closed`], the
    /// write half is shut down, and an in-memory server or child process gets a few
    /// seconds to finish before it is stopped. Closing twice is harmless.
    pub async fn close(&self) {
        self.inner.conn.shutdown(CLOSE_GRACE).await;
        let adapters: Vec<_> = lock(&self.inner.adapter_tasks).drain(..).collect();
        for t in adapters {
            t.abort();
        }
        let task = lock(&self.inner.server_task).take();
        if let Some(task) = task {
            let abort = task.abort_handle();
            if tokio::time::timeout(CLOSE_GRACE, task).await.is_err() {
                abort.abort();
            }
        }
        let child = lock(&self.inner.child).take();
        if let Some(mut child) = child
            && tokio::time::timeout(CLOSE_GRACE, child.wait())
                .await
                .is_err()
            && let Err(e) = child.kill().await
        {
            tracing::warn!(error = %e, "could not kill the MCP server child process");
        }
    }
}

fn check_log_level(options: &ClientOptions) -> Result<()> {
    match &options.log_level {
        Some(level) if ferromcp_core::jsonrpc::parse_level(level).is_none() => {
            Err(ClientError::Usage(format!(
                "unknown log level {level:?}; use one of debug, info, notice, warning, error, critical, alert, emergency"
            )))
        }
        _ => Ok(()),
    }
}

/// Puts `params` in object form and, in the modern era, merges the client's `_meta`.
fn stamp(opts: &ClientOptions, era: ClientEra, caps: &Value, params: Value) -> Result<Value> {
    let mut obj = match params {
        Value::Null => Map::new(),
        Value::Object(m) => m,
        other => {
            return Err(ClientError::Usage(format!(
                "request params must be a JSON object (or null), not {other}"
            )));
        }
    };
    if era == ClientEra::Modern {
        let meta = obj.entry("_meta").or_insert_with(|| json!({}));
        let Value::Object(meta) = meta else {
            return Err(ClientError::Usage(
                "`params._meta` must be a JSON object".into(),
            ));
        };
        let version = Value::from(ClientEra::Modern.version());
        meta.entry(META_PROTOCOL_VERSION).or_insert(version);
        meta.entry(META_CLIENT_CAPABILITIES)
            .or_insert_with(|| caps.clone());
        meta.entry(META_CLIENT_INFO)
            .or_insert_with(|| opts.client_info());
        if let Some(level) = &opts.log_level {
            meta.entry(META_LOG_LEVEL)
                .or_insert_with(|| Value::from(level.as_str()));
        }
    }
    Ok(Value::Object(obj))
}

/// Opens the conversation in the era asked for; returns the era in force.
async fn handshake(
    conn: &Conn,
    opts: &ClientOptions,
    caps: &Value,
) -> Result<(ClientEra, ServerInfo)> {
    match opts.era {
        ClientEra::Legacy => Ok((ClientEra::Legacy, initialize(conn, opts, caps).await?)),
        ClientEra::Modern => {
            let t = opts.request_timeout;
            Ok((ClientEra::Modern, discover(conn, opts, caps, t).await?))
        }
        ClientEra::Auto => {
            let t = opts.request_timeout.min(PROBE_TIMEOUT);
            match discover(conn, opts, caps, t).await {
                Ok(info) => Ok((ClientEra::Modern, info)),
                Err(
                    e @ (ClientError::Closed
                    | ClientError::Connect(_)
                    | ClientError::Unauthorized { .. }
                    | ClientError::Io(_)),
                ) => Err(e),
                Err(e) => {
                    tracing::debug!(error = %e, "no 2026-07-28 answer to server/discover; trying initialize");
                    Ok((ClientEra::Legacy, initialize(conn, opts, caps).await?))
                }
            }
        }
    }
}

/// The 2026-07-28 opening: `server/discover`.
async fn discover(
    conn: &Conn,
    opts: &ClientOptions,
    caps: &Value,
    timeout: Duration,
) -> Result<ServerInfo> {
    conn.set_era(ClientEra::Modern);
    let params = stamp(opts, ClientEra::Modern, caps, json!({}))?;
    let result = match conn
        .request("server/discover", params.clone(), timeout, None)
        .await
    {
        // "Unsupported protocol version" naming ours as supported: a server that
        // rejected the first choice; retry once (SEP-2575).
        Err(ClientError::Protocol(e))
            if e.code == UNSUPPORTED_PROTOCOL_VERSION && supports_modern(&e) =>
        {
            conn.request("server/discover", params, timeout, None)
                .await?
        }
        other => other?,
    };
    ServerInfo::from_discover(result, ClientEra::Modern.version())
}

/// The JSON-RPC code of "Unsupported protocol version" (2026-07-28).
const UNSUPPORTED_PROTOCOL_VERSION: i32 = -32022;

/// Whether an "unsupported protocol version" error lists 2026-07-28 as supported.
fn supports_modern(e: &ferromcp_core::ProtocolError) -> bool {
    e.data
        .as_deref()
        .and_then(|d| d.get("supported"))
        .and_then(Value::as_array)
        .is_some_and(|s| s.iter().any(|v| v == ClientEra::Modern.version()))
}

/// The 2025-11-25 opening: `initialize`, `notifications/initialized`, and
/// `logging/setLevel` when a log level is set.
async fn initialize(conn: &Conn, opts: &ClientOptions, caps: &Value) -> Result<ServerInfo> {
    conn.set_era(ClientEra::Legacy);
    let timeout = opts.request_timeout;
    let params = json!({
        "protocolVersion": ClientEra::Legacy.version(),
        "capabilities": caps,
        "clientInfo": opts.client_info(),
    });
    let result = conn
        .request("initialize", params.clone(), timeout, None)
        .await?;
    let info = ServerInfo::from_initialize(result)?;
    if !LEGACY_VERSIONS.contains(&info.protocol_version.as_str()) {
        return Err(ClientError::Usage(format!(
            "the server answered `initialize` with protocol version {:?}, which this client does not speak ({})",
            info.protocol_version,
            LEGACY_VERSIONS.join(", ")
        )));
    }
    conn.initialized(&info.protocol_version, params, opts.log_level.clone());
    conn.notify("notifications/initialized", json!({})).await?;
    conn.open_streams().await;
    if let Some(level) = &opts.log_level {
        conn.request("logging/setLevel", json!({ "level": level }), timeout, None)
            .await?;
    }
    Ok(info)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modern_meta_is_merged_and_caller_fields_win() {
        let opts = ClientOptions::modern()
            .name("c")
            .version("9")
            .log_level("info");
        let caps = json!({"sampling": {}});
        let p = json!({"name": "x", "_meta": {"progressToken": 7, META_PROTOCOL_VERSION: "1999-01-01"}});
        let out = stamp(&opts, ClientEra::Modern, &caps, p).unwrap_or_default();
        let meta = &out["_meta"];
        assert_eq!(meta["progressToken"], 7);
        assert_eq!(meta[META_PROTOCOL_VERSION], "1999-01-01");
        assert_eq!(meta[META_CLIENT_CAPABILITIES], caps);
        assert_eq!(meta[META_CLIENT_INFO], json!({"name": "c", "version": "9"}));
        assert_eq!(meta[META_LOG_LEVEL], "info");
        assert_eq!(out["name"], "x");
    }

    #[test]
    fn legacy_params_are_untouched_and_non_objects_rejected() {
        let opts = ClientOptions::legacy();
        let out = stamp(&opts, ClientEra::Legacy, &json!({}), Value::Null).unwrap_or_default();
        assert_eq!(out, json!({}));
        let err = stamp(&opts, ClientEra::Legacy, &json!({}), json!([1])).err();
        assert!(matches!(err, Some(ClientError::Usage(m)) if m.contains("JSON object")));
    }
}
