//! The requests of the flow: dynamic client registration (RFC 7591), the authorization
//! URL, the authorization response checks (state, RFC 9207 `iss`) and token requests
//! with client authentication.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde::Deserialize;
use serde_json::{Value, json};
use url::Url;
use url::form_urlencoded::{Serializer, byte_serialize};

use super::OAuthError;
use super::discovery::ServerMetadata;

/// A client id at one authorization server (never reused at another).
#[derive(Clone)]
pub(crate) struct RegisteredClient {
    pub client_id: String,
    pub client_secret: Option<String>,
    /// `client_secret_basic`, `client_secret_post` or `none`.
    pub auth_method: String,
    /// The authorization server that knows this client.
    pub issuer: String,
}

/// A successful token response (RFC 6749 §5.1).
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct TokenResponse {
    pub access_token: String,
    #[serde(default)]
    pub expires_in: Option<u64>,
    #[serde(default)]
    pub refresh_token: Option<String>,
    #[serde(default)]
    pub scope: Option<String>,
}

/// The token endpoint authentication method for a client with (or without) a secret:
/// what registration said, else the best the server supports.
pub(crate) fn choose_auth_method(
    md: &ServerMetadata,
    secret: Option<&str>,
    registered: Option<&str>,
) -> String {
    if let Some(m) = registered {
        return m.to_owned();
    }
    if secret.is_none() {
        return "none".into();
    }
    let supported = md
        .token_endpoint_auth_methods_supported
        .clone()
        .unwrap_or_else(|| vec!["client_secret_basic".into()]);
    for m in ["client_secret_basic", "client_secret_post", "none"] {
        if supported.iter().any(|s| s == m) {
            return m.into();
        }
    }
    "client_secret_basic".into()
}

/// Registers a client (RFC 7591) for the authorization code flow.
pub(crate) async fn register(
    http: &reqwest::Client,
    md: &ServerMetadata,
    endpoint: &str,
    client_name: &str,
    redirect_uri: &str,
) -> Result<RegisteredClient, OAuthError> {
    let supported = md
        .token_endpoint_auth_methods_supported
        .clone()
        .unwrap_or_default();
    let method = if supported.is_empty() || supported.iter().any(|m| m == "none") {
        "none"
    } else if supported.iter().any(|m| m == "client_secret_basic") {
        "client_secret_basic"
    } else {
        "client_secret_post"
    };
    let body = json!({
        "client_name": client_name,
        "redirect_uris": [redirect_uri],
        "grant_types": ["authorization_code", "refresh_token"],
        "response_types": ["code"],
        "token_endpoint_auth_method": method,
        "application_type": "native",
    });
    let resp = http
        .post(endpoint)
        .header("content-type", "application/json")
        .header("accept", "application/json")
        .body(body.to_string())
        .send()
        .await
        .map_err(|e| http_err(endpoint, e))?;
    let status = resp.status();
    let v: Value = read_json(resp, endpoint, "registration response").await?;
    if !status.is_success() {
        return Err(refused("registration", status.as_u16(), &v));
    }
    let client_id = v
        .get("client_id")
        .and_then(Value::as_str)
        .ok_or_else(|| OAuthError::Parse {
            what: "registration response".into(),
            url: endpoint.to_owned(),
            reason: "no `client_id`".into(),
        })?
        .to_owned();
    let client_secret = v
        .get("client_secret")
        .and_then(Value::as_str)
        .map(str::to_owned);
    let registered = v.get("token_endpoint_auth_method").and_then(Value::as_str);
    let auth_method = choose_auth_method(md, client_secret.as_deref(), registered);
    Ok(RegisteredClient {
        client_id,
        client_secret,
        auth_method,
        issuer: md.issuer.clone(),
    })
}

/// What goes into the authorization request.
pub(crate) struct AuthorizeRequest<'a> {
    pub client_id: &'a str,
    pub redirect_uri: &'a str,
    pub scopes: &'a [String],
    pub resource: &'a str,
    pub code_challenge: &'a str,
    pub state: &'a str,
}

