//! [`Settings`]: server configuration from `FERROMCP_*` environment variables.
//!
//! | variable | form | applies to | default |
//! | --- | --- | --- | --- |
//! | `FERROMCP_HOST` | IP address (`127.0.0.1`, `0.0.0.0`, `::1`) | [`Settings::addr`] | the program's (loopback) |
//! | `FERROMCP_PORT` | port number `0`–`65535` | [`Settings::addr`] | the program's |
//! | `FERROMCP_PATH` | endpoint path starting with `/` | [`HttpConfig::path`] | `/mcp` |
//! | `FERROMCP_STATELESS` | boolean | [`HttpConfig::stateless`] | `false` |
//! | `FERROMCP_JSON_RESPONSE` | boolean | [`HttpConfig::json_response`] | `false` |
//! | `FERROMCP_SESSION_IDLE_TIMEOUT` | duration (`0` = never) | `SessionLimits::idle_timeout` | 30 min |
//! | `FERROMCP_MAX_SESSIONS` | integer ≥ 1 | `SessionLimits::max_sessions` | 100,000 |
//! | `FERROMCP_STATE_TTL` | duration > 0 | `ServerBuilder::state_ttl` | the server's |
//! | `FERROMCP_REDIS_URL` | `redis://…`, `rediss://…`, `redis+unix://…` | the Redis state store (`ferromcp::settings::redis_state_store`) | in memory |
//! | `FERROMCP_SEALING_KEYS` | comma-separated hex keys, current first | `ServerBuilder::sealing_key` / `previous_sealing_key` | a random per-process key |
//! | `FERROMCP_EVENT_STORE` | `memory`, `redis` (needs `FERROMCP_REDIS_URL`) or `none` | [`HttpConfig::event_store`] / [`HttpConfig::without_event_store`]; `redis`: `ferromcp::settings::redis_event_store` | `memory` |
//! | `FERROMCP_LOG` | a `tracing` filter (`info`, `ferromcp=debug,warn`) | the program's log subscriber | `warn` (or `RUST_LOG`) |
//! | `FERROMCP_LOG_FORMAT` | `text` or `json` | the program's log subscriber | `text` |
//! | `FERROMCP_METRICS_PATH` | path starting with `/`, not the endpoint path | [`HttpConfig::metrics_path`] | off |
//!
//! Booleans are `1`/`0`, `true`/`false`, `yes`/`no`, `on`/`off` (any case). Durations are
//! a number with a unit, `250ms`, `30s`, `5m`, `2h`, `1d`, or bare seconds (`30`).
//! An empty variable counts as unset.
//!
//! # Precedence
//!
//! Apply the environment first, then your explicit builder calls: whatever comes later
//! wins, so code (and command-line flags mapped onto builder calls) overrides the
//! environment, which overrides the defaults.
//!
//! ```
//! use ferromcp_http::{HttpConfig, Settings};
//! # let vars = [("FERROMCP_PATH", "/env"), ("FERROMCP_STATELESS", "true")];
//! # let settings = Settings::from_lookup(|k| vars.iter().find(|(n, _)| *n == k).map(|(_, v)| v.to_string())).unwrap();
//! // let settings = Settings::from_env()?;
//! let cfg = settings.apply_http(HttpConfig::default()).path("/explicit");
//! assert_eq!(cfg.path, "/explicit"); // the explicit call won
//! assert!(!cfg.stateful); // from FERROMCP_STATELESS
//! ```
//!
//! Invalid values are a [`SettingsError`] that names the variable and the expected
//! form; a program should stop with it (`HttpConfig::from_env()?`).
//!
//! `FERROMCP_REDIS_URL`, `FERROMCP_EVENT_STORE=redis` and the log variables are parsed
//! and checked here but applied by the program (this crate does not depend on the Redis
//! stores or a log subscriber): the `ferromcp` facade crate's `settings` module connects
//! the stores (`redis_state_store`, `redis_event_store`).

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use ferromcp_core::ServerBuilder;
use ferromcp_core::session::SessionLimits;

use crate::HttpConfig;

/// Every variable [`Settings`] reads, in table order.
pub const VARIABLES: [&str; 14] = [
    "FERROMCP_HOST",
    "FERROMCP_PORT",
    "FERROMCP_PATH",
    "FERROMCP_STATELESS",
    "FERROMCP_JSON_RESPONSE",
    "FERROMCP_SESSION_IDLE_TIMEOUT",
    "FERROMCP_MAX_SESSIONS",
    "FERROMCP_STATE_TTL",
    "FERROMCP_REDIS_URL",
    "FERROMCP_SEALING_KEYS",
    "FERROMCP_EVENT_STORE",
    "FERROMCP_LOG",
    "FERROMCP_LOG_FORMAT",
    "FERROMCP_METRICS_PATH",
];

