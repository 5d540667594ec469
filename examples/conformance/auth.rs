//! The OAuth side of the conformance client: for `auth/*` scenarios, an
//! [`OAuthClient`] configured from the scenario context.
//!
//! The suite's authorization servers approve at once and redirect to the redirect URI,
//! so [`FollowRedirects`](ferromcp::client::oauth::FollowRedirects) (the default hook)
//! stands in for the browser. The context may carry `client_id` and `client_secret`
//! (pre-registered clients, `auth/pre-registration`; client credentials,
//! `auth/client-credentials-basic`) and `issuer`.

use ferromcp::client::oauth::{OAuthClient, OAuthConfig};
use serde_json::Value;

/// The client ID metadata document URL the suite expects (`auth/basic-cimd`).
const CLIENT_METADATA_URL: &str = "https://conformance-test.local/client-metadata.json";

/// The redirect URI; the suite's servers redirect there and nothing is fetched from it.
const REDIRECT_URI: &str = "http://localhost:3030/callback";

/// The OAuth provider for `scenario`, or `None` when it is not an `auth/` scenario.
pub fn provider(url: &str, scenario: &str, context: &Value) -> Option<OAuthClient> {
    if !scenario.starts_with("auth/") {
        return None;
    }
    let text = |k: &str| context.get(k).and_then(Value::as_str).map(str::to_owned);
    let mut config = OAuthConfig::new(REDIRECT_URI)
        .client_name("ferromcp-conformance-client")
        .client_metadata_url(CLIENT_METADATA_URL);
    if let Some(id) = text("client_id") {
        config = if scenario.starts_with("auth/client-credentials") {
            config.client_credentials(id, text("client_secret").unwrap_or_default())
        } else {
            config.pre_registered(id, text("client_secret"), text("issuer"))
        };
    }
    Some(OAuthClient::new(url, config))
}
