//! An OAuth 2.1 client for MCP servers, as the MCP authorization spec (2025-11-25,
//! 2026-07-28) describes it; [`OAuthClient`] is an [`AuthProvider`].
//!
//! On a 401 it discovers the protected resource metadata (RFC 9728: the
//! `resource_metadata` of `WWW-Authenticate`, else the path-suffixed then the root
//! well-known URL) and checks it names this server; fetches the authorization server
//! metadata (RFC 8414 / OpenID discovery, in the spec's path-insertion order) and checks
//! its `issuer`; gets a client id (pre-registered, client ID metadata document, or
//! dynamic registration, RFC 7591); runs the authorization code flow with PKCE S256
//! through the [`RedirectHandler`], checking `state` and RFC 9207 `iss`; and exchanges
//! the code with `resource=` (RFC 8707) and the client's token endpoint authentication
//! (`client_secret_basic`, `client_secret_post`, `none`). Scopes come from the
//! challenge, else from the metadata's `scopes_supported`, plus `offline_access` when
//! the authorization server lists it. A 403 `insufficient_scope` re-authorizes with the
//! union of scopes, at most [`OAuthConfig::max_step_ups`] times and never for scopes
//! already requested. Expired tokens are refreshed; when the resource moves to another
//! authorization server, the client registers again there and drops the old tokens.
//!
//! ```no_run
//! # async fn run() -> ferromcp_client::Result<()> {
//! use ferromcp_client::{Client, ClientEra, ClientOptions};
//! use ferromcp_client::oauth::{OAuthClient, OAuthConfig};
//! let url = "https://mcp.example.com/mcp";
//! let oauth = OAuthClient::new(url, OAuthConfig::new("http://127.0.0.1:8976/callback"));
//! let client = Client::connect_http(url, ClientOptions::new(ClientEra::Auto).auth(oauth)).await?;
//! # Ok(()) }
//! ```
//!
//! # Layout
//! - `config.rs` — [`OAuthConfig`], [`PreRegisteredClient`], [`Grant`].
//! - [`discovery`] — metadata types, well-known URL building, fetching.
//! - `challenge.rs` — [`BearerChallenge`] (`WWW-Authenticate`).
//! - `flow.rs` — registration, authorization URL, redirect checks, token requests.
//! - `pkce.rs` — PKCE S256.
//! - `store.rs` — [`TokenStore`], [`MemoryTokenStore`].
//! - `file_store.rs` — [`FileTokenStore`] (a 0600 JSON file, kept across runs).
//! - `redirect.rs` — [`RedirectHandler`], [`FollowRedirects`].
//! - `error.rs` — [`OAuthError`].

mod challenge;
mod config;
pub mod discovery;
mod error;
mod file_store;
mod flow;
mod pkce;
mod redirect;
mod store;

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use futures_util::future::BoxFuture;

pub use challenge::BearerChallenge;
pub use config::{Grant, OAuthConfig, PreRegisteredClient};
pub use discovery::{ResourceMetadata, ServerMetadata};
pub use error::OAuthError;
pub use file_store::FileTokenStore;
pub use redirect::{FollowRedirects, RedirectHandler};
pub use store::{MemoryTokenStore, StoredTokens, TokenStore};

use crate::auth::{AuthChallenge, AuthProvider};
use challenge::split_scopes;
use flow::{RegisteredClient, TokenResponse};

/// What the client learned about the server and its authorization server.
#[derive(Default)]
struct State {
    prm: Option<ResourceMetadata>,
    md: Option<ServerMetadata>,
    client: Option<RegisteredClient>,
    /// The scopes of the last authorization request.
    requested: Vec<String>,
    step_ups: usize,
}

/// The OAuth 2.1 [`AuthProvider`] for one MCP server URL (see the module docs).
pub struct OAuthClient {
    server: String,
    config: OAuthConfig,
    http: reqwest::Client,
    redirect: Arc<dyn RedirectHandler>,
    store: Arc<dyn TokenStore>,
    state: tokio::sync::Mutex<State>,
}