/// A `FERROMCP_*` variable with a value that cannot be used: startup should stop with it.
///
/// ```
/// use ferromcp_http::Settings;
/// let err = Settings::from_lookup(|k| (k == "FERROMCP_PORT").then(|| "http".to_string())).unwrap_err();
/// assert_eq!(err.variable, "FERROMCP_PORT");
/// assert!(err.to_string().contains("FERROMCP_PORT"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{variable}={value:?} is invalid: expected {expected}")]
pub struct SettingsError {
    /// The variable's name.
    pub variable: &'static str,
    /// The value it had.
    pub value: String,
    /// The form it should have.
    pub expected: String,
}

/// Where resumable streams keep their events (`FERROMCP_EVENT_STORE`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventStoreChoice {
    /// The in-memory store (resumable within this process).
    Memory,
    /// No store: streams are not resumable.
    None,
    /// The Redis Streams store at `FERROMCP_REDIS_URL` (resumable on any node sharing
    /// that Redis). [`Settings::apply_http`] leaves the event store as it is for this
    /// choice: connect the store with `ferromcp::settings::redis_event_store` and pass it
    /// to [`HttpConfig::event_store`].
    Redis,
}

/// The log output format (`FERROMCP_LOG_FORMAT`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object per line.
    Json,
}

/// Server settings read from `FERROMCP_*` variables (see the [module docs](self) for
/// the table). Every field is `None` (or empty) when its variable is unset.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Settings {
    /// `FERROMCP_HOST`: the address to bind.
    pub host: Option<IpAddr>,
    /// `FERROMCP_PORT`: the port to bind.
    pub port: Option<u16>,
    /// `FERROMCP_PATH`: the MCP endpoint path.
    pub path: Option<String>,
    /// `FERROMCP_STATELESS`: serve legacy clients without sessions.
    pub stateless: Option<bool>,
    /// `FERROMCP_JSON_RESPONSE`: answer every POST with `application/json`, never SSE.
    pub json_response: Option<bool>,
    /// `FERROMCP_SESSION_IDLE_TIMEOUT`: `Some(None)` for `0` (never reap).
    pub session_idle_timeout: Option<Option<Duration>>,
    /// `FERROMCP_MAX_SESSIONS`: most legacy sessions held at once.
    pub max_sessions: Option<usize>,
    /// `FERROMCP_STATE_TTL`: default TTL of state values and session handles.
    pub state_ttl: Option<Duration>,
    /// `FERROMCP_REDIS_URL`: the Redis state store's URL.
    pub redis_url: Option<String>,
    /// `FERROMCP_SEALING_KEYS`: the current `requestState` sealing key, then previous ones.
    pub sealing_keys: Vec<Vec<u8>>,
    /// `FERROMCP_EVENT_STORE`: the event store behind resumable streams.
    pub event_store: Option<EventStoreChoice>,
    /// `FERROMCP_LOG`: the log filter.
    pub log: Option<String>,
    /// `FERROMCP_LOG_FORMAT`: the log format.
    pub log_format: Option<LogFormat>,
    /// `FERROMCP_METRICS_PATH`: serve metrics at this path.
    pub metrics_path: Option<String>,
}

fn bad(variable: &'static str, value: &str, expected: impl Into<String>) -> SettingsError {
    SettingsError { variable, value: value.to_owned(), expected: expected.into() }
}

/// Parses a boolean: `1`/`0`, `true`/`false`, `yes`/`no`, `on`/`off`.
pub fn parse_bool(s: &str) -> Option<bool> {
    match s.trim().to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" => Some(true),
        "0" | "false" | "no" | "off" => Some(false),
        _ => None,
    }
}

/// Parses a duration: `250ms`, `30s`, `5m`, `2h`, `1d`, or bare seconds.
///
/// ```
/// use std::time::Duration;
/// use ferromcp_http::settings::parse_duration;
/// assert_eq!(parse_duration("5m"), Some(Duration::from_secs(300)));
/// assert_eq!(parse_duration("250ms"), Some(Duration::from_millis(250)));
/// assert_eq!(parse_duration("30"), Some(Duration::from_secs(30)));
/// assert_eq!(parse_duration("soon"), None);
/// ```
pub fn parse_duration(s: &str) -> Option<Duration> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let n: u64 = num.parse().ok()?;
    let secs = |m: u64| n.checked_mul(m).map(Duration::from_secs);
    match unit.trim() {
        "" | "s" | "sec" | "secs" => secs(1),
        "ms" => Some(Duration::from_millis(n)),
        "m" | "min" | "mins" => secs(60),
        "h" | "hr" | "hrs" => secs(3600),
        "d" | "day" | "days" => secs(86_400),
        _ => None,
    }
}