/// The authorization URL (OAuth 2.1 §4.1.1 with PKCE S256 and RFC 8707 `resource`).
pub(crate) fn authorization_url(
    endpoint: &str,
    req: &AuthorizeRequest<'_>,
) -> Result<String, OAuthError> {
    let mut url = Url::parse(endpoint).map_err(|e| OAuthError::Parse {
        what: "authorization endpoint".into(),
        url: endpoint.to_owned(),
        reason: e.to_string(),
    })?;
    {
        let mut q = url.query_pairs_mut();
        q.append_pair("response_type", "code")
            .append_pair("client_id", req.client_id)
            .append_pair("redirect_uri", req.redirect_uri)
            .append_pair("state", req.state)
            .append_pair("code_challenge", req.code_challenge)
            .append_pair("code_challenge_method", "S256")
            .append_pair("resource", req.resource);
        if !req.scopes.is_empty() {
            q.append_pair("scope", &req.scopes.join(" "));
        }
    }
    Ok(url.into())
}

/// Checks the authorization response and returns the code: `state` must match, an
/// `error` is reported, and `iss` (RFC 9207) must equal the issuer exactly when
/// present, and be present when the server advertises it.
pub(crate) fn code_from_redirect(
    redirect: &str,
    state: &str,
    md: &ServerMetadata,
) -> Result<String, OAuthError> {
    let url = Url::parse(redirect)
        .map_err(|e| OAuthError::BadRedirect(format!("`{redirect}` is not a URL: {e}")))?;
    let get = |k: &str| {
        url.query_pairs()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.into_owned())
    };
    if let Some(error) = get("error") {
        return Err(OAuthError::Refused {
            step: "authorization".into(),
            error,
            description: get("error_description"),
        });
    }
    if get("state").as_deref() != Some(state) {
        return Err(OAuthError::BadRedirect(
            "the `state` does not match the request (a forged or stale response)".into(),
        ));
    }
    match get("iss") {
        Some(iss) if iss != md.issuer => {
            return Err(OAuthError::WrongIssuer {
                expected: md.issuer.clone(),
                found: iss,
            });
        }
        None if md.authorization_response_iss_parameter_supported == Some(true) => {
            return Err(OAuthError::WrongIssuer {
                expected: md.issuer.clone(),
                found: "(none, though the server advertises `iss`)".into(),
            });
        }
        _ => {}
    }
    get("code").ok_or_else(|| OAuthError::BadRedirect("no `code` in the redirect".into()))
}

/// POSTs a token request with the client's authentication.
pub(crate) async fn token_request(
    http: &reqwest::Client,
    md: &ServerMetadata,
    client: &RegisteredClient,
    params: &[(&str, &str)],
) -> Result<TokenResponse, OAuthError> {
    let endpoint = md.token_endpoint.as_str();
    let (body, basic) = token_form(client, params);
    let mut b = http.post(endpoint).header("accept", "application/json");
    if let Some(basic) = basic {
        b = b.header("authorization", basic);
    }
    let resp = b
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await
        .map_err(|e| http_err(endpoint, e))?;
    let status = resp.status();
    let v: Value = read_json(resp, endpoint, "token response").await?;
    if !status.is_success() {
        return Err(refused("token request", status.as_u16(), &v));
    }
    serde_json::from_value(v).map_err(|e| OAuthError::Parse {
        what: "token response".into(),
        url: endpoint.to_owned(),
        reason: e.to_string(),
    })
}

/// The form body and the `Authorization: Basic` value (if any) of a token request.
fn token_form(client: &RegisteredClient, params: &[(&str, &str)]) -> (String, Option<String>) {
    let mut form = Serializer::new(String::new());
    for (k, v) in params {
        form.append_pair(k, v);
    }
    let mut basic = None;
    match (client.auth_method.as_str(), client.client_secret.as_deref()) {
        ("client_secret_basic", Some(secret)) => {
            let id: String = byte_serialize(client.client_id.as_bytes()).collect();
            let pw: String = byte_serialize(secret.as_bytes()).collect();
            basic = Some(format!("Basic {}", STANDARD.encode(format!("{id}:{pw}"))));
        }
        ("client_secret_post", Some(secret)) => {
            form.append_pair("client_id", &client.client_id);
            form.append_pair("client_secret", secret);
        }
        _ => {
            form.append_pair("client_id", &client.client_id);
        }
    }
    (form.finish(), basic)
}

