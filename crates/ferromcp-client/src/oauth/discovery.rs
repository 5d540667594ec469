//! Discovery: protected resource metadata (RFC 9728) and authorization server metadata
//! (RFC 8414, OpenID Connect Discovery), with the well-known URL orders the MCP
//! authorization spec gives.

use serde::Deserialize;
use serde::de::DeserializeOwned;
use url::Url;

use super::OAuthError;

/// Protected resource metadata (RFC 9728 §2), the fields MCP uses.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
pub struct ResourceMetadata {
    /// The resource identifier, sent as `resource=` exactly as published.
    pub resource: String,
    /// Authorization server identifiers; the first is used.
    #[serde(default)]
    pub authorization_servers: Vec<String>,
    /// Scopes the resource understands.
    #[serde(default)]
    pub scopes_supported: Option<Vec<String>>,
}

/// Authorization server metadata (RFC 8414 §2), the fields the flow uses.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
pub struct ServerMetadata {
    /// The issuer identifier; must equal the identifier the metadata was fetched for.
    pub issuer: String,
    /// Where the user agent goes.
    #[serde(default)]
    pub authorization_endpoint: Option<String>,
    /// Where codes become tokens.
    pub token_endpoint: String,
    /// Dynamic client registration (RFC 7591), if offered.
    #[serde(default)]
    pub registration_endpoint: Option<String>,
    /// Scopes the server knows (`offline_access` there means refresh tokens).
    #[serde(default)]
    pub scopes_supported: Option<Vec<String>>,
    /// PKCE methods; MCP requires `S256`.
    #[serde(default)]
    pub code_challenge_methods_supported: Option<Vec<String>>,
    /// Client authentication methods at the token endpoint.
    #[serde(default)]
    pub token_endpoint_auth_methods_supported: Option<Vec<String>>,
    /// Grant types.
    #[serde(default)]
    pub grant_types_supported: Option<Vec<String>>,
    /// Client ID metadata documents (URL client ids) accepted.
    #[serde(default)]
    pub client_id_metadata_document_supported: Option<bool>,
    /// RFC 9207: the authorization response carries `iss`.
    #[serde(default)]
    pub authorization_response_iss_parameter_supported: Option<bool>,
}

/// The protected resource metadata URLs to try for an MCP endpoint without a
/// `resource_metadata` hint: the path-suffixed well-known URL, then the root one.
///
/// ```
/// use ferromcp_client::oauth::discovery::resource_metadata_urls;
/// let urls = resource_metadata_urls("https://api.example.com/v1/mcp").unwrap();
/// assert_eq!(urls, vec![
///     "https://api.example.com/.well-known/oauth-protected-resource/v1/mcp".to_owned(),
///     "https://api.example.com/.well-known/oauth-protected-resource".to_owned(),
/// ]);
/// ```
pub fn resource_metadata_urls(server: &str) -> Result<Vec<String>, OAuthError> {
    let url = parse(server)?;
    let origin = origin(&url);
    let path = url.path().trim_end_matches('/');
    let mut out = Vec::new();
    if !path.is_empty() {
        out.push(format!(
            "{origin}/.well-known/oauth-protected-resource{path}"
        ));
    }
    out.push(format!("{origin}/.well-known/oauth-protected-resource"));
    Ok(out)
}

/// The authorization server metadata URLs to try for an issuer, in the order the MCP
/// spec gives: with a path, OAuth path insertion, OpenID path insertion, OpenID path
/// appending; without a path, OAuth then OpenID.
///
/// ```
/// use ferromcp_client::oauth::discovery::server_metadata_urls;
/// let urls = server_metadata_urls("https://auth.example.com/tenant1").unwrap();
/// assert_eq!(urls, vec![
///     "https://auth.example.com/.well-known/oauth-authorization-server/tenant1".to_owned(),
///     "https://auth.example.com/.well-known/openid-configuration/tenant1".to_owned(),
///     "https://auth.example.com/tenant1/.well-known/openid-configuration".to_owned(),
/// ]);
/// ```
pub fn server_metadata_urls(issuer: &str) -> Result<Vec<String>, OAuthError> {
    let url = parse(issuer)?;
    let origin = origin(&url);
    let path = url.path().trim_end_matches('/');
    Ok(if path.is_empty() {
        vec![
            format!("{origin}/.well-known/oauth-authorization-server"),
            format!("{origin}/.well-known/openid-configuration"),
        ]
    } else {
        vec![
            format!("{origin}/.well-known/oauth-authorization-server{path}"),
            format!("{origin}/.well-known/openid-configuration{path}"),
            format!("{origin}{path}/.well-known/openid-configuration"),
        ]
    })
}

/// Whether the published `resource` identifies `server`: the same URL, or a prefix of
/// it at a path-segment boundary on the same origin (RFC 9728 §3.3, MCP canonical URI).
///
/// ```
/// use ferromcp_client::oauth::discovery::resource_matches;
/// assert!(resource_matches("https://h/mcp", "https://h/mcp"));
/// assert!(resource_matches("https://h", "https://h/mcp"));
/// assert!(!resource_matches("https://evil.example.com/mcp", "https://h/mcp"));
/// assert!(!resource_matches("https://h/mc", "https://h/mcp"));
/// ```
pub fn resource_matches(resource: &str, server: &str) -> bool {
    let (Ok(r), Ok(s)) = (Url::parse(resource), Url::parse(server)) else {
        return false;
    };
    if origin(&r) != origin(&s) {
        return false;
    }
    let rp = r.path().trim_end_matches('/');
    let sp = s.path().trim_end_matches('/');
    sp == rp || sp.starts_with(&format!("{rp}/"))
}

