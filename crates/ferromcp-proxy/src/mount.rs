//! Mounting: list each backend's tools, resources and prompts once and register
//! forwarding components on a `Server`, names kept with one backend and prefixed
//! `backend_name` with several (resource URIs are kept as they are).

use std::collections::HashMap;
use std::sync::Arc;

use ferromcp_core::protocol::Tool;
use ferromcp_core::{Context, Server, ServerBuilder, ToolDef};
use serde_json::{Map, Value};

use crate::backend::Backend;
use crate::components;
use crate::config::{ConfigError, Mode, ProxyConfig};

/// Why the proxy could not be built.
#[derive(Debug, thiserror::Error)]
pub enum ProxyError {
    /// The configuration is wrong.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// A backend could not be reached or listed at startup.
    #[error("backend `{backend}`: {message}")]
    Backend {
        /// The backend's name.
        backend: String,
        /// What went wrong and what to do.
        message: String,
    },
    /// Two backends expose the same tool or prompt name (after prefixing/renaming) or
    /// the same resource URI.
    #[error(
        "`{name}` is exposed by both `{first}` and `{second}`; rename the tool with `tools.rename` or drop one backend"
    )]
    Clash {
        /// The clashing exposed name.
        name: String,
        /// The backend that claimed it first.
        first: String,
        /// The backend that claimed it second.
        second: String,
    },
}

/// Builds a proxy `Server` from a [`ProxyConfig`].
///
/// ```no_run
/// # async fn f() -> Result<(), ferromcp_proxy::ProxyError> {
/// use ferromcp_proxy::{BackendConfig, Mode, Proxy, ProxyConfig};
/// let cfg = ProxyConfig::default()
///     .backend(BackendConfig::stdio("browser", "mcp-browser", &[]).mode(Mode::Affinity));
/// let server = Proxy::new(cfg).name("my-proxy").build().await?;
/// ferromcp_core::transport::serve_stdio(server).await.ok();
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct Proxy {
    config: ProxyConfig,
    name: String,
    version: String,
}

impl Proxy {
    /// A proxy over the backends of `config`.
    pub fn new(config: ProxyConfig) -> Self {
        Proxy { config, name: "ferromcp-proxy".into(), version: env!("CARGO_PKG_VERSION").into() }
    }

    /// The server name the frontend reports.
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }

    /// Connects to every backend, lists its tools and builds the frontend `Server`.
    pub async fn build(self) -> Result<Server, ProxyError> {
        let builder = Server::builder(self.name, self.version);
        let (builder, mounted) = mount_all(builder, self.config).await?;
        let server = builder.build();
        crate::watch::start(&server, mounted);
        Ok(server)
    }
}

/// Adds the backends' tools, resources, templates and prompts (and the session hooks
/// that close affinity connections) to `builder`. Backend `list_changed` and
/// `resources/updated` notifications are followed only by [`Proxy::build`], which has
/// the built server to announce them on.
pub async fn mount(builder: ServerBuilder, config: ProxyConfig) -> Result<ServerBuilder, ProxyError> {
    mount_all(builder, config).await.map(|(b, _)| b)
}

/// What one backend contributed, for following its changes (see `watch.rs`).
pub(crate) struct Mounted {
    pub(crate) backend: Arc<Backend>,
    pub(crate) prefix: bool,
    pub(crate) completes: bool,
    /// Whether the backend declared `resources.subscribe`.
    pub(crate) subscribes: bool,
    /// Whether it declared anything a watcher could follow.
    pub(crate) listens: bool,
    /// What the backend exposes, by frontend key (tool or prompt name, resource URI),
    /// with the backend's listing of it (to see a definition change under one name).
    pub(crate) tools: HashMap<String, Value>,
    pub(crate) prompts: HashMap<String, Value>,
    pub(crate) uris: HashMap<String, Value>,
}

/// A frontend tool `exposed` forwarding to `backend`'s tool `tool`.
pub(crate) fn tool_def(backend: &Arc<Backend>, tool: &Tool, exposed: String) -> ToolDef {
    let mut def = ToolDef::new(exposed).input_schema((*tool.input_schema).clone());
    if let Some(d) = &tool.description {
        def = def.description(d.to_string());
    }
    if let Some(t) = &tool.title {
        def = def.title(t.clone());
    }
    if let Some(a) = tool.annotations.clone() {
        def = def.annotations(a);
    }
    let (b, original): (_, Arc<str>) = (backend.clone(), tool.name.as_ref().into());
    def = def.raw_handler(move |ctx: Context, args: Map<String, Value>| {
        let (b, original) = (b.clone(), original.clone());
        async move { b.call_tool(ctx, &original, args).await }
    });
    if let Some(o) = &tool.output_schema {
        def = def.output_schema((**o).clone());
    }
    def
}