fn http_err(url: &str, e: reqwest::Error) -> OAuthError {
    OAuthError::Http {
        url: url.to_owned(),
        reason: e.to_string(),
    }
}

async fn read_json(resp: reqwest::Response, url: &str, what: &str) -> Result<Value, OAuthError> {
    let status = resp.status();
    let body = resp.bytes().await.map_err(|e| http_err(url, e))?;
    match serde_json::from_slice(&body) {
        Ok(v) => Ok(v),
        Err(_) if !status.is_success() => Ok(Value::Null),
        Err(e) => Err(OAuthError::Parse {
            what: what.to_owned(),
            url: url.to_owned(),
            reason: e.to_string(),
        }),
    }
}

fn refused(step: &str, status: u16, v: &Value) -> OAuthError {
    OAuthError::Refused {
        step: step.to_owned(),
        error: v
            .get("error")
            .and_then(Value::as_str)
            .map(str::to_owned)
            .unwrap_or_else(|| format!("HTTP {status}")),
        description: v
            .get("error_description")
            .and_then(Value::as_str)
            .map(str::to_owned),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn md(iss_supported: Option<bool>) -> ServerMetadata {
        serde_json::from_value(json!({
            "issuer": "http://as.test",
            "token_endpoint": "http://as.test/token",
            "authorization_response_iss_parameter_supported": iss_supported,
        }))
        .unwrap()
    }

    #[test]
    fn authorization_url_carries_pkce_resource_and_scope() {
        let scopes = vec!["a".to_owned(), "b".to_owned()];
        let u = authorization_url(
            "http://as.test/authorize?x=1",
            &AuthorizeRequest {
                client_id: "c",
                redirect_uri: "http://127.0.0.1/cb",
                scopes: &scopes,
                resource: "http://rs.test/mcp",
                code_challenge: "ch",
                state: "st",
            },
        )
        .unwrap();
        assert!(u.starts_with("http://as.test/authorize?x=1&response_type=code&client_id=c"));
        assert!(u.contains("code_challenge_method=S256"));
        assert!(u.contains("resource=http%3A%2F%2Frs.test%2Fmcp"));
        assert!(u.contains("scope=a+b"));
    }

    #[test]
    fn redirect_checks_state_and_issuer() {
        let ok = "http://127.0.0.1/cb?code=C&state=S&iss=http%3A%2F%2Fas.test";
        assert_eq!(code_from_redirect(ok, "S", &md(Some(true))).unwrap(), "C");
        assert!(matches!(
            code_from_redirect(ok, "T", &md(None)),
            Err(OAuthError::BadRedirect(_))
        ));
        let wrong = "http://127.0.0.1/cb?code=C&state=S&iss=http%3A%2F%2Fas.test%2F";
        assert!(matches!(
            code_from_redirect(wrong, "S", &md(None)),
            Err(OAuthError::WrongIssuer { .. })
        ));
        let missing = "http://127.0.0.1/cb?code=C&state=S";
        assert!(code_from_redirect(missing, "S", &md(Some(true))).is_err());
        assert_eq!(code_from_redirect(missing, "S", &md(None)).unwrap(), "C");
        let denied = "http://127.0.0.1/cb?error=access_denied&state=S";
        assert!(matches!(
            code_from_redirect(denied, "S", &md(None)),
            Err(OAuthError::Refused { .. })
        ));
    }

    #[test]
    fn auth_method_choice() {
        let mut m = md(None);
        assert_eq!(choose_auth_method(&m, None, None), "none");
        assert_eq!(
            choose_auth_method(&m, Some("s"), None),
            "client_secret_basic"
        );
        m.token_endpoint_auth_methods_supported = Some(vec!["client_secret_post".into()]);
        assert_eq!(
            choose_auth_method(&m, Some("s"), None),
            "client_secret_post"
        );
        assert_eq!(choose_auth_method(&m, Some("s"), Some("none")), "none");
    }
}