fn parse(u: &str) -> Result<Url, OAuthError> {
    Url::parse(u).map_err(|e| OAuthError::Parse {
        what: "URL".into(),
        url: u.to_owned(),
        reason: e.to_string(),
    })
}

/// `scheme://host[:port]`, as the URL spells it.
fn origin(u: &Url) -> String {
    u.origin().ascii_serialization()
}

/// GETs a JSON document; `Ok(None)` when the server answers 4xx (try the next URL).
pub(crate) async fn get_json<T: DeserializeOwned>(
    http: &reqwest::Client,
    url: &str,
    what: &str,
) -> Result<Option<T>, OAuthError> {
    let resp = http
        .get(url)
        .header("accept", "application/json")
        .send()
        .await
        .map_err(|e| OAuthError::Http {
            url: url.to_owned(),
            reason: e.to_string(),
        })?;
    let status = resp.status();
    if status.is_client_error() {
        return Ok(None);
    }
    if !status.is_success() {
        return Err(OAuthError::Http {
            url: url.to_owned(),
            reason: format!("HTTP {status}"),
        });
    }
    let body = resp.bytes().await.map_err(|e| OAuthError::Http {
        url: url.to_owned(),
        reason: e.to_string(),
    })?;
    serde_json::from_slice(&body)
        .map(Some)
        .map_err(|e| OAuthError::Parse {
            what: what.to_owned(),
            url: url.to_owned(),
            reason: e.to_string(),
        })
}

/// Finds the protected resource metadata: the challenge's `resource_metadata` URL,
/// else the well-known URLs; then checks the published resource identifies `server`.
pub(crate) async fn fetch_resource_metadata(
    http: &reqwest::Client,
    server: &str,
    hint: Option<&str>,
) -> Result<ResourceMetadata, OAuthError> {
    let mut urls = Vec::new();
    if let Some(h) = hint {
        urls.push(h.to_owned());
    }
    urls.extend(resource_metadata_urls(server)?);
    for url in &urls {
        if let Some(prm) =
            get_json::<ResourceMetadata>(http, url, "protected resource metadata").await?
        {
            if !resource_matches(&prm.resource, server) {
                return Err(OAuthError::ResourceMismatch {
                    published: prm.resource,
                    server: server.to_owned(),
                });
            }
            return Ok(prm);
        }
    }
    Err(OAuthError::NoResourceMetadata {
        tried: urls.join(", "),
    })
}

/// Finds an authorization server's metadata and checks its `issuer` is exactly the
/// identifier it was fetched for.
pub(crate) async fn fetch_server_metadata(
    http: &reqwest::Client,
    issuer: &str,
) -> Result<ServerMetadata, OAuthError> {
    let urls = server_metadata_urls(issuer)?;
    for url in &urls {
        if let Some(md) =
            get_json::<ServerMetadata>(http, url, "authorization server metadata").await?
        {
            if md.issuer != issuer {
                return Err(OAuthError::IssuerMismatch {
                    expected: issuer.to_owned(),
                    found: md.issuer,
                });
            }
            return Ok(md);
        }
    }
    Err(OAuthError::NoServerMetadata {
        issuer: issuer.to_owned(),
        tried: urls.join(", "),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prm_urls_for_root_server() {
        assert_eq!(
            resource_metadata_urls("http://127.0.0.1:9/").unwrap(),
            vec!["http://127.0.0.1:9/.well-known/oauth-protected-resource".to_owned()]
        );
        assert!(resource_metadata_urls("not a url").is_err());
    }

    #[test]
    fn as_urls_for_root_issuer() {
        assert_eq!(
            server_metadata_urls("http://localhost:4000").unwrap(),
            vec![
                "http://localhost:4000/.well-known/oauth-authorization-server".to_owned(),
                "http://localhost:4000/.well-known/openid-configuration".to_owned(),
            ]
        );
    }

    #[test]
    fn metadata_parses_with_optional_fields_missing() {
        let md: ServerMetadata = serde_json::from_str(
            r#"{"issuer":"https://a","token_endpoint":"https://a/token","extra":1}"#,
        )
        .unwrap();
        assert_eq!(md.code_challenge_methods_supported, None);
        let prm: ResourceMetadata = serde_json::from_str(
            r#"{"resource":"https://r/mcp","authorization_servers":["https://a"],"scopes_supported":["x"]}"#,
        )
        .unwrap();
        assert_eq!(prm.authorization_servers, vec!["https://a".to_owned()]);
        assert!(serde_json::from_str::<ServerMetadata>(r#"{"issuer":1}"#).is_err());
    }

    #[test]
    fn resource_match_rules() {
        assert!(resource_matches(
            "http://localhost:3/",
            "http://localhost:3/mcp"
        ));
        assert!(!resource_matches(
            "http://localhost:4/mcp",
            "http://localhost:3/mcp"
        ));
        assert!(!resource_matches("garbage", "http://localhost:3/mcp"));
    }
}
