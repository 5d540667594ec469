//! RFC 9728 OAuth 2.0 Protected Resource Metadata: the document a client reads to find
//! the authorization server(s) of this MCP server, served at
//! `/.well-known/oauth-protected-resource` and at the path-suffixed form RFC 9728 §3.1
//! defines (`/.well-known/oauth-protected-resource/mcp` for a resource at `…/mcp`).
//! The 401 challenge of [`HttpAuth`](crate::HttpAuth) points at the latter
//! (`WWW-Authenticate: Bearer resource_metadata="…"`).
//!
//! ```
//! use ferromcp_http::ResourceMetadata;
//! let m = ResourceMetadata::new("https://mcp.example.com/mcp")
//!     .authorization_server("https://id.example.com/")
//!     .scopes(["counter:read", "counter:write"]);
//! assert_eq!(m.metadata_url(), "https://mcp.example.com/.well-known/oauth-protected-resource/mcp");
//! assert_eq!(m.document()["resource"], "https://mcp.example.com/mcp");
//! assert_eq!(m.document()["bearer_methods_supported"], serde_json::json!(["header"]));
//! ```

use std::sync::Arc;

use axum::Router;
use axum::http::{HeaderValue, header};
use axum::response::Response;
use axum::routing::get;
use serde_json::{Value, json};

/// The well-known path prefix of RFC 9728.
pub const WELL_KNOWN: &str = "/.well-known/oauth-protected-resource";

/// This server's protected resource metadata.
#[derive(Debug, Clone, PartialEq)]
pub struct ResourceMetadata {
    resource: String,
    authorization_servers: Vec<String>,
    scopes_supported: Vec<String>,
    resource_name: Option<String>,
}

impl ResourceMetadata {
    /// Metadata for the resource at `resource`: the server's canonical URI (scheme,
    /// host, port and MCP path, e.g. `https://mcp.example.com/mcp`), which is also the
    /// audience tokens must be issued for (RFC 8707).
    pub fn new(resource: impl Into<String>) -> Self {
        ResourceMetadata {
            resource: resource.into(),
            authorization_servers: Vec::new(),
            scopes_supported: Vec::new(),
            resource_name: None,
        }
    }
    /// Adds an authorization server (its issuer URL).
    pub fn authorization_server(mut self, issuer: impl Into<String>) -> Self {
        self.authorization_servers.push(issuer.into());
        self
    }
    /// Adds scopes to `scopes_supported`.
    pub fn scopes<I: IntoIterator<Item = S>, S: Into<String>>(mut self, scopes: I) -> Self {
        self.scopes_supported.extend(scopes.into_iter().map(Into::into));
        self
    }
    /// A human-readable name (`resource_name`).
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.resource_name = Some(name.into());
        self
    }
    /// The canonical URI (`resource`).
    pub fn resource(&self) -> &str {
        &self.resource
    }

    /// `(origin, path)` of the resource URI: `("https://h:1", "/mcp")`.
    fn split(&self) -> (&str, &str) {
        let r = self.resource.trim_end_matches('/');
        let after_scheme = r.find("://").map_or(0, |i| i + 3);
        match r[after_scheme..].find('/') {
            Some(i) => r.split_at(after_scheme + i),
            None => (r, ""),
        }
    }

    /// The URL of the metadata document (RFC 9728 §3.1: the well-known path inserted
    /// between the host and the resource's path).
    pub fn metadata_url(&self) -> String {
        let (origin, path) = self.split();
        format!("{origin}{WELL_KNOWN}{path}")
    }

    /// The paths the document is served at on this server.
    pub fn paths(&self) -> Vec<String> {
        let (_, path) = self.split();
        let mut out = vec![WELL_KNOWN.to_owned()];
        if !path.is_empty() {
            out.push(format!("{WELL_KNOWN}{path}"));
        }
        out
    }

    /// The JSON document.
    pub fn document(&self) -> Value {
        let mut doc = json!({
            "resource": self.resource,
            "authorization_servers": self.authorization_servers,
            "bearer_methods_supported": ["header"],
        });
        if !self.scopes_supported.is_empty() {
            doc["scopes_supported"] = json!(self.scopes_supported);
        }
        if let Some(n) = &self.resource_name {
            doc["resource_name"] = json!(n);
        }
        doc
    }
}

/// The GET routes serving `meta` (public, no authentication, CORS-readable).
pub(crate) fn routes(meta: &ResourceMetadata) -> Router {
    let body: Arc<[u8]> = serde_json::to_vec(&meta.document()).unwrap_or_default().into();
    let mut app = Router::new();
    for path in meta.paths() {
        let body = body.clone();
        app = app.route(
            &path,
            get(move || {
                let body = body.clone();
                async move {
                    let mut r = Response::new(axum::body::Body::from(body.to_vec()));
                    let h = r.headers_mut();
                    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
                    h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, HeaderValue::from_static("*"));
                    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("max-age=3600"));
                    r
                }
            }),
        );
    }
    app
}
