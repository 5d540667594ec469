//! Configuration: the `mcpServers` JSON format MCP hosts and FastMCP use, and the
//! equivalent builder methods.
//!
//! ```
//! use ferromcp_proxy::{BackendKind, Mode, ProxyConfig};
//! let cfg = ProxyConfig::from_json(r#"{"mcpServers": {
//!     "files": {"command": "mcp-files", "args": ["--root", "."], "mode": "affinity"},
//!     "web":   {"url": "http://127.0.0.1:3001/mcp", "headers": {"X-Key": "k"},
//!               "tools": {"exclude": ["debug"], "rename": {"fetch": "get"}}}
//! }}"#).unwrap();
//! assert_eq!(cfg.backends.len(), 2);
//! assert_eq!(cfg.backends[0].mode, Mode::Affinity);
//! assert!(matches!(cfg.backends[1].kind, BackendKind::Http { .. }));
//! ```

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;
use serde_json::Value;

/// The default bound on one backend call (connect included).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);

/// A configuration error: which backend and which field, and what to do about it.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("proxy configuration: {0}")]
pub struct ConfigError(pub String);

/// How backend connections are shared between frontend requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Mode {
    /// A pooled backend connection per frontend request, used by one call at a time:
    /// right for stateless backends.
    #[default]
    Fresh,
    /// One backend connection per frontend session, closed when that session ends:
    /// right for stateful backends. Calls on a stdio backend are serialised (the
    /// 2025-11-25 wire cannot say which call an ask belongs to); HTTP backends run them
    /// concurrently.
    Affinity,
}

/// How to reach a backend.
#[derive(Debug, Clone, PartialEq)]
pub enum BackendKind {
    /// A child process speaking newline-delimited JSON-RPC on stdio.
    Stdio {
        /// The program.
        command: String,
        /// Its arguments.
        args: Vec<String>,
        /// Extra environment variables.
        env: BTreeMap<String, String>,
        /// The working directory.
        cwd: Option<PathBuf>,
    },
    /// A Streamable HTTP endpoint.
    Http {
        /// The endpoint URL (`http://…/mcp`).
        url: String,
        /// Static headers sent with every request (credentials for this backend only).
        headers: BTreeMap<String, String>,
    },
}

/// Which backend tools are exposed, and under which names.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ToolFilter {
    /// Only these tools (by backend name), when set.
    pub include: Option<Vec<String>>,
    /// Never these tools (by backend name).
    pub exclude: Vec<String>,
    /// Backend name → exposed name (before any prefix).
    pub rename: HashMap<String, String>,
}

impl ToolFilter {
    /// The exposed name of backend tool `name` (before prefixing), or `None` when hidden.
    pub fn apply(&self, name: &str) -> Option<String> {
        if let Some(inc) = &self.include
            && !inc.iter().any(|n| n == name)
        {
            return None;
        }
        if self.exclude.iter().any(|n| n == name) {
            return None;
        }
        Some(self.rename.get(name).cloned().unwrap_or_else(|| name.to_owned()))
    }
}

/// One backend server.
#[derive(Debug, Clone, PartialEq)]
pub struct BackendConfig {
    /// Its name: the key in `mcpServers`, and the prefix when several are mounted.
    pub name: String,
    /// How to reach it.
    pub kind: BackendKind,
    /// How its connections are shared.
    pub mode: Mode,
    /// Tool filtering and renaming.
    pub tools: ToolFilter,
    /// The bound on one call to it.
    pub timeout: Duration,
    /// Affinity mode: an affinity connection with no call in flight for this long is
    /// closed (the frontend session keeps going; its next call opens a new one).
    /// `None`: kept while the frontend session lives.
    pub idle_timeout: Option<Duration>,
    /// The protocol revision to speak to it: `None` negotiates (`server/discover`, then
    /// `initialize`); `"2025-11-25"` or `"2026-07-28"` pins one.
    pub protocol_version: Option<String>,
    /// The `url` is a 2024-11-05 HTTP+SSE endpoint (`"transport": "sse"`), not Streamable
    /// HTTP: the era is 2025-11-25, and as on stdio its asks and logs cannot be tied to
    /// a call.
    pub legacy_sse: bool,
}