impl std::fmt::Debug for OAuthClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OAuthClient")
            .field("server", &self.server)
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl OAuthClient {
    /// A client for the MCP endpoint `server`, with tokens in memory and
    /// [`FollowRedirects`] as the redirect hook (set a browser-based one for users).
    pub fn new(server: impl Into<String>, config: OAuthConfig) -> Self {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .unwrap_or_default();
        OAuthClient {
            server: server.into(),
            config,
            http,
            redirect: Arc::new(FollowRedirects::new()),
            store: Arc::new(MemoryTokenStore::new()),
            state: tokio::sync::Mutex::new(State::default()),
        }
    }

    /// Sets the redirect hook.
    pub fn redirect_handler(mut self, h: impl RedirectHandler + 'static) -> Self {
        self.redirect = Arc::new(h);
        self
    }

    /// Sets the token store.
    pub fn token_store(mut self, s: Arc<dyn TokenStore>) -> Self {
        self.store = s;
        self
    }

    /// The current tokens, if any.
    pub async fn tokens(&self) -> Result<Option<StoredTokens>, OAuthError> {
        self.store.load(&self.server).await
    }

    /// Refreshes the access token with the stored refresh token. `Ok(false)` when
    /// there is none or the server refused it (a new authorization is needed).
    pub async fn refresh(&self) -> Result<bool, OAuthError> {
        let mut st = self.state.lock().await;
        self.try_refresh(&mut st).await
    }

    async fn try_refresh(&self, st: &mut State) -> Result<bool, OAuthError> {
        let Some(tokens) = self.store.load(&self.server).await? else {
            return Ok(false);
        };
        let (Some(rt), Some(md), Some(client), Some(prm)) = (
            tokens.refresh_token.clone(),
            st.md.clone(),
            st.client.clone(),
            st.prm.clone(),
        ) else {
            return Ok(false);
        };
        if md.issuer != tokens.issuer || client.issuer != md.issuer {
            return Ok(false);
        }
        let params = [
            ("grant_type", "refresh_token"),
            ("refresh_token", rt.as_str()),
            ("resource", prm.resource.as_str()),
        ];
        match flow::token_request(&self.http, &md, &client, &params).await {
            Ok(t) => {
                let scopes = tokens.scopes.clone();
                self.save(t, &md.issuer, scopes, Some(rt)).await?;
                Ok(true)
            }
            Err(OAuthError::Refused { .. }) => Ok(false),
            Err(e) => Err(e),
        }
    }

    async fn save(
        &self,
        t: TokenResponse,
        issuer: &str,
        requested: Vec<String>,
        old_refresh: Option<String>,
    ) -> Result<(), OAuthError> {
        let scopes = match t.scope.as_deref() {
            Some(s) => split_scopes(Some(s)),
            None => requested,
        };
        let tokens = StoredTokens {
            access_token: t.access_token,
            refresh_token: t.refresh_token.or(old_refresh),
            expires_at: t
                .expires_in
                .map(|s| SystemTime::now() + Duration::from_secs(s)),
            scopes,
            issuer: issuer.to_owned(),
        };
        self.store.save(&self.server, tokens).await
    }

    /// Fetches the resource and authorization server metadata again; when the
    /// authorization server changed, forgets the client id and the tokens.
    async fn discover(&self, st: &mut State, hint: Option<&str>) -> Result<(), OAuthError> {
        let prm = discovery::fetch_resource_metadata(&self.http, &self.server, hint).await?;
        let issuer = prm.authorization_servers.first().cloned().ok_or_else(|| {
            OAuthError::NoServerMetadata {
                issuer: "(none)".into(),
                tried: "the resource metadata lists no `authorization_servers`".into(),
            }
        })?;
        let md = discovery::fetch_server_metadata(&self.http, &issuer).await?;
        if st.client.as_ref().is_some_and(|c| c.issuer != md.issuer) {
            st.client = None;
        }
        if let Some(t) = self.store.load(&self.server).await?
            && t.issuer != md.issuer
        {
            self.store.clear(&self.server).await?;
        }
        st.prm = Some(prm);
        st.md = Some(md);
        Ok(())
    }

    /// The client id at the current authorization server: pre-registered, CIMD, or
    /// dynamically registered.
    async fn client(
        &self,
        st: &mut State,
        md: &ServerMetadata,
    ) -> Result<RegisteredClient, OAuthError> {
        if let Some(c) = &st.client {
            return Ok(c.clone());
        }
        let c = if let Some(p) = self
            .config
            .pre_registered
            .as_ref()
            .filter(|p| p.issuer.as_ref().is_none_or(|i| *i == md.issuer))
        {
            RegisteredClient {
                client_id: p.client_id.clone(),
                auth_method: flow::choose_auth_method(md, p.client_secret.as_deref(), None),
                client_secret: p.client_secret.clone(),
                issuer: md.issuer.clone(),
            }
        } else if let (Some(url), Some(true)) = (
            &self.config.client_metadata_url,
            md.client_id_metadata_document_supported,
        ) {
            RegisteredClient {
                client_id: url.clone(),
                client_secret: None,
                auth_method: "none".into(),
                issuer: md.issuer.clone(),
            }
        } else if let Some(endpoint) = &md.registration_endpoint {
            flow::register(
                &self.http,
                md,
                endpoint,
                &self.config.client_name,
                &self.config.redirect_uri,
            )
            .await?
        } else {
            return Err(OAuthError::NoClientId {
                issuer: md.issuer.clone(),
            });
        };
        st.client = Some(c.clone());
        Ok(c)
    }

    /// Obtains a new token for `scopes` with the configured grant.
    async fn obtain(&self, st: &mut State, scopes: Vec<String>) -> Result<(), OAuthError> {
        let (Some(md), Some(prm)) = (st.md.clone(), st.prm.clone()) else {
            return Err(OAuthError::NoResourceMetadata {
                tried: "(discovery did not run)".into(),
            });
        };
        let client = self.client(st, &md).await?;
        let scope = scopes.join(" ");
        let t = if self.config.grant == Grant::ClientCredentials {
            let mut params = vec![
                ("grant_type", "client_credentials"),
                ("resource", prm.resource.as_str()),
            ];
            if !scope.is_empty() {
                params.push(("scope", scope.as_str()));
            }
            flow::token_request(&self.http, &md, &client, &params).await?
        } else {
            let s256 = md
                .code_challenge_methods_supported
                .as_ref()
                .is_some_and(|m| m.iter().any(|m| m == "S256"));
            let endpoint = md
                .authorization_endpoint
                .clone()
                .filter(|_| s256)
                .ok_or_else(|| OAuthError::PkceUnsupported {
                    issuer: md.issuer.clone(),
                })?;
            let pkce = pkce::Pkce::new()?;
            let state = pkce::random_token(16)?;
            let url = flow::authorization_url(
                &endpoint,
                &flow::AuthorizeRequest {
                    client_id: &client.client_id,
                    redirect_uri: &self.config.redirect_uri,
                    scopes: &scopes,
                    resource: &prm.resource,
                    code_challenge: &pkce.challenge,
                    state: &state,
                },
            )?;
            let back = self
                .redirect
                .authorize(&url, &self.config.redirect_uri)
                .await?;
            let code = flow::code_from_redirect(&back, &state, &md)?;
            let params = [
                ("grant_type", "authorization_code"),
                ("code", code.as_str()),
                ("redirect_uri", self.config.redirect_uri.as_str()),
                ("code_verifier", pkce.verifier.as_str()),
                ("resource", prm.resource.as_str()),
            ];
            flow::token_request(&self.http, &md, &client, &params).await?
        };
        st.requested = scopes.clone();
        self.save(t, &md.issuer, scopes, None).await
    }

    /// The scopes for a fresh authorization: the challenge's, else the resource's
    /// `scopes_supported`; plus `offline_access` when wanted and offered.
    fn select_scopes(&self, st: &State, challenge: &BearerChallenge) -> Vec<String> {
        let mut scopes = challenge.scopes();
        if scopes.is_empty() {
            scopes = st
                .prm
                .as_ref()
                .and_then(|p| p.scopes_supported.clone())
                .unwrap_or_default();
        }
        let offered = st
            .md
            .as_ref()
            .and_then(|m| m.scopes_supported.as_ref())
            .is_some_and(|s| s.iter().any(|s| s == "offline_access"));
        if self.config.offline_access && offered && !scopes.iter().any(|s| s == "offline_access") {
            scopes.push("offline_access".into());
        }
        scopes
    }

    async fn handle(&self, challenge: &AuthChallenge) -> Result<bool, OAuthError> {
        let ch = challenge
            .www_authenticate
            .as_deref()
            .map(BearerChallenge::parse)
            .unwrap_or_default();
        // Concurrent requests refused together: the first runs the flow, the others
        // (waiting on the lock) see a new token and just retry with it.
        let before = self.store.load(&self.server).await?.map(|t| t.access_token);
        let mut st = self.state.lock().await;
        let now = self.store.load(&self.server).await?.map(|t| t.access_token);
        if now.is_some() && now != before {
            return Ok(true);
        }
        if challenge.status == 403 {
            let wanted = ch.scopes();
            // Sent with an older token before a concurrent step-up finished: the
            // current token already carries the scopes, so one retry is enough.
            let current = self.store.load(&self.server).await?;
            if challenge.attempt == 0
                && !wanted.is_empty()
                && current.is_some_and(|t| wanted.iter().all(|w| t.scopes.contains(w)))
            {
                return Ok(true);
            }
            let new: Vec<String> = wanted
                .into_iter()
                .filter(|s| !st.requested.contains(s))
                .collect();
            if ch.error.as_deref() != Some("insufficient_scope")
                || new.is_empty()
                || st.step_ups >= self.config.max_step_ups
            {
                return Ok(false);
            }
            st.step_ups += 1;
            if st.md.is_none() {
                self.discover(&mut st, ch.resource_metadata.as_deref())
                    .await?;
            }
            let mut scopes = st.requested.clone();
            scopes.extend(new);
            self.obtain(&mut st, scopes).await?;
            return Ok(true);
        }
        self.discover(&mut st, ch.resource_metadata.as_deref())
            .await?;
        if challenge.attempt == 0 && self.try_refresh(&mut st).await? {
            return Ok(true);
        }
        let scopes = self.select_scopes(&st, &ch);
        self.obtain(&mut st, scopes).await?;
        Ok(true)
    }
}

impl AuthProvider for OAuthClient {
    fn authorization(&self) -> BoxFuture<'_, crate::Result<Option<String>>> {
        Box::pin(async move {
            let mut tokens = self.store.load(&self.server).await?;
            if tokens
                .as_ref()
                .is_some_and(|t| t.expired() && t.refresh_token.is_some())
            {
                let mut st = self.state.lock().await;
                if self.try_refresh(&mut st).await? {
                    tokens = self.store.load(&self.server).await?;
                }
            }
            Ok(tokens.map(|t| format!("Bearer {}", t.access_token)))
        })
    }

    fn on_rejected<'a>(
        &'a self,
        challenge: &'a AuthChallenge,
    ) -> BoxFuture<'a, crate::Result<bool>> {
        Box::pin(async move { Ok(self.handle(challenge).await?) })
    }
}