fn parse_hex(s: &str) -> Option<Vec<u8>> {
    if s.is_empty() || !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len()).step_by(2).map(|i| s.get(i..i + 2).and_then(|d| u8::from_str_radix(d, 16).ok())).collect()
}

fn parse_path(var: &'static str, v: &str) -> Result<String, SettingsError> {
    if v.starts_with('/') && !v.contains(char::is_whitespace) && !v.contains(['?', '#']) {
        Ok(v.to_owned())
    } else {
        Err(bad(var, v, "a URL path starting with `/`, without spaces, `?` or `#` (e.g. `/mcp`)"))
    }
}

const DURATION_FORM: &str = "a duration such as `30s`, `5m`, `2h`, `250ms` or a number of seconds";

impl Settings {
    /// Reads the `FERROMCP_*` variables of this process.
    pub fn from_env() -> Result<Settings, SettingsError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads the variables through `lookup` (name → value), e.g. from a map in tests.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Settings, SettingsError> {
        let get = |name: &str| lookup(name).filter(|v| !v.trim().is_empty());
        let mut s = Settings::default();
        if let Some(v) = get("FERROMCP_HOST") {
            let ip = v.trim().trim_start_matches('[').trim_end_matches(']');
            s.host = Some(
                ip.parse().map_err(|_| bad("FERROMCP_HOST", &v, "an IP address such as 127.0.0.1, 0.0.0.0 or ::1"))?,
            );
        }
        if let Some(v) = get("FERROMCP_PORT") {
            s.port = Some(v.trim().parse().map_err(|_| bad("FERROMCP_PORT", &v, "a port number from 0 to 65535"))?);
        }
        if let Some(v) = get("FERROMCP_PATH") {
            s.path = Some(parse_path("FERROMCP_PATH", v.trim())?);
        }
        const BOOL_FORM: &str = "a boolean: true/false, 1/0, yes/no or on/off";
        if let Some(v) = get("FERROMCP_STATELESS") {
            s.stateless = Some(parse_bool(&v).ok_or_else(|| bad("FERROMCP_STATELESS", &v, BOOL_FORM))?);
        }
        if let Some(v) = get("FERROMCP_JSON_RESPONSE") {
            s.json_response = Some(parse_bool(&v).ok_or_else(|| bad("FERROMCP_JSON_RESPONSE", &v, BOOL_FORM))?);
        }
        if let Some(v) = get("FERROMCP_SESSION_IDLE_TIMEOUT") {
            let d = parse_duration(&v)
                .ok_or_else(|| bad("FERROMCP_SESSION_IDLE_TIMEOUT", &v, format!("{DURATION_FORM} (0 = never)")))?;
            s.session_idle_timeout = Some((!d.is_zero()).then_some(d));
        }
        if let Some(v) = get("FERROMCP_MAX_SESSIONS") {
            let n: usize =
                v.trim().parse().map_err(|_| bad("FERROMCP_MAX_SESSIONS", &v, "a whole number of at least 1"))?;
            if n == 0 {
                return Err(bad("FERROMCP_MAX_SESSIONS", &v, "a whole number of at least 1"));
            }
            s.max_sessions = Some(n);
        }
        if let Some(v) = get("FERROMCP_STATE_TTL") {
            let d = parse_duration(&v)
                .filter(|d| !d.is_zero())
                .ok_or_else(|| bad("FERROMCP_STATE_TTL", &v, format!("{DURATION_FORM}, more than zero")))?;
            s.state_ttl = Some(d);
        }
        if let Some(v) = get("FERROMCP_REDIS_URL") {
            let v = v.trim();
            if !["redis://", "rediss://", "redis+unix://", "unix://"].iter().any(|p| v.starts_with(p)) {
                return Err(bad(
                    "FERROMCP_REDIS_URL",
                    v,
                    "a Redis URL: redis://[user:password@]host[:port][/db], rediss://… or redis+unix:///path",
                ));
            }
            s.redis_url = Some(v.to_owned());
        }
        if let Some(v) = get("FERROMCP_SEALING_KEYS") {
            for (i, k) in v.split(',').map(str::trim).enumerate() {
                let key = parse_hex(k).ok_or_else(|| {
                    bad("FERROMCP_SEALING_KEYS", &v, format!(
                        "comma-separated keys of an even number of hex digits, current key first (e.g. `openssl rand -hex 32`); key {} is not hex",
                        i + 1
                    ))
                })?;
                s.sealing_keys.push(key);
            }
        }
        if let Some(v) = get("FERROMCP_EVENT_STORE") {
            s.event_store = Some(match v.trim().to_ascii_lowercase().as_str() {
                "memory" => EventStoreChoice::Memory,
                "none" | "off" => EventStoreChoice::None,
                "redis" if s.redis_url.is_some() => EventStoreChoice::Redis,
                "redis" => {
                    return Err(bad(
                        "FERROMCP_EVENT_STORE",
                        &v,
                        "`memory` or `none`, or `redis` together with FERROMCP_REDIS_URL (the Redis server to keep events in)",
                    ));
                }
                _ => return Err(bad("FERROMCP_EVENT_STORE", &v, "`memory`, `redis` or `none`")),
            });
        }
        if let Some(v) = get("FERROMCP_LOG") {
            if v.contains(char::is_whitespace) {
                return Err(bad(
                    "FERROMCP_LOG",
                    &v,
                    "a tracing filter without spaces, e.g. `info` or `ferromcp=debug,warn`",
                ));
            }
            s.log = Some(v);
        }
        if let Some(v) = get("FERROMCP_LOG_FORMAT") {
            s.log_format = Some(match v.trim().to_ascii_lowercase().as_str() {
                "text" => LogFormat::Text,
                "json" => LogFormat::Json,
                _ => return Err(bad("FERROMCP_LOG_FORMAT", &v, "`text` or `json`")),
            });
        }
        if let Some(v) = get("FERROMCP_METRICS_PATH") {
            let p = parse_path("FERROMCP_METRICS_PATH", v.trim())?;
            if p == s.path.as_deref().unwrap_or("/mcp") {
                return Err(bad(
                    "FERROMCP_METRICS_PATH",
                    &v,
                    "a path other than the MCP endpoint's (FERROMCP_PATH, default /mcp)",
                ));
            }
            s.metrics_path = Some(p);
        }
        Ok(s)
    }