impl BackendConfig {
    /// A stdio backend running `command args…`.
    pub fn stdio(name: impl Into<String>, command: impl Into<String>, args: &[&str]) -> Self {
        Self::with_kind(
            name,
            BackendKind::Stdio {
                command: command.into(),
                args: args.iter().map(|s| s.to_string()).collect(),
                env: BTreeMap::new(),
                cwd: None,
            },
        )
    }

    /// A Streamable HTTP backend at `url`.
    pub fn http(name: impl Into<String>, url: impl Into<String>) -> Self {
        Self::with_kind(name, BackendKind::Http { url: url.into(), headers: BTreeMap::new() })
    }

    fn with_kind(name: impl Into<String>, kind: BackendKind) -> Self {
        BackendConfig {
            name: name.into(),
            kind,
            mode: Mode::Fresh,
            tools: ToolFilter::default(),
            timeout: DEFAULT_TIMEOUT,
            idle_timeout: None,
            protocol_version: None,
            legacy_sse: false,
        }
    }

    /// Sets the mode.
    pub fn mode(mut self, mode: Mode) -> Self {
        self.mode = mode;
        self
    }

    /// Sets the per-call timeout.
    pub fn timeout(mut self, t: Duration) -> Self {
        self.timeout = t;
        self
    }

    /// Closes an affinity connection idle for `t` (`"idleTimeoutMs"` in JSON; see
    /// [`BackendConfig::idle_timeout`](struct.BackendConfig.html#structfield.idle_timeout)).
    ///
    /// ```
    /// use std::time::Duration;
    /// use ferromcp_proxy::{BackendConfig, Mode};
    /// let b = BackendConfig::stdio("browser", "mcp-browser", &[])
    ///     .mode(Mode::Affinity)
    ///     .idle_timeout(Duration::from_secs(300));
    /// assert_eq!(b.idle_timeout, Some(Duration::from_secs(300)));
    /// ```
    pub fn idle_timeout(mut self, t: Duration) -> Self {
        self.idle_timeout = Some(t);
        self
    }

    /// Pins the protocol revision spoken to this backend (`"2025-11-25"` or
    /// `"2026-07-28"`); unknown revisions are a [`ConfigError`] when parsed from JSON.
    pub fn protocol_version(mut self, v: impl Into<String>) -> Self {
        self.protocol_version = Some(v.into());
        self
    }

    /// Marks an HTTP backend's `url` as a 2024-11-05 HTTP+SSE endpoint.
    pub fn legacy_sse(mut self, yes: bool) -> Self {
        self.legacy_sse = yes;
        self
    }

    /// Sets the tool filter.
    pub fn tools(mut self, f: ToolFilter) -> Self {
        self.tools = f;
        self
    }

    /// Adds an environment variable (stdio) or a header (HTTP).
    pub fn env_or_header(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        match &mut self.kind {
            BackendKind::Stdio { env, .. } => env.insert(key.into(), value.into()),
            BackendKind::Http { headers, .. } => headers.insert(key.into(), value.into()),
        };
        self
    }
}

/// The whole proxy configuration.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ProxyConfig {
    /// The backends, in name order.
    pub backends: Vec<BackendConfig>,
}

impl ProxyConfig {
    /// Parses `{"mcpServers": {name: entry, …}}`.
    pub fn from_json(text: &str) -> Result<Self, ConfigError> {
        let v: Value = serde_json::from_str(text)
            .map_err(|e| ConfigError(format!("not valid JSON ({e}); expected {{\"mcpServers\": {{…}}}}")))?;
        Self::from_value(&v)
    }

    /// Parses an already-decoded configuration value.
    pub fn from_value(v: &Value) -> Result<Self, ConfigError> {
        let servers = v.get("mcpServers").and_then(Value::as_object).ok_or_else(|| {
            ConfigError("`mcpServers` is missing or not an object; expected {\"mcpServers\": {\"name\": {…}}}".into())
        })?;
        if servers.is_empty() {
            return Err(ConfigError("`mcpServers` is empty: add at least one backend".into()));
        }
        let mut backends = Vec::new();
        for (name, entry) in servers {
            backends.push(parse_entry(name, entry)?);
        }
        Ok(ProxyConfig { backends })
    }

