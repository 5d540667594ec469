//! [`Client`]: constructors (byte streams, in-memory server, child process), the raw
//! request path that stamps `_meta` in the modern era, and shutdown.

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
use crate::types::ServerInfo;

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
    pub(crate) conn: Connection,
    pub(crate) opts: ClientOptions,
    caps: Value,
    server: ServerInfo,
    server_task: Mutex<Option<JoinHandle<std::io::Result<()>>>>,
    child: Mutex<Option<Child>>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("era", &self.inner.opts.era)
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
        let cfg = LineConfig {
            kind: TransportKind::InMemory,
            ..LineConfig::default()
        };
        let task = tokio::spawn(serve_io(server, server_read, server_write, cfg));
        let (read, write) = tokio::io::split(client_end);
        let extra = Extra {
            server_task: Some(task),
            child: None,
        };
        Self::connect_with(read, write, options, extra).await
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
            server_task: None,
            child: Some(child),
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
        if let Some(level) = &options.log_level
            && ferromcp_core::jsonrpc::parse_level(level).is_none()
        {
            return Err(ClientError::Usage(format!(
                "unknown log level {level:?}; use one of debug, info, notice, warning, error, critical, alert, emergency"
            )));
        }
        let caps = options.handlers.capabilities();
        let conn = Connection::start(reader, writer, options.handlers.clone());
        let server = handshake(&conn, &options, &caps).await?;
        Ok(Client {
            inner: Arc::new(Inner {
                conn,
                opts: options,
                caps,
                server,
                server_task: Mutex::new(extra.server_task),
                child: Mutex::new(extra.child),
            }),
        })
    }

    /// The era this client speaks.
    pub fn era(&self) -> ClientEra {
        self.inner.opts.era
    }

    /// What the server said about itself when the client connected.
    pub fn server_info(&self) -> &ServerInfo {
        &self.inner.server
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
        self.inner.conn.subscribe()
    }

    /// Sends any request and returns its raw `result`.
    ///
    /// `params` must be a JSON object (or `null` for none). In the modern era the
    /// client's `_meta` fields (protocol version, capabilities, client info, log level)
    /// are merged into `params._meta`; fields you set there yourself win. No MRTR loop
    /// runs here: an `input_required` result is returned as is.
    pub async fn request(&self, method: &str, params: Value) -> Result<Value> {
        let params = stamp(&self.inner.opts, &self.inner.caps, params)?;
        self.inner
            .conn
            .request(method, params, self.inner.opts.request_timeout)
            .await
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

/// Puts `params` in object form and, in the modern era, merges the client's `_meta`.
fn stamp(opts: &ClientOptions, caps: &Value, params: Value) -> Result<Value> {
    let mut obj = match params {
        Value::Null => Map::new(),
        Value::Object(m) => m,
        other => {
            return Err(ClientError::Usage(format!(
                "request params must be a JSON object (or null), not {other}"
            )));
        }
    };
    if opts.era == ClientEra::Modern {
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

async fn handshake(conn: &Connection, opts: &ClientOptions, caps: &Value) -> Result<ServerInfo> {
    let timeout = opts.request_timeout;
    match opts.era {
        ClientEra::Legacy => {
            let params = json!({
                "protocolVersion": ClientEra::Legacy.version(),
                "capabilities": caps,
                "clientInfo": opts.client_info(),
            });
            let result = conn.request("initialize", params, timeout).await?;
            let info = ServerInfo::from_initialize(result)?;
            if !LEGACY_VERSIONS.contains(&info.protocol_version.as_str()) {
                return Err(ClientError::Usage(format!(
                    "the server answered `initialize` with protocol version {:?}, which this client does not speak ({})",
                    info.protocol_version,
                    LEGACY_VERSIONS.join(", ")
                )));
            }
            conn.notify("notifications/initialized", json!({})).await?;
            if let Some(level) = &opts.log_level {
                conn.request("logging/setLevel", json!({ "level": level }), timeout)
                    .await?;
            }
            Ok(info)
        }
        ClientEra::Modern => {
            let params = stamp(opts, caps, json!({}))?;
            let result = conn.request("server/discover", params, timeout).await?;
            ServerInfo::from_discover(result, ClientEra::Modern.version())
        }
    }
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
        let out = stamp(&opts, &caps, p).unwrap_or_default();
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
        let out = stamp(&opts, &json!({}), Value::Null).unwrap_or_default();
        assert_eq!(out, json!({}));
        let err = stamp(&opts, &json!({}), json!([1])).err();
        assert!(matches!(err, Some(ClientError::Usage(m)) if m.contains("JSON object")));
    }
}