    /// The address to bind: `FERROMCP_HOST` and `FERROMCP_PORT` over `default`.
    ///
    /// ```
    /// use ferromcp_http::Settings;
    /// let s = Settings { port: Some(4000), ..Settings::default() };
    /// assert_eq!(s.addr("127.0.0.1:3000".parse().unwrap()).to_string(), "127.0.0.1:4000");
    /// ```
    pub fn addr(&self, default: SocketAddr) -> SocketAddr {
        SocketAddr::new(self.host.unwrap_or(default.ip()), self.port.unwrap_or(default.port()))
    }

    /// Applies the HTTP settings (path, stateless, JSON-only answers, event store,
    /// metrics path) to `cfg`; settings whose variable is unset leave `cfg` as it is.
    /// `FERROMCP_EVENT_STORE=redis` is applied by the program with
    /// `ferromcp::settings::redis_event_store` (see [`EventStoreChoice::Redis`]).
    pub fn apply_http(&self, mut cfg: HttpConfig) -> HttpConfig {
        if let Some(p) = &self.path {
            cfg = cfg.path(p.clone());
        }
        if let Some(st) = self.stateless {
            cfg.stateful = !st;
        }
        if let Some(j) = self.json_response {
            cfg = cfg.json_response(j);
        }
        match self.event_store {
            Some(EventStoreChoice::Memory) => cfg = cfg.event_store(ferromcp_core::events::MemoryEventStore::new()),
            Some(EventStoreChoice::None) => cfg = cfg.without_event_store(),
            // Connected by the program (async, and in another crate): see the variant.
            Some(EventStoreChoice::Redis) | None => {}
        }
        if let Some(m) = &self.metrics_path {
            cfg = cfg.metrics_path(m.clone());
        }
        cfg
    }

    /// Applies the server settings (session idle timeout and maximum, state TTL, sealing
    /// keys) to a server builder. Session limits the variables do not name keep
    /// `limits`' values (pass the limits you would otherwise set, or the default).
    pub fn apply_server(&self, mut b: ServerBuilder, limits: SessionLimits) -> ServerBuilder {
        let mut limits = limits;
        if let Some(t) = self.session_idle_timeout {
            limits.idle_timeout = t;
        }
        if let Some(n) = self.max_sessions {
            limits.max_sessions = n;
        }
        b = b.session_limits(limits);
        if let Some(ttl) = self.state_ttl {
            b = b.state_ttl(ttl);
        }
        for (i, k) in self.sealing_keys.iter().enumerate() {
            b = if i == 0 { b.sealing_key(k.clone()) } else { b.previous_sealing_key(k.clone()) };
        }
        b
    }
}

impl HttpConfig {
    /// The default configuration with the `FERROMCP_*` HTTP settings applied (see
    /// [`Settings`]); builder calls made on the result win over the environment.
    ///
    /// ```no_run
    /// let cfg = ferromcp_http::HttpConfig::from_env()?.max_body_bytes(1 << 20);
    /// # Ok::<(), ferromcp_http::SettingsError>(())
    /// ```
    pub fn from_env() -> Result<HttpConfig, SettingsError> {
        Ok(Settings::from_env()?.apply_http(HttpConfig::default()))
    }
}