/// A backend's listing of one component, as the watcher compares it.
pub(crate) fn listing(item: &impl serde::Serialize) -> Value {
    serde_json::to_value(item).unwrap_or(Value::Null)
}

pub(crate) async fn mount_all(
    mut builder: ServerBuilder,
    config: ProxyConfig,
) -> Result<(ServerBuilder, Vec<Mounted>), ProxyError> {
    if config.backends.is_empty() {
        return Err(ConfigError("no backends: add at least one to `mcpServers`".into()).into());
    }
    let prefix = config.backends.len() > 1;
    let backends: Vec<Arc<Backend>> = config.backends.into_iter().map(Backend::new).collect();
    let mut owners: HashMap<String, String> = HashMap::new();
    let mut uris: HashMap<String, String> = HashMap::new();
    let mut prompt_owners: HashMap<String, String> = HashMap::new();
    let mut all = Vec::new();
    for backend in &backends {
        let bname = backend.cfg.name.clone();
        let fail = |message: String| ProxyError::Backend { backend: bname.clone(), message };
        let conn = backend.connect().await.map_err(|e| fail(e.to_string()))?;
        let tools = conn.client.list_tools().await.map_err(|e| fail(format!("tools/list failed: {e}")))?;
        let has = |cap: &str| conn.client.server_info().has_capability(cap);
        let resources = if has("resources") {
            conn.client.list_resources().await.map_err(|e| fail(format!("resources/list failed: {e}")))?
        } else {
            Vec::new()
        };
        let templates = if has("resources") {
            conn.client
                .list_resource_templates()
                .await
                .map_err(|e| fail(format!("resources/templates/list failed: {e}")))?
        } else {
            Vec::new()
        };
        let completes = has("completions");
        let caps = conn.client.server_info().capabilities.clone();
        let flag = |path: &str| caps.pointer(path) == Some(&Value::Bool(true));
        let mut mounted = Mounted {
            backend: backend.clone(),
            prefix,
            completes,
            subscribes: flag("/resources/subscribe"),
            listens: ["/tools/listChanged", "/prompts/listChanged", "/resources/listChanged", "/resources/subscribe"]
                .into_iter()
                .any(flag),
            tools: HashMap::new(),
            prompts: HashMap::new(),
            uris: HashMap::new(),
        };
        let prompts = if has("prompts") {
            conn.client.list_prompts().await.map_err(|e| fail(format!("prompts/list failed: {e}")))?
        } else {
            Vec::new()
        };
        match backend.cfg.mode {
            Mode::Fresh => backend.release(conn),
            // Affinity connections belong to frontend sessions: this one was for discovery.
            Mode::Affinity => conn.client.close().await,
        }
        for tool in tools {
            let Some(exposed) = backend.cfg.tools.apply(&tool.name) else { continue };
            let exposed = if prefix { format!("{bname}_{exposed}") } else { exposed };
            if let Some(first) = owners.insert(exposed.clone(), bname.clone()) {
                return Err(ProxyError::Clash { name: exposed, first, second: bname });
            }
            let def = tool_def(backend, &tool, exposed.clone());
            mounted.tools.insert(exposed, listing(&tool));
            builder = builder.tool(def);
        }
        for r in resources {
            if let Some(first) = uris.insert(r.uri.clone(), bname.clone()) {
                return Err(ProxyError::Clash { name: r.uri.clone(), first, second: bname });
            }
            let name = if prefix { format!("{bname}_{}", r.name) } else { r.name.clone() };
            mounted.uris.insert(r.uri.clone(), listing(&r));
            builder = builder.resource(components::resource(backend, &r, name));
        }
        for t in templates {
            if let Some(first) = uris.insert(t.uri_template.clone(), bname.clone()) {
                return Err(ProxyError::Clash { name: t.uri_template.clone(), first, second: bname });
            }
            let name = if prefix { format!("{bname}_{}", t.name) } else { t.name.clone() };
            let def = components::template(backend, &t, name, completes)
                .map_err(|e| fail(format!("resource template `{}` is invalid: {e}", t.uri_template)))?;
            builder = builder.template(def);
        }
        for p in prompts {
            let exposed = if prefix { format!("{bname}_{}", p.name) } else { p.name.clone() };
            if let Some(first) = prompt_owners.insert(exposed.clone(), bname.clone()) {
                return Err(ProxyError::Clash { name: exposed, first, second: bname });
            }
            mounted.prompts.insert(exposed.clone(), listing(&p));
            builder = builder.prompt(components::prompt(backend, &p, exposed, completes));
        }
        all.push(mounted);
    }
    let ended = Arc::new(backends);
    let expired = ended.clone();
    builder = builder
        .on_session_ended(move |s| ended.iter().for_each(|b| b.end_session(s.id)))
        .on_session_expired(move |s| expired.iter().for_each(|b| b.end_session(s.id)));
    Ok((builder, all))
}