    /// Adds a backend (the builder equivalent of an `mcpServers` entry).
    pub fn backend(mut self, b: BackendConfig) -> Self {
        self.backends.push(b);
        self
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEntry {
    command: Option<String>,
    #[serde(default)]
    args: Vec<String>,
    #[serde(default)]
    env: BTreeMap<String, String>,
    cwd: Option<PathBuf>,
    url: Option<String>,
    #[serde(default)]
    headers: BTreeMap<String, String>,
    transport: Option<String>,
    mode: Option<String>,
    #[serde(rename = "timeoutMs")]
    timeout_ms: Option<u64>,
    #[serde(rename = "idleTimeoutMs")]
    idle_timeout_ms: Option<u64>,
    tools: Option<RawTools>,
    #[serde(rename = "protocolVersion")]
    protocol_version: Option<String>,
    // Accepted and ignored: fields hosts commonly write.
    #[serde(rename = "type")]
    _type: Option<Value>,
    #[serde(rename = "disabled")]
    _disabled: Option<Value>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTools {
    include: Option<Vec<String>>,
    #[serde(default)]
    exclude: Vec<String>,
    #[serde(default)]
    rename: HashMap<String, String>,
}

fn parse_entry(name: &str, entry: &Value) -> Result<BackendConfig, ConfigError> {
    let bad = |msg: String| ConfigError(format!("mcpServers.{name}: {msg}"));
    if name.is_empty() || name.contains(char::is_whitespace) {
        return Err(bad("a backend name must be non-empty and without spaces".into()));
    }
    if !entry.is_object() {
        return Err(bad("must be an object with `command` or `url`".into()));
    }
    let raw: RawEntry = serde_json::from_value(entry.clone()).map_err(|e| bad(e.to_string()))?;
    let mut legacy_sse = false;
    let kind = match (raw.command, raw.url) {
        (Some(_), Some(_)) => return Err(bad("has both `command` and `url`; keep one".into())),
        (None, None) => return Err(bad("needs `command` (stdio) or `url` (HTTP)".into())),
        (Some(command), None) => {
            if raw.transport.as_deref().is_some_and(|t| t != "stdio") {
                return Err(bad("`transport` must be \"stdio\" with `command`".into()));
            }
            if !raw.headers.is_empty() {
                return Err(bad("`headers` only applies to `url` backends; use `env`".into()));
            }
            BackendKind::Stdio { command, args: raw.args, env: raw.env, cwd: raw.cwd }
        }
        (None, Some(url)) => {
            let sse = match raw.transport.as_deref() {
                None | Some("http") | Some("streamable-http") | Some("streamable_http") => false,
                Some("sse") => true,
                Some(other) => {
                    return Err(bad(format!(
                        "`transport` {other:?} is not supported; use \"http\" (Streamable HTTP) or \"sse\" (the 2024-11-05 HTTP+SSE transport)"
                    )));
                }
            };
            if !raw.args.is_empty() || !raw.env.is_empty() || raw.cwd.is_some() {
                return Err(bad("`args`, `env` and `cwd` only apply to `command` backends".into()));
            }
            if !(url.starts_with("http://") || url.starts_with("https://")) {
                return Err(bad(format!("`url` {url:?} must start with http:// or https://")));
            }
            legacy_sse = sse;
            BackendKind::Http { url, headers: raw.headers }
        }
    };
    let mode = match raw.mode.as_deref() {
        None | Some("fresh") => Mode::Fresh,
        Some("affinity") => Mode::Affinity,
        Some(other) => return Err(bad(format!("`mode` {other:?} must be \"fresh\" or \"affinity\""))),
    };
    let timeout = match raw.timeout_ms {
        Some(0) => return Err(bad("`timeoutMs` must be above 0".into())),
        Some(ms) => Duration::from_millis(ms),
        None => DEFAULT_TIMEOUT,
    };
    let idle_timeout = match raw.idle_timeout_ms {
        None => None,
        Some(0) => return Err(bad("`idleTimeoutMs` must be above 0 (leave it out to keep connections)".into())),
        Some(_) if mode != Mode::Affinity => {
            return Err(bad("`idleTimeoutMs` applies to `\"mode\": \"affinity\"` backends only".into()));
        }
        Some(ms) => Some(Duration::from_millis(ms)),
    };
    let tools =
        raw.tools.map(|t| ToolFilter { include: t.include, exclude: t.exclude, rename: t.rename }).unwrap_or_default();
    let protocol_version = match raw.protocol_version {
        None => None,
        Some(v) if v == "2025-11-25" || v == "2026-07-28" => Some(v),
        Some(other) => {
            return Err(bad(format!(
                "`protocolVersion` {other:?} must be \"2025-11-25\" or \"2026-07-28\" (or left out to negotiate)"
            )));
        }
    };
    Ok(BackendConfig { name: name.to_owned(), kind, mode, tools, timeout, idle_timeout, protocol_version, legacy_sse })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(text: &str) -> String {
        ProxyConfig::from_json(text).unwrap_err().0
    }

    #[test]
    fn errors_name_the_backend_and_field() {
        assert!(err(r#"{"servers": {}}"#).contains("mcpServers"));
        assert!(err(r#"{"mcpServers": {"a": {}}}"#).contains("mcpServers.a: needs `command`"));
        assert!(err(r#"{"mcpServers": {"a": {"command": "x", "mode": "sticky"}}}"#).contains("`mode` \"sticky\""));
        assert!(err(r#"{"mcpServers": {"a": {"command": "x", "comand": 1}}}"#).contains("comand"));
        assert!(err(r#"{"mcpServers": {"a": {"url": "ftp://x"}}}"#).contains("`url`"));
        assert!(err(r#"{"mcpServers": {"a": {"command": "x", "url": "http://x"}}}"#).contains("both"));
        assert!(err(r#"{"mcpServers": {"a": {"command": "x", "args": "y"}}}"#).contains("mcpServers.a"));
        assert!(err(r#"{"mcpServers": {"a": {"command": "x", "idleTimeoutMs": 5}}}"#).contains("affinity"));
        assert!(
            err(r#"{"mcpServers": {"a": {"command": "x", "mode": "affinity", "idleTimeoutMs": 0}}}"#)
                .contains("`idleTimeoutMs` must be above 0")
        );
        let ok = ProxyConfig::from_json(
            r#"{"mcpServers": {"a": {"command": "x", "mode": "affinity", "idleTimeoutMs": 250}}}"#,
        )
        .unwrap();
        assert_eq!(ok.backends[0].idle_timeout, Some(Duration::from_millis(250)));
    }

    #[test]
    fn filters_include_exclude_rename() {
        let cfg = ProxyConfig::from_json(
            r#"{"mcpServers": {"a": {"command": "x", "timeoutMs": 500,
                "tools": {"include": ["k", "r", "x"], "exclude": ["x"], "rename": {"r": "renamed"}}}}}"#,
        )
        .unwrap();
        let b = &cfg.backends[0];
        assert_eq!(b.timeout, Duration::from_millis(500));
        assert_eq!(b.tools.apply("k").as_deref(), Some("k"));
        assert_eq!(b.tools.apply("r").as_deref(), Some("renamed"));
        assert_eq!(b.tools.apply("x"), None);
        assert_eq!(b.tools.apply("other"), None);
    }

    #[test]
    fn builder_matches_json() {
        let built = ProxyConfig::default().backend(BackendConfig::stdio("s", "srv", &["--stdio"]).mode(Mode::Affinity));
        let parsed = ProxyConfig::from_json(
            r#"{"mcpServers": {"s": {"command": "srv", "args": ["--stdio"], "mode": "affinity"}}}"#,
        )
        .unwrap();
        assert_eq!(built, parsed);
    }
}
